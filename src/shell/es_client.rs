//! STUB (replaced by the client branch).
#![allow(dead_code, unused_variables)]
use std::time::Duration;
use zeroize::Zeroizing;
#[derive(Clone, Debug)]
pub enum Trust {
    PlainHttp,
    Ca {
        ca_pem: String,
        pin_sha256: Option<String>,
    },
}
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Zeroizing<String>,
}
#[derive(Clone)]
pub struct EsClient;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct EsError;
pub struct Health {
    pub status: String,
    pub number_of_nodes: u32,
}
pub struct AuthInfo {
    pub username: String,
}
pub struct SslCertificate {
    pub path: String,
}
pub struct WaitStatus;
impl std::fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stub")
    }
}
impl EsClient {
    pub fn new(base_url: &str, trust: Trust) -> anyhow::Result<Self> {
        Ok(Self)
    }
    pub fn with_credentials(&self, c: Credentials) -> Self {
        Self
    }
    pub fn health(&self) -> Result<Health, EsError> {
        Err(EsError)
    }
    pub fn authenticate(&self) -> Result<AuthInfo, EsError> {
        Err(EsError)
    }
    pub fn change_password(&self, user: &str, pw: &Zeroizing<String>) -> Result<(), EsError> {
        Err(EsError)
    }
    pub fn ssl_certificates(&self) -> Result<Vec<SslCertificate>, EsError> {
        Err(EsError)
    }
    pub fn status_anonymous(&self) -> Result<u16, EsError> {
        Err(EsError)
    }
    pub fn wait_healthy(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&WaitStatus),
    ) -> Result<Health, EsError> {
        Err(EsError)
    }
}
