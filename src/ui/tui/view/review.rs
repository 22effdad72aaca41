//! The Review screen: the plan the apply would carry out, its diffs and the buttons. It must
//! not change state or do I/O, and it draws the review lines the model built, never its own.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::tui::model::{Button, Model, Review, ReviewKind};

use super::{Theme, scroll_info, wrapped};

pub(super) fn review(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
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
