//! Binary tests of `rolling-restart before|after` against the fake REST endpoint: the shard
//! allocation change is journaled and recorded in state.json before it happens, `after`
//! clears the record, and a failed `before` rolls back, which enables allocation again with
//! the command's own (authenticated) client. The REST procedure on a real cluster is checked
//! by scripts/test-ansible.sh (three nodes restarted one at a time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use support::fake_es::{FakeEs, Request};

fn answers(dir: &Path, es: &FakeEs) -> PathBuf {
    let p = dir.join("answers.yml");
    std::fs::write(
        &p,
        format!(
            "version: 1\ntier: basic\nelasticsearch:\n  url: {}\n  allow_partial_cluster: true\nnodes:\n  - name: node-1\n    dns: [localhost]\n    ip: [127.0.0.1]\nthis_node: node-1\n",
            es.url()
        ),
    )
    .unwrap();
    p
}

fn rolling(dir: &Path, side: &str, answers: &Path) -> Command {
    let mut c = Command::from_std(support::install::es_secure(dir, "nobody"));
    c.args(["rolling-restart", side, "--answers"])
        .arg(answers)
        .timeout(support::run::LIMIT);
    c
}

fn allocation_disabled(dir: &Path) -> bool {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state/state.json")).unwrap()).unwrap();
    state["allocation_disabled"].as_bool().unwrap()
}

/// The `PUT _cluster/settings` requests, in order (the fake does not keep bodies: the count
/// and order tell primaries from null here).
fn settings_puts(log: &[Request]) -> usize {
    log.iter()
        .filter(|r| r.method == "PUT" && r.path == "/_cluster/settings")
        .count()
}

fn transactions(dir: &Path) -> String {
    let out = Command::from_std(support::install::es_secure(dir, "nobody"))
        .args(["rollback", "--list"])
        .timeout(support::run::LIMIT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn before_journals_the_allocation_change_and_after_clears_it() {
    let es = FakeEs::start();
    let install = support::install::deb_install();
    let dir = install.path();
    let a = answers(dir, &es);
    rolling(dir, "before", &a)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("flushed"));
    let log = es.take();
    assert_eq!(settings_puts(&log), 1, "{log:?}");
    assert!(
        log.iter()
            .any(|r| r.method == "POST" && r.path == "/_flush")
    );
    // The later run knows: state.json says allocation is limited, and the journal has it.
    assert!(allocation_disabled(dir), "state.json does not record it");
    let list = transactions(dir);
    assert!(
        list.contains("Committed  rolling-restart"),
        "no rolling-restart transaction: {list}"
    );
    rolling(dir, "after", &a)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("shard allocation enabled again"));
    assert_eq!(settings_puts(&es.take()), 1);
    assert!(!allocation_disabled(dir), "`after` left the record set");
    // `rollback` without an id is about applies: it does not pick the rolling restart's
    // journal (there is no apply here, so it refuses).
    Command::from_std(support::install::es_secure(dir, "nobody"))
        .arg("rollback")
        .timeout(support::run::LIMIT)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no committed apply"));
}

#[test]
fn a_failed_flush_rolls_back_and_enables_allocation_again() {
    let es = FakeEs::failing("/_flush");
    let install = support::install::deb_install();
    let dir = install.path();
    let a = answers(dir, &es);
    rolling(dir, "before", &a).assert().code(3).stderr(
        predicate::str::contains("flushing before the restart")
            .and(predicate::str::contains("shard allocation enabled again")),
    );
    let log = es.take();
    // Primaries, then the rollback's null, both authenticated (the cluster is secured).
    assert_eq!(settings_puts(&log), 2, "{log:?}");
    assert!(
        log.iter()
            .filter(|r| r.path == "/_cluster/settings")
            .all(|r| r.user.is_some()),
        "{log:?}"
    );
    assert!(!allocation_disabled(dir), "state.json still says limited");
    let list = transactions(dir);
    assert!(
        list.contains("RolledBack  rolling-restart"),
        "the transaction was not rolled back: {list}"
    );
}
