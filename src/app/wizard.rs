//! The interactive wizard: detect (or fall back to the sandbox), hand the TUI or the plain
//! prompts a planner and an apply, and finish the way `apply` does. It must not decide
//! anything the planner decides, and the answers it records hold no secrets.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::Context;

use crate::cli::Global;
use crate::domain::answers::{Answers, RawAnswers};
use crate::domain::plan::Plan;
use crate::domain::planner;
use crate::error::{Exit, Failure, fail};
use crate::shell::apply::{self, ApplyError, ApplyOptions};
use crate::shell::detect::{self, NotFound};
use crate::ui::{self, WizardInput, WizardOutcome};

use super::apply::{apply_failure, finish_apply, print_event, print_summary};
use super::{
    begin_session, context_flags, detect_failure, detect_with, load_answers, locate, now,
    overrides, remove_leftover_users, sandbox_guard, sandbox_if_requested, say,
};

/// Where the wizard records the (secret-free) answers of every apply it starts, so a restart
/// pending or a failure can be finished later with the same answers.
const WIZARD_ANSWERS: &str = "wizard-answers.yml";

/// The recorded answers of an apply that has not finished: they still plan steps on this
/// install (the restart was pending, or the apply failed).
fn pending_answers(
    path: &Path,
    plan: &dyn Fn(&Answers) -> Result<Plan, String>,
) -> Option<RawAnswers> {
    if !path.exists() {
        return None;
    }
    let (raw, answers) = load_answers(path).ok()?;
    match plan(&answers) {
        Ok(p) if !p.is_empty() => Some(raw),
        _ => None,
    }
}

/// The interactive wizard: TUI on a terminal, plain prompts with `--plain`.
pub(super) fn wizard(global: &Global) -> Result<(), Failure> {
    let mut sandbox = sandbox_if_requested(global)?;
    let mut loc = locate(global, sandbox.as_deref());
    // Recovery first (the lock is held until the wizard ends, so its plan stays true).
    let mut session = begin_session(&loc.state_dir, "the wizard")?;
    let facts = match detect::detect(&loc, None, now()) {
        Ok(f) => f,
        Err(e) if e.downcast_ref::<NotFound>().is_some() && global.es_config.is_none() => {
            let dir = crate::shell::sandbox::ensure()
                .map_err(|e| Failure::from_error(e, Exit::Config))?;
            say(&format!(
                "{e}\n\nNo Elasticsearch here, so the wizard runs on a sandbox copy of a sample install:\n  {}\nNothing outside that directory is changed.\n",
                dir.display()
            ));
            sandbox = Some(dir);
            loc = locate(global, sandbox.as_deref());
            // The sandbox has its own state directory.
            drop(session);
            session = begin_session(&loc.state_dir, "the wizard")?;
            detect::detect(&loc, None, now()).map_err(detect_failure)?
        }
        Err(e) => return Err(detect_failure(e)),
    };
    remove_leftover_users(&session, &facts)?;
    let session = std::sync::Arc::new(session);
    let loc_for_plan = loc.clone();
    // The planner refuses what `apply` would refuse up front (own CA, env:/file: secrets), so
    // Review never offers Proceed on answers that cannot be applied.
    let planner_fn = move |a: &Answers| -> Result<Plan, String> {
        let f = detect::detect(&loc_for_plan.clone().with_answers(a), Some(a), now())
            .map_err(|e| format!("{e:#}"))?;
        let problems = crate::shell::precheck::inputs(a, now());
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(lines.join("\n"));
        }
        planner::build_plan(&f, a).map_err(|e| e.to_string())
    };
    let check_fn = |a: &Answers| crate::shell::precheck::inputs(a, now());
    let recorded = loc.state_dir.join(WIZARD_ANSWERS);
    let pending = pending_answers(&recorded, &planner_fn);
    let initial = pending
        .clone()
        .unwrap_or_else(|| crate::domain::defaults::initial_answers(&facts));
    let flags = context_flags(global, sandbox.is_some());
    let input = WizardInput {
        facts: &facts,
        initial,
        planner: &planner_fn,
        check: &check_fn,
        default_answers_path: loc.state_dir.join("answers.yml"),
        save_file: crate::shell::safe_fs::write_private,
        pending: pending.as_ref().map(|_| recorded.clone()),
        context_flags: flags.clone(),
        interrupts: session.interrupts.clone(),
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // Set by the TUI's apply: the plan stopped for a manual restart, so the wizard ends with
    // the same "restart pending" exit code as `apply`.
    let restart_pending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The wizard's applies honour the same override flags as `apply`, name the recorded
    // answers in their re-run command, and print commands for this context.
    let wizard_opts = ApplyOptions {
        overrides: overrides(global),
        answers_path: Some(recorded.clone()),
        context_flags: flags.clone(),
        ..ApplyOptions::default()
    };
    let outcome = if global.plain || !tty {
        ui::plain::run(input)
    } else {
        let loc_apply = loc.clone();
        let opts = wizard_opts.clone();
        let pending = std::sync::Arc::clone(&restart_pending);
        let recorded = recorded.clone();
        // The screen reports interrupts; printing them would garble it.
        session.interrupts.set_quiet(true);
        let session = std::sync::Arc::clone(&session);
        let apply_fn: ui::ApplyFn = Box::new(move |raw, answers, plan, tx| {
            pending.store(
                plan.stops_for_restart(),
                std::sync::atomic::Ordering::SeqCst,
            );
            // Detection failing here means the install changed under the wizard: nothing was
            // written yet, so it is unusable input like any other.
            let facts = detect::detect(
                &loc_apply.clone().with_answers(&answers),
                Some(&answers),
                now(),
            )
            .map_err(ApplyError::Invalid)?;
            sandbox_guard(&facts, &answers).map_err(|f| ApplyError::Refused(f.error))?;
            record_answers(&raw, &recorded).map_err(ApplyError::Refused)?;
            let mut summary = apply::apply_in(&session, &facts, &answers, &plan, &opts, &|e| {
                let _ = tx.send(e);
            })?;
            summary.answers_saved = Some(recorded.clone());
            Ok(summary)
        });
        ui::tui::run(input, apply_fn)
    }
    // A frontend error made with an exit code (no terminal to ask on) keeps it; anything
    // else (the terminal failed) is internal.
    .map_err(|e| Failure::from_error(e, Exit::Internal))?;
    match outcome {
        WizardOutcome::Cancelled => fail(Exit::Refused, "cancelled; nothing was changed"),
        WizardOutcome::Applied(Ok(summary)) => {
            // The TUI showed the notices on its own screen, which is gone now: print them all.
            print_summary(&summary, &flags, &[]);
            if restart_pending.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Failure::new(
                    Exit::RestartPending,
                    anyhow::anyhow!(
                        "restart Elasticsearch, then run `es-secure apply --answers {}{flags}` (or the wizard again: it offers to finish) to finish",
                        crate::shell::quote(&recorded)
                    ),
                ));
            }
            Ok(())
        }
        WizardOutcome::Applied(Err(e)) => Err(match e.downcast::<ApplyError>() {
            Ok(e) => apply_failure(e),
            Err(e) => Failure::from_error(e, Exit::Internal),
        }),
        WizardOutcome::Proceed { raw, answers, plan } => {
            let facts = detect_with(&loc, Some(&answers))?;
            sandbox_guard(&facts, &answers)?;
            record_answers(&raw, &recorded).map_err(|e| Failure::new(Exit::Refused, e))?;
            let noticed = std::cell::RefCell::new(Vec::new());
            let result = apply::apply_in(&session, &facts, &answers, &plan, &wizard_opts, &|e| {
                print_event(e, &noticed);
            });
            finish_apply(result, &plan, &flags, &noticed.into_inner())
        }
    }
}

/// Record the answers of an apply the wizard starts (they hold no secrets), creating the
/// state directory on a fresh install.
fn record_answers(raw: &RawAnswers, path: &Path) -> anyhow::Result<()> {
    ui::save_answers(raw, path, crate::shell::safe_fs::write_private).with_context(
        || "recording the wizard's answers in the state directory (nothing was changed)",
    )
}
