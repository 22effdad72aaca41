//! Certificate inspection: reads PEM certificates and keys (ours or anyone's) and judges them
//! — what they contain, whether a key belongs to a certificate, whether a CA signed a leaf,
//! and whether a CA or leaf is fit for use — with errors that say what is wrong and what to do.
//!
//! Read-only and pure over its inputs: it must not touch files, generate keys or read the
//! clock (callers pass `now`), so the same checks serve planning, apply and `verify`.

use std::fmt::Write as _;
use std::net::IpAddr;

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_EC_P256;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

use crate::domain::certspec::KeyType;
use crate::domain::facts::ExistingCert;

/// Why a certificate or key is not usable. Callers branch on the variant (re-issue, ask for
/// another file, …); the message is written for the operator.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum CertError {
    #[error(
        "cannot read the {what}: {detail}; check that the file holds an unencrypted PEM {what} (`-----BEGIN …-----`)"
    )]
    Unparseable { what: String, detail: String },
    #[error(
        "the private key is encrypted with a passphrase; decrypt a copy first (`openssl pkey -in key.pem -out key-plain.pem`) and keep it mode 0600"
    )]
    EncryptedKey,
    #[error(
        "`{subject}` is not a CA certificate (basicConstraints CA:TRUE is missing); give the CA's certificate, not a node certificate, or let es-secure create a new CA"
    )]
    NotACa { subject: String },
    #[error(
        "the CA `{subject}` has a keyUsage extension without {usage}, so strict TLS clients reject what it signs; use a CA with {usage} or let es-secure create a new CA"
    )]
    MissingKeyUsage { subject: String, usage: String },
    #[error(
        "`{subject}` is a CA certificate, not a node certificate; give the node's own certificate or let es-secure issue one"
    )]
    LeafIsCa { subject: String },
    #[error(
        "`{subject}` expired on {}; issue a new certificate (es-secure re-issues leaves from the same CA)",
        fmt_unix(*not_after)
    )]
    Expired { subject: String, not_after: i64 },
    #[error(
        "`{subject}` is not valid before {}; check this machine's clock (`timedatectl`) or re-issue the certificate",
        fmt_unix(*not_before)
    )]
    NotYetValid { subject: String, not_before: i64 },
    #[error(
        "the private key does not belong to `{subject}`; use the key file created together with this certificate, or re-issue both"
    )]
    KeyMismatch { subject: String },
    #[error(
        "`{subject}` was not signed by the CA `{ca}` (it names issuer `{issuer}`); re-issue it from this CA or point es-secure at the CA that signed it"
    )]
    NotIssuedByCa {
        subject: String,
        issuer: String,
        ca: String,
    },
    #[error(
        "the certificate does not name `{name}` in its subjectAltName, so TLS clients connecting by that name fail hostname verification; re-issue it with `{name}` added"
    )]
    MissingSan { name: String },
}

/// What a certificate says about itself. Times are Unix seconds.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CertInfo {
    /// RFC 4514-style, e.g. `CN=node-1`.
    pub subject: String,
    /// The subject's first common name, when it has one.
    pub common_name: Option<String>,
    pub issuer: String,
    /// Uppercase hex, colon separated.
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
    pub is_ca: bool,
    /// RFC 5280 names: `digitalSignature`, `keyEncipherment`, `keyCertSign`, `cRLSign`, …
    /// Empty when the extension is absent.
    pub key_usage: Vec<String>,
    /// `serverAuth`, `clientAuth`, … or dotted OIDs for others.
    pub eku: Vec<String>,
    /// `AA:BB:…` uppercase, over the DER.
    pub fingerprint_sha256: String,
    /// `None` for key types es-secure does not generate (it still reads them).
    pub key_type: Option<KeyType>,
    /// Human description such as `ECDSA P-256` or `RSA 2048`.
    pub key_desc: String,
    /// Subject / authority key identifiers, uppercase hex with colons.
    pub ski: Option<String>,
    pub aki: Option<String>,
}

/// SHA-256 over DER as `AA:BB:…` (the form Kibana and browsers show).
pub fn fingerprint_sha256(der: &[u8]) -> String {
    hex_colon(&Sha256::digest(der))
}

fn hex_colon(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// `2026-11-23 13:05 UTC`, for messages (no `time` formatting feature needed).
fn fmt_unix(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute()
        ),
        Err(_) => format!("unix time {t}"),
    }
}

fn unparseable(what: &str, detail: impl std::fmt::Display) -> CertError {
    CertError::Unparseable {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

/// DER of every `CERTIFICATE` block in `pem`, in file order (leaf first, then any chain).
pub fn cert_ders(pem: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| unparseable("certificate", e))?;
        if block.label == "CERTIFICATE" {
            out.push(block.contents);
        }
    }
    if out.is_empty() {
        return Err(unparseable(
            "certificate",
            "no `-----BEGIN CERTIFICATE-----` block found",
        ));
    }
    Ok(out)
}

/// The text of the first `CERTIFICATE` block, with a trailing newline.
pub fn first_cert_pem(pem: &str) -> Result<String, CertError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem
        .find(BEGIN)
        .ok_or_else(|| unparseable("certificate", "no `-----BEGIN CERTIFICATE-----` line"))?;
    let end = pem[start..]
        .find(END)
        .ok_or_else(|| unparseable("certificate", "no `-----END CERTIFICATE-----` line"))?;
    Ok(format!("{}\n", &pem[start..start + end + END.len()]))
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| unparseable("certificate", e))?;
    Ok(cert)
}

fn first_der(pem: &str) -> Result<Vec<u8>, CertError> {
    cert_ders(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| unparseable("certificate", "no certificate block"))
}

/// Inspect the first certificate in `pem`.
pub fn inspect_pem(pem: &str) -> Result<CertInfo, CertError> {
    inspect_der(&first_der(pem)?)
}

/// Inspect one DER certificate.
pub fn inspect_der(der: &[u8]) -> Result<CertInfo, CertError> {
    let cert = parse_der(der)?;
    let mut info = CertInfo {
        subject: cert.subject().to_string(),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(ToString::to_string),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().to_uppercase(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns: Vec::new(),
        ip: Vec::new(),
        is_ca: false,
        key_usage: Vec::new(),
        eku: Vec::new(),
        fingerprint_sha256: fingerprint_sha256(der),
        key_type: None,
        key_desc: String::new(),
        ski: None,
        aki: None,
    };
    (info.key_type, info.key_desc) = key_kind(&cert);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => info.is_ca = bc.ca,
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => info.dns.push((*d).to_string()),
                        GeneralName::IPAddress(bytes) => {
                            if let Some(ip) = ip_from_bytes(bytes) {
                                info.ip.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                let flags = [
                    (ku.digital_signature(), "digitalSignature"),
                    (ku.non_repudiation(), "nonRepudiation"),
                    (ku.key_encipherment(), "keyEncipherment"),
                    (ku.data_encipherment(), "dataEncipherment"),
                    (ku.key_agreement(), "keyAgreement"),
                    (ku.key_cert_sign(), "keyCertSign"),
                    (ku.crl_sign(), "cRLSign"),
                    (ku.encipher_only(), "encipherOnly"),
                    (ku.decipher_only(), "decipherOnly"),
                ];
                info.key_usage = flags
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| (*n).to_string())
                    .collect();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let known = [
                    (eku.any, "anyExtendedKeyUsage"),
                    (eku.server_auth, "serverAuth"),
                    (eku.client_auth, "clientAuth"),
                    (eku.code_signing, "codeSigning"),
                    (eku.email_protection, "emailProtection"),
                    (eku.time_stamping, "timeStamping"),
                    (eku.ocsp_signing, "OCSPSigning"),
                ];
                info.eku = known
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| (*n).to_string())
                    .collect();
                info.eku.extend(eku.other.iter().map(ToString::to_string));
            }
            ParsedExtension::SubjectKeyIdentifier(ki) => info.ski = Some(hex_colon(ki.0)),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                info.aki = aki.key_identifier.as_ref().map(|ki| hex_colon(ki.0));
            }
            _ => {}
        }
    }
    Ok(info)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn key_kind(cert: &X509Certificate<'_>) -> (Option<KeyType>, String) {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            // Count the modulus bits ourselves: leading zero bytes are DER padding.
            let m = rsa.modulus;
            let first = m.iter().position(|b| *b != 0).unwrap_or(m.len());
            let bits = m
                .get(first)
                .map_or(0, |b| (m.len() - first) * 8 - b.leading_zeros() as usize);
            let kt = match bits {
                2048 => Some(KeyType::Rsa2048),
                3072 => Some(KeyType::Rsa3072),
                4096 => Some(KeyType::Rsa4096),
                _ => None,
            };
            (kt, format!("RSA {bits}"))
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            if curve.as_ref() == Some(&OID_EC_P256) {
                (Some(KeyType::EcdsaP256), "ECDSA P-256".to_string())
            } else {
                let name = curve.map_or_else(|| "unknown curve".to_string(), |c| c.to_id_string());
                (None, format!("ECDSA {name}"))
            }
        }
        Ok(_) | Err(_) => (None, format!("other ({})", spki.algorithm.algorithm)),
    }
}

/// The first private-key PEM block in `key_pem` (skipping e.g. `EC PARAMETERS`, which
/// `openssl ecparam -genkey` writes first). Refuses encrypted keys with [`CertError::EncryptedKey`].
pub fn private_key_block(key_pem: &str) -> Result<&str, CertError> {
    if key_pem.contains("ENCRYPTED PRIVATE KEY") || key_pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(CertError::EncryptedKey);
    }
    let mut rest = key_pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block[11..].find("-----").map(|i| i + 11);
        let Some(label_end) = label_end else { break };
        let label = &block[11..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker) else {
            break;
        };
        if label.ends_with("PRIVATE KEY") {
            return Ok(&block[..end + end_marker.len()]);
        }
        rest = &block[end + end_marker.len()..];
    }
    Err(unparseable(
        "private key",
        "no `-----BEGIN … PRIVATE KEY-----` block found",
    ))
}

/// Public key bits (the SPKI BIT STRING contents) of a private key.
fn key_public_raw(key_pem: &str) -> Result<Vec<u8>, CertError> {
    let block = private_key_block(key_pem)?;
    let key = rcgen::KeyPair::from_pem(block).map_err(|e| unparseable("private key", e))?;
    Ok(key.public_key_raw().to_vec())
}

/// Whether `key_pem` is the private key of the first certificate in `cert_pem`. `Err` only
/// when either cannot be read.
pub fn key_matches_cert(cert_pem: &str, key_pem: &str) -> Result<bool, CertError> {
    let der = first_der(cert_pem)?;
    let cert = parse_der(&der)?;
    let public = key_public_raw(key_pem)?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == public.as_slice())
}

/// The `CERTIFICATE` blocks of a PEM text, each with its BEGIN and END lines.
pub fn certificate_blocks(pem: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let stop = start + len + END.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

/// The certificate of a trust list (several PEM blocks) whose SHA-256 fingerprint is
/// `fingerprint` (uppercase hex with colons, as [`CertInfo::fingerprint_sha256`]).
pub fn block_with_fingerprint(trust_pem: &str, fingerprint: &str) -> Option<String> {
    certificate_blocks(trust_pem)
        .into_iter()
        .find(|pem| inspect_pem(pem).is_ok_and(|i| i.fingerprint_sha256 == fingerprint))
}

/// Check that the CA in `ca_pem` signed the first certificate of `leaf_pem`: the leaf's
/// issuer is the CA's subject and the signature verifies with the CA's public key.
pub fn verify_issued_by(leaf_pem: &str, ca_pem: &str) -> Result<(), CertError> {
    let leaf_der = first_der(leaf_pem)?;
    let ca_der = first_der(ca_pem).map_err(|e| match e {
        CertError::Unparseable { detail, .. } => unparseable("CA certificate", detail),
        other => other,
    })?;
    let leaf = parse_der(&leaf_der)?;
    let ca = parse_der(&ca_der).map_err(|e| match e {
        CertError::Unparseable { detail, .. } => unparseable("CA certificate", detail),
        other => other,
    })?;
    let not_issued = || CertError::NotIssuedByCa {
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        ca: ca.subject().to_string(),
    };
    // Compare the raw DER of the names: that is what chain building matches on.
    if leaf.issuer().as_raw() != ca.subject().as_raw() {
        return Err(not_issued());
    }
    leaf.verify_signature(Some(ca.public_key()))
        .map_err(|_| not_issued())
}

fn check_time(info: &CertInfo, now: i64) -> Result<(), CertError> {
    if now > info.not_after {
        return Err(CertError::Expired {
            subject: info.subject.clone(),
            not_after: info.not_after,
        });
    }
    if now < info.not_before {
        return Err(CertError::NotYetValid {
            subject: info.subject.clone(),
            not_before: info.not_before,
        });
    }
    Ok(())
}

/// A CA es-secure can sign with: a CA certificate, its key matches, valid at `now`, and
/// allowed to sign certificates (keyCertSign, when keyUsage is present at all — certutil's
/// older CAs have no keyUsage, which RFC 5280 tolerates but Python 3.13 does not).
pub fn validate_ca(cert_pem: &str, key_pem: &str, now: i64) -> Result<(), CertError> {
    let info = inspect_pem(cert_pem).map_err(|e| match e {
        CertError::Unparseable { detail, .. } => unparseable("CA certificate", detail),
        other => other,
    })?;
    if !info.is_ca {
        return Err(CertError::NotACa {
            subject: info.subject,
        });
    }
    if !info.key_usage.is_empty() && !info.key_usage.iter().any(|u| u == "keyCertSign") {
        return Err(CertError::MissingKeyUsage {
            subject: info.subject,
            usage: "keyCertSign".to_string(),
        });
    }
    check_time(&info, now)?;
    if !key_matches_cert(cert_pem, key_pem)? {
        return Err(CertError::KeyMismatch {
            subject: info.subject,
        });
    }
    Ok(())
}

/// Whether a SAN DNS entry covers `name` (case-insensitive; `*.x` covers exactly one label).
fn dns_covers(san: &str, name: &str) -> bool {
    let san = san.trim_end_matches('.');
    let name = name.trim_end_matches('.');
    if san.eq_ignore_ascii_case(name) {
        return true;
    }
    match (san.strip_prefix("*."), name.split_once('.')) {
        (Some(suffix), Some((label, rest))) => {
            !label.is_empty() && rest.eq_ignore_ascii_case(suffix)
        }
        _ => false,
    }
}

/// A node certificate fit for use: readable, not a CA, valid at `now`, its key matches,
/// signed by `ca_pem`, and naming every DNS name and IP clients will use.
pub fn validate_leaf(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    needed_dns: &[String],
    needed_ip: &[IpAddr],
    now: i64,
) -> Result<(), CertError> {
    let info = inspect_pem(cert_pem)?;
    if info.is_ca {
        return Err(CertError::LeafIsCa {
            subject: info.subject,
        });
    }
    check_time(&info, now)?;
    if !key_matches_cert(cert_pem, key_pem)? {
        return Err(CertError::KeyMismatch {
            subject: info.subject,
        });
    }
    verify_issued_by(cert_pem, ca_pem)?;
    if let Some(name) = needed_dns
        .iter()
        .find(|n| !info.dns.iter().any(|san| dns_covers(san, n)))
    {
        return Err(CertError::MissingSan { name: name.clone() });
    }
    if let Some(ip) = needed_ip.iter().find(|ip| !info.ip.contains(ip)) {
        return Err(CertError::MissingSan {
            name: ip.to_string(),
        });
    }
    Ok(())
}

/// The planner's view of an existing leaf (and its key and our CA), or `None` when the file
/// is not a certificate we can read — the planner then re-issues it.
pub fn existing_cert(
    cert_pem: &str,
    key_pem: Option<&str>,
    ca_pem: Option<&str>,
) -> Option<ExistingCert> {
    let ders = cert_ders(cert_pem).ok()?;
    let info = inspect_der(ders.first()?).ok()?;
    Some(ExistingCert {
        dns: info.dns,
        ip: info.ip,
        not_after: info.not_after,
        not_before: info.not_before,
        common_name: info.common_name,
        serial: info.serial,
        key_type: info.key_type,
        key_matches: key_pem.is_some_and(|k| key_matches_cert(cert_pem, k).unwrap_or(false)),
        signed_by_ca: ca_pem.is_some_and(|ca| verify_issued_by(cert_pem, ca).is_ok()),
        signed_by_trusted_ca: false,
        has_chain: ders.len() > 1,
    })
}

/// `(sha256 fingerprint, not_after, subject)` of a CA certificate.
pub fn ca_summary(pem: &str) -> Result<(String, i64, String), CertError> {
    let info = inspect_pem(pem)?;
    Ok((info.fingerprint_sha256, info.not_after, info.subject))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::certspec::{CertPurpose, CertSpec};
    use crate::shell::certgen::{self, CaSigner, Issued};

    const NOW_SLACK: i64 = 60;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn ca(days: u32) -> (CaSigner, String) {
        let (ca, key) = certgen::generate_ca(&CertSpec {
            common_name: "test CA".into(),
            purpose: None,
            dns: vec![],
            ip: vec![],
            key_type: KeyType::EcdsaP256,
            validity_days: days,
        })
        .unwrap();
        (ca, key.to_string())
    }

    fn leaf(ca: &CaSigner) -> Issued {
        ca.issue(&CertSpec {
            common_name: "node-1".into(),
            purpose: Some(CertPurpose::Http),
            dns: vec!["node-1.example.internal".into(), "*.svc.example".into()],
            ip: vec!["10.0.0.1".parse().unwrap()],
            key_type: KeyType::EcdsaP256,
            validity_days: 30,
        })
        .unwrap()
    }

    #[test]
    fn valid_leaf_passes() {
        let (ca, _) = ca(365);
        let l = leaf(&ca);
        validate_leaf(
            &l.cert_pem,
            &l.key_pem,
            ca.cert_pem(),
            &["node-1.example.internal".into(), "es.svc.example".into()],
            &["10.0.0.1".parse().unwrap()],
            now(),
        )
        .unwrap();
    }

    #[test]
    fn missing_san_names_the_name() {
        let (ca, _) = ca(365);
        let l = leaf(&ca);
        let err = validate_leaf(
            &l.cert_pem,
            &l.key_pem,
            ca.cert_pem(),
            &["a.b.svc.example".into()],
            &[],
            now(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            CertError::MissingSan {
                name: "a.b.svc.example".into()
            }
        );
        let err = validate_leaf(
            &l.cert_pem,
            &l.key_pem,
            ca.cert_pem(),
            &[],
            &["10.0.0.2".parse().unwrap()],
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`10.0.0.2`"), "{err}");
        assert!(err.to_string().contains("re-issue"), "{err}");
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let (ca, key) = ca(1);
        let info = inspect_pem(ca.cert_pem()).unwrap();
        let later = info.not_after + NOW_SLACK;
        let err = validate_ca(ca.cert_pem(), &key, later).unwrap_err();
        assert!(matches!(err, CertError::Expired { not_after, .. } if not_after == info.not_after));
        assert!(err.to_string().contains("expired on 2"), "{err}");
        let err = validate_ca(ca.cert_pem(), &key, info.not_before - NOW_SLACK).unwrap_err();
        assert!(matches!(err, CertError::NotYetValid { .. }), "{err}");
        let l = leaf(&ca);
        let err = validate_leaf(
            &l.cert_pem,
            &l.key_pem,
            ca.cert_pem(),
            &[],
            &[],
            later + 86400 * 40,
        )
        .unwrap_err();
        assert!(matches!(err, CertError::Expired { .. }), "{err}");
    }

    #[test]
    fn key_mismatch() {
        let (ca1, key1) = ca(365);
        let (_, key2) = ca(365);
        assert!(key_matches_cert(ca1.cert_pem(), &key1).unwrap());
        assert!(!key_matches_cert(ca1.cert_pem(), &key2).unwrap());
        let err = validate_ca(ca1.cert_pem(), &key2, now()).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
        let l1 = leaf(&ca1);
        let l2 = leaf(&ca1);
        let err =
            validate_leaf(&l1.cert_pem, &l2.key_pem, ca1.cert_pem(), &[], &[], now()).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn not_a_ca_and_leaf_is_ca() {
        let (ca, key) = ca(365);
        let l = leaf(&ca);
        let err = validate_ca(&l.cert_pem, &l.key_pem, now()).unwrap_err();
        assert_eq!(
            err,
            CertError::NotACa {
                subject: "CN=node-1".into()
            }
        );
        let err = validate_leaf(ca.cert_pem(), &key, ca.cert_pem(), &[], &[], now()).unwrap_err();
        assert!(matches!(err, CertError::LeafIsCa { .. }), "{err}");
    }

    #[test]
    fn a_trust_list_block_is_found_by_its_fingerprint() {
        let first = ca(30).0.cert_pem().to_string();
        let second = ca(30).0.cert_pem().to_string();
        let trust = format!("# comment\n{first}{second}");
        assert_eq!(certificate_blocks(&trust).len(), 2);
        let fp = inspect_pem(&second).unwrap().fingerprint_sha256;
        assert_eq!(
            block_with_fingerprint(&trust, &fp)
                .as_deref()
                .map(str::trim_end),
            Some(second.trim_end())
        );
        assert_eq!(block_with_fingerprint(&trust, "AA:BB"), None);
    }

    #[test]
    fn not_issued_by_other_ca() {
        let (ca1, _) = ca(365);
        let (ca2, _) = ca(365); // same subject DN, different key: the signature decides
        let l = leaf(&ca1);
        verify_issued_by(&l.cert_pem, ca1.cert_pem()).unwrap();
        let err = verify_issued_by(&l.cert_pem, ca2.cert_pem()).unwrap_err();
        assert!(matches!(err, CertError::NotIssuedByCa { .. }), "{err}");
        let err =
            validate_leaf(&l.cert_pem, &l.key_pem, ca2.cert_pem(), &[], &[], now()).unwrap_err();
        assert!(matches!(err, CertError::NotIssuedByCa { .. }), "{err}");
    }

    #[test]
    fn unparseable_and_encrypted() {
        let err = inspect_pem("hello").unwrap_err();
        assert!(matches!(err, CertError::Unparseable { .. }), "{err}");
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = inspect_pem(bad).unwrap_err();
        assert!(matches!(err, CertError::Unparseable { .. }), "{err}");
        let (ca, _) = ca(365);
        let err = key_matches_cert(ca.cert_pem(), "not a key").unwrap_err();
        assert_eq!(
            err,
            unparseable(
                "private key",
                "no `-----BEGIN … PRIVATE KEY-----` block found"
            )
        );
        let err = key_matches_cert(
            ca.cert_pem(),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert_eq!(err, CertError::EncryptedKey);
        let err = validate_ca("garbage", "garbage", now()).unwrap_err();
        assert!(
            err.to_string().contains("cannot read the CA certificate"),
            "{err}"
        );
    }

    #[test]
    fn chain_and_existing_cert() {
        let (ca, _) = ca(365);
        let l = leaf(&ca);
        let chain = format!("{}{}", l.cert_pem, ca.cert_pem());
        assert_eq!(cert_ders(&chain).unwrap().len(), 2);
        assert_eq!(first_cert_pem(&chain).unwrap().trim(), l.cert_pem.trim());
        let e = existing_cert(&chain, Some(&l.key_pem), Some(ca.cert_pem())).unwrap();
        assert!(e.key_matches && e.signed_by_ca && e.has_chain);
        assert_eq!(e.key_type, Some(KeyType::EcdsaP256));
        let e = existing_cert(&l.cert_pem, None, None).unwrap();
        assert!(!e.key_matches && !e.signed_by_ca && !e.has_chain);
        assert!(existing_cert("nope", None, None).is_none());
        let (fp, _, subject) = ca_summary(ca.cert_pem()).unwrap();
        assert_eq!(fp, ca.fingerprint_sha256());
        assert_eq!(subject, "CN=test CA");
    }

    #[test]
    fn dns_wildcards() {
        assert!(dns_covers("*.example.com", "a.example.com"));
        assert!(dns_covers("A.Example.com", "a.example.COM"));
        assert!(!dns_covers("*.example.com", "a.b.example.com"));
        assert!(!dns_covers("*.example.com", "example.com"));
        assert!(!dns_covers("example.com", "other.com"));
    }
}
