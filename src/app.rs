//! The one place that wires domain, shell and UI together for each command: detect, plan,
//! review, apply, report. Printing happens here (stdout for results, stderr for progress);
//! no secret is ever printed except generated passwords the operator asked to see once.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::cli::{Cli, Command, Global, PruneBundles};
use crate::domain::answers::{self, Answers, RawAnswers};
use crate::domain::facts::{Facts, Layout, Severity};
use crate::domain::plan::Plan;
use crate::domain::planner::{self, PlanError};
use crate::domain::render;
use crate::error::{Exit, Failure, fail};
use crate::shell::apply::{self, ApplyError, ApplyOptions};
use crate::shell::detect::{self, Locate, NotFound};
use crate::shell::recovery::Session;
use crate::shell::run_log;
use crate::shell::state::DEFAULT_STATE_DIR;
use crate::ui::{self, ApplyEvent, ApplySummary, WizardInput, WizardOutcome};

/// Run the parsed command line; the error carries the exit code. With `--log-file` the
/// progress and the outcome are also written there at the end.
pub fn run(cli: Cli) -> Result<(), Failure> {
    if let Some(path) = &cli.global.log_file {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        run_log::start(path.clone(), &args.join(" "));
    }
    let result = dispatch(cli);
    if let Err(failure) = &result {
        let label = match failure.exit {
            Exit::RestartPending => "restart pending",
            _ => "error",
        };
        run_log::record(&format!("{label}: {:#}", failure.error));
    }
    let code = result.as_ref().map_or_else(|f| f.exit.code(), |()| 0);
    if let Err(e) = run_log::finish(code) {
        eprintln!("warning: the log file was not written: {e:#}");
    }
    result
}

/// Print on stderr, and keep the line for `--log-file`.
/// Progress and messages on stderr, and into the run log. A write error is ignored: after
/// SIGHUP the terminal is gone, and the apply must still finish or roll back.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
    run_log::record(text);
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        None => wizard(&cli.global),
        Some(Command::Plan { answers, json }) => plan_cmd(&cli.global, &answers, json),
        Some(Command::Apply {
            answers,
            bundle,
            ca_fingerprint,
            prune_bundles,
            yes,
            dry_run,
            ignore_ownership: _, // folded into `Global` by `Cli::resolve`
        }) => apply_cmd(
            &cli.global,
            answers.as_deref(),
            bundle.as_deref().map(|b| (b, ca_fingerprint.as_deref())),
            prune_bundles,
            yes,
            dry_run,
        ),
        Some(Command::Status { json, answers }) => {
            status_cmd(&cli.global, answers.as_deref(), json)
        }
        Some(Command::Verify { answers }) => verify_cmd(&cli.global, &answers),
        Some(Command::Rollback { list, id }) => rollback_cmd(&cli.global, list, id.as_deref()),
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command_tree();
            clap_complete::generate(shell, &mut cmd, "es-secure", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Man) => clap_mangen::Man::new(Cli::command_tree())
            .render(&mut std::io::stdout())
            .map_err(|e| Failure::new(Exit::Internal, e)),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Detection reads only the operator's install (settings files, CA, keystores, paths given
/// on the command line): when it fails, the input is what is wrong, so nothing was changed and
/// the exit code is 2. A [`Failure`] made deeper down keeps its own code.
fn detect_failure(e: anyhow::Error) -> Failure {
    Failure::from_error(e, Exit::Config)
}

/// Read and parse an answers file: errors name the file and line.
pub fn load_answers(path: &Path) -> Result<(RawAnswers, Answers), Failure> {
    let text =
        crate::shell::safe_fs::read_input_text(path, crate::shell::safe_fs::SMALL_CAP, "answers")
            .with_context(|| format!("cannot read answers file {}", path.display()))
            .map_err(|e| Failure::new(Exit::Config, e))?;
    parse_answers(&path.display().to_string(), &text)
}

fn parse_answers(file: &str, text: &str) -> Result<(RawAnswers, Answers), Failure> {
    let raw = answers::parse_raw(text)
        .map_err(|e| Failure::new(Exit::Config, anyhow::anyhow!("{file}: {e}")))?;
    let typed = Answers::from_raw(&raw).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(|e| format!("{file}: {e}")).collect();
        Failure::new(Exit::Config, anyhow::anyhow!("{}", lines.join("\n")))
    })?;
    Ok((raw, typed))
}

fn state_dir(global: &Global, sandbox: Option<&Path>) -> PathBuf {
    if let Some(dir) = &global.state_dir {
        return dir.clone();
    }
    if let Some(sb) = sandbox {
        return sb.join("state");
    }
    PathBuf::from(DEFAULT_STATE_DIR)
}

fn locate(global: &Global, sandbox: Option<&Path>) -> Locate {
    let mut loc = Locate {
        es_home: global.es_home.clone(),
        es_config: global.es_config.clone(),
        kibana_config: global.kibana_config.clone(),
        es_user: global.es_user.clone(),
        state_dir: state_dir(global, sandbox),
        sandbox: sandbox.is_some(),
        probe: detect::HostProbe::default(),
    };
    if let Some(sb) = sandbox {
        loc.es_home = Some(sb.join("elasticsearch"));
        loc.es_config = Some(sb.join("elasticsearch/config"));
        loc.kibana_config = Some(sb.join("kibana/config"));
    }
    loc
}

/// Detect with answers; errors classified.
fn detect_with(loc: &Locate, answers: Option<&Answers>) -> Result<Facts, Failure> {
    let loc = match answers {
        Some(a) => loc.clone().with_answers(a),
        None => loc.clone(),
    };
    detect::detect(&loc, answers, now()).map_err(detect_failure)
}

/// With `-v`: what was detected and where, on stderr (paths and versions only, no secrets).
/// The log file always gets it.
fn explain(global: &Global, facts: &Facts) {
    let version = facts
        .es
        .version
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let mut lines = vec![
        format!(
            "detected: Elasticsearch {version} ({:?} layout), tier {}",
            facts.es.layout, facts.es.tier.tier
        ),
        format!("  config: {}", facts.es.yml_path.display()),
    ];
    if let Some(home) = &facts.es.home {
        lines.push(format!("  home:   {}", home.display()));
    }
    lines.push(match &facts.kibana {
        Some(k) => format!("  kibana: {}", k.yml_path.display()),
        None => "  kibana: not found (left alone)".to_string(),
    });
    lines.push(format!("  state:  {}", facts.state.state_dir.display()));
    let detail_from = lines.len();
    for line in &facts.es.tier.evidence {
        lines.push(format!("  evidence: {line}"));
    }
    lines.push(format!(
        "  restart pending: {}",
        facts.state.restart_pending
    ));
    for (i, line) in lines.iter().enumerate() {
        let shown = match global.verbose {
            0 => false,
            1 => i < detail_from,
            _ => true,
        };
        if shown {
            eprintln!("{line}");
        }
        run_log::record(line);
    }
}

fn plan_error(e: PlanError) -> Failure {
    let exit = match e {
        PlanError::Edit(_) => Exit::Config,
        _ => Exit::Refused,
    };
    Failure::new(exit, e)
}

fn plan_cmd(global: &Global, answers_path: &Path, json: bool) -> Result<(), Failure> {
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

/// `plan` and `apply --dry-run` exit as `apply` would: 3 when a finding would stop it.
fn would_refuse(facts: &Facts, global: &Global, plan: &Plan) -> Result<(), Failure> {
    let overrides = overrides(global);
    let stopping: Vec<String> = facts
        .host
        .findings
        .iter()
        .filter(|f| f.stops_apply(&overrides))
        .map(|f| format!("- {}", f.text))
        .collect();
    if stopping.is_empty() || plan.is_empty() {
        return Ok(());
    }
    fail(
        Exit::Refused,
        format!(
            "apply would refuse this plan (see the findings above):\n{}",
            stopping.join("\n")
        ),
    )
}

/// The sandbox directory when `--sandbox` was given.
fn sandbox_if_requested(global: &Global) -> Result<Option<PathBuf>, Failure> {
    if global.sandbox {
        // Creating the sandbox copies files into the operator's cache directory; when that
        // fails (no home, disk full) the fix is on the operator's side.
        Ok(Some(
            crate::shell::sandbox::ensure().map_err(|e| Failure::from_error(e, Exit::Config))?,
        ))
    } else {
        Ok(None)
    }
}

fn print_findings(facts: &Facts) {
    for f in &facts.host.findings {
        let label = match f.severity {
            Severity::Blocking => "BLOCKING",
            Severity::Overridable => "blocking (overridable)",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        say(&format!("{label}: {}", f.text));
        if let Some(fix) = &f.fix {
            say(&format!("  fix: {fix}"));
        }
    }
}

/// Overridable findings the operator chose to override, by flag name.
fn overrides(global: &Global) -> Vec<String> {
    let mut v = Vec::new();
    if global.ignore_ownership {
        v.push(crate::shell::detect::IGNORE_OWNERSHIP.to_string());
    }
    v
}

/// What an apply works from, read and checked before the host is touched.
enum ApplyInput {
    Answers(Box<Answers>),
    Bundle(Box<crate::shell::bundle::Prepared>),
}

/// `--bundle FILE` with the `--ca-fingerprint` given for it.
type BundleArg<'a> = (&'a Path, Option<&'a str>);

fn apply_cmd(
    global: &Global,
    answers_path: Option<&Path>,
    bundle: Option<BundleArg<'_>>,
    prune: Option<PruneBundles>,
    yes: bool,
    dry_run: bool,
) -> Result<(), Failure> {
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    let bundle_path = bundle.map(|(p, _)| p);
    // The input first (answers, or a bundle whose signature and CA are checked): bad input
    // is refused before anything on the host is touched, the state directory included.
    let input = match (answers_path, bundle) {
        (Some(path), _) => ApplyInput::Answers(Box::new(load_answers(path)?.1)),
        (None, Some((path, ca_fingerprint))) => {
            use crate::shell::bundle::BundleError;
            let prepared =
                crate::shell::bundle::prepare(path, ca_fingerprint).map_err(|e| match e {
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
    // Findings first: when the plan is refused too, the operator still learns about them.
    print_findings(&facts);
    let plan = planner::build_plan(&facts, &answers).map_err(plan_error)?;
    sandbox_guard(&facts, &answers)?;
    let text = ui::style::plan(&render::plan_text(&plan));
    let Some(session) = session.filter(|_| !dry_run && !plan.is_empty()) else {
        anstream::println!("{}", text.trim_end());
        return would_refuse(&facts, global, &plan);
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return fail(
                Exit::Refused,
                "apply needs confirmation, and there is no terminal to ask on\nhelp: review the plan with `es-secure plan --answers FILE`, then run apply with --yes",
            );
        }
        anstream::println!("{}", text.trim_end());
        let proceed = inquire::Confirm::new("Apply this plan?")
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
    let flags = context_flags(global, sandbox.is_some());
    let opts = ApplyOptions {
        answers_path: answers_path.map(Path::to_path_buf),
        overrides: overrides(global),
        bundle_path: bundle_path.map(Path::to_path_buf),
        context_flags: flags.clone(),
    };
    let noticed = std::cell::RefCell::new(Vec::new());
    let summary = apply::apply_in(&session, &facts, &answers, &plan, &opts, &|e| {
        print_event(e, &noticed);
    });
    finish_apply(summary, &plan, &flags, &noticed.into_inner())
}

/// In the sandbox, refuse any apply or check that could reach a node other than the
/// sandbox's own (a real node on this machine, e.g. on 9200): nothing is contacted or changed.
fn sandbox_guard(facts: &Facts, answers: &Answers) -> Result<(), Failure> {
    if facts.es.layout != Layout::Sandbox {
        return Ok(());
    }
    let own_port = facts
        .es
        .parsed
        .settings
        .value("http.port")
        .and_then(|v| v.as_plain().parse::<u16>().ok());
    let root = facts
        .es
        .config_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&facts.es.config_dir);
    crate::shell::sandbox::refuse_foreign(&planner::es_url(facts, answers), own_port, root)
        .map_err(|e| Failure::new(Exit::Refused, e))
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
            "{file}: signature verified; signed by the CA \"{}\" ({}), as --ca-fingerprint says",
            p.ca_subject, p.ca_fingerprint
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

/// Recovery first: take the state lock and undo what an interrupted run left, saying what.
fn begin_session(state_dir: &Path, what: &str) -> Result<Session, Failure> {
    let (session, said) =
        Session::begin(state_dir, what).map_err(|e| Failure::new(Exit::Refused, e))?;
    for text in said {
        let _ = writeln!(std::io::stderr(), "{text}");
    }
    Ok(session)
}

/// The second half of recovery, once detection knows the config directory: temporary
/// superusers an interrupted run left in the file realm.
fn remove_leftover_users(session: &Session, facts: &Facts) -> Result<(), Failure> {
    let said = session
        .remove_leftover_users(&facts.es.config_dir)
        .map_err(|e| Failure::new(Exit::Refused, e))?;
    for text in said {
        let _ = writeln!(std::io::stderr(), "{text}");
    }
    Ok(())
}

/// Print an apply event on stderr (progress is not the program's output). Write errors are
/// ignored: after SIGHUP the terminal is gone, and the apply must still finish or roll back.
fn print_event(e: ApplyEvent, noticed: &std::cell::RefCell<Vec<String>>) {
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

fn finish_apply(
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
fn apply_failure(e: ApplyError) -> Failure {
    match e {
        ApplyError::Refused(e) => Failure::new(Exit::Refused, e),
        ApplyError::Invalid(e) => Failure::new(Exit::Config, e),
        e @ ApplyError::RolledBack { .. } => Failure::new(Exit::RolledBack, e),
        ApplyError::Partial(e) => Failure::new(Exit::Partial, e),
    }
}

/// The summary on stdout; `flags` are this run's context flags (for the undo command).
/// The next steps already said as notices during the apply are not repeated.
fn print_summary(s: &ApplySummary, flags: &str, noticed: &[String]) {
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

fn status_cmd(global: &Global, answers_path: Option<&Path>, json: bool) -> Result<(), Failure> {
    let answers = match answers_path {
        Some(p) => Some(load_answers(p)?.1),
        None => None,
    };
    let sandbox = sandbox_if_requested(global)?;
    let facts = detect_with(&locate(global, sandbox.as_deref()), answers.as_ref())?;
    explain(global, &facts);
    let mut out = std::io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(&facts).map_err(|e| Failure::new(Exit::Internal, e))?;
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    let _ = writeln!(out, "{}", crate::shell::report::status_text(&facts));
    Ok(())
}

fn verify_cmd(global: &Global, answers_path: &Path) -> Result<(), Failure> {
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

fn rollback_cmd(global: &Global, list: bool, id: Option<&str>) -> Result<(), Failure> {
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
    let target = match id {
        Some(id) => id.to_string(),
        None => match all.iter().find(|t| t.status == txn::TxnStatus::Committed) {
            Some(t) => t.id.clone(),
            None => {
                return fail(
                    Exit::Refused,
                    format!("no committed apply to roll back in {}", dir.display()),
                );
            }
        },
    };
    let newest = all
        .iter()
        .find(|t| t.status == txn::TxnStatus::Committed)
        .is_some_and(|t| t.id == target);
    let report = txn::rollback_committed(&session.state, &target)
        .map_err(|e| Failure::new(Exit::Refused, e))?;
    if !report.items.is_empty() {
        note_restart_after_rollback(&dir, newest);
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
fn note_restart_after_rollback(state_dir: &Path, newest: bool) {
    use crate::shell::state::State;
    if let Ok(mut state) = State::load(state_dir) {
        state.restart_pending = !newest || !state.restart_pending;
        let _ = state.save(state_dir);
    }
}

/// Where the wizard records the (secret-free) answers of every apply it starts, so a restart
/// pending or a failure can be finished later with the same answers.
const WIZARD_ANSWERS: &str = "wizard-answers.yml";

/// The flags that give the context of this run (`--sandbox`, the state directory, the
/// locations the operator named), each with a leading space: printed commands end with them,
/// after the subcommand (they are global), so they work when pasted and still read
/// `es-secure apply --answers FILE …`.
fn context_flags(global: &Global, sandbox: bool) -> String {
    let mut flags = String::new();
    if sandbox {
        flags.push_str(" --sandbox");
    }
    let paths = [
        ("--state-dir", &global.state_dir),
        ("--es-home", &global.es_home),
        ("--es-config", &global.es_config),
        ("--kibana-config", &global.kibana_config),
    ];
    for (flag, value) in paths {
        if let Some(p) = value {
            flags.push_str(&format!(" {flag} {}", crate::shell::quote(p)));
        }
    }
    if let Some(user) = &global.es_user {
        flags.push_str(&format!(
            " --es-user {}",
            crate::shell::quote(Path::new(user))
        ));
    }
    if global.ignore_ownership {
        flags.push_str(" --ignore-ownership");
    }
    flags
}

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
fn wizard(global: &Global) -> Result<(), Failure> {
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

    #[test]
    fn printed_commands_carry_the_context() {
        let global = Global {
            state_dir: Some(PathBuf::from("/tmp/my state")),
            ..Global::default()
        };
        assert_eq!(
            context_flags(&global, true),
            " --sandbox --state-dir '/tmp/my state'"
        );
        assert_eq!(context_flags(&Global::default(), false), "");
    }
}
