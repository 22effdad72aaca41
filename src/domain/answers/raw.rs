//! The answers file as written (version 1): serde types that accept exactly the documented
//! keys, and the parse of answers-file text into them. It must not check consistency or apply
//! defaults beyond serde's (that is `validate`), nor read the environment or files.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::domain::certspec::KeyType;
use crate::domain::tier::Tier;

/// The answers file as written. Every field that can be omitted is optional here; defaults are
/// applied in [`Answers::from_raw`](super::Answers::from_raw).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnswers {
    pub version: u32,
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "RawElasticsearch::is_empty")]
    pub elasticsearch: RawElasticsearch,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<RawNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_node: Option<String>,
    #[serde(default)]
    pub certificates: RawCertificates,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana: Option<RawKibana>,
    #[serde(default)]
    pub passwords: RawPasswords,
    #[serde(default)]
    pub auth: RawAuth,
    /// Defence-in-depth layers beyond the tiers (audit, IP filter, TLS protocols, Kibana
    /// sessions); each subsection is opt-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardening: Option<RawHardening>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawElasticsearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// Where the REST API is reached after the restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The unprivileged account Elasticsearch runs as (package default `elasticsearch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartMode>,
    /// With `restart: command`: a shell command that restarts this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_command: Option<String>,
    /// Transport TLS verification: `full` (default: hostname/IP checked against SANs) or
    /// `certificate` (chain only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_verification: Option<VerificationMode>,
    /// Seconds to wait for the cluster to turn yellow or green after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout_secs: Option<u64>,
    /// Below the https tier, allow es-secure's REST calls (temporary superuser, new built-in
    /// passwords) to go in clear to a non-loopback address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_cleartext_rest: bool,
    /// Allow a plan whose `discovery.seed_hosts`/`cluster.initial_master_nodes` name hosts
    /// that are not among `nodes`, or whose bind/publish addresses the certificates do not
    /// name (the plan still lists them as warnings).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_partial_cluster: bool,
    /// Seconds the restart (systemd or `restart_command`) may take before it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_timeout_secs: Option<u64>,
}

impl RawElasticsearch {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Spanned<String>,
    #[serde(default)]
    pub dns: Vec<Spanned<String>>,
    #[serde(default)]
    pub ip: Vec<IpAddr>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificates {
    #[serde(default)]
    pub ca: RawCaSource,
    #[serde(default)]
    pub key_type: KeyType,
    #[serde(default = "default_validity")]
    pub validity_days: u32,
    /// The operator's own certificates for this node, installed instead of issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_certs: Option<RawNodeCerts>,
}

/// `certificates.node_certs`: this node's own certificates (`http` only in the https tier).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodeCerts {
    pub transport: RawCertPair,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<RawCertPair>,
}

/// A certificate file and its private key file.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn default_validity() -> u32 {
    1095
}

impl Default for RawCertificates {
    fn default() -> Self {
        Self {
            ca: RawCaSource::default(),
            key_type: KeyType::default(),
            validity_days: default_validity(),
            node_certs: None,
        }
    }
}

/// `generate`, `existing` or `{cert: PATH, key: PATH}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RawCaSource {
    Keyword(CaKeyword),
    Files { cert: PathBuf, key: PathBuf },
}

impl Default for RawCaSource {
    fn default() -> Self {
        Self::Keyword(CaKeyword::Generate)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaKeyword {
    Generate,
    Existing,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKibana {
    pub config_dir: PathBuf,
    /// The URL browsers use; its scheme decides browser HTTPS in the https tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// DNS names for Kibana's server certificate (default: the public URL's host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<IpAddr>,
    /// How Kibana logs in to Elasticsearch: `password` (kibana_system's, the default) or
    /// `service-token` (a token of the service account `elastic/kibana`, as Elastic's
    /// enrollment writes). A string, so a typo gets an error naming this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub es_auth: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswords {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana_system: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logstash_system: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats_system: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apm_system: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_monitoring_user: Option<Spanned<String>>,
    /// Where generated passwords are written (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<PathBuf>,
    /// Print generated passwords once at the end of apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub show: bool,
    /// Set the passwords again even if an earlier apply already set them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(default)]
    pub method: AuthMethodKind,
    /// With `method: elastic-password`: where the current elastic password is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic_password: Option<Spanned<String>>,
}

/// `hardening`: each subsection left out leaves that layer alone.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHardening {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<RawAudit>,
    /// TLS versions for transport and HTTP (and Kibana's server), e.g. `[TLSv1.3, TLSv1.2]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_protocols: Option<Vec<String>>,
    /// Cipher suites for transport and HTTP, in JSSE (IANA) names, e.g.
    /// `[TLS_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cipher_suites: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana_session: Option<RawKibanaSession>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_filter: Option<RawIpFilter>,
}

/// `hardening.audit`: Elasticsearch security audit logging (a Gold feature).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Event types to record (default [`DEFAULT_AUDIT_EVENTS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// `hardening.kibana_session`: Kibana's session timeouts (`<count>[ms|s|m|h|d|w|M|Y]`, `0` =
/// never).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKibanaSession {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifespan: Option<String>,
}

/// `hardening.ip_filter`: which addresses may connect (a Gold feature).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpFilter {
    /// Default: every node's addresses from `nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_allow: Vec<String>,
    /// Default `[_all]` when `http_allow` is set (an allow list alone restricts nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_deny: Vec<String>,
}

/// Audit events recorded by default: every denial, failure and security change, without the
/// per-request `access_granted` flood (Elastic's own default includes it).
pub const DEFAULT_AUDIT_EVENTS: [&str; 7] = [
    "access_denied",
    "anonymous_access_denied",
    "authentication_failed",
    "connection_denied",
    "tampered_request",
    "run_as_denied",
    "security_config_change",
];

/// Every audit event type Elasticsearch 8.x/9.x knows (and `_all`).
pub(super) const KNOWN_AUDIT_EVENTS: [&str; 14] = [
    "_all",
    "access_denied",
    "access_granted",
    "anonymous_access_denied",
    "authentication_failed",
    "authentication_success",
    "realm_authentication_failed",
    "connection_denied",
    "connection_granted",
    "tampered_request",
    "run_as_denied",
    "run_as_granted",
    "security_config_change",
    "system_access_granted",
];

/// Default TLS versions: the two the bundled JDKs still enable.
pub const DEFAULT_TLS_PROTOCOLS: [&str; 2] = ["TLSv1.3", "TLSv1.2"];

/// Kibana session defaults: an idle hour, and a working day at most before logging in again
/// (Kibana's own defaults are 3d and 30d).
pub const DEFAULT_KIBANA_IDLE_TIMEOUT: &str = "1h";
pub const DEFAULT_KIBANA_LIFESPAN: &str = "8h";

#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethodKind {
    /// A temporary file-realm superuser, as `elasticsearch-reset-password` does.
    #[default]
    TemporarySuperuser,
    /// The current elastic password, from `env:` or `file:`.
    ElasticPassword,
    /// `bootstrap.password` in the keystore before the first secured start.
    BootstrapPassword,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartMode {
    /// Stop before the REST steps and print what to run; a re-run continues.
    #[default]
    Manual,
    /// `systemctl restart elasticsearch` (with the operator's consent, which this answer is).
    Systemd,
    /// Run `elasticsearch.restart_command`.
    Command,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    #[default]
    Full,
    Certificate,
}

impl VerificationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Certificate => "certificate",
        }
    }
}

/// Parse answers-file text into raw answers. The error text has line, column and a snippet.
pub fn parse_raw(text: &str) -> Result<RawAnswers, String> {
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !has_content {
        return Err(
            "the answers file is empty\nhelp: start from templates/answers.example.yml (it needs at least `version: 1` and `tier:`)"
                .to_string(),
        );
    }
    serde_saphyr::from_str::<RawAnswers>(text).map_err(|e| {
        // The parser's advice about its own options means nothing to an operator.
        e.to_string().replace(
            ", set DuplicateKeyPolicy in Options if acceptable",
            " (a key may appear only once; keep one of them)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers::Answers;

    #[test]
    fn raw_answers_round_trip_through_yaml() {
        let text = "version: 1\ntier: https\nnodes:\n  - {name: n1, dns: [n1.example], ip: [10.0.0.1]}\nthis_node: n1\ncertificates: {ca: {cert: /x/ca.crt, key: /x/ca.key}}\nkibana: {config_dir: /etc/kibana, public_url: \"https://k.example:5601\"}\npasswords: {elastic: env:PW, output_file: /root/pw.txt}\n";
        let raw = parse_raw(text).unwrap();
        let again = parse_raw(&crate::ui::answers_yaml(&raw).unwrap()).unwrap();
        assert_eq!(
            Answers::from_raw(&raw).unwrap(),
            Answers::from_raw(&again).unwrap()
        );
    }
}
