//! Node bundles: what one host hands to another node of the cluster. A set of bundles is one
//! cluster file (`cluster.yml`: the cluster's answers, every node's name and addresses) and
//! per node a bundle file with the CA certificate (never its key), that node's certificates
//! and keys, and the SHA-256 of the cluster file; `es-secure apply --bundle FILE` on that node
//! reads the cluster file from the bundle's directory (or `--cluster-file`) and needs nothing
//! else. Bundles contain private keys: they are written 0600 and should be deleted once
//! applied. The file format is [`crate::shell::bundle_format`].
//!
//! Trust: the writing host signs every file with the CA key ([`crate::shell::bundle_sig`]);
//! [`prepare`] accepts a bundle only when its signature verifies with the bundle's CA
//! certificate, that CA is the one the operator named (`--ca-fingerprint`, or confirmed at a
//! terminal), the cluster file is the one the bundle names (SHA-256) and is signed by the same
//! CA, and its answers are exactly what es-secure writes into a bundle
//! ([`crate::domain::bundle::unexpected_answer_keys`]). This module must not decide what goes
//! into a bundle (the planner does) nor write files (the executor's transaction does).
//!
//! Applying one: [`prepare`] reads and checks the files, [`facts`] turns them into plain
//! [`BundleFacts`] for the planner (certificates and what is installed, no keys), and the
//! executor calls [`read_certs`] to get the keys from the bundle again only when it writes
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::domain::answers::Answers;
use crate::domain::facts::{BundleCertFacts, BundleFacts, Finding, Severity};
use crate::domain::planner::files;
use crate::shell::bundle_sig;

pub use crate::shell::bundle_format::{
    Bundle, BundleCert, BundleWriter, CLUSTER_FILE, ClusterFile, NodeFile, VERSION, sha256_hex,
};

/// What the operator does with a bundle written here: the exact command for its node, with
/// the CA fingerprint that node must trust, and the cluster file that travels with it.
pub fn copy_instruction(node: &str, path: &Path, ca_fingerprint: Option<&str>) -> String {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let cluster = path.with_file_name(CLUSTER_FILE);
    format!(
        "copy {} and {} to node {node}, into one directory (keep the bundle 0600), and run there: es-secure apply --bundle {file} --ca-fingerprint {} --yes",
        path.display(),
        cluster.display(),
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
    /// The cluster file read with it.
    pub cluster_path: PathBuf,
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

/// Where the cluster file of the bundle `path` is: `explicit` (`--cluster-file`), else
/// [`CLUSTER_FILE`] in the bundle's directory.
pub fn cluster_path(path: &Path, explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| path.with_file_name(CLUSTER_FILE), Path::to_path_buf)
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<Zeroizing<String>> {
    Ok(Zeroizing::new(
        crate::shell::safe_fs::read_input_text(path, crate::shell::safe_fs::SMALL_CAP, "bundles")
            .with_context(|| format!("reading {what} {}", path.display()))?,
    ))
}

/// Read, authenticate and check a bundle and its cluster file (`cluster`, see
/// [`cluster_path`]). `expected_ca` is the operator's `--ca-fingerprint` (any case, colons
/// optional); without it the bundle is checked to be intact and signed by its own CA, and
/// [`Prepared::ca_pinned`] is `false`. Nothing is changed.
pub fn prepare(
    path: &Path,
    cluster: &Path,
    expected_ca: Option<&str>,
) -> Result<Prepared, BundleError> {
    use std::os::unix::fs::MetadataExt as _;
    let file = path.display().to_string();
    let invalid = |e: anyhow::Error| BundleError::Invalid(e);
    let expected_ca = expected_ca
        .map(bundle_sig::parse_fingerprint)
        .transpose()
        .map_err(|e| invalid(anyhow::anyhow!("--ca-fingerprint: {e}")))?;
    let text = read_text(path, "bundle").map_err(invalid)?;
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
        // NodeFile::parse gives the message for old and unknown versions.
        return Err(invalid(NodeFile::parse(&file, &text).err().unwrap_or_else(
            || anyhow::anyhow!("{file}: bundle version {} is not supported", header.version),
        )));
    }
    let signed = bundle_sig::split(&text).map_err(|why| refused(&file, why, RECOPY))?;
    let ca_pem =
        header.ca_cert.ok_or_else(|| {
            invalid(NodeFile::parse(&file, &text).err().unwrap_or_else(|| {
                anyhow::anyhow!("{file}: not an es-secure bundle: no `ca_cert`")
            }))
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
    // Authentic from here on; now strict about its form.
    let node = NodeFile::parse(&file, signed.body).map_err(invalid)?;
    // The cluster file: the one this bundle names (its SHA-256, under the bundle's signature),
    // and signed by the same CA.
    let cluster_file = cluster.display().to_string();
    let cluster_text = match read_text(cluster, "the bundle's cluster file") {
        Ok(t) => t,
        Err(e) => {
            return Err(invalid(anyhow::anyhow!(
                "{file}: its cluster file {cluster_file} cannot be read ({e:#}); nothing was changed\nhelp: copy {CLUSTER_FILE} from the directory the CA host wrote the bundles to (<state>/bundles/ there) into the bundle's directory, or name it with --cluster-file FILE"
            )));
        }
    };
    let got = sha256_hex(cluster_text.as_bytes());
    if got != node.cluster_sha256 {
        return Err(refused(
            &cluster_file,
            format_args!(
                "it is not the cluster file {file} was written with (its SHA-256 is {got}; the bundle names {}): the two files come from different applies, or the cluster file was edited",
                node.cluster_sha256
            ),
            &format!(
                "copy the bundle and the {CLUSTER_FILE} written next to it by the same apply (both from <state>/bundles/ on the CA host), or re-run the apply there to write both anew"
            ),
        ));
    }
    bundle_sig::split(&cluster_text)
        .and_then(|s| s.verify(&ca_der))
        .map_err(|why| refused(&cluster_file, why, RECOPY))?;
    let shared = ClusterFile::parse(&cluster_file, &cluster_text).map_err(invalid)?;
    if shared.ca_fingerprint != node.ca_fingerprint {
        return Err(refused(
            &cluster_file,
            format_args!(
                "it names the CA {}, the bundle {file} the CA {}",
                shared.ca_fingerprint, node.ca_fingerprint
            ),
            RECOPY,
        ));
    }
    let bundle = Bundle::join(node, shared);
    let unexpected = crate::domain::bundle::unexpected_answer_keys(&bundle.answers);
    if !unexpected.is_empty() {
        return Err(refused(
            &file,
            format_args!(
                "its answers (in {cluster_file}) set {}, which es-secure never writes into a bundle (a bundle may carry only the cluster's tier, nodes, this_node, key type, validity and transport verification, with every password `keep`)",
                unexpected
                    .iter()
                    .map(|k| format!("`answers.{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RECOPY,
        ));
    }
    let answers = Answers::from_raw(&bundle.answers).map_err(|errs| {
        invalid(anyhow::anyhow!(
            "{file}: the answers inside the bundle ({cluster_file}) are invalid: {}",
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
        cluster_path: cluster.to_path_buf(),
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
    let text = read_text(&expected.path, "bundle")?;
    // The file is read again: it must still carry a valid signature by the CA the plan
    // trusted, so a key swapped in since then is refused like any other edit.
    let signed = bundle_sig::split(&text).map_err(|why| anyhow::anyhow!("{file}: {why}"))?;
    let ca_der = crate::shell::certinfo::cert_ders(&expected.ca_cert_pem)?.remove(0);
    signed
        .verify(&ca_der)
        .map_err(|why| anyhow::anyhow!("{file} changed since the plan was made: {why}"))?;
    let bundle = NodeFile::parse(&file, signed.body)?;
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
