//! Interrupts are requests, not kills (issue 13), on the real binary and a scratch fixture
//! install: SIGINT, SIGINT twice, SIGTERM and SIGHUP — each delivered with the default
//! disposition restored (`env --default-signal`), as a terminal delivers them — during the
//! restart command and during the health wait, then `SIGKILL` with the temporary superuser
//! in place, and `verify` interrupted. Each case ends with every file old (byte for byte),
//! no `es_secure_*` user in the file realm, the documented exit code and `status` saying so.
//! (The password phase needs a real node: see `tests/e2e_real_es.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

type Tree = BTreeMap<PathBuf, (Option<Vec<u8>>, u32)>;

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    /// The deb fixture at tier none, answers for https with `extra` under `elasticsearch:`.
    fn new(tier: &str, es_extra: &str) -> Self {
        let dir = support::install::deb_install();
        let answers = format!(
            "version: 1\ntier: {tier}\nnodes:\n  - name: node-1\n    dns: [node-1.example.internal, localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\nkibana:\n  config_dir: {}\n  public_url: https://kibana.example.internal:5601\nelasticsearch:\n  allow_partial_cluster: true\n{es_extra}",
            dir.path().join("kibana").display()
        );
        std::fs::write(dir.path().join("answers.yml"), answers).unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn command(&self, args: &[&str]) -> Command {
        // `env --default-signal`: the child starts with SIGINT/SIGTERM/SIGHUP at their default
        // disposition whatever the test runner ignores, like a process started from a shell.
        let mut cmd = Command::new("env");
        cmd.arg("--default-signal=INT,TERM,HUP")
            .arg(env!("CARGO_BIN_EXE_es-secure"))
            .args(args)
            .arg("--es-home")
            .arg(self.path("home"))
            .arg("--es-config")
            .arg(self.path("elasticsearch"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .args(["--es-user", "nobody"])
            .arg("--kibana-config")
            .arg(self.path("kibana"))
            .env("NO_COLOR", "1");
        cmd
    }

    /// Start `es-secure ARGS` with its output in files (read with [`Running::stderr`]).
    fn spawn(&self, args: &[&str]) -> Running {
        let err = self.path(&format!("stderr-{}.txt", args[0]));
        let out = self.path(&format!("stdout-{}.txt", args[0]));
        let child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Running { child, err }
    }

    fn spawn_apply(&self) -> Running {
        let answers = self.path("answers.yml");
        self.spawn(&["apply", "--yes", "--answers", answers.to_str().unwrap()])
    }

    /// Run to the end (at most 120 s): exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut r = self.spawn(args);
        let code = r.finish(Duration::from_secs(120));
        let out = std::fs::read_to_string(self.path(&format!("stdout-{}.txt", args[0]))).unwrap();
        (code, out, r.stderr())
    }

    /// The install (not es-secure's state): bytes and mode of every entry.
    fn tree(&self) -> Tree {
        let mut out = BTreeMap::new();
        for top in ["elasticsearch", "kibana"] {
            let mut stack = vec![self.path(top)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    let m = std::fs::symlink_metadata(&p).unwrap();
                    if m.is_dir() {
                        stack.push(p.clone());
                    }
                    let bytes = m.is_file().then(|| std::fs::read(&p).unwrap());
                    out.insert(p, (bytes, m.mode()));
                }
            }
        }
        out
    }

    fn realm_has_temp_user(&self) -> bool {
        ["users", "users_roles"].iter().any(|f| {
            std::fs::read_to_string(self.path("elasticsearch").join(f))
                .is_ok_and(|t| t.contains("es_secure_"))
        })
    }

    /// `status` exits 0 and reports neither an incomplete apply nor a leftover user.
    fn assert_status_clean(&self) {
        let (code, out, err) = self.run(&["status"]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("INCOMPLETE"), "{out}");
        assert!(!out.contains("LEFTOVER"), "{out}");
    }
}

struct Running {
    child: Child,
    err: PathBuf,
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn wait_for_stderr(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            sig,
        )
        .unwrap();
    }

    /// Wait for the exit (killing the process after `limit`); the exit code, -signal if killed.
    fn finish(&mut self, limit: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status
                    .code()
                    .unwrap_or_else(|| -status.signal().unwrap_or(0));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "es-secure did not exit within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const SIGNALS: [(&str, &[Signal]); 4] = [
    ("SIGINT", &[Signal::SIGINT]),
    ("SIGINT x2", &[Signal::SIGINT, Signal::SIGINT]),
    ("SIGTERM", &[Signal::SIGTERM]),
    ("SIGHUP", &[Signal::SIGHUP]),
];

/// A restart command that is slow the first time (the node "restarting" on the new files)
/// and quick the second (the rollback's restart on the old files); it logs each run.
fn slow_first_restart(dir: &Path) -> String {
    let log = dir.join("restarts.log");
    format!(
        "  restart: command\n  restart_command: \"echo restart >> {log}; [ $(wc -l < {log}) -gt 1 ] || sleep 60\"\n  health_timeout_secs: 5\n",
        log = log.display()
    )
}

#[test]
fn an_interrupt_during_the_restart_rolls_back_and_restarts_on_the_old_files() {
    for (name, signals) in SIGNALS {
        let dir = tempfile::tempdir().unwrap();
        let i = Install::new("https", &slow_first_restart(dir.path()));
        let before = i.tree();
        let mut run = i.spawn_apply();
        run.wait_for_stderr("running sh -c", 60);
        std::thread::sleep(Duration::from_millis(300));
        for sig in signals {
            run.signal(*sig);
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = Instant::now();
        let code = run.finish(Duration::from_secs(60));
        let stderr = run.stderr();
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: the restart command was not stopped promptly"
        );
        assert!(
            stderr.contains("received: stopping now"),
            "{name}: {stderr}"
        );
        if signals.len() > 1 {
            assert!(
                stderr.contains("rolling back, please wait"),
                "{name}: {stderr}"
            );
        }
        assert!(stderr.contains("Rolled back"), "{name}: {stderr}");
        assert!(
            stderr.contains("restarted on the restored files"),
            "{name}: {stderr}"
        );
        let restarts = std::fs::read_to_string(dir.path().join("restarts.log")).unwrap();
        assert_eq!(
            restarts.lines().count(),
            2,
            "{name}: restart, then restart on old files"
        );
        assert_eq!(before, i.tree(), "{name}: files not restored");
        assert!(!i.realm_has_temp_user(), "{name}");
        i.assert_status_clean();
    }
}

/// Health wait against a port nothing listens on, authenticating as the temporary superuser
/// (created before the wait): an interrupt ends the wait within about a second, removes the
/// user and rolls back.
fn waiting_install() -> Install {
    Install::new(
        "https",
        "  url: https://127.0.0.1:1\n  restart: command\n  restart_command: \"true\"\n  health_timeout_secs: 600\n",
    )
}

#[test]
fn an_interrupt_during_the_health_wait_removes_the_temporary_user_and_rolls_back() {
    for (name, signals) in SIGNALS {
        let i = waiting_install();
        let before = i.tree();
        let mut run = i.spawn_apply();
        run.wait_for_stderr("attempt 2", 60);
        assert!(
            i.realm_has_temp_user(),
            "{name}: the wait uses a temporary user"
        );
        for sig in signals {
            run.signal(*sig);
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = Instant::now();
        let code = run.finish(Duration::from_secs(60));
        let stderr = run.stderr();
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: the health wait did not stop promptly"
        );
        assert!(stderr.contains("interrupted"), "{name}: {stderr}");
        assert!(stderr.contains("Rolled back"), "{name}: {stderr}");
        assert_eq!(before, i.tree(), "{name}: files not restored");
        assert!(
            !i.realm_has_temp_user(),
            "{name}: temporary user left behind"
        );
        i.assert_status_clean();
    }
}

#[test]
fn a_sigkill_with_the_temporary_user_in_place_is_found_by_status_and_recovered() {
    // The temporary user is journaled before its first byte, so recovery removes it by name
    // and deletes users/users_roles again when it had created them: byte-for-byte either way.
    for files_existed in [false, true] {
        let i = waiting_install();
        if files_existed {
            // As the deb and rpm packages ship them: empty.
            for f in ["users", "users_roles"] {
                std::fs::write(i.path("elasticsearch").join(f), "").unwrap();
            }
        }
        let before = i.tree();
        let mut run = i.spawn_apply();
        run.wait_for_stderr("attempt 2", 60);
        run.signal(Signal::SIGKILL);
        assert_eq!(run.finish(Duration::from_secs(30)), -9);
        assert!(i.realm_has_temp_user());

        let (code, out, err) = i.run(&["status"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("INCOMPLETE apply"), "{out}");
        assert!(out.contains("LEFTOVER temporary superuser"), "{out}");
        assert!(out.contains("fix: `es-secure rollback`"), "{out}");

        // Any command that touches the install recovers first and says so; rollback does
        // only that.
        let (code, out, err) = i.run(&["rollback"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("rolled back first"), "{out}");
        // The journal knows the node was restarted on the new files, and says so.
        assert!(out.contains("restart it now"), "{out}");
        assert!(
            out.contains("removed the temporary superuser from users and users_roles"),
            "{out}"
        );
        assert_eq!(before, i.tree(), "files existed: {files_existed}");
        assert!(!i.realm_has_temp_user());
        i.assert_status_clean();
    }
}

#[test]
fn users_left_by_older_versions_are_reported_and_removed_first() {
    let i = Install::new("https", "  restart: manual\n");
    std::fs::write(
        i.path("elasticsearch/users"),
        "es_secure_oldversion1:$2a$10$abcdefghijklmnopqrstuv\n",
    )
    .unwrap();
    std::fs::write(
        i.path("elasticsearch/users_roles"),
        "superuser:es_secure_oldversion1\n",
    )
    .unwrap();
    let (_, out, _) = i.run(&["status"]);
    assert!(out.contains("es_secure_oldversion1"), "{out}");
    let answers = i.path("answers.yml");
    let (code, _, err) = i.run(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("removed temporary superuser"), "{err}");
    assert!(!i.realm_has_temp_user());
    // Files we did not add to are kept, emptied of our lines only.
    assert_eq!(
        std::fs::read_to_string(i.path("elasticsearch/users")).unwrap(),
        ""
    );
}

#[test]
fn an_interrupted_verify_removes_its_temporary_user() {
    for (name, signals) in SIGNALS {
        let i = Install::new("minimal", "  url: http://127.0.0.1:1\n  restart: manual\n");
        let answers = i.path("answers.yml");
        let mut run = i.spawn(&["verify", "--answers", answers.to_str().unwrap()]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !i.realm_has_temp_user() {
            assert!(Instant::now() < deadline, "{name}: {}", run.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        for sig in signals {
            run.signal(*sig);
            std::thread::sleep(Duration::from_millis(100));
        }
        let code = run.finish(Duration::from_secs(30));
        let stderr = run.stderr();
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(
            stderr.contains("temporary superuser removed"),
            "{name}: {stderr}"
        );
        assert!(!i.realm_has_temp_user(), "{name}");
        i.assert_status_clean();
    }
}

#[test]
fn verify_takes_the_lock() {
    let i = Install::new("minimal", "  url: http://127.0.0.1:1\n  restart: manual\n");
    let answers = i.path("answers.yml");
    let mut first = i.spawn(&["verify", "--answers", answers.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !i.realm_has_temp_user() {
        assert!(Instant::now() < deadline, "{}", first.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut second = i.spawn(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(
        second.finish(Duration::from_secs(30)),
        3,
        "{}",
        second.stderr()
    );
    first.signal(Signal::SIGTERM);
    assert_eq!(first.finish(Duration::from_secs(30)), 4);
}
