//! Kibana in the plan: its CA copy and server certificate steps, kibana.keystore entries
//! (kibana_system's password, the encryption keys) and the kibana.yml edits. Pure planning:
//! it must not read files or keystores (the shell puts what it found into [`Facts`]).

use std::path::Path;

use super::{KIBANA_ENCRYPTION_KEYS, PlanError, Planner, es_url, files, keystore_has, set};
use crate::domain::answers::{KibanaAnswers, SecretRef};
use crate::domain::facts::KibanaFacts;
use crate::domain::plan::{Owner, Product, SecretSource, Step};
use crate::domain::settings::SettingValue;
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::{self, Edit, EditOptions};

impl Planner<'_> {
    pub(super) fn plan_kibana(&mut self, ca_new: bool) -> Result<(), PlanError> {
        let Some(kanswers) = &self.answers.kibana else {
            return Ok(());
        };
        let Some(kfacts) = &self.facts.kibana else {
            return Err(PlanError::KibanaNotFound {
                dir: kanswers.config_dir.display().to_string(),
            });
        };
        let tier = self.answers.tier;
        let certs_dir = kfacts.config_dir.join("certs");
        let owner = Owner {
            user: None,
            group: kfacts.config_group.clone(),
        };
        let mut file_steps = Vec::new();
        if tier == Tier::Https && self.ca_pem_changed(&kfacts.ca_copies, ca_new) {
            file_steps.push(Step::InstallCaCert {
                path: certs_dir.join(files::CA_CERT),
                owner: owner.clone(),
            });
        }
        if kanswers.server_https {
            let spec = super::certs::kibana_spec(kanswers, self.answers);
            if let Some(reason) = super::certs::reissue_reason(
                kfacts.certs.get(files::KIBANA_CERT),
                &spec,
                ca_new,
                self.facts.now,
            ) {
                file_steps.push(Step::IssueCert {
                    spec,
                    cert_path: certs_dir.join(files::KIBANA_CERT),
                    key_path: certs_dir.join(files::KIBANA_KEY),
                    owner: owner.clone(),
                    reason,
                });
            }
        }
        if !file_steps.is_empty() && !kfacts.certs_dir_exists {
            self.steps.push(Step::CreateDir {
                path: certs_dir.clone(),
                mode: 0o750,
                owner: owner.clone(),
            });
        }
        self.steps.extend(file_steps);

        // kibana_system's password goes to the keystore whenever this apply sets it.
        let kibana_reset = self.answers.passwords.users.iter().any(|(u, s)| {
            u == "kibana_system" && *s != SecretRef::Keep && !self.password_current(u)
        });
        if kibana_reset {
            self.steps.push(Step::KeystoreSet {
                product: Product::Kibana,
                path: kfacts.keystore.path.clone(),
                entry: "elasticsearch.password".to_string(),
                value: SecretSource::UserPassword("kibana_system".to_string()),
                owner: owner.clone(),
            });
        } else if !keystore_has(&kfacts.keystore, "elasticsearch.password")
            && kfacts
                .parsed
                .settings
                .get("elasticsearch.password")
                .is_none()
        {
            self.note("Kibana has no elasticsearch.password and es-secure cannot recover the current kibana_system password: set `passwords.rotate: true` (or `passwords.kibana_system: env:NAME`) to set a new one.");
        }
        for key in KIBANA_ENCRYPTION_KEYS {
            if !keystore_has(&kfacts.keystore, key) && kfacts.parsed.settings.get(key).is_none() {
                self.steps.push(Step::KeystoreSet {
                    product: Product::Kibana,
                    path: kfacts.keystore.path.clone(),
                    entry: key.to_string(),
                    value: SecretSource::Random(32),
                    owner: owner.clone(),
                });
            }
        }

        let edits = self.kibana_edits(kfacts, kanswers, &certs_dir);
        let after = yaml_edit::apply_edits(
            &kfacts.yml_path.display().to_string(),
            &kfacts.yml_text,
            &edits,
            &EditOptions::default(),
        )?;
        if after != kfacts.yml_text {
            self.steps.push(Step::EditSettings {
                product: Product::Kibana,
                path: kfacts.yml_path.clone(),
                before: kfacts.yml_text.clone(),
                after,
            });
        }
        if self.steps.iter().any(|s| match s {
            Step::EditSettings { product, .. } | Step::KeystoreSet { product, .. } => {
                *product == Product::Kibana
            }
            Step::IssueCert { cert_path, .. }
            | Step::InstallCaCert {
                path: cert_path, ..
            } => cert_path.starts_with(&kfacts.config_dir),
            _ => false,
        }) {
            self.note("Restart Kibana after the apply so it picks up its new settings and keystore (e.g. `systemctl restart kibana`).");
        }
        Ok(())
    }

    pub(super) fn kibana_edits(
        &self,
        kfacts: &KibanaFacts,
        kanswers: &KibanaAnswers,
        certs_dir: &Path,
    ) -> Vec<Edit> {
        let tier = self.answers.tier;
        let s = &kfacts.parsed.settings;
        let scheme = if tier == Tier::Https { "https" } else { "http" };
        let hosts = match s.value("elasticsearch.hosts") {
            Some(v) => {
                let list = match v {
                    SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
                    other => vec![other.as_plain()],
                };
                list.into_iter()
                    .map(|h| with_scheme(&h, scheme))
                    .collect::<Vec<_>>()
            }
            None => vec![es_url(self.facts, self.answers)],
        };
        let mut edits = vec![
            set("elasticsearch.hosts", SettingValue::list(hosts)),
            set("elasticsearch.username", SettingValue::str("kibana_system")),
        ];
        // Secrets belong in kibana.keystore, and a service token cannot be combined with a
        // username.
        for key in [
            "elasticsearch.password",
            "elasticsearch.serviceAccountToken",
        ] {
            if s.get(key).is_some() {
                edits.push(Edit::Remove {
                    key: key.to_string(),
                });
            }
        }
        if tier == Tier::Https {
            let ca = certs_dir.join(files::CA_CERT).display().to_string();
            edits.push(set(
                "elasticsearch.ssl.certificateAuthorities",
                SettingValue::list([ca]),
            ));
            edits.push(set(
                "elasticsearch.ssl.verificationMode",
                SettingValue::str("full"),
            ));
        }
        if kanswers.server_https {
            edits.push(set("server.ssl.enabled", SettingValue::Bool(true)));
            edits.push(set(
                "server.ssl.certificate",
                SettingValue::str(certs_dir.join(files::KIBANA_CERT).display().to_string()),
            ));
            edits.push(set(
                "server.ssl.key",
                SettingValue::str(certs_dir.join(files::KIBANA_KEY).display().to_string()),
            ));
        }
        if let Some(url) = &kanswers.public_url {
            edits.push(set("server.publicBaseUrl", SettingValue::str(url.clone())));
        }
        edits
    }
}

pub(super) fn with_scheme(host: &str, scheme: &str) -> String {
    let rest = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    format!("{scheme}://{rest}")
}
