//! Binary tests for every command on a scratch fixture install: output is clear, exit codes
//! are the documented ones, and read-only commands change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Self {
        Self {
            dir: support::install::deb_install(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::from_std(support::install::es_secure(self.dir.path(), "nobody"));
        c.arg("--kibana-config").arg(self.path("kibana"));
        c
    }

    fn answers(&self, tier: &str) -> PathBuf {
        let p = self.path("answers.yml");
        std::fs::write(
            &p,
            format!(
                "version: 1\ntier: {tier}\nelasticsearch:\n  allow_partial_cluster: true\nnodes:\n  - name: node-1\n    dns: [node-1.example.internal, localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\nkibana:\n  config_dir: {}\n  public_url: https://kibana.example.internal:5601\n",
                self.path("kibana").display()
            ),
        )
        .unwrap();
        p
    }

    fn es_yml(&self) -> Vec<u8> {
        std::fs::read(self.path("elasticsearch/elasticsearch.yml")).unwrap()
    }
}

#[test]
fn version_and_help() {
    Command::cargo_bin("es-secure")
        .unwrap()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("es-secure "));
    Command::cargo_bin("es-secure")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("plan").and(predicate::str::contains("rollback")));
}

#[test]
fn status_shows_tier_with_evidence() {
    let i = Install::new();
    i.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("8.19.21"))
        .stdout(predicate::str::contains("xpack.security.enabled"));
    let out = i.cmd().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_object());
}

#[test]
fn plan_prints_diff_certs_and_changes_nothing() {
    let i = Install::new();
    let before = i.es_yml();
    let a = i.answers("https");
    i.cmd()
        .arg("plan")
        .arg("--answers")
        .arg(&a)
        .assert()
        .success()
        .stdout(predicate::str::contains("elasticsearch.yml"))
        .stdout(predicate::str::contains("+xpack.security.enabled: true"))
        .stdout(predicate::str::contains("ecdsa-p256"))
        .stdout(predicate::str::contains(
            "POST /_security/user/kibana_system/_password",
        ));
    assert_eq!(before, i.es_yml());
    assert!(!i.path("elasticsearch/certs").exists());
    let out = i
        .cmd()
        .arg("plan")
        .arg("--json")
        .arg("--answers")
        .arg(&a)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
}

#[test]
fn apply_dry_run_is_plan() {
    let i = Install::new();
    let before = i.es_yml();
    let a = i.answers("https");
    i.cmd()
        .args(["apply", "--dry-run", "--answers"])
        .arg(&a)
        .assert()
        .success()
        .stdout(predicate::str::contains("elasticsearch.yml"));
    assert_eq!(before, i.es_yml());
}

#[test]
fn apply_without_yes_and_without_terminal_refuses() {
    let i = Install::new();
    let before = i.es_yml();
    let a = i.answers("https");
    i.cmd()
        .arg("apply")
        .arg("--answers")
        .arg(&a)
        .write_stdin("")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(before, i.es_yml());
}

#[test]
fn apply_then_rollback_restores_bytes() {
    let i = Install::new();
    let before = i.es_yml();
    let kib_before = std::fs::read(i.path("kibana/kibana.yml")).unwrap();
    let a = i.answers("https");
    // restart: manual → files written and committed, then exit 7 (restart pending).
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7)
        .stderr(predicate::str::contains("restart"));
    assert_ne!(before, i.es_yml());
    assert!(i.path("elasticsearch/certs/http.crt").exists());
    i.cmd()
        .args(["rollback", "--list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Committed"));
    i.cmd().arg("rollback").assert().success();
    assert_eq!(before, i.es_yml());
    assert_eq!(
        kib_before,
        std::fs::read(i.path("kibana/kibana.yml")).unwrap()
    );
    assert!(!i.path("elasticsearch/certs/http.crt").exists());
}

#[test]
fn second_apply_is_nothing_to_do() {
    let i = Install::new();
    let a = i.answers("https");
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7);
    let after_first = i.es_yml();
    // The plan for the same answers on the applied install is empty (the restart is what is
    // left, so `plan` says so instead of re-writing anything).
    i.cmd()
        .args(["plan", "--answers"])
        .arg(&a)
        .assert()
        .success()
        .stdout(predicate::str::contains("Nothing to do").or(predicate::str::contains("restart")));
    assert_eq!(after_first, i.es_yml());
}

#[test]
fn rollback_with_nothing_to_roll_back() {
    let i = Install::new();
    i.cmd().args(["rollback", "--list"]).assert().success();
}

#[test]
fn verify_against_a_node_that_is_down_fails_clearly() {
    let i = Install::new();
    let p = i.path("answers.yml");
    std::fs::write(
        &p,
        "version: 1\ntier: minimal\nelasticsearch:\n  url: http://127.0.0.1:1\nauth:\n  method: elastic-password\n  elastic_password: env:ES_SECURE_CLI_TEST_PW\n",
    )
    .unwrap();
    i.cmd()
        .env("ES_SECURE_CLI_TEST_PW", "not-a-real-password-123")
        .arg("verify")
        .arg("--answers")
        .arg(&p)
        .assert()
        .code(6)
        .stdout(predicate::str::contains("FAIL").or(predicate::str::contains("fail")));
}
