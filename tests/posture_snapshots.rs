//! `es-secure status` as a posture report over fixture installs at each tier (none, minimal,
//! basic, https, hardened), snapshotted with insta; `--json` carries the rows with a schema
//! version, and `--strict` exits 6 when a row fails. The license comes from one `GET
//! _license`: a node that does not answer is "unknown (node not reachable)", and a hardened
//! install judged against a (fake) node on a trial and on Basic shows the audit and IP filter
//! rows ok, then "configured but no-op on Basic". Runs the real binary on temp copies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

const MINIMAL: &str = "cluster.name: c\nnode.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.type: single-node\nxpack.security.enabled: true\n";

const TRANSPORT: &str = "xpack.security.transport.ssl.enabled: true\nxpack.security.transport.ssl.verification_mode: certificate\nxpack.security.transport.ssl.key: certs/transport.key\nxpack.security.transport.ssl.certificate: certs/transport.crt\nxpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]\n";

const HTTP: &str = "xpack.security.http.ssl.enabled: true\nxpack.security.http.ssl.key: certs/http.key\nxpack.security.http.ssl.certificate: certs/http.crt\nxpack.security.http.ssl.certificate_authorities: [certs/ca.crt]\n";

const HARDENING: &str = "xpack.security.audit.enabled: true\nxpack.security.transport.filter.allow: [127.0.0.1]\nxpack.security.transport.filter.deny: [_all]\nxpack.security.transport.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\nxpack.security.http.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\n";

/// `http.port` of a port nothing listens on: the license read finds no node (and never a
/// real node another test runs on 9200).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http.port: {}\n", l.local_addr().unwrap().port())
}

/// Run `status <args>` on an install whose elasticsearch.yml is `yml` (with a closed
/// `http.port` unless it names another port than 9200).
fn status(yml: &str, args: &[&str]) -> (i32, String) {
    status_with(yml, args, None)
}

/// [`status`], with a passwords file holding this `elastic` password in the state directory.
fn status_with(yml: &str, args: &[&str], elastic_pw: Option<&str>) -> (i32, String) {
    // The fixtures' 9200 is replaced too: whatever answers there on this host is not ours.
    let yml = if yml.contains("http.port: 9200") {
        yml.replace("http.port: 9200\n", &closed_port())
    } else if yml.contains("http.port") {
        yml.to_string()
    } else {
        format!("{yml}{}", closed_port())
    };
    let yml = yml.as_str();
    let dir = tempfile::tempdir().unwrap();
    if let Some(pw) = elastic_pw {
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(state.join("passwords.txt"), format!("elastic: {pw}\n")).unwrap();
        std::fs::set_permissions(
            state.join("passwords.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lib = dir.path().join("home/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("elasticsearch-8.19.21.jar"), b"").unwrap();
    let es = dir.path().join("elasticsearch");
    std::fs::create_dir_all(&es).unwrap();
    std::fs::write(es.join("elasticsearch.yml"), yml).unwrap();
    let out = support::run::output(
        Command::new(env!("CARGO_BIN_EXE_es-secure"))
            .arg("status")
            .args(args)
            .arg("--es-config")
            .arg(&es)
            .arg("--es-home")
            .arg(dir.path().join("home"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["--es-user", "nobody"])
            .env("NO_COLOR", "1"),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).replace(&dir.path().display().to_string(), "[TMP]");
    (out.status.code().unwrap_or(-1), text)
}

fn posture(yml: &str) -> String {
    let (code, text) = status(yml, &[]);
    assert_eq!(code, 0, "{text}");
    let at = text.find("Posture\n").expect("no Posture section");
    text[at..].to_string()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/installs")
            .join(name)
            .join("elasticsearch/elasticsearch.yml"),
    )
    .unwrap()
}

#[test]
fn posture_none() {
    insta::assert_snapshot!(posture(&fixture("deb")));
}

#[test]
fn posture_minimal() {
    insta::assert_snapshot!(posture(MINIMAL));
}

#[test]
fn posture_basic() {
    insta::assert_snapshot!(posture(&format!("{MINIMAL}{TRANSPORT}")));
}

#[test]
fn posture_https() {
    insta::assert_snapshot!(posture(&format!("{MINIMAL}{TRANSPORT}{HTTP}")));
}

#[test]
fn posture_hardened() {
    insta::assert_snapshot!(posture(&format!(
        "{MINIMAL}{}{HTTP}{HARDENING}",
        TRANSPORT.replace("certificate\n", "full\n")
    )));
}

#[test]
fn json_has_a_schema_version_and_strict_exits_6_on_a_fail() {
    let (code, text) = status(&fixture("deb"), &["--json", "--strict"]);
    assert_eq!(code, 6, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["posture"]["schema_version"], 2, "{v:#}");
    assert_eq!(v["posture"]["license"]["type"], serde_json::Value::Null);
    assert_eq!(v["posture"]["license"]["unknown"], "node not reachable");
    let rows = v["posture"]["rows"].as_array().unwrap();
    let http = rows.iter().find(|r| r["layer"] == "HTTP TLS").unwrap();
    assert_eq!(http["level"], "fail");
    assert!(http["fix"].as_str().unwrap().contains("tier: https"));
    // Without --strict, status reports and exits 0.
    assert_eq!(status(&fixture("deb"), &["--json"]).0, 0);
}

/// Basic tier (HTTP in clear, so the fake node can answer) with every hardening layer, its
/// HTTP on a fake node that reports `license`.
fn hardened_on(license: &str, args: &[&str]) -> (i32, String, Vec<support::fake_es::Request>) {
    let fake = support::fake_es::FakeEs::with_license(license);
    let yml = format!(
        "{MINIMAL}{}xpack.security.audit.enabled: true\nxpack.security.transport.filter.allow: [127.0.0.1]\nxpack.security.transport.filter.deny: [_all]\nxpack.security.transport.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\nhttp.port: {}\n",
        TRANSPORT.replace("certificate\n", "full\n"),
        fake.port
    );
    let (code, text) = status_with(&yml, args, Some("pw-from-the-passwords-file"));
    (code, text, fake.take())
}

#[test]
fn posture_hardened_on_a_trial() {
    let (code, text, requests) = hardened_on("trial", &[]);
    assert_eq!(code, 0, "{text}");
    // Read with the elastic password of the passwords file es-secure wrote; nothing else.
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, "/_license");
    assert_eq!(requests[0].user.as_deref(), Some("elastic"));
    assert!(!text.contains("pw-from-the-passwords-file"));
    let at = text.find("Posture\n").expect("no Posture section");
    insta::assert_snapshot!(text[at..].to_string());
}

#[test]
fn posture_hardened_on_basic_fails_audit_and_ip_filter() {
    let (code, text, _) = hardened_on("basic", &[]);
    assert_eq!(code, 0, "{text}");
    let at = text.find("Posture\n").expect("no Posture section");
    insta::assert_snapshot!(text[at..].to_string());
    let (code, json, _) = hardened_on("basic", &["--json", "--strict"]);
    assert_eq!(code, 6, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["posture"]["license"]["type"], "basic");
    assert_eq!(v["posture"]["license"]["status"], "active");
    let rows = v["posture"]["rows"].as_array().unwrap();
    for layer in ["audit logging", "IP filtering"] {
        let r = rows.iter().find(|r| r["layer"] == layer).unwrap();
        assert_eq!(r["level"], "fail", "{r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .contains("configured but no-op on Basic"),
            "{r}"
        );
    }
}
