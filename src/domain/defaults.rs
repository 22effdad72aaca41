//! The wizard's starting answers, derived from what detection found: the current node from
//! `node.name`/`network.host`/hostname, the detected tier, Kibana when it was found.
//!
//! Pure: it reads [`Facts`] only. It must not validate (that is `Answers::from_raw`'s job) nor
//! read the host itself.

use crate::domain::answers::{self, RawAnswers, RestartMode};
use crate::domain::facts::{Facts, Layout};

/// Answers prefilled from detection: the current node from node.name and network.host.
pub fn initial_answers(facts: &Facts) -> RawAnswers {
    use crate::domain::answers::RawNode;
    use crate::domain::tier::Tier;
    let s = &facts.es.parsed.settings;
    let mut raw = RawAnswers {
        version: 1,
        tier: facts.es.tier.tier.max(Tier::Minimal),
        ..RawAnswers::default()
    };
    let name = s
        .value("node.name")
        .map(|v| v.as_plain())
        .filter(|n| answers::valid_node_name(n))
        .or_else(|| {
            facts
                .host
                .hostname
                .clone()
                .filter(|h| answers::valid_node_name(h))
        })
        .unwrap_or_else(|| "node-1".to_string());
    let mut dns = vec!["localhost".to_string()];
    if let Some(h) = &facts.host.hostname
        && answers::valid_dns_name(h)
        && h != "localhost"
    {
        dns.insert(0, h.clone());
    }
    let mut ip = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    if let Some(v) = s.value("network.host")
        && let Ok(addr) = v.as_plain().parse::<std::net::IpAddr>()
        && !ip.contains(&addr)
        && !addr.is_unspecified()
    {
        ip.insert(0, addr);
    }
    raw.nodes = vec![RawNode {
        name: spanned(name.clone()),
        dns: dns.into_iter().map(spanned).collect(),
        ip,
    }];
    raw.this_node = Some(name);
    if facts.es.layout == Layout::Sandbox {
        raw.elasticsearch.restart = Some(RestartMode::Manual);
    }
    if let Some(k) = &facts.kibana {
        raw.kibana = Some(answers::RawKibana {
            config_dir: k.config_dir.clone(),
            ..answers::RawKibana::default()
        });
    }
    raw
}

fn spanned<T>(value: T) -> serde_saphyr::Spanned<T> {
    serde_saphyr::Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}
