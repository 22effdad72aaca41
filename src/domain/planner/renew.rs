//! The renew planner: which of this node's certificates (`transport.crt`, `http.crt`, Kibana's
//! `kibana-server.crt`) to issue again from the same CA, with the same subject, SANs, key type,
//! lifetime and file names, so Elasticsearch's reload of its TLS files (every 5 s, when the
//! names stay) picks them up without a restart. Pure, like the apply planner: it reads
//! [`Facts`] only, and must not plan settings edits, a restart or a new CA (a new CA is
//! `rotate-ca`, which needs every node to trust both CAs first).

use std::path::Path;

use thiserror::Error;

use super::files;
use crate::domain::answers::Answers;
use crate::domain::certspec::{CertPurpose, CertSpec, KeyType};
use crate::domain::facts::{ExistingCert, Facts};
use crate::domain::plan::{Note, Owner, Plan, Step};
use crate::domain::settings::SettingValue;

const DAY: i64 = 86_400;

/// Why there is nothing es-secure can renew here.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RenewError {
    #[error(
        "no es-secure CA in {dir}: renew issues certificates from the CA an apply created or imported there; nothing was changed\nhelp: pass the --state-dir the apply used"
    )]
    NoCa { dir: String },
    #[error(
        "no certificate es-secure issued was found under {dir}; nothing was changed\nhelp: secure the node with `es-secure apply` first"
    )]
    NoCertificates { dir: String },
}

/// The files of one renewable certificate, and who reads them.
struct Slot<'a> {
    name: &'a str,
    key: &'a str,
    purpose: CertPurpose,
    dir: &'a Path,
    owner: Owner,
}

/// The renew plan. `within_days`: only certificates expiring within that many days (or
/// already expired); `None`: every certificate of this node. Certificates the CA did not sign
/// (the operator's own) are left alone with a note. `all`: the answers naming the cluster's
/// nodes, for a new signed bundle for every other node (as apply writes them), whatever
/// `within_days` says: this host cannot see their certificates.
pub fn build_renew_plan(
    facts: &Facts,
    within_days: Option<u32>,
    all: Option<&Answers>,
) -> Result<Plan, RenewError> {
    if facts.ca.is_none() {
        return Err(RenewError::NoCa {
            dir: facts.state.state_dir.join("ca").display().to_string(),
        });
    }
    let es_dir = facts.es.config_dir.join("certs");
    let es_owner = Owner {
        user: None,
        group: facts
            .host
            .service_group
            .clone()
            .or_else(|| facts.es.config_group.clone()),
    };
    let mut slots = vec![
        (
            Slot {
                name: files::TRANSPORT_CERT,
                key: files::TRANSPORT_KEY,
                purpose: CertPurpose::Transport,
                dir: &es_dir,
                owner: es_owner.clone(),
            },
            facts.es.certs.get(files::TRANSPORT_CERT),
        ),
        (
            Slot {
                name: files::HTTP_CERT,
                key: files::HTTP_KEY,
                purpose: CertPurpose::Http,
                dir: &es_dir,
                owner: es_owner,
            },
            facts.es.certs.get(files::HTTP_CERT),
        ),
    ];
    let kibana_dir = facts.kibana.as_ref().map(|k| k.config_dir.join("certs"));
    if let (Some(k), Some(dir)) = (&facts.kibana, &kibana_dir) {
        slots.push((
            Slot {
                name: files::KIBANA_CERT,
                key: files::KIBANA_KEY,
                purpose: CertPurpose::KibanaServer,
                dir,
                owner: Owner {
                    user: None,
                    group: k.config_group.clone(),
                },
            },
            k.certs.get(files::KIBANA_CERT),
        ));
    }
    let found = slots.iter().filter(|(_, c)| c.is_some()).count();
    if found == 0 {
        return Err(RenewError::NoCertificates {
            dir: es_dir.display().to_string(),
        });
    }
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut kibana_renewed = false;
    for (slot, existing) in slots {
        let Some(c) = existing else { continue };
        let path = slot.dir.join(slot.name);
        if !c.signed_by_ca {
            notes.push(Note {
                text: format!(
                    "{} is not signed by es-secure's CA (your own certificate?): left alone; replace it yourself",
                    path.display()
                ),
            });
            continue;
        }
        let days_left = (c.not_after - facts.now).div_euclid(DAY);
        if let Some(w) = within_days
            && c.not_after - facts.now > i64::from(w) * DAY
        {
            notes.push(Note {
                text: format!(
                    "{} expires in {days_left} days, not within {w}: left alone",
                    path.display()
                ),
            });
            continue;
        }
        kibana_renewed |= slot.purpose == CertPurpose::KibanaServer;
        steps.push(Step::IssueCert {
            spec: renewal_spec(c, slot.purpose, facts),
            cert_path: path,
            key_path: slot.dir.join(slot.key),
            owner: slot.owner,
            reason: if days_left < 0 {
                format!("renewal: expired {} days ago", -days_left)
            } else {
                format!("renewal: expires in {days_left} days")
            },
        });
    }
    if steps
        .iter()
        .any(|s| matches!(s, Step::IssueCert { cert_path, .. } if cert_path.starts_with(&facts.es.config_dir)))
    {
        notes.push(Note {
            text: "No restart: Elasticsearch reloads certificate files that keep their names within 5 s (resource.reload.interval.high); renew waits until the node serves the new certificate".to_string(),
        });
    }
    if kibana_renewed {
        notes.push(Note {
            text: "Kibana 8.11.2 and later reload server.ssl.* on SIGHUP (es-secure sends it when kibana.yml's pid.file names a running process, else prints the command); older Kibana: restart Kibana".to_string(),
        });
    }
    if let Some(answers) = all {
        let cluster_name = facts
            .es
            .parsed
            .settings
            .value("cluster.name")
            .map(SettingValue::as_plain)
            .filter(|c| !c.starts_with("${"));
        let dir = facts.state.state_dir.join("bundles");
        let local = answers.local_node().map(|n| n.name.as_str());
        // One copy of the cluster's answers for all bundles.
        let shared = crate::domain::bundle::shared_answers(answers);
        for node in answers
            .nodes
            .iter()
            .filter(|n| Some(n.name.as_str()) != local)
        {
            steps.push(Step::WriteBundle {
                node: node.name.clone(),
                path: dir.join(format!("{}.bundle.yml", node.name)),
                contents: Box::new(crate::domain::bundle::contents_for(
                    answers,
                    &shared,
                    node,
                    cluster_name.clone(),
                )),
            });
        }
    }
    let tier = facts.es.tier.tier;
    Ok(Plan {
        from: tier,
        to: tier,
        // Elasticsearch reloads certificates that keep their file names: no restart.
        restart: crate::domain::plan::RestartKind::None,
        steps,
        notes,
    })
}

/// The same certificate again: subject, SANs, key type and lifetime of the one installed.
fn renewal_spec(c: &ExistingCert, purpose: CertPurpose, facts: &Facts) -> CertSpec {
    let fallback_cn = facts
        .host
        .hostname
        .clone()
        .unwrap_or_else(|| "es-secure".to_string());
    let lifetime = (c.not_after - c.not_before).div_euclid(DAY).clamp(1, 3650);
    CertSpec {
        common_name: c.common_name.clone().unwrap_or(fallback_cn),
        purpose: Some(purpose),
        dns: c.dns.clone(),
        ip: c.ip.clone(),
        key_type: c.key_type.unwrap_or(KeyType::EcdsaP256),
        validity_days: u32::try_from(lifetime).unwrap_or(365),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::facts::{CaFacts, sample_facts};

    const NOW: i64 = 1_800_000_000;

    fn cert(days_left: i64, signed: bool) -> ExistingCert {
        ExistingCert {
            dns: vec!["node-1.example".into(), "localhost".into()],
            ip: vec!["127.0.0.1".parse().unwrap()],
            not_after: NOW + days_left * DAY,
            not_before: NOW - 300 * DAY,
            common_name: Some("node-1".into()),
            serial: "01".into(),
            key_type: Some(KeyType::Rsa3072),
            key_matches: true,
            signed_by_ca: signed,
            signed_by_trusted_ca: false,
            has_chain: true,
        }
    }

    fn facts(transport: i64, http: i64) -> Facts {
        let mut f = sample_facts("node.name: node-1\n", NOW);
        f.ca = Some(CaFacts {
            cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
            key_path: "/var/lib/es-secure/ca/ca.key".into(),
            fingerprint: "AA".into(),
            not_after: NOW + 900 * DAY,
            subject: "CN=es-secure CA".into(),
            cert_pem: String::new(),
        });
        f.es.certs
            .insert("transport.crt".into(), cert(transport, true));
        f.es.certs.insert("http.crt".into(), cert(http, true));
        f
    }

    fn issued(plan: &Plan) -> Vec<(String, CertSpec)> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                Step::IssueCert {
                    spec, cert_path, ..
                } => Some((cert_path.display().to_string(), spec.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn renews_every_certificate_with_the_same_subject_sans_key_type_and_lifetime() {
        let plan = build_renew_plan(&facts(400, 20), None, None).unwrap();
        let got = issued(&plan);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "/etc/elasticsearch/certs/transport.crt");
        assert_eq!(got[1].0, "/etc/elasticsearch/certs/http.crt");
        let spec = &got[1].1;
        assert_eq!(spec.common_name, "node-1");
        assert_eq!(spec.dns, vec!["node-1.example", "localhost"]);
        assert_eq!(
            spec.ip,
            vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(spec.key_type, KeyType::Rsa3072);
        assert_eq!(spec.validity_days, 320);
        assert_eq!(spec.purpose, Some(CertPurpose::Http));
        // Only certificate steps: no settings edit, no restart.
        assert_eq!(plan.steps.len(), 2);
        assert!(plan.notes.iter().any(|n| n.text.contains("No restart")));
    }

    #[test]
    fn within_days_keeps_certificates_that_are_not_due() {
        let plan = build_renew_plan(&facts(400, 20), Some(30), None).unwrap();
        let got = issued(&plan);
        assert_eq!(got.len(), 1);
        assert!(got[0].0.ends_with("http.crt"));
        assert!(plan.notes.iter().any(|n| {
            n.text
                .contains("transport.crt expires in 400 days, not within 30")
        }));
        let none = build_renew_plan(&facts(400, 200), Some(30), None).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_certificate_the_ca_did_not_sign_is_left_alone() {
        let mut f = facts(10, 10);
        f.es.certs.insert("http.crt".into(), cert(10, false));
        let plan = build_renew_plan(&f, None, None).unwrap();
        assert_eq!(issued(&plan).len(), 1);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.text.contains("not signed by es-secure's CA"))
        );
    }

    #[test]
    fn without_a_ca_or_certificates_it_refuses() {
        let mut f = facts(10, 10);
        f.ca = None;
        assert!(matches!(
            build_renew_plan(&f, None, None),
            Err(RenewError::NoCa { .. })
        ));
        let mut f = facts(10, 10);
        f.es.certs.clear();
        assert!(matches!(
            build_renew_plan(&f, None, None),
            Err(RenewError::NoCertificates { .. })
        ));
    }
}
