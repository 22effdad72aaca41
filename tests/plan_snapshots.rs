//! `es-secure plan` over fixture installs (deb-style, archive, nested `xpack:` form, an
//! auto-configured 8.x node), snapshotted with insta. Runs the real binary on temp copies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new(fixture: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A findings-free install (a version jar, a service user that can enter the
        // directories), so `plan` exits 0 as `apply` would proceed.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let lib = dir.path().join("home/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("elasticsearch-8.19.21.jar"), b"").unwrap();
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
                .arg("--es-home")
                .arg(self.path("home"))
                .args(["--es-user", "nobody"])
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
    let (code, out, err) = i.run(
        "plan",
        &format!(
            "version: 1\ntier: basic\nelasticsearch:\n  allow_cleartext_rest: true\n{THREE_NODES}"
        ),
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

/// The deb node listens on 10.0.0.11 only: below https, the new passwords would cross the
/// network in clear, so the plan is refused unless the answers accept it.
#[test]
fn deb_basic_cleartext_rest_is_refused_without_the_opt_in() {
    let i = Install::new("deb");
    let (code, out, err) = i.run("plan", &format!("version: 1\ntier: basic\n{THREE_NODES}"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("http://10.0.0.11:9200"), "{err}");
    assert!(err.contains("allow_cleartext_rest: true"), "{err}");
}

/// discovery.seed_hosts and cluster.initial_master_nodes name three nodes; answers listing
/// one are refused with the missing hosts named.
#[test]
fn deb_seed_hosts_not_in_the_answers_are_refused() {
    let i = Install::new("deb");
    let (code, out, err) = i.run(
        "plan",
        "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}\nthis_node: node-1\n",
    );
    assert_eq!(code, 3, "{out}{err}");
    for want in [
        "`10.0.0.12`",
        "`10.0.0.13`",
        "`node-2`",
        "`node-3`",
        "allow_partial_cluster",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// A secret in kibana.yml never reaches the plan's text or JSON; the notes say why it goes.
#[test]
fn nested_form_secrets_are_masked_in_text_and_json() {
    let i = Install::new("nested");
    let answers = "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\nkibana:\n  config_dir: @TMP@/kibana\n  public_url: http://localhost:5601\n";
    let (code, out, err) = i.run("plan", answers);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("changeme") && !err.contains("changeme"),
        "{out}"
    );
    assert!(out.contains("-  password: ***"), "{out}");
    assert!(
        out.contains("the plaintext password of `elastic` is deleted"),
        "{out}"
    );
    let file = i.path("answers.yml");
    let json = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_es-secure"))
        .args(["plan", "--json", "--answers"])
        .arg(&file)
        .arg("--es-config")
        .arg(i.path("elasticsearch"))
        .arg("--state-dir")
        .arg(i.path("state"))
        .arg("--es-home")
        .arg(i.path("home"))
        .args(["--es-user", "nobody"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&json.stdout);
    assert_eq!(json.status.code(), Some(0), "{text}");
    assert!(!text.contains("changeme"), "{text}");
    assert!(text.contains("password: ***"), "{text}");
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

/// `plan` and `apply --dry-run` print the findings and exit as `apply` would: a blocking
/// finding (here a service user that does not exist) makes both exit 3, after the plan.
#[test]
fn plan_and_dry_run_exit_3_with_a_blocking_finding() {
    let i = Install::new("archive");
    let answers = i.path("answers.yml");
    std::fs::write(&answers, "version: 1\ntier: minimal\n").unwrap();
    for args in [&["plan"][..], &["apply", "--dry-run"][..]] {
        let out = Command::new("timeout")
            .arg("60")
            .arg(env!("CARGO_BIN_EXE_es-secure"))
            .args(args)
            .arg("--answers")
            .arg(&answers)
            .arg("--es-config")
            .arg(i.path("elasticsearch"))
            .arg("--state-dir")
            .arg(i.path("state"))
            .args(["--es-user", "es-secure-no-such-user"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("Plan: tier none -> minimal"), "{stdout}");
        assert!(
            stderr.contains("BLOCKING: the service user `es-secure-no-such-user` does not exist"),
            "{stderr}"
        );
        assert!(stderr.contains("apply would refuse"), "{stderr}");
    }
}

const HARDENING: &str = "hardening:
  audit: {}
  tls_protocols: [TLSv1.3, TLSv1.2]
  kibana_session: {}
  ip_filter:
    http_allow: [127.0.0.1]
";

/// Every hardening layer on a deb node going to https with Kibana: the settings land in the
/// managed blocks, and the notes say what each layer does, when it takes effect, and that
/// audit and IP filtering need a Gold license.
#[test]
fn deb_https_hardened_with_kibana() {
    let i = Install::new("deb");
    let (code, out, err) = i.run(
        "plan",
        &format!(
            "version: 1\ntier: https\nelasticsearch:\n  url: https://10.0.0.11:9200\n{THREE_NODES}kibana:\n  config_dir: @TMP@/kibana\n  public_url: https://kibana.example.internal:5601\n{}",
            HARDENING.replace("[127.0.0.1]", "[127.0.0.1, 10.0.0.11]")
        ),
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

/// An HTTP allow list without the address es-secure uses is refused before anything is
/// written (exit 3, the reason and the fix).
#[test]
fn archive_http_allow_list_that_locks_out_this_host_is_refused() {
    let i = Install::new("archive");
    let (code, out, err) = i.run(
        "plan",
        &format!(
            "version: 1\ntier: minimal\n{}",
            HARDENING.replace("[127.0.0.1]", "[10.0.0.0/8]")
        ),
    );
    assert_eq!(code, 3, "{out}{err}");
    insta::assert_snapshot!(err);
}
