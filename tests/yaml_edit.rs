#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Snapshots of the lossless YAML editor on realistic files: what exactly it writes for flat,
//! nested and mixed settings, CRLF files, files without a final newline, Elastic's
//! auto-configuration block, quoting, removals, and the error texts operators see.

use std::path::Path;

use es_secure::domain::settings::{self, SettingValue};
use es_secure::domain::yaml_edit::{Edit, EditOptions, apply_edits};

fn set(key: &str, value: SettingValue) -> Edit {
    Edit::Set {
        key: key.to_string(),
        value,
    }
}

fn remove(key: &str) -> Edit {
    Edit::Remove {
        key: key.to_string(),
    }
}

fn fixture(install: &str, file: &str) -> String {
    let product = if file == "kibana.yml" {
        "kibana"
    } else {
        "elasticsearch"
    };
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/installs")
            .join(install)
            .join(product)
            .join(file),
    )
    .unwrap()
}

/// Apply, check idempotence, and show the result with line endings made visible.
fn edit(text: &str, edits: &[Edit], replace_autoconfig: bool) -> String {
    let opts = EditOptions { replace_autoconfig };
    let out = apply_edits("elasticsearch.yml", text, edits, &opts).unwrap();
    let again = apply_edits("elasticsearch.yml", &out, edits, &opts).unwrap();
    assert_eq!(again, out, "applying the edits twice changed the text");
    visible(&out)
}

fn visible(text: &str) -> String {
    let mut shown = text.replace("\r\n", "␍\n");
    if !text.is_empty() && !text.ends_with('\n') {
        shown.push_str("⏎ (no newline at end of file)");
    }
    shown
}

/// What the planner asks for at the `basic` tier.
fn basic_tier_edits() -> Vec<Edit> {
    let p = "xpack.security.transport.ssl";
    vec![
        set("xpack.security.enabled", SettingValue::Bool(true)),
        set(&format!("{p}.enabled"), SettingValue::Bool(true)),
        set(
            &format!("{p}.verification_mode"),
            SettingValue::str("certificate"),
        ),
        set(
            &format!("{p}.client_authentication"),
            SettingValue::str("required"),
        ),
        set(
            &format!("{p}.key"),
            SettingValue::str("certs/transport.key"),
        ),
        set(
            &format!("{p}.certificate"),
            SettingValue::str("certs/transport.crt"),
        ),
        set(
            &format!("{p}.certificate_authorities"),
            SettingValue::list(["certs/ca.crt"]),
        ),
    ]
}

#[test]
fn flat_deb_file() {
    insta::assert_snapshot!(edit(
        &fixture("deb", "elasticsearch.yml"),
        &basic_tier_edits(),
        false
    ));
}

#[test]
fn nested_file() {
    insta::assert_snapshot!(edit(
        &fixture("nested", "elasticsearch.yml"),
        &basic_tier_edits(),
        false
    ));
}

#[test]
fn mixed_file() {
    let text = "cluster.name: mixed\nxpack.security:\n  enabled: false  # for now\n  transport.ssl: {enabled: false, verification_mode: none}\nhttp:\n  port: 9200\n";
    insta::assert_snapshot!(edit(text, &basic_tier_edits(), false));
}

#[test]
fn crlf_file_keeps_crlf_everywhere() {
    let text = "# Windows-edited\r\ncluster.name: c\r\nxpack.security.enabled: false\r\nnode.roles:\r\n  - master\r\n  - data\r\n";
    insta::assert_snapshot!(edit(
        text,
        &[
            set("xpack.security.enabled", SettingValue::Bool(true)),
            set("node.roles", SettingValue::list(["master"])),
            set("http.port", SettingValue::Number("9200".into())),
        ],
        false
    ));
}

#[test]
fn no_final_newline_is_preserved() {
    let text = "cluster.name: c\nxpack.security.enabled: false";
    insta::assert_snapshot!(edit(
        text,
        &[
            set("xpack.security.enabled", SettingValue::Bool(true)),
            set(
                "xpack.security.transport.ssl.enabled",
                SettingValue::Bool(true)
            ),
        ],
        false
    ));
}

#[test]
fn comments_and_blank_lines_are_kept() {
    let text = "# ======================== Elasticsearch Configuration =========================\n#\n# NOTE: Elasticsearch comes with reasonable defaults\n#\n#cluster.name: my-application\n\nnode.name: node-1   # this node\n\n# ---------------------------------- Network -----------------------------------\n#network.host: 192.168.0.1\nnetwork.host: 'localhost'  # quoted on purpose\n";
    insta::assert_snapshot!(edit(
        text,
        &[
            set("network.host", SettingValue::str("127.0.0.1")),
            set("xpack.security.enabled", SettingValue::Bool(true)),
        ],
        false
    ));
}

#[test]
fn autoconfig_block_is_replaced_by_the_managed_block() {
    let mut edits = basic_tier_edits();
    for k in ["keystore.path", "truststore.path"] {
        edits.push(remove(&format!("xpack.security.transport.ssl.{k}")));
    }
    insta::assert_snapshot!(edit(
        &fixture("autoconfig", "elasticsearch.yml"),
        &edits,
        true
    ));
}

#[test]
fn autoconfig_block_is_edited_in_place_when_not_replacing() {
    insta::assert_snapshot!(edit(
        &fixture("autoconfig", "elasticsearch.yml"),
        &[
            set("xpack.security.enabled", SettingValue::Bool(true)),
            set("xpack.security.http.ssl.enabled", SettingValue::Bool(false)),
        ],
        false
    ));
}

#[test]
fn values_are_quoted_when_a_yaml_1_1_reader_would_misread_them() {
    let words = [
        "no",
        "on",
        "yes",
        "off",
        "y",
        "N",
        "0755",
        "1e3",
        "",
        "a: b",
        "x # y",
        "~",
        "null",
        "0.0.0.0",
        "-dash",
        "it's \"quoted\"",
        "${HOSTNAME}",
        "plain/path.p12",
    ];
    let edits: Vec<Edit> = words
        .iter()
        .enumerate()
        .map(|(i, w)| set(&format!("k{i:02}"), SettingValue::str(*w)))
        .collect();
    let out = edit("existing: no\n", &edits, false);
    let back = settings::parse("elasticsearch.yml", &out).unwrap();
    for (i, w) in words.iter().enumerate() {
        assert_eq!(
            back.settings.value(&format!("k{i:02}")),
            Some(&SettingValue::str(*w))
        );
    }
    insta::assert_snapshot!(out);
}

#[test]
fn remove_in_nested_form() {
    let text = "xpack:\n  security:\n    enabled: true\n    transport:\n      ssl:\n        enabled: true\n        # the old keystore\n        keystore.path: certs/transport.p12\n        keystore.password: changeme\n    http.ssl.enabled: false\n";
    insta::assert_snapshot!(edit(
        text,
        &[
            remove("xpack.security.transport.ssl.keystore.path"),
            remove("xpack.security.transport.ssl.keystore.password"),
            remove("xpack.security.transport.ssl.enabled"),
        ],
        false
    ));
}

#[test]
fn kibana_file_with_secrets_removed() {
    insta::assert_snapshot!(edit(
        &fixture("nested", "kibana.yml"),
        &[
            set(
                "elasticsearch.hosts",
                SettingValue::list(["https://localhost:9200"])
            ),
            set("elasticsearch.username", SettingValue::str("kibana_system")),
            remove("elasticsearch.password"),
        ],
        false
    ));
}

#[test]
fn duplicate_error_text() {
    let text = "cluster.name: c\nxpack.security.enabled: true\n\nxpack:\n  security:\n    enabled: false\n";
    let err = apply_edits(
        "/etc/elasticsearch/elasticsearch.yml",
        text,
        &[],
        &EditOptions::default(),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn malformed_error_text() {
    let text = "cluster.name: c\ndiscovery.seed_hosts: [\"a\", \"b\"\nnode.name: n\n";
    let err = settings::parse("/etc/elasticsearch/elasticsearch.yml", text).unwrap_err();
    insta::assert_snapshot!(err.to_string());
    let text = "cluster.name: c\n  node.name: n\n";
    let err = settings::parse("/etc/elasticsearch/elasticsearch.yml", text).unwrap_err();
    insta::assert_snapshot!("malformed_error_text_indent", err.to_string());
}
