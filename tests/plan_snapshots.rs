//! `es-secure plan` over fixture installs (deb-style, archive, nested `xpack:` form, an
//! auto-configured 8.x node), snapshotted with insta. Runs the real binary on temp copies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new(fixture: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/installs")
            .join(fixture);
        for (sub, file) in [
            ("elasticsearch", "elasticsearch.yml"),
            ("kibana", "kibana.yml"),
        ] {
            let to = dir.path().join(sub);
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(src.join(sub).join(file), to.join(file)).unwrap();
        }
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Run `es-secure <args> --answers <answers>` against this install.
    fn run(&self, cmd: &str, answers: &str) -> (i32, String, String) {
        let answers = answers.replace("@TMP@", &self.dir.path().display().to_string());
        let file = self.path("answers.yml");
        std::fs::write(&file, answers).unwrap();
        let out = support::run::output(
            Command::new(env!("CARGO_BIN_EXE_es-secure"))
                .arg(cmd)
                .arg("--answers")
                .arg(&file)
                .arg("--es-config")
                .arg(self.path("elasticsearch"))
                .arg("--state-dir")
                .arg(self.path("state"))
                .env("NO_COLOR", "1"),
        );
        let clean = |b: &[u8]| {
            String::from_utf8_lossy(b).replace(&self.dir.path().display().to_string(), "[TMP]")
        };
        (
            out.status.code().unwrap_or(-1),
            clean(&out.stdout),
            clean(&out.stderr),
        )
    }
}

const THREE_NODES: &str = "nodes:
  - name: node-1
    dns: [node-1.example.internal]
    ip: [10.0.0.11]
  - name: node-2
    dns: [node-2.example.internal]
    ip: [10.0.0.12]
  - name: node-3
    dns: [node-3.example.internal]
    ip: [10.0.0.13]
this_node: node-1
";

#[test]
fn deb_minimal_is_refused_in_production_mode() {
    let i = Install::new("deb");
    let (code, out, err) = i.run("plan", "version: 1\ntier: minimal\n");
    assert_eq!(code, 3, "{out}{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn deb_basic_three_nodes() {
    let i = Install::new("deb");
    let (code, out, err) = i.run("plan", &format!("version: 1\ntier: basic\n{THREE_NODES}"));
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn deb_https_with_kibana() {
    let i = Install::new("deb");
    let (code, out, err) = i.run(
        "plan",
        &format!(
            "version: 1\ntier: https\n{THREE_NODES}kibana:\n  config_dir: @TMP@/kibana\n  public_url: https://kibana.example.internal:5601\n"
        ),
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn archive_minimal_with_kibana() {
    let i = Install::new("archive");
    let (code, out, err) = i.run(
        "plan",
        "version: 1\ntier: minimal\nkibana:\n  config_dir: @TMP@/kibana\n",
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn nested_form_https_edits_in_place() {
    let i = Install::new("nested");
    let (code, out, err) = i.run(
        "plan",
        "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\nkibana:\n  config_dir: @TMP@/kibana\n  public_url: http://localhost:5601\n",
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn autoconfigured_node_is_detected_as_https() {
    let i = Install::new("autoconfig");
    let out = support::run::output(
        Command::new(env!("CARGO_BIN_EXE_es-secure"))
            .args(["status", "--es-config"])
            .arg(i.path("elasticsearch"))
            .arg("--state-dir")
            .arg(i.path("state")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tier:        https"), "{text}");
    assert!(text.contains("auto-configuration block: lines"), "{text}");
}

#[test]
fn autoconfigured_node_take_over_with_our_ca() {
    let i = Install::new("autoconfig");
    let (code, out, err) = i.run(
        "plan",
        "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\n",
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn autoconfigured_node_refuses_downgrade() {
    let i = Install::new("autoconfig");
    let (code, _, err) = i.run("plan", "version: 1\ntier: minimal\n");
    assert_eq!(code, 3);
    assert!(err.contains("only raises the security tier"), "{err}");
}
