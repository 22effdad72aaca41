//! STUB (replaced by the certs branch).
#![allow(dead_code, unused_variables, clippy::missing_errors_doc)]
use crate::domain::certspec::CertSpec;
use zeroize::Zeroizing;
pub struct CaSigner {
    pem: String,
}
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}
pub fn generate_ca(spec: &CertSpec) -> anyhow::Result<(CaSigner, Zeroizing<String>)> {
    anyhow::bail!("stub")
}
pub fn load_ca(cert_pem: &str, key_pem: &str) -> anyhow::Result<CaSigner> {
    anyhow::bail!("stub")
}
impl CaSigner {
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }
    pub fn fingerprint_sha256(&self) -> String {
        String::new()
    }
    pub fn issue(&self, spec: &CertSpec) -> anyhow::Result<Issued> {
        anyhow::bail!("stub")
    }
}
