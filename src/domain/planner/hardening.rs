//! The `hardening` answers in the plan: audit logging, IP filtering and TLS versions in
//! elasticsearch.yml, session timeouts and TLS versions in kibana.yml, the lock-out guard for
//! the HTTP allow list, and notes saying what each layer does and when it takes effect.
//! Pure planning: it must not read the license (apply does, because audit and IP filtering
//! are Gold features that Basic silently ignores) or anything else off the machine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::{PlanError, Planner, es_url, http_listens_on_loopback, set};
use crate::domain::answers::{IpFilterAnswers, filter_entry_matches, url_host};
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;
use crate::domain::yaml_edit::Edit;

const AUDIT: &str = "xpack.security.audit";
const TRANSPORT_FILTER: &str = "xpack.security.transport.filter";
const HTTP_FILTER: &str = "xpack.security.http.filter";
const TRANSPORT_PROTOCOLS: &str = "xpack.security.transport.ssl.supported_protocols";
const HTTP_PROTOCOLS: &str = "xpack.security.http.ssl.supported_protocols";
const TRANSPORT_CIPHERS: &str = "xpack.security.transport.ssl.cipher_suites";
const HTTP_CIPHERS: &str = "xpack.security.http.ssl.cipher_suites";

/// The IP filter settings for elasticsearch.yml, as (key, list) pairs; `None` values are
/// plain settings (`enabled: false`).
struct FilterPlan {
    transport_allow: Vec<String>,
    /// `None`: HTTP is not filtered (`…http.filter.enabled: false`).
    http: Option<(Vec<String>, Vec<String>)>,
}

impl Planner<'_> {
    /// The transport allow list: the answers' own, or every node's addresses.
    fn transport_allow(&self, f: &IpFilterAnswers) -> Vec<String> {
        match &f.transport_allow {
            Some(list) => list.clone(),
            None => {
                let mut out: Vec<String> = Vec::new();
                for node in &self.answers.nodes {
                    for ip in &node.ip {
                        out.push(ip.to_string());
                    }
                    out.extend(node.dns.iter().cloned());
                }
                out.dedup();
                out
            }
        }
    }

    fn filter_plan(&self, f: &IpFilterAnswers) -> FilterPlan {
        let transport_allow = self.transport_allow(f);
        let http = if f.http_allow.is_empty() && f.http_deny.is_empty() {
            None
        } else {
            Some((f.http_allow.clone(), f.http_deny.clone()))
        };
        FilterPlan {
            transport_allow,
            http,
        }
    }

    /// The hardening settings elasticsearch.yml gets.
    pub(super) fn es_hardening_edits(&self) -> Vec<Edit> {
        let h = &self.answers.hardening;
        let mut edits = Vec::new();
        if let Some(audit) = &h.audit {
            edits.push(set(
                &format!("{AUDIT}.enabled"),
                SettingValue::Bool(audit.enabled),
            ));
            if audit.enabled {
                edits.push(set(
                    &format!("{AUDIT}.logfile.events.include"),
                    SettingValue::list(audit.events.clone()),
                ));
            }
        }
        if let Some(f) = &h.ip_filter {
            let plan = self.filter_plan(f);
            if !plan.transport_allow.is_empty() {
                edits.push(set(
                    &format!("{TRANSPORT_FILTER}.allow"),
                    SettingValue::list(plan.transport_allow.clone()),
                ));
                edits.push(set(
                    &format!("{TRANSPORT_FILTER}.deny"),
                    SettingValue::list(["_all"]),
                ));
            }
            match plan.http {
                // HTTP would otherwise inherit the transport lists and shut out every client
                // that is not a node.
                None => edits.push(set(
                    &format!("{HTTP_FILTER}.enabled"),
                    SettingValue::Bool(false),
                )),
                Some((allow, deny)) => {
                    edits.push(set(
                        &format!("{HTTP_FILTER}.enabled"),
                        SettingValue::Bool(true),
                    ));
                    if !allow.is_empty() {
                        edits.push(set(
                            &format!("{HTTP_FILTER}.allow"),
                            SettingValue::list(allow),
                        ));
                    }
                    if !deny.is_empty() {
                        edits.push(set(
                            &format!("{HTTP_FILTER}.deny"),
                            SettingValue::list(deny),
                        ));
                    }
                }
            }
        }
        if !h.tls_protocols.is_empty() {
            if self.answers.tier >= Tier::Basic {
                edits.push(set(
                    TRANSPORT_PROTOCOLS,
                    SettingValue::list(h.tls_protocols.clone()),
                ));
            }
            if self.answers.tier == Tier::Https {
                edits.push(set(
                    HTTP_PROTOCOLS,
                    SettingValue::list(h.tls_protocols.clone()),
                ));
            }
        }
        if !h.tls_cipher_suites.is_empty() {
            if self.answers.tier >= Tier::Basic {
                edits.push(set(
                    TRANSPORT_CIPHERS,
                    SettingValue::list(h.tls_cipher_suites.clone()),
                ));
            }
            if self.answers.tier == Tier::Https {
                edits.push(set(
                    HTTP_CIPHERS,
                    SettingValue::list(h.tls_cipher_suites.clone()),
                ));
            }
        }
        edits
    }

    /// The hardening settings kibana.yml gets (`server_https`: browsers use HTTPS).
    pub(super) fn kibana_hardening_edits(&self, server_https: bool) -> Vec<Edit> {
        let h = &self.answers.hardening;
        let mut edits = Vec::new();
        if let Some(audit) = &h.audit {
            // Kibana's own audit trail (logins, saved-object access, space changes), next to
            // Elasticsearch's: the operator asked for audit logging of the stack.
            edits.push(set(
                &format!("{AUDIT}.enabled"),
                SettingValue::Bool(audit.enabled),
            ));
            if audit.enabled {
                let a = "xpack.security.audit.appender";
                for (key, value) in [
                    ("type", SettingValue::str("rolling-file")),
                    (
                        "fileName",
                        SettingValue::str(self.kibana_audit_file().display().to_string()),
                    ),
                    ("layout.type", SettingValue::str("json")),
                    ("policy.type", SettingValue::str("time-interval")),
                    ("policy.interval", SettingValue::str("24h")),
                    ("strategy.type", SettingValue::str("numeric")),
                    (
                        "strategy.max",
                        SettingValue::Number(KIBANA_AUDIT_KEEP.to_string()),
                    ),
                ] {
                    edits.push(set(&format!("{a}.{key}"), value));
                }
            }
        }
        if let Some(s) = &h.kibana_session {
            edits.push(set(
                "xpack.security.session.idleTimeout",
                SettingValue::str(s.idle_timeout.clone()),
            ));
            edits.push(set(
                "xpack.security.session.lifespan",
                SettingValue::str(s.lifespan.clone()),
            ));
        }
        if server_https && !h.tls_protocols.is_empty() {
            edits.push(set(
                "server.ssl.supportedProtocols",
                SettingValue::list(h.tls_protocols.clone()),
            ));
        }
        edits
    }

    /// Refuse an HTTP IP filter that would shut out the host es-secure runs on: es-secure's
    /// own REST calls (health wait, passwords, verify, `status`) and a Kibana on this host
    /// come from there.
    pub(super) fn check_ip_lockout(&self) -> Result<(), PlanError> {
        let Some(f) = &self.answers.hardening.ip_filter else {
            return Ok(());
        };
        let plan = self.filter_plan(f);
        let Some((allow, deny)) = &plan.http else {
            return Ok(());
        };
        // Elasticsearch's default: an unset HTTP allow list is the transport one.
        let allow = if allow.is_empty() {
            &plan.transport_allow
        } else {
            allow
        };
        let url = es_url(self.facts, self.answers);
        let mut must: Vec<(IpAddr, String)> = Vec::new();
        if http_listens_on_loopback(&self.facts.es.parsed.settings) {
            must.push((
                IpAddr::from([127, 0, 0, 1]),
                "127.0.0.1 (local tools and a Kibana on this host)".to_string(),
            ));
        }
        match url_host(&url) {
            Some(h) if h == "localhost" => {}
            Some(h) => match h.parse::<IpAddr>() {
                Ok(ip) => must.push((ip, format!("{ip} (es-secure reaches the node at {url})"))),
                Err(_) => {
                    let ips = self
                        .answers
                        .local_node()
                        .map(|n| n.ip.clone())
                        .unwrap_or_default();
                    if !ips.iter().any(|ip| allowed(allow, deny, *ip)) {
                        return Err(PlanError::IpFilterLockout {
                            who: format!(
                                "this host (es-secure reaches the node at {url}, and none of this node's IPs in the answers is allowed; host names in the list cannot be checked)"
                            ),
                        });
                    }
                }
            },
            None => {}
        }
        for (ip, who) in must {
            if !allowed(allow, deny, ip) {
                return Err(PlanError::IpFilterLockout { who });
            }
        }
        Ok(())
    }

    /// Notes for each hardening layer whose settings this plan changes: what it does, where
    /// it writes, whether a restart is needed, and the license it needs.
    pub(super) fn note_hardening(&mut self, before: &Settings, after: &Settings) {
        let changed = |prefix: &str| {
            before
                .iter()
                .chain(after.iter())
                .filter(|(k, _)| k.starts_with(prefix))
                .any(|(k, _)| before.value(k) != after.value(k))
        };
        let version = self.facts.es.version;
        let v = version
            .as_ref()
            .map_or_else(|| "this version".to_string(), ToString::to_string);
        let gold = "a Gold-license feature (a Basic license silently ignores it): apply reads the license first and refuses on Basic";
        let h = self.answers.hardening.clone();
        if let Some(audit) = &h.audit
            && changed(AUDIT)
        {
            if audit.enabled {
                let dynamic = version
                    .as_ref()
                    .is_some_and(|v| (v.major, v.minor) >= (9, 5));
                let when = if dynamic {
                    format!(
                        "`xpack.security.audit.enabled` is dynamic on {v}, but elasticsearch.yml is read at start: it takes effect at the restart in this plan"
                    )
                } else {
                    format!(
                        "`xpack.security.audit.enabled` is static on {v}: it takes effect at the restart in this plan (every node needs it)"
                    )
                };
                let logs = after
                    .value("path.logs")
                    .map_or_else(|| "the logs directory".to_string(), SettingValue::as_plain);
                let cluster = after
                    .value("cluster.name")
                    .map_or_else(|| "elasticsearch".to_string(), SettingValue::as_plain);
                self.note(format!(
                    "Audit logging: {} events go to {logs}/{cluster}_audit.json (rotated daily); {when}; {gold}.",
                    audit.events.join(", ")
                ));
            } else {
                self.note(
                    "Audit logging is turned off (`hardening.audit.enabled: false`); takes effect at the restart in this plan.",
                );
            }
        }
        if let Some(f) = &h.ip_filter
            && (changed(TRANSPORT_FILTER) || changed(HTTP_FILTER))
        {
            let plan = self.filter_plan(f);
            let transport = if plan.transport_allow.is_empty() {
                "transport: not filtered (no node addresses in the answers; set `hardening.ip_filter.transport_allow`)".to_string()
            } else {
                format!(
                    "transport: only {} (everything else denied)",
                    plan.transport_allow.join(", ")
                )
            };
            let http = match &plan.http {
                None => "HTTP: not filtered".to_string(),
                Some((allow, deny)) => format!(
                    "HTTP: allow {}, deny {} (an allow rule wins over a deny rule)",
                    if allow.is_empty() {
                        "the transport list".to_string()
                    } else {
                        allow.join(", ")
                    },
                    if deny.is_empty() {
                        "nothing".to_string()
                    } else {
                        deny.join(", ")
                    }
                ),
            };
            self.note(format!(
                "IP filtering: {transport}; {http}. The settings are dynamic, but elasticsearch.yml is read at start: they take effect at the restart in this plan; {gold}."
            ));
        }
        if !h.tls_protocols.is_empty() {
            if self.answers.tier == Tier::Minimal {
                self.note("`hardening.tls_protocols`: the minimal tier has no TLS, so no protocol settings are written.");
            } else if changed(TRANSPORT_PROTOCOLS) || changed(HTTP_PROTOCOLS) {
                let layers = if self.answers.tier == Tier::Https {
                    "transport and HTTP"
                } else {
                    "transport"
                };
                self.note(format!(
                    "TLS versions for {layers}: only {} (static settings: they take effect at the restart in this plan; older clients that cannot speak them are refused).",
                    h.tls_protocols.join(", ")
                ));
            }
        }
        if !h.tls_cipher_suites.is_empty() {
            if self.answers.tier == Tier::Minimal {
                self.note("`hardening.tls_cipher_suites`: the minimal tier has no TLS, so no cipher suites are written.");
            } else if changed(TRANSPORT_CIPHERS) || changed(HTTP_CIPHERS) {
                self.note(format!(
                    "Cipher suites for Elasticsearch's {}: only {} (static settings: they take effect at the restart in this plan). Kibana's server keeps its own list: `server.ssl.cipherSuites` takes OpenSSL names, which es-secure does not translate.",
                    if self.answers.tier == Tier::Https { "transport and HTTP" } else { "transport" },
                    h.tls_cipher_suites.join(", ")
                ));
            }
        }
        if let Some(audit) = &h.audit
            && audit.enabled
            && self.answers.kibana.is_some()
            && !self.facts.kibana.as_ref().is_some_and(|k| {
                k.parsed
                    .settings
                    .value("xpack.security.audit.enabled")
                    .is_some_and(SettingValue::is_true)
            })
        {
            let file = self.kibana_audit_file();
            self.note(format!(
                "Kibana audit logging: logins, saved-object and space access go to {} (JSON, a new file every day, {KIBANA_AUDIT_KEEP} kept); the directory must exist and be writable by the Kibana service user; takes effect at Kibana's restart; like Elasticsearch's, it needs a Gold license or a trial.",
                file.display()
            ));
        }
        if self.answers.kibana.is_none() && h.kibana_session.is_some() {
            self.note("`hardening.kibana_session`: there is no `kibana` section, so Kibana's session settings are left alone.");
        }
    }
}

/// How many rotated Kibana audit files are kept (one a day).
const KIBANA_AUDIT_KEEP: u32 = 7;

impl Planner<'_> {
    /// Where Kibana's audit events go: `audit.log` next to the log file kibana.yml already
    /// names (the packages' `/var/log/kibana/kibana.log`), else the packages' log directory,
    /// else `logs/` beside an archive install's config directory.
    pub(super) fn kibana_audit_file(&self) -> PathBuf {
        let named = self.facts.kibana.as_ref().and_then(|k| {
            k.parsed
                .settings
                .iter()
                .filter(|(key, _)| {
                    key.starts_with("logging.appenders.") && key.ends_with(".fileName")
                })
                .find_map(|(_, s)| {
                    let file = PathBuf::from(s.value.as_plain());
                    (file.is_absolute())
                        .then(|| file.parent().map(Path::to_path_buf))
                        .flatten()
                })
        });
        let dir = named.unwrap_or_else(|| {
            let config = self
                .answers
                .kibana
                .as_ref()
                .map(|k| k.config_dir.clone())
                .unwrap_or_else(|| PathBuf::from("/etc/kibana"));
            if config.starts_with("/etc") {
                PathBuf::from("/var/log/kibana")
            } else {
                config
                    .parent()
                    .map_or_else(|| PathBuf::from("logs"), |home| home.join("logs"))
            }
        });
        dir.join("audit.log")
    }
}

/// Whether Elasticsearch lets `ip` in: an allow rule wins, then a deny rule shuts out, and
/// anything unmatched is allowed.
fn allowed(allow: &[String], deny: &[String], ip: IpAddr) -> bool {
    allow.iter().any(|e| filter_entry_matches(e, ip))
        || !deny.iter().any(|e| filter_entry_matches(e, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_wins_over_deny_and_unmatched_is_allowed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let all = vec!["_all".to_string()];
        let allow = vec!["10.0.0.0/8".to_string()];
        assert!(allowed(&allow, &all, ip("10.1.2.3")));
        assert!(!allowed(&allow, &all, ip("127.0.0.1")));
        assert!(allowed(&[], &[], ip("127.0.0.1")));
        assert!(!allowed(&[], &["127.0.0.0/8".to_string()], ip("127.0.0.2")));
        // A host name in the allow list never counts as covering an address.
        assert!(!allowed(&["localhost".to_string()], &all, ip("127.0.0.1")));
    }
}
