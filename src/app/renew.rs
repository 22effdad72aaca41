//! The `renew` command: plan this node's certificate renewal from the detected install (no
//! answers needed), show it, confirm (or `--yes`), run it, report what Elasticsearch serves.
//! It must not plan or write anything itself: the planner and `shell::renew` do.

use std::io::IsTerminal as _;

use crate::cli::Global;
use crate::domain::{planner, render};
use crate::error::{Exit, Failure, fail};
use crate::shell::renew::RenewFailure;
use crate::shell::run_log;
use crate::ui;

use super::{
    begin_session, detect_with, explain, locate, remove_leftover_users, sandbox_if_requested, say,
};

pub(super) fn renew_cmd(
    global: &Global,
    within: Option<u32>,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    // Like apply: the lock and recovery come before detection, so the facts are current.
    let session = if dry_run {
        None
    } else {
        Some(begin_session(&loc.state_dir, "renew")?)
    };
    let facts = detect_with(&loc, None)?;
    explain(global, &facts);
    if let Some(s) = &session {
        remove_leftover_users(s, &facts)?;
    }
    let plan =
        planner::build_renew_plan(&facts, within).map_err(|e| Failure::new(Exit::Refused, e))?;
    let text = ui::style::plan(&render::plan_text(&plan));
    let Some(session) = session.filter(|_| !plan.is_empty()) else {
        anstream::println!("{}", text.trim_end());
        if plan.is_empty() {
            anstream::println!("Nothing to renew.");
        }
        return Ok(());
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return fail(
                Exit::Refused,
                "renew needs confirmation, and there is no terminal to ask on\nhelp: review the plan with `es-secure renew --dry-run`, then run renew with --yes",
            );
        }
        anstream::println!("{}", text.trim_end());
        let proceed = inquire::Confirm::new("Renew these certificates?")
            .with_default(false)
            .prompt()
            .unwrap_or(false);
        if !proceed {
            return fail(Exit::Refused, "cancelled; nothing was changed");
        }
    } else {
        anstream::eprintln!("{}", text.trim_end());
        run_log::record(&render::plan_text(&plan));
    }
    match crate::shell::renew::renew(&session, &facts, &plan, &say) {
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
