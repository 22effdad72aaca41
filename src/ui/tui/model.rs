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
use crate::domain::facts::{Facts, Layout, Severity};
use crate::domain::plan::Plan;
use crate::domain::render;
use crate::domain::tier::Tier;
use crate::ui::{ApplyEvent, ApplySummary};

use super::form::{CaChoice, Form, KEY_TYPES, NodeForm, PwMode, offered_tiers};

/// The wizard's screens, in order.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Screen {
    Welcome,
    Tier,
    Nodes,
    Certs,
    Kibana,
    Passwords,
    Review,
    Apply,
    Done,
}

impl Screen {
    pub const ALL: [Self; 9] = [
        Self::Welcome,
        Self::Tier,
        Self::Nodes,
        Self::Certs,
        Self::Kibana,
        Self::Passwords,
        Self::Review,
        Self::Apply,
        Self::Done,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::Welcome => "Detected installation",
            Self::Tier => "Security tier",
            Self::Nodes => "Cluster nodes",
            Self::Certs => "Certificates",
            Self::Kibana => "Kibana",
            Self::Passwords => "Built-in user passwords",
            Self::Review => "Review the plan",
            Self::Apply => "Applying",
            Self::Done => "Done",
        }
    }

    /// Short name for the breadcrumb line.
    pub fn short(self) -> &'static str {
        match self {
            Self::Welcome => "Welcome",
            Self::Tier => "Tier",
            Self::Nodes => "Nodes",
            Self::Certs => "Certs",
            Self::Kibana => "Kibana",
            Self::Passwords => "Passwords",
            Self::Review => "Review",
            Self::Apply => "Apply",
            Self::Done => "Done",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The answer keys whose errors this screen shows (prefixes of [`AnswerError::key`]).
    pub fn owns(self, key: &str) -> bool {
        let prefixes: &[&str] = match self {
            Self::Tier => &["tier", "version", "elasticsearch"],
            Self::Nodes => &["nodes", "this_node"],
            Self::Certs => &["certificates"],
            Self::Kibana => &["kibana"],
            Self::Passwords => &["passwords", "auth"],
            _ => &[],
        };
        prefixes.iter().any(|p| key.starts_with(p))
    }
}

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
    Password(usize),
    PwShow,
    PwFile,
    Auth,
    AuthRef,
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

/// How a line of the detection summary is shown.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum InfoKind {
    Heading,
    Normal,
    Dim,
    Blocking,
    Overridable,
    Warning,
    Info,
}

/// One line of the Welcome screen, computed once from the facts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InfoLine {
    pub kind: InfoKind,
    pub text: String,
}

/// How a line of the review is shown.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ReviewKind {
    Heading,
    Step,
    Note,
    FileHeader,
    Hunk,
    Added,
    Removed,
    Context,
    Error,
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ReviewLine {
    pub kind: ReviewKind,
    pub text: String,
}

/// The plan under review, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Review {
    /// Not built yet (the planner is running).
    Pending,
    Ready {
        raw: Box<RawAnswers>,
        answers: Box<Answers>,
        plan: Plan,
    },
    /// The planner refused the answers.
    Refused(String),
}

/// The review screen's buttons, left to right.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Button {
    Proceed,
    Back,
    Save,
    Cancel,
}

impl Button {
    pub const ALL: [Self; 4] = [Self::Proceed, Self::Back, Self::Save, Self::Cancel];

    pub fn label(self) -> &'static str {
        match self {
            Self::Proceed => "Proceed",
            Self::Back => "Back",
            Self::Save => "Save answers",
            Self::Cancel => "Cancel",
        }
    }
}

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
}

/// Everything that can happen to the wizard.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Time since the apply started; also advances the spinner.
    Tick(Duration),
    Planned(Result<Plan, String>),
    Saved(Result<PathBuf, String>),
    Apply(ApplyEvent),
    ApplyFinished(Result<ApplySummary, String>),
}

/// What the run loop should do after an update.
#[derive(Debug, PartialEq)]
pub enum Command {
    None,
    /// Run the planner on these answers and answer with [`Msg::Planned`].
    BuildPlan(Box<Answers>),
    /// Write these (secret-free) answers and answer with [`Msg::Saved`].
    SaveAnswers(Box<RawAnswers>, PathBuf),
    /// Start the apply on a worker thread; events come back as [`Msg::Apply`].
    StartApply(Box<Answers>, Box<Plan>),
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
    pub focus: [usize; 9],
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
}

impl Model {
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
            focus: [0; 9],
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
                | Field::AuthRef,
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
                    Err(e) => self.apply.failed = Some(e),
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

    /// Typing into the focused text field. Returns whether the key was consumed.
    fn edit_text(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(field) = self.focused() else {
            return false;
        };
        let node = self.node_sel;
        let f = &mut self.form;
        let text: &mut String = match field {
            Field::NodeName => match f.nodes.get_mut(node) {
                Some(n) => &mut n.name,
                None => return false,
            },
            Field::NodeDns => match f.nodes.get_mut(node) {
                Some(n) => &mut n.dns,
                None => return false,
            },
            Field::NodeIp => match f.nodes.get_mut(node) {
                Some(n) => &mut n.ip,
                None => return false,
            },
            Field::CaCert => &mut f.ca_cert,
            Field::CaKey => &mut f.ca_key,
            Field::Validity => &mut f.validity,
            Field::KibanaDir => &mut f.kibana_dir,
            Field::KibanaUrl => &mut f.kibana_url,
            Field::PwFile => &mut f.pw_file,
            Field::AuthRef => &mut f.auth_ref,
            Field::Password(i) => match f.passwords.get_mut(i) {
                Some(p) => &mut p.reference,
                None => return false,
            },
            _ => return false,
        };
        match key.code {
            KeyCode::Backspace => {
                text.pop();
                true
            }
            KeyCode::Char('u') if ctrl => {
                text.clear();
                true
            }
            // A space in a password reference row switches the mode, like on the other rows;
            // env names and paths es-secure accepts have no spaces.
            KeyCode::Char(' ') if matches!(field, Field::Password(_)) => false,
            KeyCode::Char(c) if !ctrl => {
                text.push(c);
                true
            }
            _ => false,
        }
    }

    fn move_focus(&mut self, delta: isize) {
        let n = self.fields(self.screen).len();
        if n == 0 {
            return;
        }
        let i = self.screen.index();
        let cur = self.focus[i].min(n - 1);
        self.focus[i] = cur.saturating_add_signed(delta).min(n - 1);
        match self.focused() {
            Some(Field::NodeRow(r)) => self.node_sel = r,
            Some(Field::TierOption(t)) => self.form.tier = t,
            _ => {}
        }
    }

    fn form_key(&mut self, key: KeyEvent) -> Command {
        match key.code {
            KeyCode::Enter | KeyCode::Tab => return self.forward(),
            KeyCode::BackTab | KeyCode::Esc => {
                self.back();
                return Command::None;
            }
            KeyCode::Up => {
                if self.screen == Screen::Welcome {
                    return self.scroll_by(-1);
                }
                self.move_focus(-1);
            }
            KeyCode::Down => {
                if self.screen == Screen::Welcome {
                    return self.scroll_by(1);
                }
                self.move_focus(1);
            }
            KeyCode::Left => self.cycle(-1),
            KeyCode::Right | KeyCode::Char(' ') => self.cycle(1),
            KeyCode::Char('a') if self.screen == Screen::Nodes => self.add_node(),
            KeyCode::Char('d') | KeyCode::Delete if self.screen == Screen::Nodes => {
                self.remove_node();
            }
            KeyCode::Char('t') if self.screen == Screen::Nodes => {
                self.form.this_node = self.node_sel;
            }
            _ => {}
        }
        if !self.errors.is_empty() {
            self.errors = self.errors_for(self.screen);
        }
        Command::None
    }

    /// Left/Right/Space on a choice field.
    fn cycle(&mut self, delta: isize) {
        let Some(field) = self.focused() else {
            return;
        };
        let hostname = self.hostname.clone();
        let f = &mut self.form;
        let step = |len: usize, cur: usize| (cur + len).saturating_add_signed(delta) % len;
        match field {
            Field::NodeRow(r) => f.this_node = r,
            Field::CaSource => {
                let cur = CaChoice::ALL.iter().position(|c| *c == f.ca).unwrap_or(0);
                f.ca = CaChoice::ALL[step(CaChoice::ALL.len(), cur)];
            }
            Field::KeyType => {
                let cur = KEY_TYPES.iter().position(|k| *k == f.key_type).unwrap_or(0);
                f.key_type = KEY_TYPES[step(KEY_TYPES.len(), cur)];
            }
            Field::KibanaOn => f.kibana_on = !f.kibana_on,
            Field::KibanaHttps => {
                let on = !f.browser_https();
                f.set_browser_https(on, hostname.as_deref());
            }
            Field::Password(i) => {
                if let Some(p) = f.passwords.get_mut(i) {
                    p.mode = if delta < 0 {
                        p.mode.prev()
                    } else {
                        p.mode.next()
                    };
                }
            }
            Field::PwShow => f.pw_show = !f.pw_show,
            Field::Auth => {
                let all = [
                    AuthMethodKind::TemporarySuperuser,
                    AuthMethodKind::ElasticPassword,
                    AuthMethodKind::BootstrapPassword,
                ];
                let cur = all.iter().position(|a| *a == f.auth).unwrap_or(0);
                f.auth = all[step(all.len(), cur)];
            }
            _ => {}
        }
    }

    fn add_node(&mut self) {
        let n = self.form.nodes.len();
        self.form.nodes.push(NodeForm {
            name: format!("node-{}", n + 1),
            ..NodeForm::default()
        });
        self.node_sel = n;
        // Put the cursor on the new node's name, ready to type over.
        let fields = self.fields(Screen::Nodes);
        self.focus[Screen::Nodes.index()] = fields
            .iter()
            .position(|f| *f == Field::NodeName)
            .unwrap_or(0);
    }

    fn remove_node(&mut self) {
        let f = &mut self.form;
        if f.nodes.len() <= 1 || self.node_sel >= f.nodes.len() {
            self.status = Some((false, "the cluster needs at least one node".to_string()));
            return;
        }
        f.nodes.remove(self.node_sel);
        if f.this_node > self.node_sel || f.this_node >= f.nodes.len() {
            f.this_node = f.this_node.saturating_sub(1);
        }
        self.node_sel = self.node_sel.min(f.nodes.len() - 1);
        self.focus[Screen::Nodes.index()] = self.node_sel;
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

    /// Enter/Tab on a form screen: validate this screen's answers, then go on.
    pub fn forward(&mut self) -> Command {
        if self.screen != Screen::Welcome {
            let errs = self.errors_for(self.screen);
            if !errs.is_empty() {
                self.errors = errs;
                return Command::None;
            }
        }
        let flow = self.flow();
        let pos = flow.iter().position(|s| *s == self.screen).unwrap_or(0);
        let Some(next) = flow.get(pos + 1).copied() else {
            return Command::None;
        };
        if next != Screen::Review {
            self.go(next);
            return Command::None;
        }
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

    fn planned(&mut self, result: Result<Plan, String>) {
        if self.screen != Screen::Review {
            return;
        }
        match (result, self.form.validate()) {
            (Ok(plan), Ok((raw, answers))) => {
                let (lines, files) = review_lines(&plan);
                self.review_lines = lines;
                self.review_files = files;
                if plan.is_empty() {
                    self.button = Button::Back;
                }
                self.review = Review::Ready {
                    raw: Box::new(raw),
                    answers: Box::new(answers),
                    plan,
                };
            }
            (Err(e), _) => {
                self.review_lines = e
                    .lines()
                    .map(|l| ReviewLine {
                        kind: ReviewKind::Error,
                        text: l.to_string(),
                    })
                    .collect();
                self.review = Review::Refused(e);
                self.button = Button::Back;
            }
            (Ok(_), Err(errs)) => {
                let text = errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n");
                self.review = Review::Refused(text);
            }
        }
    }

    /// Whether Proceed can be chosen (a non-empty plan is ready).
    pub fn can_proceed(&self) -> bool {
        matches!(&self.review, Review::Ready { plan, .. } if !plan.is_empty())
    }

    fn review_key(&mut self, key: KeyEvent) -> Command {
        let pos = Button::ALL
            .iter()
            .position(|b| *b == self.button)
            .unwrap_or(0);
        match key.code {
            KeyCode::Up => return self.scroll_by(-1),
            KeyCode::Down => return self.scroll_by(1),
            KeyCode::PageUp => return self.scroll_by(-10),
            KeyCode::PageDown | KeyCode::Char(' ') => return self.scroll_by(10),
            KeyCode::Home => self.scroll = 0,
            KeyCode::End => self.scroll = self.review_lines.len().saturating_sub(1),
            KeyCode::Char(']') => {
                if let Some(next) = self.review_files.iter().find(|&&l| l > self.scroll) {
                    self.scroll = *next;
                }
            }
            KeyCode::Char('[') => {
                if let Some(prev) = self.review_files.iter().rev().find(|&&l| l < self.scroll) {
                    self.scroll = *prev;
                }
            }
            KeyCode::Left => {
                self.button = Button::ALL[(pos + Button::ALL.len() - 1) % Button::ALL.len()];
            }
            KeyCode::Right | KeyCode::Tab => {
                self.button = Button::ALL[(pos + 1) % Button::ALL.len()];
            }
            KeyCode::Esc | KeyCode::BackTab | KeyCode::Char('b') => {
                return self.press(Button::Back);
            }
            KeyCode::Char('p') => return self.press(Button::Proceed),
            KeyCode::Char('s') => return self.press(Button::Save),
            KeyCode::Char('c') => return self.press(Button::Cancel),
            KeyCode::Enter => return self.press(self.button),
            _ => {}
        }
        Command::None
    }

    /// Activate a review button.
    pub fn press(&mut self, button: Button) -> Command {
        match button {
            Button::Proceed => {
                if !self.can_proceed() {
                    self.status = Some((false, "there is no plan to apply".to_string()));
                    return Command::None;
                }
                self.overlay = Overlay::ConfirmApply;
                Command::None
            }
            Button::Back => {
                self.back();
                Command::None
            }
            Button::Save => {
                self.overlay = Overlay::SavePrompt(self.default_answers_path.display().to_string());
                Command::None
            }
            Button::Cancel => {
                self.overlay = Overlay::ConfirmQuit;
                Command::None
            }
        }
    }

    /// The operator confirmed Proceed: start the apply of the reviewed plan.
    fn start_apply(&mut self) -> Command {
        let Review::Ready { answers, plan, .. } = &self.review else {
            return Command::None;
        };
        if plan.is_empty() {
            return Command::None;
        }
        let (answers, plan) = (answers.clone(), Box::new(plan.clone()));
        self.apply = ApplyState {
            lines: plan
                .steps
                .iter()
                .map(|s| ApplyLine {
                    line: render::step_line(s),
                    state: StepState::Pending,
                    progress: None,
                })
                .collect(),
            ..ApplyState::default()
        };
        self.go(Screen::Apply);
        Command::StartApply(answers, plan)
    }

    fn apply_key(&mut self, key: KeyEvent) -> Command {
        if self.apply.failed.is_some() && matches!(key.code, KeyCode::Enter | KeyCode::Esc) {
            return Command::Exit(Exit::Applied);
        }
        Command::None
    }

    fn apply_event(&mut self, event: ApplyEvent) {
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
    fn saved_answers_applied(&self) -> Option<PathBuf> {
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

/// The problems with a form's answers that `screen` asks about (shared with plain mode).
pub fn screen_errors(form: &Form, screen: Screen) -> Vec<AnswerError> {
    match form.validate() {
        Ok(_) => Vec::new(),
        Err(errs) => errs.into_iter().filter(|e| screen.owns(&e.key)).collect(),
    }
}

/// One line saying what detection found about this node, so the operator can check the
/// prefilled Nodes screen against it.
fn detected_node(facts: &Facts) -> String {
    let s = &facts.es.parsed.settings;
    let mut parts = Vec::new();
    for key in ["node.name", "network.host"] {
        if let Some(v) = s.value(key) {
            parts.push(format!("{key} {}", v.as_plain()));
        }
    }
    if let Some(h) = &facts.host.hostname {
        parts.push(format!("hostname {h}"));
    }
    if parts.is_empty() {
        "Detected: nothing about this node (no node.name, network.host or hostname)".to_string()
    } else {
        format!("Detected: {}", parts.join(" · "))
    }
}

/// The Welcome screen's lines.
pub fn welcome_lines(facts: &Facts) -> Vec<InfoLine> {
    let mut v = Vec::new();
    let mut push = |kind, text: String| v.push(InfoLine { kind, text });
    let es = &facts.es;
    let layout = match es.layout {
        Layout::Package => "deb/rpm package",
        Layout::Archive => "tar.gz archive",
        Layout::Explicit => "paths given on the command line",
        Layout::Sandbox => "sandbox copy of a sample install; nothing real is changed",
    };
    push(InfoKind::Heading, "Elasticsearch".to_string());
    push(
        InfoKind::Normal,
        format!(
            "  version {}  ({layout})",
            es.version
                .map_or_else(|| "unknown".to_string(), |v| v.to_string())
        ),
    );
    push(
        InfoKind::Normal,
        format!("  settings  {}", es.yml_path.display()),
    );
    if let Some(home) = &es.home {
        push(InfoKind::Normal, format!("  home      {}", home.display()));
    }
    let user = match &facts.host.service_user {
        Some(u) if facts.host.service_user_exists => u.clone(),
        Some(u) => format!("{u} (no such account on this host)"),
        None => "unknown".to_string(),
    };
    push(InfoKind::Normal, format!("  runs as   {user}"));
    push(InfoKind::Heading, format!("Current tier: {}", es.tier.tier));
    for e in &es.tier.evidence {
        push(InfoKind::Dim, format!("  {e}"));
    }
    push(InfoKind::Heading, "Kibana".to_string());
    match &facts.kibana {
        Some(k) => push(
            InfoKind::Normal,
            format!(
                "  settings  {} (version not detected)",
                k.yml_path.display()
            ),
        ),
        None => push(InfoKind::Normal, "  not found on this host".to_string()),
    }
    if let Some(ca) = &facts.ca {
        push(
            InfoKind::Normal,
            format!("CA from an earlier run: {}", ca.fingerprint),
        );
    }
    if !facts.host.findings.is_empty() {
        push(InfoKind::Heading, "Findings".to_string());
    }
    let mut findings: Vec<_> = facts.host.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings {
        let (kind, label) = match f.severity {
            Severity::Blocking => (InfoKind::Blocking, "BLOCKING".to_string()),
            Severity::Overridable => (
                InfoKind::Overridable,
                match &f.override_flag {
                    Some(flag) => format!("blocking, overridable with {flag}"),
                    None => "blocking (overridable)".to_string(),
                },
            ),
            Severity::Warning => (InfoKind::Warning, "warning".to_string()),
            Severity::Info => (InfoKind::Info, "info".to_string()),
        };
        push(kind, format!("  [{label}] {}", f.text));
        if let Some(fix) = &f.fix {
            push(InfoKind::Dim, format!("      fix: {fix}"));
        }
    }
    v
}

/// The review text: plan header, numbered steps, notes, then each file's diff. Returns the
/// lines and where each diff starts. Built once per plan so `view` stays cheap.
pub fn review_lines(plan: &Plan) -> (Vec<ReviewLine>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut files = Vec::new();
    let push = |lines: &mut Vec<ReviewLine>, kind, text: String| {
        lines.push(ReviewLine { kind, text });
    };
    if plan.is_empty() {
        push(
            &mut lines,
            ReviewKind::Heading,
            format!(
                "Nothing to do: this node is already at tier {} as the answers ask.",
                plan.to
            ),
        );
    } else {
        push(
            &mut lines,
            ReviewKind::Heading,
            format!(
                "Tier {} -> {}: {} steps",
                plan.from,
                plan.to,
                plan.steps.len()
            ),
        );
    }
    for (i, step) in plan.steps.iter().enumerate() {
        push(
            &mut lines,
            ReviewKind::Step,
            format!("{:>3}. {}", i + 1, render::step_line(step)),
        );
    }
    for note in &plan.notes {
        push(&mut lines, ReviewKind::Note, format!("note: {}", note.text));
    }
    for (path, before, after) in plan.edits() {
        push(&mut lines, ReviewKind::Context, String::new());
        files.push(lines.len());
        let diff = render::unified_diff(&path.display().to_string(), before, after);
        for l in diff.lines() {
            let kind = if l.starts_with("---") || l.starts_with("+++") {
                ReviewKind::FileHeader
            } else if l.starts_with("@@") {
                ReviewKind::Hunk
            } else if l.starts_with('+') {
                ReviewKind::Added
            } else if l.starts_with('-') {
                ReviewKind::Removed
            } else {
                ReviewKind::Context
            };
            push(&mut lines, kind, l.to_string());
        }
    }
    (lines, files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::ui::tui::demo::{self, key, send, send_all, typed};
    use crossterm::event::KeyEventState;

    fn enter() -> Msg {
        key(KeyCode::Enter)
    }

    fn at(screen: Screen) -> Model {
        let mut m = demo::model();
        for _ in 0..10 {
            if m.screen == screen {
                return m;
            }
            send(&mut m, enter());
        }
        panic!("never reached {screen:?}");
    }

    #[test]
    fn enter_walks_the_screens_in_order_and_esc_walks_back() {
        let mut m = demo::model();
        let mut seen = vec![m.screen];
        for _ in 0..6 {
            send(&mut m, enter());
            seen.push(m.screen);
        }
        assert_eq!(
            seen,
            [
                Screen::Welcome,
                Screen::Tier,
                Screen::Nodes,
                Screen::Certs,
                Screen::Kibana,
                Screen::Passwords,
                Screen::Review
            ]
        );
        assert!(matches!(m.review, Review::Ready { .. }), "{:?}", m.review);
        for expected in [Screen::Passwords, Screen::Kibana, Screen::Certs] {
            send(&mut m, key(KeyCode::Esc));
            assert_eq!(m.screen, expected);
        }
        send(&mut m, key(KeyCode::BackTab));
        assert_eq!(m.screen, Screen::Nodes);
        send(&mut m, key(KeyCode::Tab));
        assert_eq!(m.screen, Screen::Certs);
    }

    #[test]
    fn minimal_skips_certificates() {
        let mut m = at(Screen::Tier);
        send_all(&mut m, vec![key(KeyCode::Up), key(KeyCode::Up)]);
        assert_eq!(m.form.tier, Tier::Minimal);
        send_all(&mut m, vec![enter(), enter()]);
        assert_eq!(m.screen, Screen::Kibana);
        send(&mut m, key(KeyCode::Esc));
        assert_eq!(m.screen, Screen::Nodes);
    }

    #[test]
    fn lower_tiers_are_not_offered() {
        let mut facts = demo::facts();
        facts.es.tier.tier = Tier::Basic;
        let m = Model::new(&facts, &demo::answers(), "/x".into());
        assert_eq!(m.tiers(), vec![Tier::Basic, Tier::Https]);
    }

    #[test]
    fn invalid_ip_blocks_forward_with_the_key_and_clears_when_fixed() {
        let mut m = at(Screen::Nodes);
        send_all(&mut m, (0..3).map(|_| key(KeyCode::Down)).collect());
        assert_eq!(m.focused(), Some(Field::NodeName));
        send_all(&mut m, vec![key(KeyCode::Down), key(KeyCode::Down)]);
        assert_eq!(m.focused(), Some(Field::NodeIp));
        send_all(&mut m, typed(",300.1.1.1"));
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Nodes);
        assert_eq!(m.errors.len(), 1);
        assert_eq!(m.errors[0].key, "nodes[2].ip");
        for _ in 0..",300.1.1.1".len() {
            send(&mut m, key(KeyCode::Backspace));
        }
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Certs);
    }

    #[test]
    fn domain_validation_is_shown_inline_with_its_key() {
        let mut m = at(Screen::Nodes);
        // Duplicate node name: only `Answers::from_raw` knows that rule.
        send(&mut m, key(KeyCode::Down));
        send(&mut m, key(KeyCode::Down));
        send(&mut m, key(KeyCode::Down));
        send(&mut m, key(KeyCode::Char('u')).ctrl());
        send_all(&mut m, typed("node-1"));
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Nodes);
        assert!(
            m.errors
                .iter()
                .any(|e| e.key == "nodes[2].name" && e.message.contains("listed twice")),
            "{:?}",
            m.errors
        );
    }

    #[test]
    fn back_and_forward_keep_entered_values() {
        let mut m = at(Screen::Certs);
        send_all(&mut m, vec![key(KeyCode::Down), key(KeyCode::Right)]);
        assert_eq!(m.form.key_type, crate::domain::certspec::KeyType::Rsa2048);
        send(&mut m, key(KeyCode::Down));
        send_all(&mut m, (0..4).map(|_| key(KeyCode::Backspace)).collect());
        send_all(&mut m, typed("400"));
        send(&mut m, key(KeyCode::Esc));
        send(&mut m, key(KeyCode::Esc));
        assert_eq!(m.screen, Screen::Tier);
        send_all(&mut m, vec![enter(), enter()]);
        assert_eq!(m.screen, Screen::Certs);
        assert_eq!(m.form.validity, "400");
        assert_eq!(m.form.key_type, crate::domain::certspec::KeyType::Rsa2048);
        // Focus is where it was.
        assert_eq!(m.focused(), Some(Field::Validity));
        send_all(&mut m, vec![enter(), enter(), enter()]);
        let Review::Ready { answers, .. } = &m.review else {
            panic!("{:?}", m.review)
        };
        assert_eq!(answers.certs.validity_days, 400);
    }

    #[test]
    fn q_and_question_mark_are_text_in_text_fields() {
        let mut m = at(Screen::Kibana);
        send(&mut m, key(KeyCode::Down));
        assert!(m.typing());
        send_all(&mut m, typed("q?"));
        assert_eq!(m.overlay, Overlay::None);
        assert!(m.form.kibana_dir.ends_with("q?"));
        // Ctrl-C still asks to quit.
        send(&mut m, key(KeyCode::Char('c')).ctrl());
        assert_eq!(m.overlay, Overlay::ConfirmQuit);
    }

    #[test]
    fn quit_asks_first() {
        let mut m = demo::model();
        assert_eq!(send(&mut m, key(KeyCode::Char('q'))), Command::None);
        assert_eq!(m.overlay, Overlay::ConfirmQuit);
        assert_eq!(send(&mut m, key(KeyCode::Char('n'))), Command::None);
        assert_eq!(m.overlay, Overlay::None);
        send(&mut m, key(KeyCode::Char('q')));
        assert_eq!(
            send(&mut m, key(KeyCode::Char('y'))),
            Command::Exit(Exit::Cancelled)
        );
    }

    #[test]
    fn only_key_presses_count() {
        let mut m = demo::model();
        let mut release = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        release.state = KeyEventState::NONE;
        send(&mut m, Msg::Key(release));
        assert_eq!(m.screen, Screen::Welcome);
    }

    #[test]
    fn nodes_add_remove_and_this_host() {
        let mut m = at(Screen::Nodes);
        send(&mut m, key(KeyCode::Char('a')));
        assert_eq!(m.form.nodes.len(), 4);
        assert_eq!(m.focused(), Some(Field::NodeName));
        send_all(&mut m, vec![key(KeyCode::Char('u')).ctrl()]);
        send_all(&mut m, typed("node-4"));
        send(&mut m, key(KeyCode::Down));
        send_all(&mut m, typed("node-4.example.internal"));
        send(&mut m, key(KeyCode::Up));
        send(&mut m, key(KeyCode::Up));
        // Up from the editor lands on the last row (node-4).
        assert_eq!(m.focused(), Some(Field::NodeRow(3)));
        send(&mut m, key(KeyCode::Char('t')));
        assert_eq!(m.form.this_node, 3);
        send(&mut m, key(KeyCode::Up));
        send(&mut m, key(KeyCode::Char('d')));
        assert_eq!(m.form.nodes.len(), 3);
        assert_eq!(m.form.nodes[2].name, "node-4");
        assert_eq!(m.form.this_node, 2);
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Certs, "{:?}", m.errors);
    }

    #[test]
    fn review_buttons_save_and_proceed() {
        let mut m = at(Screen::Review);
        assert!(m.can_proceed());
        send(&mut m, key(KeyCode::Char('s')));
        assert!(matches!(m.overlay, Overlay::SavePrompt(_)));
        let cmd = send(&mut m, enter());
        let Command::SaveAnswers(raw, path) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(path, PathBuf::from("/var/lib/es-secure/answers.yml"));
        assert_eq!(raw.tier, Tier::Https);
        send(&mut m, Msg::Saved(Ok(path)));
        assert!(m.status.as_ref().is_some_and(|(ok, _)| *ok));
        // Nothing is applied before Proceed; Proceed starts the apply.
        send(&mut m, key(KeyCode::Right));
        assert_eq!(m.button, Button::Back);
        send(&mut m, key(KeyCode::Left));
        // Proceed asks first; anything but y stays on the review.
        assert_eq!(send(&mut m, enter()), Command::None);
        assert_eq!(m.overlay, Overlay::ConfirmApply);
        assert_eq!(send(&mut m, enter()), Command::None);
        assert_eq!(m.screen, Screen::Review);
        send(&mut m, enter());
        let cmd = send(&mut m, key(KeyCode::Char('y')));
        assert!(matches!(cmd, Command::StartApply(..)), "{cmd:?}");
        assert_eq!(m.screen, Screen::Apply);
        assert_eq!(
            m.apply.lines.len(),
            m.review_lines
                .iter()
                .filter(|l| l.kind == ReviewKind::Step)
                .count()
        );
    }

    #[test]
    fn review_file_jumps() {
        let mut m = at(Screen::Review);
        assert_eq!(m.review_files.len(), 2);
        send(&mut m, key(KeyCode::Char(']')));
        assert_eq!(m.scroll, m.review_files[0]);
        send(&mut m, key(KeyCode::Char(']')));
        assert_eq!(m.scroll, m.review_files[1]);
        send(&mut m, key(KeyCode::Char('[')));
        assert_eq!(m.scroll, m.review_files[0]);
    }

    #[test]
    fn planner_refusal_disables_proceed() {
        let mut m = at(Screen::Passwords);
        send(&mut m, enter());
        m.update(Msg::Planned(Err("refused: downgrade".to_string())));
        assert!(!m.can_proceed());
        assert_eq!(send(&mut m, key(KeyCode::Char('p'))), Command::None);
        assert_eq!(m.screen, Screen::Review);
    }

    #[test]
    fn apply_progress_failure_and_done() {
        let mut m = at(Screen::Review);
        send(&mut m, key(KeyCode::Char('p')));
        send(&mut m, key(KeyCode::Char('y')));
        send(&mut m, Msg::Tick(Duration::from_secs(1)));
        send(
            &mut m,
            Msg::Apply(ApplyEvent::StepStarted {
                index: 0,
                line: "x".to_string(),
            }),
        );
        assert_eq!(
            m.apply.lines[0].state,
            StepState::Running(Duration::from_secs(1))
        );
        // Quitting while the apply runs is refused with a reason.
        send(&mut m, key(KeyCode::Char('q')));
        assert_eq!(m.overlay, Overlay::None);
        assert!(m.status.is_some());
        send(
            &mut m,
            Msg::Apply(ApplyEvent::StepDone {
                index: 0,
                elapsed: Duration::from_millis(300),
            }),
        );
        assert_eq!(
            m.apply.lines[0].state,
            StepState::Done(Duration::from_millis(300))
        );
        send(&mut m, Msg::ApplyFinished(Ok(demo::summary())));
        assert_eq!(m.screen, Screen::Done);
        assert_eq!(send(&mut m, enter()), Command::Exit(Exit::Applied));
        let s = m.take_summary().unwrap();
        assert!(
            s.shown_passwords.is_empty(),
            "passwords are shown once only"
        );
        assert!(s.password_file.is_some());

        let mut m = at(Screen::Review);
        send(&mut m, key(KeyCode::Char('p')));
        send(&mut m, key(KeyCode::Char('y')));
        send(
            &mut m,
            Msg::Apply(ApplyEvent::StepFailed {
                index: 0,
                error: "boom".to_string(),
            }),
        );
        send(&mut m, Msg::ApplyFinished(Err("rolled back".to_string())));
        assert_eq!(m.screen, Screen::Apply);
        assert_eq!(send(&mut m, enter()), Command::Exit(Exit::Applied));
    }

    #[test]
    fn password_modes_cycle_and_references_validate() {
        let mut m = at(Screen::Passwords);
        send(&mut m, key(KeyCode::Char(' ')));
        assert_eq!(m.form.passwords[0].mode, PwMode::Keep);
        send(&mut m, key(KeyCode::Char(' ')));
        assert_eq!(m.form.passwords[0].mode, PwMode::Reference);
        assert!(m.typing());
        send_all(&mut m, typed("hunter2"));
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Passwords);
        assert_eq!(m.errors[0].key, "passwords.kibana_system");
        assert!(!m.errors[0].message.contains("hunter2"));
        send(&mut m, key(KeyCode::Char('u')).ctrl());
        send_all(&mut m, typed("env:KIBANA_PW"));
        assert!(m.errors.is_empty());
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Review);
        let Review::Ready { raw, .. } = &m.review else {
            panic!()
        };
        let yaml = crate::ui::answers_yaml(raw).unwrap();
        assert!(yaml.contains("kibana_system: env:KIBANA_PW"), "{yaml}");
    }

    #[test]
    fn scrolling_is_clamped_and_resize_changes_the_limit() {
        let mut m = at(Screen::Review);
        send_all(&mut m, (0..500).map(|_| key(KeyCode::Down)).collect());
        let max_at_24 = m.scroll;
        assert!(max_at_24 < m.review_lines.len(), "{max_at_24}");
        send(&mut m, key(KeyCode::Up));
        assert_eq!(m.scroll, max_at_24 - 1);
        m.update(Msg::Resize(80, 50));
        send_all(&mut m, (0..500).map(|_| key(KeyCode::Down)).collect());
        assert!(
            m.scroll < max_at_24,
            "a taller terminal needs less scrolling"
        );
    }

    /// A model on the Apply screen of a confirmed plan.
    fn applying() -> Model {
        let mut m = at(Screen::Review);
        send(&mut m, key(KeyCode::Char('p')));
        send(&mut m, key(KeyCode::Char('y')));
        assert_eq!(m.screen, Screen::Apply);
        m
    }

    #[test]
    fn done_lists_a_next_step_sent_as_notice_and_in_the_summary_once() {
        // Found by tests/tui_walkthrough.rs: "restart Elasticsearch now" was listed twice.
        let mut m = applying();
        let text = "The files are written. Restart Elasticsearch now.".to_string();
        send(
            &mut m,
            Msg::Apply(ApplyEvent::Notice { text: text.clone() }),
        );
        send(
            &mut m,
            Msg::Apply(ApplyEvent::Notice {
                text: "an earlier apply was interrupted".to_string(),
            }),
        );
        let mut summary = demo::summary();
        summary.next_steps = vec![text];
        send(&mut m, Msg::ApplyFinished(Ok(summary)));
        let screen = demo::render_text(&m, 80, 24).unwrap();
        assert_eq!(
            screen.matches("Restart Elasticsearch now").count(),
            1,
            "{screen}"
        );
        // The sample plan leaves the restart to the operator: not "applied" yet.
        assert!(m.restart_pending());
        assert!(
            screen.contains("The files are written. Restart Elasticsearch to finish"),
            "{screen}"
        );
        assert!(!screen.contains("The plan was applied"), "{screen}");
        assert!(
            screen.contains("an earlier apply was interrupted"),
            "{screen}"
        );
    }

    #[test]
    fn a_long_apply_error_is_wrapped_not_cut() {
        // Found by tests/tui_walkthrough.rs: the `help:` end of an error was cut at the edge.
        let mut m = applying();
        send(
            &mut m,
            Msg::ApplyFinished(Err("`passwords.elastic` is `env:SOME_LONG_VARIABLE_NAME`, but the environment has no such variable\nhelp: export SOME_LONG_VARIABLE_NAME before running es-secure (nothing was changed)".to_string())),
        );
        let screen = demo::render_text(&m, 80, 24).unwrap();
        let flat = screen
            .lines()
            .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains("has no such variable"), "{screen}");
        assert!(flat.contains("(nothing was changed)"), "{screen}");
    }

    #[test]
    fn done_names_the_saved_answers_only_when_they_were_applied() {
        // Found by tests/tui_walkthrough.rs: the Done screen never said where the answers
        // were saved (nothing filled `ApplySummary::answers_saved`).
        let no_file = || ApplySummary {
            answers_saved: None,
            ..demo::summary()
        };
        let path = PathBuf::from("/tmp/answers.yml");
        let mut m = at(Screen::Review);
        send(&mut m, key(KeyCode::Char('s')));
        send(&mut m, enter());
        send(&mut m, Msg::Saved(Ok(path.clone())));
        send(&mut m, key(KeyCode::Char('p')));
        send(&mut m, key(KeyCode::Char('y')));
        send(&mut m, Msg::ApplyFinished(Ok(no_file())));
        assert_eq!(m.summary.unwrap().answers_saved, Some(path.clone()));

        // Saved, then changed: the file does not hold what was applied.
        let mut m = at(Screen::Review);
        send(&mut m, Msg::Saved(Ok(path)));
        send(&mut m, key(KeyCode::Esc));
        assert_eq!(m.screen, Screen::Passwords);
        send(&mut m, key(KeyCode::Char(' ')));
        send(&mut m, enter());
        assert_eq!(m.screen, Screen::Review);
        assert!(matches!(m.review, Review::Ready { .. }), "{:?}", m.review);
        send(&mut m, key(KeyCode::Char('p')));
        send(&mut m, key(KeyCode::Char('y')));
        send(&mut m, Msg::ApplyFinished(Ok(no_file())));
        assert_eq!(m.summary.unwrap().answers_saved, None);
    }

    trait Ctrl {
        fn ctrl(self) -> Self;
    }

    impl Ctrl for Msg {
        fn ctrl(self) -> Self {
            match self {
                Msg::Key(mut k) => {
                    k.modifiers = KeyModifiers::CONTROL;
                    Msg::Key(k)
                }
                other => other,
            }
        }
    }
}
