//! Install facts: what detection found on this host, as plain data. The shell fills it in
//! (`shell::detect`); the planner and the UIs only read it. Holds no secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::domain::certspec::KeyType;
use crate::domain::redact;
use crate::domain::settings::ParsedFile;
use crate::domain::tier::TierReport;

/// How Elasticsearch was installed.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
pub enum Layout {
    /// deb/rpm: `/etc/elasticsearch`, `/usr/share/elasticsearch`.
    Package,
    /// tar.gz/zip: `$ES_HOME/config`.
    Archive,
    /// Paths given on the command line or in the answers file.
    Explicit,
    /// es-secure's bundled sample install, copied to a scratch directory for trying it out.
    Sandbox,
}

/// An Elasticsearch version, read from `lib/elasticsearch-<version>.jar`.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// Parse `8.19.21` (a `-SNAPSHOT` style suffix is ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let core = text.split('-').next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next().flatten().unwrap_or(0),
        })
    }
}

/// A certificate file found on disk, as far as the planner needs to know it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct ExistingCert {
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
    /// Unix seconds.
    pub not_after: i64,
    /// Unix seconds; with `not_after`, the lifetime a renewal keeps.
    pub not_before: i64,
    /// The subject's common name (a renewal keeps it).
    pub common_name: Option<String>,
    /// Uppercase hex, colon separated, as `shell::certinfo` prints it.
    pub serial: String,
    pub key_type: Option<KeyType>,
    /// The key file next to it exists and matches the certificate.
    pub key_matches: bool,
    /// Signed by the CA es-secure uses (the one in `Facts::ca`).
    pub signed_by_ca: bool,
    /// Signed by one of the CAs of the trust list next to it (`ca.crt`, which es-secure
    /// writes): what `status` can check on a node without the CA (a bundle node) and during a
    /// CA rotation, when the leaves are the new CA's until phase (c). Only `status` reads it.
    pub signed_by_trusted_ca: bool,
    /// Whether the file also carries the CA certificate after the leaf.
    pub has_chain: bool,
}

/// The CA es-secure manages (in its state directory), if one exists.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct CaFacts {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// SHA-256 of the DER certificate, uppercase hex with colons.
    pub fingerprint: String,
    pub not_after: i64,
    pub subject: String,
    /// The PEM text of the CA certificate (public), to compare with installed copies.
    pub cert_pem: String,
}

/// A keystore file and the entry names in it (never the values).
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct KeystoreFacts {
    pub path: PathBuf,
    pub exists: bool,
    /// Entry names; `None` when the keystore could not be read (e.g. password-protected).
    pub entries: Option<Vec<String>>,
    /// Format version from an `elasticsearch.keystore`'s unencrypted header (5: ES 8.0–8.13,
    /// 6: 8.14–8.17, 7: 8.18+ and 9.x); `None` for Kibana's keystore or when there is no
    /// readable header.
    pub format: Option<u32>,
}

/// `Debug` is written by hand (below): the file text and its parsed settings may hold a
/// plaintext secret, so they are shown masked / by size only.
#[derive(Clone, PartialEq, Serialize)]
pub struct EsFacts {
    pub layout: Layout,
    pub home: Option<PathBuf>,
    pub config_dir: PathBuf,
    pub version: Option<Version>,
    pub yml_path: PathBuf,
    /// The file's text exactly as read (used for diffs and byte-exact edits).
    #[serde(skip)]
    pub yml_text: String,
    #[serde(skip)]
    pub parsed: ParsedFile,
    pub tier: TierReport,
    pub keystore: KeystoreFacts,
    pub certs_dir_exists: bool,
    /// Certificate files under `<config>/certs/`, by file name.
    pub certs: BTreeMap<String, ExistingCert>,
    /// Installed copies of CA certificates under `<config>/certs/`, by file name → PEM text.
    #[serde(skip)]
    pub ca_copies: BTreeMap<String, String>,
    /// The group that owns the config directory (what ES reads files through).
    pub config_group: Option<String>,
    /// Elastic's auto-configuration TLS files present under `<config>/certs/` (`http.p12`,
    /// `transport.p12`, `http_ca.crt`), by file name.
    pub autoconfig_files: Vec<String>,
    /// SHA-256 fingerprint of the auto-configured `certs/http_ca.crt`, when readable.
    pub autoconfig_ca_fingerprint: Option<String>,
    /// A data directory holds node state (`<path.data>/_state`): the node has started, so
    /// its cluster has formed and `cluster.initial_master_nodes` is no longer needed.
    pub cluster_formed: bool,
}

/// `Debug` is written by hand, as for [`EsFacts`].
#[derive(Clone, PartialEq, Serialize)]
pub struct KibanaFacts {
    pub config_dir: PathBuf,
    pub yml_path: PathBuf,
    #[serde(skip)]
    pub yml_text: String,
    #[serde(skip)]
    pub parsed: ParsedFile,
    pub keystore: KeystoreFacts,
    pub certs_dir_exists: bool,
    pub certs: BTreeMap<String, ExistingCert>,
    #[serde(skip)]
    pub ca_copies: BTreeMap<String, String>,
    pub config_group: Option<String>,
    /// Whether the service-account token in kibana.keystore authenticates (asked only when
    /// the answers want `kibana.es_auth: service-token`).
    pub service_token: TokenCheck,
}

/// What detection learnt of `elasticsearch.serviceAccountToken` in kibana.keystore: asked
/// with `GET /_security/_authenticate` and `Authorization: Bearer <token>` (the value is never
/// kept in the facts).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenCheck {
    /// Not asked (password mode), or kibana.keystore has no token.
    #[default]
    Absent,
    /// Elasticsearch authenticated it as the service account `elastic/kibana`.
    Authenticates,
    /// Elasticsearch refused it, or it belongs to another account.
    Rejected,
    /// No answer (Elasticsearch down, or at another address before the apply): the apply asks
    /// again once the node is up.
    Unknown,
}

impl fmt::Debug for EsFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsFacts")
            .field("layout", &self.layout)
            .field("home", &self.home)
            .field("config_dir", &self.config_dir)
            .field("version", &self.version)
            .field("yml_path", &self.yml_path)
            .field("yml_text", &redact::mask_settings_text(&self.yml_text))
            .field("settings", &self.parsed.settings.len())
            .field("tier", &self.tier)
            .field("keystore", &self.keystore)
            .field("certs_dir_exists", &self.certs_dir_exists)
            .field("certs", &self.certs)
            .field("ca_copies", &self.ca_copies.keys().collect::<Vec<_>>())
            .field("config_group", &self.config_group)
            .field("autoconfig_files", &self.autoconfig_files)
            .field("autoconfig_ca_fingerprint", &self.autoconfig_ca_fingerprint)
            .field("cluster_formed", &self.cluster_formed)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for KibanaFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KibanaFacts")
            .field("config_dir", &self.config_dir)
            .field("yml_path", &self.yml_path)
            .field("yml_text", &redact::mask_settings_text(&self.yml_text))
            .field("settings", &self.parsed.settings.len())
            .field("keystore", &self.keystore)
            .field("certs_dir_exists", &self.certs_dir_exists)
            .field("certs", &self.certs)
            .field("ca_copies", &self.ca_copies.keys().collect::<Vec<_>>())
            .field("config_group", &self.config_group)
            .field("service_token", &self.service_token)
            .finish_non_exhaustive()
    }
}

/// What earlier applies recorded (es-secure's state directory).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct StateFacts {
    pub state_dir: PathBuf,
    /// Built-in users whose password es-secure already set to what the answers ask for.
    pub passwords_current: BTreeMap<String, bool>,
    /// An earlier apply changed the config but Elasticsearch has not been restarted since.
    pub restart_pending: bool,
    /// An earlier apply disabled shard allocation before a full-cluster restart; the re-run
    /// after it re-enables allocation.
    pub allocation_disabled: bool,
    /// How far a CA rotation (`rotate-ca`) got on this node; `None` when none was started.
    pub ca_rotation: Option<crate::domain::rotation::CaRotation>,
}

/// A finding about the host, e.g. "Elasticsearch is running as root".
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
    /// What to do about it.
    pub fix: Option<String>,
    /// For overridable findings: the flag that overrides it.
    pub override_flag: Option<String>,
}

impl Finding {
    /// Whether this finding stops `apply`, given the override flags passed. `plan` and
    /// `apply --dry-run` use the same rule for their exit code.
    pub fn stops_apply(&self, overrides: &[String]) -> bool {
        let overridden = self
            .override_flag
            .as_ref()
            .is_some_and(|flag| overrides.contains(flag));
        self.severity == Severity::Blocking
            || (self.severity == Severity::Overridable && !overridden)
    }
}

#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum Severity {
    Info,
    Warning,
    /// Stops `apply` unless overridden with the named flag.
    Overridable,
    /// Stops `apply`.
    Blocking,
}

#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct HostFacts {
    pub hostname: Option<String>,
    /// The account Elasticsearch runs as, and whether it exists.
    pub service_user: Option<String>,
    pub service_user_exists: bool,
    /// The group files must be readable by (the service user's primary group).
    pub service_group: Option<String>,
    pub running_as_root: bool,
    pub systemd: bool,
    pub findings: Vec<Finding>,
}

/// One certificate of a node bundle (`apply --bundle`), as read. The key stays in the bundle
/// file: the executor reads it again at the last moment.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct BundleCertFacts {
    /// Leaf followed by the CA certificate (public).
    pub cert_pem: String,
    /// The certificate against the bundle's CA and the bundle's key; `None` when unreadable.
    pub summary: Option<ExistingCert>,
    /// The installed certificate and key files are byte-identical to the bundle's, so a
    /// re-run has nothing to write.
    pub installed: bool,
}

/// A node bundle being applied: what another host of the cluster issued for this node.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct BundleFacts {
    pub path: PathBuf,
    /// The node the bundle was written for.
    pub node: String,
    /// `cluster.name` of the host that wrote the bundle, when it had one.
    pub cluster_name: Option<String>,
    /// The CA certificate in the bundle (public).
    pub ca_cert_pem: String,
    /// SHA-256 of that certificate, as computed here.
    pub ca_fingerprint: String,
    /// The fingerprint the bundle says its CA has.
    pub declared_fingerprint: String,
    /// By the bundle's name for them: `transport`, `http`.
    pub certs: BTreeMap<String, BundleCertFacts>,
}

/// Everything the planner needs to know about this host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Facts {
    pub es: EsFacts,
    pub kibana: Option<KibanaFacts>,
    pub ca: Option<CaFacts>,
    /// The operator's own CA named in the answers (`certificates.ca: {cert, key}`), as read.
    pub byo_ca: Option<CaFacts>,
    /// For each own node certificate in the answers (`certificates.node_certs`), by installed
    /// file name (`transport.crt`, `http.crt`): whether the installed certificate and key are
    /// byte-identical to the given ones, so a re-run has nothing to write. Compared by the
    /// shell at detection; the planner never reads files.
    pub own_certs_installed: BTreeMap<String, bool>,
    /// The node bundle given with `apply --bundle`: its CA and certificates replace the local
    /// CA and certificate issuing.
    pub bundle: Option<BundleFacts>,
    pub state: StateFacts,
    pub host: HostFacts,
    /// Unix seconds at detection (the planner never reads the clock itself).
    pub now: i64,
}

/// A package install at tier none with nothing detected beyond its elasticsearch.yml, for the
/// unit tests of the modules that read [`Facts`].
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn sample_facts(yml_text: &str, now: i64) -> Facts {
    let parsed =
        crate::domain::settings::parse("/etc/elasticsearch/elasticsearch.yml", yml_text).unwrap();
    let tier = crate::domain::tier::detect(&parsed.settings, parsed.autoconfig.is_some());
    Facts {
        es: EsFacts {
            layout: Layout::Package,
            home: Some("/usr/share/elasticsearch".into()),
            config_dir: "/etc/elasticsearch".into(),
            version: Version::parse("8.19.3"),
            yml_path: "/etc/elasticsearch/elasticsearch.yml".into(),
            yml_text: yml_text.to_string(),
            parsed,
            tier,
            keystore: KeystoreFacts {
                path: "/etc/elasticsearch/elasticsearch.keystore".into(),
                exists: true,
                entries: Some(vec!["keystore.seed".to_string()]),
                format: Some(7),
            },
            certs_dir_exists: true,
            certs: BTreeMap::new(),
            ca_copies: BTreeMap::new(),
            config_group: Some("elasticsearch".to_string()),
            autoconfig_files: Vec::new(),
            autoconfig_ca_fingerprint: None,
            cluster_formed: true,
        },
        kibana: None,
        ca: None,
        byo_ca: None,
        own_certs_installed: BTreeMap::new(),
        bundle: None,
        state: StateFacts {
            state_dir: "/var/lib/es-secure".into(),
            ..StateFacts::default()
        },
        host: HostFacts::default(),
        now,
    }
}
