//! STUB (replaced by the certs branch).
#![allow(dead_code, unused_variables)]
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct CertError;
pub fn validate_ca(cert_pem: &str, key_pem: &str, now: i64) -> Result<(), CertError> {
    Err(CertError)
}
