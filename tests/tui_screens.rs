//! The TUI's screens on an 80×24 `TestBackend`, snapshotted with insta, plus rendering checks:
//! resize, NO_COLOR and first-frame time. The sample install comes from
//! `es_secure::ui::tui::demo` (the same one `scripts/record-screens.sh` records).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossterm::event::KeyCode;
use es_secure::ui::tui::demo;
use es_secure::ui::tui::{Msg, Screen};
use ratatui::style::Color;

#[test]
fn every_screen_at_80x24() {
    let screens = demo::screens();
    // Every screen of the flow has at least one snapshot.
    for s in Screen::ALL {
        assert!(
            screens.iter().any(|(_, m)| m.screen == s),
            "no snapshot of {s:?}"
        );
    }
    for (name, model) in screens {
        let text = demo::render_text(&model, 80, 24).unwrap();
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn too_small_terminal_says_so() {
    let model = demo::model();
    insta::assert_snapshot!("too-small", demo::render_text(&model, 50, 12).unwrap());
}

#[test]
fn resize_renders_at_any_size() {
    for (_, mut model) in demo::screens() {
        for (w, h) in [(80, 24), (60, 16), (132, 43), (200, 60), (20, 5), (1, 1)] {
            model.update(Msg::Resize(w, h));
            assert_eq!(model.size, (w, h));
            let text = demo::render_text(&model, w, h).unwrap();
            assert_eq!(text.lines().count(), usize::from(h));
        }
    }
    // Wider terminals show more of a long step instead of cutting it.
    let (_, review) = demo::screens()
        .into_iter()
        .find(|(n, _)| *n == "07-review")
        .unwrap();
    let wide = demo::render_text(&review, 160, 40).unwrap();
    assert!(wide.contains("/var/lib/es-secure/ca/ca.crt (key /var/lib/es-secure/ca/ca.key, 0600)"));
}

#[test]
fn no_color_emits_no_colors() {
    for (name, mut model) in demo::screens() {
        model.color = false;
        let buffer = demo::render_buffer(&model, 80, 24).unwrap();
        for cell in buffer.content() {
            assert_eq!(cell.fg, Color::Reset, "{name}: {cell:?}");
            assert_eq!(cell.bg, Color::Reset, "{name}: {cell:?}");
        }
    }
    // And with colour on, colours are used (so the check above means something).
    let model = demo::model();
    let buffer = demo::render_buffer(&model, 80, 24).unwrap();
    assert!(buffer.content().iter().any(|c| c.fg != Color::Reset));
}

#[test]
fn help_exists_for_every_screen_and_any_key_closes_it() {
    let mut model = demo::model();
    demo::send(&mut model, demo::key(KeyCode::Char('?')));
    let text = demo::render_text(&model, 80, 24).unwrap();
    assert!(text.contains("Help"), "{text}");
    demo::send(&mut model, demo::key(KeyCode::Char('x')));
    assert_eq!(model.screen, Screen::Welcome);
    assert!(
        !demo::render_text(&model, 80, 24)
            .unwrap()
            .contains("┌ Help")
    );
}
