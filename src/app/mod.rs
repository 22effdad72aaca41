//! The one place that wires domain, shell and UI together for each command: detect, plan,
//! review, apply, report. Printing happens here (stdout for results, stderr for progress);
//! no secret is ever printed except generated passwords the operator asked to see once.

mod apply;
mod inspect;
mod renew;
mod rollback;
mod rolling;
mod rotate;
mod wizard;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::cli::{Cli, Command, Global};
use crate::domain::answers::{self, Answers, RawAnswers};
use crate::domain::facts::{Facts, Severity};
use crate::domain::plan::Plan;
use crate::domain::planner::{self, PlanError};
use crate::error::{Exit, Failure, fail};
use crate::shell::detect::{self, Locate};
use crate::shell::recovery::Session;
use crate::shell::run_log;
use crate::shell::state::DEFAULT_STATE_DIR;

use self::apply::{BundleArg, apply_cmd};
use self::inspect::{plan_cmd, status_cmd, verify_cmd};
use self::renew::renew_cmd;
use self::rollback::rollback_cmd;
use self::rolling::rolling_restart_cmd;
use self::rotate::rotate_cmd;
use self::wizard::wizard;

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
            cluster_file,
            ca_fingerprint,
            prune_bundles,
            yes,
            dry_run,
            ignore_ownership: _, // folded into `Global` by `Cli::resolve`
        }) => apply_cmd(
            &cli.global,
            answers.as_deref(),
            bundle.as_deref().map(|b| BundleArg {
                path: b,
                cluster_file: cluster_file.as_deref(),
                ca_fingerprint: ca_fingerprint.as_deref(),
            }),
            prune_bundles,
            yes,
            dry_run,
        ),
        Some(Command::Status {
            json,
            strict,
            check_expiry,
            answers,
        }) => status_cmd(&cli.global, answers.as_deref(), json, strict, check_expiry),
        Some(Command::Verify { answers }) => verify_cmd(&cli.global, &answers),
        Some(Command::Renew {
            within,
            all,
            answers,
            yes,
            dry_run,
        }) => renew_cmd(
            &cli.global,
            within,
            answers.as_deref().filter(|_| all),
            yes,
            dry_run,
        ),
        Some(Command::RotateCa {
            all,
            answers,
            bundle,
            ca_fingerprint,
            yes,
            dry_run,
        }) => rotate_cmd(
            &cli.global,
            answers.as_deref().filter(|_| all),
            bundle.as_deref().zip(ca_fingerprint.as_deref()),
            yes,
            dry_run,
        ),
        Some(Command::RollingRestart { step, answers }) => {
            rolling_restart_cmd(&cli.global, step, &answers)
        }
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

/// In the sandbox, refuse any apply or check that could reach a node other than the
/// sandbox's own (a real node on this machine, e.g. on 9200): nothing is contacted or changed.
fn sandbox_guard(facts: &Facts, answers: &Answers) -> Result<(), Failure> {
    crate::shell::sandbox::refuse_foreign_for(facts, &planner::es_url(facts, answers))
        .map_err(|e| Failure::new(Exit::Refused, e))
}

/// Recovery first: take the state lock and undo what an interrupted run left, saying what.
/// The operator's approval of a plan about to be carried out. With `--yes` the plan goes to
/// stderr and the run log (an unattended run keeps a record of what it approved); otherwise it
/// is shown and confirmed on the terminal, and a run without one is refused with the way to
/// review it (`review`). `verb` names the command in the messages.
fn approve_plan(
    plan: &Plan,
    text: &str,
    yes: bool,
    verb: &str,
    question: &str,
    review: &str,
) -> Result<(), Failure> {
    use std::io::IsTerminal as _;
    if yes {
        anstream::eprintln!("{}", text.trim_end());
        run_log::record(&crate::domain::render::plan_text(plan));
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return fail(
            Exit::Refused,
            format!(
                "{verb} needs confirmation, and there is no terminal to ask on\nhelp: review the plan with `{review}`, then run {verb} with --yes"
            ),
        );
    }
    anstream::println!("{}", text.trim_end());
    let proceed = inquire::Confirm::new(question)
        .with_default(false)
        .prompt()
        .unwrap_or(false);
    if proceed {
        Ok(())
    } else {
        fail(Exit::Refused, "cancelled; nothing was changed")
    }
}

/// The start the day-2 commands (renew, rotate-ca) share: like apply, the lock and crash
/// recovery come before detection so the facts are current (none for a dry run, which changes
/// nothing); then detection, the explanation, and removing a temporary superuser a crash left.
fn begin_detected(
    global: &Global,
    what: &str,
    dry_run: bool,
) -> Result<(Option<Session>, Facts), Failure> {
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    let session = if dry_run {
        None
    } else {
        Some(begin_session(&loc.state_dir, what)?)
    };
    let facts = detect_with(&loc, None)?;
    explain(global, &facts);
    if let Some(s) = &session {
        remove_leftover_users(s, &facts)?;
    }
    Ok((session, facts))
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
