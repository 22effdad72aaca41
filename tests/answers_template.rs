//! `templates/answers.example.yml` is the documented contract of the answers file: it must
//! load, and it must mention every key the parser accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::PathBuf;

use es_secure::domain::answers::{
    Answers, AuthMethodKind, RawAnswers, RawAudit, RawAuth, RawCaSource, RawCertPair,
    RawCertificates, RawElasticsearch, RawHardening, RawIpFilter, RawKibana, RawKibanaSession,
    RawNode, RawNodeCerts, RawPasswords, RestartMode, VerificationMode, parse_raw,
};
use es_secure::domain::certspec::KeyType;
use es_secure::domain::tier::Tier;
use serde_saphyr::{Location, Spanned};

fn template() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/answers.example.yml"
    ))
    .unwrap()
}

#[test]
fn the_template_parses_into_typed_answers() {
    let raw = parse_raw(&template()).unwrap();
    let answers = Answers::from_raw(&raw).unwrap();
    assert_eq!(answers.nodes.len(), 2);
    assert_eq!(answers.local_node().unwrap().name, "node-1");
    assert!(answers.kibana.is_some());
    assert!(answers.hardening.audit.is_some());
    assert_eq!(answers.hardening.gold_features().len(), 2);
}

fn sp<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// Every field of `RawAnswers` set, written as struct literals without `..Default::default()`:
/// a new field does not compile here until it is added, and then fails the test below until
/// the template documents it.
fn fully_populated() -> RawAnswers {
    let pw = || Some(sp("generate".to_string()));
    let pair = |name: &str| RawCertPair {
        cert: PathBuf::from(format!("/abs/{name}.crt")),
        key: PathBuf::from(format!("/abs/{name}.key")),
    };
    RawAnswers {
        version: 1,
        tier: Tier::Https,
        elasticsearch: RawElasticsearch {
            config_dir: Some(PathBuf::from("/etc/elasticsearch")),
            home: Some(PathBuf::from("/usr/share/elasticsearch")),
            url: Some("https://localhost:9200".to_string()),
            service_user: Some("elasticsearch".to_string()),
            restart: Some(RestartMode::Command),
            restart_command: Some("/usr/local/bin/restart-es".to_string()),
            transport_verification: Some(VerificationMode::Full),
            health_timeout_secs: Some(180),
            allow_cleartext_rest: true,
            allow_partial_cluster: true,
            restart_timeout_secs: Some(300),
        },
        nodes: vec![RawNode {
            name: sp("node-1".to_string()),
            dns: vec![sp("node-1.example.internal".to_string())],
            ip: vec![IpAddr::from([10, 0, 0, 11])],
        }],
        this_node: Some("node-1".to_string()),
        certificates: RawCertificates {
            ca: RawCaSource::Files {
                cert: PathBuf::from("/abs/ca.crt"),
                key: PathBuf::from("/abs/ca.key"),
            },
            key_type: KeyType::EcdsaP256,
            validity_days: 1095,
            node_certs: Some(RawNodeCerts {
                transport: pair("transport"),
                http: Some(pair("http")),
            }),
        },
        kibana: Some(RawKibana {
            config_dir: PathBuf::from("/etc/kibana"),
            public_url: Some("https://kibana.example.internal:5601".to_string()),
            dns: vec!["kibana.example.internal".to_string()],
            ip: vec![IpAddr::from([10, 0, 0, 21])],
            es_auth: Some(sp("service-token".to_string())),
        }),
        passwords: RawPasswords {
            elastic: pw(),
            kibana_system: pw(),
            logstash_system: pw(),
            beats_system: pw(),
            apm_system: pw(),
            remote_monitoring_user: pw(),
            output_file: Some(PathBuf::from("/var/lib/es-secure/passwords.txt")),
            show: true,
            rotate: true,
        },
        auth: RawAuth {
            method: AuthMethodKind::ElasticPassword,
            elastic_password: Some(sp("env:ELASTIC_PASSWORD".to_string())),
        },
        hardening: Some(RawHardening {
            audit: Some(RawAudit {
                enabled: true,
                events: Some(vec!["authentication_failed".to_string()]),
            }),
            tls_protocols: Some(vec!["TLSv1.3".to_string()]),
            tls_cipher_suites: Some(vec!["TLS_AES_256_GCM_SHA384".to_string()]),
            kibana_session: Some(RawKibanaSession {
                idle_timeout: Some("1h".to_string()),
                lifespan: Some("8h".to_string()),
            }),
            ip_filter: Some(RawIpFilter {
                transport_allow: Some(vec!["10.0.0.11".to_string()]),
                http_allow: vec!["127.0.0.1".to_string()],
                http_deny: vec!["_all".to_string()],
            }),
        }),
    }
}

/// Every key of a serialized value, with its path (`elasticsearch.restart_command`).
fn keys(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push((k.clone(), path.clone()));
                keys(&path, child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                keys(prefix, item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_template_documents_every_key() {
    let text = template();
    let value = serde_json::to_value(fully_populated()).unwrap();
    let mut found = Vec::new();
    keys("", &value, &mut found);
    // Guard against the derivation itself going blind (e.g. a skip_serializing_if hiding a
    // whole section): these are known to exist.
    for known in [
        "passwords.rotate",
        "auth.elastic_password",
        "certificates.node_certs.http.key",
        "hardening.ip_filter.http_deny",
    ] {
        assert!(
            found.iter().any(|(_, path)| path == known),
            "the populated answers lost {known}: {found:?}"
        );
    }
    // The parser must accept what was serialized (JSON is YAML) and read it back the same,
    // so the list is the parser's own (source locations aside).
    let back = parse_raw(&serde_json::to_string(&value).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), value);
    let missing: Vec<&str> = found
        .iter()
        .filter(|(key, _)| !text.contains(&format!("{key}:")))
        .map(|(_, path)| path.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "templates/answers.example.yml does not document: {missing:?}"
    );
}
