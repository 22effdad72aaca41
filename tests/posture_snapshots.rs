//! `es-secure status` as a posture report over fixture installs at each tier (none, minimal,
//! basic, https, hardened), snapshotted with insta; `--json` carries the rows with a schema
//! version, and `--strict` exits 6 when a row fails. Runs the real binary on temp copies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

const MINIMAL: &str = "cluster.name: c\nnode.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.type: single-node\nxpack.security.enabled: true\n";

const TRANSPORT: &str = "xpack.security.transport.ssl.enabled: true\nxpack.security.transport.ssl.verification_mode: certificate\nxpack.security.transport.ssl.key: certs/transport.key\nxpack.security.transport.ssl.certificate: certs/transport.crt\nxpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]\n";

const HTTP: &str = "xpack.security.http.ssl.enabled: true\nxpack.security.http.ssl.key: certs/http.key\nxpack.security.http.ssl.certificate: certs/http.crt\nxpack.security.http.ssl.certificate_authorities: [certs/ca.crt]\n";

const HARDENING: &str = "xpack.security.audit.enabled: true\nxpack.security.transport.filter.allow: [127.0.0.1]\nxpack.security.transport.filter.deny: [_all]\nxpack.security.transport.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\nxpack.security.http.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\n";

/// Run `status <args>` on an install whose elasticsearch.yml is `yml`.
fn status(yml: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
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
    assert_eq!(v["posture"]["schema_version"], 1, "{v:#}");
    let rows = v["posture"]["rows"].as_array().unwrap();
    let http = rows.iter().find(|r| r["layer"] == "HTTP TLS").unwrap();
    assert_eq!(http["level"], "fail");
    assert!(http["fix"].as_str().unwrap().contains("tier: https"));
    // Without --strict, status reports and exits 0.
    assert_eq!(status(&fixture("deb"), &["--json"]).0, 0);
}
