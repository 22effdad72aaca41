//! Generate a CA plus a transport and an HTTP certificate for each of N nodes, the same work
//! `elasticsearch-certutil cert --pem --in instances.yml` does for 2N instances. Used by
//! `scripts/bench-compare.sh` to time es-secure's certificate path end to end (keys, signing,
//! PEM, files). It must not be used to install certificates: files are written 0644 and
//! nothing is chowned.
//!
//! Usage: `gen_certs <N> [ecdsa-p256|rsa-2048|rsa-3072|rsa-4096] [OUT_DIR]`; OUT_DIR `-`
//! writes nothing (the issuing cost alone, as `scripts/bench-apply-scale.sh` measures it).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use es_secure::domain::certspec::{CertPurpose, CertSpec, KeyType};
use es_secure::shell::certgen;

fn parse_key_type(s: &str) -> Result<KeyType> {
    Ok(match s {
        "ecdsa-p256" | "ecdsa" => KeyType::EcdsaP256,
        "rsa-2048" | "rsa" => KeyType::Rsa2048,
        "rsa-3072" => KeyType::Rsa3072,
        "rsa-4096" => KeyType::Rsa4096,
        other => {
            bail!("unknown key type `{other}`; use ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096")
        }
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(n) = args.first() else {
        bail!("usage: gen_certs <N> [ecdsa-p256|rsa-2048|rsa-3072|rsa-4096] [OUT_DIR]");
    };
    let n: u32 = n
        .parse()
        .with_context(|| format!("N must be a number, got `{n}`"))?;
    let key_type = parse_key_type(args.get(1).map_or("ecdsa-p256", String::as_str))?;
    let out = PathBuf::from(args.get(2).map_or("gen-certs-out", String::as_str));

    let start = Instant::now();
    let (ca, ca_key) = certgen::generate_ca(&CertSpec {
        common_name: "es-secure bench CA".into(),
        purpose: None,
        dns: vec![],
        ip: vec![],
        key_type,
        validity_days: 1095,
    })?;
    let mut specs = Vec::with_capacity(2 * n as usize);
    for i in 1..=n {
        // A distinct private address per node, like a real cluster's node list.
        let ip = IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8));
        for purpose in [CertPurpose::Transport, CertPurpose::Http] {
            specs.push(CertSpec {
                common_name: format!("node-{i}"),
                purpose: Some(purpose),
                dns: vec![format!("node-{i}.es.example.internal"), "localhost".into()],
                ip: vec![ip, IpAddr::V4(Ipv4Addr::LOCALHOST)],
                key_type,
                validity_days: 1095,
            });
        }
    }
    let issued = certgen::issue_many(&ca, &specs)?;
    let generated = start.elapsed();
    if out.as_os_str() == "-" {
        eprintln!(
            "gen_certs: {n} nodes, {} certs + CA, {}: generated in {:.3} s, not written",
            issued.len(),
            key_type.as_str(),
            generated.as_secs_f64()
        );
        return Ok(());
    }

    let ca_dir = out.join("ca");
    std::fs::create_dir_all(&ca_dir).with_context(|| format!("creating {}", ca_dir.display()))?;
    std::fs::write(ca_dir.join("ca.crt"), ca.cert_pem())?;
    std::fs::write(ca_dir.join("ca.key"), ca_key.as_bytes())?;
    for (spec, cert) in specs.iter().zip(&issued) {
        let dir = out.join(&spec.common_name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = match spec.purpose {
            Some(CertPurpose::Transport) => "transport",
            _ => "http",
        };
        std::fs::write(dir.join(format!("{stem}.crt")), &cert.cert_pem)?;
        std::fs::write(dir.join(format!("{stem}.key")), cert.key_pem.as_bytes())?;
    }
    eprintln!(
        "gen_certs: {n} nodes, {} certs + CA, {}: generated in {:.3} s, written in {:.3} s total",
        issued.len(),
        key_type.as_str(),
        generated.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
