//! Node bundles: what one host hands to another node of the cluster. A bundle holds the CA
//! certificate (never its key), that node's certificates and keys, and answers naming the
//! node, so `es-secure apply --bundle FILE` on that node needs nothing else. Bundles contain
//! private keys: they are written 0600 and should be deleted once applied.
//!
//! Applying one: [`prepare`] reads and checks the file, [`facts`] turns it into plain
//! [`BundleFacts`] for the planner (certificates and what is installed, no keys), and the
//! executor calls [`read_certs`] to get the keys from the file again only when it writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::domain::answers::{Answers, CaKeyword, RawAnswers, RawCaSource, RawNode};
use crate::domain::facts::{BundleCertFacts, BundleFacts, Finding, Severity};
use crate::domain::planner::files;

/// The bundle format this es-secure reads and writes.
pub const VERSION: u32 = 1;

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCert {
    /// Leaf followed by the CA certificate.
    pub cert: String,
    pub key: String,
}

impl Drop for BundleCert {
    // The key must not linger in freed memory after the bundle is read or written.
    fn drop(&mut self) {
        self.key.zeroize();
    }
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
    /// `cluster.name` of the host that wrote the bundle (absent when it sets none), so a
    /// bundle cannot be applied to a node of another cluster by mistake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
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
        // The version first, leniently: a newer bundle may have fields this release does not
        // know, and "unsupported version" is the useful message then.
        #[derive(Deserialize)]
        struct Header {
            version: u32,
        }
        let header: Header = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure bundle: {e}"))?;
        if header.version != VERSION {
            bail!(
                "{file}: bundle version {} is not supported (this es-secure reads version {VERSION})\nhelp: apply it with the es-secure release that wrote it",
                header.version
            );
        }
        let bundle: Self = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure bundle: {e}"))?;
        for name in bundle.certs.keys() {
            if cert_files(name).is_none() {
                bail!(
                    "{file}: unknown certificate `{name}` in the bundle (expected `transport` or `http`)"
                );
            }
        }
        if bundle.answers.this_node.as_deref() != Some(bundle.node.as_str()) {
            bail!(
                "{file}: the bundle is for node `{}` but its answers name `this_node: {}`: it was edited\nhelp: copy the bundle again from the host that wrote it",
                bundle.node,
                bundle.answers.this_node.as_deref().unwrap_or("(none)")
            );
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
    // The operator's opt-ins hold for the whole cluster they describe.
    raw.elasticsearch.allow_cleartext_rest = answers.es.allow_cleartext_rest;
    raw.elasticsearch.allow_partial_cluster = answers.es.allow_partial_cluster;
    // Built-in users live in the cluster, not on a node: the host that wrote the bundle sets
    // their passwords, and another node must not set them again.
    let keep = || Some(spanned("keep".to_string()));
    raw.passwords.elastic = keep();
    raw.passwords.kibana_system = keep();
    raw.passwords.logstash_system = keep();
    raw.passwords.beats_system = keep();
    raw.passwords.apm_system = keep();
    raw.passwords.remote_monitoring_user = keep();
    raw
}

/// The certificate and key file names for a bundle certificate name.
fn cert_files(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "transport" => Some((files::TRANSPORT_CERT, files::TRANSPORT_KEY)),
        "http" => Some((files::HTTP_CERT, files::HTTP_KEY)),
        _ => None,
    }
}

fn spanned<T>(value: T) -> serde_saphyr::Spanned<T> {
    serde_saphyr::Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// A bundle read for `apply --bundle`, checked for form (not yet against this host).
pub struct Prepared {
    pub path: PathBuf,
    pub bundle: Bundle,
    pub answers: Answers,
    /// SHA-256 of the bundle's CA certificate, computed here.
    pub ca_fingerprint: String,
    /// Set when the file is readable by others: it holds private keys.
    pub warning: Option<Finding>,
}

/// Read and check a bundle: version, form, the answers inside, and that its CA certificate
/// is one. Errors are configuration errors (exit 2); nothing is changed.
pub fn prepare(path: &Path) -> anyhow::Result<Prepared> {
    use std::os::unix::fs::MetadataExt as _;
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading bundle {}", path.display()))?,
    );
    let file = path.display().to_string();
    let bundle = Bundle::parse(&file, &text)?;
    let answers = Answers::from_raw(&bundle.answers).map_err(|errs| {
        anyhow::anyhow!(
            "{file}: the answers inside the bundle are invalid: {}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let ca = crate::shell::certinfo::inspect_pem(&bundle.ca_cert)
        .map_err(|e| anyhow::anyhow!("{file}: the bundle's CA certificate: {e}"))?;
    if !ca.is_ca {
        bail!(
            "{file}: the bundle's `ca_cert` ({}) is not a CA certificate",
            ca.subject
        );
    }
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading bundle {file}"))?
        .mode();
    let warning = (mode & 0o077 != 0).then(|| Finding {
        severity: Severity::Warning,
        text: format!(
            "{file} is readable by group or others (mode {:04o}), and it holds this node's private keys",
            mode & 0o7777
        ),
        fix: Some(format!(
            "chmod 600 {file}, and delete it once this node is applied"
        )),
        override_flag: None,
    });
    Ok(Prepared {
        path: path.to_path_buf(),
        ca_fingerprint: ca.fingerprint_sha256,
        bundle,
        answers,
        warning,
    })
}

/// The planner's view of a prepared bundle on this node: its certificates checked against its
/// CA and keys, and whether the files under `<es_config>/certs/` already hold them. The keys
/// themselves stay out.
pub fn facts(p: &Prepared, es_config_dir: &Path) -> BundleFacts {
    let certs_dir = es_config_dir.join("certs");
    let b = &p.bundle;
    let certs = b
        .certs
        .iter()
        .filter_map(|(name, bc)| {
            let (cert_file, key_file) = cert_files(name)?;
            let summary =
                crate::shell::certinfo::existing_cert(&bc.cert, Some(&bc.key), Some(&b.ca_cert));
            let cert_same = std::fs::read(certs_dir.join(cert_file))
                .is_ok_and(|bytes| bytes == bc.cert.as_bytes());
            let key_same = std::fs::read(certs_dir.join(key_file))
                .map(Zeroizing::new)
                .is_ok_and(|bytes| bytes.as_slice() == bc.key.as_bytes());
            Some((
                name.clone(),
                BundleCertFacts {
                    cert_pem: bc.cert.clone(),
                    summary,
                    installed: cert_same && key_same,
                },
            ))
        })
        .collect();
    BundleFacts {
        path: p.path.clone(),
        node: b.node.clone(),
        cluster_name: b.cluster_name.clone(),
        ca_cert_pem: b.ca_cert.clone(),
        ca_fingerprint: p.ca_fingerprint.clone(),
        declared_fingerprint: b.ca_fingerprint.clone(),
        certs,
    }
}

/// The bundle's certificates with their keys, by bundle name, read from the file again at
/// apply time. Refuses when the file no longer holds what the plan was made from.
pub fn read_certs(
    expected: &BundleFacts,
) -> anyhow::Result<BTreeMap<String, (String, Zeroizing<String>)>> {
    let file = expected.path.display().to_string();
    let text = Zeroizing::new(
        std::fs::read_to_string(&expected.path)
            .with_context(|| format!("reading bundle {file}"))?,
    );
    let bundle = Bundle::parse(&file, &text)?;
    let same = bundle.node == expected.node
        && bundle.ca_cert == expected.ca_cert_pem
        && bundle.certs.len() == expected.certs.len()
        && bundle.certs.iter().all(|(name, bc)| {
            expected
                .certs
                .get(name)
                .is_some_and(|e| e.cert_pem == bc.cert)
        });
    if !same {
        bail!(
            "{file} changed since the plan was made\nhelp: run es-secure again to plan against the current bundle"
        );
    }
    Ok(bundle
        .certs
        .iter()
        .map(|(name, bc)| {
            (
                name.clone(),
                (bc.cert.clone(), Zeroizing::new(bc.key.clone())),
            )
        })
        .collect())
}
