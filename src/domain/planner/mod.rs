//! The planner: a pure function of install facts and typed answers that returns the [`Plan`].
//!
//! It plans only the difference between what the host has and what the answers ask for, so
//! re-running with the same answers on an applied install yields an empty plan. It refuses to
//! go down a tier. It must not touch the file system, the network, the clock or randomness:
//! everything it needs is in [`Facts`].

mod certs;
mod hardening;
mod kibana;
mod notes;
mod renew;
mod restart;
mod rotate;
mod shape;
mod url;

pub use kibana::{TOKEN_ENTRY, service_token_name};

use thiserror::Error;

use crate::domain::answers::{Answers, AuthMethod, Node, Restart, SecretRef, VerificationMode};
use crate::domain::facts::{Facts, KeystoreFacts};
use crate::domain::plan::{Note, Owner, Plan, Product, RestartKind, SecretSource, Step};
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::{self, Edit, EditError, EditOptions};

pub use certs::{bundle_cert_name, http_spec, transport_spec};
pub use renew::{RenewError, build_renew_plan};
pub use rotate::{NEXT_CA_CERT, NEXT_CA_KEY, RotateError, build_rotate_plan, next_ca_paths};
pub use url::{es_url, es_url_current, es_url_detected};
use url::{es_url_at, http_listens_on_loopback, is_loopback_bind, url_is_loopback};

/// Certificates expiring within this many days are re-issued.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// Names of the files es-secure writes under `<config>/certs/`.
pub mod files {
    pub const CA_CERT: &str = "ca.crt";
    pub const TRANSPORT_CERT: &str = "transport.crt";
    pub const TRANSPORT_KEY: &str = "transport.key";
    pub const HTTP_CERT: &str = "http.crt";
    pub const HTTP_KEY: &str = "http.key";
    pub const KIBANA_CERT: &str = "kibana-server.crt";
    pub const KIBANA_KEY: &str = "kibana-server.key";
}

/// Keystore entries Elastic's auto-configuration writes for its PKCS#12 files; they must go
/// when we replace those files with PEM ones.
const AUTOCONFIG_KEYSTORE_ENTRIES: [&str; 3] = [
    "xpack.security.transport.ssl.keystore.secure_password",
    "xpack.security.transport.ssl.truststore.secure_password",
    "xpack.security.http.ssl.keystore.secure_password",
];

/// Kibana's three encryption keys (32+ characters each; generated once, kept across re-runs).
pub const KIBANA_ENCRYPTION_KEYS: [&str; 3] = [
    "xpack.security.encryptionKey",
    "xpack.encryptedSavedObjects.encryptionKey",
    "xpack.reporting.encryptionKey",
];

/// Why no plan can be made. Callers branch on this for the exit code.
#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    #[error(
        "this node is at tier {current}, and the answers ask for {requested}: es-secure only raises the security tier\n{evidence}\nhelp: set `tier: {current}` (or higher) in the answers"
    )]
    Downgrade {
        current: Tier,
        requested: Tier,
        evidence: String,
    },
    #[error(
        "`certificates.ca: existing` but there is no CA from an earlier run in {dir}\nhelp: use `ca: generate` to create one, or `ca: {{cert: PATH, key: PATH}}` to bring your own"
    )]
    NoExistingCa { dir: String },
    #[error(
        "the minimal tier cannot work on this node: it binds to {bind} (production mode) without `discovery.type: single-node`, and Elasticsearch then refuses to start with security on but transport TLS off\nhelp: choose tier basic (transport TLS), or bind to loopback for a development node"
    )]
    MinimalInProductionMode { bind: String },
    #[error(
        "the answers do not say which node this host is (`this_node`), which the {tier} tier needs to pick this node's certificates\nhelp: add `this_node: <name>` naming one of `nodes`"
    )]
    NoLocalNode { tier: Tier },
    #[error(
        "the answers name node `{answers}` for this host, but {file} says `node.name: {configured}`\nhelp: fix `this_node` in the answers, or node.name in the file"
    )]
    NodeNameMismatch {
        answers: String,
        configured: String,
        file: String,
    },
    #[error(
        "`kibana` is in the answers, but no Kibana configuration was found at {dir}\nhelp: fix `kibana.config_dir`, or remove the `kibana` section to leave Kibana alone"
    )]
    KibanaNotFound { dir: String },
    #[error(
        "this bundle is for node `{bundle}`, but {file} says `node.name: {configured}`; nothing was changed\nhelp: copy `{configured}.bundle.yml` from the host that wrote the bundles, and apply that one here"
    )]
    BundleWrongNode {
        bundle: String,
        configured: String,
        file: String,
    },
    #[error(
        "this bundle is for cluster `{bundle}`, but {file} says `cluster.name: {configured}`; nothing was changed\nhelp: use a bundle written by a node of this cluster"
    )]
    BundleWrongCluster {
        bundle: String,
        configured: String,
        file: String,
    },
    #[error(
        "this bundle's CA ({bundle}) is not the CA es-secure already uses on this host ({local}, in {dir}): the bundle is from another cluster; nothing was changed\nhelp: use a bundle written with this host's CA, or move {dir} away if this host really joins the bundle's cluster"
    )]
    BundleOtherCa {
        bundle: String,
        local: String,
        dir: String,
    },
    #[error(
        "the bundle's CA certificate has fingerprint {actual}, but the bundle says {declared}: it was damaged or edited; nothing was changed\nhelp: copy the bundle again from the host that wrote it"
    )]
    BundleCaMismatch { declared: String, actual: String },
    #[error(
        "the bundle's {name} certificate cannot be used: {reason}; nothing was changed\nhelp: write the bundle again on the host that holds the CA (re-run its apply), and copy it here"
    )]
    BundleCert { name: String, reason: String },
    #[error(
        "es-secure would send the temporary superuser's and the new built-in passwords in clear to {url}: Elasticsearch does not listen on loopback here (network.host/http.host), and this tier has no HTTPS; nothing was changed\nhelp: run es-secure on the node with `network.host` including `_local_` (or 0.0.0.0), or choose tier https, or set `elasticsearch.allow_cleartext_rest: true` in the answers to accept it"
    )]
    CleartextRest { url: String },
    #[error(
        "{problem}; nothing was changed\nhelp: {fix}, or set `elasticsearch.allow_partial_cluster: true` in the answers to plan anyway (the plan then lists this as a warning)"
    )]
    ClusterShape { problem: String, fix: String },
    #[error(
        "the HTTP IP filter in the answers would shut out {who}; nothing was changed\nhelp: add that address (or a range holding it) to `hardening.ip_filter.http_allow`, or take it out of `http_deny`"
    )]
    IpFilterLockout { who: String },
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// Build the plan. See the module documentation for the rules.
pub fn build_plan(facts: &Facts, answers: &Answers) -> Result<Plan, PlanError> {
    let current = facts.es.tier.tier;
    if answers.tier < current {
        return Err(PlanError::Downgrade {
            current,
            requested: answers.tier,
            evidence: facts
                .es
                .tier
                .evidence
                .iter()
                .map(|e| format!("  - {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    let mut p = Planner {
        facts,
        answers,
        steps: Vec::new(),
        notes: Vec::new(),
        restart: RestartKind::None,
    };
    p.plan()?;
    Ok(Plan {
        from: current,
        to: answers.tier,
        restart: p.restart,
        steps: p.steps,
        notes: p.notes,
    })
}

struct Planner<'a> {
    facts: &'a Facts,
    answers: &'a Answers,
    steps: Vec<Step>,
    notes: Vec<Note>,
    restart: RestartKind,
}

impl<'a> Planner<'a> {
    fn note(&mut self, text: impl Into<String>) {
        self.notes.push(Note { text: text.into() });
    }

    fn es_owner(&self) -> Owner {
        Owner {
            user: None,
            group: self
                .facts
                .host
                .service_group
                .clone()
                .or_else(|| self.facts.es.config_group.clone()),
        }
    }

    fn plan(&mut self) -> Result<(), PlanError> {
        let tier = self.answers.tier;
        let bundle = self.facts.bundle.as_ref();
        if let Some(b) = bundle {
            self.check_bundle_target(b)?;
        }
        self.check_mode()?;
        let local = self.local_node()?;
        self.check_ip_lockout()?;

        // Certificates first: settings point at files that must exist before the restart.
        // With a bundle, the CA and this node's certificates come from the host that wrote
        // it: nothing is created or issued here.
        let ca_new = match bundle {
            None if tier >= Tier::Basic => self.plan_ca()?,
            _ => false,
        };
        let es_before = self.steps.len();
        if let Some(node) = local
            && tier >= Tier::Basic
        {
            match bundle {
                Some(b) => self.plan_bundle_certs(node, b)?,
                None => self.plan_es_certs(node, ca_new),
            }
        }
        self.plan_es_keystore();
        let edits = self.es_edits();
        let es_text = &self.facts.es.yml_text;
        let opts = EditOptions {
            replace_autoconfig: self.facts.es.parsed.autoconfig.is_some() && tier >= Tier::Basic,
        };
        let after = yaml_edit::apply_edits(
            &self.facts.es.yml_path.display().to_string(),
            es_text,
            &edits,
            &opts,
        )?;
        if &after != es_text {
            let after_settings = crate::domain::settings::parse(
                &self.facts.es.yml_path.display().to_string(),
                &after,
            )
            .map_err(|e| PlanError::Edit(EditError::Read(e)))?
            .settings;
            self.note_es_changes(&after_settings);
            let before_settings = self.facts.es.parsed.settings.clone();
            self.note_hardening(&before_settings, &after_settings);
            self.steps.push(Step::EditSettings {
                product: Product::Elasticsearch,
                path: self.facts.es.yml_path.clone(),
                before: es_text.clone().into(),
                after: after.into(),
            });
            if opts.replace_autoconfig {
                self.remove_autoconfig_files(&after_settings);
            }
        }
        if ca_new {
            self.note_ca_change();
        }
        let es_changed = self.steps.len() > es_before || (ca_new && tier >= Tier::Basic);

        self.plan_kibana(ca_new)?;
        if tier >= Tier::Basic && bundle.is_none() {
            self.plan_bundles(local);
        }

        // After the more specific refusals above, so their message wins.
        self.check_shape(local)?;
        let resets: Vec<Step> = self.password_resets();
        let url = es_url(self.facts, self.answers);
        if tier == Tier::Https
            && let Some(node) = local
            && let Some(host) = crate::domain::answers::url_host(&url)
            && !certs::http_cert_names(node, self.answers, &host)
        {
            // Hostname verification is on for es-secure and Kibana alike: a URL the
            // certificate does not name fails the health wait and rolls the apply back.
            self.note(format!(
                "warning: es-secure and Kibana will reach this node at {url}, but its HTTP certificate does not name `{host}`; add it to this node's dns/ip in the answers, or set elasticsearch.url to a name the certificate has"
            ));
        }
        self.restart = restart::kind(
            es_changed,
            self.facts.es.tier.tier,
            tier,
            self.answers.nodes.len(),
        );
        self.plan_cluster_restart(self.restart);
        if es_changed {
            if self.facts.es.tier.tier < Tier::Basic && tier >= Tier::Basic {
                self.note(if bundle.is_some() {
                    "Turning on transport TLS needs a full-cluster restart: stop every node, apply on each (its bundle, as here), then start them all. TLS and plaintext nodes cannot talk, so a rolling restart is not possible."
                } else {
                    "Turning on transport TLS needs a full-cluster restart: stop every node, apply on each (bundles are written for the other nodes), then start them all. TLS and plaintext nodes cannot talk, so a rolling restart is not possible."
                });
            }
            self.steps.push(Step::Restart {
                how: self.answers.es.restart.clone(),
                reason: "new security settings take effect on restart".to_string(),
            });
        }
        let token = self.kibana_token_step();
        let wait =
            es_changed || !resets.is_empty() || token.is_some() || self.facts.state.restart_pending;
        if wait {
            self.steps.push(Step::WaitHealthy {
                url: url.clone(),
                timeout_secs: self.answers.es.health_timeout_secs,
            });
            self.plan_after_cluster_restart(&url);
        }
        if wait && url.starts_with("http://") && !url_is_loopback(&url) {
            if !self.answers.es.allow_cleartext_rest {
                return Err(PlanError::CleartextRest { url });
            }
            self.note(format!(
                "warning: es-secure's REST calls go to {url} in clear (`allow_cleartext_rest: true`): the temporary superuser's and the new built-in passwords cross the network unencrypted"
            ));
        }
        let any_rest = !resets.is_empty() || token.is_some();
        self.steps.extend(resets);
        self.steps.extend(token);
        if es_changed || any_rest {
            self.steps.push(Step::Verify { url });
        }
        if self.answers.es.restart == Restart::Manual && es_changed {
            self.note("Restart is manual: apply stops after writing the files and tells you what to run; run the same apply again afterwards to finish (passwords, verification).");
        }
        Ok(())
    }

    /// Refuse (or, with `allow_partial_cluster`, warn about) a cluster elasticsearch.yml
    /// describes differently from the answers; never silent.
    fn check_shape(&mut self, local: Option<&Node>) -> Result<(), PlanError> {
        let found = shape::check(&self.facts.es.parsed.settings, self.answers, local);
        if !found.definite.is_empty() && !self.answers.es.allow_partial_cluster {
            let (problems, mut fixes): (Vec<String>, Vec<String>) =
                found.definite.into_iter().unzip();
            fixes.dedup();
            return Err(PlanError::ClusterShape {
                problem: problems.join("\n"),
                fix: fixes.join("; "),
            });
        }
        for (problem, fix) in found.definite {
            self.note(format!(
                "warning: {problem} (planned anyway: `allow_partial_cluster: true`); {fix}"
            ));
        }
        for text in found.unknowable {
            self.note(text);
        }
        Ok(())
    }

    /// Refuse the minimal tier where Elasticsearch would not start with it.
    fn check_mode(&self) -> Result<(), PlanError> {
        if self.answers.tier != Tier::Minimal {
            return Ok(());
        }
        let s = &self.facts.es.parsed.settings;
        if s.value("discovery.type")
            .is_some_and(|v| v.as_plain() == "single-node")
        {
            return Ok(());
        }
        for key in [
            "transport.host",
            "transport.bind_host",
            "network.host",
            "network.bind_host",
        ] {
            if let Some(v) = s.value(key) {
                let hosts = match v {
                    SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
                    other => vec![other.as_plain()],
                };
                if let Some(bind) = hosts.iter().find(|h| !is_loopback_bind(h)) {
                    return Err(PlanError::MinimalInProductionMode { bind: bind.clone() });
                }
                return Ok(());
            }
        }
        Ok(())
    }

    fn local_node(&self) -> Result<Option<&'a Node>, PlanError> {
        let answers: &'a Answers = self.answers;
        let node = answers.local_node();
        if node.is_none() && self.answers.tier >= Tier::Basic {
            return Err(PlanError::NoLocalNode {
                tier: self.answers.tier,
            });
        }
        if let (Some(node), Some(configured)) =
            (node, self.facts.es.parsed.settings.value("node.name"))
        {
            let configured = configured.as_plain();
            if !configured.starts_with("${") && configured != node.name {
                return Err(PlanError::NodeNameMismatch {
                    answers: node.name.clone(),
                    configured,
                    file: self.facts.es.yml_path.display().to_string(),
                });
            }
        }
        Ok(node)
    }

    fn plan_es_keystore(&mut self) {
        let ks = &self.facts.es.keystore;
        let owner = self.es_owner();
        if self.facts.es.parsed.autoconfig.is_some() && self.answers.tier >= Tier::Basic {
            for entry in AUTOCONFIG_KEYSTORE_ENTRIES {
                if keystore_has(ks, entry) {
                    self.steps.push(Step::KeystoreRemove {
                        product: Product::Elasticsearch,
                        path: ks.path.clone(),
                        entry: entry.to_string(),
                    });
                }
            }
        }
        let removed: Vec<String> = self.es_tls_removals().into_iter().collect();
        for (key, secure) in plaintext_es_secrets(&self.facts.es.parsed.settings) {
            // A secret in a TLS context es-secure replaces is dropped with it (see es_edits);
            // one it leaves alone moves to its keystore form. With both set, Elasticsearch
            // refuses to start, and the keystore's value is the one in use.
            if removed.contains(&key) || keystore_has(ks, &secure) {
                continue;
            }
            self.steps.push(Step::KeystoreSet {
                product: Product::Elasticsearch,
                path: ks.path.clone(),
                entry: secure,
                value: SecretSource::PlaintextSetting {
                    path: self.facts.es.yml_path.clone(),
                    key,
                },
                owner: owner.clone(),
            });
        }
        if self.answers.auth == AuthMethod::BootstrapPassword
            && !keystore_has(ks, "bootstrap.password")
            && !self.password_current("elastic")
        {
            self.steps.push(Step::KeystoreSet {
                product: Product::Elasticsearch,
                path: ks.path.clone(),
                entry: "bootstrap.password".to_string(),
                value: SecretSource::UserPassword("elastic".to_string()),
                owner,
            });
        }
    }

    /// The settings this tier needs in elasticsearch.yml, and the ones that must go.
    fn es_edits(&self) -> Vec<Edit> {
        let tier = self.answers.tier;
        let settings = &self.facts.es.parsed.settings;
        let mut edits = vec![set("xpack.security.enabled", SettingValue::Bool(true))];
        if tier >= Tier::Basic {
            let p = "xpack.security.transport.ssl";
            edits.push(set(&format!("{p}.enabled"), SettingValue::Bool(true)));
            edits.push(set(
                &format!("{p}.verification_mode"),
                SettingValue::str(match self.answers.es.verification {
                    VerificationMode::Full => "full",
                    VerificationMode::Certificate => "certificate",
                }),
            ));
            edits.push(set(
                &format!("{p}.client_authentication"),
                SettingValue::str("required"),
            ));
            edits.extend(pem_settings(p, files::TRANSPORT_KEY, files::TRANSPORT_CERT));
        }
        if tier == Tier::Https {
            let p = "xpack.security.http.ssl";
            edits.push(set(&format!("{p}.enabled"), SettingValue::Bool(true)));
            edits.extend(pem_settings(p, files::HTTP_KEY, files::HTTP_CERT));
        }
        let mut removed = self.es_tls_removals();
        if self.facts.es.cluster_formed && settings.get("cluster.initial_master_nodes").is_some() {
            removed.push("cluster.initial_master_nodes".to_string());
        }
        // Plaintext secrets elsewhere were moved into the keystore (plan_es_keystore).
        removed.extend(
            plaintext_es_secrets(settings)
                .into_iter()
                .map(|(key, _)| key),
        );
        removed.sort();
        removed.dedup();
        edits.extend(self.es_hardening_edits());
        edits.extend(removed.into_iter().map(|key| Edit::Remove { key }));
        edits
    }

    /// Remove Elastic's auto-configured key material once no setting refers to it: the
    /// PKCS#12 files hold private keys (http.p12 also the old CA's), useless after the
    /// takeover. A rollback restores them.
    fn remove_autoconfig_files(&mut self, after: &Settings) {
        let certs_dir = self.facts.es.config_dir.join("certs");
        for name in &self.facts.es.autoconfig_files {
            let referenced = after
                .iter()
                .any(|(_, s)| s.value.as_plain().contains(name.as_str()));
            if referenced {
                continue;
            }
            let what = if name.ends_with(".p12") {
                "auto-configured PKCS#12 keystore with private keys"
            } else {
                "auto-configured CA certificate"
            };
            self.steps.push(Step::RemoveFile {
                path: certs_dir.join(name),
                reason: format!("{what}, replaced by es-secure's PEM files"),
            });
        }
    }

    /// Say which clients need the new CA whenever the CA the node serves changes, with both
    /// fingerprints (the new one of a generated CA is printed when apply creates it).
    fn note_ca_change(&mut self) {
        let old = match (&self.facts.ca, &self.facts.es.autoconfig_ca_fingerprint) {
            (Some(ca), _) => Some((ca.fingerprint.clone(), ca.cert_path.display().to_string())),
            (None, Some(fp)) => Some((
                fp.clone(),
                self.facts
                    .es
                    .config_dir
                    .join("certs/http_ca.crt")
                    .display()
                    .to_string(),
            )),
            // The node serves certificates from some other CA today (e.g. auto-configured).
            (None, None) if self.facts.es.tier.tier >= Tier::Basic => Some((
                "unknown".to_string(),
                "the CA of the certificates the node uses now".to_string(),
            )),
            (None, None) => None,
        };
        let Some((old_fp, old_path)) = old else {
            return;
        };
        let (new_path, _) = self.ca_paths();
        let new_fp = match &self.facts.byo_ca {
            Some(byo) => byo.fingerprint.clone(),
            None => "printed at the end of the apply and by `es-secure status`".to_string(),
        };
        self.note(format!(
            "The CA changes: the node's certificates will be signed by a new CA. Every client that trusts the old CA ({old_path}, SHA-256 {old_fp}) must get the new one ({}, SHA-256 {new_fp}): Beats, Logstash, Elastic Agent/Fleet, language clients, `ca_trusted_fingerprint` settings and enrollment tokens; Kibana is updated by this plan only when `kibana` is in the answers.",
            new_path.display()
        ));
    }

    /// A note for each setting the elasticsearch.yml edit drops or changes, saying why.
    fn note_es_changes(&mut self, after: &Settings) {
        let file = self.facts.es.yml_path.display().to_string();
        let tls_removed = self.es_tls_removals();
        let moved = plaintext_es_secrets(&self.facts.es.parsed.settings);
        let autoconfig: Vec<String> = self
            .facts
            .es
            .parsed
            .autoconfig
            .as_ref()
            .map(|b| b.keys.clone())
            .unwrap_or_default();
        let ks = &self.facts.es.keystore;
        let ks_path = ks.path.display().to_string();
        let why = |key: &str| -> Option<String> {
            if key == "xpack.security.enrollment.enabled" {
                return Some("enrollment (`elasticsearch-create-enrollment-token`, Kibana's enrollment flow, new nodes joining with a token) stops working: it relies on the auto-configured certificates es-secure replaces; add nodes with bundles instead".to_string());
            }
            if tls_removed.iter().any(|k| k == key) {
                return Some(if crate::domain::redact::is_secret_key(key) {
                    "a plaintext password for the keystore or key that es-secure's PEM files replace; it is no longer needed, so the line is deleted (not moved)".to_string()
                } else {
                    "es-secure's PEM key and certificate replace this keystore/truststore setting (Elasticsearch refuses both in one TLS context)".to_string()
                });
            }
            if let Some((_, secure)) = moved.iter().find(|(k, _)| k == key) {
                return Some(if keystore_has(ks, secure) {
                    format!(
                        "a plaintext secret; {ks_path} already has `{secure}`, which Elasticsearch would refuse next to it, so the line is deleted"
                    )
                } else {
                    format!(
                        "a plaintext secret; its value moves into {ks_path} as `{secure}` and the line is deleted"
                    )
                });
            }
            if key == "cluster.initial_master_nodes" {
                return Some("the cluster has already formed (this node has state in its data directory): Elasticsearch ignores the setting now and warns about it on every start, and keeping it risks bootstrapping a second cluster".to_string());
            }
            if autoconfig.iter().any(|k| k == key) {
                return Some("part of Elastic's security auto-configuration, which es-secure's settings replace".to_string());
            }
            None
        };
        for text in notes::setting_change_notes(&file, &self.facts.es.parsed.settings, after, &why)
        {
            self.note(text);
        }
    }

    /// Settings of the TLS contexts this tier takes over that cannot stay next to PEM files
    /// (keystores, truststores and their passwords).
    fn es_tls_removals(&self) -> Vec<String> {
        let settings = &self.facts.es.parsed.settings;
        let mut out = Vec::new();
        if self.answers.tier >= Tier::Basic {
            out.extend(conflicting_removals(
                settings,
                "xpack.security.transport.ssl",
            ));
        }
        if self.answers.tier == Tier::Https {
            out.extend(conflicting_removals(settings, "xpack.security.http.ssl"));
        }
        out
    }

    fn password_current(&self, user: &str) -> bool {
        !self.answers.passwords.rotate
            && self
                .facts
                .state
                .passwords_current
                .get(user)
                .copied()
                .unwrap_or(false)
    }

    fn password_resets(&self) -> Vec<Step> {
        self.answers
            .passwords
            .users
            .iter()
            .filter(|(user, secret)| *secret != SecretRef::Keep && !self.password_current(user))
            .map(|(user, secret)| Step::ResetPassword {
                user: user.clone(),
                secret: secret.clone(),
            })
            .collect()
    }

    /// `cluster.name` as this host sets it (not a `${VAR}` placeholder), for bundles.
    fn cluster_name(&self) -> Option<String> {
        self.facts
            .es
            .parsed
            .settings
            .value("cluster.name")
            .map(SettingValue::as_plain)
            .filter(|c| !c.starts_with("${"))
    }

    fn plan_bundles(&mut self, local: Option<&Node>) {
        let dir = self.facts.state.state_dir.join("bundles");
        let local_name = local.map(|n| n.name.as_str());
        // One copy of the cluster's answers for all bundles, and one lookup of the name.
        let shared = crate::domain::bundle::shared_answers(self.answers);
        let cluster_name = self.cluster_name();
        for node in &self.answers.nodes {
            if Some(node.name.as_str()) == local_name {
                continue;
            }
            let path = dir.join(format!("{}.bundle.yml", node.name));
            // A bundle is re-written only when the CA or the node's certificates would change;
            // we cannot see the remote node, so write it when this plan changes anything here.
            self.steps.push(Step::WriteBundle {
                node: node.name.clone(),
                path,
                contents: Box::new(crate::domain::bundle::contents_for(
                    self.answers,
                    &shared,
                    node,
                    cluster_name.clone(),
                )),
            });
        }
        let only_bundles = self
            .steps
            .iter()
            .all(|s| matches!(s, Step::WriteBundle { .. }));
        if only_bundles {
            // Nothing changes on this host: the bundles from the last run are still valid.
            self.steps.clear();
        } else if self
            .steps
            .iter()
            .any(|s| matches!(s, Step::WriteBundle { .. }))
        {
            self.note(crate::domain::bundle::cluster_file_note(&dir));
        }
    }
}

fn set(key: &str, value: SettingValue) -> Edit {
    Edit::Set {
        key: key.to_string(),
        value,
    }
}

fn pem_settings(prefix: &str, key: &str, cert: &str) -> Vec<Edit> {
    vec![
        set(
            &format!("{prefix}.key"),
            SettingValue::str(format!("certs/{key}")),
        ),
        set(
            &format!("{prefix}.certificate"),
            SettingValue::str(format!("certs/{cert}")),
        ),
        set(
            &format!("{prefix}.certificate_authorities"),
            SettingValue::list([format!("certs/{}", files::CA_CERT)]),
        ),
    ]
}

/// Plaintext password settings in elasticsearch.yml and the keystore entry Elasticsearch reads
/// instead (`…keystore.password` → `…keystore.secure_password`, `…key_passphrase` →
/// `…secure_key_passphrase`), in file order of keys.
fn plaintext_es_secrets(settings: &Settings) -> Vec<(String, String)> {
    const MOVES: [(&str, &str); 4] = [
        ("keystore.password", "keystore.secure_password"),
        ("keystore.key_password", "keystore.secure_key_password"),
        ("truststore.password", "truststore.secure_password"),
        ("key_passphrase", "secure_key_passphrase"),
    ];
    settings
        .iter()
        .filter_map(|(key, _)| {
            MOVES.iter().find_map(|(plain, secure)| {
                let prefix = key.strip_suffix(plain)?.strip_suffix('.')?;
                Some((key.clone(), format!("{prefix}.{secure}")))
            })
        })
        .collect()
}

/// Settings that cannot be combined with PEM key/certificate settings in the same context
/// (ES refuses to start), or that hold plaintext passwords.
fn conflicting_removals(settings: &Settings, prefix: &str) -> Vec<String> {
    [
        "keystore.path",
        "keystore.type",
        "keystore.password",
        "keystore.key_password",
        "truststore.path",
        "truststore.type",
        "truststore.password",
        "key_passphrase",
    ]
    .iter()
    .map(|k| format!("{prefix}.{k}"))
    .filter(|k| settings.get(k).is_some())
    .collect()
}

fn keystore_has(ks: &KeystoreFacts, entry: &str) -> bool {
    ks.entries
        .as_ref()
        .is_some_and(|e| e.iter().any(|n| n == entry))
}

#[cfg(test)]
mod tests;
