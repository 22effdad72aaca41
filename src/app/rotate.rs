//! The `rotate-ca` command: on the CA host, plan the next phase of the CA rotation (from the
//! phase recorded in the state), show it, confirm (or `--yes`), run and verify it; on another
//! node, the same for the phase a signed rotation bundle carries. It must not plan or write
//! anything itself: the planner and `shell::rotate` do.

use std::path::Path;

use crate::cli::Global;
use crate::domain::rotation::RotationPhase;
use crate::domain::{planner, render};
use crate::error::{Exit, Failure};
use crate::shell::renew::RenewFailure;
use crate::shell::rotate::RotateReport;
use crate::shell::run_log;
use crate::ui;

use super::{approve_plan, begin_detected, say};

pub(super) fn rotate_cmd(
    global: &Global,
    all_from: Option<&Path>,
    bundle: Option<(&Path, &str)>,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let all = match all_from {
        Some(p) => Some(super::load_answers(p)?.1),
        None => None,
    };
    let (session, facts) = begin_detected(global, "rotate-ca", dry_run)?;
    let (phase, plan, from_bundle) = match bundle {
        Some((path, fp)) => {
            let Some(b) = crate::shell::rotate::read_bundle(path, fp, &facts)
                .map_err(|e| Failure::new(Exit::Refused, e))?
            else {
                anstream::println!(
                    "CA rotation: this node already completed the phase in {}; nothing to do.",
                    path.display()
                );
                return Ok(());
            };
            let plan = crate::shell::rotate::bundle_plan(&facts, &b);
            (b.phase, plan, Some(b))
        }
        None => {
            let done = facts.state.ca_rotation.as_ref().map(|r| r.phase);
            let next_exists = planner::next_ca_paths(&facts).0.exists();
            let (phase, plan) = planner::build_rotate_plan(&facts, done, next_exists, all.as_ref())
                .map_err(|e| Failure::new(Exit::Refused, e))?;
            (phase, plan, None)
        }
    };
    let header = format!("CA rotation phase {phase} of (a)-(c): {}", phase.describe());
    let text = ui::style::plan(&format!("{header}\n{}", render::plan_text(&plan)));
    let Some(session) = session else {
        anstream::println!("{}", text.trim_end());
        return Ok(());
    };
    approve_plan(
        &plan,
        &text,
        yes,
        "rotate-ca",
        &format!("Run CA rotation phase {phase}?"),
        "es-secure rotate-ca --dry-run",
    )?;
    let result = match &from_bundle {
        Some(b) => crate::shell::rotate::apply_bundle(&session, &facts, b, &plan, &say),
        None => crate::shell::rotate::rotate(&session, &facts, phase, &plan, &say),
    };
    report(phase, result)
}

/// Print what the phase did and the next step, map its failure to an exit code.
fn report(phase: RotationPhase, result: Result<RotateReport, RenewFailure>) -> Result<(), Failure> {
    match result {
        Ok(r) => {
            for line in &r.lines {
                anstream::println!("{line}");
                run_log::record(line);
            }
            if phase == RotationPhase::TrustBoth {
                anstream::println!("New CA SHA-256 fingerprint: {}", r.record.new_ca);
            }
            let next = match r.record.next() {
                Some(n) => format!(
                    "next: phase {n} — after this phase ran on every node, run `es-secure rotate-ca` on the CA host again"
                ),
                None => "the rotation is complete".to_string(),
            };
            if let Some(id) = r.transaction {
                anstream::println!(
                    "CA rotation phase {phase} done (transaction {id}; `es-secure rollback {id}` restores the old files); {next}."
                );
            }
            Ok(())
        }
        Err(e @ RenewFailure::Refused(_)) => Err(Failure::new(Exit::Refused, e)),
        Err(e @ RenewFailure::RolledBack { .. }) => Err(Failure::new(Exit::RolledBack, e)),
    }
}
