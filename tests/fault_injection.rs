//! Faults at every mutation boundary of a real `es-secure apply` (the binary, on a scratch
//! fixture install): an injected error must roll everything back byte-for-byte (exit 4), and
//! a hard kill (`SIGKILL`) at every boundary and phase must leave each file old-or-new and be
//! undone by `es-secure rollback`. The switches are the test-only environment variables
//! documented in `src/shell/txn.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Output;

type Tree = BTreeMap<PathBuf, (Option<Vec<u8>>, u32, u32, u32)>;

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Self {
        let dir = support::install::deb_install();
        let answers = format!(
            "version: 1\ntier: https\nelasticsearch:\n  allow_partial_cluster: true\nnodes:\n  - name: node-1\n    dns: [node-1.example.internal, localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\nkibana:\n  config_dir: {}\n  public_url: https://kibana.example.internal:5601\n",
            dir.path().join("kibana").display()
        );
        std::fs::write(dir.path().join("answers.yml"), answers).unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        let mut cmd = support::install::es_secure(self.dir.path(), "nobody");
        cmd.args(args)
            .arg("--kibana-config")
            .arg(self.path("kibana"))
            .env_remove("ES_SECURE_FAULT_AT")
            .env_remove("ES_SECURE_FAULT_KILL_AT")
            .env_remove("ES_SECURE_FAULT_KILL_PHASE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        support::run::output(&mut cmd)
    }

    fn apply(&self, env: &[(&str, String)]) -> Output {
        let answers = self.path("answers.yml");
        self.run(
            &["apply", "--yes", "--answers", answers.to_str().unwrap()],
            env,
        )
    }

    /// The install (not es-secure's own state): bytes, mode and owner of every entry.
    fn tree(&self) -> Tree {
        let mut out = BTreeMap::new();
        for top in ["elasticsearch", "kibana"] {
            let mut stack = vec![self.path(top)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    let m = std::fs::symlink_metadata(&p).unwrap();
                    let bytes = m.is_file().then(|| std::fs::read(&p).unwrap());
                    if m.is_dir() {
                        stack.push(p.clone());
                    }
                    out.insert(p, (bytes, m.mode(), m.uid(), m.gid()));
                }
            }
        }
        out
    }
}

/// How many mutations a full apply makes: the first N with no fault left that succeeds.
fn mutation_count() -> usize {
    for n in 1..200 {
        let i = Install::new();
        let out = i.apply(&[("ES_SECURE_FAULT_AT", n.to_string())]);
        if out.status.code() != Some(4) {
            assert_eq!(
                out.status.code(),
                Some(7),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return n - 1;
        }
    }
    panic!("apply never finished");
}

#[test]
fn an_error_at_every_boundary_rolls_back_byte_for_byte() {
    let mut boundaries = 0;
    for n in 1.. {
        let i = Install::new();
        let before = i.tree();
        let out = i.apply(&[("ES_SECURE_FAULT_AT", n.to_string())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(7) {
            break; // past the last mutation: the apply completed (restart pending)
        }
        assert_eq!(out.status.code(), Some(4), "fault at {n}: {stderr}");
        assert!(stderr.contains("Rolled back"), "fault at {n}: {stderr}");
        assert_eq!(before, i.tree(), "fault at {n} left changes");
        boundaries += 1;
    }
    eprintln!("{boundaries} mutation boundaries, each rolled back byte-for-byte");
    assert!(boundaries >= 10, "only {boundaries} boundaries");
}

#[test]
fn a_sigkill_at_every_boundary_is_undone_by_rollback() {
    let count = mutation_count();
    let mut points = 0;
    for n in 1..=count {
        for phase in ["before", "after-backup", "after-write"] {
            let i = Install::new();
            let before = i.tree();
            let out = i.apply(&[
                ("ES_SECURE_FAULT_KILL_AT", n.to_string()),
                ("ES_SECURE_FAULT_KILL_PHASE", phase.to_string()),
            ]);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(9), "kill at {n}/{phase}");
            let rb = i.run(&["rollback"], &[]);
            assert!(
                rb.status.success(),
                "rollback after kill at {n}/{phase}: {}",
                String::from_utf8_lossy(&rb.stderr)
            );
            assert_eq!(before, i.tree(), "kill at {n}/{phase}: not restored");
            // And the install reads cleanly again.
            let status = i.run(&["status"], &[]);
            assert!(
                status.status.success(),
                "status after rollback at {n}/{phase}: {}",
                String::from_utf8_lossy(&status.stderr)
            );
            points += 1;
        }
    }
    eprintln!("{points} kill points ({count} mutations x 3 phases), each undone by rollback");
}

/// `SIGTERM` while apply is busy (here: inside a slow restart command) → an orderly
/// rollback at the next step boundary, a message saying what was restored, exit 4.
#[test]
fn sigterm_during_apply_rolls_back_in_order() {
    let i = Install::new();
    let before = i.tree();
    let answers = std::fs::read_to_string(i.path("answers.yml"))
        .unwrap()
        .replacen(
            "elasticsearch:\n",
            "elasticsearch:\n  restart: command\n  restart_command: sleep 4\n  health_timeout_secs: 5\n",
            1,
        );
    std::fs::write(i.path("answers.yml"), answers).unwrap();
    let answers = i.path("answers.yml");
    let child = support::install::es_secure(i.dir.path(), "nobody")
        .args(["apply", "--yes", "--answers", answers.to_str().unwrap()])
        .arg("--kibana-config")
        .arg(i.path("kibana"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the restart step has started (the files are written by then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !i.path("elasticsearch/certs/http.crt").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "apply never wrote files"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = support::run::wait_output_within(child, support::run::LIMIT, "es-secure apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("Rolled back"), "{stderr}");
    assert_eq!(before, i.tree(), "files not restored after SIGTERM");
}

/// Issue 19: each phase of `rotate-ca` (on a fixture install; no node running, so each phase
/// is only its files) is one transaction. An injected error at every mutation boundary of
/// phase (a), (b) and (c) rolls the install *and* es-secure's CA directory back
/// byte-for-byte (exit 4) and leaves the recorded phase as it was, so the re-run does the same
/// phase again; a SIGKILL inside each phase is undone by `rollback` the same way.
#[test]
fn an_interrupted_rotate_ca_phase_rolls_back_byte_for_byte() {
    use std::os::unix::process::ExitStatusExt;
    let ca_tree = |i: &Install| -> Tree {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(i.path("state/ca")).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.insert(
                p.clone(),
                (Some(std::fs::read(&p).unwrap()), m.mode(), m.uid(), m.gid()),
            );
        }
        out
    };
    let phase_of = |i: &Install| {
        let st = std::fs::read_to_string(i.path("state/state.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&st).unwrap();
        v["ca_rotation"]["phase"].as_str().map(str::to_string)
    };
    let i = Install::new();
    assert_eq!(i.apply(&[]).status.code(), Some(7));
    let mut total = 0;
    for (label, recorded) in [
        ("(a) trust-both", "trust-both"),
        ("(b) new-leaves", "new-leaves"),
        ("(c) drop-old", "drop-old"),
    ] {
        // A kill in the middle of the phase (after the second file was written): `rollback`
        // restores everything, nothing is recorded.
        let before = (i.tree(), ca_tree(&i), phase_of(&i));
        let out = i.run(
            &["rotate-ca", "--yes"],
            &[
                ("ES_SECURE_FAULT_KILL_AT", "2".to_string()),
                ("ES_SECURE_FAULT_KILL_PHASE", "after-write".to_string()),
            ],
        );
        assert_eq!(out.status.signal(), Some(9), "{label}: {out:?}");
        let rb = i.run(&["rollback"], &[]);
        assert!(rb.status.success(), "{label}: {rb:?}");
        assert_eq!(
            before,
            (i.tree(), ca_tree(&i), phase_of(&i)),
            "{label}: kill"
        );
        let mut boundaries = 0;
        for n in 1.. {
            let before = (i.tree(), ca_tree(&i), phase_of(&i));
            let out = i.run(
                &["rotate-ca", "--yes"],
                &[("ES_SECURE_FAULT_AT", n.to_string())],
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code() == Some(0) {
                assert!(
                    stdout.contains(&format!("CA rotation phase {label} done")),
                    "{stdout}"
                );
                assert_eq!(phase_of(&i).as_deref(), Some(recorded));
                break;
            }
            assert_eq!(
                out.status.code(),
                Some(4),
                "{label}, fault at {n}: {stderr}"
            );
            assert!(
                stderr.contains("Rolled back"),
                "{label}, fault at {n}: {stderr}"
            );
            assert_eq!(
                before,
                (i.tree(), ca_tree(&i), phase_of(&i)),
                "{label}: fault at {n} left changes"
            );
            boundaries += 1;
        }
        eprintln!("rotate-ca {label}: {boundaries} boundaries, each rolled back byte-for-byte");
        assert!(boundaries >= 3, "{label}: only {boundaries} boundaries");
        total += boundaries;
    }
    assert!(total >= 12, "{total}");
}
