//! The Plan: every change es-secure will make, as data. The review screen, `plan`,
//! `apply --dry-run` and the executor all consume the same value, so what the operator
//! approved is exactly what runs. Steps carry no secrets: a password is a [`SecretSource`]
//! that the executor resolves at the last moment.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::domain::answers::{Restart, SecretRef};
use crate::domain::bundle::BundleContents;
use crate::domain::certspec::{CertPurpose, CertSpec};
use crate::domain::redact;
use crate::domain::tier::Tier;

/// Who should own a file the plan creates. Names, not ids: the shell resolves them.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Owner {
    /// `None` keeps the current user (root when run as root).
    pub user: Option<String>,
    /// The group that must be able to read the file (the Elasticsearch/Kibana service group).
    pub group: Option<String>,
}

impl Owner {
    /// Owned by the user running es-secure, no group change.
    pub fn current() -> Self {
        Self {
            user: None,
            group: None,
        }
    }
}

/// The whole text of a settings file, before or after an edit. It may hold a plaintext secret
/// the plan removes, so `Debug` and `Serialize` (plan JSON) show it with secret values masked;
/// only the executor reads the real text (to compare and write it).
#[derive(Clone, Eq, PartialEq)]
pub struct SettingsText(pub String);

impl SettingsText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SettingsText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for SettingsText {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl PartialEq<SettingsText> for String {
    fn eq(&self, other: &SettingsText) -> bool {
        *self == other.0
    }
}

impl std::fmt::Debug for SettingsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redact::mask_settings_text(&self.0), f)
    }
}

impl Serialize for SettingsText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&redact::mask_settings_text(&self.0))
    }
}

/// Which program reads a settings file or keystore.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
pub enum Product {
    Elasticsearch,
    Kibana,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elasticsearch => "Elasticsearch",
            Self::Kibana => "Kibana",
        }
    }
}

/// Where the value of a keystore entry comes from at apply time.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum SecretSource {
    /// The password this apply sets (or set earlier) for a built-in user.
    UserPassword(String),
    /// A new random string of this many characters (Kibana's encryption keys).
    Random(usize),
    /// An operator-provided reference.
    Ref(SecretRef),
    /// The plaintext value of setting `key` in the settings file `path`, read at apply time:
    /// a secret found in elasticsearch.yml/kibana.yml moves into the keystore (the plan's edit
    /// of that file deletes the line). The plan holds only where it is, never the value.
    PlaintextSetting { path: PathBuf, key: String },
}

/// One change. Ordered in the plan so that file changes come first (inside one transaction),
/// then the restart and health wait, then REST calls, then verification.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub enum Step {
    /// Create a directory (and its parents) with this mode.
    CreateDir {
        path: PathBuf,
        mode: u32,
        owner: Owner,
    },
    /// Generate a new CA; its key stays in es-secure's state directory (0600, root only).
    CreateCa {
        spec: CertSpec,
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    /// Check and import the operator's own CA into the state directory.
    ImportCa {
        from_cert: PathBuf,
        from_key: PathBuf,
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    /// Issue a certificate signed by the CA and write it with its key. The certificate file
    /// holds the leaf followed by the CA, so clients can pin the CA fingerprint.
    IssueCert {
        spec: CertSpec,
        cert_path: PathBuf,
        key_path: PathBuf,
        owner: Owner,
        reason: String,
    },
    /// Install a certificate and its key from the node bundle being applied (issued by another
    /// host of the cluster). The key is read from the bundle file at apply time, never held in
    /// the plan. `dns`/`ip` are the certificate's SANs, for the review.
    InstallBundleCert {
        purpose: CertPurpose,
        cert_path: PathBuf,
        key_path: PathBuf,
        owner: Owner,
        dns: Vec<String>,
        ip: Vec<IpAddr>,
        reason: String,
    },
    /// Install the operator's own certificate and key for this node (`certificates.node_certs`).
    /// The apply checks them first (key matches, chain to the CA, SANs cover `dns`/`ip`, not
    /// expired) and refuses before any write; the key is read at apply time, never held here.
    InstallOwnCert {
        purpose: CertPurpose,
        from_cert: PathBuf,
        from_key: PathBuf,
        cert_path: PathBuf,
        key_path: PathBuf,
        owner: Owner,
        /// The node's addresses the certificate must name.
        dns: Vec<String>,
        ip: Vec<IpAddr>,
        reason: String,
    },
    /// Copy the CA certificate (public) to where a product reads it.
    InstallCaCert { path: PathBuf, owner: Owner },
    /// Rewrite a settings file. `before`/`after` are the whole texts; secret values in them
    /// are masked wherever they are shown (see [`SettingsText`]).
    EditSettings {
        product: Product,
        path: PathBuf,
        before: SettingsText,
        after: SettingsText,
    },
    /// Add or replace a keystore entry (name only in plans; the value is resolved at apply).
    KeystoreSet {
        product: Product,
        path: PathBuf,
        entry: String,
        value: SecretSource,
        owner: Owner,
    },
    /// Remove a keystore entry (e.g. the PKCS#12 passwords Elastic's auto-configuration left).
    KeystoreRemove {
        product: Product,
        path: PathBuf,
        entry: String,
    },
    /// Delete a file the new configuration supersedes (e.g. the auto-configured PKCS#12
    /// files holding the old private keys). Journaled: a rollback restores it.
    RemoveFile { path: PathBuf, reason: String },
    /// Write a bundle for another node, signed with the CA key: the certificates in
    /// `contents` (issued at apply time, keys included), `ca.crt` and the node's answers.
    WriteBundle {
        node: String,
        path: PathBuf,
        // Boxed: much larger than the other steps.
        contents: Box<BundleContents>,
    },
    /// Restart Elasticsearch so the new settings take effect.
    Restart { how: Restart, reason: String },
    /// Wait until the cluster answers with status yellow or green.
    WaitHealthy { url: String, timeout_secs: u64 },
    /// Before a full-cluster restart (Elastic's procedure): `PUT _cluster/settings`
    /// `cluster.routing.allocation.enable: primaries`, then `POST /_flush`, on the cluster as it
    /// runs now (`url` is its current, pre-change address). Journaled: a rollback re-enables
    /// allocation.
    PrepareRestart { url: String },
    /// After a full-cluster restart: wait until the *cluster* has `nodes` nodes and is yellow
    /// or green (not only this node).
    WaitCluster {
        url: String,
        nodes: usize,
        timeout_secs: u64,
    },
    /// After a full-cluster restart: `cluster.routing.allocation.enable: null` (the default,
    /// all shards), with the new credentials.
    FinishRestart { url: String },
    /// `POST /_security/user/<user>/_password`.
    ResetPassword { user: String, secret: SecretRef },
    /// Kibana's service-account token (`kibana.es_auth: service-token`), on the node at `url`:
    /// unless the token already in `keystore` authenticates as `elastic/kibana`, create the
    /// token `name` (`POST /_security/service/elastic/kibana/credential/token/<name>`, after
    /// deleting a leftover of that name) and store its value in `keystore` as
    /// `elasticsearch.serviceAccountToken`. Journaled before the request; a rollback deletes
    /// the token. The value is never in the plan, a log or kibana.yml.
    ServiceToken {
        url: String,
        name: String,
        keystore: PathBuf,
        owner: Owner,
    },
    /// Live checks: TLS, anonymous 401, every reset user authenticates, certificates, health.
    Verify { url: String },
}

impl Step {
    /// Whether the step changes files (and so belongs to the file transaction).
    pub fn is_file_step(&self) -> bool {
        matches!(
            self,
            Self::CreateDir { .. }
                | Self::CreateCa { .. }
                | Self::ImportCa { .. }
                | Self::IssueCert { .. }
                | Self::InstallBundleCert { .. }
                | Self::InstallOwnCert { .. }
                | Self::InstallCaCert { .. }
                | Self::EditSettings { .. }
                | Self::KeystoreSet { .. }
                | Self::KeystoreRemove { .. }
                | Self::RemoveFile { .. }
                | Self::WriteBundle { .. }
        )
    }
}

/// What restarting Elasticsearch means for the cluster, derived from the change (not from the
/// answers' restart method).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartKind {
    /// Elasticsearch's files do not change: no restart.
    #[default]
    None,
    /// A single-node cluster: restarting this node is the whole restart.
    Node,
    /// Several nodes, and the change lets old and new nodes talk (certificates under the same
    /// CA, HTTP TLS): restart them one at a time.
    Rolling,
    /// Several nodes, and transport TLS turns on: TLS and plaintext nodes cannot talk, so
    /// every node stops before any starts.
    Full,
}

/// A note for the operator that is not a step (e.g. "transport TLS needs a full-cluster
/// restart").
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Note {
    pub text: String,
}

/// Everything es-secure will do for one apply.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Plan {
    pub from: Tier,
    pub to: Tier,
    /// What the restart means for the cluster (`plan --json` carries it for orchestrators).
    pub restart: RestartKind,
    pub steps: Vec<Step>,
    pub notes: Vec<Note>,
}

impl Plan {
    /// True when the install already matches the answers.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The settings-file edits in the plan.
    pub fn edits(&self) -> impl Iterator<Item = (&PathBuf, &str, &str)> {
        self.steps.iter().filter_map(|s| match s {
            Step::EditSettings {
                path,
                before,
                after,
                ..
            } => Some((path, before.as_str(), after.as_str())),
            _ => None,
        })
    }

    /// Whether applying this plan stops after writing the files for the operator to restart
    /// Elasticsearch (`restart: manual`): such an apply ends "restart pending" (exit code 7),
    /// from the command line and from the wizard alike.
    pub fn stops_for_restart(&self) -> bool {
        self.restart_step_is_manual()
    }

    /// Whether this apply disables shard allocation before a full-cluster restart (the
    /// re-run after the restart must re-enable it).
    pub fn disables_allocation(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::PrepareRestart { .. }))
    }

    fn restart_step_is_manual(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::Restart {
                    how: Restart::Manual,
                    ..
                }
            )
        })
    }
}
