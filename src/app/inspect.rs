//! The read-mostly commands: `plan` (the plan as text or JSON), `status` (what was detected)
//! and `verify` (the checks against the running node). None of them changes the install;
//! `verify` may add and remove a temporary superuser, so it takes the lock like `apply`.

use std::io::Write as _;
use std::path::Path;

use crate::cli::Global;
use crate::domain::planner;
use crate::domain::render;
use crate::error::{Exit, Failure, fail};
use crate::ui;

use super::{
    begin_session, detect_with, explain, load_answers, locate, plan_error, print_findings,
    remove_leftover_users, sandbox_guard, sandbox_if_requested, say, would_refuse,
};

pub(super) fn plan_cmd(global: &Global, answers_path: &Path, json: bool) -> Result<(), Failure> {
    let (_, answers) = load_answers(answers_path)?;
    let sandbox = sandbox_if_requested(global)?;
    let facts = detect_with(&locate(global, sandbox.as_deref()), Some(&answers))?;
    explain(global, &facts);
    print_findings(&facts);
    let plan = planner::build_plan(&facts, &answers).map_err(plan_error)?;
    // Styles are dropped by anstream for NO_COLOR and when stdout is not a terminal.
    let mut out = anstream::stdout().lock();
    let text = if json {
        crate::domain::plan_json::document(&plan)
            .and_then(|doc| serde_json::to_string_pretty(&doc))
            .map_err(|e| Failure::new(Exit::Internal, e))?
    } else {
        ui::style::plan(&render::plan_text(&plan))
    };
    let _ = writeln!(out, "{}", text.trim_end());
    would_refuse(&facts, global, &plan)
}

pub(super) fn status_cmd(
    global: &Global,
    answers_path: Option<&Path>,
    json: bool,
    strict: bool,
    check_expiry: Option<u32>,
) -> Result<(), Failure> {
    let answers = match answers_path {
        Some(p) => Some(load_answers(p)?.1),
        None => None,
    };
    let sandbox = sandbox_if_requested(global)?;
    let facts = detect_with(&locate(global, sandbox.as_deref()), answers.as_ref())?;
    explain(global, &facts);
    // One read-only GET _license (quick timeouts; "unknown (why)" when it cannot ask).
    let license = crate::shell::license_view::read(&facts, answers.as_ref());
    let posture = crate::domain::posture::assess(&facts, &license);
    // Always in the JSON (30 days, the window apply and the wizard use, unless asked);
    // in the text only when asked for.
    let expiry = crate::domain::expiry::report(
        &facts,
        check_expiry
            .unwrap_or(u32::try_from(crate::domain::planner::RENEW_WITHIN_DAYS).unwrap_or(30)),
    );
    let mut out = std::io::stdout().lock();
    if json {
        let mut value =
            serde_json::to_value(&facts).map_err(|e| Failure::new(Exit::Internal, e))?;
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "posture".to_string(),
                serde_json::to_value(&posture).map_err(|e| Failure::new(Exit::Internal, e))?,
            );
            map.insert(
                "expiry".to_string(),
                serde_json::to_value(&expiry).map_err(|e| Failure::new(Exit::Internal, e))?,
            );
        }
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| Failure::new(Exit::Internal, e))?;
        let _ = writeln!(out, "{text}");
    } else {
        let _ = writeln!(out, "{}", crate::shell::report::status_text(&facts));
        let _ = writeln!(out, "{}", crate::domain::posture::render(&posture));
        if check_expiry.is_some() {
            let _ = writeln!(out, "{}", crate::domain::expiry::render(&expiry));
        }
    }
    if check_expiry.is_some() && expiry.any_within() {
        let n = expiry.rows.iter().filter(|r| r.within).count();
        return fail(
            Exit::ExpiresSoon,
            format!(
                "{n} certificate(s) expire within {} days (status --check-expiry)\nhelp: `es-secure renew` issues them again from the same CA, without a restart",
                expiry.within_days
            ),
        );
    }
    if strict && posture.any_fail() {
        return fail(
            Exit::VerifyFailed,
            "the posture has at least one `fail` row (status --strict)",
        );
    }
    Ok(())
}

pub(super) fn verify_cmd(global: &Global, answers_path: &Path) -> Result<(), Failure> {
    let (_, answers) = load_answers(answers_path)?;
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    // verify may add a temporary superuser: it takes the lock and recovers first, like apply.
    let session = begin_session(&loc.state_dir, "verify")?;
    let facts = detect_with(&loc, Some(&answers))?;
    explain(global, &facts);
    sandbox_guard(&facts, &answers)?;
    remove_leftover_users(&session, &facts)?;
    // The checks wait for the node (health, authentication): say so instead of a silence.
    say(&format!(
        "verifying {} (this can take up to a minute while the node answers)…",
        planner::es_url(&facts, &answers)
    ));
    session
        .interrupts
        .set_phase(crate::shell::signals::Phase::Verify);
    let table = crate::shell::verify::verify(&facts, &answers, &session.state, &session.interrupts)
        .map_err(
            |e| match e.downcast_ref::<crate::shell::verify::Interrupted>() {
                Some(_) => Failure::new(Exit::RolledBack, e),
                // verify fails before any check only on unusable input (the CA to trust,
                // the answers).
                None => Failure::from_error(e, Exit::Config),
            },
        )?;
    let mut out = anstream::stdout().lock();
    let mut failed = 0;
    for (check, ok, detail) in &table {
        if !ok {
            failed += 1;
        }
        let _ = writeln!(out, "[{}] {check}: {detail}", ui::style::pass_fail(*ok));
    }
    if failed > 0 {
        return fail(Exit::VerifyFailed, format!("{failed} check(s) failed"));
    }
    Ok(())
}
