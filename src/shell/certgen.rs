//! Certificate generation: turns a [`CertSpec`] into a fresh key pair and an RFC 5280-strict
//! X.509 certificate (the CA itself, or a leaf signed by it), as PEM text.
//!
//! Job: key generation (ECDSA P-256, RSA 2048/3072/4096), serials, validity, extensions, and
//! signing with a CA loaded from PEM. It must not write files, decide where certificates go,
//! or read the clock for anything but validity: callers own paths, modes and owners, and
//! `shell::certinfo` owns reading and judging certificates that already exist.

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
    KeyPair, KeyUsagePurpose as Ku, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, RsaKeySize, SanType,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::domain::certspec::{CertPurpose, CertSpec, KeyType};
use crate::shell::certinfo;

/// Names of the detached-signature schemes [`CaSigner::sign_detached`] produces.
pub const SIG_ECDSA_P256_SHA256: &str = "ecdsa-p256-sha256";
pub const SIG_ECDSA_P384_SHA384: &str = "ecdsa-p384-sha384";
pub const SIG_RSA_PKCS1_SHA256: &str = "rsa-pkcs1-sha256";
pub const SIG_ED25519: &str = "ed25519";

/// Backdating of notBefore: a node whose clock is a little behind ours must still accept a
/// certificate issued "now".
const BACKDATE: Duration = Duration::minutes(5);

/// A loaded or freshly generated CA that can sign leaf certificates.
pub struct CaSigner {
    pem: String,
    fingerprint: String,
    key_type: Option<KeyType>,
    // `Issuer` keeps the CA's subject DN, key-identifier method (so AKI equals the CA's SKI,
    // also for CAs made by other tools) and the signing key.
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CaSigner {
    // Hand-written so the signing key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSigner")
            .field("fingerprint", &self.fingerprint)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A newly issued leaf certificate and its private key (PKCS#8 PEM).
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Generate a key pair of the requested type.
pub fn generate_key(key_type: KeyType) -> Result<KeyPair> {
    let key = match key_type {
        KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072),
        KeyType::Rsa4096 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096),
    };
    key.with_context(|| format!("generating a {} key pair", key_type.as_str()))
}

/// A random, positive, non-zero 128-bit serial. Random rather than rcgen's default hash of the
/// public key, so re-signing one key never repeats issuer+serial (NSS/Firefox reject that).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("reading random bytes for a certificate serial number")?;
    // Clear the sign bit so the INTEGER is positive, and keep the first byte non-zero so the
    // encoding is always 16 bytes (RFC 5280 allows at most 20).
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

fn check_spec(spec: &CertSpec) -> Result<()> {
    if spec.common_name.trim().is_empty() {
        bail!("certificate spec has an empty common name; give every node and the CA a name");
    }
    if spec.validity_days == 0 {
        bail!(
            "certificate `{}` has a validity of 0 days; use at least 1 (the default is a year or more)",
            spec.common_name
        );
    }
    Ok(())
}

/// Common parameters: subject, serial, validity.
fn base_params(spec: &CertSpec) -> Result<CertificateParams> {
    check_spec(spec)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, spec.common_name.as_str());
    p.serial_number = Some(random_serial()?);
    let now = OffsetDateTime::now_utc();
    // rcgen's default validity is 1975..4096: always set both ends explicitly.
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(i64::from(spec.validity_days));
    Ok(p)
}

fn ca_params(spec: &CertSpec) -> Result<CertificateParams> {
    if spec.purpose.is_some() {
        bail!(
            "`{}` is a leaf certificate spec (purpose {:?}); a CA spec has no purpose",
            spec.common_name,
            spec.purpose
        );
    }
    let mut p = base_params(spec)?;
    // pathlen 0: this CA signs node certificates only, never another CA.
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // rcgen marks keyUsage and basicConstraints critical and adds the SKI for a CA.
    p.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign];
    Ok(p)
}

fn leaf_params(spec: &CertSpec) -> Result<CertificateParams> {
    let Some(purpose) = spec.purpose else {
        bail!(
            "`{}` is a CA spec (no purpose); use generate_ca for it, not issue",
            spec.common_name
        );
    };
    let mut p = base_params(spec)?;
    // ExplicitNoCa writes `CA:FALSE` and, unlike NoCa, also the SKI.
    p.is_ca = IsCa::ExplicitNoCa;
    p.use_authority_key_identifier_extension = true;
    p.key_usages = match spec.key_type {
        KeyType::EcdsaP256 => vec![Ku::DigitalSignature],
        // TLS 1.2 RSA key exchange encrypts to the key, so RSA leaves need keyEncipherment.
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            vec![Ku::DigitalSignature, Ku::KeyEncipherment]
        }
    };
    p.extended_key_usages = match purpose {
        // Transport: every node is both client and server. HTTP: clientAuth too so the same
        // cert serves mutual TLS. Kibana's browser-facing cert only ever serves.
        CertPurpose::Transport | CertPurpose::Http => vec![Eku::ServerAuth, Eku::ClientAuth],
        CertPurpose::KibanaServer => vec![Eku::ServerAuth],
    };
    let mut sans = Vec::with_capacity(spec.dns.len() + spec.ip.len());
    for dns in &spec.dns {
        let bad = || {
            format!(
                "`{dns}` (for `{}`) is not a valid DNS name for a certificate; use ASCII letters, digits, '-', '.' and an optional leading '*.'",
                spec.common_name
            )
        };
        // rcgen only checks IA5 (ASCII); clients reject SANs that are not hostnames, so catch
        // a typo here rather than at the first TLS handshake.
        if !is_dns_name(dns) {
            bail!(bad());
        }
        let name = dns.as_str().try_into().with_context(bad)?;
        sans.push(SanType::DnsName(name));
    }
    sans.extend(spec.ip.iter().copied().map(SanType::IpAddress));
    p.subject_alt_names = sans;
    Ok(p)
}

/// A hostname (RFC 1123 labels), optionally with one leading `*.` wildcard label.
fn is_dns_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Create a new self-signed CA. Returns the signer and the CA key as PKCS#8 PEM (the caller
/// writes it with mode 0600).
pub fn generate_ca(spec: &CertSpec) -> Result<(CaSigner, Zeroizing<String>)> {
    let params = ca_params(spec)?;
    let key = generate_key(spec.key_type)?;
    let cert = params
        .self_signed(&key)
        .with_context(|| format!("self-signing the CA `{}`", spec.common_name))?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    let signer = CaSigner {
        pem: cert.pem(),
        fingerprint: certinfo::fingerprint_sha256(cert.der()),
        key_type: Some(spec.key_type),
        issuer: Issuer::new(params, key),
    };
    Ok((signer, key_pem))
}

/// Load an existing CA (ours or another tool's) to sign with. The key may be PKCS#8, PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), unencrypted.
pub fn load_ca(cert_pem: &str, key_pem: &str) -> Result<CaSigner> {
    // Also refuses encrypted keys, with a message saying how to decrypt a copy.
    let block = certinfo::private_key_block(key_pem).context("reading the CA private key")?;
    let key = KeyPair::from_pem(block)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("reading the CA private key (expected an unencrypted PEM key)")?;
    let info = certinfo::inspect_pem(cert_pem).context("reading the CA certificate")?;
    if !certinfo::key_matches_cert(cert_pem, key_pem)? {
        bail!(
            "the CA key does not belong to the CA certificate `{}`; pick the key file that was created together with this certificate",
            info.subject
        );
    }
    let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("loading the CA certificate for signing")?;
    // Keep only the CA itself, not any chain that followed it in the file.
    let pem = certinfo::first_cert_pem(cert_pem)?;
    Ok(CaSigner {
        pem,
        fingerprint: info.fingerprint_sha256,
        key_type: info.key_type,
        issuer,
    })
}

impl CaSigner {
    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// SHA-256 of the CA certificate's DER, `AA:BB:…` uppercase (ES `ca_trusted_fingerprint`
    /// wants the same bytes without colons: strip them).
    pub fn fingerprint_sha256(&self) -> String {
        self.fingerprint.clone()
    }

    /// The CA's own key type, when it is one es-secure can generate.
    pub fn key_type(&self) -> Option<KeyType> {
        self.key_type
    }

    /// Sign `msg` with the CA key (a detached signature, e.g. over a node bundle): the
    /// scheme's name and the signature bytes. The scheme follows the key: ECDSA P-256/P-384
    /// (ASN.1 signatures), RSA PKCS#1 v1.5 with SHA-256, or Ed25519.
    pub fn sign_detached(&self, msg: &[u8]) -> Result<(&'static str, Vec<u8>)> {
        use rcgen::SigningKey as _;
        let key = self.issuer.key();
        let alg = key.algorithm();
        let scheme = if alg == &PKCS_ECDSA_P256_SHA256 {
            SIG_ECDSA_P256_SHA256
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            SIG_ECDSA_P384_SHA384
        } else if alg == &PKCS_RSA_SHA256 {
            SIG_RSA_PKCS1_SHA256
        } else if alg == &rcgen::PKCS_ED25519 {
            SIG_ED25519
        } else {
            bail!(
                "the CA key's algorithm ({alg:?}) cannot sign node bundles; use an ECDSA P-256/P-384, RSA or Ed25519 CA"
            );
        };
        let sig = key
            .sign(msg)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("signing with the CA key")?;
        Ok((scheme, sig))
    }

    /// Issue one leaf certificate with a fresh key.
    pub fn issue(&self, spec: &CertSpec) -> Result<Issued> {
        let params = leaf_params(spec)?;
        let key = generate_key(spec.key_type)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing the certificate for `{}`", spec.common_name))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

/// Issue many leaves, spreading key generation (the expensive part, above all for RSA) over
/// the available cores. The result is in the order of `specs`; the first error wins.
pub fn issue_many(ca: &CaSigner, specs: &[CertSpec]) -> Result<Vec<Issued>> {
    crate::shell::cores::map_ordered(
        specs,
        |s| ca.issue(s),
        || Err(anyhow::anyhow!("a certificate worker thread panicked")),
    )
    .into_iter()
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ca_spec(kt: KeyType) -> CertSpec {
        CertSpec {
            common_name: "es-secure test CA".into(),
            purpose: None,
            dns: vec![],
            ip: vec![],
            key_type: kt,
            validity_days: 3650,
        }
    }

    fn leaf_spec(kt: KeyType, purpose: CertPurpose) -> CertSpec {
        CertSpec {
            common_name: "node-1".into(),
            purpose: Some(purpose),
            dns: vec!["node-1.example.internal".into(), "localhost".into()],
            ip: vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap(),
            ],
            key_type: kt,
            validity_days: 365,
        }
    }

    #[test]
    fn ca_is_strict() {
        let (ca, key) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let info = certinfo::inspect_pem(ca.cert_pem()).unwrap();
        assert!(info.is_ca);
        assert!(info.key_usage.iter().any(|u| u == "keyCertSign"));
        assert!(info.key_usage.iter().any(|u| u == "cRLSign"));
        assert!(info.ski.is_some());
        assert_eq!(info.key_type, Some(KeyType::EcdsaP256));
        assert_eq!(info.fingerprint_sha256, ca.fingerprint_sha256());
        assert_eq!(ca.fingerprint_sha256().len(), 32 * 3 - 1);
        assert!(
            ca.fingerprint_sha256()
                .chars()
                .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        let now = OffsetDateTime::now_utc().unix_timestamp();
        certinfo::validate_ca(ca.cert_pem(), &key, now).unwrap();
        assert!(info.not_before <= now - 299 && info.not_before >= now - 301 - 5);
        assert!((info.not_after - (now + 3650 * 86400)).abs() < 10);
    }

    #[test]
    fn leaf_has_sans_usages_and_chains() {
        let (ca, _) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        for (purpose, eku) in [
            (CertPurpose::Transport, vec!["serverAuth", "clientAuth"]),
            (CertPurpose::Http, vec!["serverAuth", "clientAuth"]),
            (CertPurpose::KibanaServer, vec!["serverAuth"]),
        ] {
            let leaf = ca.issue(&leaf_spec(KeyType::EcdsaP256, purpose)).unwrap();
            let info = certinfo::inspect_pem(&leaf.cert_pem).unwrap();
            assert!(!info.is_ca);
            assert_eq!(info.eku, eku);
            assert_eq!(info.key_usage, vec!["digitalSignature"]);
            assert_eq!(info.dns, vec!["node-1.example.internal", "localhost"]);
            assert_eq!(info.ip.len(), 2);
            assert!(info.aki.is_some() && info.ski.is_some());
            assert_eq!(info.issuer, "CN=es-secure test CA");
            certinfo::verify_issued_by(&leaf.cert_pem, ca.cert_pem()).unwrap();
            assert!(certinfo::key_matches_cert(&leaf.cert_pem, &leaf.key_pem).unwrap());
        }
    }

    #[test]
    fn serials_are_random_and_positive() {
        let (ca, _) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let spec = leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport);
        let a = certinfo::inspect_pem(&ca.issue(&spec).unwrap().cert_pem).unwrap();
        let b = certinfo::inspect_pem(&ca.issue(&spec).unwrap().cert_pem).unwrap();
        assert_ne!(a.serial, b.serial);
        // 16 bytes, first byte < 0x80 (positive without a leading zero byte).
        assert_eq!(a.serial.len(), 16 * 3 - 1);
        assert!(u8::from_str_radix(&a.serial[..2], 16).unwrap() < 0x80);
    }

    #[test]
    fn rsa_leaf_has_key_encipherment() {
        let (ca, _) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let leaf = ca
            .issue(&leaf_spec(KeyType::Rsa2048, CertPurpose::Http))
            .unwrap();
        let info = certinfo::inspect_pem(&leaf.cert_pem).unwrap();
        assert_eq!(info.key_type, Some(KeyType::Rsa2048));
        assert_eq!(info.key_usage, vec!["digitalSignature", "keyEncipherment"]);
    }

    #[test]
    fn load_ca_round_trip_and_mismatch() {
        let (ca, key) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let loaded = load_ca(ca.cert_pem(), &key).unwrap();
        assert_eq!(loaded.fingerprint_sha256(), ca.fingerprint_sha256());
        let leaf = loaded
            .issue(&leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport))
            .unwrap();
        certinfo::verify_issued_by(&leaf.cert_pem, ca.cert_pem()).unwrap();
        // AKI of the leaf equals the SKI of the CA even after a reload.
        let ca_info = certinfo::inspect_pem(ca.cert_pem()).unwrap();
        let leaf_info = certinfo::inspect_pem(&leaf.cert_pem).unwrap();
        assert_eq!(leaf_info.aki, ca_info.ski);

        let (_, other_key) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let err = load_ca(ca.cert_pem(), &other_key).unwrap_err();
        assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
        let err = load_ca(ca.cert_pem(), "-----BEGIN ENCRYPTED PRIVATE KEY-----\n").unwrap_err();
        assert!(format!("{err:#}").contains("encrypted"), "{err:#}");
    }

    #[test]
    fn bad_specs_are_refused() {
        let (ca, _) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let mut s = leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport);
        s.validity_days = 0;
        assert!(ca.issue(&s).is_err());
        let mut s = leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport);
        s.dns = vec!["not a name".into()];
        let err = ca.issue(&s).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a valid DNS name"),
            "{err:#}"
        );
        assert!(ca.issue(&ca_spec(KeyType::EcdsaP256)).is_err());
        assert!(is_dns_name("*.es.example") && is_dns_name("node-1") && is_dns_name("a.b."));
        assert!(
            !is_dns_name("a..b") && !is_dns_name("-a") && !is_dns_name("*") && !is_dns_name("")
        );
        assert!(generate_ca(&leaf_spec(KeyType::EcdsaP256, CertPurpose::Http)).is_err());
    }

    #[test]
    fn issue_many_keeps_order() {
        let (ca, _) = generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
        let specs: Vec<_> = (0..9)
            .map(|i| {
                let mut s = leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport);
                s.common_name = format!("node-{i}");
                s
            })
            .collect();
        let issued = issue_many(&ca, &specs).unwrap();
        assert_eq!(issued.len(), 9);
        for (i, leaf) in issued.iter().enumerate() {
            let info = certinfo::inspect_pem(&leaf.cert_pem).unwrap();
            assert_eq!(info.subject, format!("CN=node-{i}"));
        }
        assert!(issue_many(&ca, &[]).unwrap().is_empty());
    }
}
