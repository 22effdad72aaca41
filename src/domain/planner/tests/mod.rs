//! Unit tests of the planner: shared fixtures (facts and answers of a node in a cluster), and
//! the bundle and own-certificate plans. Themed tests live in the sibling modules. Nothing here
//! touches the disk or the network: the planner is pure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hardening;
mod restart;
mod secrets;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::domain::answers::parse_raw;
use crate::domain::certspec::CertPurpose;
use crate::domain::facts::{
    BundleCertFacts, BundleFacts, CaFacts, EsFacts, ExistingCert, HostFacts, Layout, StateFacts,
    Version,
};
use crate::domain::settings;

const NOW: i64 = 1_795_000_000;
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nbundle CA\n-----END CERTIFICATE-----\n";
const CA_FP: &str = "AA:BB";

fn yml(node: &str) -> String {
    format!(
        "cluster.name: prod-logs\nnode.name: {node}\nnetwork.host: 10.0.0.12\nxpack.security.enabled: false\n"
    )
}

fn facts_for(yml_text: &str) -> Facts {
    let parsed = settings::parse("/etc/elasticsearch/elasticsearch.yml", yml_text).unwrap();
    let tier = crate::domain::tier::detect(&parsed.settings, parsed.autoconfig.is_some());
    Facts {
        es: EsFacts {
            layout: Layout::Package,
            home: Some("/usr/share/elasticsearch".into()),
            config_dir: "/etc/elasticsearch".into(),
            version: Some(Version {
                major: 8,
                minor: 19,
                patch: 3,
            }),
            yml_path: "/etc/elasticsearch/elasticsearch.yml".into(),
            yml_text: yml_text.to_string(),
            parsed,
            tier,
            keystore: KeystoreFacts {
                path: "/etc/elasticsearch/elasticsearch.keystore".into(),
                exists: true,
                entries: Some(vec!["keystore.seed".to_string()]),
                format: Some(7),
            },
            certs_dir_exists: false,
            certs: BTreeMap::new(),
            ca_copies: BTreeMap::new(),
            config_group: Some("elasticsearch".to_string()),
            autoconfig_files: Vec::new(),
            autoconfig_ca_fingerprint: None,
            cluster_formed: false,
        },
        kibana: None,
        ca: None,
        byo_ca: None,
        own_certs_installed: BTreeMap::new(),
        bundle: None,
        state: StateFacts {
            state_dir: "/var/lib/es-secure".into(),
            ..StateFacts::default()
        },
        host: HostFacts::default(),
        now: NOW,
    }
}

fn node2_cert(dns: &[&str], ip: &[&str]) -> ExistingCert {
    ExistingCert {
        dns: dns.iter().map(ToString::to_string).collect(),
        ip: ip.iter().map(|i| i.parse().unwrap()).collect(),
        not_after: NOW + 300 * 86_400,
        not_before: NOW,
        common_name: None,
        serial: String::new(),
        key_type: Some(crate::domain::certspec::KeyType::EcdsaP256),
        key_matches: true,
        signed_by_ca: true,
        signed_by_trusted_ca: false,
        has_chain: true,
    }
}

fn bundle_facts(tier: Tier) -> BundleFacts {
    let mut certs = BTreeMap::new();
    certs.insert(
        "transport".to_string(),
        BundleCertFacts {
            cert_pem: "transport leaf".to_string(),
            summary: Some(node2_cert(&["node-2.example.internal"], &["10.0.0.12"])),
            installed: false,
        },
    );
    if tier == Tier::Https {
        certs.insert(
            "http".to_string(),
            BundleCertFacts {
                cert_pem: "http leaf".to_string(),
                summary: Some(node2_cert(
                    &["node-2.example.internal", "localhost"],
                    &["10.0.0.12", "127.0.0.1"],
                )),
                installed: false,
            },
        );
    }
    BundleFacts {
        path: "/root/node-2.bundle.yml".into(),
        node: "node-2".to_string(),
        cluster_name: Some("prod-logs".to_string()),
        ca_cert_pem: CA_PEM.to_string(),
        ca_fingerprint: CA_FP.to_string(),
        declared_fingerprint: CA_FP.to_string(),
        certs,
    }
}

/// The answers a bundle for node-2 carries (what `shell::bundle::answers_for_node` writes).
fn bundle_answers(tier: Tier) -> Answers {
    let text = format!(
        "version: 1\ntier: {tier}\nelasticsearch:\n  allow_cleartext_rest: true\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: existing\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n"
    );
    Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
}

fn bundle_setup(tier: Tier) -> (Facts, Answers) {
    let mut facts = facts_for(&yml("node-2"));
    facts.bundle = Some(bundle_facts(tier));
    (facts, bundle_answers(tier))
}

/// network.host 10.0.0.12 gives the default REST URL; a node whose addresses do not
/// include it gets a warning instead of a health wait that fails on the hostname.
#[test]
fn rest_url_not_in_the_http_certificate_is_warned_about() {
    let facts = facts_for(&yml("node-2"));
    let warned = |node_ip: &str| {
        let text = format!(
            "version: 1\ntier: https\nelasticsearch:\n  allow_partial_cluster: true\nnodes:\n  - {{name: node-2, dns: [node-2.example.internal], ip: [{node_ip}]}}\nthis_node: node-2\n"
        );
        let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
        let plan = build_plan(&facts, &answers).unwrap();
        plan.notes
            .iter()
            .any(|n| n.text.contains("does not name `10.0.0.12`"))
    };
    assert!(warned("127.0.0.1"));
    assert!(!warned("10.0.0.12"));
}

#[test]
fn bundle_installs_certs_and_issues_nothing() {
    let (facts, answers) = bundle_setup(Tier::Basic);
    let plan = build_plan(&facts, &answers).unwrap();
    assert!(!plan.steps.iter().any(|s| matches!(
        s,
        Step::CreateCa { .. }
            | Step::ImportCa { .. }
            | Step::IssueCert { .. }
            | Step::WriteBundle { .. }
            | Step::ResetPassword { .. }
    )));
    assert!(matches!(plan.steps[0], Step::CreateDir { .. }));
    assert!(
        matches!(&plan.steps[1], Step::InstallCaCert { path, .. } if path.ends_with("certs/ca.crt"))
    );
    match &plan.steps[2] {
        Step::InstallBundleCert {
            purpose,
            cert_path,
            key_path,
            owner,
            dns,
            reason,
            ..
        } => {
            assert_eq!(*purpose, CertPurpose::Transport);
            assert!(cert_path.ends_with("certs/transport.crt"));
            assert!(key_path.ends_with("certs/transport.key"));
            assert_eq!(owner.group.as_deref(), Some("elasticsearch"));
            assert_eq!(dns, &vec!["node-2.example.internal".to_string()]);
            assert_eq!(reason, "new");
        }
        other => panic!("expected InstallBundleCert, got {other:?}"),
    }
    assert!(plan.edits().next().is_some());
    assert!(plan.steps.iter().any(|s| matches!(s, Step::Restart { .. })));
    let text = crate::domain::render::plan_text(&plan);
    assert!(
            text.contains("install transport certificate from the bundle [DNS:node-2.example.internal, IP:10.0.0.12]"),
            "{text}"
        );
}

#[test]
fn bundle_https_installs_http_cert_too() {
    let (facts, answers) = bundle_setup(Tier::Https);
    let plan = build_plan(&facts, &answers).unwrap();
    let purposes: Vec<CertPurpose> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::InstallBundleCert { purpose, .. } => Some(*purpose),
            _ => None,
        })
        .collect();
    assert_eq!(purposes, vec![CertPurpose::Transport, CertPurpose::Http]);
}

#[test]
fn bundle_applied_already_is_nothing_to_do() {
    let (facts, answers) = bundle_setup(Tier::Basic);
    let first = build_plan(&facts, &answers).unwrap();
    let (_, _, after) = first.edits().next().unwrap();
    let mut facts = facts_for(after);
    let mut b = bundle_facts(Tier::Basic);
    for c in b.certs.values_mut() {
        c.installed = true;
    }
    facts.bundle = Some(b);
    facts.es.certs_dir_exists = true;
    facts
        .es
        .ca_copies
        .insert(files::CA_CERT.to_string(), CA_PEM.to_string());
    facts.es.certs.insert(
        files::TRANSPORT_CERT.to_string(),
        node2_cert(&["node-2.example.internal"], &["10.0.0.12"]),
    );
    let plan = build_plan(&facts, &answers).unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
}

#[test]
fn bundle_for_another_node_is_refused() {
    let (mut facts, answers) = bundle_setup(Tier::Basic);
    let b = facts.bundle.take();
    facts = facts_for(&yml("node-3"));
    facts.bundle = b;
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(
        matches!(&err, PlanError::BundleWrongNode { bundle, configured, .. } if bundle == "node-2" && configured == "node-3"),
        "{err:?}"
    );
    assert!(err.to_string().contains("node-3.bundle.yml"), "{err}");
}

#[test]
fn bundle_for_another_cluster_is_refused() {
    let (mut facts, answers) = bundle_setup(Tier::Basic);
    if let Some(b) = facts.bundle.as_mut() {
        b.cluster_name = Some("other-cluster".to_string());
    }
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(
        matches!(err, PlanError::BundleWrongCluster { .. }),
        "{err:?}"
    );
}

#[test]
fn bundle_with_another_ca_than_ours_is_refused() {
    let (mut facts, answers) = bundle_setup(Tier::Basic);
    facts.ca = Some(CaFacts {
        cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
        key_path: "/var/lib/es-secure/ca/ca.key".into(),
        fingerprint: "CC:DD".to_string(),
        not_after: NOW + 1000 * 86_400,
        subject: "CN=es-secure CA".to_string(),
        cert_pem: "other".to_string(),
    });
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(matches!(err, PlanError::BundleOtherCa { .. }), "{err:?}");
    // The same CA (e.g. re-applying on the host that wrote the bundle) is fine.
    if let Some(ca) = facts.ca.as_mut() {
        ca.fingerprint = CA_FP.to_string();
    }
    assert!(build_plan(&facts, &answers).is_ok());
}

#[test]
fn bundle_with_edited_ca_is_refused() {
    let (mut facts, answers) = bundle_setup(Tier::Basic);
    if let Some(b) = facts.bundle.as_mut() {
        b.declared_fingerprint = "EE:FF".to_string();
    }
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(matches!(err, PlanError::BundleCaMismatch { .. }), "{err:?}");
}

#[test]
fn bundle_cert_problems_are_refused() {
    type Spoil = fn(&mut BundleCertFacts);
    let cases: [(&str, Spoil); 5] = [
        ("not signed by the CA in the bundle", |c| {
            if let Some(s) = c.summary.as_mut() {
                s.signed_by_ca = false;
            }
        }),
        ("key is missing or does not match", |c| {
            if let Some(s) = c.summary.as_mut() {
                s.key_matches = false;
            }
        }),
        ("does not name 10.0.0.12", |c| {
            if let Some(s) = c.summary.as_mut() {
                s.ip.clear();
            }
        }),
        ("expired", |c| {
            if let Some(s) = c.summary.as_mut() {
                s.not_after = NOW - 1;
            }
        }),
        ("not a readable certificate", |c| c.summary = None),
    ];
    for (want, spoil) in cases {
        let (mut facts, answers) = bundle_setup(Tier::Basic);
        if let Some(b) = facts.bundle.as_mut() {
            spoil(b.certs.get_mut("transport").unwrap());
        }
        let err = build_plan(&facts, &answers).unwrap_err();
        assert!(matches!(err, PlanError::BundleCert { .. }), "{err:?}");
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}

#[test]
fn bundle_without_http_cert_cannot_do_https() {
    let (mut facts, answers) = bundle_setup(Tier::Https);
    if let Some(b) = facts.bundle.as_mut() {
        b.certs.remove("http");
    }
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(err.to_string().contains("has no http certificate"), "{err}");
}

/// Answers for node-2 with the operator's own CA and own node certificates.
fn own_cert_setup(tier: Tier, with_http: bool) -> (Facts, Answers) {
    let http = if with_http {
        "    http: {cert: /root/own/http.crt, key: /root/own/http.key}\n"
    } else {
        ""
    };
    let text = format!(
        "version: 1\ntier: {tier}\nelasticsearch:\n  allow_cleartext_rest: true\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-2\ncertificates:\n  ca: {{cert: /root/own/ca.crt, key: /root/own/ca.key}}\n  node_certs:\n    transport: {{cert: /root/own/transport.crt, key: /root/own/transport.key}}\n{http}"
    );
    let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
    let mut facts = facts_for(&yml("node-2"));
    let ca = CaFacts {
        cert_path: "/var/lib/es-secure/ca/ca.crt".into(),
        key_path: "/var/lib/es-secure/ca/ca.key".into(),
        fingerprint: CA_FP.to_string(),
        not_after: NOW + 1000 * 86_400,
        subject: "CN=own CA".to_string(),
        cert_pem: CA_PEM.to_string(),
    };
    facts.ca = Some(ca.clone());
    facts.byo_ca = Some(ca);
    (facts, answers)
}

#[test]
fn own_node_certs_are_installed_instead_of_issued() {
    let (facts, answers) = own_cert_setup(Tier::Https, false);
    let plan = build_plan(&facts, &answers).unwrap();
    let own: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::InstallOwnCert {
                purpose,
                from_cert,
                cert_path,
                key_path,
                dns,
                ip,
                ..
            } => Some((*purpose, from_cert, cert_path, key_path, dns, ip)),
            _ => None,
        })
        .collect();
    assert_eq!(own.len(), 1, "{:#?}", plan.steps);
    let (purpose, from, cert, key, dns, ip) = own[0];
    assert_eq!(purpose, CertPurpose::Transport);
    assert_eq!(from, &PathBuf::from("/root/own/transport.crt"));
    assert_eq!(
        cert,
        &PathBuf::from("/etc/elasticsearch/certs/transport.crt")
    );
    assert_eq!(
        key,
        &PathBuf::from("/etc/elasticsearch/certs/transport.key")
    );
    // The certificate must name the node's own addresses (checked at apply).
    assert!(dns.contains(&"node-2.example.internal".to_string()));
    assert!(ip.contains(&"10.0.0.12".parse().unwrap()));
    // Without an own HTTP certificate, the https tier issues one from the CA.
    let issued: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::IssueCert { spec, .. } => spec.purpose,
            _ => None,
        })
        .collect();
    assert_eq!(issued, vec![CertPurpose::Http]);
}

#[test]
fn installed_own_node_certs_plan_nothing_for_them() {
    let (mut facts, answers) = own_cert_setup(Tier::Https, true);
    facts
        .own_certs_installed
        .insert(files::TRANSPORT_CERT.to_string(), true);
    facts.es.certs.insert(
        files::TRANSPORT_CERT.to_string(),
        node2_cert(&["node-2.example.internal"], &["10.0.0.12"]),
    );
    facts.es.certs_dir_exists = true;
    facts
        .own_certs_installed
        .insert(files::HTTP_CERT.to_string(), false);
    let plan = build_plan(&facts, &answers).unwrap();
    let own: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::InstallOwnCert { purpose, .. } => Some(*purpose),
            Step::IssueCert { spec, .. } => spec.purpose,
            _ => None,
        })
        .collect();
    assert_eq!(own, vec![CertPurpose::Http]);
    assert!(
        plan.steps
            .iter()
            .any(|s| matches!(s, Step::InstallOwnCert { .. }))
    );
}

#[test]
fn own_node_certs_need_own_ca_files_and_absolute_paths() {
    let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-1, ip: [10.0.0.11]}\nthis_node: node-1\ncertificates:\n  node_certs:\n    transport: {cert: own/t.crt, key: /root/t.key}\n";
    let errors = Answers::from_raw(&parse_raw(text).unwrap()).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("`certificates.node_certs`") && e.contains("certificates.ca")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("`certificates.node_certs.transport.cert`")),
        "{text:?}"
    );
}

#[test]
fn installed_own_cert_that_no_longer_fits_is_checked_again() {
    let (mut facts, answers) = own_cert_setup(Tier::Basic, false);
    facts
        .own_certs_installed
        .insert(files::TRANSPORT_CERT.to_string(), true);
    // Installed earlier, but the node's address changed in the answers since.
    facts.es.certs.insert(
        files::TRANSPORT_CERT.to_string(),
        node2_cert(&["node-2.example.internal"], &["10.0.0.99"]),
    );
    let plan = build_plan(&facts, &answers).unwrap();
    let reason = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::InstallOwnCert { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("the own certificate is installed (and so checked) again");
    assert!(reason.contains("10.0.0.12"), "{reason}");
}

fn kibana_facts(yml_text: &str, keystore_entries: &[&str]) -> crate::domain::facts::KibanaFacts {
    crate::domain::facts::KibanaFacts {
        config_dir: "/etc/kibana".into(),
        yml_path: "/etc/kibana/kibana.yml".into(),
        yml_text: yml_text.to_string(),
        parsed: settings::parse("/etc/kibana/kibana.yml", yml_text).unwrap(),
        keystore: KeystoreFacts {
            path: "/etc/kibana/kibana.keystore".into(),
            exists: true,
            entries: Some(keystore_entries.iter().map(ToString::to_string).collect()),
            format: None,
        },
        certs_dir_exists: false,
        certs: BTreeMap::new(),
        ca_copies: BTreeMap::new(),
        config_group: Some("kibana".to_string()),
        service_token: crate::domain::facts::TokenCheck::Absent,
    }
}

const LOOPBACK_YML: &str = "node.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.type: single-node\nxpack.security.enabled: false\n";

fn minimal_answers(extra: &str) -> Answers {
    let text = format!("version: 1\ntier: minimal\n{extra}");
    Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
}

fn keystore_sets(plan: &Plan) -> Vec<(Product, String, SecretSource)> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::KeystoreSet {
                product,
                entry,
                value,
                ..
            } => Some((*product, entry.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

fn edited<'p>(plan: &'p Plan, file: &str) -> &'p str {
    plan.edits()
        .find(|(p, _, _)| p.ends_with(file))
        .map(|(_, _, after)| after)
        .unwrap()
}
