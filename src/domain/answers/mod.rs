//! Answers: what the operator wants, first as written (raw, from an answers file or the
//! wizard), then parsed once into typed [`Answers`] that later code never re-checks.
//!
//! The answers file (version 1) is strict: an unknown key or a bad value is an error with line
//! and column. Secrets never appear inline; they are references (`generate`, `env:NAME`,
//! `file:PATH`). This module parses text and checks consistency; it must not read the
//! environment or files (a reference is resolved by the shell when a plan is applied).
//!
//! `raw` holds the file format (serde types, parsing text); `validate` turns raw answers into
//! typed ones; this file holds the typed answers themselves.

mod raw;
mod validate;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::domain::certspec::KeyType;
use crate::domain::tier::Tier;

pub use self::raw::{
    AuthMethodKind, CaKeyword, DEFAULT_AUDIT_EVENTS, DEFAULT_KIBANA_IDLE_TIMEOUT,
    DEFAULT_KIBANA_LIFESPAN, DEFAULT_TLS_PROTOCOLS, RawAnswers, RawAudit, RawAuth, RawCaSource,
    RawCertPair, RawCertificates, RawElasticsearch, RawHardening, RawIpFilter, RawKibana,
    RawKibanaSession, RawNode, RawNodeCerts, RawPasswords, RestartMode, VerificationMode,
    parse_raw,
};
pub use self::validate::{
    filter_entry_matches, parse_cidr, url_host, valid_dns_name, valid_filter_entry, valid_node_name,
};

/// The built-in users whose passwords es-secure sets, in the order it sets them (elastic last,
/// as Elastic's setup-passwords tool does, so a failure part-way never locks out the admin).
pub const BUILTIN_USERS: [&str; 6] = [
    "kibana_system",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_user",
    "elastic",
];

/// Passwords shorter than this are refused (ES's own minimum is 6; 12 is a saner floor for a
/// production node, and generated ones are much longer).
pub const MIN_PASSWORD_LEN: usize = 12;

/// Length of generated passwords.
pub const GENERATED_PASSWORD_LEN: usize = 24;

// ---------------------------------------------------------------------------------------------
// Typed answers.
// ---------------------------------------------------------------------------------------------

/// A reference to a secret. Never holds the secret itself.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum SecretRef {
    Generate,
    Env(String),
    File(PathBuf),
    /// Leave this user's password alone.
    Keep,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generate => f.write_str("generate"),
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Keep => f.write_str("keep"),
        }
    }
}

impl SecretRef {
    /// Parse `generate`, `keep`, `env:NAME` or `file:PATH`. Anything else is refused, because an
    /// inline password in an answers file ends up in backups, shell history and tickets.
    pub fn parse(key: &str, text: &str) -> Result<Self, String> {
        if text == "generate" {
            return Ok(Self::Generate);
        }
        if text == "keep" {
            return Ok(Self::Keep);
        }
        if let Some(name) = text.strip_prefix("env:") {
            let ok = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(format!(
                    "`{key}`: `env:` must name an environment variable (letters, digits, _)"
                ));
            }
            return Ok(Self::Env(name.to_string()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "`{key}`: `file:` needs an absolute path, e.g. file:/root/elastic.pw"
                ));
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        // Deliberately does not echo the value: it may be a password.
        Err(format!(
            "`{key}`: inline passwords are not allowed in answers files; use generate, keep, env:NAME or file:/PATH"
        ))
    }
}

/// A cluster node as the operator described it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
}

/// Where the CA comes from.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum CaSource {
    /// Reuse the CA from an earlier run when there is one, otherwise create one.
    Generate,
    /// Require the CA from an earlier run.
    Existing,
    /// The operator's own CA.
    Files { cert: PathBuf, key: PathBuf },
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct CertAnswers {
    pub ca: CaSource,
    pub key_type: KeyType,
    pub validity_days: u32,
    /// This node's own certificates, installed instead of issued.
    pub node_certs: Option<NodeCerts>,
}

/// The operator's own certificates for this node. The transport one is required; without
/// `http` the https tier issues the HTTP certificate from the (operator's) CA as usual.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct NodeCerts {
    pub transport: RawCertPair,
    pub http: Option<RawCertPair>,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct KibanaAnswers {
    pub config_dir: PathBuf,
    pub public_url: Option<String>,
    /// Whether browsers reach Kibana over HTTPS (https tier and an https public URL).
    pub server_https: bool,
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
    /// How Kibana logs in to Elasticsearch (`kibana.es_auth`).
    pub es_auth: KibanaEsAuth,
}

/// How Kibana authenticates to Elasticsearch. Kibana refuses `elasticsearch.username` together
/// with `elasticsearch.serviceAccountToken`, so it is one or the other.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KibanaEsAuth {
    /// `elasticsearch.username: kibana_system`, its password in kibana.keystore.
    #[default]
    Password,
    /// `elasticsearch.serviceAccountToken` in kibana.keystore: a token es-secure creates for
    /// the service account `elastic/kibana` (what Elastic's enrollment writes).
    ServiceToken,
}

impl KibanaEsAuth {
    /// The answers' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ServiceToken => "service-token",
        }
    }
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum Restart {
    Manual,
    Systemd,
    Command(String),
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum AuthMethod {
    TemporarySuperuser,
    ElasticPassword(SecretRef),
    BootstrapPassword,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct PasswordAnswers {
    /// One entry per built-in user, in [`BUILTIN_USERS`] order.
    pub users: Vec<(String, SecretRef)>,
    pub output_file: Option<PathBuf>,
    pub show: bool,
    pub rotate: bool,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct EsAnswers {
    pub config_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub url: Option<String>,
    pub service_user: Option<String>,
    pub restart: Restart,
    pub verification: VerificationMode,
    pub health_timeout_secs: u64,
    pub allow_cleartext_rest: bool,
    pub allow_partial_cluster: bool,
    /// How long the restart may take (default 300 s).
    pub restart_timeout_secs: u64,
}

/// Validated `hardening`. `None`/empty fields leave that layer alone.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Hardening {
    pub audit: Option<AuditAnswers>,
    pub tls_protocols: Vec<String>,
    /// Empty: Elasticsearch's (the JDK's) default suites.
    pub tls_cipher_suites: Vec<String>,
    pub kibana_session: Option<KibanaSession>,
    pub ip_filter: Option<IpFilterAnswers>,
}

impl Hardening {
    /// The Gold-license features these answers turn on (no-ops on a Basic license).
    pub fn gold_features(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.audit.as_ref().is_some_and(|a| a.enabled) {
            out.push("audit logging (hardening.audit)");
        }
        if self.ip_filter.is_some() {
            out.push("IP filtering (hardening.ip_filter)");
        }
        out
    }
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct AuditAnswers {
    pub enabled: bool,
    pub events: Vec<String>,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct KibanaSession {
    pub idle_timeout: String,
    pub lifespan: String,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct IpFilterAnswers {
    /// `None`: every node's addresses.
    pub transport_allow: Option<Vec<String>>,
    pub http_allow: Vec<String>,
    pub http_deny: Vec<String>,
}

/// Validated answers. Built only through [`Answers::from_raw`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Answers {
    pub tier: Tier,
    pub es: EsAnswers,
    /// Every node of the cluster (empty for a minimal-tier single node).
    pub nodes: Vec<Node>,
    /// Index into `nodes` of the node configured on this host.
    pub this_node: Option<usize>,
    pub certs: CertAnswers,
    pub kibana: Option<KibanaAnswers>,
    pub passwords: PasswordAnswers,
    pub auth: AuthMethod,
    pub hardening: Hardening,
}

impl Answers {
    /// The node configured on this host, if the answers name one.
    pub fn local_node(&self) -> Option<&Node> {
        self.this_node.and_then(|i| self.nodes.get(i))
    }
}

/// A problem with the answers, naming the key and (when known) the line.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AnswerError {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_refs() {
        assert_eq!(
            SecretRef::parse("k", "env:ES_PW"),
            Ok(SecretRef::Env("ES_PW".into()))
        );
        assert!(SecretRef::parse("k", "env:1X").is_err());
        assert!(SecretRef::parse("k", "file:relative").is_err());
        assert_eq!(
            SecretRef::parse("k", "file:/x/y"),
            Ok(SecretRef::File("/x/y".into()))
        );
    }
}
