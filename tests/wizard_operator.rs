//! The operator's path through the real binary, on a pseudo-terminal where it asks: the
//! wizard records the answers of its apply and offers to finish it on the next start; "Save
//! answers" works on a fresh state; host-side validation happens on the screen, not after
//! Proceed; the sandbox never contacts a node on the default port; the wizard's exit codes
//! follow the README's table. Everything runs on the sandbox under a temporary HOME.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use expectrl::{Expect, Session};

/// Generous: the machine running the tests may be heavily shared.
const TIMEOUT: Duration = Duration::from_secs(60);

fn base(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_es-secure"));
    cmd.arg("--sandbox")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("ES_SECURE_SANDBOX", dir.join("sandbox"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    cmd
}

fn plain(dir: &Path) -> expectrl::session::OsSession {
    let mut cmd = base(dir);
    cmd.arg("--plain");
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(TIMEOUT));
    s
}

/// Read to the end and return the exit code.
fn exit_code(s: &mut expectrl::session::OsSession) -> i32 {
    s.expect(expectrl::Eof).unwrap();
    // ptyprocess's WaitStatus comes from its own nix version, not nameable here; its Debug
    // form is `Exited(Pid(N), CODE)`.
    let status = format!("{:?}", s.get_process().wait().unwrap());
    status
        .strip_prefix("Exited(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("the wizard did not exit normally: {status}"))
}

/// Walk the plain wizard's questions with their defaults (the sandbox is at tier none, so
/// minimal is the default and certificates are skipped) up to "What now?".
fn walk_defaults(s: &mut expectrl::session::OsSession) {
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
    s.expect("What now?").unwrap();
}

#[test]
fn the_wizard_records_its_apply_and_offers_to_finish_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = plain(dir.path());
    walk_defaults(&mut s);
    // Proceed is the first choice.
    s.send("\r").unwrap();
    // `restart: manual` in the sandbox: the files are written, then the wizard stops with a
    // complete command for this context (sandbox and state dir included).
    let state = dir.path().join("state");
    let recorded = state.join("wizard-answers.yml");
    s.expect("--sandbox --state-dir").unwrap();
    assert_eq!(exit_code(&mut s), 7);
    let text = std::fs::read_to_string(&recorded).unwrap();
    assert!(text.contains("tier: minimal"), "{text}");
    assert!(
        !text.contains("password:"),
        "no secret in the record: {text}"
    );

    // The next start says so and loads those answers.
    let mut again = plain(dir.path());
    again.expect("An earlier apply has not finished").unwrap();
    again
        .expect(recorded.display().to_string().as_str())
        .unwrap();
    walk_defaults(&mut again);
    // Cancel is the last choice.
    again.send("\x1b[B\x1b[B\x1b[B\r").unwrap();
    again.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut again), 3);
}

#[test]
fn save_answers_works_on_a_fresh_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert!(!state.exists());
    let mut s = plain(dir.path());
    walk_defaults(&mut s);
    // Proceed, Change, Save, Cancel: Save is the third.
    s.send("\x1b[B\x1b[B\r").unwrap();
    s.expect("Save answers to:").unwrap();
    s.send("\r").unwrap();
    s.expect("Saved (no secrets in it)").unwrap();
    s.expect("What now?").unwrap();
    s.send("\x1b[B\x1b[B\x1b[B\r").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    let saved = std::fs::read_to_string(state.join("answers.yml")).unwrap();
    assert!(saved.contains("tier: minimal"), "{saved}");
}

#[test]
fn an_unset_env_password_is_refused_on_its_screen() {
    let dir = tempfile::tempdir().unwrap();
    let var = "ES_SECURE_TEST_SURELY_UNSET_PW";
    let mut cmd = base(dir.path());
    cmd.arg("--plain").env_remove(var);
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(TIMEOUT));
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
    ] {
        s.expect(prompt).unwrap();
        s.send("\r").unwrap();
    }
    // Log in with the current elastic password, read from a variable that is not set.
    s.expect("How es-secure logs in").unwrap();
    s.send("\x1b[B\r").unwrap();
    s.expect("Current elastic password from").unwrap();
    s.send(format!("env:{var}\r")).unwrap();
    // Before any plan: the screen's own check, naming the variable.
    s.expect("Please fix:").unwrap();
    s.expect(var).unwrap();
    // The passwords screen is asked again; Ctrl-C at its prompt (a key in raw mode, not a
    // signal between prompts) cancels.
    s.expect("Built-in user passwords").unwrap();
    s.send("\x03").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut s), 3);
}

#[test]
fn plain_esc_goes_back_and_ctrl_c_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = plain(dir.path());
    s.expect("Security tier").unwrap();
    s.send("\r").unwrap();
    s.expect("Nodes:").unwrap();
    s.send("\x1b").unwrap();
    // Back on the tier question, not cancelled.
    s.expect("Security tier").unwrap();
    s.send("\x03").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut s), 3);
}

#[test]
fn no_terminal_is_a_usage_error_not_an_internal_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::from_std(base(dir.path()))
        .arg("--plain")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs a terminal"), "{stderr}");
}

/// A fake node on the default port: it records whether anyone connected.
struct FakeNode {
    contacted: Arc<AtomicBool>,
}

impl FakeNode {
    /// None when something else already listens on 9200 (then this machine's real node
    /// would be at risk; the sandbox's own port is still checked).
    fn on_default_port() -> Option<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 9200)).ok()?;
        listener.set_nonblocking(true).unwrap();
        let contacted = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&contacted);
        std::thread::spawn(move || {
            // Bounded: the tests using it end well within this.
            for _ in 0..3000 {
                if listener.accept().is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Some(Self { contacted })
    }

    fn contacted(&self) -> bool {
        self.contacted.load(Ordering::SeqCst)
    }
}

fn answers(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("answers.yml");
    std::fs::write(
        &path,
        format!(
            "version: 1\ntier: minimal\nelasticsearch:\n  restart: manual\n  health_timeout_secs: 5\n{extra}nodes:\n  - {{name: node-1, dns: [localhost], ip: [127.0.0.1]}}\nthis_node: node-1\npasswords:\n  elastic: generate\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_sandbox_never_contacts_the_default_port() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeNode::on_default_port();
    // Its own port: free when it was made, and never 9200.
    let run = |answers: &Path, secs: u64| {
        assert_cmd::Command::from_std(base(dir.path()))
            .args(["apply", "--yes", "--answers"])
            .arg(answers)
            .timeout(Duration::from_secs(secs))
            .output()
            .unwrap()
    };
    let plain_answers = answers(dir.path(), "");
    let first = run(&plain_answers, 60);
    assert_eq!(
        first.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let yml = std::fs::read_to_string(
        dir.path()
            .join("sandbox/elasticsearch/config/elasticsearch.yml"),
    )
    .unwrap();
    let port: u16 = yml
        .lines()
        .find_map(|l| l.strip_prefix("http.port:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(port, 9200);
    // The second run waits for the sandbox's own node (none runs): it must not look
    // anywhere else meanwhile. Cut short by the timeout.
    let _ = run(&plain_answers, 8);
    // Answers that point at the default port are refused before anything is contacted.
    let foreign = answers(dir.path(), "  url: http://localhost:9200\n");
    let refused = run(&foreign, 60);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("sandbox refuses to contact"), "{stderr}");
    if let Some(fake) = fake {
        assert!(!fake.contacted(), "the sandbox connected to 127.0.0.1:9200");
    }
}

/// Another es-secure, as far as the wizard can tell: a private `state` holding `<state>/lock`
/// locked until the returned file is dropped.
fn hold_lock(state: &Path) -> std::fs::File {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(state)
        .unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(state.join("lock"))
        .unwrap();
    lock.try_lock().unwrap();
    lock
}

#[test]
fn a_held_lock_ends_the_wizard_with_exit_3_not_4() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let lock = hold_lock(&state);
    // The wizard takes the lock before it detects anything (recovery first, and the plan it
    // shows stays true until it ends): it stops at once, refused (3), never "rolled back" (4),
    // and asks nothing.
    let mut s = plain(dir.path());
    s.expect("locked").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    assert!(!state.join("wizard-answers.yml").exists());
    drop(lock);
}

#[test]
fn tui_a_held_lock_is_refused_at_start_and_never_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let lock = hold_lock(&state);
    // As in plain mode: refused before the terminal UI starts, with the lock's message.
    let mut s = Session::spawn(base(dir.path())).unwrap();
    s.set_expect_timeout(Some(TIMEOUT));
    s.expect("locked").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    assert!(!state.join("wizard-answers.yml").exists());
    drop(lock);
}

/// Send `signal` (e.g. "-TERM") to the wizard, as another terminal would.
fn kill(s: &expectrl::session::OsSession, signal: &str) {
    let pid = s.get_process().pid().to_string();
    let ok = Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} {pid}");
}

#[test]
fn plain_a_signal_while_asking_cancels_and_never_reaches_the_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = plain(dir.path());
    s.expect("Security tier").unwrap();
    // Raw mode is on at a prompt, so this is what a signal between prompts looks like to the
    // wizard: a request that used to linger and stop the apply approved later.
    kill(&s, "-TERM");
    // Wait for the wizard's own announcement before pressing Enter: the key must reach a
    // wizard that has seen the signal, or the test measures thread scheduling, not the wizard
    // (a loaded CI machine let Enter win once).
    s.expect("SIGTERM received").unwrap();
    s.send("\r").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    assert!(!dir.path().join("state/wizard-answers.yml").exists());
}

#[test]
fn tui_a_signal_while_asking_ends_the_wizard_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Session::spawn(base(dir.path())).unwrap();
    s.set_expect_timeout(Some(TIMEOUT));
    s.expect("Elasticsearch").unwrap();
    kill(&s, "-HUP");
    // No key is sent: the screen notices the request by itself and gives the terminal back.
    s.expect("cancelled; nothing was changed").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    assert!(!dir.path().join("state/wizard-answers.yml").exists());
}

/// Issue 19: with certificates es-secure wrote expiring within 30 days, the wizard offers to
/// renew them before its first screen; accepting renews them from the same CA (the sandbox
/// node is not running, so without waiting) and ends with exit 0.
#[test]
fn the_wizard_offers_renew_when_certificates_expire_within_30_days() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Answers for tier basic with 5-day certificates, saved by the wizard itself.
    let mut s = plain(dir.path());
    walk_defaults(&mut s);
    s.send("\x1b[B\x1b[B\r").unwrap();
    s.expect("Save answers to:").unwrap();
    s.send("\r").unwrap();
    s.expect("Saved (no secrets in it)").unwrap();
    s.expect("What now?").unwrap();
    s.send("\x1b[B\x1b[B\x1b[B\r").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    let path = state.join("answers.yml");
    let saved = std::fs::read_to_string(&path).unwrap();
    let edited: String = saved
        .lines()
        .map(|l| {
            if l.starts_with("tier:") {
                "tier: basic".to_string()
            } else if l.trim_start().starts_with("validity_days:") {
                l.split(':').next().unwrap().to_string() + ": 5"
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(edited.contains("validity_days: 5"), "{saved}");
    std::fs::write(&path, edited + "\n").unwrap();
    let out = base(dir.path())
        .args(["apply", "--yes", "--answers"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let crt = dir
        .path()
        .join("sandbox/elasticsearch/config/certs/transport.crt");
    let before = std::fs::read(&crt).unwrap();

    let mut s = plain(dir.path());
    s.expect("expire within 30 days").unwrap();
    s.send("\r").unwrap();
    s.expect("Renewed").unwrap();
    assert_eq!(exit_code(&mut s), 0);
    assert_ne!(before, std::fs::read(&crt).unwrap());
}

/// The plain wizard's Hardening questions: audit logging and Kibana sessions turned on give
/// a plan that writes them, and the saved answers are the ones an answers file would hold.
#[test]
fn plain_hardening_questions_reach_the_plan_and_the_saved_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = plain(dir.path());
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
    ] {
        s.expect(prompt).unwrap();
        s.send("\r").unwrap();
    }
    s.expect("Hardening (optional)").unwrap();
    s.send("y\r").unwrap();
    s.expect("need a Gold license or higher").unwrap();
    s.expect("Audit logging (Gold license or trial)?").unwrap();
    s.send("y\r").unwrap();
    s.expect("IP filtering").unwrap();
    s.send("\r").unwrap();
    s.expect("TLS versions").unwrap();
    s.send("\r").unwrap();
    s.expect("Kibana session timeouts?").unwrap();
    s.send("y\r").unwrap();
    s.expect("Kibana idle timeout").unwrap();
    s.send("\r").unwrap();
    s.expect("Kibana session lifespan").unwrap();
    s.send("\r").unwrap();
    // The plan's notes come before its diffs.
    s.expect("Audit logging: ").unwrap();
    s.expect("+xpack.security.audit.enabled: true").unwrap();
    s.expect("+xpack.security.session.idleTimeout: \"1h\"")
        .unwrap();
    s.expect("What now?").unwrap();
    // Proceed, Change, Save, Cancel: Save is the third.
    s.send("\x1b[B\x1b[B\r").unwrap();
    s.expect("Save answers to:").unwrap();
    s.send("\r").unwrap();
    s.expect("Saved (no secrets in it)").unwrap();
    s.expect("What now?").unwrap();
    s.send("\x1b[B\x1b[B\x1b[B\r").unwrap();
    assert_eq!(exit_code(&mut s), 3);
    let saved = std::fs::read_to_string(dir.path().join("state/answers.yml")).unwrap();
    let raw = es_secure::domain::answers::parse_raw(&saved).unwrap();
    let file = es_secure::domain::answers::parse_raw(
        "version: 1\ntier: minimal\nhardening:\n  audit: {}\n  kibana_session: {}\n",
    )
    .unwrap();
    let typed = |r| {
        es_secure::domain::answers::Answers::from_raw(r)
            .unwrap()
            .hardening
    };
    assert_eq!(typed(&raw), typed(&file), "{saved}");
}
