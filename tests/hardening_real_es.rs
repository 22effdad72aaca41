//! The `hardening` answers against one real Elasticsearch 8.19 node, reused for every case
//! (a node start costs minutes on the shared machine):
//! 1. on the node's Basic license, answers with audit logging and IP filtering are refused
//!    with the license message, and nothing under the config directory changes;
//! 2. after `POST _license/start_trial`, the same answers apply (https tier): a failed login
//!    shows up as `authentication_failed` in `<cluster>_audit.json`; with an HTTP allow list
//!    of 127.0.0.1 a request from 127.0.0.2 is refused (and audited as `connection_denied`)
//!    while 127.0.0.1 works; a TLS 1.1 handshake is refused while 1.2 and 1.3 succeed, and
//!    only the listed cipher suites complete a handshake (`openssl s_client`);
//! 3. back on Basic (`start_basic`) with security on, a re-run that changes the allow list
//!    reads the license as the temporary superuser, is refused, and changes nothing.
//!
//! TLS 1.1 is also disabled by the bundled JDK, so its refusal shows the node's effective
//! posture; es-secure's `supported_protocols` is checked in elasticsearch.yml (Elasticsearch
//! hides `…ssl.*` from `GET _nodes/settings`, which shows the audit and filter settings).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::es::{self, EsVersion, Node, Security, say};
use support::es_secure::{self, apply, elastic_password, tree};

/// https-tier answers for the single node, with every Gold hardening layer and TLS versions.
fn hardened_answers(node: &Node, state: &Path) -> PathBuf {
    support::es_secure::answers_file(
        node,
        &[node],
        "https",
        state,
        "hardening:
  audit: {}
  tls_protocols: [TLSv1.3, TLSv1.2]
  tls_cipher_suites: [TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]
  ip_filter:
    http_allow: [127.0.0.1]
",
        "answers-hardened.yml",
    )
}

/// `status --json --answers` on the node: the posture's license and the row of `layer`.
fn status_posture(node: &Node, state: &Path, answers: &Path) -> serde_json::Value {
    let args = ["status", "--json", "--answers", answers.to_str().unwrap()];
    let out = support::run::output_within(
        &mut es_secure::command(node, state, &args),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    v["posture"].clone()
}

fn posture_row<'a>(posture: &'a serde_json::Value, layer: &str) -> &'a serde_json::Value {
    posture["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["layer"] == layer)
        .unwrap_or_else(|| panic!("no {layer} row: {posture:#}"))
}

/// `curl` over HTTPS with our CA, from `source` (a loopback address); the HTTP status, or
/// `None` when no HTTP answer came (connection refused or closed).
fn curl_status(node: &Node, source: &str, path: &str, user: &str, pw: &str) -> Option<u16> {
    let out = support::run::output_within(
        Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "20",
            ])
            .args(["--interface", source, "--cacert"])
            .arg(node.config_dir().join("certs/ca.crt"))
            .args(["-u", &format!("{user}:{pw}")])
            .arg(format!("https://127.0.0.1:{}{path}", node.http_port())),
        Duration::from_secs(30),
    );
    let code: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (code != 0).then_some(code)
}

/// Whether an `openssl s_client` handshake with `flag` (`-tls1_1`, …) completes.
fn handshake(node: &Node, flag: &str) -> (bool, String) {
    // Let the client offer old versions at all (OpenSSL 3 refuses them by default at security
    // level 1), so a refusal is the server's.
    handshake_with(node, &[flag, "-cipher", "DEFAULT:@SECLEVEL=0"])
}

/// Whether an `openssl s_client` handshake with these options completes.
fn handshake_with(node: &Node, options: &[&str]) -> (bool, String) {
    let out = support::run::output_within(
        Command::new("openssl")
            .args(["s_client", "-brief"])
            .args(options)
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", node.http_port()))
            .arg("-CAfile")
            .arg(node.config_dir().join("certs/ca.crt"))
            .stdin(std::process::Stdio::null()),
        Duration::from_secs(30),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Protocol version"),
        text,
    )
}

/// Wait up to 60 s for the audit log to hold a line with all of `needles`.
fn audit_line(node: &Node, needles: &[&str]) -> Option<String> {
    let file = node
        .logs_dir()
        .join(format!("{}_audit.json", node.cluster_name()));
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return Some(line.to_string());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    None
}

#[test]
fn license_gate_audit_ip_filter_and_tls_versions_on_one_node() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "hardening")
        .security(Security::Disabled)
        .started();
    let state = es_secure::state_dir();
    let answers = hardened_answers(&node, state.path());

    // 1. Basic license: refused with the reason and the options, nothing changed.
    // A fresh cluster installs its basic license a moment after it starts.
    let t0 = Instant::now();
    let license = loop {
        let r = node.get("/_license", None).unwrap();
        if r.body.contains("\"type\"") || t0.elapsed() > Duration::from_secs(60) {
            break r;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(license.body.contains("\"basic\""), "{}", license.body);
    // Control: before the filter, a request from 127.0.0.2 is answered.
    let control = support::run::output_within(
        Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "20",
            ])
            .args(["--interface", "127.0.0.2"])
            .arg(format!(
                "http://127.0.0.1:{}/_cluster/health",
                node.http_port()
            )),
        Duration::from_secs(30),
    );
    assert_eq!(String::from_utf8_lossy(&control.stdout).trim(), "200");
    let before = tree(&node.config_dir());
    let run = apply(&node, state.path(), &answers);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("license is `basic`"), "{run:?}");
    assert!(run.stderr.contains("start_trial"), "{run:?}");
    assert!(run.stderr.contains("nothing was changed"), "{run:?}");
    assert_eq!(
        tree(&node.config_dir()),
        before,
        "a refused apply changed files"
    );

    // 2. Trial license: the same answers apply.
    let trial = node
        .request("POST", "/_license/start_trial?acknowledge=true", None, None)
        .unwrap();
    assert!(
        trial.body.contains("\"trial_was_started\":true"),
        "{}",
        trial.body
    );
    let run = apply(&node, state.path(), &answers);
    assert_eq!(run.code, 0, "{run:?}");
    let pw = elastic_password(state.path());

    // The settings reached the node.
    let settings = support::run::output_within(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(node.config_dir().join("certs/ca.crt"))
            .args(["-u", &format!("elastic:{pw}")])
            .arg(format!(
                "https://127.0.0.1:{}/_nodes/settings?flat_settings",
                node.http_port()
            )),
        Duration::from_secs(30),
    );
    let settings = String::from_utf8_lossy(&settings.stdout).into_owned();
    for expected in [
        "\"xpack.security.audit.enabled\":\"true\"",
        "\"xpack.security.http.filter.allow\":[\"127.0.0.1\"]",
        "\"xpack.security.transport.filter.deny\":[\"_all\"]",
    ] {
        assert!(settings.contains(expected), "{expected}: {settings}");
    }
    // Elasticsearch filters `…ssl.*` out of that API: the file shows what the node read.
    let yml = std::fs::read_to_string(node.elasticsearch_yml()).unwrap();
    assert!(
        yml.contains("xpack.security.http.ssl.supported_protocols: [\"TLSv1.3\", \"TLSv1.2\"]"),
        "{yml}"
    );

    // A failed login is audited.
    assert_eq!(
        curl_status(&node, "127.0.0.1", "/", "elastic", "not-the-password"),
        Some(401)
    );
    let line = audit_line(&node, &["authentication_failed", "\"elastic\""]);
    assert!(line.is_some(), "no authentication_failed event for elastic");

    // HTTP allow list 127.0.0.1: another loopback source is refused, 127.0.0.1 works.
    assert_eq!(
        curl_status(&node, "127.0.0.1", "/_cluster/health", "elastic", &pw),
        Some(200)
    );
    assert_eq!(
        curl_status(&node, "127.0.0.2", "/_cluster/health", "elastic", &pw),
        None,
        "a request from 127.0.0.2 got an HTTP answer"
    );
    let denied = audit_line(&node, &["connection_denied", "127.0.0.2"]);
    assert!(denied.is_some(), "no connection_denied event for 127.0.0.2");

    // TLS versions.
    let (ok11, text11) = handshake(&node, "-tls1_1");
    assert!(!ok11, "TLS 1.1 handshake completed:\n{text11}");
    // The client did offer TLS 1.1: the refusal is the server's, not OpenSSL's own policy.
    assert!(!text11.contains("no protocols available"), "{text11}");
    say(&format!("TLS 1.1 attempt: {}", text11.trim()));
    for flag in ["-tls1_2", "-tls1_3"] {
        let (ok, text) = handshake(&node, flag);
        assert!(ok, "{flag} handshake failed:\n{text}");
    }
    // Cipher suites: only the listed ones complete, in both TLS versions (OpenSSL names here).
    for (options, listed) in [
        (
            ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
            true,
        ),
        (
            ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
            false,
        ),
        (["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"], true),
        (
            ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
            false,
        ),
    ] {
        let (ok, text) = handshake_with(&node, &options);
        assert_eq!(ok, listed, "{options:?}:\n{text}");
    }

    // `status` reads the trial license (as elastic, from the passwords file) and judges the
    // audit and IP filter rows by it.
    let posture = status_posture(&node, state.path(), &answers);
    assert_eq!(posture["license"]["type"], "trial", "{posture:#}");
    assert_eq!(posture["license"]["status"], "active", "{posture:#}");
    for layer in ["audit logging", "IP filtering"] {
        assert_eq!(posture_row(&posture, layer)["level"], "ok", "{posture:#}");
    }

    // 3. Back on Basic, with security on: a re-run that changes a Gold setting reads the
    //    license as the temporary superuser over HTTPS, refuses, and changes nothing.
    let basic = support::run::output_within(
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "-X", "POST", "--cacert"])
            .arg(node.config_dir().join("certs/ca.crt"))
            .args(["-u", &format!("elastic:{pw}")])
            .arg(format!(
                "https://127.0.0.1:{}/_license/start_basic?acknowledge=true",
                node.http_port()
            )),
        Duration::from_secs(40),
    );
    let body = String::from_utf8_lossy(&basic.stdout).into_owned();
    assert!(body.contains("\"basic_was_started\":true"), "{body}");
    let changed = std::fs::read_to_string(&answers).unwrap().replace(
        "http_allow: [127.0.0.1]",
        "http_allow: [127.0.0.1, 127.0.0.3]",
    );
    std::fs::write(&answers, changed).unwrap();
    let before = tree(&node.config_dir());
    let run = apply(&node, state.path(), &answers);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("license is `basic`"), "{run:?}");
    assert_eq!(
        tree(&node.config_dir()),
        before,
        "a refused apply changed files (the temporary superuser must be gone too)"
    );
    // On Basic, `status` calls the written Gold settings what they are: no-ops.
    let posture = status_posture(&node, state.path(), &answers);
    assert_eq!(posture["license"]["type"], "basic", "{posture:#}");
    for layer in ["audit logging", "IP filtering"] {
        let row = posture_row(&posture, layer);
        assert_eq!(row["level"], "fail", "{posture:#}");
        assert!(
            row["detail"]
                .as_str()
                .unwrap()
                .contains("configured but no-op on Basic"),
            "{row}"
        );
    }
    node.stop().unwrap();
}
