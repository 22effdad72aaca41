//! The REST side of a rolling restart, around one node's restart, as Elastic's rolling-restart
//! procedure has it: before the node stops, shard allocation limited to primaries and a flush
//! (its replicas are not rebuilt elsewhere while it is down); after it is back, the whole
//! cluster waited for (every node of the answers, yellow or green), allocation enabled again,
//! and green waited for, so the next node is only stopped once every shard has its copies.
//! Runs on the host that holds the CA (`rolling-restart before|after`, which the Ansible role
//! calls around each node's `systemctl restart`). Authenticates as `verify` does: elastic's
//! password with `auth.method: elastic-password`, else a temporary file-realm superuser on
//! this host, removed again. Must not write configuration or restart anything.
//!
//! The allocation change is journaled as the apply's is (`Txn::record_allocation`, fsynced
//! before the request, one transaction labelled [`LABEL`]): a failed or interrupted `before`
//! rolls back, which enables allocation again with this command's client. It is also recorded
//! in state.json (`allocation_disabled`, before the request) for the run that follows: `after`
//! clears it once allocation is enabled again, and while it is set, the apply that finishes a
//! pending restart waits for the cluster and enables allocation itself, as after a full-cluster
//! restart.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::domain::answers::{Answers, AuthMethod};
use crate::domain::facts::Facts;
use crate::domain::planner;
use crate::shell::es_client::{Credentials, EsClient};
use crate::shell::recovery::Session;
use crate::shell::signals::Interrupts;
use crate::shell::state::State;
use crate::shell::txn::{RollbackAction, Txn};

/// The label of a `rolling-restart before` transaction (`rollback --list`); `rollback`
/// without an id passes over it to the newest apply.
pub const LABEL: &str = "rolling-restart";

/// Which side of the node's restart.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Side {
    Before,
    After,
}

/// How often green is asked for after allocation is enabled again.
const GREEN_POLL: Duration = Duration::from_secs(1);

/// Run one side of the restart against the cluster at the answers' URL (our CA, hostname
/// checked). `say` gets each step as it happens.
pub fn run(
    facts: &Facts,
    answers: &Answers,
    side: Side,
    session: &Session,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let interrupts = &session.interrupts;
    let url = planner::es_url(facts, answers);
    let trust =
        crate::shell::verify::trust_for(&url, facts.ca.as_ref().map(|c| c.cert_pem.as_str()))?;
    let client = EsClient::new(&url, trust)?.with_interrupts(interrupts.clone());
    // Reachable over TLS with our CA first, so a node that is down costs no temporary user.
    client
        .status_anonymous()
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("the cluster at {url} does not answer; nothing was changed"))?;
    let timeout = Duration::from_secs(answers.es.health_timeout_secs);
    let nodes = answers.nodes.len().max(1);
    let mut step = |creds: &Credentials| -> anyhow::Result<()> {
        let client = client.with_credentials(creds.clone());
        // This host's node may have just restarted, and a new file-realm user needs up to 5 s
        // to load; a wrong password stays a 401 and fails below.
        let _ = client.authenticate_retrying(Duration::from_secs(30));
        match side {
            Side::Before => before(&client, facts, session, say),
            Side::After => after(&client, facts, nodes, timeout, interrupts, say),
        }
    };
    let done = match &answers.auth {
        AuthMethod::ElasticPassword(r) => step(&Credentials {
            username: "elastic".to_string(),
            password: crate::shell::secrets::resolve("auth.elastic_password", r)?,
        }),
        _ => crate::shell::file_realm::with_temp_superuser(&facts.es.config_dir, step),
    };
    let what = match side {
        Side::Before => "preparing the cluster at {url} for a node's restart",
        Side::After => "waiting for the cluster at {url} after a node's restart",
    };
    done.with_context(|| what.replace("{url}", &url))
}

/// Allocation down to primaries, then a flush, journaled first (see the module doc). A failed
/// or interrupted step rolls the transaction back, which enables allocation again: the node
/// is not restarted then, so nothing must stay limited.
fn before(
    client: &EsClient,
    facts: &Facts,
    session: &Session,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let url = client.base_url().to_string();
    let mut txn = Txn::begin(&session.state, LABEL)?;
    txn.record_allocation(&facts.es.config_dir, &url)?;
    note_allocation(&facts.state.state_dir, true)?;
    let changed = client
        .set_allocation(Some("primaries"))
        .map_err(|e| anyhow!(e))
        .context("limiting shard allocation to primaries")
        .and_then(|()| {
            say("shard allocation: primaries only");
            client
                .flush()
                .map_err(|e| anyhow!(e))
                .context("flushing before the restart")
        });
    let e = match changed {
        Ok(()) => {
            txn.commit()?;
            say("flushed");
            return Ok(());
        }
        Err(e) => e,
    };
    let enabled = match txn.rollback_with(Some(client)) {
        Ok(report) => report
            .items
            .iter()
            .any(|i| i.action == RollbackAction::AllocationEnabled),
        Err(r) => return Err(e.context(format!("also, rolling back: {r:#}"))),
    };
    if !enabled {
        return Err(e.context(
            "shard allocation could NOT be enabled again; run `PUT _cluster/settings {\"persistent\":{\"cluster.routing.allocation.enable\":null}}`",
        ));
    }
    note_allocation(&facts.state.state_dir, false)?;
    Err(e.context("shard allocation enabled again; nothing was restarted"))
}

/// Record in the state directory's state.json whether this host's rolling restart left
/// allocation limited (also what `rollback` of a rolling-restart transaction clears).
pub fn note_allocation(dir: &std::path::Path, disabled: bool) -> anyhow::Result<()> {
    let mut state = State::load(dir)?;
    if state.allocation_disabled != disabled {
        state.allocation_disabled = disabled;
        state
            .save(dir)
            .context("recording the shard allocation change in state.json")?;
    }
    Ok(())
}

/// Every node back and yellow or green, allocation enabled again, then green.
fn after(
    client: &EsClient,
    facts: &Facts,
    nodes: usize,
    timeout: Duration,
    interrupts: &Interrupts,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let started = Instant::now();
    client
        .wait_cluster(timeout, nodes, &mut |_| {})
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("waiting for all {nodes} nodes, yellow or green"))?;
    say(&format!("all {nodes} nodes back, yellow or green"));
    client
        .set_allocation(None)
        .map_err(|e| anyhow!(e))
        .context("enabling shard allocation again")?;
    note_allocation(&facts.state.state_dir, false)?;
    say("shard allocation enabled again");
    loop {
        let last = match client.health() {
            Ok(h) if h.status == "green" && h.number_of_nodes as usize >= nodes => {
                say("green");
                return Ok(());
            }
            Ok(h) => format!("{} with {} nodes", h.status, h.number_of_nodes),
            Err(e) => e.short(),
        };
        if started.elapsed() >= timeout {
            bail!(
                "the cluster is not green after {}s (last: {last}); elasticsearch.health_timeout_secs bounds the wait",
                timeout.as_secs()
            );
        }
        if !interrupts.sleep(GREEN_POLL) {
            bail!("interrupted while waiting for green (last: {last})");
        }
    }
}
