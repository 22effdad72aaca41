//! The `renew` command: plan this node's certificate renewal from the detected install (no
//! answers needed), show it, confirm (or `--yes`), run it, report what Elasticsearch serves.
//! It must not plan or write anything itself: the planner and `shell::renew` do.

use std::io::IsTerminal as _;

use crate::cli::Global;
use crate::domain::{planner, render};
use crate::error::{Exit, Failure};
use crate::shell::renew::RenewFailure;
use crate::shell::run_log;
use crate::ui;

use super::{approve_plan, begin_detected, say};

pub(super) fn renew_cmd(
    global: &Global,
    within: Option<u32>,
    all_from: Option<&std::path::Path>,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let all = match all_from {
        Some(p) => Some(super::load_answers(p)?.1),
        None => None,
    };
    let (session, facts) = begin_detected(global, "renew", dry_run)?;
    let plan = planner::build_renew_plan(&facts, within, all.as_ref())
        .map_err(|e| Failure::new(Exit::Refused, e))?;
    let text = ui::style::plan(&render::plan_text(&plan));
    let Some(session) = session.filter(|_| !plan.is_empty()) else {
        anstream::println!("{}", text.trim_end());
        if plan.is_empty() {
            anstream::println!("Nothing to renew.");
        }
        return Ok(());
    };
    approve_plan(
        &plan,
        &text,
        yes,
        "renew",
        "Renew these certificates?",
        "es-secure renew --dry-run",
    )?;
    run_renewal(&session, &facts, &plan)
}

/// Run a renew plan the operator approved, print what it did, map its failure to an exit code.
pub(super) fn run_renewal(
    session: &crate::shell::recovery::Session,
    facts: &crate::domain::facts::Facts,
    plan: &crate::domain::plan::Plan,
) -> Result<(), Failure> {
    match crate::shell::renew::renew(session, facts, plan, &say) {
        Ok(report) => {
            for line in &report.lines {
                anstream::println!("{line}");
                run_log::record(line);
            }
            if let Some(id) = report.transaction {
                anstream::println!(
                    "Renewed (transaction {id}; `es-secure rollback {id}` restores the old files)."
                );
            }
            Ok(())
        }
        Err(e @ RenewFailure::Refused(_)) => Err(Failure::new(Exit::Refused, e)),
        Err(e @ RenewFailure::RolledBack { .. }) => Err(Failure::new(Exit::RolledBack, e)),
    }
}

/// The wizard's offer, before its first screen: when certificates es-secure manages expire
/// within 30 days (the window apply uses), ask whether to renew them now. `None`: nothing due
/// or the operator declined, so the wizard goes on; `Some`: the renewal ran, with its result.
pub(super) fn offer_renew(
    session: &crate::shell::recovery::Session,
    facts: &crate::domain::facts::Facts,
) -> Option<Result<(), Failure>> {
    let within = u32::try_from(planner::RENEW_WITHIN_DAYS).unwrap_or(30);
    let plan = planner::build_renew_plan(facts, Some(within), None).ok()?;
    if plan.is_empty() || !std::io::stdin().is_terminal() {
        return None;
    }
    anstream::println!("{}", ui::style::plan(&render::plan_text(&plan)).trim_end());
    let n = plan.steps.len();
    let renew = inquire::Confirm::new(&format!(
        "{n} certificate(s) expire within {within} days. Renew them now (same CA, no restart)?"
    ))
    .with_default(true)
    .prompt()
    .unwrap_or(false);
    renew.then(|| run_renewal(session, facts, &plan))
}
