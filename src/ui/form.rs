//! The wizard's form: the answers as the operator is editing them (plain strings, so a
//! half-typed IP is not lost), and the one conversion back to [`RawAnswers`] that both
//! frontends validate through [`Answers::from_raw`].
//!
//! Pure data and string handling: no terminal, no files. It must not invent validation rules
//! of its own beyond "this text is not an IP / a number"; everything else is `from_raw`'s job,
//! so the wizard and an answers file can never disagree.

use std::net::IpAddr;

use serde_saphyr::{Location, Spanned};

use crate::domain::answers::{
    AnswerError, Answers, AuthMethodKind, BUILTIN_USERS, CaKeyword, DEFAULT_AUDIT_EVENTS,
    DEFAULT_KIBANA_IDLE_TIMEOUT, DEFAULT_KIBANA_LIFESPAN, DEFAULT_TLS_PROTOCOLS, RawAnswers,
    RawAudit, RawCaSource, RawHardening, RawIpFilter, RawKibana, RawKibanaSession, RawNode,
};
use crate::domain::certspec::KeyType;
use crate::domain::facts::Facts;
use crate::domain::tier::Tier;

/// Where the CA comes from, as offered on the Certificates screen.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CaChoice {
    /// Create a new CA (or reuse the one an earlier run created).
    Generate,
    /// Require the CA an earlier run created.
    Existing,
    /// The operator's own CA certificate and key.
    Files,
}

impl CaChoice {
    pub const ALL: [Self; 3] = [Self::Generate, Self::Existing, Self::Files];

    pub fn label(self) -> &'static str {
        match self {
            Self::Generate => "new CA (es-secure creates one; reused on later runs)",
            Self::Existing => "reuse the CA from an earlier es-secure run",
            Self::Files => "bring your own CA (certificate + key files)",
        }
    }
}

/// The key types offered, strongest-default first.
pub const KEY_TYPES: [KeyType; 4] = [
    KeyType::EcdsaP256,
    KeyType::Rsa2048,
    KeyType::Rsa3072,
    KeyType::Rsa4096,
];

/// How one built-in user's password is chosen.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PwMode {
    /// A random password es-secure generates.
    Generate,
    /// Leave this user's password alone.
    Keep,
    /// The operator's own password, read at apply time from `env:NAME` or `file:/PATH`
    /// (never typed into the wizard: answers files hold no secrets).
    Reference,
}

impl PwMode {
    pub fn next(self) -> Self {
        match self {
            Self::Generate => Self::Keep,
            Self::Keep => Self::Reference,
            Self::Reference => Self::Generate,
        }
    }

    pub fn prev(self) -> Self {
        match self {
            Self::Generate => Self::Reference,
            Self::Keep => Self::Generate,
            Self::Reference => Self::Keep,
        }
    }
}

/// One built-in user's password choice.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PwForm {
    pub user: &'static str,
    pub mode: PwMode,
    /// `env:NAME` or `file:/PATH`; kept when the mode is switched away and back.
    pub reference: String,
}

/// One cluster node as typed: lists are comma- or space-separated text.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NodeForm {
    pub name: String,
    pub dns: String,
    pub ip: String,
}

/// Every answer the wizard asks for, as editable text and choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// The answers the form started from; fields the wizard does not ask about (restart mode,
    /// URLs, timeouts) are carried through unchanged.
    pub base: RawAnswers,
    pub tier: Tier,
    pub nodes: Vec<NodeForm>,
    /// Index of the node on this host.
    pub this_node: usize,
    pub ca: CaChoice,
    pub ca_cert: String,
    pub ca_key: String,
    pub key_type: KeyType,
    pub validity: String,
    pub kibana_on: bool,
    pub kibana_dir: String,
    pub kibana_url: String,
    /// Kibana logs in with a service account token (`kibana.es_auth: service-token`) instead
    /// of kibana_system's password.
    pub kibana_token: bool,
    pub passwords: Vec<PwForm>,
    pub pw_show: bool,
    pub pw_file: String,
    pub auth: AuthMethodKind,
    pub auth_ref: String,
    pub hardening: HardeningForm,
}

/// The TLS version choices the Hardening screen cycles through (empty: leave as is).
pub const TLS_CHOICES: [&[&str]; 3] = [&[], &DEFAULT_TLS_PROTOCOLS, &["TLSv1.3"]];

/// The Hardening screen's answers (`hardening` in an answers file). Each layer off means
/// "leave it alone", as a missing subsection does in the file.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct HardeningForm {
    pub audit: bool,
    /// The events recorded (not edited here: the default selection, or the file's own).
    pub audit_events: Vec<String>,
    pub ip_filter: bool,
    /// Comma-separated; empty means every node's addresses.
    pub transport_allow: String,
    pub http_allow: String,
    /// Comma-separated; empty means `_all` when an allow list is given.
    pub http_deny: String,
    /// Empty: leave the TLS versions alone.
    pub tls_protocols: Vec<String>,
    pub session: bool,
    pub idle_timeout: String,
    pub lifespan: String,
}

impl HardeningForm {
    fn new(raw: Option<&RawHardening>) -> Self {
        let h = raw.cloned().unwrap_or_default();
        let audit_events = h
            .audit
            .as_ref()
            .and_then(|a| a.events.clone())
            .unwrap_or_else(|| DEFAULT_AUDIT_EVENTS.iter().map(|e| e.to_string()).collect());
        let f = h.ip_filter.clone().unwrap_or_default();
        let s = h.kibana_session.clone().unwrap_or_default();
        Self {
            audit: h.audit.as_ref().is_some_and(|a| a.enabled),
            audit_events,
            ip_filter: h.ip_filter.is_some(),
            transport_allow: f.transport_allow.unwrap_or_default().join(", "),
            http_allow: f.http_allow.join(", "),
            http_deny: f.http_deny.join(", "),
            tls_protocols: h.tls_protocols.unwrap_or_default(),
            session: h.kibana_session.is_some(),
            idle_timeout: s
                .idle_timeout
                .unwrap_or_else(|| DEFAULT_KIBANA_IDLE_TIMEOUT.to_string()),
            lifespan: s
                .lifespan
                .unwrap_or_else(|| DEFAULT_KIBANA_LIFESPAN.to_string()),
        }
    }

    /// The `hardening` section for these choices. `base` is the section the form started
    /// from: what the screen does not show (an explicit `audit.enabled: false`) is kept.
    fn to_raw(&self, base: Option<&RawHardening>) -> Option<RawHardening> {
        let words = |text: &str| list(text).map(str::to_string).collect::<Vec<_>>();
        let base_audit = base.and_then(|b| b.audit.clone());
        let audit = if self.audit {
            let default: Vec<String> = DEFAULT_AUDIT_EVENTS.iter().map(|e| e.to_string()).collect();
            Some(RawAudit {
                enabled: true,
                // The default selection is written as "the default" (no key), so a later
                // version's default applies to a replay too.
                events: (self.audit_events != default).then(|| self.audit_events.clone()),
            })
        } else {
            base_audit.filter(|a| !a.enabled)
        };
        let ip_filter = self.ip_filter.then(|| {
            let transport = words(&self.transport_allow);
            RawIpFilter {
                transport_allow: (!transport.is_empty()).then_some(transport),
                http_allow: words(&self.http_allow),
                http_deny: words(&self.http_deny),
            }
        });
        // Kept with Kibana off too (the screen hides it then): the planner leaves Kibana alone
        // and says so, as it does for an answers file.
        let kibana_session = self.session.then(|| RawKibanaSession {
            idle_timeout: Some(self.idle_timeout.trim().to_string()),
            lifespan: Some(self.lifespan.trim().to_string()),
        });
        let out = RawHardening {
            audit,
            tls_protocols: (!self.tls_protocols.is_empty()).then(|| self.tls_protocols.clone()),
            // Not on the screen: an answers file's list is kept as it is.
            tls_cipher_suites: base.and_then(|b| b.tls_cipher_suites.clone()),
            kibana_session,
            ip_filter,
        };
        (out != RawHardening::default()).then_some(out)
    }

    /// Cycle the TLS versions through [`TLS_CHOICES`].
    pub fn cycle_tls(&mut self, delta: isize) {
        let n = TLS_CHOICES.len();
        let cur = TLS_CHOICES
            .iter()
            .position(|c| {
                c.iter()
                    .copied()
                    .eq(self.tls_protocols.iter().map(String::as_str))
            })
            .unwrap_or(0);
        let next = (cur + n).saturating_add_signed(delta) % n;
        self.tls_protocols = TLS_CHOICES[next].iter().map(|p| p.to_string()).collect();
    }

    /// How the TLS versions choice reads.
    pub fn tls_label(&self) -> String {
        if self.tls_protocols.is_empty() {
            "leave as is".to_string()
        } else {
            self.tls_protocols.join(", ")
        }
    }
}

fn spanned(value: String) -> Spanned<String> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn error(key: impl Into<String>, message: impl Into<String>) -> AnswerError {
    AnswerError {
        key: key.into(),
        line: None,
        message: message.into(),
    }
}

impl Form {
    /// The form for prefilled answers. `facts` supplies what the answers leave open (e.g. the
    /// detected Kibana directory when the answers do not mention Kibana).
    pub fn new(raw: &RawAnswers, facts: &Facts) -> Self {
        let nodes: Vec<NodeForm> = raw
            .nodes
            .iter()
            .map(|n| NodeForm {
                name: n.name.value.clone(),
                dns: n
                    .dns
                    .iter()
                    .map(|d| d.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                ip: n
                    .ip
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect();
        let this_node = raw
            .this_node
            .as_ref()
            .and_then(|t| nodes.iter().position(|n| &n.name == t))
            .unwrap_or(0);
        let (ca, ca_cert, ca_key) = match &raw.certificates.ca {
            RawCaSource::Keyword(CaKeyword::Generate) => (CaChoice::Generate, "", ""),
            RawCaSource::Keyword(CaKeyword::Existing) => (CaChoice::Existing, "", ""),
            RawCaSource::Files { cert, key } => (
                CaChoice::Files,
                cert.to_str().unwrap_or_default(),
                key.to_str().unwrap_or_default(),
            ),
        };
        let detected_kibana = facts
            .kibana
            .as_ref()
            .map(|k| k.config_dir.display().to_string());
        let (kibana_on, kibana_dir, kibana_url) = match &raw.kibana {
            Some(k) => (
                true,
                k.config_dir.display().to_string(),
                k.public_url.clone().unwrap_or_default(),
            ),
            None => (
                false,
                detected_kibana.unwrap_or_else(|| "/etc/kibana".to_string()),
                String::new(),
            ),
        };
        let kibana_token = raw
            .kibana
            .as_ref()
            .and_then(|k| k.es_auth.as_ref())
            .is_some_and(|a| a.value.trim() == "service-token");
        let p = &raw.passwords;
        let refs = [
            &p.kibana_system,
            &p.logstash_system,
            &p.beats_system,
            &p.apm_system,
            &p.remote_monitoring_user,
            &p.elastic,
        ];
        let passwords = BUILTIN_USERS
            .iter()
            .zip(refs)
            .map(|(user, r)| {
                let text = r.as_ref().map(|s| s.value.as_str());
                let (mode, reference) = match text {
                    None | Some("generate") => (PwMode::Generate, String::new()),
                    Some("keep") => (PwMode::Keep, String::new()),
                    Some(other) => (PwMode::Reference, other.to_string()),
                };
                PwForm {
                    user,
                    mode,
                    reference,
                }
            })
            .collect();
        Self {
            base: raw.clone(),
            tier: raw.tier.max(Tier::Minimal),
            nodes,
            this_node,
            ca,
            ca_cert: ca_cert.to_string(),
            ca_key: ca_key.to_string(),
            key_type: raw.certificates.key_type,
            validity: raw.certificates.validity_days.to_string(),
            kibana_on,
            kibana_dir,
            kibana_url,
            kibana_token,
            passwords,
            pw_show: raw.passwords.show,
            pw_file: raw
                .passwords
                .output_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            auth: raw.auth.method,
            auth_ref: raw
                .auth
                .elastic_password
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            hardening: HardeningForm::new(raw.hardening.as_ref()),
        }
    }

    /// The transport allow list Elasticsearch gets when the form's is empty: every node's
    /// addresses, as the planner derives it.
    pub fn node_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in &self.nodes {
            out.extend(list(&n.ip).map(str::to_string));
            out.extend(list(&n.dns).map(str::to_string));
        }
        out.dedup();
        out
    }

    /// The raw answers this form stands for, plus the problems only the form can see (text
    /// that is not an IP address or a number). Fields are never dropped silently: a bad IP
    /// is reported, not skipped.
    pub fn to_raw(&self) -> (RawAnswers, Vec<AnswerError>) {
        let mut errors = Vec::new();
        let mut raw = self.base.clone();
        raw.tier = self.tier;
        raw.nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut ip = Vec::new();
                for text in list(&n.ip) {
                    match text.parse::<IpAddr>() {
                        Ok(addr) => ip.push(addr),
                        Err(_) => errors.push(error(
                            format!("nodes[{i}].ip"),
                            format!("`{text}` is not an IP address"),
                        )),
                    }
                }
                RawNode {
                    name: spanned(n.name.trim().to_string()),
                    dns: list(&n.dns).map(|d| spanned(d.to_string())).collect(),
                    ip,
                }
            })
            .collect();
        raw.this_node = self
            .nodes
            .get(self.this_node)
            .map(|n| n.name.trim().to_string());
        raw.certificates.ca = match self.ca {
            CaChoice::Generate => RawCaSource::Keyword(CaKeyword::Generate),
            CaChoice::Existing => RawCaSource::Keyword(CaKeyword::Existing),
            CaChoice::Files => {
                for (key, text) in [
                    ("certificates.ca.cert", &self.ca_cert),
                    ("certificates.ca.key", &self.ca_key),
                ] {
                    if text.trim().is_empty() {
                        errors.push(error(key, "give the path of the file"));
                    }
                }
                RawCaSource::Files {
                    cert: self.ca_cert.trim().into(),
                    key: self.ca_key.trim().into(),
                }
            }
        };
        raw.certificates.key_type = self.key_type;
        match self.validity.trim().parse::<u32>() {
            Ok(days) => raw.certificates.validity_days = days,
            Err(_) => errors.push(error(
                "certificates.validity_days",
                format!("`{}` is not a number of days", self.validity.trim()),
            )),
        }
        raw.kibana = if self.kibana_on {
            let base = self.base.kibana.clone().unwrap_or_default();
            let url = self.kibana_url.trim();
            if self.kibana_dir.trim().is_empty() {
                errors.push(error("kibana.config_dir", "give Kibana's config directory"));
            }
            Some(RawKibana {
                config_dir: self.kibana_dir.trim().into(),
                public_url: (!url.is_empty()).then(|| url.to_string()),
                // `None` is the default (password), which keeps saved answers short.
                es_auth: self
                    .kibana_token
                    .then(|| spanned("service-token".to_string())),
                ..base
            })
        } else {
            None
        };
        let value = |pw: &PwForm| match pw.mode {
            // `None` means "generate" to `from_raw`, and keeps saved answers short.
            PwMode::Generate => None,
            PwMode::Keep => Some(spanned("keep".to_string())),
            PwMode::Reference => Some(spanned(pw.reference.trim().to_string())),
        };
        for pw in &self.passwords {
            let v = value(pw);
            let p = &mut raw.passwords;
            match pw.user {
                "kibana_system" => p.kibana_system = v,
                "logstash_system" => p.logstash_system = v,
                "beats_system" => p.beats_system = v,
                "apm_system" => p.apm_system = v,
                "remote_monitoring_user" => p.remote_monitoring_user = v,
                _ => p.elastic = v,
            }
        }
        raw.passwords.show = self.pw_show;
        let file = self.pw_file.trim();
        raw.passwords.output_file = (!file.is_empty()).then(|| file.into());
        raw.auth.method = self.auth;
        raw.auth.elastic_password = (self.auth == AuthMethodKind::ElasticPassword)
            .then(|| spanned(self.auth_ref.trim().to_string()));
        raw.hardening = self.hardening.to_raw(self.base.hardening.as_ref());
        (raw, errors)
    }

    /// Validate everything: the form's own checks, then [`Answers::from_raw`].
    pub fn validate(&self) -> Result<(RawAnswers, Answers), Vec<AnswerError>> {
        let (raw, mut errors) = self.to_raw();
        match Answers::from_raw(&raw) {
            Ok(answers) if errors.is_empty() => Ok((raw, answers)),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Whether the Certificates screen applies (the minimal tier issues no certificates).
    pub fn needs_certs(&self) -> bool {
        self.tier >= Tier::Basic
    }

    /// Whether browsers would reach Kibana over HTTPS with these answers (what `from_raw`
    /// derives: the https tier and an https public URL, or no URL at all).
    pub fn browser_https(&self) -> bool {
        let url = self.kibana_url.trim();
        self.tier == Tier::Https && (url.is_empty() || url.starts_with("https://"))
    }

    /// Switch the public URL's scheme, which is what decides browser HTTPS.
    pub fn set_browser_https(&mut self, on: bool, hostname: Option<&str>) {
        let url = self.kibana_url.trim().to_string();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .map(str::to_string);
        let rest = rest.unwrap_or_else(|| format!("{}:5601", hostname.unwrap_or("localhost")));
        self.kibana_url = format!("{}://{rest}", if on { "https" } else { "http" });
    }
}

/// The tiers the operator may choose: never below the current one (es-secure only upgrades),
/// and never `none`.
pub fn offered_tiers(current: Tier) -> Vec<Tier> {
    Tier::ALL
        .into_iter()
        .filter(|t| *t >= current.max(Tier::Minimal))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn raw(text: &str) -> RawAnswers {
        crate::domain::answers::parse_raw(text).unwrap()
    }

    #[test]
    fn offered_tiers_never_go_down() {
        assert_eq!(
            offered_tiers(Tier::None),
            vec![Tier::Minimal, Tier::Basic, Tier::Https]
        );
        assert_eq!(offered_tiers(Tier::Basic), vec![Tier::Basic, Tier::Https]);
        assert_eq!(offered_tiers(Tier::Https), vec![Tier::Https]);
    }

    #[test]
    fn bad_ip_is_reported_with_its_key() {
        let r = raw("version: 1\ntier: basic\nnodes:\n  - {name: a, ip: [10.0.0.1]}\n");
        let facts = crate::ui::tui::demo::facts();
        let mut f = Form::new(&r, &facts);
        f.nodes[0].ip = "10.0.0.1, 10.0.0.300".into();
        let errs = f.validate().unwrap_err();
        assert_eq!(errs[0].key, "nodes[0].ip");
        assert!(errs[0].message.contains("10.0.0.300"));
    }

    #[test]
    fn round_trip_keeps_answers() {
        let r = raw(
            "version: 1\ntier: https\nnodes:\n  - {name: n1, dns: [n1.example], ip: [10.0.0.1]}\n  - {name: n2, dns: [n2.example], ip: [10.0.0.2]}\nthis_node: n2\ncertificates: {ca: {cert: /x/ca.crt, key: /x/ca.key}, key_type: rsa-3072, validity_days: 400}\nkibana: {config_dir: /etc/kibana, public_url: \"https://k.example:5601\"}\npasswords: {elastic: env:PW, beats_system: keep, output_file: /root/pw.txt, show: true}\n",
        );
        let facts = crate::ui::tui::demo::facts();
        let f = Form::new(&r, &facts);
        let (again, errs) = f.to_raw();
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            Answers::from_raw(&r).unwrap(),
            Answers::from_raw(&again).unwrap()
        );
    }

    #[test]
    fn the_kibana_token_question_round_trips() {
        let facts = crate::ui::tui::demo::facts();
        let r = raw(
            "version: 1\ntier: minimal\nkibana: {config_dir: /etc/kibana, es_auth: service-token}\n",
        );
        let mut f = Form::new(&r, &facts);
        assert!(f.kibana_token);
        let (again, errs) = f.to_raw();
        assert!(errs.is_empty(), "{errs:?}");
        let es_auth = |r: &RawAnswers| Answers::from_raw(r).unwrap().kibana.unwrap().es_auth;
        assert_eq!(
            es_auth(&again),
            crate::domain::answers::KibanaEsAuth::ServiceToken
        );
        f.kibana_token = false;
        let (again, _) = f.to_raw();
        assert!(again.kibana.as_ref().unwrap().es_auth.is_none());
        assert_eq!(
            es_auth(&again),
            crate::domain::answers::KibanaEsAuth::Password
        );
    }

    #[test]
    fn browser_https_follows_the_url_scheme() {
        let facts = crate::ui::tui::demo::facts();
        let mut f = Form::new(&raw("version: 1\ntier: https\n"), &facts);
        f.kibana_on = true;
        assert!(f.browser_https());
        f.set_browser_https(false, Some("host-1"));
        assert_eq!(f.kibana_url, "http://host-1:5601");
        assert!(!f.browser_https());
        f.set_browser_https(true, None);
        assert_eq!(f.kibana_url, "https://host-1:5601");
    }
}
