//! The human-readable `status` report. Read-only (it reads the state directory and the file
//! realm, and never creates, locks or recovers anything); prints nothing itself.

use std::fmt::Write as _;

use crate::domain::facts::{Facts, Severity};

/// Render the detected installation: paths, version, tier with evidence, certificates,
/// keystores and findings.
pub fn status_text(facts: &Facts) -> String {
    let mut out = String::new();
    let es = &facts.es;
    let _ = writeln!(out, "Elasticsearch");
    let _ = writeln!(out, "  layout:      {:?}", es.layout);
    let _ = writeln!(out, "  config:      {}", es.config_dir.display());
    if let Some(home) = &es.home {
        let _ = writeln!(out, "  home:        {}", home.display());
    }
    let _ = writeln!(
        out,
        "  version:     {}",
        es.version.map_or("unknown".to_string(), |v| v.to_string())
    );
    let _ = writeln!(out, "  tier:        {}", es.tier.tier);
    for e in &es.tier.evidence {
        let _ = writeln!(out, "    - {e}");
    }
    if let Some(block) = &es.parsed.autoconfig {
        let _ = writeln!(
            out,
            "  Elastic's security auto-configuration block: lines {}-{}",
            block.start_line, block.end_line
        );
    }
    match &es.keystore.entries {
        Some(entries) if es.keystore.exists => {
            let format = es
                .keystore
                .format
                .map_or_else(String::new, |f| format!("format {f}, "));
            let _ = writeln!(
                out,
                "  keystore:    {} ({format}{} entries: {})",
                es.keystore.path.display(),
                entries.len(),
                entries.join(", ")
            );
        }
        Some(_) => {
            let _ = writeln!(out, "  keystore:    none");
        }
        None => {
            let _ = writeln!(
                out,
                "  keystore:    {} (password-protected or unreadable)",
                es.keystore.path.display()
            );
        }
    }
    for (name, c) in &es.certs {
        let days = (c.not_after - facts.now) / 86_400;
        let _ = writeln!(
            out,
            "  cert {name}: {}, SANs {}{}",
            expiry_text(days),
            c.dns
                .iter()
                .cloned()
                .chain(c.ip.iter().map(|ip| format!("IP:{ip}")))
                .collect::<Vec<_>>()
                .join(", "),
            if c.signed_by_ca {
                ""
            } else {
                " (NOT signed by es-secure's CA)"
            }
        );
    }
    if let Some(ca) = &facts.ca {
        let days = (ca.not_after - facts.now) / 86_400;
        let _ = writeln!(out, "CA ({})", ca.cert_path.display());
        let _ = writeln!(out, "  subject:     {}", ca.subject);
        let _ = writeln!(out, "  SHA-256:     {}", ca.fingerprint);
        let _ = writeln!(out, "  expires:     {}", expiry_text(days));
    }
    if let Some(r) = &facts.state.ca_rotation {
        let _ = writeln!(out, "CA rotation:   {}", r.status_line());
    }
    match &facts.kibana {
        Some(k) => {
            let _ = writeln!(out, "Kibana");
            let _ = writeln!(out, "  config:      {}", k.config_dir.display());
            let user = k
                .parsed
                .settings
                .value("elasticsearch.username")
                .map(|v| v.as_plain());
            let _ = writeln!(
                out,
                "  username:    {}",
                user.unwrap_or_else(|| "(not set)".to_string())
            );
            if let Some(entries) = &k.keystore.entries {
                let _ = writeln!(
                    out,
                    "  keystore:    {} entries: {}",
                    entries.len(),
                    entries.join(", ")
                );
            }
        }
        None => {
            let _ = writeln!(out, "Kibana: not found");
        }
    }
    let host = &facts.host;
    let _ = writeln!(out, "Host");
    let _ = writeln!(
        out,
        "  service user: {}{}",
        host.service_user.as_deref().unwrap_or("(unknown)"),
        if host.service_user_exists {
            ""
        } else {
            " (does not exist)"
        }
    );
    attention(&mut out, facts);
    if facts.state.restart_pending {
        let _ = writeln!(
            out,
            "  a restart of Elasticsearch is pending from the last apply"
        );
    }
    if host.findings.is_empty() {
        let _ = writeln!(out, "Findings: none");
    } else {
        let _ = writeln!(out, "Findings");
        for f in &host.findings {
            let sev = match f.severity {
                Severity::Blocking => "BLOCKING",
                Severity::Overridable => "blocking, overridable",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(out, "  [{sev}] {}", f.text);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
        }
    }
    out
}

/// Certificates and the CA within this many days of expiry are called out.
const EXPIRY_WARNING_DAYS: i64 = 30;

fn expiry_text(days: i64) -> String {
    if days < 0 {
        format!("EXPIRED {} days ago: renew it now", -days)
    } else if days <= EXPIRY_WARNING_DAYS {
        format!("expires in {days} days — WITHIN {EXPIRY_WARNING_DAYS} DAYS: renew it soon")
    } else {
        format!("expires in {days} days")
    }
}

/// What an interrupted or killed run left behind, with the command that fixes it: an
/// incomplete transaction, temporary `es_secure_*` superusers in the file realm.
fn attention(out: &mut String, facts: &Facts) {
    let state_dir = &facts.state.state_dir;
    // Opening a missing state directory would create it; status changes nothing.
    if state_dir.is_dir()
        && let Ok(state) = crate::shell::txn::StateDir::open(state_dir)
        && let Ok(all) = crate::shell::txn::list(&state)
    {
        for t in all
            .iter()
            .filter(|t| t.status == crate::shell::txn::TxnStatus::Incomplete)
        {
            let _ = writeln!(
                out,
                "  INCOMPLETE apply {} ({}, {} files): an apply was interrupted or killed; some files may be new, some old\n      fix: `es-secure rollback` restores them (any apply or verify also rolls it back first); then run the apply again",
                t.id,
                t.label,
                t.paths.len()
            );
        }
    }
    match crate::shell::file_realm::leftover_users(&facts.es.config_dir) {
        Ok(users) if !users.is_empty() => {
            let _ = writeln!(
                out,
                "  LEFTOVER temporary superuser(s) in {}/users and users_roles: {}\n      fix: `es-secure rollback` removes them (so does any apply or verify), or delete their lines by hand",
                facts.es.config_dir.display(),
                users.join(", ")
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(
                out,
                "  could not check the file realm for leftover users: {e:#}"
            );
        }
    }
}
