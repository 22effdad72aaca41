//! Node bundles: what one host hands to another node of the cluster. A bundle holds the CA
//! certificate (never its key), that node's certificates and keys, and answers naming the
//! node, so `es-secure apply --bundle FILE` on that node needs nothing else. Bundles contain
//! private keys: they are written 0600 and should be deleted once applied.
//!
//! Trust: the writing host signs every bundle with the CA key ([`crate::shell::bundle_sig`]);
//! [`prepare`] accepts a bundle only when that signature verifies with the bundle's CA
//! certificate, that CA is the one the operator named (`--ca-fingerprint`, or confirmed at a
//! terminal), and its answers are exactly what es-secure writes into a bundle
//! ([`crate::domain::bundle::unexpected_answer_keys`]). This module must not decide what goes
//! into a bundle (the planner does) nor write files (the executor's transaction does).
//!
//! Applying one: [`prepare`] reads and checks the file, [`facts`] turns it into plain
//! [`BundleFacts`] for the planner (certificates and what is installed, no keys), and the
//! executor calls [`read_certs`] to get the keys from the file again only when it writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::domain::answers::{Answers, RawAnswers};
use crate::domain::bundle::BundleContents;
use crate::domain::facts::{BundleCertFacts, BundleFacts, Finding, Severity};
use crate::domain::planner::files;
use crate::shell::bundle_sig;
use crate::shell::certgen::CaSigner;

/// The bundle format this es-secure reads and writes.
/// Version 3 carries the cluster's answers once, without `this_node` (the node is named by
/// `node`), so that section is the same bytes in every bundle of a plan and is serialized
/// once for all of them. Version 2 (answers with `this_node`, never in a release) and version
/// 1 (unsigned) are refused with a message saying to write the bundles anew.
pub const VERSION: u32 = 3;

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

/// A bundle as es-secure uses it. On disk (version 3) it is the per-node part (`version`,
/// `node`, `cluster_name`, `ca_cert`, `ca_fingerprint`, `certs`) followed by `cluster:`, the
/// answers without `this_node`; in memory `answers.this_node` is `node`.
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

/// The per-node part of a bundle file, in file order.
#[derive(Serialize)]
struct Head<'a> {
    version: u32,
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_name: Option<&'a str>,
    ca_cert: &'a str,
    ca_fingerprint: &'a str,
    certs: &'a BTreeMap<String, BundleCert>,
}

/// A whole bundle file as read (version 3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    node: String,
    #[serde(default)]
    cluster_name: Option<String>,
    ca_cert: String,
    ca_fingerprint: String,
    certs: BTreeMap<String, BundleCert>,
    cluster: RawAnswers,
}

/// The `cluster:` section of a bundle file: `answers` without `this_node`.
fn cluster_yaml(answers: &RawAnswers) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Cluster<'a> {
        cluster: &'a RawAnswers,
    }
    let text = serde_saphyr::to_string(&Cluster { cluster: answers })
        .context("serializing the bundle's cluster answers")?;
    Ok(with_newline(text))
}

fn with_newline(text: String) -> String {
    if text.ends_with('\n') {
        text
    } else {
        text + "\n"
    }
}

/// The bundle body (what is signed): comment, per-node part, then the `cluster:` section.
fn body(head: &Head<'_>, cluster: &str) -> anyhow::Result<String> {
    // The head holds private keys: wiped when dropped, like the body the caller keeps.
    let head_text = Zeroizing::new(with_newline(
        serde_saphyr::to_string(head).context("serializing bundle")?,
    ));
    let comment = format!(
        "# es-secure node bundle for {}. Contains private keys: keep it 0600 and delete it after\n# `es-secure apply --bundle FILE --ca-fingerprint SHA256 --yes` on that node, where SHA256\n# is the CA fingerprint printed by the apply on the CA host (not one copied from this file).\n",
        head.node
    );
    // Room for the signature too: the text is never reallocated (a freed copy of the keys).
    let mut out = String::with_capacity(
        comment.len() + head_text.len() + cluster.len() + bundle_sig::SIGNATURE_LINE_MAX,
    );
    out.push_str(&comment);
    out.push_str(&head_text);
    out.push_str(cluster);
    Ok(out)
}

impl Bundle {
    /// The bundle's body: what [`Bundle::to_signed_text`] signs.
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        let mut cluster = self.answers.clone();
        cluster.this_node = None;
        body(
            &Head {
                version: self.version,
                node: &self.node,
                cluster_name: self.cluster_name.as_deref(),
                ca_cert: &self.ca_cert,
                ca_fingerprint: &self.ca_fingerprint,
                certs: &self.certs,
            },
            &cluster_yaml(&cluster)?,
        )
    }

    /// The whole bundle file: the body followed by its signature with the CA key.
    pub fn to_signed_text(&self, signer: &CaSigner) -> anyhow::Result<String> {
        crate::shell::bundle_sig::sign(signer, &self.to_yaml()?)
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
        if header.version == 1 {
            bail!(
                "{file}: this is an unsigned (version 1) bundle from an older es-secure, which this release does not trust\nhelp: re-run the apply on the CA host with this release to write signed bundles, and copy the new one here"
            );
        }
        if header.version < VERSION {
            bail!(
                "{file}: bundle version {} is from an older es-secure (this es-secure reads version {VERSION}, which carries the cluster's answers once)\nhelp: re-run the apply on the CA host with this release to write the bundles anew, and copy the new one here",
                header.version
            );
        }
        if header.version != VERSION {
            bail!(
                "{file}: bundle version {} is not supported (this es-secure reads version {VERSION})\nhelp: apply it with the es-secure release that wrote it",
                header.version
            );
        }
        let disk: OnDisk = serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}: not an es-secure bundle: {e}"))?;
        for name in disk.certs.keys() {
            if cert_files(name).is_none() {
                bail!(
                    "{file}: unknown certificate `{name}` in the bundle (expected `transport` or `http`)"
                );
            }
        }
        let mut answers = disk.cluster;
        if let Some(named) = &answers.this_node {
            bail!(
                "{file}: not an es-secure bundle: its `cluster` answers name `this_node: {named}` (a bundle names its node with `node`)"
            );
        }
        answers.this_node = Some(disk.node.clone());
        Ok(Self {
            version: disk.version,
            node: disk.node,
            cluster_name: disk.cluster_name,
            ca_cert: disk.ca_cert,
            ca_fingerprint: disk.ca_fingerprint,
            certs: disk.certs,
            answers,
        })
    }
}

/// Builds the bundle texts of one plan with one CA: the CA's fingerprint and the `cluster:`
/// section (the same for every bundle of a plan, see [`crate::domain::bundle::NodeAnswers`]) are made once, so a
/// bundle costs its certificates, its own few lines and the signature, not a serialization of
/// every node of the cluster.
pub struct BundleWriter<'a> {
    signer: &'a CaSigner,
    ca_fingerprint: String,
    cluster: Option<(Arc<RawAnswers>, String)>,
}

impl<'a> BundleWriter<'a> {
    pub fn new(signer: &'a CaSigner) -> Self {
        Self {
            signer,
            ca_fingerprint: signer.fingerprint_sha256(),
            cluster: None,
        }
    }

    /// The bundle text for `node`: the certificates the plan lists in `contents`, issued now
    /// with fresh keys, the CA certificate (never its key) and the planned answers, signed.
    pub fn text_for(
        &mut self,
        node: &str,
        contents: &BundleContents,
    ) -> anyhow::Result<Zeroizing<String>> {
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
        if contents.answers.this_node() != node {
            bail!("internal: the bundle for {node} holds the answers of another node");
        }
        let shared = contents.answers.shared();
        let cluster = match &self.cluster {
            Some((cached, text)) if Arc::ptr_eq(cached, shared) => text,
            _ => {
                let text = cluster_yaml(shared)?;
                &self.cluster.insert((Arc::clone(shared), text)).1
            }
        };
        let mut text = Zeroizing::new(body(
            &Head {
                version: VERSION,
                node,
                cluster_name: contents.cluster_name.as_deref(),
                ca_cert: signer.cert_pem(),
                ca_fingerprint: &self.ca_fingerprint,
                certs: &certs,
            },
            cluster,
        )?);
        bundle_sig::append_signature(signer, &mut text)?;
        Ok(text)
    }
}

/// What the operator does with a bundle written here: the exact command for its node, with
/// the CA fingerprint that node must trust.
pub fn copy_instruction(node: &str, path: &Path, ca_fingerprint: Option<&str>) -> String {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    format!(
        "copy {} to node {node} (keep it 0600) and run there: es-secure apply --bundle {file} --ca-fingerprint {} --yes",
        path.display(),
        ca_fingerprint.unwrap_or("SHA256")
    )
}

/// The certificate and key file names for a bundle certificate name.
fn cert_files(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "transport" => Some((files::TRANSPORT_CERT, files::TRANSPORT_KEY)),
        "http" => Some((files::HTTP_CERT, files::HTTP_KEY)),
        _ => None,
    }
}

/// A bundle read for `apply --bundle`, authenticated and checked for form (not yet against
/// this host).
pub struct Prepared {
    pub path: PathBuf,
    pub bundle: Bundle,
    pub answers: Answers,
    /// SHA-256 of the bundle's CA certificate, computed here (`AA:BB:…`).
    pub ca_fingerprint: String,
    /// The CA certificate's subject, to show with the fingerprint.
    pub ca_subject: String,
    /// Whether the CA was the one given with `--ca-fingerprint`. When `false` the signature
    /// only proves the bundle is intact; the caller must have the operator confirm the CA.
    pub ca_pinned: bool,
    /// Set when the file is readable by others: it holds private keys.
    pub warning: Option<Finding>,
}

/// Why a bundle cannot be applied. Nothing was changed in either case.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Unreadable, not a bundle, an unsupported version, a bad fingerprint argument (exit 2).
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// Not authentic or not allowed: unsigned, signed by another CA than the one named, an
    /// edited byte, or answers es-secure never writes into a bundle (exit 3).
    #[error("{0:#}")]
    Refused(anyhow::Error),
}

fn refused(file: &str, what: impl std::fmt::Display, help: &str) -> BundleError {
    BundleError::Refused(anyhow::anyhow!(
        "{file}: refused: {what}; nothing was changed\nhelp: {help}"
    ))
}

const RECOPY: &str = "copy the bundle again from the CA host (the host that wrote it, under <state>/bundles/), or re-run the apply there to write it anew";

/// Read, authenticate and check a bundle. `expected_ca` is the operator's `--ca-fingerprint`
/// (any case, colons optional); without it the bundle is checked to be intact and signed by its
/// own CA, and [`Prepared::ca_pinned`] is `false`. Nothing is changed.
pub fn prepare(path: &Path, expected_ca: Option<&str>) -> Result<Prepared, BundleError> {
    use std::os::unix::fs::MetadataExt as _;
    let file = path.display().to_string();
    let invalid = |e: anyhow::Error| BundleError::Invalid(e);
    let expected_ca = expected_ca
        .map(bundle_sig::parse_fingerprint)
        .transpose()
        .map_err(|e| invalid(anyhow::anyhow!("--ca-fingerprint: {e}")))?;
    let text = Zeroizing::new(
        crate::shell::safe_fs::read_input_text(path, crate::shell::safe_fs::SMALL_CAP, "bundles")
            .with_context(|| format!("reading bundle {file}"))
            .map_err(invalid)?,
    );
    // Authenticity before anything else is believed: the version, then the CA certificate
    // (read leniently), the fingerprint the operator trusts, and the signature over the body.
    #[derive(Deserialize)]
    struct Header {
        version: u32,
        #[serde(default)]
        ca_cert: Option<String>,
    }
    let header: Header = serde_saphyr::from_str(&text)
        .map_err(|e| invalid(anyhow::anyhow!("{file}: not an es-secure bundle: {e}")))?;
    if header.version != VERSION {
        // Bundle::parse gives the message for old and unknown versions.
        return Err(invalid(Bundle::parse(&file, &text).err().unwrap_or_else(
            || anyhow::anyhow!("{file}: bundle version {} is not supported", header.version),
        )));
    }
    let signed = bundle_sig::split(&text).map_err(|why| refused(&file, why, RECOPY))?;
    let ca_pem = header.ca_cert.ok_or_else(|| {
        invalid(anyhow::anyhow!(
            "{file}: not an es-secure bundle: no `ca_cert`"
        ))
    })?;
    let ca = crate::shell::certinfo::inspect_pem(&ca_pem)
        .map_err(|e| invalid(anyhow::anyhow!("{file}: the bundle's CA certificate: {e}")))?;
    if !ca.is_ca {
        return Err(refused(
            &file,
            format_args!("its `ca_cert` ({}) is not a CA certificate", ca.subject),
            RECOPY,
        ));
    }
    if let Some(want) = &expected_ca
        && want != &ca.fingerprint_sha256
    {
        return Err(refused(
            &file,
            format_args!(
                "it is signed by the CA \"{}\" with SHA-256 fingerprint {}, not by the CA you named ({want})",
                ca.subject, ca.fingerprint_sha256
            ),
            "check --ca-fingerprint against the `CA SHA-256 fingerprint:` line the apply on the CA host printed; if it is right, this bundle does not come from that host",
        ));
    }
    let ca_der = crate::shell::certinfo::cert_ders(&ca_pem)
        .map_err(|e| invalid(anyhow::anyhow!("{file}: the bundle's CA certificate: {e}")))?
        .remove(0);
    signed
        .verify(&ca_der)
        .map_err(|why| refused(&file, why, RECOPY))?;
    // Authentic from here on; now strict about its form and what it may ask for.
    let bundle = Bundle::parse(&file, signed.body).map_err(invalid)?;
    let unexpected = crate::domain::bundle::unexpected_answer_keys(&bundle.answers);
    if !unexpected.is_empty() {
        return Err(refused(
            &file,
            format_args!(
                "its answers set {}, which es-secure never writes into a bundle (a bundle may carry only the cluster's tier, nodes, this_node, key type, validity and transport verification, with every password `keep`)",
                unexpected
                    .iter()
                    .map(|k| format!("`answers.{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RECOPY,
        ));
    }
    if bundle.answers.this_node.as_deref() != Some(bundle.node.as_str()) {
        return Err(refused(
            &file,
            format_args!(
                "the bundle is for node `{}` but its answers name `this_node: {}`",
                bundle.node,
                bundle.answers.this_node.as_deref().unwrap_or("(none)")
            ),
            RECOPY,
        ));
    }
    let answers = Answers::from_raw(&bundle.answers).map_err(|errs| {
        invalid(anyhow::anyhow!(
            "{file}: the answers inside the bundle are invalid: {}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading bundle {file}"))
        .map_err(invalid)?
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
        ca_subject: ca.subject,
        ca_pinned: expected_ca.is_some(),
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
            let read = |f: &str| {
                crate::shell::safe_fs::read_file(
                    &certs_dir.join(f),
                    crate::shell::safe_fs::SMALL_CAP,
                )
            };
            let cert_same = read(cert_file).is_ok_and(|bytes| bytes == bc.cert.as_bytes());
            let key_same = read(key_file)
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
        crate::shell::safe_fs::read_input_text(
            &expected.path,
            crate::shell::safe_fs::SMALL_CAP,
            "bundles",
        )
        .with_context(|| format!("reading bundle {file}"))?,
    );
    // The file is read again: it must still carry a valid signature by the CA the plan
    // trusted, so a key swapped in since then is refused like any other edit.
    let signed = bundle_sig::split(&text).map_err(|why| anyhow::anyhow!("{file}: {why}"))?;
    let ca_der = crate::shell::certinfo::cert_ders(&expected.ca_cert_pem)?.remove(0);
    signed
        .verify(&ca_der)
        .map_err(|why| anyhow::anyhow!("{file} changed since the plan was made: {why}"))?;
    let bundle = Bundle::parse(&file, signed.body)?;
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
