//! Apply, before the first write: the license check for Gold features. Audit logging and IP
//! filtering are silently ignored on a Basic license, so writing them there would give false
//! assurance; when the plan changes their settings, the running node's license is read
//! (`GET _license`) and a license below Gold refuses the apply. It must not write any
//! configuration (a temporary superuser lives only for the one read: journaled in a
//! transaction of its own before its first byte, so even a SIGKILL is undone by the next run,
//! and removed right after).

use std::time::Duration;

use anyhow::{anyhow, bail};

use crate::domain::answers::{AuthMethod, url_host};
use crate::domain::plan::{Plan, Product, Step};
use crate::domain::settings;
use crate::domain::tier::Tier;
use crate::shell::es_client::{EsClient, License};
use crate::shell::temp_admin::TempAdmin;
use crate::shell::txn::StateDir;

use super::Run;

/// Settings whose effect needs a Gold (or better) license.
const GOLD_PREFIXES: [&str; 3] = [
    "xpack.security.audit.",
    "xpack.security.transport.filter.",
    "xpack.security.http.filter.",
];

/// How long a just-written temporary superuser may take to be accepted (the file realm
/// reloads every 5 s).
const AUTH_WAIT: Duration = Duration::from_secs(30);

impl Run<'_> {
    /// Refuse (nothing changed) when the plan writes Gold-only settings and the running node's
    /// license is below Gold, or cannot be read.
    pub(super) fn check_license(&self, plan: &Plan, state: &StateDir) -> anyhow::Result<()> {
        let features = self.answers.hardening.gold_features();
        if features.is_empty() || !plan_changes_gold_settings(plan) {
            return Ok(());
        }
        let url = self.current_url();
        let what = features.join(" and ");
        let license = self.read_license(&url, state).map_err(|e| {
            anyhow!(
                "refusing to apply; nothing was changed: the answers turn on {what}, which need a Gold or higher license, and es-secure could not read this cluster's license at {url}: {e:#}\nhelp: start Elasticsearch and run the apply again (with `auth.method: elastic-password` if the temporary superuser cannot be used), or leave those sections out of `hardening`"
            )
        })?;
        if license.gold_or_better() {
            return Ok(());
        }
        bail!(
            "refusing to apply; nothing was changed: the answers turn on {what}, which need a Gold or higher license, but this cluster's license is `{}` ({}); on it Elasticsearch silently ignores these settings, so writing them would only look secure\noptions:\n  - start a 30-day trial: `curl -u elastic -X POST '{url}/_license/start_trial?acknowledge=true'` (then run the apply again)\n  - install a Gold, Platinum or Enterprise license (`PUT _license`), then run the apply again\n  - leave `hardening.audit` and `hardening.ip_filter` out of the answers (TLS versions and Kibana sessions work on every license)",
            license.kind,
            license.status
        )
    }

    /// Where the node answers now, before this apply changes anything: the tier it has, not
    /// the one the answers ask for.
    fn current_url(&self) -> String {
        let target = crate::domain::planner::es_url(self.facts, self.answers);
        if self.facts.es.tier.tier == Tier::Https || !target.starts_with("https://") {
            return target;
        }
        let rest = target.trim_start_matches("https://");
        match url_host(&target) {
            // Plain HTTP to a loopback-reachable node stays on loopback (passwords go there).
            Some(h) if h == "localhost" => format!("http://127.0.0.1{}", &rest[h.len()..]),
            _ => format!("http://{rest}"),
        }
    }

    fn read_license(&self, url: &str, state: &StateDir) -> anyhow::Result<License> {
        let ca_pem = self
            .facts
            .ca
            .as_ref()
            .map(|c| c.cert_pem.as_str())
            .or_else(|| self.facts.bundle.as_ref().map(|b| b.ca_cert_pem.as_str()));
        let client = EsClient::new(url, crate::shell::verify::trust_for(url, ca_pem)?)?
            .with_interrupts(self.interrupts.clone());
        if self.facts.es.tier.tier == Tier::None {
            // Security is off: the license is readable without credentials.
            return Ok(client.license()?);
        }
        match &self.answers.auth {
            AuthMethod::ElasticPassword(_) => {
                let pw = self
                    .passwords
                    .get("__auth_elastic")
                    .ok_or_else(|| anyhow!("the current elastic password was not resolved"))?;
                Ok(client
                    .with_credentials(crate::shell::es_client::Credentials {
                        username: "elastic".to_string(),
                        password: pw.clone(),
                    })
                    .license()?)
            }
            // With a bootstrap password the node is not secured yet on a first run, and the
            // password es-secure knows is not in effect before the restart: use the
            // temporary superuser, as for the default method.
            AuthMethod::TemporarySuperuser | AuthMethod::BootstrapPassword => {
                let admin =
                    TempAdmin::create(state, &self.facts.es.config_dir, "apply: license read")?;
                let client = client.with_credentials(admin.credentials());
                let read = client
                    .authenticate_retrying(AUTH_WAIT)
                    .and_then(|_| client.license())
                    .map_err(anyhow::Error::from);
                // The user goes before the result is looked at.
                admin.remove()?;
                read
            }
        }
    }
}

/// Kibana's settings whose effect needs a Gold (or better) license.
const KIBANA_GOLD_PREFIXES: [&str; 1] = ["xpack.security.audit."];

/// Whether the plan's elasticsearch.yml or kibana.yml edit changes any Gold-only setting.
fn plan_changes_gold_settings(plan: &Plan) -> bool {
    plan.steps.iter().any(|s| match s {
        Step::EditSettings {
            product,
            path,
            before,
            after,
        } => {
            let prefixes: &[&str] = match product {
                Product::Elasticsearch => &GOLD_PREFIXES,
                Product::Kibana => &KIBANA_GOLD_PREFIXES,
            };
            let file = path.display().to_string();
            let (Ok(b), Ok(a)) = (
                settings::parse(&file, before.as_ref()),
                settings::parse(&file, after.as_ref()),
            ) else {
                // Unparseable here means the planner could not have edited it either; be safe.
                return true;
            };
            let (b, a) = (b.settings, a.settings);
            b.iter()
                .chain(a.iter())
                .any(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)) && b.value(k) != a.value(k))
        }
        _ => false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn edit(before: &str, after: &str) -> Plan {
        Plan {
            from: Tier::None,
            to: Tier::Minimal,
            restart: crate::domain::plan::RestartKind::Node,
            steps: vec![Step::EditSettings {
                product: Product::Elasticsearch,
                path: "/etc/elasticsearch/elasticsearch.yml".into(),
                before: before.to_string().into(),
                after: after.to_string().into(),
            }],
            notes: Vec::new(),
        }
    }

    #[test]
    fn only_a_change_to_gold_settings_needs_the_license() {
        let base = "xpack.security.enabled: true\n";
        assert!(!plan_changes_gold_settings(&edit(
            "xpack.security.enabled: false\n",
            base
        )));
        assert!(plan_changes_gold_settings(&edit(
            base,
            "xpack.security.enabled: true\nxpack.security.audit.enabled: true\n"
        )));
        assert!(plan_changes_gold_settings(&edit(
            "xpack.security.http.filter.allow: [\"127.0.0.1\"]\n",
            "xpack.security.http.filter.allow: [\"10.0.0.1\"]\n"
        )));
        // Already written (a re-run): no license read.
        let same = "xpack.security.audit.enabled: true\n";
        assert!(!plan_changes_gold_settings(&edit(
            same,
            &format!("{same}xpack.security.http.ssl.supported_protocols: [TLSv1.3]\n")
        )));
    }

    #[test]
    fn kibana_audit_settings_need_the_license_too() {
        let mut plan = edit("a: 1\n", "a: 1\n");
        plan.steps.push(Step::EditSettings {
            product: Product::Kibana,
            path: "/etc/kibana/kibana.yml".into(),
            before: "server.port: 5601\n".to_string().into(),
            after: "server.port: 5601\nxpack.security.audit.enabled: true\n"
                .to_string()
                .into(),
        });
        assert!(plan_changes_gold_settings(&plan));
        // Kibana's session settings work on every license.
        if let Some(Step::EditSettings { after, .. }) = plan.steps.last_mut() {
            *after = "server.port: 5601\nxpack.security.session.idleTimeout: 1h\n"
                .to_string()
                .into();
        }
        assert!(!plan_changes_gold_settings(&plan));
    }

    #[test]
    fn gold_means_an_active_paid_or_trial_license() {
        let l = |kind: &str, status: &str| License {
            kind: kind.to_string(),
            status: status.to_string(),
        };
        assert!(l("trial", "active").gold_or_better());
        assert!(l("platinum", "active").gold_or_better());
        assert!(!l("basic", "active").gold_or_better());
        assert!(!l("gold", "expired").gold_or_better());
    }
}
