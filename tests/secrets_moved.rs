//! Secrets are moved, never copied (issue 14), on the real binary and a scratch fixture
//! install: kibana.yml holds kibana_system's plaintext password and an encryption key; after
//! the apply the values live only in kibana.keystore (encrypted) and in the transaction's
//! private backup of the original kibana.yml (what `rollback` restores byte for byte), and
//! nowhere else — not in kibana.yml (not even commented out), the plan, stdout/stderr, the
//! log file or any other file of the install or the state directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

const OLD_PASSWORD: &str = "Old-Plaintext-Secret-4711";
const OLD_KEY: &str = "Old-Encryption-Key-0123456789abcdefghijklmnop";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn plaintext_kibana_secrets_move_into_the_keystore_and_nowhere_else() {
    let dir = support::install::deb_install();
    let root = dir.path();
    let kibana_yml = root.join("kibana/kibana.yml");
    let mut yml = std::fs::read_to_string(&kibana_yml).unwrap();
    yml.push_str(&format!(
        "elasticsearch.username: \"kibana_system\"\nelasticsearch.password: \"{OLD_PASSWORD}\"\nxpack.security.encryptionKey: \"{OLD_KEY}\"\n"
    ));
    std::fs::write(&kibana_yml, yml).unwrap();
    let answers = root.join("answers.yml");
    std::fs::write(
        &answers,
        format!(
            "version: 1\ntier: basic\nelasticsearch:\n  allow_partial_cluster: true\n  allow_cleartext_rest: true\nnodes:\n  - name: node-1\n    dns: [localhost]\n    ip: [127.0.0.1]\nthis_node: node-1\nkibana:\n  config_dir: {}\npasswords:\n  kibana_system: keep\n",
            root.join("kibana").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = support::install::es_secure(root, "nobody");
        cmd.arg("--kibana-config")
            .arg(root.join("kibana"))
            .args(args);
        support::run::output(&mut cmd)
    };

    let plan = run(&["plan", "--answers", answers.to_str().unwrap()]);
    let plan_text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        plan_text.contains("***"),
        "the diff masks the values:\n{plan_text}"
    );
    assert!(
        plan_text.contains("its value moves into"),
        "the plan says the secret moves:\n{plan_text}"
    );

    let log = root.join("logs/run.log");
    let out = run(&[
        "apply",
        "--yes",
        "--answers",
        answers.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // basic with a manual restart: the files are written, then the restart is the operator's.
    assert_eq!(out.status.code(), Some(7), "{stderr}");

    let after = std::fs::read_to_string(&kibana_yml).unwrap();
    // Deleted, not commented out (the template's own commented example line stays).
    assert!(
        !after.contains(OLD_PASSWORD) && !after.contains(OLD_KEY),
        "{after}"
    );
    assert!(
        !after
            .lines()
            .any(|l| l.starts_with("elasticsearch.password")
                || l.starts_with("xpack.security.encryptionKey")),
        "{after}"
    );
    let keystore = root.join("kibana/kibana.keystore");
    assert!(keystore.is_file(), "kibana.keystore written");

    let mut outputs = vec![
        ("plan stdout".to_string(), plan.stdout.clone()),
        ("plan stderr".to_string(), plan.stderr.clone()),
        ("apply stdout".to_string(), out.stdout.clone()),
        ("apply stderr".to_string(), out.stderr.clone()),
    ];
    let mut all = Vec::new();
    files(root, &mut all);
    let mut backups_with_secret = Vec::new();
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let is_backup = path
            .strip_prefix(root.join("state/txn"))
            .is_ok_and(|rest| rest.components().any(|c| c.as_os_str() == "backup"));
        if is_backup {
            if contains(&bytes, OLD_PASSWORD) {
                backups_with_secret.push(path);
            }
            continue;
        }
        outputs.push((path.display().to_string(), bytes));
    }
    for (what, bytes) in &outputs {
        for secret in [OLD_PASSWORD, OLD_KEY] {
            assert!(
                !contains(bytes, secret),
                "an old plaintext secret is in {what}"
            );
        }
    }
    // The one copy left is the original kibana.yml in the transaction's backup, which the
    // rollback needs: a 0600 file in a 0700 directory of the root-only state directory.
    assert_eq!(backups_with_secret.len(), 1, "{backups_with_secret:?}");
    let backup = &backups_with_secret[0];
    assert_eq!(
        std::fs::metadata(backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(backup.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
}
