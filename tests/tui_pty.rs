//! The real binary on a pseudo-terminal: the TUI and the plain prompts start, cancel cleanly
//! and give the terminal back (alternate screen left, cursor shown). Uses the sandbox install
//! under a temporary HOME, so nothing outside a temp dir is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use expectrl::{Expect, Session};

fn session(dir: &std::path::Path, plain: bool) -> expectrl::session::OsSession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_es-secure"));
    cmd.arg("--sandbox")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("ES_SECURE_SANDBOX", dir.join("sandbox"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    if plain {
        cmd.arg("--plain");
    }
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s
}

#[test]
fn tui_quits_and_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path(), false);
    s.expect("\x1b[?1049h").unwrap();
    s.send("q").unwrap();
    s.expect("Quit").unwrap();
    s.send("y").unwrap();
    // Leaving the alternate screen comes before the app's own message.
    s.expect("\x1b[?1049l").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    s.expect(expectrl::Eof).unwrap();
}

#[test]
fn plain_asks_the_tier_and_ctrl_c_cancels() {
    // Esc is Back (see tests/wizard_operator.rs); Ctrl-C cancels.
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path(), true);
    s.expect("Security tier").unwrap();
    s.send("\x03").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    s.expect(expectrl::Eof).unwrap();
}

#[test]
fn plain_walks_every_question_prints_the_plan_and_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path(), true);
    // The sandbox is at tier none, so minimal is the default and certificates are skipped.
    for prompt in [
        "Security tier",
        "Nodes:",
        "Configure Kibana?",
        "Kibana config directory",
        "Kibana public URL",
        "Kibana logs in with a service account token",
        "Built-in user passwords",
        "Show generated passwords",
        "Save generated passwords to",
        "How es-secure logs in",
        "Hardening (optional)",
    ] {
        s.expect(prompt).unwrap();
        s.send("\r").unwrap();
    }
    s.expect("Plan: tier none -> minimal").unwrap();
    s.expect("What now?").unwrap();
    // Proceed, Change, Save, Cancel: the fourth is Cancel.
    s.send("\x1b[B\x1b[B\x1b[B\r").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    s.expect(expectrl::Eof).unwrap();
}
