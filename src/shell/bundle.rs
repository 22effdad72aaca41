//! Node bundles: what one host hands to another node of the cluster. A bundle holds the CA
//! certificate (never its key), that node's certificates and keys, and answers naming the
//! node, so `es-secure apply --bundle FILE` on that node needs nothing else. Bundles contain
//! private keys: they are written 0600 and should be deleted once applied.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::domain::answers::{Answers, CaKeyword, RawAnswers, RawCaSource, RawNode};

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCert {
    /// Leaf followed by the CA certificate.
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for BundleCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleCert")
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub version: u32,
    pub node: String,
    pub ca_cert: String,
    pub ca_fingerprint: String,
    /// `transport` and (https tier) `http`.
    pub certs: BTreeMap<String, BundleCert>,
    pub answers: RawAnswers,
}

impl Bundle {
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        let body = serde_saphyr::to_string(self).context("serializing bundle")?;
        Ok(format!(
            "# es-secure node bundle for {}. Contains private keys: keep it 0600 and delete it after\n# `es-secure apply --bundle FILE` on that node.\n{body}",
            self.node
        ))
    }

    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        let bundle: Self = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure bundle: {e}"))?;
        if bundle.version != 1 {
            anyhow::bail!("{file}: bundle version {} is not supported", bundle.version);
        }
        Ok(bundle)
    }
}

/// Answers for another node: the same cluster answers with `this_node` pointing at it. The
/// Kibana section is dropped (Kibana is configured where it runs), and the CA is `existing`
/// because the bundle carries it.
pub fn answers_for_node(answers: &Answers, node: &str) -> RawAnswers {
    let mut raw = RawAnswers {
        version: 1,
        tier: answers.tier,
        ..RawAnswers::default()
    };
    raw.nodes = answers
        .nodes
        .iter()
        .map(|n| RawNode {
            name: spanned(n.name.clone()),
            dns: n.dns.iter().cloned().map(spanned).collect(),
            ip: n.ip.clone(),
        })
        .collect();
    raw.this_node = Some(node.to_string());
    raw.certificates.ca = RawCaSource::Keyword(CaKeyword::Existing);
    raw.certificates.key_type = answers.certs.key_type;
    raw.certificates.validity_days = answers.certs.validity_days;
    raw.elasticsearch.transport_verification = Some(answers.es.verification);
    raw
}

fn spanned<T>(value: T) -> serde_saphyr::Spanned<T> {
    serde_saphyr::Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// Read a bundle for `apply --bundle`. Returns the typed answers and the state directory to
/// use for this node.
pub fn prepare(
    path: &std::path::Path,
    state_dir: &std::path::Path,
) -> anyhow::Result<(Answers, std::path::PathBuf)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading bundle {}", path.display()))?;
    let bundle = Bundle::parse(&path.display().to_string(), &text)?;
    let _answers = Answers::from_raw(&bundle.answers).map_err(|errs| {
        anyhow::anyhow!(
            "{}: the answers inside the bundle are invalid: {}",
            path.display(),
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let _ = state_dir;
    anyhow::bail!(
        "applying a bundle is not implemented yet\nhelp: on node {}, run es-secure with the same answers and `this_node: {}`, and a copy of this host's state directory's ca/ (CA certificate and key)",
        bundle.node,
        bundle.node
    )
}
