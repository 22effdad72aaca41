//! The Apply and Done screens' part of the wizard state: step progress from the executor's
//! events, the rollback report, whether a manual restart is pending, and the summary.
//!
//! Pure like the rest of the model; it must not run the apply itself (the run loop does).

use super::*;

/// Where one plan step is during the apply.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum StepState {
    Pending,
    /// Started at this time since the apply began.
    Running(Duration),
    Done(Duration),
    Failed(String),
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApplyLine {
    pub line: String,
    pub state: StepState,
    /// The latest live progress text of a long step.
    pub progress: Option<String>,
}

/// Progress of the apply as the Apply screen shows it.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ApplyState {
    pub lines: Vec<ApplyLine>,
    pub notices: Vec<String>,
    pub rolled_back: Option<String>,
    /// Time since the apply started (from [`Msg::Tick`]).
    pub now: Duration,
    /// Spinner frame counter.
    pub ticks: u64,
    /// Set when the apply failed: the error after rollback.
    pub failed: Option<String>,
    /// The failed apply left nothing changed (refused before the first write, or rolled
    /// back): Enter goes back to Review to fix the answers and try again.
    pub unchanged: bool,
}

/// Why an apply failed, as the model needs it: the message, and whether the host is as it
/// was (so Review can be offered again).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApplyFailure {
    pub message: String,
    pub unchanged: bool,
}

impl Model {
    pub(super) fn apply_key(&mut self, key: KeyEvent) -> Command {
        if let Some(e) = &self.apply.failed
            && matches!(key.code, KeyCode::Enter | KeyCode::Esc)
        {
            if !self.apply.unchanged {
                return Command::Exit(Exit::Applied);
            }
            // Nothing on the host changed: back to Review with the message, so the operator
            // can fix the answers (or the host) and try again instead of starting over.
            let first = e.lines().next().unwrap_or_default().to_string();
            self.apply = ApplyState::default();
            self.go(Screen::Review);
            // After `go`, which clears the previous screen's message.
            self.status = Some((
                false,
                format!("the apply failed, nothing was changed: {first}"),
            ));
        }
        Command::None
    }

    pub(super) fn apply_event(&mut self, event: ApplyEvent) {
        let now = self.apply.now;
        let a = &mut self.apply;
        let line = line_at;
        match event {
            ApplyEvent::StepStarted { index, line: text } => {
                if let Some(l) = line(a, index) {
                    if !text.is_empty() {
                        l.line = text;
                    }
                    l.state = StepState::Running(now);
                }
            }
            ApplyEvent::StepProgress { index, text } => {
                if let Some(l) = line(a, index) {
                    l.progress = Some(text);
                }
            }
            ApplyEvent::StepDone { index, elapsed } => {
                if let Some(l) = line(a, index) {
                    l.state = StepState::Done(elapsed);
                    l.progress = None;
                }
            }
            ApplyEvent::StepFailed { index, error } => {
                if let Some(l) = line(a, index) {
                    l.state = StepState::Failed(error);
                }
            }
            ApplyEvent::RolledBack { report } => a.rolled_back = Some(report),
            ApplyEvent::Notice { text } => a.notices.push(text),
        }
    }

    /// Whether the apply stopped at a `restart: manual` step for the operator to restart
    /// Elasticsearch: that step never reports done, and the steps after it (passwords,
    /// verification) have not run.
    pub fn restart_pending(&self) -> bool {
        let Review::Ready { plan, .. } = &self.review else {
            return false;
        };
        plan.steps
            .iter()
            .zip(&self.apply.lines)
            .any(|(step, line)| {
                matches!(
                    step,
                    crate::domain::plan::Step::Restart {
                        how: crate::domain::answers::Restart::Manual,
                        ..
                    }
                ) && !matches!(line.state, StepState::Done(_))
            })
    }

    /// The answers file saved during this run, if it holds exactly the answers that were
    /// applied (not when the operator saved, went back and changed something).
    pub(super) fn saved_answers_applied(&self) -> Option<PathBuf> {
        match (&self.saved, &self.review) {
            (Some((path, saved)), Review::Ready { raw, .. }) if saved == raw => Some(path.clone()),
            _ => None,
        }
    }

    /// The summary to hand back, with the shown passwords dropped (zeroized): they were shown
    /// once on the Done screen and must not be printed again after the TUI closes.
    pub fn take_summary(&mut self) -> Option<ApplySummary> {
        let mut s = self.summary.take()?;
        s.shown_passwords.clear();
        Some(s)
    }
}

/// The apply line for a step index, growing the list if the executor reports more steps than
/// the plan had (it never should; a missing line would hide progress).
fn line_at(a: &mut ApplyState, index: usize) -> Option<&mut ApplyLine> {
    while a.lines.len() <= index {
        a.lines.push(ApplyLine {
            line: String::new(),
            state: StepState::Pending,
            progress: None,
        });
    }
    a.lines.get_mut(index)
}
