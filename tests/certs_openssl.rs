//! Cross-checks es-secure's certificates with the real `openssl` command line: the chain
//! verifies (strict, per purpose), the extensions and SANs are what RFC 5280 and TLS clients
//! expect, and each key matches its certificate — for every key type. Also loads CAs made by
//! openssl (PKCS#1 RSA, SEC1 EC keys) and checks each `CertError` on openssl-made inputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use es_secure::domain::certspec::{CertPurpose, CertSpec, KeyType};
use es_secure::shell::certgen::{self, CaSigner};
use es_secure::shell::certinfo::{self, CertError};

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = support::run::output(Command::new("openssl").args(args).current_dir(dir));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(args: &[&str], dir: &Path) -> String {
    let (success, text) = openssl(args, dir);
    assert!(success, "openssl {args:?} failed:\n{text}");
    text
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn ca_spec(key_type: KeyType) -> CertSpec {
    CertSpec {
        common_name: "es-secure openssl-test CA".into(),
        purpose: None,
        dns: vec![],
        ip: vec![],
        key_type,
        validity_days: 3650,
    }
}

fn leaf_spec(key_type: KeyType, purpose: CertPurpose) -> CertSpec {
    CertSpec {
        common_name: "node-1".into(),
        purpose: Some(purpose),
        dns: vec!["node-1.es.example.internal".into(), "localhost".into()],
        ip: vec!["127.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
        key_type,
        validity_days: 825,
    }
}

fn check_key_matches(dir: &Path, crt: &str, key: &str) {
    let from_cert = ok(&["x509", "-in", crt, "-noout", "-pubkey"], dir);
    let from_key = ok(&["pkey", "-in", key, "-pubout"], dir);
    assert_eq!(from_cert, from_key, "{key} does not match {crt}");
}

fn check_key_type(key_type: KeyType) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, ca_key) = certgen::generate_ca(&ca_spec(key_type)).unwrap();
    std::fs::write(d.join("ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("ca.key"), ca_key.as_bytes()).unwrap();

    let ca_text = ok(&["x509", "-in", "ca.crt", "-noout", "-text"], d);
    for needle in [
        "X509v3 Basic Constraints: critical",
        "CA:TRUE",
        "X509v3 Key Usage: critical",
        "Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(ca_text.contains(needle), "CA lacks `{needle}`:\n{ca_text}");
    }
    check_key_matches(d, "ca.crt", "ca.key");
    // openssl's own fingerprint equals ours.
    let fp = ok(
        &["x509", "-in", "ca.crt", "-noout", "-fingerprint", "-sha256"],
        d,
    );
    assert!(
        fp.contains(&ca.fingerprint_sha256()),
        "{fp} vs {}",
        ca.fingerprint_sha256()
    );

    for (purpose, name, purposes) in [
        (
            CertPurpose::Transport,
            "transport",
            &["sslserver", "sslclient"][..],
        ),
        (CertPurpose::Http, "http", &["sslserver", "sslclient"][..]),
        (CertPurpose::KibanaServer, "kibana", &["sslserver"][..]),
    ] {
        let leaf = ca.issue(&leaf_spec(key_type, purpose)).unwrap();
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        std::fs::write(d.join(&crt), &leaf.cert_pem).unwrap();
        std::fs::write(d.join(&key), leaf.key_pem.as_bytes()).unwrap();

        let out = ok(&["verify", "-x509_strict", "-CAfile", "ca.crt", &crt], d);
        assert!(out.contains(": OK"), "{out}");
        for p in purposes {
            let out = ok(
                &[
                    "verify",
                    "-x509_strict",
                    "-purpose",
                    p,
                    "-CAfile",
                    "ca.crt",
                    &crt,
                ],
                d,
            );
            assert!(out.contains(": OK"), "{name} {p}: {out}");
        }
        if purpose == CertPurpose::KibanaServer {
            let (success, out) = openssl(
                &["verify", "-purpose", "sslclient", "-CAfile", "ca.crt", &crt],
                d,
            );
            assert!(
                !success,
                "Kibana's server cert must not be a client cert: {out}"
            );
        }

        let text = ok(&["x509", "-in", &crt, "-noout", "-text"], d);
        let mut needles = vec![
            "X509v3 Basic Constraints: critical",
            "CA:FALSE",
            "X509v3 Key Usage: critical",
            "Digital Signature",
            "TLS Web Server Authentication",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
            "DNS:node-1.es.example.internal",
            "DNS:localhost",
            "IP Address:127.0.0.1",
            "IP Address:FD00:0:0:0:0:0:0:1",
            "Subject: CN = node-1",
            "Issuer: CN = es-secure openssl-test CA",
        ];
        if purpose != CertPurpose::KibanaServer {
            needles.push("TLS Web Client Authentication");
        }
        if key_type == KeyType::EcdsaP256 {
            needles.extend(["id-ecPublicKey", "prime256v1"]);
            assert!(!text.contains("Key Encipherment"), "{text}");
        } else {
            needles.extend(["Key Encipherment", "rsaEncryption"]);
        }
        for needle in needles {
            assert!(text.contains(needle), "{name} lacks `{needle}`:\n{text}");
        }
        let bits = match key_type {
            KeyType::EcdsaP256 => "256 bit",
            KeyType::Rsa2048 => "2048 bit",
            KeyType::Rsa3072 => "3072 bit",
            KeyType::Rsa4096 => "4096 bit",
        };
        assert!(text.contains(bits), "{name} lacks `{bits}`:\n{text}");
        check_key_matches(d, &crt, &key);

        // And our own reader agrees with openssl.
        certinfo::validate_leaf(
            &leaf.cert_pem,
            &leaf.key_pem,
            ca.cert_pem(),
            &["node-1.es.example.internal".into()],
            &["127.0.0.1".parse().unwrap()],
            now(),
        )
        .unwrap();
    }
}

#[test]
fn ecdsa_p256_certs_pass_openssl() {
    check_key_type(KeyType::EcdsaP256);
}

#[test]
fn rsa_2048_certs_pass_openssl() {
    check_key_type(KeyType::Rsa2048);
}

#[test]
fn rsa_3072_certs_pass_openssl() {
    check_key_type(KeyType::Rsa3072);
}

#[test]
fn rsa_4096_certs_pass_openssl() {
    check_key_type(KeyType::Rsa4096);
}

/// Make a CA with openssl (the way operators and other tools do) and return its files' text.
fn openssl_ca(d: &Path, keygen: &[&str], ext: &str) -> (String, String) {
    ok(keygen, d);
    std::fs::write(d.join("ca.ext"), ext).unwrap();
    ok(
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-subj",
            "/C=DE/O=Example Org/CN=Operator CA",
            "-config",
            "ca.ext",
            "-extensions",
            "v3_ca",
        ],
        d,
    );
    (
        std::fs::read_to_string(d.join("ca.crt")).unwrap(),
        std::fs::read_to_string(d.join("ca.key")).unwrap(),
    )
}

const CA_EXT: &str = "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\n\
basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier=hash\n";

fn sign_and_verify_with(ca: &CaSigner, d: &Path) {
    let leaf = ca
        .issue(&leaf_spec(KeyType::EcdsaP256, CertPurpose::Http))
        .unwrap();
    std::fs::write(d.join("leaf.crt"), &leaf.cert_pem).unwrap();
    let out = ok(
        &["verify", "-x509_strict", "-CAfile", "ca.crt", "leaf.crt"],
        d,
    );
    assert!(out.contains(": OK"), "{out}");
    certinfo::verify_issued_by(&leaf.cert_pem, ca.cert_pem()).unwrap();
    let ca_info = certinfo::inspect_pem(ca.cert_pem()).unwrap();
    let info = certinfo::inspect_pem(&leaf.cert_pem).unwrap();
    assert_eq!(info.aki, ca_info.ski, "AKI must equal the foreign CA's SKI");
    assert_eq!(info.issuer, ca_info.subject);
}

#[test]
fn openssl_rsa_pkcs1_ca_can_be_loaded_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `-traditional` writes the PKCS#1 `RSA PRIVATE KEY` form older tools produce.
    let (crt, key) = openssl_ca(
        d,
        &["genrsa", "-traditional", "-out", "ca.key", "2048"],
        CA_EXT,
    );
    assert!(key.contains("BEGIN RSA PRIVATE KEY"), "{key}");
    certinfo::validate_ca(&crt, &key, now()).unwrap();
    let ca = certgen::load_ca(&crt, &key).unwrap();
    assert_eq!(ca.key_type(), Some(KeyType::Rsa2048));
    assert_eq!(
        certinfo::inspect_pem(&crt).unwrap().subject,
        "C=DE, O=Example Org, CN=Operator CA"
    );
    sign_and_verify_with(&ca, d);
}

#[test]
fn openssl_ec_sec1_ca_with_parameters_block_can_be_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `ecparam -genkey` writes an `EC PARAMETERS` block before the SEC1 key.
    let (crt, key) = openssl_ca(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "ca.key",
        ],
        CA_EXT,
    );
    assert!(key.contains("BEGIN EC PARAMETERS"), "{key}");
    certinfo::validate_ca(&crt, &key, now()).unwrap();
    let ca = certgen::load_ca(&crt, &key).unwrap();
    sign_and_verify_with(&ca, d);
}

#[test]
fn cert_errors_on_openssl_made_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // MissingKeyUsage: a CA whose keyUsage lacks keyCertSign.
    let (crt, key) = openssl_ca(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\n\
         keyUsage=critical,digitalSignature\n",
    );
    let err = certinfo::validate_ca(&crt, &key, now()).unwrap_err();
    assert!(matches!(err, CertError::MissingKeyUsage { .. }), "{err}");
    assert!(err.to_string().contains("keyCertSign"), "{err}");

    // NotACa: a plain self-signed server certificate offered as CA.
    let (crt, key) = openssl_ca(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:FALSE\n",
    );
    let err = certinfo::validate_ca(&crt, &key, now()).unwrap_err();
    assert!(matches!(err, CertError::NotACa { .. }), "{err}");
    assert!(err.to_string().contains("not a CA certificate"), "{err}");

    // Expired (we pass a `now` past the 30-day openssl validity).
    let (crt, key) = openssl_ca(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
        CA_EXT,
    );
    let err = certinfo::validate_ca(&crt, &key, now() + 31 * 86400).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err}");

    // KeyMismatch: the right certificate with another openssl key.
    ok(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other.key",
        ],
        d,
    );
    let other = std::fs::read_to_string(d.join("other.key")).unwrap();
    let err = certinfo::validate_ca(&crt, &other, now()).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
    assert!(certgen::load_ca(&crt, &other).is_err());

    // EncryptedKey: a passphrase-protected PKCS#8 key.
    ok(
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "ca.key",
            "-out",
            "enc.key",
            "-passout",
            "pass:secret",
        ],
        d,
    );
    let enc = std::fs::read_to_string(d.join("enc.key")).unwrap();
    let err = certinfo::validate_ca(&crt, &enc, now()).unwrap_err();
    assert_eq!(err, CertError::EncryptedKey);

    // NotIssuedByCa and MissingSan: an openssl CA validating our leaf from another CA.
    let (ours, _) = certgen::generate_ca(&ca_spec(KeyType::EcdsaP256)).unwrap();
    let leaf = ours
        .issue(&leaf_spec(KeyType::EcdsaP256, CertPurpose::Transport))
        .unwrap();
    let err =
        certinfo::validate_leaf(&leaf.cert_pem, &leaf.key_pem, &crt, &[], &[], now()).unwrap_err();
    assert!(matches!(err, CertError::NotIssuedByCa { .. }), "{err}");
    let err = certinfo::validate_leaf(
        &leaf.cert_pem,
        &leaf.key_pem,
        ours.cert_pem(),
        &["node-2.es.example.internal".into()],
        &[],
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CertError::MissingSan {
            name: "node-2.es.example.internal".into()
        }
    );

    // Unparseable: DER instead of PEM.
    ok(
        &["x509", "-in", "ca.crt", "-outform", "DER", "-out", "ca.der"],
        d,
    );
    let der = String::from_utf8_lossy(&std::fs::read(d.join("ca.der")).unwrap()).into_owned();
    let err = certinfo::inspect_pem(&der).unwrap_err();
    assert!(matches!(err, CertError::Unparseable { .. }), "{err}");
}
