//! Drawing: `view(&Model, &mut Frame)` renders one frame of the wizard from the model.
//!
//! It must not change state or do I/O, and it must stay cheap (everything expensive, such as
//! diffs, is computed once in the model). With NO_COLOR (`Model::color == false`) it uses no
//! colours at all, only bold, reverse and dim.
//!
//! This file holds the frame (title, breadcrumb, key hints, popups) and the helpers every
//! screen uses; each screen group draws in its own file.

mod apply;
mod questions;
mod review;

use self::apply::{apply, done};
use self::questions::{certs, hardening, kibana, nodes, passwords, tier, welcome};
use self::review::review;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::model::{Model, Overlay, Review, Screen};

/// Below this the layout cannot hold a screen; a notice is shown instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Styles, with or without colour.
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn accent(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn ok(self) -> Style {
        self.fg(Color::Green)
    }
    fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    fn focus(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}

/// Render the whole wizard.
pub fn view(model: &Model, frame: &mut Frame) {
    let area = frame.area();
    let t = Theme { color: model.color };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "The terminal is {}x{}; es-secure needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\nEnlarge it, or press q to quit (then use --plain).",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(breadcrumb(model, header.width, t)), header);
    let block = Block::new().borders(Borders::ALL).title(Span::styled(
        format!(" es-secure · {} ", model.screen.title()),
        t.accent(),
    ));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    match model.screen {
        Screen::Welcome => welcome(model, frame, inner, t),
        Screen::Tier => tier(model, frame, inner, t),
        Screen::Nodes => nodes(model, frame, inner, t),
        Screen::Certs => certs(model, frame, inner, t),
        Screen::Kibana => kibana(model, frame, inner, t),
        Screen::Passwords => passwords(model, frame, inner, t),
        Screen::Hardening => hardening(model, frame, inner, t),
        Screen::Review => review(model, frame, inner, t),
        Screen::Apply => apply(model, frame, inner, t),
        Screen::Done => done(model, frame, inner, t),
    }
    if let Some((ok, text)) = &model.status {
        let style = if *ok { t.ok() } else { t.bad() };
        frame.render_widget(Paragraph::new(Span::styled(text.as_str(), style)), status);
    }
    frame.render_widget(
        Paragraph::new(Span::styled(keys_hint(model), t.dim())),
        footer,
    );
    match &model.overlay {
        Overlay::None => {}
        Overlay::Help => popup(frame, area, " Help ", &help_text(model), t),
        Overlay::ConfirmQuit => popup(
            frame,
            area,
            " Quit? ",
            "Quit es-secure now?\n\nNothing has been written to the system.\n\ny  quit      any other key  stay",
            t,
        ),
        Overlay::ConfirmApply => {
            let steps = match &model.review {
                Review::Ready { plan, .. } => plan.steps.len(),
                _ => 0,
            };
            popup(
                frame,
                area,
                " Apply? ",
                &format!(
                    "Apply the {steps} steps of this plan now?\n\nFiles are backed up first; if a step fails, every change is rolled back.\n\ny  apply      any other key  back to the review"
                ),
                t,
            );
        }
        Overlay::SavePrompt(path) => popup(
            frame,
            area,
            " Save answers ",
            &format!(
                "Write the answers (no secrets: passwords are references) to:\n\n{path}_\n\nEnter  save      Esc  cancel      Ctrl-U  clear"
            ),
            t,
        ),
    }
}

fn breadcrumb(model: &Model, width: u16, t: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let shown: Vec<Screen> = Screen::ALL
        .into_iter()
        .filter(|s| *s != Screen::Certs || model.form.needs_certs())
        .collect();
    // Spaced out when it fits, tight on a narrow terminal (every name stays readable).
    let names: usize = shown.iter().map(|s| s.short().chars().count()).sum();
    let sep = if 1 + names + 3 * shown.len().saturating_sub(1) <= usize::from(width) {
        " › "
    } else {
        "›"
    };
    for (i, s) in shown.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(sep, t.dim()));
        }
        if *s == model.screen {
            spans.push(Span::styled(s.short(), t.focus()));
        } else {
            spans.push(Span::styled(s.short(), t.dim()));
        }
    }
    Line::from(spans)
}

fn keys_hint(model: &Model) -> String {
    let base = match model.screen {
        Screen::Welcome if model.pending.is_some() => {
            "f finish the apply · Enter next · ↑↓ scroll · ? help · q quit"
        }
        Screen::Welcome => "Enter next · ↑↓ scroll · ? help · q quit",
        Screen::Tier => "↑↓ choose · Enter next · Esc back · ? help · q quit",
        Screen::Nodes => {
            "↑↓ move · a add · d remove · t this host · Enter next · Esc back · ? help"
        }
        Screen::Review => "↑↓ PgUp/PgDn scroll · [ ] file · ←→ button · Enter choose · ? help",
        Screen::Apply => {
            if model.apply.failed.is_some() {
                "Enter exit"
            } else {
                "applying… (rolls back by itself if a step fails)"
            }
        }
        Screen::Done => "↑↓ scroll · Enter exit",
        _ => "↑↓ move · ←→/Space change · Enter next · Esc back · ? help · q quit",
    };
    if model.typing() {
        "type to edit · Ctrl-U clear · ↑↓ move · Enter next · Esc back · F1 help".to_string()
    } else {
        base.to_string()
    }
}

fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str, t: Theme) {
    let width = area.width.saturating_sub(8).min(70);
    // Count wrapped lines, so the last line of a long help text is not cut off.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let lines: usize = text.lines().map(|l| wrap(l, inner).len().max(1)).sum();
    let lines = u16::try_from(lines).unwrap_or(u16::MAX);
    let height = (lines + 2).min(area.height.saturating_sub(2));
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text.to_string())
            .wrap(Wrap { trim: false })
            .block(
                Block::new()
                    .borders(Borders::ALL)
                    .title(Span::styled(title.to_string(), t.accent())),
            ),
        rect,
    );
}

/// Split the body into the form part and an error list under it.
fn with_errors(model: &Model, frame: &mut Frame, area: Rect, t: Theme) -> Rect {
    if model.errors.is_empty() {
        return area;
    }
    // Wrapped to the width, each line of a message (its `help:` too) on its own, and the
    // area sized to what wrapping gives: an error is read whole, not cut at the edge.
    let mut lines = vec![Line::from(Span::styled("Fix before going on:", t.bad()))];
    for e in &model.errors {
        for (i, part) in e.message.lines().enumerate() {
            let text = if i == 0 {
                format!("✗ {}: {part}", e.key)
            } else {
                format!("  {part}")
            };
            lines.extend(wrapped(&text, t.bad(), area.width, 4));
        }
    }
    let n = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .min(area.height / 2);
    let [top, bottom] = Layout::vertical([Constraint::Min(1), Constraint::Length(n)]).areas(area);
    frame.render_widget(Paragraph::new(lines), bottom);
    top
}

/// Whether an error is about this field (marks it with `!`).
fn field_has_error(model: &Model, key: &str) -> bool {
    model.errors.iter().any(|e| e.key == key)
}

/// One form row: label, value, focus marker, error marker.
fn row(
    label: &str,
    value: String,
    focused: bool,
    text_field: bool,
    error: bool,
    t: Theme,
) -> Line<'static> {
    let marker = if focused { "› " } else { "  " };
    let value = if focused && text_field {
        // A long value (a 300-character path) scrolls: the end, where the cursor is, stays
        // in view at 80 columns instead of running off the edge.
        const VISIBLE: usize = 48;
        let n = value.chars().count();
        if n > VISIBLE {
            let tail: String = value.chars().skip(n - (VISIBLE - 1)).collect();
            format!("…{tail}_")
        } else {
            format!("{value}_")
        }
    } else {
        value
    };
    let value_style = if focused { t.focus() } else { Style::new() };
    let mut spans = vec![
        Span::styled(marker.to_string(), t.accent()),
        Span::raw(format!("{label:<22} ")),
        Span::styled(value, value_style),
    ];
    if error {
        spans.push(Span::styled("  !", t.bad()));
    }
    Line::from(spans)
}

/// A form row holding text the operator types, marked when an error names `key`.
fn text_row(
    model: &Model,
    label: &str,
    value: &str,
    focused: bool,
    key: &str,
    t: Theme,
) -> Line<'static> {
    row(
        label,
        value.to_string(),
        focused,
        true,
        field_has_error(model, key),
        t,
    )
}

/// A form row holding one of a few choices (changed with the arrow keys).
fn choice_row(label: &str, value: &str, focused: bool, t: Theme) -> Line<'static> {
    row(label, choice(value), focused, false, false, t)
}

fn scrolled(lines: Vec<Line<'static>>, scroll: usize, height: u16) -> (Vec<Line<'static>>, String) {
    let total = lines.len();
    let h = usize::from(height);
    let max = total.saturating_sub(h);
    let start = scroll.min(max);
    let info = if total > h {
        format!(" {}-{} of {total} ", start + 1, (start + h).min(total))
    } else {
        String::new()
    };
    (lines.into_iter().skip(start).take(h).collect(), info)
}

fn scroll_info(frame: &mut Frame, area: Rect, info: &str, t: Theme) {
    if info.is_empty() {
        return;
    }
    let w = info.chars().count() as u16;
    let rect = Rect {
        x: area.right().saturating_sub(w),
        y: area.bottom(),
        width: w.min(area.width),
        height: 1,
    };
    frame.render_widget(
        Paragraph::new(Span::styled(info.to_string(), t.dim())),
        rect,
    );
}

/// Greedy word wrap to `width` characters; words longer than a line (paths) are split.
/// (Paragraph's own wrapping cannot indent continuation lines or keep scroll math simple.)
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};
    // Columns, not chars: a CJK character takes two, so counting chars would run past the
    // edge.
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let wlen = word.width();
        if len > 0 && len + 1 + wlen > width {
            out.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        // A word longer than a line (a path) is split where the line is full.
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if len > 0 && len + cw > width {
                out.push(std::mem::take(&mut line));
                len = 0;
            }
            line.push(c);
            len += cw;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// Wrap a styled line of text: the first line as is, continuations indented by `indent`.
fn wrapped(text: &str, style: Style, width: u16, indent: usize) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let lead = text.chars().take_while(|c| *c == ' ').count();
    let mut out = Vec::new();
    for (i, l) in wrap(text.trim_start(), width.saturating_sub(lead.max(indent)))
        .into_iter()
        .enumerate()
    {
        let pad = if i == 0 { lead } else { lead.max(indent) };
        out.push(Line::from(Span::styled(format!("{:pad$}{l}", ""), style)));
    }
    out
}

/// Cut text to `n` characters, marking the cut.
fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn choice(value: &str) -> String {
    format!("◀ {value} ▶")
}

/// Where the apply writes generated passwords when the answers name no file: the state
/// directory, which also holds the default answers file.
fn default_password_file(model: &Model) -> std::path::PathBuf {
    model.default_answers_path.with_file_name("passwords.txt")
}

/// The help text for the current screen.
pub fn help_text(model: &Model) -> String {
    let common = "Enter/Tab next screen · Shift-Tab/Esc back · ↑↓ move\nq or Ctrl-C quit (asks first) · ? or F1 this help\nIn a text field, q and ? are typed; use F1 and Ctrl-C there.";
    let specific = match model.screen {
        Screen::Welcome => {
            "What detection found. BLOCKING findings stop the apply; overridable ones name the flag that overrides them. Nothing is written before you approve the plan."
        }
        Screen::Tier => {
            "minimal: passwords for built-in users, no TLS.\nbasic: + TLS between nodes (full-cluster restart).\nhttps: + HTTPS for Elasticsearch and Kibana."
        }
        Screen::Nodes => {
            "↑↓ over the rows selects a node; keep going down to edit it.\na add a node · d/Delete remove it · t/Space mark it as this host.\nLists are comma-separated."
        }
        Screen::Certs => {
            "←→/Space change a choice. With 'bring your own', give absolute paths to the PEM certificate and key."
        }
        Screen::Kibana => {
            "Space toggles. Browser HTTPS (https tier only) switches the public URL's scheme."
        }
        Screen::Passwords => {
            "Space/←→ cycle a user: generate / keep / your own reference. A reference is env:NAME or file:/PATH; the password itself is never typed here."
        }
        Screen::Hardening => {
            "Optional: every layer off leaves it as it is. Space/←→ toggle a layer or cycle the TLS versions; lists are comma-separated. Audit logging and IP filtering need a Gold license or a trial (apply checks and refuses on Basic)."
        }
        Screen::Review => {
            "↑↓ PgUp/PgDn Home/End scroll · [ ] previous/next file diff\n←→ or Tab pick a button, Enter presses it\np proceed · b/Esc/Shift-Tab back · s save answers · c cancel\nNothing has been written yet; only Proceed applies the plan."
        }
        Screen::Apply => {
            "The apply runs step by step; on failure it rolls back and says what it restored."
        }
        Screen::Done => "↑↓ scroll · Enter or q exits.",
    };
    format!("{specific}\n\n{common}\n\n(any key closes this help)")
}
