//! Adapters from the certificate and keystore readers to the plain facts the planner uses.
//! Read-only: never writes, never prompts for a keystore password.

use crate::domain::facts::ExistingCert;
use crate::shell::keystore::{es::EsKeystore, kibana::KibanaKeystore};

/// Summarise an existing leaf certificate (and its key) against the CA, or `None` when the
/// file is not a certificate we can read (the planner then re-issues it).
pub fn existing_cert(
    cert_pem: &str,
    key_pem: Option<&str>,
    ca_pem: Option<&str>,
) -> Option<ExistingCert> {
    crate::shell::certinfo::existing_cert(cert_pem, key_pem, ca_pem)
}

/// `(sha256 fingerprint, not_after, subject)` of a CA certificate.
pub fn ca_summary(pem: &str) -> anyhow::Result<(String, i64, String)> {
    Ok(crate::shell::certinfo::ca_summary(pem)?)
}

/// Entry names of a keystore, or `None` when it cannot be read without a password (or at
/// all): the planner then treats its contents as unknown and leaves the entries alone.
pub fn keystore_entry_names(path: &std::path::Path, kibana: bool) -> Option<Vec<String>> {
    if kibana {
        let text =
            crate::shell::safe_fs::read_file_text(path, crate::shell::safe_fs::CONFIG_CAP).ok()?;
        KibanaKeystore::parse(&text, "").ok().map(|k| k.names())
    } else {
        let bytes =
            crate::shell::safe_fs::read_file(path, crate::shell::safe_fs::CONFIG_CAP).ok()?;
        // A password-protected keystore cannot be listed without asking; peek first so we do
        // not pay for a key derivation that is bound to fail.
        if EsKeystore::peek(&bytes).ok()?.has_password {
            return None;
        }
        EsKeystore::parse(&bytes, "").ok().map(|k| k.names())
    }
}

/// Format version in an `elasticsearch.keystore`'s unencrypted header (no key derived, no
/// password needed), or `None` when the file cannot be read or is not a keystore.
pub fn es_keystore_format(path: &std::path::Path) -> Option<u32> {
    let bytes = crate::shell::safe_fs::read_file(path, crate::shell::safe_fs::CONFIG_CAP).ok()?;
    EsKeystore::peek(&bytes).ok().map(|h| h.format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es_keystore_format_reads_the_header_of_each_written_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elasticsearch.keystore");
        // 5 and 7 only: format 6 has the same header layout as 7 and its 210 000-round key
        // derivation takes ~15 s in a debug build (8.17.x covers it live in the matrix).
        for format in [5, 7] {
            let bytes = EsKeystore::new(format).unwrap().to_bytes("").unwrap();
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(es_keystore_format(&path), Some(format));
        }
        std::fs::write(&path, b"not a keystore").unwrap();
        assert_eq!(es_keystore_format(&path), None);
        assert_eq!(es_keystore_format(&dir.path().join("missing")), None);
    }
}
