//! Compatibility matrix (issue 22): one compact end-to-end scenario per Elasticsearch
//! version, on one real node per version started by the harness (`tests/support/es.rs`).
//!
//! none → https in one `apply` (archive layout, `restart: command`), then on the same node:
//! every built-in user authenticates, HTTPS answers only with our CA pinned, transport TLS is
//! on, a second `apply` says "Nothing to do" and changes no byte, and `status` reports tier
//! https and the keystore format that version writes.
//!
//! Which version each test runs comes from the environment (`ES_SECURE_TEST_VERSION_8`,
//! `ES_SECURE_TEST_PRISTINE_8`, … as `scripts/test-env.sh` prints them): `scripts/test.sh`
//! runs the pinned 8.19.x, 9.x and the older 8.13.4; `scripts/test-matrix.sh` runs every
//! version of the matrix by overriding those variables. This file must NOT start more than
//! one node per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use support::es::{self, EsVersion, Node, Security, say};
use support::es_secure::{USERS, run as es_secure, state_dir, tree};
use support::run::curl;

/// The keystore format each release line writes, written out here independently of
/// `src/shell/keystore/es.rs` (Elastic's `KeyStoreWrapper` history): 8.0–8.13 → 5,
/// 8.14–8.17 → 6, 8.18+ and 9.x → 7.
fn expected_keystore_format(version: &str) -> u32 {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    match (parts.next().unwrap(), parts.next().unwrap()) {
        (8, 0..=13) => 5,
        (8, 14..=17) => 6,
        _ => 7,
    }
}

fn https_answers(node: &Node, state: &Path) -> PathBuf {
    support::es_secure::answers_file(node, &[node], "https", state, "", "answers-https.yml")
}

/// The whole scenario on one node of version `v`.
fn scenario(v: EsVersion) {
    if !es::available(v) {
        return;
    }
    let version = v.version();
    let t0 = Instant::now();
    let mut node = Node::builder(v, &format!("matrix_{version}"))
        .security(Security::Disabled)
        .started();
    let state = state_dir();
    let answers = https_answers(&node, state.path());

    // none → https in one apply.
    let run = es_secure(
        &node,
        state.path(),
        &["apply", "--yes", "--answers", answers.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "ES {version}: first apply: {run:?}");

    // Every built-in user authenticates with its generated password; anonymous gets 401.
    let pw: BTreeMap<String, String> = std::fs::read_to_string(state.path().join("passwords.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
    assert_eq!(node.get("/_cluster/health", None).unwrap().status, 401);
    for user in USERS {
        let p = pw
            .get(user)
            .unwrap_or_else(|| panic!("no password for {user}"));
        let r = node
            .get("/_security/_authenticate", Some((user, p)))
            .unwrap();
        assert_eq!(r.status, 200, "ES {version}: {user}: {}", r.body);
        assert_eq!(r.json().unwrap()["username"], user);
    }

    // HTTPS pinned to our CA: with it curl succeeds, without it curl rejects the
    // certificate (60), and plain HTTP no longer answers.
    let ca = node.config_dir().join("certs/ca.crt");
    let url = format!("https://localhost:{}/_cluster/health", node.http_port());
    let elastic = format!("elastic:{}", pw["elastic"]);
    let with_ca = curl(&[
        "--fail",
        "--cacert",
        ca.to_str().unwrap(),
        "-u",
        &elastic,
        &url,
    ]);
    assert!(
        with_ca.status.success(),
        "ES {version}: curl --cacert: {}",
        String::from_utf8_lossy(&with_ca.stderr)
    );
    assert!(String::from_utf8_lossy(&with_ca.stdout).contains("\"status\""));
    let without = curl(&["--fail", "-u", &elastic, &url]);
    assert_eq!(without.status.code(), Some(60), "ES {version}: no CA");
    let plain = curl(&[
        "--fail",
        "-u",
        &elastic,
        &format!("http://127.0.0.1:{}/_cluster/health", node.http_port()),
    ]);
    assert!(!plain.status.success(), "ES {version}: plain HTTP answered");

    // Transport TLS on, as the running node itself reports it.
    let auth = Some(("elastic", pw["elastic"].as_str()));
    let s = node
        .get(
            "/_nodes/_local/settings?filter_path=nodes.*.settings.xpack.security.transport.ssl.enabled",
            auth,
        )
        .unwrap();
    assert_eq!(s.status, 200, "{}", s.body);
    assert!(
        s.body.contains("\"enabled\":\"true\""),
        "ES {version}: {}",
        s.body
    );
    let certs = node.get("/_ssl/certificates", auth).unwrap();
    assert_eq!(certs.status, 200, "{}", certs.body);
    assert!(certs.body.contains("certs/transport.crt"), "{}", certs.body);
    assert!(certs.body.contains("certs/http.crt"), "{}", certs.body);

    // A second apply: nothing to do, no byte changed.
    let before = tree(&node.config_dir());
    let again = es_secure(
        &node,
        state.path(),
        &["apply", "--yes", "--answers", answers.to_str().unwrap()],
        &[],
    );
    assert_eq!(again.code, 0, "ES {version}: second apply: {again:?}");
    assert!(
        again.stdout.contains("Nothing to do") || again.stderr.contains("Nothing to do"),
        "ES {version}: {again:?}"
    );
    assert!(
        before == tree(&node.config_dir()),
        "ES {version}: the second apply changed files under config/"
    );

    // status: tier https and the keystore format this version writes.
    let st = es_secure(
        &node,
        state.path(),
        &["status", "--answers", answers.to_str().unwrap()],
        &[],
    );
    assert_eq!(st.code, 0, "{st:?}");
    assert!(
        st.stdout.contains(&format!("version:     {version}")),
        "{st:?}"
    );
    assert!(st.stdout.contains("tier:        https"), "{st:?}");
    let format = expected_keystore_format(&version);
    assert!(
        st.stdout.contains(&format!("(format {format}, ")),
        "ES {version}: expected keystore format {format}: {st:?}"
    );
    node.stop().unwrap();
    say(&format!(
        "MATRIX ES {version}: passed in {:.0}s",
        t0.elapsed().as_secs_f64()
    ));
}

/// The pinned 8.19.x, or any 8.x `scripts/test-matrix.sh` points `ES_SECURE_TEST_*_8` at.
#[test]
fn matrix_8() {
    scenario(EsVersion::V8);
}

/// The pinned 9.x, or any 9.x `scripts/test-matrix.sh` points `ES_SECURE_TEST_*_9` at.
#[test]
fn matrix_9() {
    scenario(EsVersion::V9);
}

/// The older 8.x of `scripts/test.sh` (8.13.4: keystore format 5).
#[test]
fn matrix_8_old() {
    scenario(EsVersion::V8Old);
}
