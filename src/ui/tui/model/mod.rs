//! The wizard's state and its transitions: a [`Model`], the [`Msg`]s that change it and the
//! [`Command`]s it asks the run loop to carry out (build the plan, save answers, start the
//! apply, exit).
//!
//! Pure: no terminal, no clock, no files, no threads. Time arrives as [`Msg::Tick`] and results
//! of side effects arrive as messages, so every flow can be driven from a unit test. It must
//! not call the planner or the apply function itself; it returns a [`Command`] instead.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::domain::answers::{AnswerError, Answers, AuthMethodKind, RawAnswers};
use crate::domain::facts::Facts;
use crate::domain::plan::Plan;
use crate::domain::render;
use crate::domain::tier::Tier;
use crate::ui::{ApplyEvent, ApplySummary};

use crate::ui::form::{CaChoice, Form, KEY_TYPES, NodeForm, PwMode, offered_tiers};
pub use crate::ui::screens::{
    InfoKind, InfoLine, Screen, detected_node, screen_errors, welcome_lines,
};

/// One focusable thing on a form screen.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Field {
    TierOption(Tier),
    NodeRow(usize),
    NodeName,
    NodeDns,
    NodeIp,
    CaSource,
    CaCert,
    CaKey,
    KeyType,
    Validity,
    KibanaOn,
    KibanaDir,
    KibanaUrl,
    KibanaHttps,
    KibanaToken,
    Password(usize),
    PwShow,
    PwFile,
    Auth,
    AuthRef,
    HardAudit,
    HardIp,
    HardTransportAllow,
    HardHttpAllow,
    HardHttpDeny,
    HardTls,
    HardSession,
    HardIdle,
    HardLifespan,
}

/// A popup over the current screen.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Overlay {
    None,
    Help,
    ConfirmQuit,
    /// "Apply these steps now?" after Proceed: an Enter too many while paging through the
    /// wizard must not change the system.
    ConfirmApply,
    /// Editing the path "Save answers" writes to.
    SavePrompt(String),
}

/// Everything that can happen to the wizard.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Time since the apply started; also advances the spinner.
    Tick(Duration),
    Planned(Result<Plan, String>),
    /// The host-side checks of [`Command::CheckInputs`]: the problems found (none = go on).
    Checked(Vec<AnswerError>),
    Saved(Result<PathBuf, String>),
    Apply(ApplyEvent),
    ApplyFinished(Result<ApplySummary, ApplyFailure>),
}

/// What the run loop should do after an update.
#[derive(Debug, PartialEq)]
pub enum Command {
    None,
    /// Run the planner on these answers and answer with [`Msg::Planned`].
    BuildPlan(Box<Answers>),
    /// Run the checks that need the host (own CA files, `env:`/`file:` secrets) on these
    /// answers and answer with [`Msg::Checked`], before leaving the current screen.
    CheckInputs(Box<Answers>),
    /// Write these (secret-free) answers and answer with [`Msg::Saved`].
    SaveAnswers(Box<RawAnswers>, PathBuf),
    /// Start the apply on a worker thread; events come back as [`Msg::Apply`].
    StartApply(Box<RawAnswers>, Box<Answers>, Box<Plan>),
    Exit(Exit),
}

/// Why the wizard ends.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Exit {
    Cancelled,
    Applied,
}

/// The whole wizard state.
#[derive(Debug)]
pub struct Model {
    pub screen: Screen,
    pub form: Form,
    /// The tier detection found.
    pub current_tier: Tier,
    pub hostname: Option<String>,
    /// Kibana's config directory when detection found one.
    pub kibana_detected: Option<String>,
    pub welcome: Vec<InfoLine>,
    /// What detection found about this node (shown on the Nodes screen).
    pub detected_node: String,
    /// The fingerprint of the CA an earlier run created, if any.
    pub existing_ca: Option<String>,
    /// Focus per screen (index into [`Model::fields`]), kept when leaving a screen.
    pub focus: [usize; Screen::ALL.len()],
    /// The node the Nodes screen's editor shows.
    pub node_sel: usize,
    /// Errors shown on the current screen.
    pub errors: Vec<AnswerError>,
    /// Scroll offset of the Welcome, Review and Done screens.
    pub scroll: usize,
    pub overlay: Overlay,
    /// A one-line message (ok, text), e.g. "answers saved to …".
    pub status: Option<(bool, String)>,
    pub review: Review,
    pub review_lines: Vec<ReviewLine>,
    /// Indices into `review_lines` where each file's diff starts.
    pub review_files: Vec<usize>,
    pub button: Button,
    pub apply: ApplyState,
    pub summary: Option<ApplySummary>,
    pub default_answers_path: PathBuf,
    /// Where "Save answers" last wrote, and what: the Done screen names the file when it
    /// holds the answers that were applied.
    pub saved: Option<(PathBuf, Box<RawAnswers>)>,
    /// False with NO_COLOR: only bold/reverse are used then.
    pub color: bool,
    /// Terminal size, for scroll clamping.
    pub size: (u16, u16),
    /// The recorded answers of an unfinished apply, loaded into the form: `f` on Welcome
    /// goes straight to Review to finish it.
    pub pending: Option<PathBuf>,
    /// This run's context flags (` --sandbox …`), appended to printed commands.
    pub context_flags: String,
}

impl Model {
    /// Say on Welcome that `initial` came from the recorded answers of an unfinished apply
    /// at `path`, and offer to finish it.
    pub fn set_pending(&mut self, path: PathBuf) {
        self.welcome.insert(
            0,
            InfoLine {
                kind: InfoKind::Warning,
                text: format!(
                    "An earlier apply has not finished (restart pending, or it failed). Its answers ({}) are loaded: press f to finish the apply (straight to Review, which shows what is left), or Enter to go through the screens.",
                    path.display()
                ),
            },
        );
        self.pending = Some(path);
    }

    pub fn new(facts: &Facts, initial: &RawAnswers, default_answers_path: PathBuf) -> Self {
        let form = Form::new(initial, facts);
        let mut model = Self {
            screen: Screen::Welcome,
            form,
            current_tier: facts.es.tier.tier,
            hostname: facts.host.hostname.clone(),
            kibana_detected: facts
                .kibana
                .as_ref()
                .map(|k| k.config_dir.display().to_string()),
            welcome: welcome_lines(facts),
            detected_node: detected_node(facts),
            existing_ca: facts.ca.as_ref().map(|c| c.fingerprint.clone()),
            focus: [0; Screen::ALL.len()],
            node_sel: 0,
            errors: Vec::new(),
            scroll: 0,
            overlay: Overlay::None,
            status: None,
            review: Review::Pending,
            review_lines: Vec::new(),
            review_files: Vec::new(),
            button: Button::Proceed,
            apply: ApplyState::default(),
            summary: None,
            default_answers_path,
            saved: None,
            color: true,
            size: (80, 24),
            pending: None,
            context_flags: String::new(),
        };
        model.node_sel = model.form.this_node;
        model
    }

    /// The tiers offered on the Tier screen.
    pub fn tiers(&self) -> Vec<Tier> {
        offered_tiers(self.current_tier)
    }

    /// The focusable fields of a screen, top to bottom.
    pub fn fields(&self, screen: Screen) -> Vec<Field> {
        let f = &self.form;
        match screen {
            Screen::Tier => self.tiers().into_iter().map(Field::TierOption).collect(),
            Screen::Nodes => {
                let mut v: Vec<Field> = (0..f.nodes.len()).map(Field::NodeRow).collect();
                if !f.nodes.is_empty() {
                    v.extend([Field::NodeName, Field::NodeDns, Field::NodeIp]);
                }
                v
            }
            Screen::Certs => {
                let mut v = vec![Field::CaSource];
                if f.ca == CaChoice::Files {
                    v.extend([Field::CaCert, Field::CaKey]);
                }
                v.extend([Field::KeyType, Field::Validity]);
                v
            }
            Screen::Kibana => {
                let mut v = vec![Field::KibanaOn];
                if f.kibana_on {
                    v.extend([Field::KibanaDir, Field::KibanaUrl]);
                    if f.tier == Tier::Https {
                        v.push(Field::KibanaHttps);
                    }
                    v.push(Field::KibanaToken);
                }
                v
            }
            Screen::Passwords => {
                let mut v: Vec<Field> = (0..f.passwords.len()).map(Field::Password).collect();
                v.extend([Field::PwShow, Field::PwFile, Field::Auth]);
                if f.auth == AuthMethodKind::ElasticPassword {
                    v.push(Field::AuthRef);
                }
                v
            }
            Screen::Hardening => {
                let h = &f.hardening;
                let mut v = vec![Field::HardAudit, Field::HardIp];
                if h.ip_filter {
                    v.extend([
                        Field::HardTransportAllow,
                        Field::HardHttpAllow,
                        Field::HardHttpDeny,
                    ]);
                }
                v.push(Field::HardTls);
                if f.kibana_on {
                    v.push(Field::HardSession);
                    if h.session {
                        v.extend([Field::HardIdle, Field::HardLifespan]);
                    }
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// The focused field of the current screen.
    pub fn focused(&self) -> Option<Field> {
        let fields = self.fields(self.screen);
        let i = self.focus[self.screen.index()].min(fields.len().saturating_sub(1));
        fields.get(i).copied()
    }

    /// Whether the focused field takes typed text (then `q` and `?` are text, not commands).
    pub fn typing(&self) -> bool {
        match self.focused() {
            Some(
                Field::NodeName
                | Field::NodeDns
                | Field::NodeIp
                | Field::CaCert
                | Field::CaKey
                | Field::Validity
                | Field::KibanaDir
                | Field::KibanaUrl
                | Field::PwFile
                | Field::AuthRef
                | Field::HardTransportAllow
                | Field::HardHttpAllow
                | Field::HardHttpDeny
                | Field::HardIdle
                | Field::HardLifespan,
            ) => true,
            Some(Field::Password(i)) => self
                .form
                .passwords
                .get(i)
                .is_some_and(|p| p.mode == PwMode::Reference),
            _ => false,
        }
    }

    /// The screens of the answer flow in order, skipping Certificates for the minimal tier.
    fn flow(&self) -> Vec<Screen> {
        let mut v = vec![
            Screen::Welcome,
            Screen::Tier,
            Screen::Nodes,
            Screen::Certs,
            Screen::Kibana,
            Screen::Passwords,
            Screen::Hardening,
            Screen::Review,
        ];
        if !self.form.needs_certs() {
            v.retain(|s| *s != Screen::Certs);
        }
        v
    }

    /// Errors of the current answers that belong to `screen`.
    pub fn errors_for(&self, screen: Screen) -> Vec<AnswerError> {
        screen_errors(&self.form, screen)
    }

    /// Handle one message; returns what the run loop should do.
    pub fn update(&mut self, msg: Msg) -> Command {
        match msg {
            Msg::Key(key) => self.key(key),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                Command::None
            }
            Msg::Tick(now) => {
                self.apply.now = now;
                self.apply.ticks = self.apply.ticks.wrapping_add(1);
                Command::None
            }
            Msg::Planned(result) => {
                self.planned(result);
                Command::None
            }
            Msg::Checked(errs) => {
                let mine: Vec<AnswerError> = errs
                    .into_iter()
                    .filter(|e| self.screen.owns(&e.key))
                    .collect();
                if mine.is_empty() {
                    self.advance()
                } else {
                    self.errors = mine;
                    Command::None
                }
            }
            Msg::Saved(result) => {
                self.status = Some(match result {
                    Ok(path) => {
                        // The run loop saves at once, so these are the answers it wrote.
                        let raw = match &self.review {
                            Review::Ready { raw, .. } => raw.clone(),
                            _ => Box::new(self.form.to_raw().0),
                        };
                        let text =
                            format!("answers saved to {} (no secrets in it)", path.display());
                        self.saved = Some((path, raw));
                        (true, text)
                    }
                    Err(e) => (false, format!("could not save answers: {e}")),
                });
                Command::None
            }
            Msg::Apply(event) => {
                self.apply_event(event);
                Command::None
            }
            Msg::ApplyFinished(result) => {
                match result {
                    Ok(mut summary) => {
                        if summary.answers_saved.is_none() {
                            summary.answers_saved = self.saved_answers_applied();
                        }
                        self.summary = Some(summary);
                        self.go(Screen::Done);
                    }
                    Err(e) => {
                        self.apply.failed = Some(e.message);
                        self.apply.unchanged = e.unchanged;
                    }
                }
                Command::None
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Command {
        // Releases and repeats (kitty protocol, Windows) would double every keystroke.
        if key.kind != KeyEventKind::Press {
            return Command::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Command::None;
            }
            Overlay::ConfirmQuit => {
                return match key.code {
                    KeyCode::Char('y' | 'Y') => Command::Exit(Exit::Cancelled),
                    _ => {
                        self.overlay = Overlay::None;
                        Command::None
                    }
                };
            }
            Overlay::ConfirmApply => {
                self.overlay = Overlay::None;
                return match key.code {
                    KeyCode::Char('y' | 'Y') => self.start_apply(),
                    _ => Command::None,
                };
            }
            Overlay::SavePrompt(path) => {
                match key.code {
                    KeyCode::Enter => {
                        let path = PathBuf::from(path.trim());
                        self.overlay = Overlay::None;
                        return match &self.review {
                            Review::Ready { raw, .. } => Command::SaveAnswers(raw.clone(), path),
                            // Without a plan the answers may still be worth keeping (e.g. the
                            // planner refused them and the operator wants to edit the file).
                            _ => Command::SaveAnswers(Box::new(self.form.to_raw().0), path),
                        };
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Backspace => {
                        path.pop();
                    }
                    KeyCode::Char('u') if ctrl => path.clear(),
                    KeyCode::Char(c) if !ctrl => path.push(c),
                    _ => {}
                }
                return Command::None;
            }
        }
        if ctrl && key.code == KeyCode::Char('c') {
            return self.ask_quit();
        }
        if key.code == KeyCode::F(1) {
            self.overlay = Overlay::Help;
            return Command::None;
        }
        if self.typing() && self.edit_text(key) {
            if !self.errors.is_empty() {
                // Re-check as the operator fixes things, so a fixed error disappears at once.
                self.errors = self.errors_for(self.screen);
            }
            return Command::None;
        }
        match key.code {
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help;
                return Command::None;
            }
            KeyCode::Char('q') => return self.ask_quit(),
            _ => {}
        }
        match self.screen {
            Screen::Review => self.review_key(key),
            Screen::Apply => self.apply_key(key),
            Screen::Done => match key.code {
                KeyCode::Enter => Command::Exit(Exit::Applied),
                KeyCode::Up => self.scroll_by(-1),
                KeyCode::Down => self.scroll_by(1),
                KeyCode::PageUp => self.scroll_by(-10),
                KeyCode::PageDown => self.scroll_by(10),
                _ => Command::None,
            },
            _ => self.form_key(key),
        }
    }

    fn ask_quit(&mut self) -> Command {
        match self.screen {
            Screen::Apply if self.apply.failed.is_none() => {
                self.status = Some((
                    false,
                    "the apply is running; it rolls back by itself if a step fails".to_string(),
                ));
                Command::None
            }
            Screen::Apply | Screen::Done => Command::Exit(Exit::Applied),
            _ => {
                self.overlay = Overlay::ConfirmQuit;
                Command::None
            }
        }
    }

    fn scroll_by(&mut self, delta: isize) -> Command {
        // Clamp roughly to the content so scrolling back up responds at once; the view
        // clamps exactly (it knows how lines wrap).
        let body = usize::from(self.size.1.saturating_sub(5)).max(1);
        let len = match self.screen {
            Screen::Welcome => self.welcome.len() + 2,
            Screen::Review => self.review_lines.len(),
            Screen::Done => self.summary.as_ref().map_or(0, |s| {
                s.shown_passwords.len()
                    + 2 * (s.next_steps.len() + self.apply.notices.len())
                    + s.verify_table.len()
                    + 16
            }),
            _ => 0,
        };
        self.scroll = self
            .scroll
            .saturating_add_signed(delta)
            .min(len.saturating_sub(body.saturating_sub(1)));
        Command::None
    }

    /// Move to a screen, resetting what is per-visit.
    fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.scroll = 0;
        self.errors.clear();
        self.status = None;
        if screen == Screen::Tier {
            let i = self
                .tiers()
                .iter()
                .position(|t| *t == self.form.tier)
                .unwrap_or(0);
            self.focus[screen.index()] = i;
        }
        if screen == Screen::Nodes {
            self.focus[screen.index()] =
                self.focus[screen.index()].min(self.fields(screen).len().saturating_sub(1));
        }
    }

    /// Enter/Tab on a form screen: validate this screen's answers, then go on. The screens
    /// whose answers name files or variables on the host first ask the run loop to check them
    /// (the same checks `apply` makes up front), and go on when [`Msg::Checked`] finds none.
    pub fn forward(&mut self) -> Command {
        if self.screen != Screen::Welcome {
            let errs = self.errors_for(self.screen);
            if !errs.is_empty() {
                self.errors = errs;
                return Command::None;
            }
            if matches!(self.screen, Screen::Certs | Screen::Passwords)
                && let Ok((_, answers)) = self.form.validate()
            {
                return Command::CheckInputs(Box::new(answers));
            }
        }
        self.advance()
    }

    /// Go to the next screen of the flow (the current one is valid); entering Review asks for
    /// the plan.
    fn advance(&mut self) -> Command {
        let flow = self.flow();
        let pos = flow.iter().position(|s| *s == self.screen).unwrap_or(0);
        let Some(next) = flow.get(pos + 1).copied() else {
            return Command::None;
        };
        if next != Screen::Review {
            self.go(next);
            return Command::None;
        }
        self.enter_review(&flow)
    }

    /// Show the Review screen and ask for the plan of the form's answers, or, when they are
    /// not valid, go to the first screen of `flow` that shows the problem.
    fn enter_review(&mut self, flow: &[Screen]) -> Command {
        match self.form.validate() {
            Ok((_, answers)) => {
                self.go(Screen::Review);
                self.review = Review::Pending;
                self.review_lines.clear();
                self.review_files.clear();
                self.button = Button::Proceed;
                Command::BuildPlan(Box::new(answers))
            }
            Err(errs) => {
                // An error that no earlier screen owns would otherwise be invisible: show it
                // on the first screen that owns it, or here.
                let target = flow
                    .iter()
                    .copied()
                    .find(|s| errs.iter().any(|e| s.owns(&e.key)))
                    .unwrap_or(self.screen);
                self.go(target);
                self.errors = errs.into_iter().filter(|e| target.owns(&e.key)).collect();
                Command::None
            }
        }
    }

    /// Shift-Tab/Esc: the previous screen, keeping every value entered.
    pub fn back(&mut self) {
        let flow = self.flow();
        let pos = flow.iter().position(|s| *s == self.screen).unwrap_or(0);
        if pos > 0 {
            self.go(flow[pos - 1]);
        }
    }
}

mod apply;
mod form;
mod review;
#[cfg(test)]
mod tests;

pub use apply::{ApplyFailure, ApplyLine, ApplyState, StepState};
pub use review::{Button, Review, ReviewKind, ReviewLine, review_lines};
