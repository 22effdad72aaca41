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
mod shape;

pub use kibana::{TOKEN_ENTRY, service_token_name};

use std::net::IpAddr;

use thiserror::Error;

use crate::domain::answers::{Answers, AuthMethod, Node, Restart, SecretRef, VerificationMode};
use crate::domain::facts::{Facts, KeystoreFacts};
use crate::domain::plan::{Note, Owner, Plan, Product, RestartKind, SecretSource, Step};
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::{self, Edit, EditError, EditOptions};

pub use certs::{bundle_cert_name, http_spec, transport_spec};
pub use renew::{RenewError, build_renew_plan};

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

/// The URL es-secure uses to reach this node's REST API after the apply.
pub fn es_url(facts: &Facts, answers: &Answers) -> String {
    es_url_at(facts, answers, answers.tier)
}

/// The URL of this node's REST API at `tier`: before the apply (the current tier) it is plain
/// HTTP unless the node already serves HTTPS, even when the answers' URL says `https`.
fn es_url_at(facts: &Facts, answers: &Answers, tier: Tier) -> String {
    if let Some(url) = &answers.es.url {
        return match url.strip_prefix("https://") {
            Some(rest) if tier < Tier::Https => format!("http://{rest}"),
            _ => url.clone(),
        };
    }
    es_url_for_tier(facts, tier)
}

/// The URL of this node's REST API now, before any apply: at the tier detected, from the
/// answers' URL when there are answers (`status --answers`).
pub fn es_url_current(facts: &Facts, answers: Option<&Answers>) -> String {
    match answers {
        Some(a) => es_url_at(facts, a, facts.es.tier.tier),
        None => es_url_detected(facts),
    }
}

/// The URL of this node's REST API at the tier detected (no answers: `renew`, `status`).
pub fn es_url_detected(facts: &Facts) -> String {
    es_url_for_tier(facts, facts.es.tier.tier)
}

fn es_url_for_tier(facts: &Facts, tier: Tier) -> String {
    let scheme = if tier == Tier::Https { "https" } else { "http" };
    let settings = &facts.es.parsed.settings;
    // Plain HTTP carries the temporary superuser's and the new built-in passwords: keep it on
    // the loopback interface whenever Elasticsearch listens there.
    let host = if scheme == "http" && http_listens_on_loopback(settings) {
        "127.0.0.1".to_string()
    } else {
        ["http.publish_host", "http.host", "network.host"]
            .iter()
            .find_map(|k| settings.value(k).and_then(first_concrete_host))
            .unwrap_or_else(|| "localhost".to_string())
    };
    let port = settings
        .value("http.port")
        .map(SettingValue::as_plain)
        .and_then(|p| p.split('-').next().map(str::to_string))
        .filter(|p| p.parse::<u16>().is_ok())
        .unwrap_or_else(|| "9200".to_string());
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host,
    };
    format!("{scheme}://{host}:{port}")
}

/// The HTTP layer's bind addresses (`http.bind_host`, `http.host`, `network.bind_host`,
/// `network.host`, first set wins), as written; `None` when none is set.
fn http_bind_hosts(settings: &Settings) -> Option<Vec<String>> {
    [
        "http.bind_host",
        "http.host",
        "network.bind_host",
        "network.host",
    ]
    .iter()
    .find_map(|k| settings.value(k))
    .map(|v| match v {
        SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
        other => vec![other.as_plain()],
    })
}

/// Whether Elasticsearch's HTTP layer listens on a loopback address: its default (`_local_`),
/// a loopback name or address, or a wildcard (`0.0.0.0`, `::`).
fn http_listens_on_loopback(settings: &Settings) -> bool {
    http_bind_hosts(settings).is_none_or(|hosts| {
        hosts.iter().any(|h| {
            let h = h.trim();
            is_loopback_bind(h) || h == "0.0.0.0" || h == "::" || h == "[::]"
        })
    })
}

/// Whether a URL's host is a loopback name or address.
fn url_is_loopback(url: &str) -> bool {
    crate::domain::answers::url_host(url).is_some_and(|h| is_loopback_bind(&h))
}

/// A host a client can connect to, from a bind setting: special values (`_local_`,
/// `0.0.0.0`, `_site_`) mean "use localhost".
fn first_concrete_host(value: &SettingValue) -> Option<String> {
    let first = match value {
        SettingValue::List(items) => items.first()?.as_plain(),
        other => other.as_plain(),
    };
    let first = first.trim().to_string();
    if first.is_empty()
        || first.starts_with('_')
        || first.starts_with("${")
        || first == "0.0.0.0"
        || first == "::"
    {
        return None;
    }
    Some(first)
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

fn is_loopback_bind(host: &str) -> bool {
    let h = host.trim();
    h == "localhost"
        || h == "_local_"
        || h.starts_with("_local")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::domain::answers::parse_raw;
    use crate::domain::certspec::CertPurpose;
    use crate::domain::facts::{
        BundleCertFacts, BundleFacts, CaFacts, EsFacts, ExistingCert, HostFacts, Layout,
        StateFacts, Version,
    };
    use crate::domain::settings;

    const NOW: i64 = 1_795_000_000;
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nbundle CA\n-----END CERTIFICATE-----\n";
    const CA_FP: &str = "AA:BB";

    fn yml(node: &str) -> String {
        format!(
            "cluster.name: prod-logs\nnode.name: {node}\nnetwork.host: 10.0.0.12\nxpack.security.enabled: false\n"
        )
    }

    fn facts_for(yml_text: &str) -> Facts {
        let parsed = settings::parse("/etc/elasticsearch/elasticsearch.yml", yml_text).unwrap();
        let tier = crate::domain::tier::detect(&parsed.settings, parsed.autoconfig.is_some());
        Facts {
            es: EsFacts {
                layout: Layout::Package,
                home: Some("/usr/share/elasticsearch".into()),
                config_dir: "/etc/elasticsearch".into(),
                version: Some(Version {
                    major: 8,
                    minor: 19,
                    patch: 3,
                }),
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
                certs_dir_exists: false,
                certs: BTreeMap::new(),
                ca_copies: BTreeMap::new(),
                config_group: Some("elasticsearch".to_string()),
                autoconfig_files: Vec::new(),
                autoconfig_ca_fingerprint: None,
                cluster_formed: false,
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
            now: NOW,
        }
    }

    fn node2_cert(dns: &[&str], ip: &[&str]) -> ExistingCert {
        ExistingCert {
            dns: dns.iter().map(ToString::to_string).collect(),
            ip: ip.iter().map(|i| i.parse().unwrap()).collect(),
            not_after: NOW + 300 * 86_400,
            not_before: NOW,
            common_name: None,
            serial: String::new(),
            key_type: Some(crate::domain::certspec::KeyType::EcdsaP256),
            key_matches: true,
            signed_by_ca: true,
            has_chain: true,
        }
    }

    fn bundle_facts(tier: Tier) -> BundleFacts {
        let mut certs = BTreeMap::new();
        certs.insert(
            "transport".to_string(),
            BundleCertFacts {
                cert_pem: "transport leaf".to_string(),
                summary: Some(node2_cert(&["node-2.example.internal"], &["10.0.0.12"])),
                installed: false,
            },
        );
        if tier == Tier::Https {
            certs.insert(
                "http".to_string(),
                BundleCertFacts {
                    cert_pem: "http leaf".to_string(),
                    summary: Some(node2_cert(
                        &["node-2.example.internal", "localhost"],
                        &["10.0.0.12", "127.0.0.1"],
                    )),
                    installed: false,
                },
            );
        }
        BundleFacts {
            path: "/root/node-2.bundle.yml".into(),
            node: "node-2".to_string(),
            cluster_name: Some("prod-logs".to_string()),
            ca_cert_pem: CA_PEM.to_string(),
            ca_fingerprint: CA_FP.to_string(),
            declared_fingerprint: CA_FP.to_string(),
            certs,
        }
    }

    /// The answers a bundle for node-2 carries (what `shell::bundle::answers_for_node` writes).
    fn bundle_answers(tier: Tier) -> Answers {
        let text = format!(
            "version: 1\ntier: {tier}\nelasticsearch:\n  allow_cleartext_rest: true\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: existing\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n"
        );
        Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
    }

    fn bundle_setup(tier: Tier) -> (Facts, Answers) {
        let mut facts = facts_for(&yml("node-2"));
        facts.bundle = Some(bundle_facts(tier));
        (facts, bundle_answers(tier))
    }

    /// network.host 10.0.0.12 gives the default REST URL; a node whose addresses do not
    /// include it gets a warning instead of a health wait that fails on the hostname.
    #[test]
    fn rest_url_not_in_the_http_certificate_is_warned_about() {
        let facts = facts_for(&yml("node-2"));
        let warned = |node_ip: &str| {
            let text = format!(
                "version: 1\ntier: https\nelasticsearch:\n  allow_partial_cluster: true\nnodes:\n  - {{name: node-2, dns: [node-2.example.internal], ip: [{node_ip}]}}\nthis_node: node-2\n"
            );
            let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
            let plan = build_plan(&facts, &answers).unwrap();
            plan.notes
                .iter()
                .any(|n| n.text.contains("does not name `10.0.0.12`"))
        };
        assert!(warned("127.0.0.1"));
        assert!(!warned("10.0.0.12"));
    }

    #[test]
    fn bundle_installs_certs_and_issues_nothing() {
        let (facts, answers) = bundle_setup(Tier::Basic);
        let plan = build_plan(&facts, &answers).unwrap();
        assert!(!plan.steps.iter().any(|s| matches!(
            s,
            Step::CreateCa { .. }
                | Step::ImportCa { .. }
                | Step::IssueCert { .. }
                | Step::WriteBundle { .. }
                | Step::ResetPassword { .. }
        )));
        assert!(matches!(plan.steps[0], Step::CreateDir { .. }));
        assert!(
            matches!(&plan.steps[1], Step::InstallCaCert { path, .. } if path.ends_with("certs/ca.crt"))
        );
        match &plan.steps[2] {
            Step::InstallBundleCert {
                purpose,
                cert_path,
                key_path,
                owner,
                dns,
                reason,
                ..
            } => {
                assert_eq!(*purpose, CertPurpose::Transport);
                assert!(cert_path.ends_with("certs/transport.crt"));
                assert!(key_path.ends_with("certs/transport.key"));
                assert_eq!(owner.group.as_deref(), Some("elasticsearch"));
                assert_eq!(dns, &vec!["node-2.example.internal".to_string()]);
                assert_eq!(reason, "new");
            }
            other => panic!("expected InstallBundleCert, got {other:?}"),
        }
        assert!(plan.edits().next().is_some());
        assert!(plan.steps.iter().any(|s| matches!(s, Step::Restart { .. })));
        let text = crate::domain::render::plan_text(&plan);
        assert!(
            text.contains("install transport certificate from the bundle [DNS:node-2.example.internal, IP:10.0.0.12]"),
            "{text}"
        );
    }

    #[test]
    fn bundle_https_installs_http_cert_too() {
        let (facts, answers) = bundle_setup(Tier::Https);
        let plan = build_plan(&facts, &answers).unwrap();
        let purposes: Vec<CertPurpose> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::InstallBundleCert { purpose, .. } => Some(*purpose),
                _ => None,
            })
            .collect();
        assert_eq!(purposes, vec![CertPurpose::Transport, CertPurpose::Http]);
    }

    #[test]
    fn bundle_applied_already_is_nothing_to_do() {
        let (facts, answers) = bundle_setup(Tier::Basic);
        let first = build_plan(&facts, &answers).unwrap();
        let (_, _, after) = first.edits().next().unwrap();
        let mut facts = facts_for(after);
        let mut b = bundle_facts(Tier::Basic);
        for c in b.certs.values_mut() {
            c.installed = true;
        }
        facts.bundle = Some(b);
        facts.es.certs_dir_exists = true;
        facts
            .es
            .ca_copies
            .insert(files::CA_CERT.to_string(), CA_PEM.to_string());
        facts.es.certs.insert(
            files::TRANSPORT_CERT.to_string(),
            node2_cert(&["node-2.example.internal"], &["10.0.0.12"]),
        );
        let plan = build_plan(&facts, &answers).unwrap();
        assert!(plan.is_empty(), "{plan:#?}");
    }

    #[test]
    fn bundle_for_another_node_is_refused() {
        let (mut facts, answers) = bundle_setup(Tier::Basic);
        let b = facts.bundle.take();
        facts = facts_for(&yml("node-3"));
        facts.bundle = b;
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(
            matches!(&err, PlanError::BundleWrongNode { bundle, configured, .. } if bundle == "node-2" && configured == "node-3"),
            "{err:?}"
        );
        assert!(err.to_string().contains("node-3.bundle.yml"), "{err}");
    }

    #[test]
    fn bundle_for_another_cluster_is_refused() {
        let (mut facts, answers) = bundle_setup(Tier::Basic);
        if let Some(b) = facts.bundle.as_mut() {
            b.cluster_name = Some("other-cluster".to_string());
        }
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(
            matches!(err, PlanError::BundleWrongCluster { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bundle_with_another_ca_than_ours_is_refused() {
        let (mut facts, answers) = bundle_setup(Tier::Basic);
        facts.ca = Some(CaFacts {
            cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
            key_path: "/var/lib/es-secure/ca/ca.key".into(),
            fingerprint: "CC:DD".to_string(),
            not_after: NOW + 1000 * 86_400,
            subject: "CN=es-secure CA".to_string(),
            cert_pem: "other".to_string(),
        });
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(matches!(err, PlanError::BundleOtherCa { .. }), "{err:?}");
        // The same CA (e.g. re-applying on the host that wrote the bundle) is fine.
        if let Some(ca) = facts.ca.as_mut() {
            ca.fingerprint = CA_FP.to_string();
        }
        assert!(build_plan(&facts, &answers).is_ok());
    }

    #[test]
    fn bundle_with_edited_ca_is_refused() {
        let (mut facts, answers) = bundle_setup(Tier::Basic);
        if let Some(b) = facts.bundle.as_mut() {
            b.declared_fingerprint = "EE:FF".to_string();
        }
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(matches!(err, PlanError::BundleCaMismatch { .. }), "{err:?}");
    }

    #[test]
    fn bundle_cert_problems_are_refused() {
        type Spoil = fn(&mut BundleCertFacts);
        let cases: [(&str, Spoil); 5] = [
            ("not signed by the CA in the bundle", |c| {
                if let Some(s) = c.summary.as_mut() {
                    s.signed_by_ca = false;
                }
            }),
            ("key is missing or does not match", |c| {
                if let Some(s) = c.summary.as_mut() {
                    s.key_matches = false;
                }
            }),
            ("does not name 10.0.0.12", |c| {
                if let Some(s) = c.summary.as_mut() {
                    s.ip.clear();
                }
            }),
            ("expired", |c| {
                if let Some(s) = c.summary.as_mut() {
                    s.not_after = NOW - 1;
                }
            }),
            ("not a readable certificate", |c| c.summary = None),
        ];
        for (want, spoil) in cases {
            let (mut facts, answers) = bundle_setup(Tier::Basic);
            if let Some(b) = facts.bundle.as_mut() {
                spoil(b.certs.get_mut("transport").unwrap());
            }
            let err = build_plan(&facts, &answers).unwrap_err();
            assert!(matches!(err, PlanError::BundleCert { .. }), "{err:?}");
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn bundle_without_http_cert_cannot_do_https() {
        let (mut facts, answers) = bundle_setup(Tier::Https);
        if let Some(b) = facts.bundle.as_mut() {
            b.certs.remove("http");
        }
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(err.to_string().contains("has no http certificate"), "{err}");
    }

    /// Answers for node-2 with the operator's own CA and own node certificates.
    fn own_cert_setup(tier: Tier, with_http: bool) -> (Facts, Answers) {
        let http = if with_http {
            "    http: {cert: /root/own/http.crt, key: /root/own/http.key}\n"
        } else {
            ""
        };
        let text = format!(
            "version: 1\ntier: {tier}\nelasticsearch:\n  allow_cleartext_rest: true\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: {{cert: /root/own/ca.crt, key: /root/own/ca.key}}\n  node_certs:\n    transport: {{cert: /root/own/transport.crt, key: /root/own/transport.key}}\n{http}"
        );
        let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
        let mut facts = facts_for(&yml("node-2"));
        let ca = CaFacts {
            cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
            key_path: "/var/lib/es-secure/ca/ca.key".into(),
            fingerprint: CA_FP.to_string(),
            not_after: NOW + 1000 * 86_400,
            subject: "CN=own CA".to_string(),
            cert_pem: CA_PEM.to_string(),
        };
        facts.ca = Some(ca.clone());
        facts.byo_ca = Some(ca);
        (facts, answers)
    }

    #[test]
    fn own_node_certs_are_installed_instead_of_issued() {
        let (facts, answers) = own_cert_setup(Tier::Https, false);
        let plan = build_plan(&facts, &answers).unwrap();
        let own: Vec<_> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::InstallOwnCert {
                    purpose,
                    from_cert,
                    cert_path,
                    key_path,
                    dns,
                    ip,
                    ..
                } => Some((*purpose, from_cert, cert_path, key_path, dns, ip)),
                _ => None,
            })
            .collect();
        assert_eq!(own.len(), 1, "{:#?}", plan.steps);
        let (purpose, from, cert, key, dns, ip) = own[0];
        assert_eq!(purpose, CertPurpose::Transport);
        assert_eq!(from, &PathBuf::from("/root/own/transport.crt"));
        assert_eq!(
            cert,
            &PathBuf::from("/etc/elasticsearch/certs/transport.crt")
        );
        assert_eq!(
            key,
            &PathBuf::from("/etc/elasticsearch/certs/transport.key")
        );
        // The certificate must name the node's own addresses (checked at apply).
        assert!(dns.contains(&"node-2.example.internal".to_string()));
        assert!(ip.contains(&"10.0.0.12".parse().unwrap()));
        // Without an own HTTP certificate, the https tier issues one from the CA.
        let issued: Vec<_> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::IssueCert { spec, .. } => spec.purpose,
                _ => None,
            })
            .collect();
        assert_eq!(issued, vec![CertPurpose::Http]);
    }

    #[test]
    fn installed_own_node_certs_plan_nothing_for_them() {
        let (mut facts, answers) = own_cert_setup(Tier::Https, true);
        facts
            .own_certs_installed
            .insert(files::TRANSPORT_CERT.to_string(), true);
        facts.es.certs.insert(
            files::TRANSPORT_CERT.to_string(),
            node2_cert(&["node-2.example.internal"], &["10.0.0.12"]),
        );
        facts.es.certs_dir_exists = true;
        facts
            .own_certs_installed
            .insert(files::HTTP_CERT.to_string(), false);
        let plan = build_plan(&facts, &answers).unwrap();
        let own: Vec<_> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::InstallOwnCert { purpose, .. } => Some(*purpose),
                Step::IssueCert { spec, .. } => spec.purpose,
                _ => None,
            })
            .collect();
        assert_eq!(own, vec![CertPurpose::Http]);
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s, Step::InstallOwnCert { .. }))
        );
    }

    #[test]
    fn own_node_certs_need_own_ca_files_and_absolute_paths() {
        let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-1, ip: [10.0.0.11]}\nthis_node: node-1\ncertificates:\n  node_certs:\n    transport: {cert: own/t.crt, key: /root/t.key}\n";
        let errors = Answers::from_raw(&parse_raw(text).unwrap()).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.contains("`certificates.node_certs`") && e.contains("certificates.ca")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("`certificates.node_certs.transport.cert`")),
            "{text:?}"
        );
    }

    #[test]
    fn installed_own_cert_that_no_longer_fits_is_checked_again() {
        let (mut facts, answers) = own_cert_setup(Tier::Basic, false);
        facts
            .own_certs_installed
            .insert(files::TRANSPORT_CERT.to_string(), true);
        // Installed earlier, but the node's address changed in the answers since.
        facts.es.certs.insert(
            files::TRANSPORT_CERT.to_string(),
            node2_cert(&["node-2.example.internal"], &["10.0.0.99"]),
        );
        let plan = build_plan(&facts, &answers).unwrap();
        let reason = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::InstallOwnCert { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .expect("the own certificate is installed (and so checked) again");
        assert!(reason.contains("10.0.0.12"), "{reason}");
    }

    // ---- secrets are moved, never left; plan notes; REST and cluster-shape checks ----

    fn kibana_facts(
        yml_text: &str,
        keystore_entries: &[&str],
    ) -> crate::domain::facts::KibanaFacts {
        crate::domain::facts::KibanaFacts {
            config_dir: "/etc/kibana".into(),
            yml_path: "/etc/kibana/kibana.yml".into(),
            yml_text: yml_text.to_string(),
            parsed: settings::parse("/etc/kibana/kibana.yml", yml_text).unwrap(),
            keystore: KeystoreFacts {
                path: "/etc/kibana/kibana.keystore".into(),
                exists: true,
                entries: Some(keystore_entries.iter().map(ToString::to_string).collect()),
                format: None,
            },
            certs_dir_exists: false,
            certs: BTreeMap::new(),
            ca_copies: BTreeMap::new(),
            config_group: Some("kibana".to_string()),
            service_token: crate::domain::facts::TokenCheck::Absent,
        }
    }

    const LOOPBACK_YML: &str = "node.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.type: single-node\nxpack.security.enabled: false\n";

    fn minimal_answers(extra: &str) -> Answers {
        let text = format!("version: 1\ntier: minimal\n{extra}");
        Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
    }

    fn keystore_sets(plan: &Plan) -> Vec<(Product, String, SecretSource)> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                Step::KeystoreSet {
                    product,
                    entry,
                    value,
                    ..
                } => Some((*product, entry.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }

    fn edited<'p>(plan: &'p Plan, file: &str) -> &'p str {
        plan.edits()
            .find(|(p, _, _)| p.ends_with(file))
            .map(|(_, _, after)| after)
            .unwrap()
    }

    const KIBANA_ALL_KEEP: &str = "kibana:\n  config_dir: /etc/kibana\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n";

    /// Review §3(h): `keep` with a plaintext kibana_system password moves it to the keystore,
    /// deletes the line, and no diff, JSON or Debug output shows the value.
    #[test]
    fn kept_kibana_password_moves_into_the_keystore_and_is_never_shown() {
        let mut facts = facts_for(LOOPBACK_YML);
        let kyml = "elasticsearch.hosts: [\"http://localhost:9200\"]\nelasticsearch.username: kibana_system\nelasticsearch.password: \"s3cr3t-kibana\"\nxpack.security.encryptionKey: \"0123456789abcdef0123456789abcdef-old\"\n";
        facts.kibana = Some(kibana_facts(kyml, &[]));
        let answers = minimal_answers(KIBANA_ALL_KEEP);
        let plan = build_plan(&facts, &answers).unwrap();
        let sets = keystore_sets(&plan);
        for key in ["elasticsearch.password", "xpack.security.encryptionKey"] {
            assert!(
                sets.iter().any(|(p, e, v)| *p == Product::Kibana
                    && e == key
                    && *v
                        == SecretSource::PlaintextSetting {
                            path: "/etc/kibana/kibana.yml".into(),
                            key: key.to_string()
                        }),
                "{key}: {sets:?}"
            );
        }
        let after = edited(&plan, "kibana.yml");
        assert!(!after.contains("s3cr3t-kibana"), "{after}");
        assert!(!after.contains("-old"), "{after}");
        assert!(
            !after.contains("password"),
            "deleted, not commented out: {after}"
        );
        let text = crate::domain::render::plan_text(&plan);
        let json = serde_json::to_string(&plan).unwrap();
        let debug = format!("{plan:?} {facts:?}");
        for shown in [&text, &json, &debug] {
            assert!(!shown.contains("s3cr3t-kibana"), "{shown}");
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
        }
        assert!(text.contains("-elasticsearch.password: ***"), "{text}");
        assert!(
            plan.notes.iter().any(|n| n.text.contains("removes `elasticsearch.password`: a plaintext secret; its value moves into /etc/kibana/kibana.keystore")),
            "{:#?}",
            plan.notes
        );
    }

    const KIBANA_TOKEN: &str = "kibana:\n  config_dir: /etc/kibana\n  es_auth: service-token\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n";

    /// `kibana.es_auth: service-token`: no username or password for Kibana anywhere, the
    /// enrollment's plaintext token moves into kibana.keystore, and the REST phase gets the
    /// token step (after the file steps, before verification); the value is never shown.
    #[test]
    fn service_token_replaces_kibana_systems_password() {
        let mut facts = facts_for(LOOPBACK_YML);
        let kyml = "elasticsearch.hosts: [\"http://localhost:9200\"]\nelasticsearch.username: kibana_system\nelasticsearch.serviceAccountToken: \"AAEAAWVsYXN0aWMva2liYW5hL2Vucm9sbC1zZWNyZXQ\"\n";
        facts.kibana = Some(kibana_facts(kyml, &["elasticsearch.password"]));
        facts.host.hostname = Some("kb.example.org".to_string());
        let plan = build_plan(&facts, &minimal_answers(KIBANA_TOKEN)).unwrap();
        let after = edited(&plan, "kibana.yml");
        // A username is no secret: its line is commented out; the token's is deleted.
        assert!(
            !after
                .lines()
                .any(|l| l.starts_with("elasticsearch.username"))
                && !after.contains("serviceAccountToken"),
            "{after}"
        );
        assert!(plan.steps.iter().any(|s| matches!(s, Step::KeystoreRemove { product: Product::Kibana, entry, .. } if entry == "elasticsearch.password")));
        assert!(
            keystore_sets(&plan)
                .iter()
                .any(|(p, e, v)| *p == Product::Kibana
                    && e == TOKEN_ENTRY
                    && matches!(v, SecretSource::PlaintextSetting { .. }))
        );
        let token = plan
            .steps
            .iter()
            .position(|s| matches!(s, Step::ServiceToken { name, .. } if name == "es-secure-kb-example-org"))
            .unwrap();
        let verify = plan
            .steps
            .iter()
            .position(|s| matches!(s, Step::Verify { .. }))
            .unwrap();
        assert!(token < verify);
        assert!(
            plan.steps[..token]
                .iter()
                .any(|s| matches!(s, Step::WaitHealthy { .. }))
        );
        assert!(!plan.steps[token + 1..].iter().any(Step::is_file_step));
        let text = crate::domain::render::plan_text(&plan);
        let json = serde_json::to_string(&plan).unwrap();
        for shown in [&text, &json, &format!("{plan:?}")] {
            assert!(!shown.contains("enroll-secret"), "{shown}");
            assert!(!shown.contains("AAEAAWVsYXN0aWMva2liYW5h"), "{shown}");
        }
        assert!(
            text.contains(
                "POST /_security/service/elastic/kibana/credential/token/es-secure-kb-example-org"
            ),
            "{text}"
        );
    }

    /// A token in kibana.keystore that authenticates: nothing to do (a re-run is empty);
    /// one that does not, or was not checked: the token step again.
    #[test]
    fn service_token_that_authenticates_is_kept() {
        let mut facts = facts_for(LOOPBACK_YML);
        let mut k = kibana_facts(
            "elasticsearch.hosts: [\"http://127.0.0.1:9200\"]\n",
            &[TOKEN_ENTRY],
        );
        let answers = minimal_answers(KIBANA_TOKEN);
        for (check, planned) in [
            (crate::domain::facts::TokenCheck::Authenticates, false),
            (crate::domain::facts::TokenCheck::Rejected, true),
            (crate::domain::facts::TokenCheck::Unknown, true),
        ] {
            k.service_token = check;
            facts.kibana = Some(k.clone());
            let plan = build_plan(&facts, &answers).unwrap();
            assert_eq!(
                plan.steps
                    .iter()
                    .any(|s| matches!(s, Step::ServiceToken { .. })),
                planned,
                "{check:?}: {plan:#?}"
            );
        }
    }

    /// `es_auth: password` with a token in kibana.keystore: the token goes (Kibana refuses it
    /// next to `elasticsearch.username`).
    #[test]
    fn password_mode_removes_a_keystore_token() {
        let mut facts = facts_for(LOOPBACK_YML);
        facts.kibana = Some(kibana_facts(
            "elasticsearch.hosts: [\"http://127.0.0.1:9200\"]\n",
            &[TOKEN_ENTRY],
        ));
        let plan = build_plan(&facts, &minimal_answers(KIBANA_ALL_KEEP)).unwrap();
        assert!(plan.steps.iter().any(|s| matches!(s, Step::KeystoreRemove { product: Product::Kibana, entry, .. } if entry == TOKEN_ENTRY)));
        assert!(edited(&plan, "kibana.yml").contains("username: kibana_system"));
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s, Step::ServiceToken { .. }))
        );
    }

    #[test]
    fn service_token_names_are_what_elasticsearch_accepts() {
        assert_eq!(service_token_name(Some("node-1")), "es-secure-node-1");
        assert_eq!(service_token_name(Some("a.b c_d")), "es-secure-a-b-c_d");
        assert_eq!(service_token_name(None), "es-secure-kibana");
        assert_eq!(service_token_name(Some("")), "es-secure-kibana");
        assert!(service_token_name(Some(&"x".repeat(300))).len() <= 256);
    }

    /// The password of another user (here the elastic superuser) is deleted, not kept.
    #[test]
    fn elastic_password_in_kibana_yml_is_deleted_not_moved() {
        let mut facts = facts_for(LOOPBACK_YML);
        let kyml = "elasticsearch:\n  hosts: [\"http://localhost:9200\"]\n  username: elastic\n  password: \"changeme\"\n";
        facts.kibana = Some(kibana_facts(kyml, &[]));
        let plan = build_plan(&facts, &minimal_answers(KIBANA_ALL_KEEP)).unwrap();
        assert!(
            !keystore_sets(&plan)
                .iter()
                .any(|(_, e, _)| e == "elasticsearch.password")
        );
        let after = edited(&plan, "kibana.yml");
        assert!(!after.contains("changeme"), "{after}");
        let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("the plaintext password of `elastic` is deleted, not kept")),
            "{notes:#?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("cannot recover the current one")),
            "{notes:#?}"
        );
    }

    /// A plaintext TLS password outside the contexts es-secure takes over moves to its
    /// `secure_` keystore form; inside them it goes with the keystore it unlocked.
    #[test]
    fn es_plaintext_tls_passwords_move_or_go() {
        let yml = format!(
            "{LOOPBACK_YML}xpack.security.http.ssl.keystore.path: http.p12\nxpack.security.http.ssl.keystore.password: \"hunter2\"\nxpack.monitoring.exporters.x.ssl.key_passphrase: pass-phrase\n"
        );
        let facts = facts_for(&yml);
        let plan = build_plan(&facts, &minimal_answers("")).unwrap();
        let entries: Vec<String> = keystore_sets(&plan)
            .into_iter()
            .filter(|(p, _, _)| *p == Product::Elasticsearch)
            .map(|(_, e, _)| e)
            .collect();
        assert_eq!(
            entries,
            vec![
                "xpack.monitoring.exporters.x.ssl.secure_key_passphrase".to_string(),
                "xpack.security.http.ssl.keystore.secure_password".to_string(),
            ]
        );
        let after = edited(&plan, "elasticsearch.yml");
        assert!(
            !after.contains("hunter2") && !after.contains("pass-phrase"),
            "{after}"
        );
        assert!(after.contains("keystore.path: http.p12"), "{after}");
    }

    #[test]
    fn plain_rest_uses_loopback_when_es_listens_there() {
        for yml in [
            LOOPBACK_YML.to_string(),
            "node.name: node-1\ndiscovery.type: single-node\n".to_string(),
            "node.name: node-1\ndiscovery.type: single-node\nnetwork.host: 0.0.0.0\n".to_string(),
            "node.name: node-1\ndiscovery.type: single-node\nnetwork.host: [_local_, _site_]\n"
                .to_string(),
        ] {
            let facts = facts_for(&yml);
            assert_eq!(
                es_url(&facts, &minimal_answers("")),
                "http://127.0.0.1:9200",
                "{yml}"
            );
        }
    }

    #[test]
    fn plain_rest_to_a_lan_address_needs_the_opt_in() {
        let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}\nthis_node: node-2\n";
        let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
        let facts = facts_for(&yml("node-2"));
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(
            matches!(&err, PlanError::CleartextRest { url } if url == "http://10.0.0.12:9200"),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("allow_cleartext_rest: true"),
            "{err}"
        );
        let opted = text.replace(
            "tier: basic\n",
            "tier: basic\nelasticsearch:\n  allow_cleartext_rest: true\n",
        );
        let answers = Answers::from_raw(&parse_raw(&opted).unwrap()).unwrap();
        let plan = build_plan(&facts, &answers).unwrap();
        assert!(
            plan.notes.iter().any(|n| n.text.contains("in clear")),
            "{:#?}",
            plan.notes
        );
    }

    #[test]
    fn seed_hosts_missing_from_the_answers_refuse_the_plan() {
        let y = "node.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.seed_hosts: [\"10.0.0.11\", \"10.0.0.12\"]\ncluster.initial_master_nodes: [node-1, node-2]\n";
        let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-1, ip: [10.0.0.11, 127.0.0.1]}\nthis_node: node-1\n";
        let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
        let err = build_plan(&facts_for(y), &answers).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PlanError::ClusterShape { .. }), "{msg}");
        assert!(
            msg.contains("`10.0.0.12`") && msg.contains("`node-2`"),
            "{msg}"
        );
        let opted = text.replace(
            "tier: basic\n",
            "tier: basic\nelasticsearch:\n  allow_partial_cluster: true\n",
        );
        let answers = Answers::from_raw(&parse_raw(&opted).unwrap()).unwrap();
        let plan = build_plan(&facts_for(y), &answers).unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.starts_with("warning: elasticsearch.yml names hosts")),
            "{:#?}",
            plan.notes
        );
    }

    #[test]
    fn formed_cluster_loses_initial_master_nodes_with_a_note() {
        let y = format!("{LOOPBACK_YML}cluster.initial_master_nodes: [node-1]\n");
        let mut facts = facts_for(&y);
        let plan = build_plan(&facts, &minimal_answers("")).unwrap();
        assert!(edited(&plan, "elasticsearch.yml").contains("initial_master_nodes"));
        facts.es.cluster_formed = true;
        let plan = build_plan(&facts, &minimal_answers("")).unwrap();
        let after = edited(&plan, "elasticsearch.yml");
        let parsed = settings::parse("e.yml", after).unwrap();
        assert!(
            parsed
                .settings
                .get("cluster.initial_master_nodes")
                .is_none(),
            "{after}"
        );
        assert!(
            plan.notes.iter().any(|n| n.text.contains(
                "removes `cluster.initial_master_nodes`: the cluster has already formed"
            )),
            "{:#?}",
            plan.notes
        );
    }

    #[test]
    fn autoconfig_takeover_removes_old_key_material_and_names_both_cas() {
        let y = "node.name: node-1\n#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------\nxpack.security.enabled: true\nxpack.security.enrollment.enabled: true\nxpack.security.http.ssl:\n  enabled: true\n  keystore.path: certs/http.p12\nxpack.security.transport.ssl:\n  enabled: true\n  verification_mode: certificate\n  keystore.path: certs/transport.p12\n  truststore.path: certs/transport.p12\ncluster.initial_master_nodes: [\"node-1\"]\nhttp.host: 0.0.0.0\n#----------------------- END SECURITY AUTO CONFIGURATION -------------------------\n";
        let mut facts = facts_for(y);
        facts.es.autoconfig_files = vec![
            "http.p12".to_string(),
            "transport.p12".to_string(),
            "http_ca.crt".to_string(),
        ];
        facts.es.autoconfig_ca_fingerprint = Some("AB:CD:EF".to_string());
        facts.es.cluster_formed = true;
        let text = "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\n";
        let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
        let plan = build_plan(&facts, &answers).unwrap();
        let removed: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::RemoveFile { path, .. } => Some(path.display().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            removed,
            vec![
                "/etc/elasticsearch/certs/http.p12",
                "/etc/elasticsearch/certs/transport.p12",
                "/etc/elasticsearch/certs/http_ca.crt"
            ]
        );
        // Files come before the restart.
        let restart = plan
            .steps
            .iter()
            .position(|s| matches!(s, Step::Restart { .. }))
            .unwrap();
        let last_remove = plan
            .steps
            .iter()
            .rposition(|s| matches!(s, Step::RemoveFile { .. }))
            .unwrap();
        assert!(last_remove < restart);
        let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
        assert!(
            notes.iter().any(|n| n.contains("The CA changes")
                && n.contains("AB:CD:EF")
                && n.contains("/var/lib/es-secure/ca/ca.crt")),
            "{notes:#?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("removes `xpack.security.enrollment.enabled`: enrollment")),
            "{notes:#?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("removes `cluster.initial_master_nodes`")),
            "{notes:#?}"
        );
        assert!(!edited(&plan, "elasticsearch.yml").contains("initial_master_nodes: [\"node-1\"]"));
    }

    const HARDENED: &str = "nodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\nthis_node: node-1\nhardening:\n  audit: {}\n  tls_protocols: [TLSv1.3, TLSv1.2]\n  ip_filter:\n    http_allow: [127.0.0.1]\n";

    fn https_answers(extra: &str) -> Answers {
        let text = format!("version: 1\ntier: https\n{extra}");
        Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
    }

    fn es_after(plan: &Plan) -> Option<String> {
        plan.steps.iter().find_map(|s| match s {
            Step::EditSettings {
                product: Product::Elasticsearch,
                after,
                ..
            } => Some(after.to_string()),
            _ => None,
        })
    }

    #[test]
    fn hardening_writes_audit_filter_and_protocols_with_restart_notes() {
        let facts = facts_for(LOOPBACK_YML);
        let plan = build_plan(&facts, &https_answers(HARDENED)).unwrap();
        let after = es_after(&plan).unwrap();
        let parsed = settings::parse("e.yml", &after).unwrap().settings;
        let v = |k: &str| parsed.value(k).map(SettingValue::as_plain);
        let list = |k: &str| match parsed.value(k) {
            Some(SettingValue::List(items)) => {
                items.iter().map(SettingValue::as_plain).collect::<Vec<_>>()
            }
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(v("xpack.security.audit.enabled").as_deref(), Some("true"));
        assert_eq!(
            list("xpack.security.audit.logfile.events.include"),
            crate::domain::answers::DEFAULT_AUDIT_EVENTS.to_vec()
        );
        assert_eq!(
            list("xpack.security.transport.filter.allow"),
            ["127.0.0.1", "localhost"]
        );
        assert_eq!(list("xpack.security.transport.filter.deny"), ["_all"]);
        assert_eq!(list("xpack.security.http.filter.allow"), ["127.0.0.1"]);
        assert_eq!(list("xpack.security.http.filter.deny"), ["_all"]);
        for layer in ["transport", "http"] {
            assert_eq!(
                list(&format!("xpack.security.{layer}.ssl.supported_protocols")),
                ["TLSv1.3", "TLSv1.2"]
            );
        }
        let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
        let audit = notes
            .iter()
            .find(|n| n.starts_with("Audit logging"))
            .unwrap();
        assert!(audit.contains("static on 8.19.3"), "{audit}");
        assert!(audit.contains("elasticsearch_audit.json"), "{audit}");
        assert!(audit.contains("Gold-license"), "{audit}");
        assert!(
            notes.iter().any(|n| n.starts_with("IP filtering:")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("TLS versions for transport and HTTP"))
        );
        assert!(plan.steps.iter().any(|s| matches!(s, Step::Restart { .. })));
    }

    #[test]
    fn audit_is_dynamic_from_9_5_but_still_waits_for_the_restart() {
        let mut facts = facts_for(LOOPBACK_YML);
        facts.es.version = Some(Version {
            major: 9,
            minor: 5,
            patch: 4,
        });
        let plan = build_plan(&facts, &https_answers(HARDENED)).unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.contains("is dynamic on 9.5.4")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn hardening_is_idempotent() {
        let mut facts = facts_for(LOOPBACK_YML);
        let answers = https_answers(HARDENED);
        let after = es_after(&build_plan(&facts, &answers).unwrap()).unwrap();
        facts.es.parsed = settings::parse("/etc/elasticsearch/elasticsearch.yml", &after).unwrap();
        facts.es.yml_text = after;
        let again = build_plan(&facts, &answers).unwrap();
        assert_eq!(es_after(&again), None);
        assert!(!again.notes.iter().any(|n| n.text.starts_with("Audit")));
    }

    #[test]
    fn an_http_allow_list_that_shuts_out_this_host_is_refused() {
        let facts = facts_for(LOOPBACK_YML);
        let extra = HARDENED.replace("http_allow: [127.0.0.1]", "http_allow: [10.0.0.0/8]");
        let e = build_plan(&facts, &https_answers(&extra)).unwrap_err();
        assert!(matches!(e, PlanError::IpFilterLockout { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1"), "{e}");
        // A deny list that catches loopback is refused the same way (HTTP then inherits the
        // transport allow list, as Elasticsearch does).
        let extra = HARDENED.replace(
            "http_allow: [127.0.0.1]",
            "transport_allow: [10.0.0.11]\n    http_deny: [127.0.0.0/8]",
        );
        assert!(matches!(
            build_plan(&facts, &https_answers(&extra)),
            Err(PlanError::IpFilterLockout { .. })
        ));
        // The node's own non-loopback address, when es-secure reaches it there.
        let facts = facts_for(&yml("node-2"));
        let extra = "nodes:\n  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}\nthis_node: node-2\nhardening:\n  ip_filter: {http_allow: [10.0.0.11]}\n";
        let e = build_plan(&facts, &https_answers(extra)).unwrap_err();
        assert!(e.to_string().contains("10.0.0.12"), "{e}");
    }

    #[test]
    fn without_http_lists_the_http_layer_is_not_filtered() {
        let facts = facts_for(LOOPBACK_YML);
        let extra = "hardening:\n  ip_filter: {transport_allow: [127.0.0.1]}\n";
        let after = es_after(&build_plan(&facts, &minimal_answers(extra)).unwrap()).unwrap();
        assert!(
            after.contains("xpack.security.http.filter.enabled: false"),
            "{after}"
        );
        assert!(!after.contains("http.filter.allow"), "{after}");
    }

    #[test]
    fn cipher_suites_go_to_transport_and_http_and_not_to_kibana() {
        let facts = facts_for(LOOPBACK_YML);
        let suites = "hardening:\n  tls_cipher_suites: [TLS_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n";
        let plan = build_plan(&facts, &https_answers(&format!("nodes:\n  - {{name: node-1, dns: [localhost], ip: [127.0.0.1]}}\nthis_node: node-1\n{suites}"))).unwrap();
        let after = es_after(&plan).unwrap();
        for key in [
            "xpack.security.transport.ssl.cipher_suites",
            "xpack.security.http.ssl.cipher_suites",
        ] {
            assert!(after.contains(key), "{key} missing:\n{after}");
        }
        assert!(
            after.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "{after}"
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.contains("Cipher suites") && n.text.contains("OpenSSL names")),
            "{:#?}",
            plan.notes
        );
        let plan = build_plan(&facts, &minimal_answers(suites)).unwrap();
        assert!(!es_after(&plan).unwrap().contains("cipher_suites"));
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.contains("no cipher suites are written"))
        );
    }

    #[test]
    fn minimal_tier_writes_no_protocols_and_says_so() {
        let facts = facts_for(LOOPBACK_YML);
        let plan = build_plan(
            &facts,
            &minimal_answers("hardening:\n  tls_protocols: [TLSv1.3]\n"),
        )
        .unwrap();
        assert!(!es_after(&plan).unwrap().contains("supported_protocols"));
        assert!(plan.notes.iter().any(|n| n.text.contains("no TLS")));
    }

    #[test]
    fn hardening_answers_are_checked() {
        let bad = |extra: &str| {
            let text = format!("version: 1\ntier: minimal\nhardening:\n{extra}");
            Answers::from_raw(&parse_raw(&text).unwrap())
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(bad("  tls_protocols: [TLSv1.1]\n").contains("obsolete"));
        assert!(bad("  tls_protocols: []\n").contains("empty list"));
        assert!(bad("  tls_cipher_suites: []\n").contains("empty list"));
        assert!(
            bad("  tls_cipher_suites: [ECDHE-ECDSA-AES256-GCM-SHA384]\n")
                .contains("Java's (IANA) form")
        );
        assert!(
            bad("  tls_cipher_suites: [TLS_RSA_WITH_3DES_EDE_CBC_SHA]\n").contains("weak suite")
        );
        // TLS 1.3 only, with TLS 1.2 suites only: no handshake could succeed.
        assert!(
            bad("  tls_protocols: [TLSv1.3]\n  tls_cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n")
                .contains("no suite in the list works")
        );
        assert!(bad("  audit: {events: [login_failed]}\n").contains("not an audit event"));
        assert!(
            bad("  kibana_session: {idle_timeout: 1 hour}\n").contains("not a Kibana duration")
        );
        assert!(
            bad("  ip_filter: {http_allow: [10.0.0.0/33]}\n")
                .contains("hardening.ip_filter.http_allow")
        );
        assert!(bad("  ip_filter: {transport_allow: []}\n").contains("cut the nodes off"));
        let ok = minimal_answers(
            "hardening:\n  kibana_session: {}\n  ip_filter: {http_allow: [127.0.0.1]}\n",
        );
        let s = ok.hardening.kibana_session.unwrap();
        assert_eq!((s.idle_timeout.as_str(), s.lifespan.as_str()), ("1h", "8h"));
        assert_eq!(ok.hardening.ip_filter.unwrap().http_deny, ["_all"]);
    }

    #[test]
    fn kibana_gets_session_timeouts_and_protocols() {
        let mut facts = facts_for(LOOPBACK_YML);
        facts.kibana = Some(kibana_facts("server.port: 5601\n", &[]));
        let extra = format!(
            "{HARDENED}kibana: {{config_dir: /etc/kibana, public_url: \"https://localhost:5601\"}}\n"
        )
        .replace("hardening:\n", "hardening:\n  kibana_session: {idle_timeout: 30m}\n");
        let plan = build_plan(&facts, &https_answers(&extra)).unwrap();
        let after = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::EditSettings {
                    product: Product::Kibana,
                    after,
                    ..
                } => Some(after.to_string()),
                _ => None,
            })
            .unwrap();
        assert!(
            after.contains("xpack.security.session.idleTimeout: \"30m\""),
            "{after}"
        );
        assert!(
            after.contains("xpack.security.session.lifespan: \"8h\""),
            "{after}"
        );
        assert!(after.contains("server.ssl.supportedProtocols"), "{after}");
    }

    #[test]
    fn kibana_gets_an_audit_appender_next_to_its_own_log() {
        let mut facts = facts_for(LOOPBACK_YML);
        facts.kibana = Some(kibana_facts(
            "server.port: 5601\nlogging:\n  appenders:\n    file:\n      type: file\n      fileName: /var/log/kibana/kibana.log\n",
            &[],
        ));
        let extra = format!("{HARDENED}kibana: {{config_dir: /etc/kibana}}\n");
        let plan = build_plan(&facts, &https_answers(&extra)).unwrap();
        let after = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::EditSettings {
                    product: Product::Kibana,
                    after,
                    ..
                } => Some(after.to_string()),
                _ => None,
            })
            .unwrap();
        let managed = after
            .lines()
            .filter(|l| l.starts_with("xpack.security.audit"))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(managed, @r#"
        xpack.security.audit.enabled: true
        xpack.security.audit.appender.type: rolling-file
        xpack.security.audit.appender.fileName: /var/log/kibana/audit.log
        xpack.security.audit.appender.layout.type: json
        xpack.security.audit.appender.policy.type: time-interval
        xpack.security.audit.appender.policy.interval: "24h"
        xpack.security.audit.appender.strategy.type: numeric
        xpack.security.audit.appender.strategy.max: 7
        "#);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.starts_with("Kibana audit logging: ")
                    && n.text.contains("/var/log/kibana/audit.log")),
            "{:?}",
            plan.notes
        );
        // Turned off in the answers: off in both files, no appender written.
        let off = extra.replace("audit: {}", "audit: {enabled: false}");
        let plan = build_plan(&facts, &https_answers(&off)).unwrap();
        let after = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::EditSettings {
                    product: Product::Kibana,
                    after,
                    ..
                } => Some(after.to_string()),
                _ => None,
            })
            .unwrap();
        assert!(
            after.contains("xpack.security.audit.enabled: false"),
            "{after}"
        );
        assert!(!after.contains("audit.appender"), "{after}");
    }

    /// Node-1 of a two-node cluster, from tier none, with the answers' restart method.
    fn ca_host_plan(restart: &str, state: StateFacts) -> Plan {
        let mut facts = facts_for(
            "cluster.name: prod-logs\nnode.name: node-1\nnetwork.host: 10.0.0.11\nxpack.security.enabled: false\n",
        );
        facts.state = state;
        let text = format!(
            "version: 1\ntier: https\nelasticsearch:\n  restart: {restart}\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-1\n"
        );
        let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
        build_plan(&facts, &answers).unwrap()
    }

    #[test]
    fn full_cluster_restart_disables_allocation_first_on_the_ca_host() {
        let plan = ca_host_plan("manual", StateFacts::default());
        assert_eq!(plan.restart, RestartKind::Full);
        // Before any file step, on the cluster as it runs now (plain HTTP, tier none).
        assert_eq!(
            plan.steps[0],
            Step::PrepareRestart {
                url: "http://10.0.0.11:9200".to_string()
            }
        );
        assert!(plan.disables_allocation());
        assert!(plan.stops_for_restart());
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.contains("primaries") && n.text.contains("all 2 nodes")),
            "{:?}",
            plan.notes
        );
        let json = crate::domain::plan_json::document(&plan).unwrap();
        assert_eq!(json["restart"], "full");
        assert_eq!(
            json["steps"][0]["PrepareRestart"]["url"],
            "http://10.0.0.11:9200"
        );
        let text = crate::domain::render::plan_text(&plan);
        assert!(
            text.contains("cluster.routing.allocation.enable=primaries, then POST /_flush"),
            "{text}"
        );
    }

    #[test]
    fn full_cluster_restart_by_systemd_or_on_a_bundle_host_only_says_what_to_do() {
        let plan = ca_host_plan("systemd", StateFacts::default());
        assert_eq!(plan.restart, RestartKind::Full);
        assert!(!plan.disables_allocation());
        assert!(
            plan.notes.iter().any(|n| n
                .text
                .contains("Before stopping the nodes, disable shard allocation")),
            "{:?}",
            plan.notes
        );
        let (facts, answers) = bundle_setup(Tier::Basic);
        let plan = build_plan(&facts, &answers).unwrap();
        assert_eq!(plan.restart, RestartKind::Full);
        assert!(!plan.disables_allocation());
    }

    #[test]
    fn rerun_after_a_prepared_restart_waits_for_the_cluster_then_enables_allocation() {
        let state = StateFacts {
            restart_pending: true,
            allocation_disabled: true,
            ..StateFacts::default()
        };
        let plan = ca_host_plan("manual", state);
        let pos = |f: &dyn Fn(&Step) -> bool| plan.steps.iter().position(f).unwrap();
        let health = pos(&|s| matches!(s, Step::WaitHealthy { .. }));
        let cluster = pos(&|s| matches!(s, Step::WaitCluster { nodes: 2, .. }));
        let finish =
            pos(&|s| matches!(s, Step::FinishRestart { url } if url.starts_with("https://")));
        let reset = pos(&|s| matches!(s, Step::ResetPassword { .. }));
        assert!(
            health < cluster && cluster < finish && finish < reset,
            "{:?}",
            plan.steps
        );
        // Without the state's record, allocation is not touched after the restart.
        let plan = ca_host_plan(
            "manual",
            StateFacts {
                restart_pending: true,
                ..StateFacts::default()
            },
        );
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s, Step::WaitCluster { .. } | Step::FinishRestart { .. }))
        );
    }
}
