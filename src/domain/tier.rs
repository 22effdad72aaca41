//! The three security tiers from Elastic's documentation, and how to tell which one a node is
//! at from its effective settings. Pure: it reads a [`Settings`] map, nothing else.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::settings::Settings;

/// A security tier. Ordered: `None < Minimal < Basic < Https`, so "upgrade only" is `>=`.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Security is off (or not configured at all).
    #[default]
    None,
    /// Security on, built-in users have passwords, Kibana authenticates as kibana_system.
    Minimal,
    /// Minimal plus TLS on the transport layer between nodes.
    Basic,
    /// Basic plus TLS on the HTTP layer for Elasticsearch and Kibana.
    Https,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Self; 4] = [Self::None, Self::Minimal, Self::Basic, Self::Https];

    /// The spelling used in answers files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minimal => "minimal",
            Self::Basic => "basic",
            Self::Https => "https",
        }
    }

    /// Two or three lines an operator reads before choosing this tier (from Elastic's docs).
    pub fn explanation(self) -> &'static str {
        match self {
            Self::None => {
                "Security is off: anyone who can reach port 9200 can read, change or delete all data."
            }
            Self::Minimal => {
                "Turns security on and sets passwords for the built-in users; Kibana logs in as \
                 kibana_system. Protects against anonymous access. Not enough for a multi-node \
                 or production-mode cluster: traffic between nodes stays unencrypted."
            }
            Self::Basic => {
                "Adds TLS between nodes: each node gets a certificate from one CA, so a node \
                 without one cannot join. Needs a full-cluster restart (TLS and plaintext nodes \
                 cannot talk). HTTP traffic to Elasticsearch and Kibana stays unencrypted."
            }
            Self::Https => {
                "Adds TLS on the HTTP layer: Elasticsearch serves HTTPS, Kibana talks to it over \
                 HTTPS trusting the CA, and browsers reach Kibana over HTTPS. Clients need the \
                 CA certificate (or its SHA-256 fingerprint)."
            }
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tier a node is at, with the settings that show it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct TierReport {
    pub tier: Tier,
    /// One line per piece of evidence, e.g. `xpack.security.enabled: true (line 12)`.
    pub evidence: Vec<String>,
}

/// Decide a node's tier from its effective `elasticsearch.yml` settings.
///
/// Security counts as on when `xpack.security.enabled` is true. It is also on when the setting
/// is absent but Elastic's auto-configuration block is present, because that block is only
/// written with security on. A tier only counts as reached when TLS is both enabled and given
/// key material, since `enabled: true` without a key stops the node from starting.
pub fn detect(settings: &Settings, has_autoconfig_block: bool) -> TierReport {
    let mut evidence = Vec::new();
    let security = match settings.get("xpack.security.enabled") {
        Some(s) => {
            evidence.push(format!(
                "xpack.security.enabled: {} (line {})",
                s.value, s.line
            ));
            s.value.is_true()
        }
        None if has_autoconfig_block => {
            evidence.push("Elastic's security auto-configuration block is present".to_string());
            true
        }
        None => {
            evidence.push(
                "xpack.security.enabled is not set: security was never configured on this node"
                    .to_string(),
            );
            false
        }
    };
    if !security {
        return TierReport {
            tier: Tier::None,
            evidence,
        };
    }
    let transport = tls_layer(settings, "transport", &mut evidence);
    let http = tls_layer(settings, "http", &mut evidence);
    let tier = match (transport, http) {
        (true, true) => Tier::Https,
        (true, false) => Tier::Basic,
        // HTTP TLS without transport TLS is not one of Elastic's tiers; it protects less than
        // basic between nodes, so it counts as minimal.
        _ => Tier::Minimal,
    };
    TierReport { tier, evidence }
}

/// Whether `xpack.security.<layer>.ssl` is enabled with key material; notes the evidence.
fn tls_layer(settings: &Settings, layer: &str, evidence: &mut Vec<String>) -> bool {
    let prefix = format!("xpack.security.{layer}.ssl");
    let enabled = settings.get(&format!("{prefix}.enabled"));
    let Some(enabled) = enabled else {
        evidence.push(format!(
            "{prefix}.enabled is not set ({layer} traffic is plaintext)"
        ));
        return false;
    };
    if !enabled.value.is_true() {
        evidence.push(format!(
            "{prefix}.enabled: {} (line {})",
            enabled.value, enabled.line
        ));
        return false;
    }
    let material = ["keystore.path", "certificate"]
        .iter()
        .find_map(|k| settings.get(&format!("{prefix}.{k}")).map(|s| (k, s)));
    match material {
        Some((k, s)) => {
            evidence.push(format!(
                "{prefix}.enabled: true with {prefix}.{k}: {} (line {})",
                s.value, s.line
            ));
            true
        }
        None => {
            evidence.push(format!(
                "{prefix}.enabled: true but no keystore.path or certificate is set"
            ));
            false
        }
    }
}
