//! The `rotate-ca` executor: runs one phase of a CA rotation plan on the CA host
//! ([`rotate`]), or one phase from a signed rotation bundle on another node
//! ([`apply_bundle`]), and verifies it before reporting it done.
//!
//! Order and guarantees (as `renew`):
//! 1. Before the first write everything is made in memory: the new CA (phase a) or read
//!    (b, c), the trust lists, every certificate, every bundle (signed with the current CA key).
//!    A bad CA or bundle changes nothing.
//! 2. Every change is journaled in one transaction ([`Txn`]); certificate and key are replaced
//!    together ([`Txn::write_pair`]); every file keeps its name, so Elasticsearch reloads it.
//! 3. Verification belongs to the transaction: `GET _ssl/certificates` lists the trust list's
//!    CAs as the phase wants them (and the new leaf serials in phase b), a new TLS handshake
//!    presents the new HTTP certificate (checked against the new CA only), and the cluster is
//!    yellow or green with as many nodes as before. A failure or an interrupt restores every
//!    old byte (which the node reloads again).
//! 4. A node that does not answer is not running: it reads the files when it starts.
//! 5. The phase is recorded in `state.json` as the transaction's last write, so it is committed
//!    with the files (a crash before the commit rolls the record back with them; after it, a
//!    re-run continues with the next phase).
//!
//! It must not restart Elasticsearch or Kibana or edit a settings file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::facts::Facts;
use crate::domain::plan::{Owner, Plan, Step};
use crate::domain::rotation::{CaRotation, RotationPhase};
use crate::shell::bundle::BundleCert;
use crate::shell::certgen::{self, CaSigner};
use crate::shell::es_client::{EsClient, EsError};
use crate::shell::file_realm::{self, TempSuperuser};
use crate::shell::recovery::Session;
use crate::shell::renew::{RenewFailure, file_name, normalise_serial};
use crate::shell::signals::Phase;
use crate::shell::txn::{Perms, Txn};

/// How long to wait for the node to serve the phase (it polls its files every 5 s).
const SERVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the cluster may take to be yellow or green again with every node.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// The rotation bundle format this es-secure reads and writes.
pub const BUNDLE_KIND: &str = "es-secure-ca-rotation";
pub const BUNDLE_VERSION: u32 = 1;

/// What one phase did, in lines for the operator, and the record for `state.json`.
#[derive(Debug)]
pub struct RotateReport {
    pub transaction: Option<String>,
    pub lines: Vec<String>,
    pub record: CaRotation,
}

/// A rotation bundle: one phase for one other node, signed with the current (old) CA key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RotationBundle {
    pub kind: String,
    pub version: u32,
    pub node: String,
    pub phase: RotationPhase,
    /// The CA whose key signed this bundle (the CA being replaced).
    pub signer_ca: String,
    /// SHA-256 fingerprints of the old and the new CA.
    pub old_ca: String,
    pub new_ca: String,
    /// The new contents of the node's trust list (`certs/ca.crt`); empty in phase (b).
    #[serde(default)]
    pub trust: String,
    /// Phase (b): `transport` and (https tier) `http`, issued under the new CA.
    #[serde(default)]
    pub certs: BTreeMap<String, BundleCert>,
}

/// One change, complete in memory.
enum Write {
    File {
        path: PathBuf,
        bytes: Zeroizing<Vec<u8>>,
        perms: Perms,
    },
    Pair {
        first: (PathBuf, Zeroizing<Vec<u8>>, Perms),
        second: (PathBuf, Zeroizing<Vec<u8>>, Perms),
        /// For certificates: the serial Elasticsearch should list for `first`.
        serial: Option<String>,
    },
    Remove(PathBuf),
    Dir(PathBuf),
}

/// What the node must serve when the phase is done.
#[derive(Default)]
struct Expect {
    /// Serials (normalised) the trust list `ca.crt` must list, and must no longer list.
    ca_present: Vec<String>,
    ca_absent: Vec<String>,
    /// Certificate files and their new serials.
    leaves: Vec<(PathBuf, String)>,
    /// The new HTTP certificate's serial, for the handshake check.
    http_serial: Option<String>,
    /// The CA the handshake trusts (only the new one, in phases b and c).
    handshake_ca: Option<String>,
}

fn perms(mode: u32, owner: &Owner) -> anyhow::Result<Perms> {
    crate::shell::apply::perms(mode, owner)
}

fn serial_of(pem: &str) -> anyhow::Result<String> {
    Ok(normalise_serial(
        &crate::shell::certinfo::inspect_pem(pem)
            .map_err(|e| anyhow!("reading a certificate: {e}"))?
            .serial,
    ))
}

/// Run one phase of the plan on the CA host inside `session` (lock held, recovery done).
pub fn rotate(
    session: &Session,
    facts: &Facts,
    phase: RotationPhase,
    plan: &Plan,
    say: &dyn Fn(&str),
) -> Result<RotateReport, RenewFailure> {
    let prepared = prepare_ca_host(facts, phase, plan).map_err(RenewFailure::Refused)?;
    execute(session, facts, prepared, say)
}

/// A phase ready to write: the changes, what to verify, the record to keep.
struct Prepared {
    phase: RotationPhase,
    writes: Vec<Write>,
    expect: Expect,
    /// The PEM a client trusts while the phase runs (old and new CA).
    client_trust: String,
    record: CaRotation,
    /// Copy instructions for the bundles written.
    bundle_lines: Vec<String>,
    kibana_cert: Option<PathBuf>,
}

fn prepare_ca_host(facts: &Facts, phase: RotationPhase, plan: &Plan) -> anyhow::Result<Prepared> {
    let old = crate::shell::renew::signer(facts)?;
    let (next_cert, next_key) = crate::domain::planner::next_ca_paths(facts);
    let mut writes = Vec::new();
    let (new, new_key): (CaSigner, Zeroizing<String>) =
        match plan.steps.iter().find_map(|s| match s {
            Step::CreateCa { spec, .. } => Some(spec),
            _ => None,
        }) {
            Some(spec) => certgen::generate_ca(spec)?,
            None => {
                let cert = crate::shell::safe_fs::read_file_text(
                    &next_cert,
                    crate::shell::safe_fs::SMALL_CAP,
                )
                .with_context(|| format!("reading the new CA {}", next_cert.display()))?;
                let key = Zeroizing::new(
                    crate::shell::safe_fs::read_file_text(
                        &next_key,
                        crate::shell::safe_fs::SMALL_CAP,
                    )
                    .with_context(|| format!("reading the new CA key {}", next_key.display()))?,
                );
                (certgen::load_ca(&cert, &key)?, key)
            }
        };
    let old_pem = old.cert_pem().trim_end().to_string() + "\n";
    let new_pem = new.cert_pem().trim_end().to_string() + "\n";
    let both = format!("{old_pem}{new_pem}");
    let trust = if phase == RotationPhase::DropOld {
        new_pem.clone()
    } else {
        both.clone()
    };
    let old_serial = serial_of(&old_pem)?;
    let new_serial = serial_of(&new_pem)?;
    let mut expect = Expect::default();
    match phase {
        RotationPhase::TrustBoth => expect.ca_present = vec![old_serial, new_serial],
        RotationPhase::NewLeaves => {
            expect.ca_present = vec![old_serial, new_serial];
            expect.handshake_ca = Some(new_pem.clone());
        }
        RotationPhase::DropOld => {
            expect.ca_present = vec![new_serial];
            expect.ca_absent = vec![old_serial];
            expect.handshake_ca = Some(new_pem.clone());
        }
    }
    let record = CaRotation {
        phase,
        old_ca: old.fingerprint_sha256(),
        new_ca: new.fingerprint_sha256(),
        at: facts.now,
    };
    let me = Owner::current();
    let mut bundle_lines = Vec::new();
    let mut kibana_cert = None;
    let mut bundles_dir_planned = false;
    for step in &plan.steps {
        match step {
            Step::CreateCa {
                cert_path,
                key_path,
                ..
            } => writes.push(Write::Pair {
                first: (cert_path.clone(), bytes(&new_pem), perms(0o644, &me)?),
                second: (key_path.clone(), bytes(&new_key), perms(0o600, &me)?),
                serial: None,
            }),
            Step::WriteTrust { path, owner, .. } => writes.push(Write::File {
                path: path.clone(),
                bytes: bytes(&trust),
                perms: perms(0o640, owner)?,
            }),
            Step::IssueCert {
                spec,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let cert = new.issue(spec)?;
                let serial = serial_of(&cert.cert_pem)?;
                let p = perms(0o640, owner)?;
                if cert_path.file_name() == Some(std::ffi::OsStr::new("http.crt"))
                    && cert_path.starts_with(&facts.es.config_dir)
                {
                    expect.http_serial = Some(serial.clone());
                }
                if cert_path.starts_with(&facts.es.config_dir) {
                    expect.leaves.push((cert_path.clone(), serial.clone()));
                } else {
                    kibana_cert = Some(cert_path.clone());
                }
                writes.push(Write::Pair {
                    first: (
                        cert_path.clone(),
                        bytes(&format!("{}{}", cert.cert_pem, new.cert_pem())),
                        p.clone(),
                    ),
                    second: (key_path.clone(), bytes(&cert.key_pem), p),
                    serial: Some(serial),
                });
            }
            Step::PromoteCa {
                cert_path,
                key_path,
                ..
            } => writes.push(Write::Pair {
                first: (cert_path.clone(), bytes(&new_pem), perms(0o644, &me)?),
                second: (key_path.clone(), bytes(&new_key), perms(0o600, &me)?),
                serial: None,
            }),
            Step::RemoveFile { path, .. } => writes.push(Write::Remove(path.clone())),
            Step::WriteRotationBundle {
                node,
                path,
                phase,
                certs,
            } => {
                if !bundles_dir_planned
                    && let Some(dir) = path.parent()
                    && !dir.exists()
                {
                    writes.push(Write::Dir(dir.to_path_buf()));
                }
                bundles_dir_planned = true;
                let mut issued = BTreeMap::new();
                for spec in certs {
                    let purpose = spec
                        .purpose
                        .with_context(|| format!("the bundle for {node} lists a CA to issue"))?;
                    let c = new.issue(spec)?;
                    issued.insert(
                        crate::domain::planner::bundle_cert_name(purpose).to_string(),
                        BundleCert {
                            cert: format!("{}{}", c.cert_pem, new.cert_pem()),
                            key: c.key_pem.to_string(),
                        },
                    );
                }
                let b = RotationBundle {
                    kind: BUNDLE_KIND.to_string(),
                    version: BUNDLE_VERSION,
                    node: node.clone(),
                    phase: *phase,
                    signer_ca: old_pem.clone(),
                    old_ca: record.old_ca.clone(),
                    new_ca: record.new_ca.clone(),
                    trust: if *phase == RotationPhase::NewLeaves {
                        String::new()
                    } else {
                        trust.clone()
                    },
                    certs: issued,
                };
                let text = Zeroizing::new(signed_text(&old, &b)?);
                writes.push(Write::File {
                    path: path.clone(),
                    bytes: bytes(&text),
                    perms: Perms {
                        mode: Some(0o600),
                        owner: None,
                    },
                });
                bundle_lines.push(format!(
                    "CA rotation phase {phase} for {node}: copy {} to {node} (0600; it holds private keys in phase b) and run there: es-secure rotate-ca --bundle {node}.rotate-ca.yml --ca-fingerprint {} --yes",
                    path.display(),
                    record.old_ca
                ));
            }
            _ => {}
        }
    }
    Ok(Prepared {
        phase,
        writes,
        expect,
        client_trust: both,
        record,
        bundle_lines,
        kibana_cert,
    })
}

/// The `CERTIFICATE` blocks of a PEM text, each with its BEGIN and END lines.
fn pem_blocks(pem: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let stop = start + len + END.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

fn bytes(s: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.as_bytes().to_vec())
}

/// The bundle's signed text (body, then the signature line with `signer`'s key).
fn signed_text(signer: &CaSigner, b: &RotationBundle) -> anyhow::Result<String> {
    let body = serde_saphyr::to_string(b).context("serializing the rotation bundle")?;
    let body = if body.ends_with('\n') {
        body
    } else {
        format!("{body}\n")
    };
    let body = format!(
        "# es-secure CA-rotation bundle for {}, phase {}. May contain private keys: keep it 0600, delete it after\n# `es-secure rotate-ca --bundle FILE --ca-fingerprint SHA256 --yes` on that node.\n{body}",
        b.node, b.phase
    );
    crate::shell::bundle_sig::sign(signer, &body)
}

/// Read, authenticate and check a rotation bundle for this node: signed by the CA with the
/// fingerprint the operator gives, which this node trusts now; for this node; the phase after
/// the one this node completed. `Ok(None)`: this phase is already done here.
pub fn read_bundle(
    path: &Path,
    ca_fingerprint: &str,
    facts: &Facts,
) -> anyhow::Result<Option<RotationBundle>> {
    let file = path.display().to_string();
    let want = crate::shell::bundle_sig::parse_fingerprint(ca_fingerprint)
        .map_err(|e| anyhow!("--ca-fingerprint: {e}"))?;
    let text = Zeroizing::new(
        crate::shell::safe_fs::read_input_text(path, crate::shell::safe_fs::SMALL_CAP, "bundles")
            .with_context(|| format!("reading the rotation bundle {file}"))?,
    );
    let signed = crate::shell::bundle_sig::split(&text)
        .map_err(|why| anyhow!("{file} is refused: {why}"))?;
    let b: RotationBundle = serde_saphyr::from_str(signed.body)
        .map_err(|e| anyhow!("{file}: not an es-secure CA-rotation bundle: {e}"))?;
    if b.kind != BUNDLE_KIND || b.version != BUNDLE_VERSION {
        bail!(
            "{file}: not an es-secure CA-rotation bundle this release reads (kind {}, version {})",
            b.kind,
            b.version
        );
    }
    let signer = crate::shell::certinfo::inspect_pem(&b.signer_ca)
        .map_err(|e| anyhow!("{file}: the signing CA certificate: {e}"))?;
    if signer.fingerprint_sha256 != want {
        bail!(
            "{file} is refused: it is signed by the CA with SHA-256 fingerprint {}, not by the CA you named ({want})",
            signer.fingerprint_sha256
        );
    }
    let der = crate::shell::certinfo::cert_ders(&b.signer_ca)
        .map_err(|e| anyhow!("{file}: the signing CA certificate: {e}"))?
        .remove(0);
    signed
        .verify(&der)
        .map_err(|why| anyhow!("{file} is refused: {why}"))?;
    // Authentic. The signer must be a CA this node trusts now (its own cluster's).
    let installed = facts
        .es
        .ca_copies
        .get(crate::domain::planner::files::CA_CERT)
        .cloned()
        .unwrap_or_default();
    let trusted = crate::shell::certinfo::cert_ders(&installed)
        .unwrap_or_default()
        .iter()
        .any(|d| d == &der);
    if !trusted {
        bail!(
            "{file} is refused: it is signed by a CA this node does not trust ({}); it is not from this cluster's CA host",
            signer.fingerprint_sha256
        );
    }
    if let Some(configured) = facts
        .es
        .parsed
        .settings
        .value("node.name")
        .map(|v| v.as_plain())
        .filter(|n| !n.starts_with("${"))
        && configured != b.node
    {
        bail!(
            "{file} is for node {}, and this node is {configured} ({})",
            b.node,
            facts.es.yml_path.display()
        );
    }
    let done = facts.state.ca_rotation.as_ref();
    if let Some(r) = done
        && r.phase == b.phase
        && r.new_ca == b.new_ca
    {
        return Ok(None);
    }
    let expected = RotationPhase::after(done.map(|r| r.phase));
    if b.phase != expected {
        bail!(
            "{file} carries phase {}, and this node's next phase is {expected}{}; nothing was changed\nhelp: apply the rotation bundles in order (a, b, c)",
            b.phase,
            done.map(|r| format!(" (it completed {})", r.phase))
                .unwrap_or_default()
        );
    }
    if let Some(r) = done
        && b.phase != RotationPhase::TrustBoth
        && r.new_ca != b.new_ca
    {
        bail!(
            "{file} belongs to a rotation to the CA {}, and this node is rotating to {}; nothing was changed",
            b.new_ca,
            r.new_ca
        );
    }
    Ok(Some(b))
}

/// The plan of a rotation bundle on this node (shown before it runs, through the renderer).
pub fn bundle_plan(facts: &Facts, b: &RotationBundle) -> Plan {
    use crate::domain::planner::files;
    let certs = facts.es.config_dir.join("certs");
    let owner = Owner {
        user: None,
        group: facts
            .host
            .service_group
            .clone()
            .or_else(|| facts.es.config_group.clone()),
    };
    let mut steps = Vec::new();
    if b.phase == RotationPhase::NewLeaves {
        for (name, (cert, key, purpose)) in [
            (
                "transport",
                (
                    files::TRANSPORT_CERT,
                    files::TRANSPORT_KEY,
                    crate::domain::certspec::CertPurpose::Transport,
                ),
            ),
            (
                "http",
                (
                    files::HTTP_CERT,
                    files::HTTP_KEY,
                    crate::domain::certspec::CertPurpose::Http,
                ),
            ),
        ] {
            if let Some(c) = b.certs.get(name) {
                let info = crate::shell::certinfo::inspect_pem(&c.cert).ok();
                steps.push(Step::InstallBundleCert {
                    purpose,
                    cert_path: certs.join(cert),
                    key_path: certs.join(key),
                    owner: owner.clone(),
                    dns: info.as_ref().map(|i| i.dns.clone()).unwrap_or_default(),
                    ip: info.map(|i| i.ip).unwrap_or_default(),
                    reason: "CA rotation: issued under the new CA".to_string(),
                });
            }
        }
    } else {
        steps.push(Step::WriteTrust {
            path: certs.join(files::CA_CERT),
            cas: if b.phase == RotationPhase::TrustBoth {
                vec![
                    format!("old CA {}", crate::domain::rotation::short_fp(&b.old_ca)),
                    format!("new CA {}", crate::domain::rotation::short_fp(&b.new_ca)),
                ]
            } else {
                vec![format!(
                    "new CA {}",
                    crate::domain::rotation::short_fp(&b.new_ca)
                )]
            },
            owner,
        });
    }
    let tier = facts.es.tier.tier;
    Plan {
        from: tier,
        to: tier,
        restart: crate::domain::plan::RestartKind::None,
        steps,
        notes: vec![crate::domain::plan::Note {
            text: format!(
                "CA rotation phase {} ({}) from the CA host's bundle; no restart (the files keep their names)",
                b.phase,
                b.phase.describe()
            ),
        }],
    }
}

/// Run one phase from a rotation bundle on this node.
pub fn apply_bundle(
    session: &Session,
    facts: &Facts,
    b: &RotationBundle,
    plan: &Plan,
    say: &dyn Fn(&str),
) -> Result<RotateReport, RenewFailure> {
    let prepared = prepare_bundle(facts, b, plan).map_err(RenewFailure::Refused)?;
    execute(session, facts, prepared, say)
}

fn prepare_bundle(facts: &Facts, b: &RotationBundle, plan: &Plan) -> anyhow::Result<Prepared> {
    let installed = facts
        .es
        .ca_copies
        .get(crate::domain::planner::files::CA_CERT)
        .cloned()
        .unwrap_or_default();
    let mut writes = Vec::new();
    let mut expect = Expect::default();
    let serials = |pem: &str| -> anyhow::Result<Vec<(String, String)>> {
        crate::shell::certinfo::cert_ders(pem)
            .map_err(|e| anyhow!("the trust list: {e}"))?
            .iter()
            .map(|d| -> anyhow::Result<(String, String)> {
                let i = crate::shell::certinfo::inspect_der(d)
                    .map_err(|e| anyhow!("the trust list: {e}"))?;
                Ok((i.fingerprint_sha256, normalise_serial(&i.serial)))
            })
            .collect()
    };
    match b.phase {
        RotationPhase::TrustBoth | RotationPhase::DropOld => {
            let list = serials(&b.trust)?;
            if !list.iter().any(|(fp, _)| fp == &b.new_ca) {
                bail!(
                    "the bundle's trust list does not hold its new CA {}",
                    b.new_ca
                );
            }
            expect.ca_present = list.iter().map(|(_, s)| s.clone()).collect();
            if b.phase == RotationPhase::DropOld {
                anyhow::ensure!(
                    list.len() == 1,
                    "the bundle's phase (c) trust list must hold only the new CA"
                );
                expect.ca_absent = serials(&installed)?
                    .into_iter()
                    .filter(|(fp, _)| fp != &b.new_ca)
                    .map(|(_, s)| s)
                    .collect();
                expect.handshake_ca = Some(b.trust.clone());
            }
        }
        RotationPhase::NewLeaves => {
            let new_pem = pem_blocks(&installed).into_iter().find(|pem| {
                crate::shell::certinfo::inspect_pem(pem)
                    .is_ok_and(|i| i.fingerprint_sha256 == b.new_ca)
            });
            let Some(new_pem) = new_pem else {
                bail!(
                    "this node does not trust the new CA {} yet; apply the phase (a) bundle first",
                    b.new_ca
                );
            };
            expect.handshake_ca = Some(new_pem);
        }
    }
    for step in &plan.steps {
        match step {
            Step::WriteTrust { path, owner, .. } => writes.push(Write::File {
                path: path.clone(),
                bytes: bytes(&b.trust),
                perms: perms(0o640, owner)?,
            }),
            Step::InstallBundleCert {
                purpose,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let name = crate::domain::planner::bundle_cert_name(*purpose);
                let c = b
                    .certs
                    .get(name)
                    .with_context(|| format!("the bundle has no {name} certificate"))?;
                let info = crate::shell::certinfo::inspect_pem(&c.cert)
                    .map_err(|e| anyhow!("the bundle's {name} certificate: {e}"))?;
                let chain_ca = crate::shell::certinfo::cert_ders(&c.cert)
                    .map_err(|e| anyhow!("the bundle's {name} certificate: {e}"))?
                    .get(1)
                    .and_then(|d| crate::shell::certinfo::inspect_der(d).ok())
                    .map(|i| i.fingerprint_sha256);
                anyhow::ensure!(
                    chain_ca.as_deref() == Some(b.new_ca.as_str()),
                    "the bundle's {name} certificate is not followed by the new CA {}",
                    b.new_ca
                );
                let serial = normalise_serial(&info.serial);
                if name == "http" {
                    expect.http_serial = Some(serial.clone());
                }
                expect.leaves.push((cert_path.clone(), serial.clone()));
                let p = perms(0o640, owner)?;
                writes.push(Write::Pair {
                    first: (cert_path.clone(), bytes(&c.cert), p.clone()),
                    second: (key_path.clone(), bytes(&c.key), p),
                    serial: Some(serial),
                });
            }
            _ => {}
        }
    }
    Ok(Prepared {
        phase: b.phase,
        writes,
        expect,
        client_trust: format!("{}{}", installed.trim_end().to_string() + "\n", b.trust),
        record: CaRotation {
            phase: b.phase,
            old_ca: b.old_ca.clone(),
            new_ca: b.new_ca.clone(),
            at: facts.now,
        },
        bundle_lines: Vec::new(),
        kibana_cert: None,
    })
}

fn execute(
    session: &Session,
    facts: &Facts,
    p: Prepared,
    say: &dyn Fn(&str),
) -> Result<RotateReport, RenewFailure> {
    let url = crate::domain::planner::es_url_detected(facts);
    let client = crate::shell::verify::trust_for(&url, Some(p.client_trust.as_str()))
        .and_then(|t| EsClient::new(&url, t))
        .map_err(RenewFailure::Refused)?
        .with_interrupts(session.interrupts.clone());
    // Asked before anything is written: a node that answers must be seen serving the phase.
    let running = client.is_elasticsearch().unwrap_or(false);
    let interrupts = session.interrupts.clone();
    let mut txn = Txn::begin(&session.state, "rotate-ca").map_err(RenewFailure::Refused)?;
    interrupts.set_phase(Phase::Files);
    let mut temp_user: Option<TempSuperuser> = None;
    let mut lines = Vec::new();
    let result = run(
        facts,
        session,
        &p,
        running,
        &client,
        &mut txn,
        &mut temp_user,
        &mut lines,
        say,
    );
    if let Some(u) = temp_user.take()
        && let Err(e) = u.remove()
    {
        say(&format!(
            "could not remove the temporary superuser: {e:#}; remove its line from users and users_roles"
        ));
    }
    let result = result.and_then(|()| record_phase(&mut txn, &facts.state.state_dir, &p.record));
    let outcome = match result {
        Ok(()) => match txn.commit() {
            Ok(id) => {
                lines.extend(p.bundle_lines.iter().cloned());
                Ok(RotateReport {
                    transaction: Some(id),
                    lines,
                    record: p.record.clone(),
                })
            }
            Err(e) => Err(RenewFailure::Refused(e.context("committing"))),
        },
        Err(cause) => Err(RenewFailure::rolled_back(
            txn,
            cause,
            " The phase was not recorded: re-run it.",
        )),
    };
    interrupts.set_phase(Phase::Idle);
    outcome
}

/// Record the phase in `state.json` through the transaction (journaled like every other file,
/// so the record and the files commit or roll back together).
fn record_phase(txn: &mut Txn, state_dir: &Path, record: &CaRotation) -> anyhow::Result<()> {
    let mut state = crate::shell::state::State::load(state_dir)?;
    state.ca_rotation = Some(record.clone());
    txn.write_file(
        &crate::shell::state::state_file(state_dir),
        &state.to_bytes()?,
        Perms {
            mode: Some(0o600),
            owner: Some((0, 0)),
        },
    )
    .context("recording the phase in state.json")
}

#[allow(clippy::too_many_arguments)]
fn run(
    facts: &Facts,
    session: &Session,
    p: &Prepared,
    running: bool,
    client: &EsClient,
    txn: &mut Txn,
    temp_user: &mut Option<TempSuperuser>,
    lines: &mut Vec<String>,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let interrupts = &session.interrupts;
    // Credentials and the cluster's size first: the phase must leave as many nodes.
    let mut authed = None;
    let mut nodes_before = 0;
    if running {
        let config_dir = facts.es.config_dir.clone();
        let user = file_realm::create_journaled(&config_dir, |name| {
            txn.record_temp_user(&config_dir, name)
        })?;
        let c = client.with_credentials(user.credentials());
        *temp_user = Some(user);
        c.authenticate_retrying(Duration::from_secs(30))
            .map_err(|e| anyhow!("authenticating the temporary superuser: {e}"))?;
        let h = c
            .health()
            .map_err(|e| anyhow!("cluster health before the phase: {e}"))?;
        nodes_before = h.number_of_nodes as usize;
        say(&format!(
            "cluster before phase {}: {} with {} node(s)",
            p.phase, h.status, h.number_of_nodes
        ));
        authed = Some(c);
    }
    let n = p.writes.len();
    for (i, w) in p.writes.iter().enumerate() {
        if interrupts.requested() {
            bail!(
                "interrupted (SIGINT, SIGTERM, SIGHUP) before step {}",
                i + 1
            );
        }
        match w {
            Write::Dir(d) => {
                txn.create_dir_all(
                    d,
                    Perms {
                        mode: Some(0o700),
                        owner: None,
                    },
                )?;
                say(&format!("[{}/{n}] created {}", i + 1, d.display()));
            }
            Write::File { path, bytes, perms } => {
                txn.write_file(path, bytes, perms.clone())?;
                say(&format!("[{}/{n}] wrote {}", i + 1, path.display()));
            }
            Write::Pair {
                first,
                second,
                serial,
            } => {
                txn.write_pair(
                    (&first.0, &first.1, first.2.clone()),
                    (&second.0, &second.1, second.2.clone()),
                )?;
                say(&format!(
                    "[{}/{n}] wrote {} and {}{}",
                    i + 1,
                    first.0.display(),
                    second.0.display(),
                    serial
                        .as_ref()
                        .map(|s| format!(" (serial {s})"))
                        .unwrap_or_default()
                ));
            }
            Write::Remove(path) => {
                txn.remove_file(path)?;
                say(&format!("[{}/{n}] removed {}", i + 1, path.display()));
            }
        }
    }
    match authed {
        None => lines.push(format!(
            "Elasticsearch did not answer at {} before phase {}: it reads the new files when it starts",
            crate::domain::planner::es_url_detected(facts),
            p.phase
        )),
        Some(c) => {
            wait_served(facts, session, p, &c, lines, say)?;
            let h = c
                .wait_cluster(
                    HEALTH_TIMEOUT,
                    nodes_before,
                    &mut |_: &crate::shell::es_client::WaitStatus| {},
                )
                .map_err(|e| anyhow!("the cluster after phase {}: {e}", p.phase))?;
            lines.push(format!(
                "cluster after phase {}: {} with {} node(s)",
                p.phase, h.status, h.number_of_nodes
            ));
        }
    }
    if let Some(k) = &p.kibana_cert {
        lines.push(crate::shell::renew::kibana_reload(facts, k));
    }
    Ok(())
}

/// Wait until `GET _ssl/certificates` shows the trust list and certificates the phase wrote,
/// and a new TLS handshake presents the new HTTP certificate under the new CA.
fn wait_served(
    facts: &Facts,
    session: &Session,
    p: &Prepared,
    client: &EsClient,
    lines: &mut Vec<String>,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let e = &p.expect;
    let url = crate::domain::planner::es_url_detected(facts);
    let (host, port) = crate::shell::renew::host_port(&url)?;
    let started = Instant::now();
    let mut last_said = Duration::ZERO;
    loop {
        let (ca_ok, leaves_ok, what) = match client.ssl_certificates() {
            Ok(list) => {
                let ca: Vec<String> = list
                    .iter()
                    .filter(|c| file_name(Path::new(&c.path)) == "ca.crt")
                    .map(|c| normalise_serial(&c.serial_number))
                    .collect();
                let ca_ok = e.ca_present.iter().all(|s| ca.contains(s))
                    && e.ca_absent.iter().all(|s| !ca.contains(s));
                let leaves_ok = e.leaves.iter().all(|(path, serial)| {
                    let name = file_name(path);
                    list.iter().any(|c| {
                        file_name(Path::new(&c.path)) == name
                            && normalise_serial(&c.serial_number) == *serial
                    })
                });
                (
                    ca_ok,
                    leaves_ok,
                    format!("ca.crt lists serials [{}]", ca.join(", ")),
                )
            }
            Err(EsError::Interrupted { .. }) => bail!("interrupted while waiting for the node"),
            Err(err) => (
                false,
                false,
                format!("GET _ssl/certificates: {}", err.short()),
            ),
        };
        let handshake = match (&e.http_serial, &e.handshake_ca) {
            (Some(want), Some(ca)) => Some(
                crate::shell::es_client::presented_leaf(&host, port, ca, Duration::from_secs(5))
                    .ok()
                    .and_then(|der| crate::shell::certinfo::inspect_der(&der).ok())
                    .is_some_and(|i| normalise_serial(&i.serial) == *want),
            ),
            _ => None,
        };
        let elapsed = started.elapsed();
        if ca_ok && leaves_ok && handshake != Some(false) {
            let mut line = format!(
                "phase {} served after {:.1} s: GET _ssl/certificates: {what}",
                p.phase,
                elapsed.as_secs_f64()
            );
            if !e.leaves.is_empty() {
                line.push_str(&format!(
                    "; {} loaded with the new serial",
                    e.leaves
                        .iter()
                        .map(|(p, _)| file_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(s) = &e.http_serial {
                line.push_str(&format!(
                    "; a new TLS handshake with {host}:{port}, trusting only the new CA, presents serial {s}"
                ));
            }
            lines.push(line);
            return Ok(());
        }
        if elapsed >= SERVE_TIMEOUT {
            bail!(
                "Elasticsearch did not serve phase {} within {} s ({what}{}{})\nhelp: look at the Elasticsearch log for a certificate reload error",
                p.phase,
                SERVE_TIMEOUT.as_secs(),
                if leaves_ok {
                    ""
                } else {
                    "; a certificate is not loaded yet"
                },
                if handshake == Some(false) {
                    "; the HTTP port does not present the new certificate under the new CA"
                } else {
                    ""
                }
            );
        }
        if elapsed - last_said >= Duration::from_secs(2) {
            last_said = elapsed;
            say(&format!(
                "waiting for Elasticsearch to reload (it checks every 5 s)… {:.0} s: {what}",
                elapsed.as_secs_f64()
            ));
        }
        if !session.interrupts.sleep(Duration::from_millis(500)) {
            bail!("interrupted while waiting for the node");
        }
    }
}
