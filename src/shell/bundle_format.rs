//! The bytes of node bundles (format version 4): one signed cluster file per set of bundles
//! (`cluster.yml`, the cluster's answers with every node's name and addresses, written once)
//! and per node one signed bundle file holding only that node's part (its certificates and
//! keys, the CA certificate) and the SHA-256 of the cluster file it belongs with. The output
//! of an apply for N nodes therefore grows with N, not N², and the node list is serialized,
//! signed and written once.
//!
//! This module writes and parses those files: it must not decide what goes into a bundle
//! (the planner does, `domain::bundle`), judge whether a bundle may be applied (`shell::bundle`
//! authenticates and checks it), nor write files (the executor's transaction does).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

use crate::domain::answers::RawAnswers;
use crate::domain::bundle::BundleContents;
use crate::shell::bundle_sig;
use crate::shell::certgen::CaSigner;

/// The bundle format this es-secure reads and writes.
/// Version 4 splits a set of bundles into one cluster file (the answers every node shares)
/// and per node a file with only its own part, bound to the cluster file by its SHA-256.
/// Version 3 (the cluster's answers inside every bundle), version 2 (answers with `this_node`)
/// and version 1 (unsigned) are refused with a message saying to write the bundles anew.
pub const VERSION: u32 = 4;

pub use crate::domain::bundle::CLUSTER_FILE;

/// `kind` of a node bundle file.
const NODE_KIND: &str = "es-secure-node-bundle";
/// `kind` of a cluster file.
const CLUSTER_KIND: &str = "es-secure-cluster";

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

/// A bundle as es-secure uses it: a node's file joined with its cluster file. In memory
/// `answers.this_node` is `node`; on disk the node is named only by the node file.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub version: u32,
    pub node: String,
    /// `cluster.name` of the host that wrote the bundle (absent when it sets none), so a
    /// bundle cannot be applied to a node of another cluster by mistake.
    pub cluster_name: Option<String>,
    pub ca_cert: String,
    pub ca_fingerprint: String,
    /// `transport` and (https tier) `http`.
    pub certs: BTreeMap<String, BundleCert>,
    /// The answers the node applies, `this_node` included.
    pub answers: RawAnswers,
}

/// The per-node file of a bundle, as read (its cluster file not yet joined).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub kind: String,
    pub version: u32,
    pub node: String,
    pub ca_cert: String,
    pub ca_fingerprint: String,
    /// SHA-256 (lower-case hex) of the whole cluster file (signature line included) written
    /// with this bundle.
    pub cluster_sha256: String,
    pub certs: BTreeMap<String, BundleCert>,
}

/// The per-node file in file order, for writing.
#[derive(Serialize)]
struct NodeHead<'a> {
    kind: &'a str,
    version: u32,
    node: &'a str,
    ca_cert: &'a str,
    ca_fingerprint: &'a str,
    cluster_sha256: &'a str,
    certs: &'a BTreeMap<String, BundleCert>,
}

/// The cluster file of a set of bundles, as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub kind: String,
    pub version: u32,
    /// The CA that signed the file (and the node bundles written with it).
    pub ca_fingerprint: String,
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// The cluster's answers, without `this_node`.
    pub cluster: RawAnswers,
}

/// The cluster file in file order, for writing.
#[derive(Serialize)]
struct ClusterHead<'a> {
    kind: &'a str,
    version: u32,
    ca_fingerprint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_name: Option<&'a str>,
    cluster: &'a RawAnswers,
}

/// SHA-256 of `bytes`, lower-case hex: how a node bundle names its cluster file.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn with_newline(text: String) -> String {
    if text.ends_with('\n') {
        text
    } else {
        text + "\n"
    }
}

/// The signed text of a cluster file.
fn cluster_text(
    signer: &CaSigner,
    ca_fingerprint: &str,
    cluster_name: Option<&str>,
    answers: &RawAnswers,
) -> anyhow::Result<String> {
    let yaml = serde_saphyr::to_string(&ClusterHead {
        kind: CLUSTER_KIND,
        version: VERSION,
        ca_fingerprint,
        cluster_name,
        cluster: answers,
    })
    .context("serializing the bundles' cluster file")?;
    let body = format!(
        "# es-secure cluster file: the cluster's answers (nodes, tier, hardening) shared by the node\n# bundles written next to it. No private keys. Copy it with each node's bundle, into the same\n# directory: `es-secure apply --bundle FILE` reads it from there.\n{}",
        with_newline(yaml)
    );
    bundle_sig::sign(signer, &body)
}

/// The signed text of a node file (body built in one buffer with room for the signature, so
/// the keys are never copied into a second allocation).
fn node_text(head: &NodeHead<'_>, signer: &CaSigner) -> anyhow::Result<Zeroizing<String>> {
    // The head holds private keys: wiped when dropped, like the text the caller keeps.
    let yaml = Zeroizing::new(with_newline(
        serde_saphyr::to_string(head).context("serializing bundle")?,
    ));
    let comment = format!(
        "# es-secure node bundle for {}. Contains private keys: keep it 0600 and delete it after\n# `es-secure apply --bundle FILE --ca-fingerprint SHA256 --yes` on that node, where SHA256\n# is the CA fingerprint printed by the apply on the CA host (not one copied from this file).\n# It needs the {CLUSTER_FILE} written with it, in the same directory.\n",
        head.node
    );
    let mut text = Zeroizing::new(String::with_capacity(
        comment.len() + yaml.len() + bundle_sig::SIGNATURE_LINE_MAX,
    ));
    text.push_str(&comment);
    text.push_str(&yaml);
    bundle_sig::append_signature(signer, &mut text)?;
    Ok(text)
}

/// The version of a bundle or cluster file, read leniently first: a newer file may have
/// fields this release does not know, and "unsupported version" is the useful message then.
/// `Err` says what is wrong, for either kind of file.
fn check_version(file: &str, text: &str, want_kind: &str) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Header {
        version: u32,
        #[serde(default)]
        kind: Option<String>,
    }
    let what = if want_kind == CLUSTER_KIND {
        "cluster file"
    } else {
        "bundle"
    };
    let header: Header = serde_saphyr::from_str(text)
        .map_err(|e| anyhow::anyhow!("{file}: not an es-secure {what}: {e}"))?;
    match header.kind.as_deref() {
        Some(CLUSTER_KIND) if want_kind == NODE_KIND => bail!(
            "{file} is the cluster file of a set of node bundles, not a node bundle\nhelp: give the node's own bundle (`<node>.bundle.yml`) with --bundle; it reads {CLUSTER_FILE} from its directory"
        ),
        Some(NODE_KIND) if want_kind == CLUSTER_KIND => bail!(
            "{file} is a node bundle, not the cluster file written with it\nhelp: give the {CLUSTER_FILE} from the directory the CA host wrote the bundles to"
        ),
        _ => {}
    }
    if header.version == 1 {
        bail!(
            "{file}: this is an unsigned (version 1) bundle from an older es-secure, which this release does not trust\nhelp: re-run the apply on the CA host with this release to write signed bundles, and copy the new one here"
        );
    }
    if header.version < VERSION {
        bail!(
            "{file}: bundle version {} is from an older es-secure (this es-secure reads version {VERSION}: per node a bundle with its own certificates, and one {CLUSTER_FILE} with the cluster's answers)\nhelp: re-run the apply on the CA host with this release to write the bundles anew, and copy the new bundle and {CLUSTER_FILE} here",
            header.version
        );
    }
    if header.version != VERSION {
        bail!(
            "{file}: bundle version {} is not supported (this es-secure reads version {VERSION})\nhelp: apply it with the es-secure release that wrote it",
            header.version
        );
    }
    if header.kind.as_deref() != Some(want_kind) {
        bail!("{file}: not an es-secure {what}: its `kind` is not `{want_kind}`");
    }
    Ok(())
}

impl NodeFile {
    /// Parse a node file (its signature line is a comment). Checks its version and form.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        check_version(file, text, NODE_KIND)?;
        let node: Self = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure bundle: {e}"))?;
        for name in node.certs.keys() {
            if name != "transport" && name != "http" {
                bail!(
                    "{file}: unknown certificate `{name}` in the bundle (expected `transport` or `http`)"
                );
            }
        }
        Ok(node)
    }
}

impl ClusterFile {
    /// Parse a cluster file (its signature line is a comment). Checks its version and form.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        check_version(file, text, CLUSTER_KIND)?;
        let cluster: Self = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure cluster file: {e}"))?;
        if let Some(named) = &cluster.cluster.this_node {
            bail!(
                "{file}: not an es-secure cluster file: its `cluster` answers name `this_node: {named}` (each node bundle names its node with `node`)"
            );
        }
        Ok(cluster)
    }
}

impl Bundle {
    /// A node file joined with its cluster file. The caller has checked that the node file
    /// names this cluster file (its SHA-256).
    pub fn join(node: NodeFile, cluster: ClusterFile) -> Self {
        let mut answers = cluster.cluster;
        answers.this_node = Some(node.node.clone());
        Self {
            version: node.version,
            node: node.node,
            cluster_name: cluster.cluster_name,
            ca_cert: node.ca_cert,
            ca_fingerprint: node.ca_fingerprint,
            certs: node.certs,
            answers,
        }
    }

    /// Parse a node file and the cluster file `cluster_text` it names, without checking
    /// signatures (see `shell::bundle::prepare` for that): the form, the versions, and that
    /// the cluster file is the one the node file names.
    pub fn parse(
        node_file: &str,
        node_text: &str,
        cluster_file: &str,
        cluster_text: &str,
    ) -> anyhow::Result<Self> {
        let node = NodeFile::parse(node_file, node_text)?;
        let cluster = ClusterFile::parse(cluster_file, cluster_text)?;
        let got = sha256_hex(cluster_text.as_bytes());
        if got != node.cluster_sha256 {
            bail!(
                "{cluster_file} is not the cluster file {node_file} was written with (its SHA-256 is {got}, the bundle names {})",
                node.cluster_sha256
            );
        }
        Ok(Self::join(node, cluster))
    }

    /// Both files of this bundle, signed with `signer`: (node file, cluster file). For tests
    /// and tools that re-sign an edited bundle; an apply uses [`BundleWriter`].
    pub fn to_signed_texts(
        &self,
        signer: &CaSigner,
    ) -> anyhow::Result<(Zeroizing<String>, String)> {
        let mut answers = self.answers.clone();
        answers.this_node = None;
        let cluster = cluster_text(
            signer,
            &self.ca_fingerprint,
            self.cluster_name.as_deref(),
            &answers,
        )?;
        let node = node_text(
            &NodeHead {
                kind: NODE_KIND,
                version: self.version,
                node: &self.node,
                ca_cert: &self.ca_cert,
                ca_fingerprint: &self.ca_fingerprint,
                cluster_sha256: &sha256_hex(cluster.as_bytes()),
                certs: &self.certs,
            },
            signer,
        )?;
        Ok((node, cluster))
    }
}

/// Builds the files of one set of bundles with one CA: the cluster file once (from the first
/// bundle's contents, whose cluster answers every bundle of a plan shares, see
/// [`crate::domain::bundle::NodeAnswers`]), then per node a file with its certificates, its
/// own few lines and the signature, so a bundle costs the same for 3 nodes or 1,000.
pub struct BundleWriter<'a> {
    signer: &'a CaSigner,
    ca_fingerprint: String,
    shared: Arc<RawAnswers>,
    cluster_name: Option<String>,
    cluster_text: String,
    cluster_sha256: String,
}

impl<'a> BundleWriter<'a> {
    /// A writer for the bundles whose cluster part is that of `first` (any bundle of the set).
    pub fn new(signer: &'a CaSigner, first: &BundleContents) -> anyhow::Result<Self> {
        let ca_fingerprint = signer.fingerprint_sha256();
        let shared = Arc::clone(first.answers.shared());
        let cluster_text = cluster_text(
            signer,
            &ca_fingerprint,
            first.cluster_name.as_deref(),
            &shared,
        )?;
        Ok(Self {
            signer,
            cluster_sha256: sha256_hex(cluster_text.as_bytes()),
            ca_fingerprint,
            shared,
            cluster_name: first.cluster_name.clone(),
            cluster_text,
        })
    }

    /// The signed cluster file, to write as [`CLUSTER_FILE`] next to the node bundles.
    pub fn cluster_text(&self) -> &str {
        &self.cluster_text
    }

    /// The bundle file for `node`: the certificates the plan lists in `contents`, issued now
    /// with fresh keys, the CA certificate (never its key) and the cluster file's SHA-256,
    /// signed.
    pub fn text_for(
        &self,
        node: &str,
        contents: &BundleContents,
    ) -> anyhow::Result<Zeroizing<String>> {
        if contents.answers.this_node() != node {
            bail!("internal: the bundle for {node} holds the answers of another node");
        }
        // Every bundle of a plan shares one copy of the cluster's answers; compare the values
        // only when it is another copy.
        let shared = contents.answers.shared();
        if !(Arc::ptr_eq(shared, &self.shared) || **shared == *self.shared)
            || contents.cluster_name != self.cluster_name
        {
            bail!(
                "internal: the bundle for {node} has other cluster answers than the cluster file written with it"
            );
        }
        let signer = self.signer;
        let mut certs = BTreeMap::new();
        for spec in &contents.certs {
            let purpose = spec.purpose.with_context(|| {
                format!("the bundle for {node} lists a CA certificate to issue")
            })?;
            let issued = signer.issue(spec)?;
            let mut cert = String::with_capacity(issued.cert_pem.len() + signer.cert_pem().len());
            cert.push_str(&issued.cert_pem);
            cert.push_str(signer.cert_pem());
            certs.insert(
                crate::domain::planner::bundle_cert_name(purpose).to_string(),
                BundleCert {
                    cert,
                    key: issued.key_pem.to_string(),
                },
            );
        }
        node_text(
            &NodeHead {
                kind: NODE_KIND,
                version: VERSION,
                node,
                ca_cert: signer.cert_pem(),
                ca_fingerprint: &self.ca_fingerprint,
                cluster_sha256: &self.cluster_sha256,
                certs: &certs,
            },
            signer,
        )
    }

    /// [`BundleWriter::text_for`] for each `(node, contents)` of `jobs`, in their order,
    /// built on every core: issuing the two certificates (key generation) and signing are
    /// most of a bundle's cost, and the bundles are independent. The caller bounds `jobs`
    /// (the texts hold private keys and are all in memory until written).
    pub fn texts_for(
        &self,
        jobs: &[(&str, &BundleContents)],
    ) -> Vec<anyhow::Result<Zeroizing<String>>> {
        crate::shell::cores::map_ordered(
            jobs,
            |(node, contents)| self.text_for(node, contents),
            || Err(anyhow::anyhow!("a bundle-building thread panicked")),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::answers::{Answers, parse_raw};
    use crate::domain::bundle::{contents_for, shared_answers};
    use crate::domain::certspec::{CertSpec, KeyType};

    /// Bundles built on several threads come back in the order asked, each for its node and
    /// signed, and a bundle that cannot be built fails in its own place, not another's.
    #[test]
    fn bundles_built_on_every_core_keep_their_order_and_their_errors() {
        let mut yaml = String::from("version: 1\ntier: https\nnodes:\n");
        for i in 1..=7 {
            yaml.push_str(&format!("  - {{name: node-{i}, ip: [10.0.0.{i}]}}\n"));
        }
        yaml.push_str("this_node: node-1\n");
        let answers = Answers::from_raw(&parse_raw(&yaml).unwrap()).unwrap();
        let shared = shared_answers(&answers);
        let contents: Vec<BundleContents> = answers
            .nodes
            .iter()
            .map(|n| contents_for(&answers, &shared, n, None))
            .collect();
        let (ca, _) = crate::shell::certgen::generate_ca(&CertSpec {
            common_name: "es-secure test CA".into(),
            purpose: None,
            dns: vec![],
            ip: vec![],
            key_type: KeyType::EcdsaP256,
            validity_days: 30,
        })
        .unwrap();
        let writer = BundleWriter::new(&ca, &contents[0]).unwrap();
        let mut jobs: Vec<(&str, &BundleContents)> = answers
            .nodes
            .iter()
            .zip(&contents)
            .map(|(n, c)| (n.name.as_str(), c))
            .collect();
        // node-5's contents asked for under another node's name.
        jobs[4].0 = "node-1";
        let texts = writer.texts_for(&jobs);
        assert_eq!(texts.len(), jobs.len());
        for (i, text) in texts.iter().enumerate() {
            if i == 4 {
                let err = format!("{:#}", text.as_ref().unwrap_err());
                assert!(err.contains("answers of another node"), "{err}");
                continue;
            }
            let text = text.as_ref().unwrap();
            assert!(
                text.contains(&format!("node bundle for node-{}.", i + 1)),
                "bundle {i} is not node-{}'s:\n{}",
                i + 1,
                text.as_str()
            );
            assert_eq!(
                text.matches("-----BEGIN PRIVATE KEY-----").count(),
                2,
                "transport and http keys"
            );
        }
    }
}
