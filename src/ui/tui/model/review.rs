//! The Review screen's part of the wizard state: the plan under review, its lines (from the
//! one plan renderer), the buttons, and what Proceed/Save/Back do.
//!
//! Pure like the rest of the model; it must not build plans or write files itself (it returns
//! a [`Command`]).

use super::*;

/// How a line of the review is shown.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ReviewKind {
    Heading,
    /// A row of the short summary above the steps.
    Summary,
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

impl Model {
    pub(super) fn planned(&mut self, result: Result<Plan, String>) {
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

    pub(super) fn review_key(&mut self, key: KeyEvent) -> Command {
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
            // The last page, not the last line alone (scroll_by clamps to the content).
            KeyCode::End => return self.scroll_by(isize::MAX),
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
    pub(super) fn start_apply(&mut self) -> Command {
        let Review::Ready { raw, answers, plan } = &self.review else {
            return Command::None;
        };
        if plan.is_empty() {
            return Command::None;
        }
        let (raw, answers, plan) = (raw.clone(), answers.clone(), Box::new(plan.clone()));
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
        Command::StartApply(raw, answers, plan)
    }
}

/// The review text: the plan exactly as `es-secure plan` prints it (one renderer,
/// [`render::plan_lines`]), styled by kind. Returns the lines and where each diff starts.
/// Built once per plan so `view` stays cheap.
pub fn review_lines(plan: &Plan) -> (Vec<ReviewLine>, Vec<usize>) {
    let (lines, files) = render::plan_lines(plan);
    // The short summary first (what the operator must know before reading 25 steps), then
    // the plan as `es-secure plan` prints it.
    let mut out = Vec::new();
    if !plan.is_empty() {
        for (label, value) in crate::domain::summary::rows(plan) {
            out.push(ReviewLine {
                kind: ReviewKind::Summary,
                text: format!("{label:<22}{value}"),
            });
        }
        out.push(ReviewLine {
            kind: ReviewKind::Context,
            text: String::new(),
        });
    }
    let offset = out.len();
    let files = files.into_iter().map(|f| f + offset).collect();
    let lines = out
        .into_iter()
        .chain(lines.into_iter().map(|l| ReviewLine {
            kind: match l.kind {
                render::LineKind::Heading => ReviewKind::Heading,
                render::LineKind::Step => ReviewKind::Step,
                render::LineKind::Note => ReviewKind::Note,
                render::LineKind::Context => ReviewKind::Context,
                render::LineKind::FileHeader => ReviewKind::FileHeader,
                render::LineKind::Hunk => ReviewKind::Hunk,
                render::LineKind::Added => ReviewKind::Added,
                render::LineKind::Removed => ReviewKind::Removed,
            },
            text: l.text,
        }))
        .collect();
    (lines, files)
}
