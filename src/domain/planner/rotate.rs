//! The `rotate-ca` planner: one phase of the three-phase rolling CA rotation per run, on the
//! CA host — (a) create a new CA next to the old one and make every trust list hold both;
//! (b) issue every leaf again under the new CA (same subject, SANs, key type, lifetime, file
//! names); (c) trust only the new CA, which replaces the old one (and its key) in the state
//! directory. With the cluster's answers each phase also writes a signed rotation bundle for
//! every other node. Pure: it reads [`Facts`] and the phase recorded so far, and must not plan
//! settings edits or a restart (every file keeps its name, so Elasticsearch reloads it).

use std::path::PathBuf;

use thiserror::Error;

use super::files;
use crate::domain::answers::Answers;
use crate::domain::certspec::{CertSpec, KeyType};
use crate::domain::facts::Facts;
use crate::domain::plan::{Note, Owner, Plan, RestartKind, Step};
use crate::domain::rotation::{RotationPhase, short_fp};
use crate::domain::settings::SettingValue;

/// Where the new CA waits in the state directory until phase (c) makes it the CA.
pub const NEXT_CA_CERT: &str = "ca-next.crt";
pub const NEXT_CA_KEY: &str = "ca-next.key";

/// Why no rotation phase can be planned here.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RotateError {
    #[error(
        "no es-secure CA in {dir}: rotate-ca replaces the CA an apply created or imported there; nothing was changed\nhelp: on the other nodes, apply the rotation bundle the CA host wrote: `es-secure rotate-ca --bundle FILE --ca-fingerprint SHA256`"
    )]
    NoCa { dir: String },
    #[error(
        "no trust list {path}: this node was not secured by es-secure (or its certs directory moved); nothing was changed\nhelp: secure the node with `es-secure apply` first"
    )]
    NoTrustList { path: String },
    #[error(
        "phase {phase} needs the new CA {path} that phase (a) created, and it is missing; nothing was changed\nhelp: restore it from a backup, or move state.json's `ca_rotation` away to start the rotation again"
    )]
    NoNextCa { phase: RotationPhase, path: String },
}

/// The paths of the new CA in the state directory.
pub fn next_ca_paths(facts: &Facts) -> (PathBuf, PathBuf) {
    let dir = facts.state.state_dir.join("ca");
    (dir.join(NEXT_CA_CERT), dir.join(NEXT_CA_KEY))
}

/// The plan of the phase after `done` (the last phase this node completed). `next_ca_exists`:
/// whether phase (a)'s new CA is in the state directory. `all`: the answers naming the
/// cluster's nodes, for a rotation bundle per other node.
pub fn build_rotate_plan(
    facts: &Facts,
    done: Option<RotationPhase>,
    next_ca_exists: bool,
    all: Option<&Answers>,
) -> Result<(RotationPhase, Plan), RotateError> {
    let Some(ca) = &facts.ca else {
        return Err(RotateError::NoCa {
            dir: facts.state.state_dir.join("ca").display().to_string(),
        });
    };
    let phase = RotationPhase::after(done);
    let es_certs = facts.es.config_dir.join("certs");
    let es_trust = es_certs.join(files::CA_CERT);
    if !facts.es.ca_copies.contains_key(files::CA_CERT) {
        return Err(RotateError::NoTrustList {
            path: es_trust.display().to_string(),
        });
    }
    let (next_cert, next_key) = next_ca_paths(facts);
    if phase != RotationPhase::TrustBoth && !next_ca_exists {
        return Err(RotateError::NoNextCa {
            phase,
            path: next_cert.display().to_string(),
        });
    }
    let es_owner = Owner {
        user: None,
        group: facts
            .host
            .service_group
            .clone()
            .or_else(|| facts.es.config_group.clone()),
    };
    let kibana_trust = facts.kibana.as_ref().and_then(|k| {
        k.ca_copies.contains_key(files::CA_CERT).then(|| {
            (
                k.config_dir.join("certs").join(files::CA_CERT),
                Owner {
                    user: None,
                    group: k.config_group.clone(),
                },
            )
        })
    });
    let old = format!("old CA {}", short_fp(&ca.fingerprint));
    let trust_steps = |cas: Vec<String>| {
        let mut out = vec![Step::WriteTrust {
            path: es_trust.clone(),
            cas: cas.clone(),
            owner: es_owner.clone(),
        }];
        if let Some((path, owner)) = &kibana_trust {
            out.push(Step::WriteTrust {
                path: path.clone(),
                cas,
                owner: owner.clone(),
            });
        }
        out
    };
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    match phase {
        RotationPhase::TrustBoth => {
            steps.push(Step::CreateCa {
                spec: CertSpec {
                    // Its own name, so no tool mistakes one CA for the other while both are
                    // trusted.
                    common_name: format!(
                        "es-secure CA {}",
                        crate::domain::expiry::rfc3339(facts.now)
                    ),
                    purpose: None,
                    dns: Vec::new(),
                    ip: Vec::new(),
                    key_type: facts
                        .es
                        .certs
                        .values()
                        .find_map(|c| c.key_type)
                        .unwrap_or(KeyType::EcdsaP256),
                    validity_days: 3650,
                },
                cert_path: next_cert.clone(),
                key_path: next_key.clone(),
            });
            steps.extend(trust_steps(vec![old.clone(), "new CA".to_string()]));
            notes.push(Note {
                text: format!(
                    "Phase (a) of 3: every node must trust both CAs before any certificate changes. The old CA ({}) and its key stay until phase (c)",
                    ca.fingerprint
                ),
            });
        }
        RotationPhase::NewLeaves => {
            // The same certificates renew would issue (subject, SANs, key type, lifetime),
            // signed by the new CA.
            let renew = super::build_renew_plan(facts, None, None).ok();
            for step in renew.map(|p| p.steps).unwrap_or_default() {
                if let Step::IssueCert {
                    spec,
                    cert_path,
                    key_path,
                    owner,
                    ..
                } = step
                {
                    steps.push(Step::IssueCert {
                        spec,
                        cert_path,
                        key_path,
                        owner,
                        reason: "CA rotation: issued again under the new CA".to_string(),
                    });
                }
            }
            notes.push(Note {
                text: "Phase (b) of 3: run it on every node before phase (c); nodes that still present old-CA certificates are trusted until then".to_string(),
            });
        }
        RotationPhase::DropOld => {
            steps.extend(trust_steps(vec!["new CA".to_string()]));
            steps.push(Step::PromoteCa {
                from_cert: next_cert.clone(),
                from_key: next_key.clone(),
                cert_path: ca.cert_path.clone(),
                key_path: ca.key_path.clone(),
            });
            steps.push(Step::RemoveFile {
                path: next_cert.clone(),
                reason: "now es-secure's CA certificate".to_string(),
            });
            steps.push(Step::RemoveFile {
                path: next_key.clone(),
                reason: "now es-secure's CA key".to_string(),
            });
            notes.push(Note {
                text: format!(
                    "Phase (c) of 3: after it, a certificate of the old CA ({}) is refused. Run it on the CA host only after every node finished phase (b)",
                    ca.fingerprint
                ),
            });
        }
    }
    if kibana_trust.is_some() && phase != RotationPhase::NewLeaves {
        notes.push(Note {
            text: "Kibana reads elasticsearch.ssl.certificateAuthorities at start: restart Kibana after this phase (`systemctl restart kibana`)".to_string(),
        });
    }
    notes.push(Note {
        text: "No restart: every file keeps its name, and Elasticsearch reloads it within 5 s; the phase is done when the node serves it and the cluster is healthy".to_string(),
    });
    if let Some(answers) = all {
        let dir = facts.state.state_dir.join("bundles");
        let local = answers.local_node().map(|n| n.name.as_str());
        let cluster_name = facts
            .es
            .parsed
            .settings
            .value("cluster.name")
            .map(SettingValue::as_plain)
            .filter(|c| !c.starts_with("${"));
        let shared = crate::domain::bundle::shared_answers(answers);
        for node in answers
            .nodes
            .iter()
            .filter(|n| Some(n.name.as_str()) != local)
        {
            let certs = if phase == RotationPhase::NewLeaves {
                crate::domain::bundle::contents_for(answers, &shared, node, cluster_name.clone())
                    .certs
            } else {
                Vec::new()
            };
            steps.push(Step::WriteRotationBundle {
                node: node.name.clone(),
                path: dir.join(format!("{}.rotate-ca.yml", node.name)),
                phase,
                certs,
            });
        }
    }
    let tier = facts.es.tier.tier;
    Ok((
        phase,
        Plan {
            from: tier,
            to: tier,
            restart: RestartKind::None,
            steps,
            notes,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::facts::{CaFacts, ExistingCert, sample_facts};

    const NOW: i64 = 1_800_000_000;

    fn facts() -> Facts {
        let mut f = sample_facts("node.name: node-1\n", NOW);
        f.ca = Some(CaFacts {
            cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
            key_path: "/var/lib/es-secure/ca/ca.key".into(),
            fingerprint: "AA:BB".into(),
            not_after: NOW + 900 * 86_400,
            subject: "CN=es-secure CA".into(),
            cert_pem: String::new(),
        });
        f.es.ca_copies.insert("ca.crt".into(), "PEM".into());
        f.es.certs.insert(
            "transport.crt".into(),
            ExistingCert {
                dns: vec!["node-1".into()],
                ip: vec![],
                not_after: NOW + 100 * 86_400,
                not_before: NOW - 100 * 86_400,
                common_name: Some("node-1".into()),
                serial: "01".into(),
                key_type: Some(KeyType::EcdsaP256),
                key_matches: true,
                signed_by_ca: true,
                signed_by_trusted_ca: false,
                has_chain: true,
            },
        );
        f
    }

    #[test]
    fn three_phases_one_per_run() {
        let f = facts();
        let (p, plan) = build_rotate_plan(&f, None, false, None).unwrap();
        assert_eq!(p, RotationPhase::TrustBoth);
        assert!(matches!(plan.steps[0], Step::CreateCa { .. }));
        assert!(matches!(&plan.steps[1], Step::WriteTrust { cas, .. } if cas.len() == 2));
        assert_eq!(plan.restart, RestartKind::None);

        assert!(matches!(
            build_rotate_plan(&f, Some(RotationPhase::TrustBoth), false, None),
            Err(RotateError::NoNextCa { .. })
        ));
        let (p, plan) = build_rotate_plan(&f, Some(RotationPhase::TrustBoth), true, None).unwrap();
        assert_eq!(p, RotationPhase::NewLeaves);
        assert_eq!(plan.steps.len(), 1);
        assert!(matches!(&plan.steps[0], Step::IssueCert { spec, .. } if spec.dns == ["node-1"]));

        let (p, plan) = build_rotate_plan(&f, Some(RotationPhase::NewLeaves), true, None).unwrap();
        assert_eq!(p, RotationPhase::DropOld);
        assert!(matches!(&plan.steps[0], Step::WriteTrust { cas, .. } if cas == &["new CA"]));
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s, Step::PromoteCa { .. }))
        );
    }

    #[test]
    fn a_node_bound_to_another_loopback_address_is_reached_there() {
        let f = sample_facts("network.host: 127.0.0.2\nhttp.port: 19201\n", NOW);
        assert_eq!(
            crate::domain::planner::es_url_detected(&f),
            "http://127.0.0.2:19201"
        );
        let f = sample_facts("network.host: 0.0.0.0\n", NOW);
        assert_eq!(
            crate::domain::planner::es_url_detected(&f),
            "http://127.0.0.1:9200"
        );
    }

    #[test]
    fn without_a_ca_or_trust_list_it_refuses() {
        let mut f = facts();
        f.ca = None;
        assert!(matches!(
            build_rotate_plan(&f, None, false, None),
            Err(RotateError::NoCa { .. })
        ));
        let mut f = facts();
        f.es.ca_copies.clear();
        assert!(matches!(
            build_rotate_plan(&f, None, false, None),
            Err(RotateError::NoTrustList { .. })
        ));
    }
}
