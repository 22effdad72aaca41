//! The planner: a pure function of install facts and typed answers that returns the [`Plan`].
//!
//! It plans only the difference between what the host has and what the answers ask for, so
//! re-running with the same answers on an applied install yields an empty plan. It refuses to
//! go down a tier. It must not touch the file system, the network, the clock or randomness:
//! everything it needs is in [`Facts`].

mod certs;
mod kibana;

use std::net::IpAddr;

use thiserror::Error;

use crate::domain::answers::{Answers, AuthMethod, Node, Restart, SecretRef, VerificationMode};
use crate::domain::facts::{Facts, KeystoreFacts};
use crate::domain::plan::{Note, Owner, Plan, Product, SecretSource, Step};
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::{self, Edit, EditError, EditOptions};

pub use certs::{bundle_cert_name, http_spec, transport_spec};

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
    };
    p.plan()?;
    Ok(Plan {
        from: current,
        to: answers.tier,
        steps: p.steps,
        notes: p.notes,
    })
}

/// The URL es-secure uses to reach this node's REST API after the apply.
pub fn es_url(facts: &Facts, answers: &Answers) -> String {
    if let Some(url) = &answers.es.url {
        return url.clone();
    }
    let scheme = if answers.tier == Tier::Https {
        "https"
    } else {
        "http"
    };
    let settings = &facts.es.parsed.settings;
    let host = ["http.publish_host", "http.host", "network.host"]
        .iter()
        .find_map(|k| settings.value(k).and_then(first_concrete_host))
        .unwrap_or_else(|| "localhost".to_string());
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
            self.steps.push(Step::EditSettings {
                product: Product::Elasticsearch,
                path: self.facts.es.yml_path.clone(),
                before: es_text.clone(),
                after,
            });
        }
        let es_changed = self.steps.len() > es_before || (ca_new && tier >= Tier::Basic);

        self.plan_kibana(ca_new)?;
        if tier >= Tier::Basic && bundle.is_none() {
            self.plan_bundles(local);
        }

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
        let wait = es_changed || !resets.is_empty() || self.facts.state.restart_pending;
        if wait {
            self.steps.push(Step::WaitHealthy {
                url: url.clone(),
                timeout_secs: self.answers.es.health_timeout_secs,
            });
        }
        let any_reset = !resets.is_empty();
        self.steps.extend(resets);
        if es_changed || any_reset {
            self.steps.push(Step::Verify { url });
        }
        if self.answers.es.restart == Restart::Manual && es_changed {
            self.note("Restart is manual: apply stops after writing the files and tells you what to run; run the same apply again afterwards to finish (passwords, verification).");
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
            edits.extend(conflicting_removals(settings, p));
        }
        if tier == Tier::Https {
            let p = "xpack.security.http.ssl";
            edits.push(set(&format!("{p}.enabled"), SettingValue::Bool(true)));
            edits.extend(pem_settings(p, files::HTTP_KEY, files::HTTP_CERT));
            edits.extend(conflicting_removals(settings, p));
        }
        edits
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

    fn plan_bundles(&mut self, local: Option<&Node>) {
        let dir = self.facts.state.state_dir.join("bundles");
        let local_name = local.map(|n| n.name.as_str());
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

/// Settings that cannot be combined with PEM key/certificate settings in the same context
/// (ES refuses to start), or that hold plaintext passwords.
fn conflicting_removals(settings: &Settings, prefix: &str) -> Vec<Edit> {
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
    .map(|key| Edit::Remove { key })
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
                },
                certs_dir_exists: false,
                certs: BTreeMap::new(),
                ca_copies: BTreeMap::new(),
                config_group: Some("elasticsearch".to_string()),
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
            "version: 1\ntier: {tier}\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: existing\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n"
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
                "version: 1\ntier: https\nnodes:\n  - {{name: node-2, dns: [node-2.example.internal], ip: [{node_ip}]}}\nthis_node: node-2\n"
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
            "version: 1\ntier: {tier}\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: {{cert: /root/own/ca.crt, key: /root/own/ca.key}}\n  node_certs:\n    transport: {{cert: /root/own/transport.crt, key: /root/own/transport.key}}\n{http}"
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
}
