//! Drawing: `view(&Model, &mut Frame)` renders one frame of the wizard from the model.
//!
//! It must not change state or do I/O, and it must stay cheap (everything expensive, such as
//! diffs, is computed once in the model). With NO_COLOR (`Model::color == false`) it uses no
//! colours at all, only bold, reverse and dim.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::domain::answers::AuthMethodKind;
use crate::domain::tier::Tier;

use super::model::{
    Button, Field, InfoKind, Model, Overlay, Review, ReviewKind, Screen, StepState,
};
use crate::ui::form::PwMode;

/// Below this the layout cannot hold a screen; a notice is shown instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

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
    frame.render_widget(Paragraph::new(breadcrumb(model, t)), header);
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

fn breadcrumb(model: &Model, t: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let shown: Vec<Screen> = Screen::ALL
        .into_iter()
        .filter(|s| *s != Screen::Certs || model.form.needs_certs())
        .collect();
    for (i, s) in shown.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
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

fn welcome(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let mut lines: Vec<Line<'static>> = Vec::new();
    for l in &model.welcome {
        let style = match l.kind {
            InfoKind::Heading => t.accent(),
            InfoKind::Normal => Style::new(),
            InfoKind::Dim | InfoKind::Info => t.dim(),
            InfoKind::Blocking => t.bad(),
            InfoKind::Overridable | InfoKind::Warning => t.warn(),
        };
        lines.extend(wrapped(&l.text, style, area.width, 6));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Nothing is written until you approve the plan on the Review screen.",
    ));
    let (lines, info) = scrolled(lines, model.scroll, area.height);
    frame.render_widget(Paragraph::new(lines), area);
    scroll_info(frame, area, &info, t);
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

fn tier(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let mut lines = wrapped(
        &format!(
            "This node is at tier {}. es-secure only moves up; lower tiers are not offered.",
            model.current_tier
        ),
        Style::new(),
        area.width,
        0,
    );
    lines.push(Line::raw(""));
    let width = usize::from(area.width.saturating_sub(6)).max(20);
    // Where the selected tier's explanation ends: on a short terminal (60×16) the view
    // scrolls so that it stays visible.
    let mut selected_end = 0;
    for tr in model.tiers() {
        let selected = model.form.tier == tr;
        let mark = if selected { "(•)" } else { "( )" };
        let mut head = vec![
            Span::styled(if selected { "› " } else { "  " }, t.accent()),
            Span::styled(
                format!("{mark} {}", tr.as_str()),
                if selected {
                    t.focus()
                } else {
                    Style::new().add_modifier(Modifier::BOLD)
                },
            ),
        ];
        if tr == model.current_tier {
            head.push(Span::styled("  (current)", t.dim()));
        }
        lines.push(Line::from(head));
        for l in wrap(tr.explanation(), width) {
            lines.push(Line::from(Span::styled(format!("      {l}"), t.dim())));
        }
        if selected {
            selected_end = lines.len();
        }
        lines.push(Line::raw(""));
    }
    if model.form.tier == Tier::Minimal {
        lines.push(Line::from(Span::styled(
            "Minimal issues no certificates, so the Certificates screen is skipped.",
            t.dim(),
        )));
    }
    let skip = selected_end.saturating_sub(usize::from(area.height));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
        area,
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

fn nodes(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let focused = model.focused();
    let f = &model.form;
    let mut lines = wrapped(&model.detected_node, t.dim(), area.width, 2);
    lines.push(Line::from(Span::styled(
        format!(
            "  {:<3}{:<18}{:<30}{}",
            "", "node.name", "DNS names", "IP addresses"
        ),
        Style::new().add_modifier(Modifier::BOLD),
    )));
    let header = lines.len();
    for (i, n) in f.nodes.iter().enumerate() {
        let is_focus = focused == Some(Field::NodeRow(i));
        let sel = model.node_sel == i;
        let this = if f.this_node == i { "★" } else { " " };
        let text = format!(
            "{this}  {:<18}{:<30}{}",
            clip(&n.name, 17),
            clip(&n.dns, 29),
            clip(&n.ip, 24)
        );
        let style = if is_focus {
            t.focus()
        } else if sel {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let err = model
            .errors
            .iter()
            .any(|e| e.key.starts_with(&format!("nodes[{i}]")));
        let mut spans = vec![
            Span::styled(if is_focus { "› " } else { "  " }, t.accent()),
            Span::styled(text, style),
        ];
        if err {
            spans.push(Span::styled(" !", t.bad()));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(Span::styled(
        "  ★ = the node on this host (t on a row changes it)",
        t.dim(),
    )));
    lines.push(Line::raw(""));
    if let Some(n) = f.nodes.get(model.node_sel) {
        let i = model.node_sel;
        lines.push(Line::from(Span::styled(
            format!("Edit node {}:", i + 1),
            Style::new().add_modifier(Modifier::BOLD),
        )));
        for (field, label, value, key) in [
            (
                Field::NodeName,
                "node.name",
                &n.name,
                format!("nodes[{i}].name"),
            ),
            (
                Field::NodeDns,
                "DNS names",
                &n.dns,
                format!("nodes[{i}].dns"),
            ),
            (
                Field::NodeIp,
                "IP addresses",
                &n.ip,
                format!("nodes[{i}].ip"),
            ),
        ] {
            lines.push(row(
                label,
                value.clone(),
                focused == Some(field),
                true,
                field_has_error(model, &key),
                t,
            ));
        }
        lines.push(Line::from(Span::styled(
            "  lists: separate with commas; e.g. node-1.example.internal, localhost",
            t.dim(),
        )));
    }
    // Keep the focused row visible when there are more nodes than lines.
    let focus_line = match focused {
        Some(Field::NodeRow(i)) => i + header,
        _ => lines.len(),
    };
    let h = usize::from(area.height);
    let start = (focus_line + 1).saturating_sub(h);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(start).collect::<Vec<_>>()),
        area,
    );
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

fn certs(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    use crate::ui::form::CaChoice;
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let mut lines = vec![
        Line::from(Span::styled(
            "One CA signs every node's transport (and, for https, HTTP) certificate.",
            t.dim(),
        )),
        Line::raw(""),
        row(
            "CA",
            choice(f.ca.label()),
            focused == Some(Field::CaSource),
            false,
            false,
            t,
        ),
    ];
    if f.ca == CaChoice::Files {
        lines.push(row(
            "  CA certificate",
            f.ca_cert.clone(),
            focused == Some(Field::CaCert),
            true,
            field_has_error(model, "certificates.ca.cert"),
            t,
        ));
        lines.push(row(
            "  CA private key",
            f.ca_key.clone(),
            focused == Some(Field::CaKey),
            true,
            field_has_error(model, "certificates.ca.key"),
            t,
        ));
    }
    lines.push(row(
        "Key type",
        choice(f.key_type.as_str()),
        focused == Some(Field::KeyType),
        false,
        false,
        t,
    ));
    lines.push(row(
        "Validity (days)",
        f.validity.clone(),
        focused == Some(Field::Validity),
        true,
        field_has_error(model, "certificates.validity_days"),
        t,
    ));
    lines.push(Line::raw(""));
    if let Some(fp) = &model.existing_ca {
        lines.extend(wrapped(
            &format!("  CA from an earlier run (SHA-256): {fp}"),
            t.dim(),
            area.width,
            4,
        ));
    }
    let help = match focused {
        Some(Field::CaSource | Field::CaCert | Field::CaKey) => match f.ca {
            CaChoice::Generate => {
                "A new CA is created in es-secure's state directory (key 0600, root only). Later runs reuse it, so nodes keep trusting each other."
            }
            CaChoice::Existing => {
                "Use the CA an earlier es-secure run created; the plan is refused if there is none."
            }
            CaChoice::Files => {
                "Your own CA: PEM certificate and unencrypted PEM key, absolute paths. es-secure checks they match and copies them to its state directory."
            }
        },
        Some(Field::KeyType) => {
            "ECDSA P-256 is fast and small; choose RSA if old clients must connect."
        }
        _ => {
            "How long node certificates are valid: 1 to 3650 days (Elastic's certutil default is 3 years, 1095 days)."
        }
    };
    for l in wrap(help, usize::from(area.width.saturating_sub(4)).max(20)) {
        lines.push(Line::from(Span::styled(format!("  {l}"), t.dim())));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn kibana(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let detected = match &model.kibana_detected {
        Some(dir) => format!("Kibana was detected in {dir}."),
        None => "Kibana was not detected on this host.".to_string(),
    };
    let mut lines = vec![Line::from(detected), Line::raw("")];
    lines.push(row(
        "Configure Kibana",
        choice(if f.kibana_on { "yes" } else { "no" }),
        focused == Some(Field::KibanaOn),
        false,
        false,
        t,
    ));
    if f.kibana_on {
        lines.push(row(
            "Config directory",
            f.kibana_dir.clone(),
            focused == Some(Field::KibanaDir),
            true,
            field_has_error(model, "kibana.config_dir"),
            t,
        ));
        lines.push(row(
            "Public URL",
            f.kibana_url.clone(),
            focused == Some(Field::KibanaUrl),
            true,
            field_has_error(model, "kibana.public_url"),
            t,
        ));
        if f.tier == Tier::Https {
            lines.push(row(
                "Browser HTTPS",
                choice(if f.browser_https() { "on" } else { "off" }),
                focused == Some(Field::KibanaHttps),
                false,
                false,
                t,
            ));
        } else {
            lines.push(Line::from(Span::styled(
                "  Browser HTTPS          off (only the https tier serves HTTPS to browsers)",
                t.dim(),
            )));
        }
    }
    lines.push(Line::raw(""));
    let help = if f.kibana_on {
        "Kibana logs in to Elasticsearch as kibana_system (its password goes into Kibana's keystore, not kibana.yml). The public URL is what browsers use; with the https tier an https:// URL makes Kibana serve HTTPS with a certificate from the CA."
    } else {
        "Kibana is left alone. Configure it later by running es-secure again."
    };
    for l in wrap(help, usize::from(area.width.saturating_sub(4)).max(20)) {
        lines.push(Line::from(Span::styled(format!("  {l}"), t.dim())));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn passwords(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let mut lines = wrapped(
        "Space cycles: generate / keep (leave alone) / your own (env:NAME or file:/PATH).",
        t.dim(),
        area.width,
        0,
    );
    if let Some(w) = crate::ui::screens::passwords_warning(f, model.current_tier) {
        lines.extend(wrapped(&w, t.warn(), area.width, 9));
    }
    for (i, p) in f.passwords.iter().enumerate() {
        let value = match p.mode {
            PwMode::Generate => "generate".to_string(),
            PwMode::Keep => "keep".to_string(),
            PwMode::Reference if p.reference.is_empty() => "your own: ".to_string(),
            PwMode::Reference => format!("your own: {}", p.reference),
        };
        lines.push(row(
            p.user,
            value,
            focused == Some(Field::Password(i)),
            p.mode == PwMode::Reference,
            field_has_error(model, &format!("passwords.{}", p.user)),
            t,
        ));
    }
    lines.push(row(
        "Show once at end",
        choice(if f.pw_show { "yes" } else { "no" }),
        focused == Some(Field::PwShow),
        false,
        false,
        t,
    ));
    lines.push(row(
        "Save to file",
        if f.pw_file.is_empty() && focused != Some(Field::PwFile) {
            // Empty is not "not saved": the apply writes generated passwords to the state
            // directory then; say where.
            format!("(default: {})", default_password_file(model).display())
        } else {
            f.pw_file.clone()
        },
        focused == Some(Field::PwFile),
        true,
        field_has_error(model, "passwords.output_file"),
        t,
    ));
    let auth = match f.auth {
        AuthMethodKind::TemporarySuperuser => "temporary file-realm superuser",
        AuthMethodKind::ElasticPassword => "current elastic password",
        AuthMethodKind::BootstrapPassword => "bootstrap.password (first start)",
    };
    lines.push(row(
        "Log in to set them",
        choice(auth),
        focused == Some(Field::Auth),
        false,
        field_has_error(model, "auth.elastic_password"),
        t,
    ));
    if f.auth == AuthMethodKind::ElasticPassword {
        lines.push(row(
            "  elastic password",
            f.auth_ref.clone(),
            focused == Some(Field::AuthRef),
            true,
            field_has_error(model, "auth.elastic_password"),
            t,
        ));
    }
    lines.push(Line::raw(""));
    lines.extend(wrapped(
        "  Generated passwords are 24 random characters. Answers files never hold a password, only where to find it.",
        t.dim(),
        area.width,
        2,
    ));
    frame.render_widget(Paragraph::new(lines), area);
}

fn review(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let [text_area, buttons] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let mut source: Vec<(Style, &str, Option<usize>)> = Vec::new();
    if let Review::Refused(_) = &model.review {
        source.push((t.bad(), "The planner refused these answers:", Some(2)));
    }
    if model.review == Review::Pending {
        source.push((Style::new(), "Building the plan…", Some(2)));
    }
    for l in &model.review_lines {
        let (style, wrap_it) = match l.kind {
            ReviewKind::Heading => (t.accent(), Some(2)),
            ReviewKind::Summary => (Style::new().add_modifier(Modifier::BOLD), Some(22)),
            ReviewKind::Step => (Style::new(), Some(5)),
            ReviewKind::Context => (Style::new(), None),
            ReviewKind::Note => (t.warn(), Some(6)),
            ReviewKind::FileHeader => (Style::new().add_modifier(Modifier::BOLD), None),
            ReviewKind::Hunk => (t.fg(Color::Cyan), None),
            ReviewKind::Added => (t.ok(), None),
            ReviewKind::Removed => (t.fg(Color::Red), None),
            ReviewKind::Error => (t.bad(), Some(2)),
        };
        source.push((style, l.text.as_str(), wrap_it));
    }
    if let Review::Refused(_) = &model.review {
        source.push((Style::new(), "", None));
        source.push((
            Style::new(),
            "Go Back to change the answers, or Save answers to edit them as a file.",
            Some(2),
        ));
    }
    // Scrolling counts source lines (so `[`/`]` can jump to a file's diff); steps and notes
    // wrap with a hanging indent, diff lines are shown verbatim (cut at the edge).
    let h = usize::from(text_area.height);
    let start = model.scroll.min(source.len().saturating_sub(1));
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut last = start;
    for (i, (style, text, wrap_it)) in source.iter().enumerate().skip(start) {
        if lines.len() >= h {
            break;
        }
        if let Some(indent) = wrap_it {
            lines.extend(wrapped(text, *style, text_area.width, *indent));
        } else {
            lines.push(Line::from(Span::styled(text.to_string(), *style)));
        }
        last = i;
    }
    lines.truncate(h);
    frame.render_widget(Paragraph::new(lines), text_area);
    let total = source.len();
    let mut info = if start > 0 || last + 1 < total {
        format!(" {}-{} of {total} ", start + 1, last + 1)
    } else {
        String::new()
    };
    if !model.review_files.is_empty() {
        let file = model
            .review_files
            .iter()
            .rposition(|&l| l <= start)
            .map_or(1, |i| i + 1);
        info = format!(" diff {file}/{} ·{info}", model.review_files.len());
    }
    scroll_info(frame, text_area, &info, t);
    let mut spans = Vec::new();
    for b in Button::ALL {
        let disabled = b == Button::Proceed && !model.can_proceed();
        let style = if b == model.button {
            t.focus()
        } else if disabled {
            t.dim()
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("[ {} ]", b.label()), style));
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), buttons);
}

fn format_secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn apply(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let a = &model.apply;
    let spinner = SPINNER[(a.ticks % SPINNER.len() as u64) as usize];
    let width = usize::from(area.width.saturating_sub(16)).max(10);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut focus_line = 0;
    let failed = a.failed.is_some() || a.rolled_back.is_some();
    let not_run: Vec<usize> = a
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.state == StepState::Pending)
        .map(|(i, _)| i + 1)
        .collect();
    for (i, l) in a.lines.iter().enumerate() {
        if failed && l.state == StepState::Pending {
            // After a failure the steps that never ran are one line, so the failure and what
            // was rolled back stay on screen.
            if not_run.first() == Some(&(i + 1)) {
                let range = match (not_run.first(), not_run.last()) {
                    (Some(a), Some(b)) if a != b => format!("steps {a}-{b}"),
                    (Some(a), _) => format!("step {a}"),
                    _ => String::new(),
                };
                lines.push(Line::from(Span::styled(
                    format!("·  {range} not run"),
                    t.dim(),
                )));
            }
            continue;
        }
        let (mark, style, time) = match &l.state {
            StepState::Pending => ("·".to_string(), t.dim(), String::new()),
            StepState::Running(start) => {
                focus_line = lines.len();
                (
                    spinner.to_string(),
                    t.accent(),
                    format_secs(a.now.saturating_sub(*start)),
                )
            }
            StepState::Done(el) => ("✓".to_string(), t.ok(), format_secs(*el)),
            StepState::Failed(_) => {
                focus_line = lines.len();
                ("✗".to_string(), t.bad(), String::new())
            }
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::raw(format!("{:>2}. {:<width$} ", i + 1, clip(&l.line, width))),
            Span::styled(format!("{time:>7}"), t.dim()),
        ]));
        if let Some(p) = &l.progress {
            lines.push(Line::from(Span::styled(format!("      {p}"), t.dim())));
        }
        if let StepState::Failed(e) = &l.state {
            for el in e.lines() {
                lines.extend(wrapped(&format!("      {el}"), t.bad(), area.width, 6));
            }
        }
    }
    // Notices, the rollback report and the error are wrapped, not cut at the edge: their
    // end is often the `help:` line that says what to do.
    for n in &a.notices {
        lines.push(Line::raw(""));
        for l in n.lines() {
            lines.extend(wrapped(l, t.warn(), area.width, 2));
        }
    }
    if let Some(r) = &a.rolled_back {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled("Rolled back:", t.bad())));
        for l in r.lines() {
            lines.extend(wrapped(&format!("  {l}"), Style::new(), area.width, 4));
        }
    }
    if let Some(e) = &a.failed {
        focus_line = focus_line.max(lines.len() + 2);
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled("The apply failed:", t.bad())));
        for l in e.lines() {
            lines.extend(wrapped(&format!("  {l}"), Style::new(), area.width, 4));
        }
    }
    let h = usize::from(area.height);
    let start = (focus_line + 3)
        .saturating_sub(h)
        .min(lines.len().saturating_sub(h));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(start).collect::<Vec<_>>()),
        area,
    );
}

/// Where the apply writes generated passwords when the answers name no file: the state
/// directory, which also holds the default answers file.
fn default_password_file(model: &Model) -> std::path::PathBuf {
    model.default_answers_path.with_file_name("passwords.txt")
}

fn done(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let bold = Style::new().add_modifier(Modifier::BOLD);
    if let Some(s) = &model.summary {
        // With `restart: manual` the apply stops after the files: saying "applied" would
        // suggest the passwords are set and verified when those steps have not run yet.
        lines.push(if model.restart_pending() {
            Line::from(Span::styled(
                "The files are written. Restart Elasticsearch to finish (see Next steps).",
                t.warn().add_modifier(Modifier::BOLD),
            ))
        } else {
            Line::from(Span::styled(
                "The plan was applied.",
                t.ok().add_modifier(Modifier::BOLD),
            ))
        });
        if !s.shown_passwords.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled(
                "Passwords (shown once: copy them now; they are not printed again):",
                t.warn(),
            )));
            for (user, pw) in &s.shown_passwords {
                lines.push(Line::from(vec![
                    Span::raw(format!("  {user:<24}")),
                    Span::styled(pw.expose().to_string(), bold),
                ]));
            }
        }
        match &s.password_file {
            Some(p) => lines.extend(wrapped(
                &format!("Generated passwords saved to {} (mode 0600).", p.display()),
                Style::new(),
                area.width,
                2,
            )),
            None if model.restart_pending() => lines.extend(wrapped(
                &format!(
                    "Passwords are set when you finish the apply after the restart; generated ones then go to {} (mode 0600).",
                    if model.form.pw_file.is_empty() {
                        default_password_file(model)
                    } else {
                        std::path::PathBuf::from(&model.form.pw_file)
                    }
                    .display()
                ),
                Style::new(),
                area.width,
                2,
            )),
            None => lines.push(Line::raw("No passwords were generated by this apply.")),
        }
        if let Some(fp) = &s.ca_fingerprint {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("CA SHA-256 fingerprint:", bold)));
            lines.extend(wrapped(&format!("  {fp}"), Style::new(), area.width, 2));
        }
        if !s.verify_table.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Verification:", bold)));
            for (check, ok, detail) in &s.verify_table {
                let (mark, style) = if *ok {
                    ("PASS", t.ok())
                } else {
                    ("FAIL", t.bad())
                };
                lines.extend(wrapped(
                    &format!("  [{mark}] {check}: {detail}"),
                    style,
                    area.width,
                    9,
                ));
            }
        }
        // The apply sends some next steps (e.g. "restart Elasticsearch now") both as a live
        // notice and in the summary; each is listed once.
        let notices: Vec<&String> = model
            .apply
            .notices
            .iter()
            .filter(|n| !s.next_steps.contains(n))
            .collect();
        if !s.next_steps.is_empty() || !notices.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Next steps:", bold)));
            for (i, n) in notices.into_iter().chain(&s.next_steps).enumerate() {
                for (j, l) in n.lines().enumerate() {
                    let prefix = if j == 0 {
                        format!("  {}. ", i + 1)
                    } else {
                        "     ".to_string()
                    };
                    lines.extend(wrapped(
                        &format!("{prefix}{l}"),
                        Style::new(),
                        area.width,
                        5,
                    ));
                }
            }
        }
        lines.push(Line::raw(""));
        if let Some(p) = &s.answers_saved {
            lines.extend(wrapped(
                &format!(
                    "Answers saved to {} (no secrets; replay: es-secure apply --answers {}{}).",
                    p.display(),
                    p.display(),
                    model.context_flags
                ),
                Style::new(),
                area.width,
                2,
            ));
        }
        if let Some(id) = &s.transaction {
            // Wrapped, not cut: the command must be copyable whole at any width.
            lines.extend(wrapped(
                &format!(
                    "Transaction {id}: undo with `es-secure rollback {id}{}`.",
                    model.context_flags
                ),
                Style::new(),
                area.width,
                2,
            ));
        }
    }
    let (lines, info) = scrolled(lines, model.scroll, area.height);
    frame.render_widget(Paragraph::new(lines), area);
    scroll_info(frame, area, &info, t);
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
