//! The security posture: one row per layer of Elastic's defence-in-depth list, each ok, warn
//! or fail with the fix, judged from the detected files and the license `status` read from
//! the node (audit logging and IP filtering are no-ops below Gold). Pure: it must not read
//! files or ask the node itself; the license arrives as [`LicenseSeen`].

use serde::Serialize;

use crate::domain::facts::{Facts, Severity};
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;

/// Version of the JSON shape of [`Posture`]; raised on any incompatible change (2: the
/// `license` object, and the audit/IP filter rows judged by it).
pub const SCHEMA_VERSION: u32 = 2;

/// Certificates and CAs expiring within this many days are a warning.
const EXPIRY_WARN_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Row {
    pub layer: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do; `None` when the row is ok.
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Posture {
    pub schema_version: u32,
    /// The cluster's license as `status` read it (`GET _license`), or why it could not.
    pub license: LicenseSeen,
    pub rows: Vec<Row>,
}

/// The license as seen by `status`: its type and status, or why they are unknown.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct LicenseSeen {
    /// `basic`, `gold`, `platinum`, `enterprise`, `trial`; `None` when unknown.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `active`, `expired` or `invalid`; `None` when unknown.
    pub status: Option<String>,
    /// Why the license is unknown (`node not reachable`, …); `None` when it is known.
    pub unknown: Option<String>,
}

impl LicenseSeen {
    pub fn known(kind: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            kind: Some(kind.into()),
            status: Some(status.into()),
            unknown: None,
        }
    }

    pub fn unknown(why: impl Into<String>) -> Self {
        Self {
            kind: None,
            status: None,
            unknown: Some(why.into()),
        }
    }

    /// `trial (active)`, or `unknown (node not reachable)`.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.status) {
            (Some(k), Some(s)) => format!("{k} ({s})"),
            _ => format!(
                "unknown ({})",
                self.unknown.as_deref().unwrap_or("not asked")
            ),
        }
    }
}

impl Posture {
    pub fn any_fail(&self) -> bool {
        self.rows.iter().any(|r| r.level == Level::Fail)
    }
}

fn row(layer: &'static str, level: Level, detail: impl Into<String>, fix: Option<&str>) -> Row {
    Row {
        layer,
        level,
        detail: detail.into(),
        fix: if level == Level::Ok {
            None
        } else {
            fix.map(str::to_string)
        },
    }
}

fn plain(s: &Settings, key: &str) -> Option<String> {
    s.value(key).map(SettingValue::as_plain)
}

fn list(s: &Settings, key: &str) -> Option<Vec<String>> {
    s.value(key).map(|v| match v {
        SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
        other => vec![other.as_plain()],
    })
}

/// Judge every layer from `facts` and the license `status` read from the node.
pub fn assess(facts: &Facts, license: &LicenseSeen) -> Posture {
    let es = &facts.es;
    let s = &es.parsed.settings;
    let tier = es.tier.tier;
    let mut rows = Vec::new();
    use Level::{Fail, Ok, Warn};

    rows.push(if tier >= Tier::Minimal {
        row("security on", Ok, "xpack.security.enabled", None)
    } else {
        row(
            "security on",
            Fail,
            "security is off: anyone who reaches the node reads and writes everything",
            Some("es-secure apply with `tier: minimal` or higher"),
        )
    });

    let verification = plain(s, "xpack.security.transport.ssl.verification_mode");
    rows.push(match (tier >= Tier::Basic, verification.as_deref()) {
        (true, Some("none")) => row(
            "transport TLS",
            Fail,
            "on, but verification_mode: none (any certificate is accepted)",
            Some("set `transport_verification: full` in the answers and apply"),
        ),
        (true, Some("certificate")) => row(
            "transport TLS",
            Warn,
            "on, verification_mode: certificate (host names not checked)",
            Some("set `transport_verification: full` in the answers and apply"),
        ),
        (true, _) => row("transport TLS", Ok, "on, verification_mode: full", None),
        (false, _) => row(
            "transport TLS",
            if s.value("discovery.type")
                .is_some_and(|v| v.as_plain() == "single-node")
            {
                Warn
            } else {
                Fail
            },
            "off: nodes talk in clear and any host can join",
            Some("es-secure apply with `tier: basic` or higher (a full-cluster restart)"),
        ),
    });

    rows.push(if tier == Tier::Https {
        row("HTTP TLS", Ok, "on", None)
    } else {
        row(
            "HTTP TLS",
            Fail,
            "off: passwords and data cross the network in clear",
            Some("es-secure apply with `tier: https`"),
        )
    });

    rows.push(match list(s, "xpack.security.authc.anonymous.roles") {
        Some(roles) if !roles.is_empty() => row(
            "anonymous access",
            Warn,
            format!("anonymous requests get roles {}", roles.join(", ")),
            Some("remove `xpack.security.authc.anonymous.*` unless that is intended"),
        ),
        _ if tier >= Tier::Minimal => row(
            "anonymous access",
            Ok,
            "off (401 without credentials)",
            None,
        ),
        _ => row(
            "anonymous access",
            Fail,
            "everyone is anonymous while security is off",
            Some("es-secure apply with `tier: minimal` or higher"),
        ),
    });

    let current = &facts.state.passwords_current;
    let set = current.values().filter(|v| **v).count();
    rows.push(if !current.is_empty() && set == current.len() {
        row(
            "built-in passwords",
            Ok,
            format!("{set} set by es-secure"),
            None,
        )
    } else {
        row(
            "built-in passwords",
            Warn,
            "es-secure has no record of setting them (they may still be bootstrap/auto-generated)",
            Some("es-secure apply (passwords: generate), or `passwords.rotate: true`"),
        )
    });

    let audit_on = plain(s, "xpack.security.audit.enabled").as_deref() == Some("true");
    rows.push(if audit_on {
        gold_row("audit logging", "enabled", license)
    } else {
        row(
            "audit logging",
            Warn,
            "off: failed logins and denied requests leave no trace",
            Some("`hardening.audit: {}` in the answers (needs a Gold+ license or a trial)"),
        )
    });

    let filters: Vec<&str> = [
        ("xpack.security.transport.filter.allow", "transport"),
        ("xpack.security.http.filter.allow", "HTTP"),
    ]
    .into_iter()
    .filter(|(k, _)| s.value(k).is_some())
    .map(|(_, layer)| layer)
    .collect();
    rows.push(if filters.is_empty() {
        row(
            "IP filtering",
            Warn,
            "no allow list: any host that reaches the ports may connect",
            Some("`hardening.ip_filter` in the answers (needs a Gold+ license or a trial)"),
        )
    } else {
        gold_row(
            "IP filtering",
            &format!("{} allow list set", filters.join(" and ")),
            license,
        )
    });

    let mut old = Vec::new();
    let mut pinned = false;
    for layer in ["transport", "http"] {
        if let Some(p) = list(
            s,
            &format!("xpack.security.{layer}.ssl.supported_protocols"),
        ) {
            pinned = true;
            old.extend(
                p.into_iter()
                    .filter(|v| !matches!(v.as_str(), "TLSv1.3" | "TLSv1.2")),
            );
        }
    }
    rows.push(if !old.is_empty() {
        row(
            "TLS versions",
            Fail,
            format!("obsolete versions allowed: {}", old.join(", ")),
            Some("`hardening.tls_protocols: [TLSv1.3, TLSv1.2]` in the answers"),
        )
    } else if pinned {
        row("TLS versions", Ok, "TLSv1.3/TLSv1.2 only", None)
    } else {
        row(
            "TLS versions",
            Warn,
            "not pinned: whatever the JDK enables (TLSv1.3/1.2 with the bundled JDK)",
            Some("`hardening.tls_protocols: [TLSv1.3, TLSv1.2]` in the answers"),
        )
    });

    rows.push(match &es.keystore.entries {
        _ if !es.keystore.exists => row(
            "keystore password",
            Ok,
            "no elasticsearch.keystore yet (no secrets stored)",
            None,
        ),
        None => row(
            "keystore password",
            Ok,
            "elasticsearch.keystore is password-protected",
            None,
        ),
        _ => row(
            "keystore password",
            Warn,
            "elasticsearch.keystore is obfuscated, not encrypted: anyone who reads the file reads its secrets",
            Some("`elasticsearch-keystore passwd`, and give the service the password (ES_KEYSTORE_PASSPHRASE_FILE)"),
        ),
    });

    rows.push(match facts.host.service_user.as_deref() {
        Some("root") => row(
            "service user",
            Fail,
            "Elasticsearch is configured to run as root",
            Some("run it as a dedicated unprivileged user (package default `elasticsearch`)"),
        ),
        Some(u) if facts.host.service_user_exists => {
            row("service user", Ok, format!("`{u}` (not root)"), None)
        }
        Some(u) => row(
            "service user",
            Warn,
            format!("`{u}` does not exist on this host"),
            Some("create the user, or pass --es-user"),
        ),
        None => row("service user", Warn, "unknown", Some("pass --es-user")),
    });

    let blocking: Vec<&str> = facts
        .host
        .findings
        .iter()
        .filter(|f| matches!(f.severity, Severity::Blocking | Severity::Overridable))
        .map(|f| f.text.as_str())
        .collect();
    rows.push(if blocking.is_empty() {
        row("file modes and owners", Ok, "no findings", None)
    } else {
        row(
            "file modes and owners",
            Fail,
            blocking.join("; "),
            Some("see Findings above for each fix"),
        )
    });

    let plaintext: Vec<String> = s
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| {
            let last = k.rsplit('.').next().unwrap_or_default();
            (last == "password" || last == "key_password" || last == "key_passphrase")
                && k.contains(".ssl.")
        })
        .collect();
    rows.push(if plaintext.is_empty() {
        row("plaintext secrets", Ok, "none in elasticsearch.yml", None)
    } else {
        row(
            "plaintext secrets",
            Fail,
            format!("in elasticsearch.yml: {}", plaintext.join(", ")),
            Some("es-secure apply moves them into the keystore"),
        )
    });

    let soonest = es
        .certs
        .iter()
        .map(|(n, c)| (n.clone(), (c.not_after - facts.now) / 86_400))
        .min_by_key(|(_, d)| *d);
    rows.push(match soonest {
        None if tier >= Tier::Basic => row(
            "certificate expiry",
            Warn,
            "no certificate es-secure can read",
            Some("es-secure apply re-issues them"),
        ),
        None => row("certificate expiry", Ok, "no certificates in use", None),
        Some((n, d)) => expiry_row("certificate expiry", &n, d),
    });
    rows.push(match &facts.ca {
        Some(ca) => expiry_row(
            "CA expiry",
            "es-secure CA",
            (ca.not_after - facts.now) / 86_400,
        ),
        None => row("CA expiry", Ok, "no es-secure CA on this host", None),
    });

    if let Some(k) = &facts.kibana {
        let missing: Vec<&str> = crate::domain::planner::KIBANA_ENCRYPTION_KEYS
            .iter()
            .copied()
            .filter(|key| {
                !k.keystore
                    .entries
                    .as_ref()
                    .is_some_and(|e| e.iter().any(|n| n == key))
                    && k.parsed.settings.get(key).is_none()
            })
            .collect();
        rows.push(if missing.is_empty() {
            row("Kibana encryption keys", Ok, "all three set", None)
        } else {
            row(
                "Kibana encryption keys",
                Warn,
                format!("missing: {}", missing.join(", ")),
                Some("es-secure apply with the `kibana` section generates them"),
            )
        });
    }
    Posture {
        schema_version: SCHEMA_VERSION,
        license: license.clone(),
        rows,
    }
}

/// A layer that is configured but works only on a Gold (or better) license: ok on one, a
/// fail where Elasticsearch silently ignores it, a warning when the license is unknown.
fn gold_row(layer: &'static str, what: &str, license: &LicenseSeen) -> Row {
    match (&license.kind, &license.status) {
        (Some(kind), Some(status)) if license_is_gold(kind, status) => row(
            layer,
            Level::Ok,
            format!("{what} (license {kind}, {status})"),
            None,
        ),
        (Some(kind), Some(status)) => row(
            layer,
            Level::Fail,
            if kind == "basic" {
                format!(
                    "configured but no-op on Basic: {what}, but the license is basic ({status}) and Elasticsearch silently ignores it"
                )
            } else {
                format!(
                    "configured but no-op: {what}, but the license is {kind} ({status}), not an active Gold or higher, and Elasticsearch silently ignores it"
                )
            },
            Some(
                "start a trial (`POST _license/start_trial?acknowledge=true`) or install a Gold+ license; or take the setting out so it does not look secure",
            ),
        ),
        _ => row(
            layer,
            Level::Warn,
            format!(
                "{what}; license {}: it works only on a Gold+ license or a trial",
                license.describe()
            ),
            Some(
                "run `es-secure status` where it reaches the node (security on: the elastic password in the passwords file es-secure wrote, or `--answers` with `auth.method: elastic-password`), or check `GET _license`",
            ),
        ),
    }
}

/// Whether Gold features (audit logging, IP filtering) work under a license of this type and
/// status: an active Gold, Platinum, Enterprise or trial license.
pub fn license_is_gold(kind: &str, status: &str) -> bool {
    status == "active" && matches!(kind, "gold" | "platinum" | "enterprise" | "trial")
}

/// How to fix an expiring row: a leaf certificate is renewed from the same CA without a
/// restart; a new CA is not something `renew` makes.
fn renew_fix(layer: &str) -> &'static str {
    if layer == "CA expiry" {
        "es-secure apply re-issues it (within 30 days of expiry)"
    } else {
        "es-secure renew issues it again from the same CA, without a restart"
    }
}

fn expiry_row(layer: &'static str, name: &str, days: i64) -> Row {
    if days < 0 {
        row(
            layer,
            Level::Fail,
            format!("{name} expired {} days ago", -days),
            Some(renew_fix(layer)),
        )
    } else if days <= EXPIRY_WARN_DAYS {
        row(
            layer,
            Level::Warn,
            format!("{name} expires in {days} days"),
            Some(renew_fix(layer)),
        )
    } else {
        row(layer, Level::Ok, format!("{name}: {days} days left"), None)
    }
}

/// The posture as text, one row per layer.
pub fn render(p: &Posture) -> String {
    let mut out = format!("Posture\n  license: {}\n", p.license.describe());
    for r in &p.rows {
        out.push_str(&format!(
            "  [{:<4}] {:<22} {}\n",
            r.level.as_str(),
            r.layer,
            r.detail
        ));
        if let Some(fix) = &r.fix {
            out.push_str(&format!("         fix: {fix}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_rows_follow_the_license() {
        let judged = |l: LicenseSeen| gold_row("audit logging", "enabled", &l);
        let ok = judged(LicenseSeen::known("platinum", "active"));
        assert_eq!(ok.level, Level::Ok);
        assert_eq!(ok.fix, None);
        let expired = judged(LicenseSeen::known("gold", "expired"));
        assert_eq!(expired.level, Level::Fail);
        assert!(
            expired.detail.contains("gold (expired)"),
            "{}",
            expired.detail
        );
        let basic = judged(LicenseSeen::known("basic", "active"));
        assert!(basic.detail.starts_with("configured but no-op on Basic"));
        let unknown = judged(LicenseSeen::unknown("node not reachable"));
        assert_eq!(unknown.level, Level::Warn);
        assert!(
            unknown
                .detail
                .contains("license unknown (node not reachable)"),
            "{}",
            unknown.detail
        );
    }
}
