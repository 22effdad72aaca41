//! Adapters from the certificate and keystore readers to the plain facts the planner uses.
//! Read-only. (Stubs until the certinfo and keystore modules land.)

use crate::domain::facts::ExistingCert;

/// Summarise an existing leaf certificate (and its key) against the CA, or `None` when the
/// file is not a certificate we can read (the planner then re-issues it).
pub fn existing_cert(
    _cert_pem: &str,
    _key_pem: Option<&str>,
    _ca_pem: Option<&str>,
) -> Option<ExistingCert> {
    None
}

/// `(sha256 fingerprint, not_after, subject)` of a CA certificate.
pub fn ca_summary(_pem: &str) -> anyhow::Result<(String, i64, String)> {
    anyhow::bail!("certificate inspection not available yet")
}

/// Entry names of a keystore, or `None` when it cannot be read without a password.
pub fn keystore_entry_names(_path: &std::path::Path, _kibana: bool) -> Option<Vec<String>> {
    None
}
