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
        c.arg("--kibana-config")
            .arg(self.path("kibana"))
            .timeout(support::run::LIMIT);
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

/// The binary with no scratch install, bounded like every spawned es-secure.
fn bin() -> Command {
    let mut c = Command::cargo_bin("es-secure").unwrap();
    c.timeout(support::run::LIMIT);
    c
}

#[test]
fn version_and_help() {
    bin()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("es-secure "));
    bin()
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
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The fields a script reads: where the config is, the version, the tier and its evidence.
    let es = &v["es"];
    assert_eq!(
        es["config_dir"].as_str(),
        Some(i.path("elasticsearch").to_str().unwrap()),
        "{v:#}"
    );
    assert_eq!(
        es["version"],
        serde_json::json!({"major": 8, "minor": 19, "patch": 21}),
        "{v:#}"
    );
    assert_eq!(es["tier"]["tier"].as_str(), Some("none"), "{v:#}");
    assert!(
        es["tier"]["evidence"]
            .to_string()
            .contains("xpack.security.enabled"),
        "{v:#}"
    );
    assert_eq!(
        v["kibana"]["config_dir"].as_str(),
        Some(i.path("kibana").to_str().unwrap()),
        "{v:#}"
    );
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
    let plan = i
        .cmd()
        .args(["plan", "--answers"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    let dry = i
        .cmd()
        .args(["apply", "--dry-run", "--answers"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("+xpack.security.enabled: true"),
        "the plan is not a plan: {plan:?}"
    );
    // Byte for byte: `--dry-run` is documented as `plan`, so the operator reviews exactly
    // what `plan` would show.
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout),
        String::from_utf8_lossy(&plan.stdout)
    );
    assert_eq!(before, i.es_yml());
    assert!(!i.path("elasticsearch/certs").exists());
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

/// Every file under the scratch install (config, certificates, keystores, state), by path.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &std::path::Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, &mut out);
    out
}

#[test]
fn second_apply_is_nothing_to_do() {
    // The apply can only finish (passwords, verification) against a node: a fake REST
    // endpoint stands in for it here; e2e_real_es.rs does the same on a real node.
    let es = support::fake_es::FakeEs::start();
    let i = Install::new();
    let a = i.path("answers.yml");
    std::fs::write(
        &a,
        format!(
            "version: 1\ntier: basic\nelasticsearch:\n  url: {}\n  allow_partial_cluster: true\nnodes:\n  - name: node-1\n    dns: [node-1.example.internal, localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\n",
            es.url()
        ),
    )
    .unwrap();
    // 1: files written, then "restart pending" (restart: manual).
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7);
    // 2: the operator restarted; the same apply sets the passwords and verifies.
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("[PASS]"));
    assert!(
        es.take()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/_security/user/elastic/_password"),
        "the finishing apply set no password"
    );
    let finished = tree(i.dir.path());
    // 3: the same answers once more: nothing to do, no byte changed, the node not contacted.
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Nothing to do"));
    assert_eq!(
        es.take(),
        Vec::new(),
        "a nothing-to-do apply called the node"
    );
    let again = tree(i.dir.path());
    assert_eq!(
        finished.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &finished {
        assert!(&again[path] == bytes, "{} changed", path.display());
    }
}

#[test]
fn rollback_with_nothing_to_roll_back() {
    let i = Install::new();
    let before = i.es_yml();
    i.cmd()
        .args(["rollback", "--list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("No applies recorded"));
    // The bare `rollback` means "undo the latest apply"; with none it is a refused
    // precondition (exit 3, README's table), naming the state directory, and changes nothing.
    i.cmd()
        .arg("rollback")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no committed apply to roll back"))
        .stderr(predicate::str::contains(
            i.path("state").display().to_string(),
        ));
    assert_eq!(before, i.es_yml());
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

/// `rolling-restart` against a node that is down: exit 3 with the URL, before any temporary
/// superuser is created (the file realm is left as it was) and nothing written.
#[test]
fn rolling_restart_against_a_node_that_is_down_changes_nothing() {
    let i = Install::new();
    let p = i.path("answers.yml");
    std::fs::write(
        &p,
        "version: 1\ntier: minimal\nelasticsearch:\n  url: http://127.0.0.1:1\n",
    )
    .unwrap();
    let before = tree(&i.path("elasticsearch"));
    for side in ["before", "after"] {
        i.cmd()
            .args(["rolling-restart", side, "--answers"])
            .arg(&p)
            .assert()
            .code(3)
            .stderr(
                predicate::str::contains("http://127.0.0.1:1")
                    .and(predicate::str::contains("does not answer")),
            );
    }
    assert_eq!(before, tree(&i.path("elasticsearch")));
}

#[test]
fn plan_json_has_a_schema_version_and_octal_modes() {
    let i = Install::new();
    let a = i.answers("https");
    let out = i
        .cmd()
        .args(["plan", "--json", "--answers"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1, "{v:#}");
    let modes: Vec<&serde_json::Value> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("CreateDir"))
        .map(|d| &d["mode"])
        .collect();
    assert!(!modes.is_empty(), "no directory in the plan: {v:#}");
    for mode in modes {
        let text = mode
            .as_str()
            .unwrap_or_else(|| panic!("mode {mode} is not a string"));
        assert!(
            text.len() == 4 && u32::from_str_radix(text, 8).is_ok(),
            "mode {text} is not octal"
        );
    }
}

#[test]
fn colour_only_on_request_or_a_terminal() {
    let i = Install::new();
    let a = i.answers("https");
    let plan = |env: &[(&str, &str)]| {
        let mut c = i.cmd();
        c.env_remove("NO_COLOR").args(["plan", "--answers"]).arg(&a);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // Not a terminal (a pipe here): no escape codes, so scripts and files get plain text.
    let piped = plan(&[]);
    assert!(!piped.contains('\u{1b}'), "{piped}");
    let forced = plan(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("\u{1b}[32m+xpack.security.enabled: true"),
        "{forced}"
    );
    // NO_COLOR wins over everything (no-color.org).
    let no_color = plan(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(no_color, piped);
}

#[test]
fn wizard_flags_are_refused_next_to_a_command() {
    let i = Install::new();
    i.cmd()
        .args(["--plain", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--plain does not apply to `status`",
        ));
    let a = i.answers("https");
    i.cmd()
        .args(["--ignore-ownership", "apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("put it after `apply`"));
    assert!(!i.path("elasticsearch/certs").exists());
}

#[test]
fn verbose_says_what_was_detected() {
    let i = Install::new();
    i.cmd()
        .args(["status", "-v"])
        .assert()
        .success()
        .stderr(predicate::str::contains("detected: Elasticsearch 8.19.21"))
        .stderr(predicate::str::contains(
            i.path("kibana/kibana.yml").display().to_string(),
        ));
    i.cmd()
        .arg("status")
        .assert()
        .success()
        .stderr(predicate::str::contains("detected:").not());
}

#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef es-secure"),
        ("fish", "complete -c es-secure"),
    ] {
        bin()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker))
            .stdout(predicate::str::contains("rollback"));
    }
    bin()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(".ie"))
        .stdout(predicate::str::contains(".TH es-secure 1"))
        .stdout(predicate::str::contains("completions"));
}

#[test]
fn log_file_has_the_progress_and_no_password() {
    let es = support::fake_es::FakeEs::start();
    let i = Install::new();
    let a = i.path("answers.yml");
    std::fs::write(
        &a,
        format!(
            "version: 1\ntier: basic\nelasticsearch:\n  url: {}\n  allow_partial_cluster: true\nnodes:\n  - name: node-1\n    dns: [localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\npasswords:\n  show: true\n",
            es.url()
        ),
    )
    .unwrap();
    let log = i.path("logs/run.log");
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .arg("--log-file")
        .arg(&log)
        .assert()
        .code(7);
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("Restart Elasticsearch now"), "{first}");
    assert!(first.contains("restart pending: "), "{first}");
    assert!(first.ends_with("exit 7\n"), "{first}");
    // The finishing apply shows the generated passwords once, on stdout only.
    let out = i
        .cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .arg("--log-file")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let passwords: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Passwords (shown once"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_once(": ").map(|(_, pw)| pw))
        .collect();
    assert_eq!(passwords.len(), 6, "{stdout}");
    let second = std::fs::read_to_string(&log).unwrap();
    assert!(
        second.contains("POST /_security/user/elastic/_password"),
        "{second}"
    );
    assert!(second.ends_with("exit 0\n"), "{second}");
    for pw in passwords {
        assert!(!second.contains(pw), "a password is in the log file");
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// `status --check-expiry DAYS` exits 8 when a certificate es-secure wrote expires within DAYS
/// and 0 when none does; `--json` carries each file's not-after date. The fixture's
/// certificates are issued for 5 days (the CA gets the one-year floor).
#[test]
fn check_expiry_exits_8_with_a_short_lived_certificate() {
    let i = Install::new();
    let a = i.answers("https");
    let mut text = std::fs::read_to_string(&a).unwrap();
    text.push_str("certificates:\n  validity_days: 5\n");
    std::fs::write(&a, text).unwrap();
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7);
    let before = tree(i.dir.path());
    i.cmd()
        .args(["status", "--check-expiry", "10"])
        .assert()
        .code(8)
        .stdout(predicate::str::contains("http.crt").and(predicate::str::contains("<- WITHIN")))
        .stderr(predicate::str::contains("expire within 10 days"));
    // 5-day certificates are not within 3 days; neither is the one-year CA.
    i.cmd()
        .args(["status", "--check-expiry", "3"])
        .assert()
        .code(0);
    // The CA (365 days) is within 400 days too.
    let out = i
        .cmd()
        .args(["status", "--json", "--check-expiry", "400"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["expiry"]["rows"].as_array().unwrap();
    let http = rows
        .iter()
        .find(|r| {
            r["file"]
                .as_str()
                .unwrap()
                .ends_with("elasticsearch/certs/http.crt")
        })
        .unwrap();
    assert_eq!(http["within"], true);
    assert!(http["days_left"].as_i64().unwrap() <= 5);
    assert!(http["not_after"].as_str().unwrap().ends_with('Z'));
    assert!(
        rows.iter()
            .any(|r| r["kind"] == "ca" && r["within"] == true)
    );
    assert!(
        rows.iter()
            .any(|r| r["file"].as_str().unwrap().ends_with("transport.crt"))
    );
    assert_eq!(v["expiry"]["within_days"], 400);
    // Read-only: no byte changed.
    assert_eq!(before, tree(i.dir.path()));
}

/// `renew` on a fixture install (no node running): `--dry-run` shows the certificates and
/// changes nothing; `--yes` issues each one again from the same CA with the same subject,
/// SANs, file names and modes, says the node is not running, and `rollback` restores the
/// old files byte-for-byte. `--within` leaves certificates that are not due alone.
#[test]
fn renew_reissues_from_the_same_ca_and_rolls_back() {
    use std::os::unix::fs::PermissionsExt as _;
    let i = Install::new();
    let a = i.answers("https");
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7);
    let http = i.path("elasticsearch/certs/http.crt");
    let before = tree(i.dir.path());
    let info = |p: &std::path::Path| {
        es_secure::shell::certinfo::inspect_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let old = info(&http);
    i.cmd()
        .args(["renew", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("http.crt")
                .and(predicate::str::contains("transport.crt"))
                .and(predicate::str::contains("kibana-server.crt"))
                .and(predicate::str::contains("No restart")),
        );
    assert_eq!(before, tree(i.dir.path()), "--dry-run changed files");
    // Not due within 30 days (the certificates are new): nothing to renew.
    i.cmd()
        .args(["renew", "--yes", "--within", "30"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Nothing to renew"));
    i.cmd().args(["renew", "--yes"]).assert().success().stdout(
        predicate::str::contains("did not answer").and(predicate::str::contains("Renewed")),
    );
    let new = info(&http);
    assert_ne!(old.serial, new.serial);
    assert_eq!(old.subject, new.subject);
    assert_eq!(old.issuer, new.issuer);
    assert_eq!(old.dns, new.dns);
    assert_eq!(old.ip, new.ip);
    assert_eq!(old.key_type, new.key_type);
    assert_eq!(
        old.not_after - old.not_before,
        new.not_after - new.not_before
    );
    let key = i.path("elasticsearch/certs/http.key");
    assert_ne!(before[&key], std::fs::read(&key).unwrap());
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // The renewal is one transaction: rolling it back restores every old byte.
    i.cmd().arg("rollback").assert().success();
    let after = tree(i.dir.path());
    for (p, bytes) in &before {
        if p.starts_with(i.path("elasticsearch")) || p.starts_with(i.path("kibana")) {
            assert_eq!(Some(bytes), after.get(p), "{} not restored", p.display());
        }
    }
}

/// Issue 19: `rotate-ca` on a fixture install (no node running), one phase per run, the phase
/// kept in state.json and shown by `status` / `status --json`: `--dry-run` shows the next
/// phase and changes nothing; (a) a new CA next to the old one and a trust list holding both
/// (same file name); (b) every certificate issued again under the new CA with the same
/// subject and SANs; (c) the trust list holds only the new CA, which is now es-secure's CA
/// (the old CA key is gone from `ca/`). `apply` is refused half-way; rolling back phase (c)
/// makes (c) the next phase again.
#[test]
fn rotate_ca_runs_three_phases_one_per_run() {
    let i = Install::new();
    let a = i.answers("https");
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(7);
    let read = |p: &str| std::fs::read_to_string(i.path(p)).unwrap();
    let info = |pem: &str| es_secure::shell::certinfo::inspect_pem(pem).unwrap();
    let count = |pem: &str| pem.matches("BEGIN CERTIFICATE").count();
    let der = |pem: &str| {
        es_secure::shell::certinfo::cert_ders(pem)
            .unwrap()
            .remove(0)
    };
    let old_ca = read("state/ca/ca.crt");
    let old_key = read("state/ca/ca.key");
    let old_http = info(&read("elasticsearch/certs/http.crt"));
    let before = tree(i.dir.path());
    i.cmd()
        .args(["rotate-ca", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("CA rotation phase (a) trust-both")
                .and(predicate::str::contains("ca-next.crt"))
                .and(predicate::str::contains("elasticsearch/certs/ca.crt"))
                .and(predicate::str::contains("kibana/certs/ca.crt")),
        );
    assert_eq!(before, tree(i.dir.path()), "--dry-run changed files");

    // (a)
    i.cmd()
        .args(["rotate-ca", "--yes"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("CA rotation phase (a) trust-both done")
                .and(predicate::str::contains("New CA SHA-256 fingerprint"))
                .and(predicate::str::contains("did not answer")),
        );
    let new_ca = read("state/ca/ca-next.crt");
    assert_eq!(
        read("state/ca/ca.crt"),
        old_ca,
        "the old CA stays until (c)"
    );
    assert_eq!(read("state/ca/ca.key"), old_key);
    for trust in ["elasticsearch/certs/ca.crt", "kibana/certs/ca.crt"] {
        let t = read(trust);
        let ders = es_secure::shell::certinfo::cert_ders(&t).unwrap();
        assert_eq!(ders.len(), 2, "{trust}: {t}");
        assert_eq!(ders[0], der(&old_ca), "{trust}: the old CA first");
        assert_eq!(ders[1], der(&new_ca), "{trust}: then the new one");
    }
    assert_eq!(
        info(&read("elasticsearch/certs/http.crt")).serial,
        old_http.serial
    );
    i.cmd().arg("status").assert().success().stdout(
        predicate::str::contains("CA rotation:   phase (a) trust-both done").and(
            predicate::str::contains("next: `es-secure rotate-ca` phase (b)"),
        ),
    );
    // Apply would undo half a rotation: refused, nothing changed.
    let mid = tree(i.dir.path());
    i.cmd()
        .args(["apply", "--yes", "--answers"])
        .arg(&a)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("CA rotation is in progress"));
    assert_eq!(mid, tree(i.dir.path()));

    // (b)
    i.cmd()
        .args(["rotate-ca", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "CA rotation phase (b) new-leaves done",
        ));
    let new_subject = info(&new_ca).subject;
    for crt in [
        "elasticsearch/certs/http.crt",
        "elasticsearch/certs/transport.crt",
        "kibana/certs/kibana-server.crt",
    ] {
        let c = info(&read(crt));
        assert_eq!(c.issuer, new_subject, "{crt}");
        es_secure::shell::certinfo::verify_issued_by(&read(crt), &new_ca).unwrap();
    }
    let new_http = info(&read("elasticsearch/certs/http.crt"));
    assert_eq!(new_http.dns, old_http.dns);
    assert_eq!(new_http.ip, old_http.ip);
    assert_eq!(new_http.subject, old_http.subject);
    assert_eq!(count(&read("elasticsearch/certs/ca.crt")), 2);

    // (c)
    let before_c = tree(i.dir.path());
    i.cmd()
        .args(["rotate-ca", "--yes"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("CA rotation phase (c) drop-old done")
                .and(predicate::str::contains("the rotation is complete")),
        );
    assert_eq!(read("state/ca/ca.crt"), new_ca);
    assert_ne!(read("state/ca/ca.key"), old_key);
    assert!(!i.path("state/ca/ca-next.crt").exists());
    assert!(!i.path("state/ca/ca-next.key").exists());
    for trust in ["elasticsearch/certs/ca.crt", "kibana/certs/ca.crt"] {
        assert_eq!(read(trust).trim_end(), new_ca.trim_end(), "{trust}");
    }
    let out = i.cmd().args(["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"]["ca_rotation"]["phase"], "drop-old", "{v}");
    // Renew works with the new CA afterwards.
    i.cmd()
        .args(["renew", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("http.crt"));

    // Rolling back phase (c) restores its files and makes (c) the next phase again.
    i.cmd().arg("rollback").assert().success();
    let after = tree(i.dir.path());
    for (p, bytes) in &before_c {
        if p.starts_with(i.path("elasticsearch"))
            || p.starts_with(i.path("kibana"))
            || p.starts_with(i.path("state/ca"))
        {
            assert_eq!(Some(bytes), after.get(p), "{} not restored", p.display());
        }
    }
    i.cmd()
        .args(["rotate-ca", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("CA rotation phase (c) drop-old"));
}
