//! Which URL es-secure uses to reach this node's REST API: the scheme from the tier (before
//! or after the apply), the host from the node's HTTP bind settings (loopback when it listens
//! there, else the first concrete host), the port from `http.port`. Pure: reads [`Facts`] and
//! [`Answers`] only; it must not decide anything else about the plan.

use std::net::IpAddr;

use crate::domain::answers::Answers;
use crate::domain::facts::Facts;
use crate::domain::settings::{SettingValue, Settings};
use crate::domain::tier::Tier;

/// The URL es-secure uses to reach this node's REST API after the apply.
pub fn es_url(facts: &Facts, answers: &Answers) -> String {
    es_url_at(facts, answers, answers.tier)
}

/// The URL of this node's REST API at `tier`: before the apply (the current tier) it is plain
/// HTTP unless the node already serves HTTPS, even when the answers' URL says `https`.
pub(super) fn es_url_at(facts: &Facts, answers: &Answers, tier: Tier) -> String {
    if let Some(url) = &answers.es.url {
        return match url.strip_prefix("https://") {
            Some(rest) if tier < Tier::Https => format!("http://{rest}"),
            _ => url.clone(),
        };
    }
    es_url_for_tier(facts, tier)
}

/// The URL of this node's REST API now, before any apply: at the tier detected, from the
/// answers' URL when there are answers (`status --answers`).
pub fn es_url_current(facts: &Facts, answers: Option<&Answers>) -> String {
    match answers {
        Some(a) => es_url_at(facts, a, facts.es.tier.tier),
        None => es_url_detected(facts),
    }
}

/// The URL of this node's REST API at the tier detected (no answers: `renew`, `status`).
pub fn es_url_detected(facts: &Facts) -> String {
    es_url_for_tier(facts, facts.es.tier.tier)
}

fn es_url_for_tier(facts: &Facts, tier: Tier) -> String {
    let scheme = if tier == Tier::Https { "https" } else { "http" };
    let settings = &facts.es.parsed.settings;
    // Plain HTTP carries the temporary superuser's and the new built-in passwords: keep it on
    // the loopback interface whenever Elasticsearch listens there.
    let host = if scheme == "http" && http_listens_on_loopback(settings) {
        // The loopback address it binds (a second node on one host binds 127.0.0.2), else
        // 127.0.0.1.
        http_bind_hosts(settings)
            .and_then(|hosts| {
                hosts
                    .into_iter()
                    .map(|h| h.trim().to_string())
                    .find(|h| h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            })
            .unwrap_or_else(|| "127.0.0.1".to_string())
    } else {
        ["http.publish_host", "http.host", "network.host"]
            .iter()
            .find_map(|k| settings.value(k).and_then(first_concrete_host))
            .unwrap_or_else(|| "localhost".to_string())
    };
    let port = settings
        .value("http.port")
        .map(SettingValue::as_plain)
        .and_then(|p| p.split('-').next().map(str::to_string))
        .filter(|p| p.parse::<u16>().is_ok())
        .unwrap_or_else(|| "9200".to_string());
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host,
    };
    format!("{scheme}://{host}:{port}")
}

/// The HTTP layer's bind addresses (`http.bind_host`, `http.host`, `network.bind_host`,
/// `network.host`, first set wins), as written; `None` when none is set.
fn http_bind_hosts(settings: &Settings) -> Option<Vec<String>> {
    [
        "http.bind_host",
        "http.host",
        "network.bind_host",
        "network.host",
    ]
    .iter()
    .find_map(|k| settings.value(k))
    .map(|v| match v {
        SettingValue::List(items) => items.iter().map(SettingValue::as_plain).collect(),
        other => vec![other.as_plain()],
    })
}

/// Whether Elasticsearch's HTTP layer listens on a loopback address: its default (`_local_`),
/// a loopback name or address, or a wildcard (`0.0.0.0`, `::`).
pub(super) fn http_listens_on_loopback(settings: &Settings) -> bool {
    http_bind_hosts(settings).is_none_or(|hosts| {
        hosts.iter().any(|h| {
            let h = h.trim();
            is_loopback_bind(h) || h == "0.0.0.0" || h == "::" || h == "[::]"
        })
    })
}

/// Whether a URL's host is a loopback name or address.
pub(super) fn url_is_loopback(url: &str) -> bool {
    crate::domain::answers::url_host(url).is_some_and(|h| is_loopback_bind(&h))
}

/// A host a client can connect to, from a bind setting: special values (`_local_`,
/// `0.0.0.0`, `_site_`) mean "use localhost".
fn first_concrete_host(value: &SettingValue) -> Option<String> {
    let first = match value {
        SettingValue::List(items) => items.first()?.as_plain(),
        other => other.as_plain(),
    };
    let first = first.trim().to_string();
    if first.is_empty()
        || first.starts_with('_')
        || first.starts_with("${")
        || first == "0.0.0.0"
        || first == "::"
    {
        return None;
    }
    Some(first)
}

pub(super) fn is_loopback_bind(host: &str) -> bool {
    let h = host.trim();
    h == "localhost"
        || h == "_local_"
        || h.starts_with("_local")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
