#![allow(clippy::unwrap_used, clippy::expect_used)]
//! es-secure's `kibana.keystore` against an independent Node.js implementation
//! (`tests/support/kibana_keystore_decrypt.js`, written from Kibana's documented format with
//! Node's `crypto`, the same primitives Kibana uses), in both directions.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use es_secure::shell::keystore::es::KeystoreError;
use es_secure::shell::keystore::kibana::KibanaKeystore;

const TRICKY: &str = "p\"a\\ss wörd\n\u{1F511}:=/+";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kibana_keystore_decrypt.js")
}

/// `None` (after a loud SKIPPED line) when node is not installed.
fn node() -> Option<&'static str> {
    match support::run::succeeds(Command::new("node").arg("--version")) {
        true => Some("node"),
        false => {
            support::skip("node is not installed; the Kibana keystore cross-check did not run");
            None
        }
    }
}

fn node_decrypt(node: &str, file: &Path, password: &str) -> serde_json::Value {
    let out = support::run::output(
        Command::new(node)
            .arg(script())
            .arg("decrypt")
            .arg(file)
            .env("KEYSTORE_TEST_PASSWORD", password),
    );
    assert!(
        out.status.success(),
        "node decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn node_encrypt(node: &str, file: &Path, password: &str, json: &str) {
    let out = support::run::output_with_stdin(
        Command::new(node)
            .arg(script())
            .arg("encrypt")
            .arg(file)
            .env("KEYSTORE_TEST_PASSWORD", password),
        json.as_bytes(),
        support::run::LIMIT,
    );
    assert!(
        out.status.success(),
        "node encrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn node_decrypts_what_es_secure_writes() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    for password in ["", "kibana keystore pässword"] {
        let mut ks = KibanaKeystore::new();
        ks.set("elasticsearch.username", "kibana_system");
        ks.set("elasticsearch.password", TRICKY);
        let file = dir.path().join("kibana.keystore");
        std::fs::write(&file, ks.to_string(password).unwrap()).unwrap();

        let json = node_decrypt(node, &file, password);
        assert_eq!(
            json["elasticsearch.password"], TRICKY,
            "password {password:?}"
        );
        assert_eq!(json["elasticsearch.username"], "kibana_system");
        assert_eq!(json.as_object().unwrap().len(), 2);
    }
}

#[test]
fn es_secure_reads_what_node_writes() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = serde_json::json!({
        "elasticsearch.password": TRICKY,
        "xpack.security.encryptionKey": "0123456789abcdef0123456789abcdef",
        "some.list": [1, "two"],
    })
    .to_string();
    for password in ["", "kibana keystore pässword"] {
        let file = dir.path().join("kibana.keystore");
        node_encrypt(node, &file, password, &json);
        let text = std::fs::read_to_string(&file).unwrap();

        let ks = KibanaKeystore::parse(&text, password).unwrap();
        assert_eq!(ks.get("elasticsearch.password"), Some(TRICKY));
        assert_eq!(
            ks.get("xpack.security.encryptionKey"),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(ks.names().len(), 3);

        // Re-saving keeps the non-string value, and node still reads the result.
        std::fs::write(&file, ks.to_string(password).unwrap()).unwrap();
        let back = node_decrypt(node, &file, password);
        assert_eq!(back["some.list"], serde_json::json!([1, "two"]));
        assert_eq!(back["elasticsearch.password"], TRICKY);

        if password.is_empty() {
            continue;
        }
        assert!(matches!(
            KibanaKeystore::parse(&text, ""),
            Err(KeystoreError::PasswordRequired { .. })
        ));
        assert!(matches!(
            KibanaKeystore::parse(&text, "wrong"),
            Err(KeystoreError::WrongPassword { .. })
        ));
    }
}
