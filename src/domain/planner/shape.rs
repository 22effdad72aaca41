//! Cluster-shape checks: the answers must describe the cluster elasticsearch.yml describes.
//! Transport TLS on one node of three splits the cluster, and a certificate that does not name
//! an address a node publishes fails hostname verification. Pure: reads settings and answers,
//! returns problems; it must not plan steps.

use std::net::IpAddr;

use crate::domain::answers::{Answers, Node, VerificationMode};
use crate::domain::certspec::CertSpec;
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;

use super::{http_spec, is_loopback_bind, transport_spec};

/// What the checks found. `definite` problems refuse the plan unless the answers opt in;
/// `unknowable` ones (special values resolved only when Elasticsearch starts) are warnings.
#[derive(Default)]
pub(super) struct ShapeFindings {
    pub definite: Vec<(String, String)>,
    pub unknowable: Vec<String>,
}

/// The values of a host-list setting, as written, without `${VAR}` references.
fn hosts(settings: &Settings, key: &str) -> Vec<String> {
    let Some(v) = settings.value(key) else {
        return Vec::new();
    };
    let items = match v {
        SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
        other => other
            .as_plain()
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>(),
    };
    items
        .into_iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains("${"))
        .collect()
}

/// `host`, `host:port`, `[v6]:port` → the host part.
fn strip_port(entry: &str) -> String {
    if let Some(v6) = entry.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_string();
    }
    if entry.parse::<IpAddr>().is_ok() {
        return entry.to_string();
    }
    entry.split(':').next().unwrap_or(entry).to_string()
}

fn names_node(node: &Node, host: &str) -> bool {
    if host.eq_ignore_ascii_case(&node.name) {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => node.ip.contains(&ip),
        Err(_) => node.dns.iter().any(|d| d.eq_ignore_ascii_case(host)),
    }
}

fn spec_names(spec: &CertSpec, host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => spec.ip.contains(&ip),
        Err(_) => spec.dns.iter().any(|d| d.eq_ignore_ascii_case(host)),
    }
}

/// Run the checks for the transport tier and up.
pub(super) fn check(settings: &Settings, answers: &Answers, local: Option<&Node>) -> ShapeFindings {
    let mut out = ShapeFindings::default();
    if answers.tier < Tier::Basic {
        return out;
    }
    // Every host the node looks for (and every master it bootstraps with) must be a node
    // this plan gives a certificate (or a bundle) to.
    let mut unmapped = Vec::new();
    for key in ["discovery.seed_hosts", "cluster.initial_master_nodes"] {
        for entry in hosts(settings, key) {
            let host = strip_port(&entry);
            if is_loopback_bind(&host) || answers.nodes.iter().any(|n| names_node(n, &host)) {
                continue;
            }
            let item = format!("`{entry}` ({key})");
            if !unmapped.contains(&item) {
                unmapped.push(item);
            }
        }
    }
    if !unmapped.is_empty() {
        out.definite.push((
            format!(
                "elasticsearch.yml names hosts that are not nodes in the answers: {}; turning on transport TLS for only some nodes of a cluster splits it",
                unmapped.join(", ")
            ),
            "add every node of the cluster to `nodes` (name, dns, ip) so each gets a certificate or a bundle".to_string(),
        ));
    }

    let Some(node) = local else {
        return out;
    };
    let mut layers: Vec<(&str, CertSpec, [&str; 3])> = Vec::new();
    if answers.es.verification == VerificationMode::Full {
        layers.push((
            "transport",
            transport_spec(node, answers),
            [
                "transport.host",
                "transport.bind_host",
                "transport.publish_host",
            ],
        ));
    }
    if answers.tier == Tier::Https {
        layers.push((
            "http",
            http_spec(node, answers),
            ["http.host", "http.bind_host", "http.publish_host"],
        ));
    }
    for (layer, spec, own_keys) in layers {
        let keys = own_keys.iter().copied().chain([
            "network.host",
            "network.bind_host",
            "network.publish_host",
        ]);
        let mut missing = Vec::new();
        for key in keys {
            for host in hosts(settings, key) {
                let h = strip_port(&host);
                if is_loopback_bind(&h) {
                    continue;
                }
                if h.starts_with('_') || h == "0.0.0.0" || h == "::" {
                    let text = format!(
                        "warning: `{key}: {host}` resolves to this host's addresses only when Elasticsearch starts, so es-secure cannot check that node {}'s {layer} certificate names them: make sure `nodes[].ip` lists every address it publishes, or set `{}` to one of them",
                        node.name, own_keys[2]
                    );
                    if !out.unknowable.contains(&text) {
                        out.unknowable.push(text);
                    }
                    continue;
                }
                if !spec_names(&spec, &h) && !missing.contains(&format!("`{key}: {host}`")) {
                    missing.push(format!("`{key}: {host}`"));
                }
            }
        }
        if !missing.is_empty() {
            out.definite.push((
                format!(
                    "node {}'s {layer} certificate would not name {}, which Elasticsearch binds or publishes, and {} verification checks the name",
                    node.name,
                    missing.join(", "),
                    if layer == "transport" { "transport `full`" } else { "HTTPS" }
                ),
                format!(
                    "add those addresses to node {}'s `dns`/`ip` in the answers",
                    node.name
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::answers::parse_raw;
    use crate::domain::settings;

    fn answers(tier: &str, nodes: &str) -> Answers {
        let text = format!("version: 1\ntier: {tier}\nnodes:\n{nodes}this_node: node-1\n");
        Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
    }

    const ONE: &str = "  - {name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}\n";

    fn run(yml: &str, a: &Answers) -> ShapeFindings {
        let s = settings::parse("e.yml", yml).unwrap().settings;
        check(&s, a, a.local_node())
    }

    #[test]
    fn seed_hosts_not_in_the_answers_are_listed() {
        let a = answers("basic", ONE);
        let f = run(
            "discovery.seed_hosts: [node-1.example.internal, 10.0.0.12:9300, node-3]\ncluster.initial_master_nodes: [node-1, node-2]\nnetwork.host: 10.0.0.11\n",
            &a,
        );
        assert_eq!(f.definite.len(), 1, "{:?}", f.definite);
        let text = &f.definite[0].0;
        for want in ["`10.0.0.12:9300`", "`node-3`", "`node-2`"] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(!text.contains("node-1"), "{text}");
    }

    #[test]
    fn every_seed_mapped_is_fine() {
        let three = format!(
            "{ONE}  - {{name: node-2, ip: [10.0.0.12]}}\n  - {{name: node-3, dns: [node-3]}}\n"
        );
        let a = answers("basic", &three);
        let f = run(
            "discovery.seed_hosts: [10.0.0.12:9300, node-3, 127.0.0.1]\ncluster.initial_master_nodes: node-1,node-2\nnetwork.host: 10.0.0.11\n",
            &a,
        );
        assert!(f.definite.is_empty(), "{:?}", f.definite);
        assert!(f.unknowable.is_empty());
    }

    #[test]
    fn bound_addresses_outside_the_sans_are_found() {
        let a = answers("https", ONE);
        let f = run("network.host: [10.0.0.11, 192.168.1.5]\n", &a);
        assert_eq!(f.definite.len(), 2, "{:?}", f.definite);
        assert!(f.definite[0].0.contains("192.168.1.5"));
        assert!(f.definite[0].0.contains("transport"));
        assert!(f.definite[1].0.contains("http"));
    }

    #[test]
    fn special_values_are_warned_about() {
        let a = answers("basic", ONE);
        let f = run("network.host: _site_\n", &a);
        assert!(f.definite.is_empty());
        assert!(f.unknowable[0].contains("`network.host: _site_`"));
    }

    #[test]
    fn certificate_verification_skips_the_transport_san_check() {
        let text = format!(
            "version: 1\ntier: basic\nelasticsearch:\n  transport_verification: certificate\nnodes:\n{ONE}this_node: node-1\n"
        );
        let a = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
        let f = run("network.host: 192.168.1.5\n", &a);
        assert!(f.definite.is_empty());
    }
}
