//! The `rollback` command: list the recorded applies, recover an interrupted one, or undo a
//! committed one. It must not detect more than the file realm it cleans needs, and never
//! rolls back anything but what the journal recorded.

use std::io::Write as _;
use std::path::Path;

use crate::cli::Global;
use crate::error::{Exit, Failure, fail};
use crate::shell::detect;
use crate::shell::recovery::Session;

use super::{locate, now, sandbox_if_requested, state_dir};

pub(super) fn rollback_cmd(global: &Global, list: bool, id: Option<&str>) -> Result<(), Failure> {
    use crate::shell::txn;
    let sandbox = sandbox_if_requested(global)?;
    let dir = state_dir(global, sandbox.as_deref());
    let state = txn::StateDir::open(&dir).map_err(|e| Failure::new(Exit::Config, e))?;
    let all = txn::list(&state).map_err(|e| Failure::new(Exit::Config, e))?;
    let mut out = std::io::stdout().lock();
    if list {
        if all.is_empty() {
            let _ = writeln!(out, "No applies recorded in {}.", dir.display());
        }
        for t in &all {
            let _ = writeln!(
                out,
                "{}  {:?}  {}  ({} files)",
                t.id,
                t.status,
                t.label,
                t.paths.len()
            );
        }
        return Ok(());
    }
    // Recovery first. An apply killed mid-way (power loss, SIGKILL) left an incomplete
    // journal or a temporary superuser: undoing that is what `rollback` without an ID means.
    let (session, said) =
        Session::begin(&dir, "rollback").map_err(|e| Failure::new(Exit::Refused, e))?;
    let mut recovered = said;
    // Best effort: without a detectable install there is no file realm to clean.
    if let Ok(facts) = detect::detect(&locate(global, sandbox.as_deref()), None, now()) {
        recovered.extend(
            session
                .remove_leftover_users(&facts.es.config_dir)
                .map_err(|e| Failure::new(Exit::Refused, e))?,
        );
    }
    for text in &recovered {
        let _ = writeln!(out, "{text}");
    }
    if id.is_none() && !recovered.is_empty() {
        return Ok(());
    }
    // `rolling-restart before` journals its allocation change too; without an id, `rollback`
    // means the newest apply (its `after` has already enabled allocation again).
    let rolling = crate::shell::rolling_restart::LABEL;
    let newest_apply = || {
        all.iter()
            .find(|t| t.status == txn::TxnStatus::Committed && t.label != rolling)
    };
    let target = match id {
        Some(id) => id.to_string(),
        None => match newest_apply() {
            Some(t) => t.id.clone(),
            None => {
                return fail(
                    Exit::Refused,
                    format!("no committed apply to roll back in {}", dir.display()),
                );
            }
        },
    };
    let newest = newest_apply().is_some_and(|t| t.id == target);
    let report = txn::rollback_committed(&session.state, &target)
        .map_err(|e| Failure::new(Exit::Refused, e))?;
    let rotation = all.iter().any(|t| t.id == target && t.label == "rotate-ca");
    if all.iter().any(|t| t.id == target && t.label == rolling) {
        // Only the allocation change: no files, and no restart to note.
        if report
            .items
            .iter()
            .any(|i| i.action == txn::RollbackAction::AllocationEnabled)
        {
            // The rollback is done either way; a stale flag only makes the next finishing
            // apply wait for the cluster and enable allocation (already enabled) again.
            let _ = crate::shell::rolling_restart::note_allocation(&dir, false);
        }
    } else if rotation {
        // A CA-rotation phase: nothing was restarted (Elasticsearch reloads the restored
        // files); the phase before it is this node's phase again. Phases journal their record
        // in state.json, so the rollback has already restored it; older journals did not.
        let restored_state = report.items.iter().any(|i| i.path.ends_with("state.json"));
        if !restored_state {
            note_rotation_rolled_back(&dir, newest);
        }
    } else if !report.items.is_empty() {
        note_restart_after_rollback(&dir, newest, &report);
    }
    let _ = writeln!(out, "Rolled back {target}:\n{report}");
    let _ = writeln!(
        out,
        "Restart Elasticsearch (and Kibana) so the restored files take effect."
    );
    Ok(())
}

/// After rolling back a committed apply: a restart was pending (the node never ran on those
/// files) and no longer is, or the node runs on the rolled-back files and now needs one. Only
/// known for the newest apply; an older one is assumed to need a restart.
///
/// A rolled-back apply that had limited shard allocation for its full-cluster restart either
/// enabled it again or told the operator how to: either way no later apply must finish that
/// restart, so the state stops saying allocation is disabled.
fn note_restart_after_rollback(
    state_dir: &Path,
    newest: bool,
    report: &crate::shell::txn::RollbackReport,
) {
    use crate::shell::state::State;
    use crate::shell::txn::RollbackAction;
    if let Ok(mut state) = State::load(state_dir) {
        state.restart_pending = !newest || !state.restart_pending;
        if report.items.iter().any(|i| {
            matches!(
                i.action,
                RollbackAction::AllocationEnabled | RollbackAction::AllocationLeftDisabled
            )
        }) {
            state.allocation_disabled = false;
        }
        let _ = state.save(state_dir);
    }
}

/// After rolling back the newest `rotate-ca` phase: the state records the phase before it, so
/// the next `rotate-ca` runs the rolled-back phase again.
fn note_rotation_rolled_back(state_dir: &Path, newest: bool) {
    use crate::domain::rotation::RotationPhase;
    use crate::shell::state::State;
    if !newest {
        return;
    }
    if let Ok(mut state) = State::load(state_dir) {
        state.ca_rotation = match state.ca_rotation.take() {
            Some(mut r) => match r.phase {
                RotationPhase::TrustBoth => None,
                RotationPhase::NewLeaves => {
                    r.phase = RotationPhase::TrustBoth;
                    Some(r)
                }
                RotationPhase::DropOld => {
                    r.phase = RotationPhase::NewLeaves;
                    Some(r)
                }
            },
            None => None,
        };
        let _ = state.save(state_dir);
    }
}
