//! The checks of the operator's inputs that need the host: the own CA's files are readable,
//! the key is not passphrase-encrypted and matches the certificate; every `env:` variable is
//! set and every `file:` secret readable. The wizard runs them on a screen before moving on,
//! so answers the CLI refuses up front (exit 2) are not accepted until after Proceed.
//!
//! Read-only: it must not write anything, nor print or keep a secret (values it resolves are
//! dropped, zeroized, at once). Its errors name the answer key and the file, never a value.

use std::path::Path;

use crate::domain::answers::{AnswerError, Answers, AuthMethod, CaSource, SecretRef};

/// Every problem found, each under the answer key whose screen shows it.
pub fn inputs(answers: &Answers, now: i64) -> Vec<AnswerError> {
    let mut errors = Vec::new();
    if let CaSource::Files { cert, key } = &answers.certs.ca
        && let Err(message) = own_ca(cert, key, now)
    {
        errors.push(AnswerError {
            key: "certificates.ca".to_string(),
            line: None,
            message,
        });
    }
    for (user, secret) in &answers.passwords.users {
        secret_problem(&format!("passwords.{user}"), secret, &mut errors);
    }
    if let AuthMethod::ElasticPassword(secret) = &answers.auth {
        secret_problem("auth.elastic_password", secret, &mut errors);
    }
    errors
}

fn secret_problem(key: &str, secret: &SecretRef, errors: &mut Vec<AnswerError>) {
    if !matches!(secret, SecretRef::Env(_) | SecretRef::File(_)) {
        return;
    }
    if let Err(e) = crate::shell::secrets::resolve(key, secret) {
        // resolve's own message already names the key and says what to do.
        let text = format!("{e:#}");
        let message = text
            .strip_prefix(&format!("`{key}` "))
            .map_or_else(|| text.clone(), str::to_string);
        errors.push(AnswerError {
            key: key.to_string(),
            line: None,
            message,
        });
    }
}

/// The operator's CA: both files readable, the key unencrypted and usable, the certificate a
/// valid CA for the key. Each message names the file at fault.
fn own_ca(cert: &Path, key: &Path, now: i64) -> Result<(), String> {
    let cert_pem = std::fs::read_to_string(cert)
        .map_err(|e| format!("cannot read the CA certificate {}: {e}", cert.display()))?;
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(key)
            .map_err(|e| format!("cannot read the CA key {}: {e}", key.display()))?,
    );
    if key_pem.contains("ENCRYPTED") {
        return Err(format!(
            "the CA key {} is encrypted with a passphrase, which es-secure cannot use\nhelp: write an unencrypted copy (mode 0600), e.g. `openssl pkey -in {} -out ca-key.pem`, and name that",
            key.display(),
            key.display()
        ));
    }
    crate::shell::certinfo::validate_ca(&cert_pem, &key_pem, now)
        .map_err(|e| format!("{} with key {}: {e}", cert.display(), key.display()))?;
    crate::shell::certgen::load_ca(&cert_pem, &key_pem)
        .map(|_| ())
        .map_err(|e| format!("the CA key {} cannot be used: {e:#}", key.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_encrypted_ca_key_is_named_as_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("ca.crt");
        let key = dir.path().join("ca.key");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = own_ca(&cert, &key, 0).unwrap_err();
        assert!(e.contains(&key.display().to_string()), "{e}");
        assert!(e.contains("passphrase"), "{e}");
        let missing = own_ca(&dir.path().join("nope.crt"), &key, 0).unwrap_err();
        assert!(missing.contains("nope.crt"), "{missing}");
    }

    #[test]
    fn an_unset_env_variable_is_reported_under_its_key() {
        let mut errors = Vec::new();
        let name = "ES_SECURE_PRECHECK_TEST_SURELY_UNSET";
        secret_problem(
            "passwords.elastic",
            &SecretRef::Env(name.to_string()),
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "passwords.elastic");
        assert!(errors[0].message.contains(name), "{}", errors[0].message);
        let mut none = Vec::new();
        secret_problem("passwords.elastic", &SecretRef::Generate, &mut none);
        assert!(none.is_empty());
    }
}
