//! The human-readable `status` report. Read-only (it reads the state directory and the file
//! realm, and never creates, locks or recovers anything); prints nothing itself.

use std::fmt::Write as _;

use crate::domain::facts::{ExistingCert, Facts, Severity};

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
            issuer_note(c, facts)
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

/// What `status` says about a certificate's issuer. The CA in the state directory decides
/// where there is one; a node without it (a bundle node) and a CA rotation between its
/// phases (b) and (c) are judged by the trust list es-secure wrote next to the certificate.
fn issuer_note(c: &ExistingCert, facts: &Facts) -> &'static str {
    let rotating = facts
        .state
        .ca_rotation
        .as_ref()
        .is_some_and(|r| r.phase == crate::domain::rotation::RotationPhase::NewLeaves);
    match (c.signed_by_ca, c.signed_by_trusted_ca, &facts.ca) {
        (true, _, _) => "",
        (false, true, _) if rotating => {
            " (signed by the new CA of the CA rotation; phase (c) makes it the only CA)"
        }
        (false, true, None) => " (signed by a CA of the trust list ca.crt next to it)",
        (false, _, Some(_)) => " (NOT signed by es-secure's CA)",
        (false, false, None) => " (NOT signed by a CA of the trust list ca.crt next to it)",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::facts::{CaFacts, sample_facts};
    use crate::domain::rotation::{CaRotation, RotationPhase};

    fn cert(ours: bool, trusted: bool) -> ExistingCert {
        ExistingCert {
            dns: vec![],
            ip: vec![],
            not_after: 0,
            not_before: 0,
            common_name: None,
            serial: String::new(),
            key_type: None,
            key_matches: true,
            signed_by_ca: ours,
            signed_by_trusted_ca: trusted,
            has_chain: false,
        }
    }

    fn with_ca(mut f: Facts) -> Facts {
        f.ca = Some(CaFacts {
            cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
            key_path: "/var/lib/es-secure/ca/ca.key".into(),
            fingerprint: "AA".into(),
            not_after: 0,
            subject: "CN=es-secure CA".into(),
            cert_pem: String::new(),
        });
        f
    }

    #[test]
    fn issuer_is_judged_by_the_ca_then_the_trust_list_and_the_rotation() {
        let plain = sample_facts("node.name: n1\n", 0);
        // The CA host: ours, or not.
        let host = with_ca(plain.clone());
        assert_eq!(issuer_note(&cert(true, true), &host), "");
        assert!(issuer_note(&cert(false, true), &host).contains("NOT signed by es-secure's CA"));
        // A bundle node has no CA: the trust list next to the certificate decides.
        assert!(!issuer_note(&cert(false, true), &plain).contains("NOT"));
        assert!(
            issuer_note(&cert(false, false), &plain)
                .contains("NOT signed by a CA of the trust list")
        );
        // Between rotation phases (b) and (c): the new CA's leaves are not foreign.
        let mut rotating = host.clone();
        rotating.state.ca_rotation = Some(CaRotation {
            phase: RotationPhase::NewLeaves,
            old_ca: "AA".into(),
            new_ca: "BB".into(),
            at: 0,
        });
        assert!(issuer_note(&cert(false, true), &rotating).contains("new CA of the CA rotation"));
        assert!(issuer_note(&cert(false, false), &rotating).contains("NOT signed"));
    }
}
