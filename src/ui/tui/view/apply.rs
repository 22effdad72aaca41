//! The Apply screen (steps with a spinner and their timings) and the Done screen (the
//! outcome, passwords shown once when asked, next steps). They must not change state or do
//! I/O, and must not show a secret the operator did not ask to see.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::tui::model::{Model, StepState};

use super::{Theme, clip, default_password_file, scroll_info, scrolled, wrapped};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

fn format_secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub(super) fn apply(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
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

pub(super) fn done(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
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
