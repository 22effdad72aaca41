//! Unit tests of the wizard model: each flow driven by messages, no terminal.
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
fn a_manual_restart_step_means_restart_pending() {
    let facts = demo::facts();
    let plan =
        crate::domain::planner::build_plan(&facts, &Answers::from_raw(&demo::answers()).unwrap())
            .unwrap();
    // The sample answers leave the restart to the operator (the default).
    assert!(plan.stops_for_restart());
    let mut none = plan.clone();
    none.steps
        .retain(|s| !matches!(s, crate::domain::plan::Step::Restart { .. }));
    assert!(!none.stops_for_restart());
}

#[test]
fn enter_walks_the_screens_in_order_and_esc_walks_back() {
    let mut m = demo::model();
    let mut seen = vec![m.screen];
    for _ in 0..7 {
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
            Screen::Hardening,
            Screen::Review
        ]
    );
    assert!(matches!(m.review, Review::Ready { .. }), "{:?}", m.review);
    for expected in [
        Screen::Hardening,
        Screen::Passwords,
        Screen::Kibana,
        Screen::Certs,
    ] {
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
    send_all(&mut m, vec![enter(), enter(), enter(), enter()]);
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
    let mut m = at(Screen::Hardening);
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
    send(
        &mut m,
        Msg::ApplyFinished(Err(ApplyFailure {
            message: "partly done".to_string(),
            unchanged: false,
        })),
    );
    assert_eq!(m.screen, Screen::Apply);
    assert_eq!(send(&mut m, enter()), Command::Exit(Exit::Applied));
}

#[test]
fn a_failure_that_changed_nothing_returns_to_review_with_the_message() {
    let mut m = applying();
    send(
        &mut m,
        Msg::ApplyFinished(Err(ApplyFailure {
            message: "another es-secure is running\nhelp: wait".to_string(),
            unchanged: true,
        })),
    );
    assert_eq!(m.screen, Screen::Apply);
    assert_eq!(send(&mut m, enter()), Command::None);
    assert_eq!(m.screen, Screen::Review);
    let (ok, text) = m.status.clone().unwrap();
    assert!(
        !ok && text.contains("another es-secure is running"),
        "{text}"
    );
    // Proceed is offered again: the reviewed plan is still there.
    assert!(m.can_proceed());
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
    assert_eq!(m.screen, Screen::Hardening);
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
        Msg::ApplyFinished(Err(ApplyFailure { message: "`passwords.elastic` is `env:SOME_LONG_VARIABLE_NAME`, but the environment has no such variable\nhelp: export SOME_LONG_VARIABLE_NAME before running es-secure (nothing was changed)".to_string(), unchanged: true })),
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
    assert_eq!(m.screen, Screen::Hardening);
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

#[test]
fn the_selected_tier_stays_visible_at_60x16() {
    let mut m = at(Screen::Tier);
    // The last tier offered, whose explanation is the lowest on the screen.
    for _ in 0..3 {
        send(&mut m, key(KeyCode::Down));
    }
    send(&mut m, Msg::Resize(60, 16));
    let selected = format!("(•) {}", m.form.tier.as_str());
    let screen = demo::render_text(&m, 60, 16).unwrap();
    assert!(screen.contains(&selected), "{selected} not on:\n{screen}");
}

#[test]
fn a_long_inline_error_and_its_help_are_wrapped_not_cut() {
    let mut m = at(Screen::Passwords);
    m.errors = vec![AnswerError {
        key: "passwords.elastic".to_string(),
        line: None,
        message: "is `env:A_RATHER_LONG_VARIABLE_NAME_FOR_THE_PASSWORD`, but the environment variable is not set\nhelp: export it before running es-secure (nothing was changed) END".to_string(),
    }];
    let screen = demo::render_text(&m, 80, 24).unwrap();
    let flat = screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("is not set"), "{screen}");
    assert!(flat.contains("help: export it"), "{screen}");
    assert!(flat.contains("END"), "{screen}");
}

#[test]
fn a_pending_apply_is_offered_and_f_goes_straight_to_review() {
    let mut m = demo::model();
    // Without a pending apply, f does nothing on Welcome.
    assert_eq!(m.update(key(KeyCode::Char('f'))), Command::None);
    assert_eq!(m.screen, Screen::Welcome);
    m.set_pending(PathBuf::from("/var/lib/es-secure/wizard-answers.yml"));
    assert!(m.welcome[0].text.contains("wizard-answers.yml"));
    let cmd = m.update(key(KeyCode::Char('f')));
    assert_eq!(m.screen, Screen::Review);
    assert!(matches!(cmd, Command::BuildPlan(_)), "{cmd:?}");
}

#[test]
fn host_checks_run_before_leaving_the_passwords_screen() {
    let mut m = at(Screen::Passwords);
    let cmd = m.update(enter());
    assert!(matches!(cmd, Command::CheckInputs(_)), "{cmd:?}");
    // A problem this screen owns keeps the operator here, with the message.
    let problem = AnswerError {
        key: "passwords.elastic".to_string(),
        line: None,
        message: "the environment variable PW is not set".to_string(),
    };
    assert_eq!(m.update(Msg::Checked(vec![problem])), Command::None);
    assert_eq!(m.screen, Screen::Passwords);
    assert_eq!(m.errors.len(), 1);
    // None: on to Hardening, then Review, which asks for the plan.
    let cmd = m.update(Msg::Checked(Vec::new()));
    assert_eq!(m.screen, Screen::Hardening);
    assert_eq!(cmd, Command::None);
    let cmd = m.update(enter());
    assert_eq!(m.screen, Screen::Review);
    assert!(matches!(cmd, Command::BuildPlan(_)), "{cmd:?}");
}

#[test]
fn a_long_field_scrolls_to_its_end_while_typing() {
    let mut m = at(Screen::Passwords);
    // The "Save to file" row is a text field; focus it and type a long path.
    while m.focused() != Some(Field::PwFile) {
        send(&mut m, key(KeyCode::Down));
    }
    let long = format!("/{}/END", "x".repeat(300));
    send_all(&mut m, typed(&long));
    let screen = demo::render_text(&m, 80, 24).unwrap();
    assert!(screen.contains("xxxx/END_"), "{screen}");
}

#[test]
fn a_form_message_goes_away_with_the_next_key() {
    let mut m = at(Screen::Nodes);
    while m.form.nodes.len() > 1 {
        send(&mut m, key(KeyCode::Char('d')));
    }
    send(&mut m, key(KeyCode::Char('d')));
    assert!(
        m.status
            .as_ref()
            .is_some_and(|(_, s)| s.contains("at least one node"))
    );
    send(&mut m, key(KeyCode::Char('a')));
    assert_eq!(m.status, None);
}

#[test]
fn wrapping_counts_columns_not_chars() {
    use unicode_width::UnicodeWidthStr as _;
    // Twelve CJK characters are 24 columns: at width 10 no line may be wider than 10.
    let lines = crate::ui::tui::view::wrap("ノード名前テスト東京大阪京都", 10);
    assert!(lines.len() > 1, "{lines:?}");
    for l in &lines {
        assert!(l.width() <= 10, "{l:?} in {lines:?}");
    }
    // ASCII wraps as before: words kept whole, a long one split at the edge.
    assert_eq!(
        crate::ui::tui::view::wrap("aaa bbb cccccccccccc", 8),
        vec!["aaa bbb", "cccccccc", "cccc"]
    );
}

#[test]
fn hardening_screen_turns_on_audit_and_the_plan_writes_it() {
    let mut m = at(Screen::Hardening);
    // Every layer off: leaves them alone, and the answers have no `hardening` section.
    assert_eq!(m.form.to_raw().0.hardening, None);
    assert_eq!(m.focused(), Some(Field::HardAudit));
    send(&mut m, key(KeyCode::Char(' ')));
    assert!(m.form.hardening.audit);
    // IP filter on shows its lists; a bad entry is this screen's error, not Review's.
    send_all(&mut m, vec![key(KeyCode::Down), key(KeyCode::Char(' '))]);
    assert!(m.fields(Screen::Hardening).contains(&Field::HardHttpAllow));
    send_all(&mut m, vec![key(KeyCode::Down), key(KeyCode::Down)]);
    assert_eq!(m.focused(), Some(Field::HardHttpAllow));
    send_all(&mut m, typed("10.0.0.0/33"));
    send(&mut m, enter());
    assert_eq!(m.screen, Screen::Hardening);
    assert_eq!(m.errors[0].key, "hardening.ip_filter.http_allow");
    send(&mut m, key(KeyCode::Char('u')).ctrl());
    // Off again: the lists are kept but not written.
    send_all(
        &mut m,
        vec![key(KeyCode::Up), key(KeyCode::Up), key(KeyCode::Char(' '))],
    );
    assert!(!m.form.hardening.ip_filter);
    send(&mut m, enter());
    assert_eq!(m.screen, Screen::Review);
    let Review::Ready { raw, plan, .. } = &m.review else {
        panic!("{:?}", m.review)
    };
    // The wizard's answers are the answers file's: `hardening: {audit: {}}`.
    let file =
        crate::domain::answers::parse_raw("version: 1\ntier: https\nhardening:\n  audit: {}\n")
            .unwrap();
    assert_eq!(raw.hardening, file.hardening);
    let text = crate::domain::render::plan_text(plan);
    assert!(
        text.contains("+xpack.security.audit.enabled: true"),
        "{text}"
    );
    assert!(text.contains("authentication_failed"), "{text}");
    assert!(!text.contains("filter"), "{text}");
}

#[test]
fn wizard_hardening_equals_the_answers_file() {
    // Every layer set in a file: the form shows it and gives back the same answers.
    let text = "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}\n  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}\n  - {name: node-3, dns: [node-3.example.internal], ip: [10.0.0.13]}\nthis_node: node-1\nkibana: {config_dir: /etc/kibana}\nhardening:\n  audit: {events: [authentication_failed, access_denied]}\n  tls_protocols: [TLSv1.3]\n  kibana_session: {idle_timeout: 30m}\n  ip_filter: {http_allow: [10.0.0.0/8, 127.0.0.1], transport_allow: [10.0.0.11]}\n";
    let raw = crate::domain::answers::parse_raw(text).unwrap();
    let form = crate::ui::form::Form::new(&raw, &demo::facts());
    assert!(form.hardening.audit && form.hardening.ip_filter && form.hardening.session);
    let (again, errs) = form.to_raw();
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        Answers::from_raw(&raw).unwrap().hardening,
        Answers::from_raw(&again).unwrap().hardening
    );
    let facts = demo::facts();
    assert_eq!(
        crate::domain::planner::build_plan(&facts, &Answers::from_raw(&raw).unwrap()).unwrap(),
        crate::domain::planner::build_plan(&facts, &Answers::from_raw(&again).unwrap()).unwrap()
    );
}

#[test]
fn the_kibana_screen_switches_to_a_service_account_token() {
    let mut m = at(Screen::Kibana);
    while m.focused() != Some(Field::KibanaToken) {
        send(&mut m, key(KeyCode::Down));
    }
    let screen = demo::render_text(&m, 80, 24).unwrap();
    assert!(screen.contains("◀ password ▶"), "{screen}");
    send(&mut m, key(KeyCode::Char(' ')));
    assert!(m.form.kibana_token);
    let screen = demo::render_text(&m, 80, 24).unwrap();
    assert!(screen.contains("service token"), "{screen}");
    assert!(screen.contains("elastic/kibana"), "{screen}");
    send(&mut m, enter());
    assert_eq!(m.screen, Screen::Passwords);
    send(&mut m, enter());
    assert_eq!(m.screen, Screen::Hardening);
    send(&mut m, enter());
    assert_eq!(m.screen, Screen::Review);
    let Review::Ready { raw, .. } = &m.review else {
        panic!("{:?}", m.errors)
    };
    let yaml = crate::ui::answers_yaml(raw).unwrap();
    assert!(yaml.contains("es_auth: service-token"), "{yaml}");
}
