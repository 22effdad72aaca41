//! Node bundle authenticity: the detached signature the CA host appends to a bundle, its check
//! against a CA certificate, and the `--ca-fingerprint` an operator gives to say which CA to
//! trust. A bundle is `BODY` followed by one last line `# es-secure-signature: SCHEME BASE64`
//! that signs the exact bytes of `BODY` (comments included), so any edited byte is refused.
//! Must not parse the bundle's YAML or judge its contents (`shell::bundle`, `domain::bundle`
//! do), and never touches the CA key except through [`CaSigner::sign_detached`].

use anyhow::Context as _;
use base64::Engine as _;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};

use crate::shell::certgen::{self, CaSigner};

/// The start of the signature line. A YAML comment, so the whole file stays a YAML document.
const PREFIX: &str = "# es-secure-signature: ";

/// `body` with its signature line appended.
pub fn sign(signer: &CaSigner, body: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        body.ends_with('\n'),
        "internal: a bundle body must end with a newline before it is signed"
    );
    let (scheme, sig) = signer
        .sign_detached(body.as_bytes())
        .context("signing the node bundle with the CA key")?;
    let sig = base64::engine::general_purpose::STANDARD.encode(sig);
    Ok(format!("{body}{PREFIX}{scheme} {sig}\n"))
}

/// Append the signature line of `text` (a body, see [`sign`]) to it in place: the bundle is
/// built in one buffer, so no second copy of its keys is made (or has to be wiped).
pub fn append_signature(signer: &CaSigner, text: &mut String) -> anyhow::Result<()> {
    anyhow::ensure!(
        text.ends_with('\n'),
        "internal: a bundle body must end with a newline before it is signed"
    );
    let (scheme, sig) = signer
        .sign_detached(text.as_bytes())
        .context("signing the node bundle with the CA key")?;
    let sig = base64::engine::general_purpose::STANDARD.encode(sig);
    text.push_str(PREFIX);
    text.push_str(scheme);
    text.push(' ');
    text.push_str(&sig);
    text.push('\n');
    Ok(())
}

/// Room to leave after a body for [`append_signature`]: the longest line, an RSA-8192 CA's.
pub const SIGNATURE_LINE_MAX: usize = 1500;

/// A bundle text split into the signed body and its signature.
pub struct Signed<'a> {
    pub body: &'a str,
    scheme: &'a str,
    signature: Vec<u8>,
}

/// Split off the signature line, which must be the file's last line. `Err` says what is wrong
/// with the file's form (no signature, text after it, bad encoding).
pub fn split(text: &str) -> Result<Signed<'_>, String> {
    let Some(without_nl) = text.strip_suffix('\n') else {
        return Err("it does not end with its signature line".to_string());
    };
    let start = without_nl.rfind('\n').map_or(0, |i| i + 1);
    let (body, last) = without_nl.split_at(start);
    let Some(rest) = last.strip_prefix(PREFIX) else {
        return Err(if text.contains(PREFIX) {
            "there is text after its signature line".to_string()
        } else {
            "it is not signed (no `# es-secure-signature:` line)".to_string()
        });
    };
    let Some((scheme, b64)) = rest.split_once(' ') else {
        return Err("its signature line is malformed".to_string());
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "its signature is not valid base64".to_string())?;
    Ok(Signed {
        body,
        scheme,
        signature,
    })
}

impl Signed<'_> {
    /// Whether the signature verifies with the public key of the CA certificate `ca_der`.
    pub fn verify(&self, ca_der: &[u8]) -> Result<(), String> {
        use webpki::aws_lc_rs as alg;
        let algorithm: &dyn SignatureVerificationAlgorithm = match self.scheme {
            certgen::SIG_ECDSA_P256_SHA256 => alg::ECDSA_P256_SHA256,
            certgen::SIG_ECDSA_P384_SHA384 => alg::ECDSA_P384_SHA384,
            certgen::SIG_RSA_PKCS1_SHA256 => alg::RSA_PKCS1_2048_8192_SHA256,
            certgen::SIG_ED25519 => alg::ED25519,
            other => return Err(format!("its signature scheme `{other}` is not supported")),
        };
        let der = CertificateDer::from(ca_der);
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| format!("its CA certificate cannot be read ({e})"))?;
        cert.verify_signature(algorithm, self.body.as_bytes(), &self.signature)
            .map_err(|_| {
                "its signature does not verify with its CA certificate: the file was edited after the CA host signed it".to_string()
            })
    }
}

/// A SHA-256 fingerprint as an operator types it (hex, any case, colons optional) in the
/// `AA:BB:…` form es-secure prints. `Err` says what is wrong.
pub fn parse_fingerprint(text: &str) -> Result<String, String> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{text}` is not a SHA-256 fingerprint: expected 64 hex digits (colons optional), as the apply on the CA host printed after `CA SHA-256 fingerprint:`"
        ));
    }
    let pairs: Vec<&str> = (0..32).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Ok(pairs.join(":"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::certspec::{CertSpec, KeyType};

    fn ca(key_type: KeyType) -> CaSigner {
        let spec = CertSpec {
            common_name: "test CA".to_string(),
            purpose: None,
            dns: vec![],
            ip: vec![],
            key_type,
            validity_days: 30,
        };
        certgen::generate_ca(&spec).unwrap().0
    }

    fn der(signer: &CaSigner) -> Vec<u8> {
        crate::shell::certinfo::cert_ders(signer.cert_pem())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn signed_text_verifies_with_its_ca_only() {
        for kt in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let a = ca(kt);
            let b = ca(kt);
            let text = sign(&a, "# c\nversion: 2\nnode: n\n").unwrap();
            let signed = split(&text).unwrap();
            assert_eq!(signed.body, "# c\nversion: 2\nnode: n\n");
            signed.verify(&der(&a)).unwrap();
            assert!(signed.verify(&der(&b)).is_err(), "another CA");
        }
    }

    #[test]
    fn a_signature_appended_in_place_verifies() {
        let a = ca(KeyType::EcdsaP256);
        let mut text = String::from("# c\nversion: 3\nnode: n\n");
        append_signature(&a, &mut text).unwrap();
        let signed = split(&text).unwrap();
        assert_eq!(signed.body, "# c\nversion: 3\nnode: n\n");
        signed.verify(&der(&a)).unwrap();
    }

    #[test]
    fn every_edited_byte_is_refused() {
        let a = ca(KeyType::EcdsaP256);
        let text = sign(&a, "# comment\nversion: 2\nnode: node-2\n").unwrap();
        let ca_der = der(&a);
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(edited) = String::from_utf8(bytes) else {
                continue;
            };
            let ok = split(&edited).is_ok_and(|s| s.verify(&ca_der).is_ok());
            assert!(!ok, "byte {i} edited and still accepted");
        }
        let appended = format!("{text}restart_command: id\n");
        assert!(split(&appended).is_err());
        assert!(split("version: 2\n").is_err());
    }

    #[test]
    fn fingerprints_are_normalised() {
        let fp = "ab".repeat(32);
        let want = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&fp).unwrap(), want);
        assert_eq!(parse_fingerprint(&want.to_lowercase()).unwrap(), want);
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
