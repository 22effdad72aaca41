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

mod bundle;
mod prepare;
mod run;

use bundle::signed_text;
pub use bundle::{BUNDLE_KIND, BUNDLE_VERSION, RotationBundle, bundle_plan, read_bundle};
use prepare::{prepare_bundle, prepare_ca_host};
use run::execute;

/// What one phase did, in lines for the operator, and the record for `state.json`.
#[derive(Debug)]
pub struct RotateReport {
    pub transaction: Option<String>,
    pub lines: Vec<String>,
    pub record: CaRotation,
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
