//! Frontends: they collect answers and show plans and progress. They never write system
//! files; applying a plan is the shell's job, reached only through the [`ApplyFn`] the app
//! hands in.
//!
//! Both frontends (the ratatui TUI and the plain inquire prompts) take a [`WizardInput`] and
//! return a [`WizardOutcome`]; the answers they collect are the same [`RawAnswers`] an answers
//! file holds, turned into typed [`Answers`] by the same [`Answers::from_raw`].

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use anyhow::Context;

use crate::domain::answers::{AnswerError, Answers, RawAnswers};
use crate::domain::facts::Facts;
use crate::domain::plan::Plan;
use crate::shell::apply::ApplyError;
// The executor's output types live in the domain so that neither ui nor shell imports the
// other; re-exported here because every frontend speaks them.
pub use crate::domain::outcome::{ApplyEvent, ApplySummary, RedactedSecret, Timing};

pub mod form;
pub mod plain;
pub mod screens;
pub mod style;
pub mod tui;

/// Builds the plan for typed answers (the pure planner, bound to this host's facts).
pub type PlanFn<'a> = &'a dyn Fn(&Answers) -> Result<Plan, String>;

/// The checks of answers that need the host (own CA files, `env:`/`file:` secrets), run on a
/// screen before moving on; each problem names its answer key.
pub type CheckFn<'a> = &'a dyn Fn(&Answers) -> Vec<AnswerError>;

/// Runs a plan (with the secret-free answers it came from, which the app records), reporting
/// progress on the channel; returns what the Done screen shows, or the typed apply error (its
/// kind decides the exit code). Callable again when an apply that changed nothing is retried
/// from Review.
pub type ApplyFn = Box<
    dyn Fn(RawAnswers, Answers, Plan, Sender<ApplyEvent>) -> Result<ApplySummary, ApplyError>
        + Send
        + Sync,
>;

/// Writes a private file (the app passes the shell's one file-system layer, so the UI itself
/// never touches the file system and never follows a planted symlink as root).
pub type SaveFileFn = fn(&Path, &[u8]) -> anyhow::Result<()>;

/// What a frontend starts from.
pub struct WizardInput<'a> {
    pub facts: &'a Facts,
    /// Prefilled answers: from detection, or from `--answers FILE` when given.
    pub initial: RawAnswers,
    pub planner: PlanFn<'a>,
    pub check: CheckFn<'a>,
    /// Where "Save answers" writes by default.
    pub default_answers_path: PathBuf,
    /// How "Save answers" writes the file.
    pub save_file: SaveFileFn,
    /// The recorded answers of an apply that has not finished (restart pending, or failed),
    /// when `initial` holds them: the wizard offers to finish that apply.
    pub pending: Option<PathBuf>,
    /// This run's context flags (` --sandbox --state-dir …`), appended to the commands the
    /// wizard prints.
    pub context_flags: String,
    /// The process's interrupt request (SIGINT, SIGTERM, SIGHUP). One that arrives while the
    /// wizard asks ends it as [`WizardOutcome::Cancelled`]: it must not linger and stop the
    /// apply the operator approves later.
    pub interrupts: crate::shell::signals::Interrupts,
}

/// How a wizard run ended.
// Built once per run; boxing the answers would only add noise at every construction site.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum WizardOutcome {
    /// The operator cancelled; nothing was written.
    Cancelled,
    /// The plan was applied (the TUI runs the apply itself through the [`ApplyFn`]) or, for
    /// the plain frontend, the operator chose Proceed and the app applies it.
    Proceed {
        raw: RawAnswers,
        answers: Box<Answers>,
        plan: Plan,
    },
    /// The TUI applied the plan; this is its summary, or the error: an [`ApplyError`] (its
    /// kind decides the exit code) or, when the apply thread died, an internal error.
    Applied(Result<ApplySummary, anyhow::Error>),
}

/// Serialize answers as an answers file (they hold no secrets by construction: passwords are
/// references).
pub fn answers_yaml(raw: &RawAnswers) -> anyhow::Result<String> {
    let body = serde_saphyr::to_string(raw).context("serializing answers")?;
    Ok(format!(
        "# es-secure answers file (version 1). Replay with: es-secure apply --answers FILE\n# It holds no secrets: passwords are generate / env:NAME / file:PATH references.\n{body}"
    ))
}

/// Write an answers file (mode 0600: it names paths and hosts an attacker would like)
/// through `save` (see [`SaveFileFn`]).
pub fn save_answers(raw: &RawAnswers, path: &Path, save: SaveFileFn) -> anyhow::Result<()> {
    let text = answers_yaml(raw)?;
    let path = std::path::absolute(path)
        .with_context(|| format!("writing answers file {}", path.display()))?;
    save(&path, text.as_bytes()).with_context(|| format!("writing answers file {}", path.display()))
}
