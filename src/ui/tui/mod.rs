//! The ratatui wizard: screens that collect answers, show the plan, run the apply through the
//! [`ApplyFn`] and show the result.
//!
//! Elm-style: [`model::Model`] holds the state, [`model::Model::update`] turns a message into
//! new state plus a [`model::Command`], and [`view::view`] draws it. This file is the only
//! imperative part: it owns the terminal (always restored, also on error and panic), reads
//! keys, runs the planner and the apply thread, and turns their results into messages. It
//! never writes system files: "Save answers" goes through [`crate::ui::save_answers`] and the
//! apply through the function the app hands in.

pub mod demo;
pub mod model;
pub mod view;

use std::io::{self, Stdout};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::shell::apply::ApplyError;
use crate::ui::{ApplyEvent, ApplyFn, ApplySummary, WizardInput, WizardOutcome};

pub use model::{ApplyFailure, Command, Exit, Model, Msg, Screen};
pub use view::view;

/// How often the loop wakes up without input (spinner and elapsed times).
const TICK: Duration = Duration::from_millis(100);

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Run the wizard on the terminal. Returns when the operator cancels or after the apply.
pub fn run(input: WizardInput<'_>, apply: ApplyFn) -> anyhow::Result<WizardOutcome> {
    let mut model = Model::new(input.facts, &input.initial, input.default_answers_path);
    model.context_flags = input.context_flags.clone();
    if let Some(p) = input.pending.clone() {
        model.set_pending(p);
    }
    model.color = color_wanted();
    let guard = TerminalGuard::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("starting the terminal UI")?;
    // The apply's typed error stays here; the model only shows its text.
    let mut apply_error = None;
    let mut worker: Option<Worker> = None;
    let result = event_loop(
        &mut terminal,
        &mut model,
        Callbacks {
            planner: input.planner,
            check: input.check,
            save_file: input.save_file,
            interrupts: input.interrupts.clone(),
        },
        apply,
        (&mut worker, &mut apply_error),
    );
    // The terminal failed (drawing, reading, a closed terminal) while the apply runs: let the
    // apply finish or roll back before the terminal is restored and the process may exit —
    // never leave it half-done. A hang-up has already asked it to stop.
    if let (Err(_), Some(w)) = (&result, worker.take()) {
        let _ = w.handle.join();
    }
    drop(guard);
    let exit = result?;
    Ok(match exit {
        Exit::Cancelled => WizardOutcome::Cancelled,
        Exit::Applied => match (model.take_summary(), apply_error, model.apply.failed.take()) {
            (Some(summary), _, _) => WizardOutcome::Applied(Ok(summary)),
            (None, Some(e), _) => WizardOutcome::Applied(Err(e)),
            (None, None, Some(e)) => WizardOutcome::Applied(Err(anyhow::anyhow!(e))),
            (None, None, None) => {
                WizardOutcome::Applied(Err(anyhow::anyhow!("the apply did not finish")))
            }
        },
    })
}

/// NO_COLOR (any non-empty value, see no-color.org) turns colours off.
fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The apply worker: its events and, when it ends, its result.
struct Worker {
    events: Receiver<ApplyEvent>,
    handle: JoinHandle<Result<ApplySummary, ApplyError>>,
    started: Instant,
}

/// What the loop calls back into for planning, checking and saving.
struct Callbacks<'a> {
    planner: crate::ui::PlanFn<'a>,
    check: crate::ui::CheckFn<'a>,
    save_file: crate::ui::SaveFileFn,
    /// SIGTERM/SIGHUP while no apply runs ends the wizard (raw mode makes Ctrl-C a key).
    interrupts: crate::shell::signals::Interrupts,
}

fn event_loop(
    terminal: &mut Term,
    model: &mut Model,
    callbacks: Callbacks<'_>,
    apply: ApplyFn,
    (worker, apply_error): (&mut Option<Worker>, &mut Option<anyhow::Error>),
) -> anyhow::Result<Exit> {
    let Callbacks {
        planner,
        check,
        save_file,
        interrupts,
    } = callbacks;
    let apply = Arc::new(apply);
    let mut abort_offered = false;
    if let Ok(size) = terminal.size() {
        model.size = (size.width, size.height);
    }
    // Whether an apply ran: a signal after it ends the wizard with its result.
    let mut applied = false;
    loop {
        // A signal while the operator answers (or reads the result) ends the wizard; one that
        // lingered would stop the next apply at its first step.
        if worker.is_none() && interrupts.requested() {
            return Ok(if applied {
                Exit::Applied
            } else {
                Exit::Cancelled
            });
        }
        terminal
            .draw(|frame| view(model, frame))
            .context("drawing the terminal UI")?;
        let mut msgs = Vec::new();
        if event::poll(TICK).context("reading the terminal")? {
            match event::read().context("reading the terminal")? {
                // Ctrl-C while the apply runs offers "Abort (roll back)"; a second Ctrl-C
                // asks the apply to stop exactly as SIGINT would (it rolls back by itself).
                Event::Key(key) if worker.is_some() && is_ctrl_c(&key) => {
                    if abort_offered {
                        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGINT);
                        model.status =
                            Some((false, "Abort: rolling back, please wait".to_string()));
                    } else {
                        abort_offered = true;
                        model.status = Some((
                            false,
                            "Ctrl-C again: Abort (roll back) — every file is restored; any other key continues"
                                .to_string(),
                        ));
                    }
                }
                Event::Key(key) => {
                    abort_offered = false;
                    msgs.push(Msg::Key(key));
                }
                Event::Resize(w, h) => msgs.push(Msg::Resize(w, h)),
                _ => {}
            }
        }
        if let Some(w) = worker.as_ref() {
            msgs.push(Msg::Tick(w.started.elapsed()));
            msgs.extend(w.events.try_iter().map(Msg::Apply));
            if w.handle.is_finished()
                && let Some(w) = worker.take()
            {
                {
                    // The abort (or signal) that stopped this apply is spent: the operator
                    // reads the result and may retry from Review.
                    interrupts.reset();
                    // Drain what was sent between the last read and the end of the thread.
                    msgs.extend(w.events.try_iter().map(Msg::Apply));
                    let result = match w.handle.join() {
                        Ok(r) => r.map_err(|e| {
                            // Refused or rolled back: the host is as it was.
                            let unchanged = !matches!(e, ApplyError::Partial(_));
                            (anyhow::Error::from(e), unchanged)
                        }),
                        Err(_) => Err((
                            anyhow::anyhow!(
                                "the apply stopped unexpectedly (internal error); check `es-secure status` and `es-secure rollback --list`"
                            ),
                            false,
                        )),
                    };
                    let shown = match result {
                        Ok(summary) => Ok(summary),
                        Err((e, unchanged)) => {
                            let message = format!("{e:#}");
                            // The last failure decides the exit code; one the operator
                            // retried from Review is replaced by the next outcome.
                            *apply_error = Some(e);
                            Err(ApplyFailure { message, unchanged })
                        }
                    };
                    msgs.push(Msg::ApplyFinished(shown));
                }
            }
        }
        for msg in msgs {
            let mut command = model.update(msg);
            // A command's result is a message, which may carry a command of its own.
            loop {
                command = match command {
                    Command::None => break,
                    Command::Exit(exit) => return Ok(exit),
                    Command::BuildPlan(answers) => {
                        // Draw "Building the plan…" first: detection may take a moment.
                        terminal
                            .draw(|frame| view(model, frame))
                            .context("drawing the terminal UI")?;
                        model.update(Msg::Planned(planner(&answers)))
                    }
                    Command::CheckInputs(answers) => model.update(Msg::Checked(check(&answers))),
                    Command::SaveAnswers(raw, path) => {
                        let result = crate::ui::save_answers(&raw, &path, save_file)
                            .map(|()| path)
                            .map_err(|e| format!("{e:#}"));
                        model.update(Msg::Saved(result))
                    }
                    Command::StartApply(raw, answers, plan) => {
                        // One apply at a time: Review is not reachable while one runs.
                        if worker.is_none() {
                            applied = true;
                            *apply_error = None;
                            let f = Arc::clone(&apply);
                            let (tx, rx) = mpsc::channel();
                            let handle = std::thread::Builder::new()
                                .name("es-secure-apply".to_string())
                                .spawn(move || f(*raw, *answers, *plan, tx))
                                .context("starting the apply")?;
                            *worker = Some(Worker {
                                events: rx,
                                handle,
                                started: Instant::now(),
                            });
                        }
                        Command::None
                    }
                };
            }
        }
    }
}

fn is_ctrl_c(key: &crossterm::event::KeyEvent) -> bool {
    key.code == crossterm::event::KeyCode::Char('c')
        && key
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL)
}

/// Raw mode + alternate screen for as long as it lives, plus a panic hook that gives the
/// terminal back before the panic message is printed. Dropping it (normal return, `?`
/// error) restores the terminal and the previous panic hook.
struct TerminalGuard {
    previous_hook: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
            Arc::from(std::panic::take_hook());
        let hook = Arc::clone(&previous);
        let ui_thread = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            // A panic on the apply thread is reported as a failed apply by the UI, which is
            // still running; restoring the terminal under it would garble the screen.
            if std::thread::current().id() == ui_thread {
                restore();
            }
            hook(info);
        }));
        let guard = Self {
            previous_hook: previous,
        };
        enable_raw_mode().context("switching the terminal to raw mode")?;
        execute!(io::stdout(), EnterAlternateScreen)
            .context("switching to the alternate screen")?;
        Ok(guard)
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        if !std::thread::panicking() {
            let previous = Arc::clone(&self.previous_hook);
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}
