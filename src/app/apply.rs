//! The `apply` command: the plan reviewed or confirmed, a node bundle's CA confirmed,
//! `--prune-bundles`, the progress printed while the executor runs and the summary after it.
//! It must not plan or change files itself (the planner and `shell::apply` do), and never
//! prints a secret except the generated passwords the operator asked to see once.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use crate::cli::{Global, PruneBundles};
use crate::domain::answers::Answers;
use crate::domain::facts::Facts;
use crate::domain::plan::Plan;
use crate::domain::planner;
use crate::domain::render;
use crate::error::{Exit, Failure, fail};
use crate::shell::apply::{self, ApplyError, ApplyOptions};
use crate::ui::{self, ApplyEvent, ApplySummary};

use super::{
    approve_plan, begin_session, context_flags, detect_with, explain, load_answers, locate,
    overrides, plan_error, print_findings, remove_leftover_users, sandbox_guard,
    sandbox_if_requested, say, would_refuse,
};

/// What an apply works from, read and checked before the host is touched.
enum ApplyInput {
    Answers(Box<Answers>),
    Bundle(Box<crate::shell::bundle::Prepared>),
}

/// `--bundle FILE` with the `--cluster-file` and `--ca-fingerprint` given for it.
pub(super) struct BundleArg<'a> {
    pub path: &'a Path,
    pub cluster_file: Option<&'a Path>,
    pub ca_fingerprint: Option<&'a str>,
}

pub(super) fn apply_cmd(
    global: &Global,
    answers_path: Option<&Path>,
    bundle: Option<BundleArg<'_>>,
    prune: Option<PruneBundles>,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    let bundle_path = bundle.as_ref().map(|b| b.path);
    let cluster_file = bundle.as_ref().and_then(|b| b.cluster_file);
    // The input first (answers, or a bundle whose signature and CA are checked): bad input
    // is refused before anything on the host is touched, the state directory included.
    let input = match (answers_path, bundle) {
        (Some(path), _) => ApplyInput::Answers(Box::new(load_answers(path)?.1)),
        (None, Some(b)) => {
            use crate::shell::bundle::BundleError;
            let cluster = crate::shell::bundle::cluster_path(b.path, b.cluster_file);
            let prepared = crate::shell::bundle::prepare(b.path, &cluster, b.ca_fingerprint)
                .map_err(|e| match e {
                    BundleError::Invalid(e) => Failure::new(Exit::Config, e),
                    BundleError::Refused(e) => Failure::new(Exit::Refused, e),
                })?;
            confirm_bundle_ca(&prepared, yes, dry_run)?;
            ApplyInput::Bundle(Box::new(prepared))
        }
        (None, None) => return fail(Exit::Config, "apply needs --answers FILE or --bundle FILE"),
    };
    // Recovery next: an interrupted run is undone before detecting and planning (a dry run
    // changes nothing, so it neither locks nor recovers; pruning takes the lock itself).
    let session = if dry_run || prune.is_some() {
        None
    } else {
        Some(begin_session(&loc.state_dir, "apply")?)
    };
    let (answers, facts) = match input {
        ApplyInput::Answers(answers) => {
            let facts = detect_with(&loc, Some(&answers))?;
            (*answers, facts)
        }
        ApplyInput::Bundle(prepared) => {
            let mut facts = detect_with(&loc, Some(&prepared.answers))?;
            facts.bundle = Some(crate::shell::bundle::facts(&prepared, &facts.es.config_dir));
            facts.host.findings.extend(prepared.warning.clone());
            (prepared.answers, facts)
        }
    };
    if let Some(mode) = prune {
        // Only the bundles: pruning is its own action, so it never deletes a bundle the same
        // run has just written, and never waits on a plan.
        return prune_bundles(&facts, &answers, mode, dry_run);
    }
    if let Some(session) = &session {
        remove_leftover_users(session, &facts)?;
    }
    explain(global, &facts);
    if let Some(r) = &facts.state.ca_rotation
        && let Some(next) = r.next()
        && !dry_run
    {
        // Apply would install a trust list with one CA and undo the rotation half-way.
        return fail(
            Exit::Refused,
            format!(
                "a CA rotation is in progress on this node (phase {} done); apply would replace its trust list and break it; nothing was changed\nhelp: finish it first: `es-secure rotate-ca` (phase {next})",
                r.phase
            ),
        );
    }
    // Findings first: when the plan is refused too, the operator still learns about them.
    print_findings(&facts);
    let plan = planner::build_plan(&facts, &answers).map_err(plan_error)?;
    sandbox_guard(&facts, &answers)?;
    let text = ui::style::plan(&render::plan_text(&plan));
    let Some(session) = session.filter(|_| !dry_run && !plan.is_empty()) else {
        anstream::println!("{}", text.trim_end());
        return would_refuse(&facts, global, &plan);
    };
    approve_plan(
        &plan,
        &text,
        yes,
        "apply",
        "Apply this plan?",
        "es-secure plan --answers FILE",
    )?;
    let flags = context_flags(global, sandbox.is_some());
    let opts = ApplyOptions {
        answers_path: answers_path.map(Path::to_path_buf),
        overrides: overrides(global),
        bundle_path: bundle_path.map(Path::to_path_buf),
        cluster_file: cluster_file.map(Path::to_path_buf),
        context_flags: flags.clone(),
    };
    let noticed = std::cell::RefCell::new(Vec::new());
    let summary = apply::apply_in(&session, &facts, &answers, &plan, &opts, &|e| {
        print_event(e, &noticed);
    });
    finish_apply(summary, &plan, &flags, &noticed.into_inner())
}

/// Make sure the operator trusts the CA that signed a bundle: `--ca-fingerprint` matched it
/// already, or a terminal shows the fingerprint and asks. `--yes` without the flag is refused:
/// an unattended apply must not trust whatever CA the file brings.
fn confirm_bundle_ca(
    p: &crate::shell::bundle::Prepared,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let file = p.path.display();
    if p.ca_pinned {
        eprintln!(
            "{file}: signature verified, with its cluster file {}; signed by the CA \"{}\" ({}), as --ca-fingerprint says",
            p.cluster_path.display(),
            p.ca_subject,
            p.ca_fingerprint
        );
        return Ok(());
    }
    let shown = format!(
        "{file} is signed by the CA \"{}\" with SHA-256 fingerprint\n  {}\nCompare it with the `CA SHA-256 fingerprint:` line the apply on the CA host printed.",
        p.ca_subject, p.ca_fingerprint
    );
    if dry_run {
        eprintln!("{shown}\nnote: not checked against --ca-fingerprint (dry run)");
        return Ok(());
    }
    let fix = format!(
        "run `es-secure apply --bundle {file} --ca-fingerprint SHA256 --yes` with the fingerprint the apply on the CA host printed, or run without --yes at a terminal to compare it yourself"
    );
    if yes {
        return fail(
            Exit::Refused,
            format!(
                "{file}: refused: --yes needs --ca-fingerprint, so that an unattended apply trusts only the CA you name; nothing was changed\nhelp: {fix}"
            ),
        );
    }
    if !std::io::stdin().is_terminal() {
        return fail(
            Exit::Refused,
            format!(
                "{file}: refused: no --ca-fingerprint, and there is no terminal to confirm the bundle's CA on; nothing was changed\nhelp: {fix}"
            ),
        );
    }
    eprintln!("{shown}");
    let trusted = inquire::Confirm::new("Is this the CA fingerprint the CA host printed?")
        .with_default(false)
        .prompt()
        .unwrap_or(false);
    if !trusted {
        return fail(
            Exit::Refused,
            "the bundle's CA was not confirmed; nothing was changed",
        );
    }
    Ok(())
}

/// `--prune-bundles`: delete the CA host's copies of bundles (they hold other nodes' keys).
fn prune_bundles(
    facts: &Facts,
    answers: &Answers,
    mode: PruneBundles,
    dry_run: bool,
) -> Result<(), Failure> {
    if dry_run {
        println!("--prune-bundles with --dry-run: nothing was deleted");
        return Ok(());
    }
    use crate::shell::bundle_prune::{PruneMode, prune};
    let mode = match mode {
        PruneBundles::Joined => PruneMode::Joined,
        PruneBundles::All => PruneMode::All,
    };
    let report = prune(facts, answers, mode).map_err(|e| Failure::new(Exit::Refused, e))?;
    let mut out = std::io::stdout().lock();
    for (node, path) in &report.deleted {
        let _ = writeln!(out, "deleted the bundle of {node}: {}", path.display());
    }
    for (node, path) in &report.kept {
        let _ = writeln!(
            out,
            "kept the bundle of {node} ({}): the cluster does not list {node} yet",
            path.display()
        );
    }
    if report.deleted.is_empty() && report.kept.is_empty() {
        let _ = writeln!(out, "no bundles to delete");
    }
    Ok(())
}

/// Print an apply event on stderr (progress is not the program's output). Write errors are
/// ignored: after SIGHUP the terminal is gone, and the apply must still finish or roll back.
pub(super) fn print_event(e: ApplyEvent, noticed: &std::cell::RefCell<Vec<String>>) {
    match e {
        ApplyEvent::StepStarted { index, line } => say(&format!("[{:>2}] {line}", index + 1)),
        ApplyEvent::StepProgress { text, .. } => say(&format!("     ... {text}")),
        ApplyEvent::StepDone { elapsed, .. } => {
            say(&format!("     done ({:.1}s)", elapsed.as_secs_f64()));
        }
        ApplyEvent::StepFailed { error, .. } => say(&format!("     FAILED: {error}")),
        ApplyEvent::RolledBack { report } => say(&format!("Rolled back:\n{report}")),
        ApplyEvent::Notice { text } => {
            say(&format!("\n{text}"));
            noticed.borrow_mut().push(text);
        }
    }
}

pub(super) fn finish_apply(
    result: Result<ApplySummary, ApplyError>,
    plan: &Plan,
    flags: &str,
    noticed: &[String],
) -> Result<(), Failure> {
    match result {
        Ok(summary) => {
            print_summary(&summary, flags, noticed);
            if plan.stops_for_restart() {
                return Err(Failure::new(
                    Exit::RestartPending,
                    anyhow::anyhow!(
                        "restart Elasticsearch, then run the same apply again to finish"
                    ),
                ));
            }
            Ok(())
        }
        Err(e) => Err(apply_failure(e)),
    }
}

/// The exit code of each kind of apply failure (the README's table), from the CLI and the
/// wizard alike.
pub(super) fn apply_failure(e: ApplyError) -> Failure {
    match e {
        ApplyError::Refused(e) => Failure::new(Exit::Refused, e),
        ApplyError::Invalid(e) => Failure::new(Exit::Config, e),
        e @ ApplyError::RolledBack { .. } => Failure::new(Exit::RolledBack, e),
        ApplyError::Partial(e) => Failure::new(Exit::Partial, e),
    }
}

/// The summary on stdout; `flags` are this run's context flags (for the undo command).
/// The next steps already said as notices during the apply are not repeated.
pub(super) fn print_summary(s: &ApplySummary, flags: &str, noticed: &[String]) {
    let mut out = anstream::stdout().lock();
    if !s.verify_table.is_empty() {
        let _ = writeln!(out, "\nVerification:");
        for (check, ok, detail) in &s.verify_table {
            let _ = writeln!(out, "  [{}] {check}: {detail}", ui::style::pass_fail(*ok));
        }
    }
    if let Some(fp) = &s.ca_fingerprint {
        let _ = writeln!(out, "CA SHA-256 fingerprint: {fp}");
    }
    if !s.shown_passwords.is_empty() {
        let _ = writeln!(out, "\nPasswords (shown once, as you asked):");
        for (user, pw) in &s.shown_passwords {
            let _ = writeln!(out, "  {user}: {}", pw.expose());
        }
    }
    if let Some(p) = &s.password_file {
        let _ = writeln!(
            out,
            "Generated passwords were written to {} (mode 0600).",
            p.display()
        );
    }
    if let Some(id) = &s.transaction {
        let _ = writeln!(
            out,
            "Transaction {id} (undo with `es-secure rollback {id}{flags}`)."
        );
    }
    if let Some(t) = &s.timing {
        let mut line = format!("Took {:.2} s of es-secure's own work", t.own.as_secs_f64());
        if !t.rest_calls.is_zero() {
            line.push_str(&format!(
                "; {:.1} s in password changes and checks over REST",
                t.rest_calls.as_secs_f64()
            ));
        }
        if !t.waiting_for_es.is_zero() {
            line.push_str(&format!(
                "; {:.1} s restarting Elasticsearch and waiting for it",
                t.waiting_for_es.as_secs_f64()
            ));
        }
        let _ = writeln!(out, "{line}.");
    }
    for step in s.next_steps.iter().filter(|n| !noticed.contains(n)) {
        let _ = writeln!(out, "next: {step}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_failures_keep_the_documented_exit_codes() {
        let e = || anyhow::anyhow!("x");
        // A held lock is a refusal (3), from the CLI and the wizard alike.
        assert_eq!(apply_failure(ApplyError::Refused(e())).exit, Exit::Refused);
        assert_eq!(apply_failure(ApplyError::Invalid(e())).exit, Exit::Config);
        assert_eq!(
            apply_failure(ApplyError::RolledBack {
                cause: e(),
                report: String::new()
            })
            .exit,
            Exit::RolledBack
        );
        assert_eq!(apply_failure(ApplyError::Partial(e())).exit, Exit::Partial);
    }
}
