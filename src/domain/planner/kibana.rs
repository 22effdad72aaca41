//! Kibana in the plan: its CA copy and server certificate steps, kibana.keystore entries
//! (kibana_system's password or a service account token, the encryption keys), the
//! kibana.yml edits and the REST step creating the token. Pure planning: it must not read
//! files or keystores or call Elasticsearch (the shell puts what it found into [`Facts`]).

use std::path::Path;

use super::{KIBANA_ENCRYPTION_KEYS, PlanError, Planner, es_url, files, keystore_has, set};
use crate::domain::answers::{KibanaAnswers, KibanaEsAuth, SecretRef};
use crate::domain::facts::{KibanaFacts, TokenCheck};
use crate::domain::plan::{Owner, Product, SecretSource, Step};
use crate::domain::settings::SettingValue;
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::{self, Edit, EditError, EditOptions};

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

        let token_mode = kanswers.es_auth == KibanaEsAuth::ServiceToken;
        // kibana_system's password goes to the keystore whenever this apply sets it.
        let kibana_reset = self.answers.passwords.users.iter().any(|(u, s)| {
            u == "kibana_system" && *s != SecretRef::Keep && !self.password_current(u)
        });
        if token_mode {
            // Kibana's credential is the token (its REST step comes after the passwords).
            self.plan_kibana_token_files(kfacts, &owner);
        } else {
            self.plan_kibana_password_files(kfacts, kibana_reset, &owner);
        }
        if !kfacts.keystore.path.starts_with(&kfacts.config_dir) {
            self.note(format!(
                "Kibana reads {} (the keystore in its data directory takes precedence over the config directory's), so that is the keystore es-secure uses",
                kfacts.keystore.path.display()
            ));
        }
        for key in KIBANA_ENCRYPTION_KEYS {
            if keystore_has(&kfacts.keystore, key) {
                continue;
            }
            if kfacts.parsed.settings.get(key).is_some() {
                // The key in use must survive (saved objects are encrypted with it): moved.
                self.move_to_kibana_keystore(kfacts, key, &owner);
            } else {
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
            self.note_kibana_changes(kfacts, &after)?;
            self.steps.push(Step::EditSettings {
                product: Product::Kibana,
                path: kfacts.yml_path.clone(),
                before: kfacts.yml_text.clone().into(),
                after: after.into(),
            });
        }
        if self.steps.iter().any(|s| match s {
            Step::EditSettings { product, .. }
            | Step::KeystoreSet { product, .. }
            | Step::KeystoreRemove { product, .. } => *product == Product::Kibana,
            Step::IssueCert { cert_path, .. }
            | Step::InstallCaCert {
                path: cert_path, ..
            } => cert_path.starts_with(&kfacts.config_dir),
            _ => false,
        }) || self.kibana_token_step().is_some()
        {
            self.note("Restart Kibana after the apply so it picks up its new settings and keystore (e.g. `systemctl restart kibana`).");
        }
        Ok(())
    }

    /// A note for each setting the kibana.yml edit drops or changes, saying why.
    fn note_kibana_changes(&mut self, kfacts: &KibanaFacts, after: &str) -> Result<(), PlanError> {
        let file = kfacts.yml_path.display().to_string();
        let after = crate::domain::settings::parse(&file, after)
            .map_err(|e| PlanError::Edit(EditError::Read(e)))?
            .settings;
        let moved: Vec<String> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::KeystoreSet {
                    product: Product::Kibana,
                    value: SecretSource::PlaintextSetting { key, .. },
                    ..
                } => Some(key.clone()),
                _ => None,
            })
            .collect();
        let ks_path = kfacts.keystore.path.display().to_string();
        let yml_user = kfacts
            .parsed
            .settings
            .value("elasticsearch.username")
            .map(SettingValue::as_plain);
        let token_mode = self
            .answers
            .kibana
            .as_ref()
            .is_some_and(|k| k.es_auth == KibanaEsAuth::ServiceToken);
        let why = |key: &str| -> Option<String> {
            if moved.iter().any(|k| k == key) {
                return Some(format!(
                    "a plaintext secret; its value moves into {ks_path} (same name) and the line is deleted"
                ));
            }
            match key {
                "elasticsearch.username" | "elasticsearch.password" if token_mode => Some(format!(
                    "Kibana logs in with a service account token from {ks_path} instead (`kibana.es_auth: service-token`; Kibana refuses a username together with a token); the line is deleted"
                )),
                "elasticsearch.password" => Some(match &yml_user {
                    Some(u) if u != "kibana_system" => format!(
                        "the plaintext password of `{u}` is deleted, not kept: Kibana logs in as kibana_system from now on (its password goes to {ks_path}); change `{u}`'s password if the file was readable by others"
                    ),
                    _ => format!(
                        "a plaintext secret; {ks_path} holds the password Kibana uses, so the line is deleted"
                    ),
                }),
                "elasticsearch.serviceAccountToken" => Some(
                    "Kibana logs in as kibana_system instead of with this service account token (the two cannot be combined); the line is deleted: delete the token in Elasticsearch if nothing else uses it".to_string(),
                ),
                k if KIBANA_ENCRYPTION_KEYS.contains(&k) => Some(format!(
                    "{ks_path} already has this key, and Kibana reads the keystore's value over kibana.yml's; the plaintext line is deleted"
                )),
                _ => None,
            }
        };
        for text in super::notes::setting_change_notes(&file, &kfacts.parsed.settings, &after, &why)
        {
            self.note(text);
        }
        Ok(())
    }

    /// Whether kibana.yml's plaintext `elasticsearch.password` belongs to `kibana_system`
    /// (the user Kibana logs in as afterwards). A password for another user (often `elastic`)
    /// is not kept: the edit deletes it and it is not moved.
    fn kibana_yml_password_is_kibana_systems(&self, kfacts: &KibanaFacts) -> bool {
        let s = &kfacts.parsed.settings;
        s.get("elasticsearch.password").is_some()
            && s.value("elasticsearch.username")
                .is_some_and(|u| u.as_plain() == "kibana_system")
    }

    /// Move the plaintext value of `key` in kibana.yml into kibana.keystore (same entry name;
    /// Kibana stores it as a JSON string, even when it looks like a number).
    fn move_to_kibana_keystore(&mut self, kfacts: &KibanaFacts, key: &str, owner: &Owner) {
        self.steps.push(Step::KeystoreSet {
            product: Product::Kibana,
            path: kfacts.keystore.path.clone(),
            entry: key.to_string(),
            value: SecretSource::PlaintextSetting {
                path: kfacts.yml_path.clone(),
                key: key.to_string(),
            },
            owner: owner.clone(),
        });
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
        let token_mode = kanswers.es_auth == KibanaEsAuth::ServiceToken;
        let mut edits = vec![set("elasticsearch.hosts", SettingValue::list(hosts))];
        if token_mode {
            // The token (in kibana.keystore) is Kibana's only credential.
            if s.get("elasticsearch.username").is_some() {
                edits.push(Edit::Remove {
                    key: "elasticsearch.username".to_string(),
                });
            }
        } else {
            edits.push(set(
                "elasticsearch.username",
                SettingValue::str("kibana_system"),
            ));
        }
        // Secrets belong in kibana.keystore (plan_kibana moved the ones still needed; the
        // keystore's value wins over kibana.yml's where both exist), and a service token cannot
        // be combined with a username. yaml_edit deletes these lines rather than commenting
        // them out.
        for key in ["elasticsearch.password", TOKEN_ENTRY]
            .into_iter()
            .chain(KIBANA_ENCRYPTION_KEYS)
        {
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
        edits.extend(self.kibana_hardening_edits(kanswers.server_https));
        edits
    }
}

/// Kibana's setting (and kibana.keystore entry) for a service account token.
pub const TOKEN_ENTRY: &str = "elasticsearch.serviceAccountToken";

impl Planner<'_> {
    /// `kibana.es_auth: service-token`, the file side: kibana.keystore keeps no
    /// username/password (Kibana refuses them next to a token), and a plaintext token in
    /// kibana.yml (what Kibana's enrollment writes) moves into kibana.keystore, where the
    /// token step checks it before creating another.
    fn plan_kibana_token_files(&mut self, kfacts: &KibanaFacts, owner: &Owner) {
        for entry in ["elasticsearch.username", "elasticsearch.password"] {
            if keystore_has(&kfacts.keystore, entry) {
                self.steps.push(Step::KeystoreRemove {
                    product: Product::Kibana,
                    path: kfacts.keystore.path.clone(),
                    entry: entry.to_string(),
                });
            }
        }
        if !keystore_has(&kfacts.keystore, TOKEN_ENTRY)
            && kfacts.parsed.settings.get(TOKEN_ENTRY).is_some()
        {
            self.move_to_kibana_keystore(kfacts, TOKEN_ENTRY, owner);
        }
    }

    /// `kibana.es_auth: password`, the file side: kibana_system's password into
    /// kibana.keystore (set by this apply, or moved from kibana.yml), and no token there
    /// (Kibana refuses a token next to `elasticsearch.username`).
    fn plan_kibana_password_files(&mut self, kfacts: &KibanaFacts, reset: bool, owner: &Owner) {
        if keystore_has(&kfacts.keystore, TOKEN_ENTRY) {
            self.steps.push(Step::KeystoreRemove {
                product: Product::Kibana,
                path: kfacts.keystore.path.clone(),
                entry: TOKEN_ENTRY.to_string(),
            });
            self.note(format!(
                "Kibana logs in as kibana_system (`kibana.es_auth: password`), so the service account token in {} is removed (Kibana cannot combine the two); delete the token in Elasticsearch if nothing else uses it",
                kfacts.keystore.path.display()
            ));
        }
        if reset {
            self.steps.push(Step::KeystoreSet {
                product: Product::Kibana,
                path: kfacts.keystore.path.clone(),
                entry: "elasticsearch.password".to_string(),
                value: SecretSource::UserPassword("kibana_system".to_string()),
                owner: owner.clone(),
            });
        } else if !keystore_has(&kfacts.keystore, "elasticsearch.password") {
            if self.kibana_yml_password_is_kibana_systems(kfacts) {
                // `keep` keeps the password Kibana uses today: it moves from kibana.yml (where
                // the edit deletes it) into kibana.keystore.
                self.move_to_kibana_keystore(kfacts, "elasticsearch.password", owner);
            } else {
                self.note("Kibana has no kibana_system password es-secure can keep (none in kibana.keystore or kibana.yml), and es-secure cannot recover the current one: set `passwords.rotate: true` (or `passwords.kibana_system: env:NAME`) to set a new one.");
            }
        }
    }

    /// The REST step that gives Kibana its service account token, unless detection saw the
    /// token in kibana.keystore authenticate as `elastic/kibana`. A bundle's host sets no
    /// credentials (the host that wrote the bundle does), so it gets none.
    pub(super) fn kibana_token_step(&self) -> Option<Step> {
        let kanswers = self.answers.kibana.as_ref()?;
        let kfacts = self.facts.kibana.as_ref()?;
        if kanswers.es_auth != KibanaEsAuth::ServiceToken
            || self.facts.bundle.is_some()
            || (kfacts.service_token == TokenCheck::Authenticates
                && !self.steps.iter().any(|s| {
                    matches!(s, Step::KeystoreSet { product: Product::Kibana, entry, .. } if entry == TOKEN_ENTRY)
                }))
        {
            return None;
        }
        Some(Step::ServiceToken {
            url: es_url(self.facts, self.answers),
            name: service_token_name(self.facts.host.hostname.as_deref()),
            keystore: kfacts.keystore.path.clone(),
            owner: Owner {
                user: None,
                group: kfacts.config_group.clone(),
            },
        })
    }
}

/// The name of the token es-secure creates for Kibana on this host: `es-secure-<host>`, in
/// the characters Elasticsearch allows in a token name (`[A-Za-z0-9_-]`, at most 256).
pub fn service_token_name(hostname: Option<&str>) -> String {
    let host: String = hostname
        .unwrap_or("kibana")
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if host.is_empty() {
        "es-secure-kibana".to_string()
    } else {
        format!("es-secure-{host}")
    }
}

pub(super) fn with_scheme(host: &str, scheme: &str) -> String {
    let rest = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    format!("{scheme}://{rest}")
}
