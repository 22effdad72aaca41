//! Interrupts against one real Elasticsearch node of the test harness (`tests/support/es.rs`;
//! skipped when it is not prepared). In the health wait after the restart, SIGINT, SIGINT
//! twice, SIGTERM and SIGHUP roll every file back byte for byte and restart the node on the
//! old files (exit 4). In the password phase, the same signals while the first password change is in flight stop at the next step boundary
//! (exit 5) with every password the node accepted in the 0600 file; SIGKILL at the same
//! boundary is finished by re-running. Each case ends with no `es_secure_*` user, `status`
//! clean, and every line of the passwords file a password the node accepts. One node serves
//! all cases (a 2-core machine).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::es::{self, EsVersion, Node, Security, say};
use support::es_secure::{self, USERS, config_tree, passwords, tree};

/// es-secure on `node` under `env --default-signal`: SIGINT/SIGTERM/SIGHUP at their default
/// (a test harness may start children with them ignored), so the signals sent here arrive.
fn command(node: &Node, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("env");
    cmd.arg("--default-signal=INT,TERM,HUP")
        .arg(es_secure::bin())
        .args(args);
    es_secure::on_node(&mut cmd, node, state);
    cmd
}

struct Running {
    child: Child,
    err: PathBuf,
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn finish(&mut self, limit: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or_else(|| -s.signal().unwrap_or(0));
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

fn spawn(node: &Node, state: &Path, args: &[&str], tag: &str) -> Running {
    spawn_env(node, state, args, tag, &[])
}

fn spawn_env(node: &Node, state: &Path, args: &[&str], tag: &str, env: &[(&str, &str)]) -> Running {
    let err = state.join(format!("stderr-{tag}.txt"));
    let child = command(node, state, args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(state.join(format!("stdout-{tag}.txt"))).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    Running { child, err }
}

fn answers(node: &Node, state: &Path, rotate: bool) -> PathBuf {
    answers_with(node, state, rotate, &node.restart_command(), "")
}

fn answers_with(node: &Node, state: &Path, rotate: bool, restart: &str, tag: &str) -> PathBuf {
    let text = format!(
        "version: 1\ntier: minimal\nelasticsearch:\n  url: http://{host}:{port}\n  restart: command\n  restart_command: {restart:?}\n  health_timeout_secs: 400\n  restart_timeout_secs: 400\nnodes:\n  - name: {name}\n    dns: [localhost]\n    ip: [{host}]\nthis_node: {name}\npasswords:\n  output_file: {state}/passwords.txt\n  rotate: {rotate}\n",
        host = node.host(),
        port = node.http_port(),
        name = node.name(),
        state = state.display(),
    );
    let path = state.join(format!("answers-{rotate}{tag}.yml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Wait until the node answers without credentials again: it runs on the old (unsecured)
/// files. A node still on the new files answers 401.
fn wait_unsecured(node: &Node, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        if node
            .get("/_cluster/health", None)
            .is_ok_and(|r| r.status == 200)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the node did not come back on the old files:\n{}",
            node.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The health wait on the real node: the restart command stops the node and returns once it
/// has exited, then starts it in the background (as `systemctl restart` does for a unit that
/// is not `Type=notify`); the node takes its usual ten-odd seconds to start, so es-secure is
/// in its health wait when the signal comes. `flock` serialises that start with the
/// rollback's restart, so the two never start two JVMs at once.
fn health_wait_cases(node: &Node, state: &Path) {
    let script = state.join("restart-async.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\npidfile={pidfile}\nif [ -s \"$pidfile\" ]; then\n  pid=$(cat \"$pidfile\")\n  kill -TERM \"$pid\" 2>/dev/null\n  while kill -0 \"$pid\" 2>/dev/null; do sleep 0.2; done\nfi\nsetsid flock -o {lock} {restart} </dev/null >/dev/null 2>&1 &\n",
            pidfile = node.run_dir().join("es.pid").display(),
            lock = state.join("restart.lock").display(),
            restart = node.restart_command(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let restart = script.display().to_string();
    let a = answers_with(node, state, false, &restart, "-background");
    // On any exit (also a failed assertion) wait for a restart still in flight, so the node the
    // harness stops at the end is the last one started.
    let _settled = Settled(state.join("restart.lock"));
    for (name, signals) in [
        ("SIGINT", &[Signal::SIGINT][..]),
        ("SIGINT x2", &[Signal::SIGINT, Signal::SIGINT][..]),
        ("SIGTERM", &[Signal::SIGTERM][..]),
        ("SIGHUP", &[Signal::SIGHUP][..]),
    ] {
        let before = config_tree(node);
        let mut run = spawn(
            node,
            state,
            &["apply", "--yes", "--answers", a.to_str().unwrap()],
            "health",
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        while !run.stderr().contains("attempt 2") {
            assert!(
                Instant::now() < deadline,
                "{name}: never reached the health wait: {}",
                run.stderr()
            );
            assert!(
                run.child.try_wait().unwrap().is_none(),
                "{name}: ended before the health wait: {}",
                run.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for sig in signals {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(run.child.id()).unwrap()),
                *sig,
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        let code = run.finish(Duration::from_secs(120));
        let stderr = run.stderr();
        say(&format!(
            "{name} in the health wait (real node): exit {code}"
        ));
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(stderr.contains("Rolled back"), "{name}: {stderr}");
        assert!(
            stderr.contains("restarted on the restored files"),
            "{name}: {stderr}"
        );
        if signals.len() > 1 {
            assert!(
                stderr.contains("rolling back, please wait"),
                "{name}: {stderr}"
            );
        }
        assert_no_temp_user(node);
        assert!(
            before == config_tree(node),
            "{name}: the config directory is not byte-identical after the rollback"
        );
        assert!(
            !state.join("passwords.txt").exists(),
            "{name}: no password was changed"
        );
        wait_unsecured(node, name);
        // The rollback's restart holds the lock until its node listens; the next case's
        // restart must not queue behind it while the health wait talks to the old node.
        settle(&state.join("restart.lock"));
        assert_status_clean(node, state);
    }
}

/// Wait (bounded) until no background restart holds `lock`.
fn settle(lock: &Path) {
    let _ = Command::new("timeout")
        .args(["180", "flock"])
        .arg(lock)
        .arg("true")
        .status();
}

struct Settled(PathBuf);

impl Drop for Settled {
    fn drop(&mut self) {
        settle(&self.0);
    }
}

fn authenticates(node: &Node, user: &str, pw: &str) -> bool {
    node.get("/_security/_authenticate", Some((user, pw)))
        .is_ok_and(|r| r.status == 200)
}

fn assert_no_temp_user(node: &Node) {
    for f in ["users", "users_roles"] {
        let text = std::fs::read_to_string(node.config_dir().join(f)).unwrap_or_default();
        assert!(!text.contains("es_secure_"), "{f}: {text}");
    }
}

fn assert_status_clean(node: &Node, state: &Path) {
    let mut r = spawn(node, state, &["status"], "status");
    assert_eq!(r.finish(Duration::from_secs(60)), 0, "{}", r.stderr());
    let out = std::fs::read_to_string(state.join("stdout-status.txt")).unwrap();
    assert!(
        !out.contains("INCOMPLETE") && !out.contains("LEFTOVER"),
        "{out}"
    );
}

/// Wait until the passwords file exists: es-secure writes it just before the first change.
fn wait_for_first_password(state: &Path, run: &Running) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !state.join("passwords.txt").exists() {
        assert!(Instant::now() < deadline, "{}", run.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupts_in_the_password_phase_keep_every_accepted_password() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let node = Node::builder(EsVersion::V8, "interrupts_pw")
        .security(Security::Disabled)
        .started();
    let state = es_secure::state_dir();
    let state = state.path();

    // 0. The health wait after the restart: each signal rolls every file back and restarts
    //    the node on the old files (exit 4).
    health_wait_cases(&node, state);

    // 1. SIGINT while the first password change is in flight: that change completes, the
    //    apply stops at the next step boundary, exit 5 with the command that finishes.
    let a = answers(&node, state, false);
    let mut run = spawn(
        &node,
        state,
        &["apply", "--yes", "--answers", a.to_str().unwrap()],
        "sigint",
    );
    wait_for_first_password(state, &run);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(run.child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let code = run.finish(Duration::from_secs(300));
    let stderr = run.stderr();
    say(&format!("SIGINT in the password phase: exit {code}"));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("received: stopping after the current step"),
        "{stderr}"
    );
    assert!(stderr.contains("interrupted before step"), "{stderr}");
    assert!(stderr.contains("es-secure apply --answers"), "{stderr}");
    assert_no_temp_user(&node);
    // Every password in the file is one Elasticsearch accepted (the change in flight
    // completed, nothing after it started), and the apply did stop early.
    let pw = passwords(state);
    assert!(!pw.is_empty());
    for (u, p) in &pw {
        assert!(
            authenticates(&node, u, p),
            "{u} in the file but not accepted: {pw:?}"
        );
    }
    assert!(pw.len() < USERS.len(), "the apply did stop early: {pw:?}");
    assert_status_clean(&node, state);

    // The same apply finishes; the file then holds all six, the first ones kept.
    let mut rerun = spawn(
        &node,
        state,
        &["apply", "--yes", "--answers", a.to_str().unwrap()],
        "rerun",
    );
    assert_eq!(
        rerun.finish(Duration::from_secs(600)),
        0,
        "{}",
        rerun.stderr()
    );
    let pw = passwords(state);
    for u in USERS {
        assert!(authenticates(&node, u, &pw[u]), "{u} after the re-run");
    }
    assert_no_temp_user(&node);

    // 2. The other signals in the same phase, passwords rotated each time: SIGINT twice,
    //    SIGTERM, SIGHUP all stop at a step boundary with exit 5; every line of the file is a
    //    password the node accepts.
    let rotate = answers(&node, state, true);
    for (name, signals) in [
        ("SIGINT x2", &[Signal::SIGINT, Signal::SIGINT][..]),
        ("SIGTERM", &[Signal::SIGTERM][..]),
        ("SIGHUP", &[Signal::SIGHUP][..]),
    ] {
        // The file is kept: users this run does not reach keep their (still valid) lines.
        let before = std::fs::read(state.join("passwords.txt")).unwrap();
        let mut run = spawn(
            &node,
            state,
            &["apply", "--yes", "--answers", rotate.to_str().unwrap()],
            "signal",
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        while std::fs::read(state.join("passwords.txt")).is_ok_and(|b| b == before) {
            assert!(Instant::now() < deadline, "{name}: {}", run.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        for (i, sig) in signals.iter().enumerate() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(run.child.id()).unwrap()),
                *sig,
            )
            .unwrap();
            if i + 1 < signals.len() {
                // The next signal as soon as the first is announced: a fixed pause could
                // outlast the stop itself (the current password call takes milliseconds now),
                // and then the second signal would find nothing to interrupt.
                let until = Instant::now() + Duration::from_secs(10);
                while !run.stderr().contains("stopping after the current step") {
                    assert!(Instant::now() < until, "{name}: {}", run.stderr());
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let code = run.finish(Duration::from_secs(300));
        let stderr = run.stderr();
        say(&format!("{name} in the password phase: exit {code}"));
        assert_eq!(code, 5, "{name}: {stderr}");
        if signals.len() > 1 {
            assert!(stderr.contains("stopping, please wait"), "{name}: {stderr}");
        }
        assert_no_temp_user(&node);
        let pw = passwords(state);
        assert_eq!(pw.len(), USERS.len(), "{name}: {pw:?}");
        for (u, p) in &pw {
            assert!(authenticates(&node, u, p), "{name}: {u} not accepted");
        }
        assert_status_clean(&node, state);
    }

    // 3. SIGKILL at the same boundary (passwords rotated): the temporary user stays behind;
    //    the next run removes it first, finishes, and the file holds every password.
    std::fs::remove_file(state.join("passwords.txt")).unwrap();
    let mut run = spawn(
        &node,
        state,
        &["apply", "--yes", "--answers", rotate.to_str().unwrap()],
        "kill",
    );
    wait_for_first_password(state, &run);
    run.child.kill().unwrap();
    let _ = run.finish(Duration::from_secs(60));
    let mut rerun = spawn(
        &node,
        state,
        &["apply", "--yes", "--answers", rotate.to_str().unwrap()],
        "after-kill",
    );
    assert_eq!(
        rerun.finish(Duration::from_secs(600)),
        0,
        "{}",
        rerun.stderr()
    );
    assert!(
        rerun.stderr().contains("removed temporary superuser"),
        "{}",
        rerun.stderr()
    );
    let pw = passwords(state);
    for u in USERS {
        assert!(
            authenticates(&node, u, &pw[u]),
            "{u} after the kill and re-run"
        );
    }
    assert_no_temp_user(&node);
    assert_status_clean(&node, state);

    // 4. Fault injection past the restart, at every side-effect point of a password rotation
    //    (temporary superuser in place; each password on disk before its REST call; each
    //    password accepted before it is marked done): an injected error stops cleanly, a
    //    SIGKILL is finished by the next run, and the file always lets every user in.
    if cfg!(feature = "fault-injection") {
        rest_fault_points(&node, state, &rotate);
    }
}

/// Every user of the passwords file logs in with its line, or — for a change es-secure did
/// not see confirmed — with its `USER.previous` line.
fn assert_file_lets_everyone_in(node: &Node, state: &Path, what: &str) {
    let pw = passwords(state);
    for u in USERS {
        let now = pw.get(u).is_some_and(|p| authenticates(node, u, p));
        let previous = pw
            .get(&format!("{u}.previous"))
            .is_some_and(|p| authenticates(node, u, p));
        assert!(now || previous, "{what}: no line of the file lets {u} in");
    }
}

fn rest_fault_points(node: &Node, state: &Path, rotate: &Path) {
    let apply = ["apply", "--yes", "--answers", rotate.to_str().unwrap()];
    let mut points = 0;
    for n in 1.. {
        let at = n.to_string();
        let mut run = spawn_env(
            node,
            state,
            &apply,
            "fault",
            &[("ES_SECURE_FAULT_REST_AT", &at)],
        );
        let code = run.finish(Duration::from_secs(300));
        let stderr = run.stderr();
        if code == 0 {
            break; // past the last point
        }
        let what = format!("error at point {n}");
        assert!(
            stderr.contains("injected fault"),
            "{what}: exit {code}: {stderr}"
        );
        // In place before the commit (the health wait) rolls back; after it, a partial stop.
        let expected = if stderr.contains("temporary superuser is in place") {
            4
        } else {
            5
        };
        assert_eq!(code, expected, "{what}: {stderr}");
        assert_no_temp_user(node);
        assert_file_lets_everyone_in(node, state, &what);
        assert_status_clean(node, state);

        points += 1;
        // A SIGKILL at the first point of each kind (temporary superuser, password on disk
        // before its call, password accepted before it is marked done): the rest repeat them.
        if n > 3 {
            continue;
        }
        let what = format!("SIGKILL at point {n}");
        let mut run = spawn_env(
            node,
            state,
            &apply,
            "fault-kill",
            &[
                ("ES_SECURE_FAULT_REST_AT", &at),
                ("ES_SECURE_FAULT_REST_MODE", "kill"),
            ],
        );
        assert_eq!(
            run.finish(Duration::from_secs(300)),
            -9,
            "{what}: {}",
            run.stderr()
        );
        assert_file_lets_everyone_in(node, state, &what);
        let mut rerun = spawn(node, state, &apply, "fault-rerun");
        assert_eq!(
            rerun.finish(Duration::from_secs(300)),
            0,
            "{what}: {}",
            rerun.stderr()
        );
        assert_no_temp_user(node);
        let pw = passwords(state);
        for u in USERS {
            assert!(
                authenticates(node, u, &pw[u]),
                "{what}: {u} after the re-run"
            );
        }
        assert!(
            !pw.keys().any(|k| k.ends_with(".previous")),
            "{what}: a finished run leaves no unconfirmed line"
        );
    }
    say(&format!(
        "{points} side-effect points after the restart: an error at each and a SIGKILL at each kind recovered"
    ));
    // The temporary superuser; each group of changes on disk before its calls (the first
    // change alone, then the other five together); each of the six accepted.
    assert!(points >= 9, "only {points} side-effect points");
}

/// Every regular file under `dir`, by path (for "restored byte-for-byte").
/// Issue 19: SIGINT while `renew` waits for the node to serve the new certificates rolls the
/// renewal back like an apply: exit 4, every file of the config directory byte-for-byte as
/// before (certificates, keys, users, users_roles), no temporary user, the node not
/// restarted. The node reloads its files only every 60 s here, so the renewal cannot
/// finish before the interrupt.
#[test]
fn renew_interrupted_while_waiting_rolls_back() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "interrupts_renew")
        .security(Security::Disabled)
        .started();
    let state = es_secure::state_dir();
    let state = state.path();
    let a = state.join("answers-https.yml");
    std::fs::write(
        &a,
        format!(
            "version: 1\ntier: https\nelasticsearch:\n  url: https://{host}:{port}\n  restart: command\n  restart_command: {restart}\n  health_timeout_secs: 400\n  restart_timeout_secs: 400\nnodes:\n  - name: {name}\n    dns: [localhost]\n    ip: [{host}]\nthis_node: {name}\npasswords:\n  output_file: {state}/passwords.txt\n",
            host = node.host(),
            port = node.http_port(),
            restart = node.restart_command(),
            name = node.name(),
            state = state.display(),
        ),
    )
    .unwrap();
    let mut run = spawn(
        &node,
        state,
        &["apply", "--yes", "--answers", a.to_str().unwrap()],
        "apply",
    );
    assert_eq!(run.finish(Duration::from_secs(900)), 0, "{}", run.stderr());
    // Slow reloads, so the renewal is still waiting when the interrupt comes.
    node.stop().unwrap();
    node.append_config("resource.reload.interval.high: 60s\n")
        .unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();
    let pid = node.pid();
    let before = tree(&node.config_dir());

    let mut run = spawn(&node, state, &["renew", "--yes"], "renew");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.stderr().contains("waiting for Elasticsearch") {
        assert!(
            Instant::now() < deadline,
            "renew never started waiting:\n{}",
            run.stderr()
        );
        assert!(run.child.try_wait().unwrap().is_none(), "{}", run.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(run.stderr().contains("wrote"), "{}", run.stderr());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(run.child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let code = run.finish(Duration::from_secs(120));
    let err = run.stderr();
    say(&format!("renew after SIGINT: exit {code}"));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("Rolled back"), "{err}");
    let after = tree(&node.config_dir());
    for (p, bytes) in &before {
        assert_eq!(Some(bytes), after.get(p), "{} not restored", p.display());
    }
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_no_temp_user(&node);
    assert_eq!(node.pid(), pid, "the node was restarted");
    assert_status_clean(&node, state);
    node.stop().unwrap();
}
