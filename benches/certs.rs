//! Criterion benchmark of certificate generation in memory: a CA plus a transport and an HTTP
//! certificate per node, for N = 1, 10, 100, 1000 nodes, ECDSA P-256 and RSA-2048.
//! It measures `certgen` only (no files); `scripts/bench-compare.sh` times the whole path
//! against certutil and openssl.
//!
//! RSA-2048 at N = 1000 means 2001 RSA key generations per iteration (about a minute on two
//! cores), so it only runs with `CERTS_BENCH_FULL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use es_secure::domain::certspec::{CertPurpose, CertSpec, KeyType};
use es_secure::shell::certgen;

fn node_specs(n: u32, key_type: KeyType) -> Vec<CertSpec> {
    (1..=n)
        .flat_map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8));
            [CertPurpose::Transport, CertPurpose::Http].map(|purpose| CertSpec {
                common_name: format!("node-{i}"),
                purpose: Some(purpose),
                dns: vec![format!("node-{i}.es.example.internal"), "localhost".into()],
                ip: vec![ip, IpAddr::V4(Ipv4Addr::LOCALHOST)],
                key_type,
                validity_days: 1095,
            })
        })
        .collect()
}

fn cluster(n: u32, key_type: KeyType) -> usize {
    let (ca, _key) = certgen::generate_ca(&CertSpec {
        common_name: "bench CA".into(),
        purpose: None,
        dns: vec![],
        ip: vec![],
        key_type,
        validity_days: 1095,
    })
    .unwrap();
    certgen::issue_many(&ca, &node_specs(n, key_type))
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let full = std::env::var_os("CERTS_BENCH_FULL").is_some();
    for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let mut group = c.benchmark_group(format!("cluster/{}", key_type.as_str()));
        // RSA key generation dominates and varies a lot; ten samples keep the run bounded.
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        for n in [1u32, 10, 100, 1000] {
            if key_type != KeyType::EcdsaP256 && n == 1000 && !full {
                continue;
            }
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter(|| black_box(cluster(n, key_type)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
