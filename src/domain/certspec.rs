//! What a certificate should look like, as plain data. The planner produces these specs;
//! `shell::certgen` turns them into keys and PEM files. No keys or randomness here.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The key algorithm for a new key pair.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    EcdsaP256,
    // Explicit: kebab-case alone would spell these `rsa2048`, unlike every document.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// The spelling used in answers files and plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
        }
    }
}

/// What a leaf certificate is used for; decides its extended key usages.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertPurpose {
    /// Node-to-node TLS: both ends authenticate, so serverAuth + clientAuth.
    Transport,
    /// Elasticsearch's HTTP layer: serverAuth (clientAuth too, harmless and useful for mTLS).
    Http,
    /// Kibana's browser-facing server certificate: serverAuth.
    KibanaServer,
}

/// A certificate to issue, signed by the CA (or the CA itself when `purpose` is `None`).
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct CertSpec {
    /// Subject common name.
    pub common_name: String,
    /// `None` for the CA certificate itself.
    pub purpose: Option<CertPurpose>,
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
    pub key_type: KeyType,
    pub validity_days: u32,
}
