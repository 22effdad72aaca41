//! What goes into a node bundle, decided as planning: which certificates (SANs, key type,
//! validity) and which answers another node receives. Also the other side of that decision:
//! the rule that a bundle being applied may carry only the answers es-secure itself writes
//! there. Pure: no keys, no files, no signing (see `shell::bundle` for those).

use std::sync::Arc;

/// The name of the cluster file next to the node bundles it belongs with (a node bundle is
/// `<node>.bundle.yml`, so no node's bundle can have this name).
pub const CLUSTER_FILE: &str = "cluster.yml";

/// The plan note for an apply or renewal that writes node bundles into `bundles_dir`: the
/// cluster file is written in the same unit but is no step of its own, and the plan must name
/// every file it writes.
pub fn cluster_file_note(bundles_dir: &std::path::Path) -> String {
    format!(
        "the bundles are written together with {} (the cluster's answers and node list, signed, no keys); each other node needs it next to its bundle",
        bundles_dir.join(CLUSTER_FILE).display()
    )
}

use serde::Serialize;

use crate::domain::answers::{
    Answers, CaKeyword, Hardening, RawAnswers, RawAudit, RawCaSource, RawCertificates,
    RawElasticsearch, RawHardening, RawIpFilter, RawNode, RawPasswords,
};
use crate::domain::certspec::CertSpec;
use crate::domain::planner;
use crate::domain::tier::Tier;

/// Everything a bundle for one node will hold, except the key material the executor creates:
/// shown in the plan so the operator reviews what leaves this host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleContents {
    /// `cluster.name` of this host (absent when it sets none), so the bundle cannot be applied
    /// to a node of another cluster by mistake.
    pub cluster_name: Option<String>,
    /// The certificates to issue for the node, in bundle order (`transport`, then `http`).
    pub certs: Vec<CertSpec>,
    /// The answers the node applies (see [`answers_for_node`]).
    pub answers: NodeAnswers,
}

/// The answers one bundle carries: the cluster's answers, shared by every bundle of a plan
/// (one copy, so a plan for 1,000 nodes does not hold a million node entries), with
/// `this_node` pointing at the bundle's node. Serialized (and compared) as the whole answers.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeAnswers {
    shared: Arc<RawAnswers>,
    this_node: String,
}

impl NodeAnswers {
    /// The node the bundle is for.
    pub fn this_node(&self) -> &str {
        &self.this_node
    }

    /// The cluster's answers shared by every bundle of the plan (`this_node` unset).
    pub fn shared(&self) -> &Arc<RawAnswers> {
        &self.shared
    }

    /// The answers as the bundle holds them (what [`answers_for_node`] returns).
    pub fn to_raw(&self) -> RawAnswers {
        let mut raw = RawAnswers::clone(&self.shared);
        raw.this_node = Some(self.this_node.clone());
        raw
    }
}

impl Serialize for NodeAnswers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(serializer)
    }
}

/// The cluster's answers every bundle of one plan shares (`this_node` is set per bundle).
pub fn shared_answers(answers: &Answers) -> Arc<RawAnswers> {
    let mut raw = answers_for_node(answers, "");
    raw.this_node = None;
    Arc::new(raw)
}

// `RawAnswers` is only `PartialEq` because of its span wrappers; equality on the values is
// reflexive all the same (no floats), which is what `Plan: Eq` needs.
impl Eq for BundleContents {}

/// The contents of the bundle for `node` (a node of `answers` other than this host's).
/// `shared` is [`shared_answers`] of `answers`, made once for all the plan's bundles.
pub fn contents_for(
    answers: &Answers,
    shared: &Arc<RawAnswers>,
    node: &crate::domain::answers::Node,
    cluster_name: Option<String>,
) -> BundleContents {
    let mut certs = vec![planner::transport_spec(node, answers)];
    if answers.tier == Tier::Https {
        certs.push(planner::http_spec(node, answers));
    }
    BundleContents {
        cluster_name,
        certs,
        answers: NodeAnswers {
            shared: Arc::clone(shared),
            this_node: node.name.clone(),
        },
    }
}

/// Answers for another node: the same cluster answers with `this_node` pointing at it. The
/// Kibana section is dropped (Kibana is configured where it runs), and the CA is `existing`
/// because the bundle carries it. The Elasticsearch hardening (audit logging, IP filter, TLS
/// versions) is carried: every node of the cluster needs the same settings (audit logging
/// is a per-node static setting, and a transport filter on one node only would be uneven).
pub fn answers_for_node(answers: &Answers, node: &str) -> RawAnswers {
    let nodes = answers
        .nodes
        .iter()
        .map(|n| RawNode {
            name: spanned(n.name.clone()),
            dns: n.dns.iter().cloned().map(spanned).collect(),
            ip: n.ip.clone(),
        })
        .collect();
    let mut raw = node_answers(
        answers.tier,
        nodes,
        node.to_string(),
        &RawCertificates {
            key_type: answers.certs.key_type,
            validity_days: answers.certs.validity_days,
            ..RawCertificates::default()
        },
    );
    raw.elasticsearch.transport_verification = Some(answers.es.verification);
    // The operator's opt-ins hold for the whole cluster they describe.
    raw.elasticsearch.allow_cleartext_rest = answers.es.allow_cleartext_rest;
    raw.elasticsearch.allow_partial_cluster = answers.es.allow_partial_cluster;
    raw.hardening = es_hardening(&answers.hardening);
    raw
}

/// The Elasticsearch part of `hardening` as answers (Kibana's sessions stay with Kibana);
/// `None` when it sets nothing.
fn es_hardening(h: &Hardening) -> Option<RawHardening> {
    let raw = RawHardening {
        audit: h.audit.as_ref().map(|a| RawAudit {
            enabled: a.enabled,
            events: a.enabled.then(|| a.events.clone()),
        }),
        tls_protocols: (!h.tls_protocols.is_empty()).then(|| h.tls_protocols.clone()),
        tls_cipher_suites: (!h.tls_cipher_suites.is_empty()).then(|| h.tls_cipher_suites.clone()),
        kibana_session: None,
        ip_filter: h.ip_filter.as_ref().map(|f| RawIpFilter {
            transport_allow: f.transport_allow.clone(),
            http_allow: f.http_allow.clone(),
            http_deny: f.http_deny.clone(),
        }),
    };
    (raw != RawHardening::default()).then_some(raw)
}

/// The one shape of a bundle's answers: the cluster's tier, nodes, key type and validity
/// (inputs), everything else fixed. Built from `RawCertificates` only for its two inputs.
fn node_answers(
    tier: Tier,
    nodes: Vec<RawNode>,
    this_node: String,
    certs: &RawCertificates,
) -> RawAnswers {
    // Built-in users live in the cluster, not on a node: the host that wrote the bundle sets
    // their passwords, and another node must not set them again.
    let keep = || Some(spanned("keep".to_string()));
    RawAnswers {
        version: 1,
        tier,
        elasticsearch: RawElasticsearch::default(),
        nodes,
        this_node: Some(this_node),
        certificates: RawCertificates {
            ca: RawCaSource::Keyword(CaKeyword::Existing),
            key_type: certs.key_type,
            validity_days: certs.validity_days,
            node_certs: None,
        },
        kibana: None,
        passwords: RawPasswords {
            elastic: keep(),
            kibana_system: keep(),
            logstash_system: keep(),
            beats_system: keep(),
            apm_system: keep(),
            remote_monitoring_user: keep(),
            ..RawPasswords::default()
        },
        auth: crate::domain::answers::RawAuth::default(),
        // Set by `answers_for_node` (an input of the cluster, like the tier).
        hardening: None,
    }
}

/// The answers keys of a bundle that es-secure would not have written there, as dotted paths
/// (`elasticsearch.restart_command`, `passwords.elastic`, …), sorted. Empty means the answers
/// have exactly the shape [`answers_for_node`] gives them; only the cluster's own inputs
/// (tier, nodes, `this_node`, key type, validity, transport verification, the two
/// cluster-wide opt-ins and the Elasticsearch hardening) may vary; Kibana's session settings
/// may not.
pub fn unexpected_answer_keys(raw: &RawAnswers) -> Vec<String> {
    let mut expected = node_answers(
        raw.tier,
        raw.nodes.clone(),
        raw.this_node.clone().unwrap_or_default(),
        &raw.certificates,
    );
    expected.elasticsearch.transport_verification = raw.elasticsearch.transport_verification;
    expected.elasticsearch.allow_cleartext_rest = raw.elasticsearch.allow_cleartext_rest;
    expected.elasticsearch.allow_partial_cluster = raw.elasticsearch.allow_partial_cluster;
    expected.hardening = raw
        .hardening
        .clone()
        .map(|h| RawHardening {
            kibana_session: None,
            ..h
        })
        .filter(|h| *h != RawHardening::default());
    let (Ok(got), Ok(want)) = (serde_json::to_value(raw), serde_json::to_value(&expected)) else {
        // Both are plain data; if either could not be represented, name the whole section.
        return vec!["answers".to_string()];
    };
    let mut keys = Vec::new();
    diff_keys("", &got, &want, &mut keys);
    keys.sort();
    keys.dedup();
    keys
}

/// Collect the paths where `got` differs from `want`: a key missing on either side or a
/// different value. Lists are compared whole (their only instance, `nodes`, is an input).
fn diff_keys(
    prefix: &str,
    got: &serde_json::Value,
    want: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, gv) in g {
                let path = join(prefix, k);
                match w.get(k) {
                    Some(wv) => diff_keys(&path, gv, wv, out),
                    None => out.push(path),
                }
            }
            for k in w.keys().filter(|k| !g.contains_key(*k)) {
                out.push(join(prefix, k));
            }
        }
        _ if got == want => {}
        _ => out.push(if prefix.is_empty() {
            "answers".to_string()
        } else {
            prefix.to_string()
        }),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn spanned<T>(value: T) -> serde_saphyr::Spanned<T> {
    serde_saphyr::Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::answers::{RestartMode, parse_raw};

    const CLUSTER: &str = "version: 1
tier: https
nodes:
  - name: node-1
    dns: [node-1.example.internal]
    ip: [10.0.0.11]
  - name: node-2
    dns: [node-2.example.internal]
    ip: [10.0.0.12]
this_node: node-1
elasticsearch:
  restart: systemd
  url: https://10.0.0.11:9200
passwords:
  elastic: generate
  output_file: /root/pw.txt
kibana:
  config_dir: /etc/kibana
";

    fn node2_answers() -> RawAnswers {
        let raw = parse_raw(CLUSTER).unwrap();
        let answers = Answers::from_raw(&raw).unwrap();
        answers_for_node(&answers, "node-2")
    }

    #[test]
    fn contents_name_the_nodes_certificates_and_answers() {
        let raw = parse_raw(CLUSTER).unwrap();
        let answers = Answers::from_raw(&raw).unwrap();
        let node = answers.nodes.iter().find(|n| n.name == "node-2").unwrap();
        let c = contents_for(
            &answers,
            &shared_answers(&answers),
            node,
            Some("prod".to_string()),
        );
        // Shared answers plus this node: exactly what `answers_for_node` gives.
        assert_eq!(c.answers.to_raw(), answers_for_node(&answers, "node-2"));
        assert_eq!(c.answers.this_node(), "node-2");
        assert_eq!(c.certs.len(), 2, "https: transport and http");
        assert_eq!(c.certs[0].common_name, "node-2");
        assert!(c.certs[1].dns.contains(&"localhost".to_string()));
        let raw = c.answers.to_raw();
        assert_eq!(raw.this_node.as_deref(), Some("node-2"));
        // Nothing of this host's operational answers travels.
        assert!(raw.kibana.is_none());
        assert!(raw.elasticsearch.restart.is_none());
        assert!(raw.elasticsearch.url.is_none());
        assert!(raw.passwords.output_file.is_none());
    }

    #[test]
    fn what_es_secure_writes_has_no_unexpected_key() {
        assert_eq!(
            unexpected_answer_keys(&node2_answers()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_added_or_changed_key_is_named() {
        type Edit = Box<dyn Fn(&mut RawAnswers)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "elasticsearch.restart",
                Box::new(|r| r.elasticsearch.restart = Some(RestartMode::Command)),
            ),
            (
                "elasticsearch.restart_command",
                Box::new(|r| r.elasticsearch.restart_command = Some("id".to_string())),
            ),
            (
                "elasticsearch.url",
                Box::new(|r| r.elasticsearch.url = Some("http://evil:9200".to_string())),
            ),
            (
                "passwords.elastic",
                Box::new(|r| r.passwords.elastic = Some(spanned("generate".to_string()))),
            ),
            (
                "passwords.output_file",
                Box::new(|r| r.passwords.output_file = Some("/tmp/pw".into())),
            ),
            (
                "elasticsearch.config_dir",
                Box::new(|r| r.elasticsearch.config_dir = Some("/tmp/x".into())),
            ),
            (
                "certificates.ca",
                Box::new(|r| r.certificates.ca = RawCaSource::Keyword(CaKeyword::Generate)),
            ),
            (
                "auth.method",
                Box::new(|r| {
                    r.auth.method = crate::domain::answers::AuthMethodKind::BootstrapPassword
                }),
            ),
        ];
        for (key, edit) in cases {
            let mut raw = node2_answers();
            edit(&mut raw);
            assert_eq!(unexpected_answer_keys(&raw), vec![key.to_string()], "{key}");
        }
        // A removed `keep` is named too: the default would generate a password.
        let mut raw = node2_answers();
        raw.passwords.kibana_system = None;
        assert_eq!(
            unexpected_answer_keys(&raw),
            vec!["passwords.kibana_system"]
        );
    }

    #[test]
    fn the_es_hardening_travels_and_kibana_sessions_do_not() {
        let text = format!(
            "{CLUSTER}hardening:\n  audit: {{}}\n  tls_protocols: [TLSv1.3, TLSv1.2]\n  kibana_session: {{idle_timeout: 30m}}\n  ip_filter: {{http_allow: [10.0.0.0/8]}}\n"
        );
        let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
        let raw = answers_for_node(&answers, "node-2");
        assert_eq!(unexpected_answer_keys(&raw), Vec::<String>::new());
        let node2 = Answers::from_raw(&raw).unwrap();
        assert_eq!(node2.hardening.audit, answers.hardening.audit);
        assert_eq!(node2.hardening.ip_filter, answers.hardening.ip_filter);
        assert_eq!(
            node2.hardening.tls_protocols,
            answers.hardening.tls_protocols
        );
        assert_eq!(node2.hardening.kibana_session, None);
        // A bundle that adds Kibana session settings is not one es-secure wrote.
        let mut bad = raw.clone();
        if let Some(h) = bad.hardening.as_mut() {
            h.kibana_session = Some(Default::default());
        }
        assert_eq!(
            unexpected_answer_keys(&bad),
            vec!["hardening.kibana_session"]
        );
        // Without hardening, a bundle carries none.
        assert_eq!(node2_answers().hardening, None);
    }
}
