//! The bad-input catalogue: every case runs the real binary (`apply --yes`) against a scratch
//! copy of a fixture install and checks three things — the documented exit code, an error
//! text that names the file/line/key and says what to do, and that nothing on disk changed
//! (bytes, mode and owner of every file under the install and the state directory).
//!
//! Cases live in `tests/bad_inputs/answers/*.yml` (a bad answers file) and
//! `tests/bad_inputs/config/*.yml` (a bad `elasticsearch.yml`, or `kibana.yml` when the name
//! starts with `kibana-`). Each starts with `# expect-exit: N` and `# expect: TEXT` lines;
//! those header lines are stripped before use, so line numbers in expectations count from
//! the first line after them. Cases that need more than a file (a directory where the config
//! should be, a full disk, …) are set up in code below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const BOM: &str = "\u{feff}";

/// Path → (bytes of a regular file, mode, uid, gid).
type Snapshot = BTreeMap<PathBuf, (Option<Vec<u8>>, u32, u32, u32)>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs")
}

/// A case's expectations and body (the file minus its header).
struct Case {
    name: String,
    exit: i32,
    expect: Vec<String>,
    body: String,
}

fn load_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let (bom, text) = match text.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => ("", text.as_str()),
    };
    let mut exit = None;
    let mut expect = Vec::new();
    let mut rest = text;
    loop {
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = rest[..line_end].trim_end_matches(['\n', '\r']);
        if let Some(code) = line.strip_prefix("# expect-exit: ") {
            exit = Some(code.trim().parse().unwrap());
        } else if let Some(t) = line.strip_prefix("# expect: ") {
            expect.push(t.to_string());
        } else {
            break;
        }
        rest = &rest[line_end..];
    }
    Case {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        exit: exit.unwrap_or_else(|| panic!("{}: no `# expect-exit:` line", path.display())),
        expect,
        body: format!("{bom}{rest}"),
    }
}

fn cases(dir: &str) -> Vec<Case> {
    let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_case(p)).collect()
}

/// A scratch deb-style install: `elasticsearch/` (config), `home/lib/elasticsearch-8.19.21.jar`,
/// `kibana/`, `state/` (0700).
struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Self {
        let dir = support::install::deb_install();
        std::fs::write(dir.path().join("short.pw"), "short\n").unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn tmp(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn base_answers(&self) -> String {
        std::fs::read_to_string(root().join("base.yml"))
            .unwrap()
            .replace("@TMP@", &self.tmp())
    }

    /// Run `es-secure apply --yes` with `answers`; returns (exit, stdout, stderr).
    fn apply(&self, answers: &str, extra_env: &[(&str, &str)]) -> (i32, String, String) {
        let file = self.path("answers.yml");
        std::fs::write(&file, answers.replace("@TMP@", &self.tmp())).unwrap();
        let mut cmd = support::install::es_secure_at(self.dir.path());
        cmd.args(["apply", "--yes", "--answers"])
            .arg(&file)
            .env_remove("ES_SECURE_TEST_SURELY_UNSET");
        // Flags override answers: pass them only where the case does not test the answer.
        if !answers.contains("config_dir:") {
            cmd.arg("--kibana-config").arg(self.path("kibana"));
        }
        if !answers.contains("service_user:") {
            cmd.args(["--es-user", "nobody"]);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = support::run::output(&mut cmd);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Bytes, mode and owner of everything under the install (the answers file excluded).
    fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == "answers.yml") {
                    continue;
                }
                // es-secure's own bookkeeping: the lock file and the journals of applies
                // (a rolled-back apply keeps its journal as a record). Not part of the install.
                let rel = path.strip_prefix(self.dir.path()).unwrap_or(&path);
                if rel == Path::new("state/lock") || rel.starts_with("state/txn") {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let bytes = if meta.is_file() {
                    Some(std::fs::read(&path).unwrap())
                } else {
                    None
                };
                if meta.is_dir() {
                    stack.push(path.clone());
                }
                out.insert(path, (bytes, meta.mode(), meta.uid(), meta.gid()));
            }
        }
        out
    }
}

/// Run one case and return a failure description, or `None` when it behaved.
fn check(
    install: &Install,
    case: &Case,
    answers: &str,
    extra_env: &[(&str, &str)],
) -> Option<String> {
    let before = install.snapshot();
    let (code, stdout, stderr) = install.apply(answers, extra_env);
    let after = install.snapshot();
    let mut problems = Vec::new();
    if code != case.exit {
        problems.push(format!("exit {code}, expected {}", case.exit));
    }
    let all = format!("{stdout}\n{stderr}");
    for e in &case.expect {
        let e = e.replace("@TMP@", &install.tmp());
        if !all.contains(&e) {
            problems.push(format!("output lacks {e:?}"));
        }
    }
    if !stderr.contains("error") && !stderr.contains("refused") {
        problems.push("stderr does not say `error`".into());
    }
    if before != after {
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| k.display().to_string())
            .collect();
        problems.push(format!("files changed: {changed:?}"));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "case {}: {}\n--- stderr ---\n{stderr}--- stdout ---\n{stdout}",
            case.name,
            problems.join("; ")
        )
    })
}

fn report(failures: Vec<String>, total: usize) {
    eprintln!(
        "{} of {total} bad-input cases behaved",
        total - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Put the install at the https tier so that lower requests are downgrades.
fn make_https(install: &Install) {
    let yml = install.path("elasticsearch/elasticsearch.yml");
    let text = std::fs::read_to_string(&yml)
        .unwrap()
        .replace("xpack.security.enabled: false\n", "")
        + "xpack.security.enabled: true\n\
           xpack.security.transport.ssl.enabled: true\n\
           xpack.security.transport.ssl.verification_mode: full\n\
           xpack.security.transport.ssl.key: certs/transport.key\n\
           xpack.security.transport.ssl.certificate: certs/transport.crt\n\
           xpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]\n\
           xpack.security.http.ssl.enabled: true\n\
           xpack.security.http.ssl.key: certs/http.key\n\
           xpack.security.http.ssl.certificate: certs/http.crt\n\
           xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]\n";
    std::fs::write(yml, text).unwrap();
}

#[test]
fn bad_answers_files_are_refused_and_change_nothing() {
    let cases = cases("answers");
    let mut failures = Vec::new();
    for case in &cases {
        let install = Install::new();
        if case.name.starts_with("downgrade") {
            make_https(&install);
        }
        if let Some(f) = check(&install, case, &case.body, &[]) {
            failures.push(f);
        }
    }
    report(failures, cases.len());
}

#[test]
fn bad_config_files_are_refused_and_change_nothing() {
    let cases = cases("config");
    let mut failures = Vec::new();
    for case in &cases {
        let install = Install::new();
        let target = if case.name.starts_with("kibana-") {
            install.path("kibana/kibana.yml")
        } else {
            install.path("elasticsearch/elasticsearch.yml")
        };
        std::fs::write(&target, &case.body).unwrap();
        let answers = install.base_answers();
        if let Some(f) = check(&install, case, &answers, &[]) {
            failures.push(f);
        }
    }
    report(failures, cases.len());
}

fn special(name: &str, exit: i32, expect: &[&str]) -> Case {
    Case {
        name: name.into(),
        exit,
        expect: expect.iter().map(|s| (*s).to_string()).collect(),
        body: String::new(),
    }
}

#[test]
fn config_that_is_a_directory_or_a_dangling_symlink() {
    let mut failures = Vec::new();

    let install = Install::new();
    let yml = install.path("elasticsearch/elasticsearch.yml");
    std::fs::remove_file(&yml).unwrap();
    std::fs::create_dir(&yml).unwrap();
    let case = special(
        "config-is-a-directory",
        2,
        &["elasticsearch.yml", "directory"],
    );
    failures.extend(check(&install, &case, &install.base_answers(), &[]));

    let install = Install::new();
    let yml = install.path("elasticsearch/elasticsearch.yml");
    std::fs::remove_file(&yml).unwrap();
    std::os::unix::fs::symlink(install.path("nowhere.yml"), &yml).unwrap();
    let case = special(
        "config-dangling-symlink",
        2,
        &["elasticsearch.yml", "symbolic link"],
    );
    failures.extend(check(&install, &case, &install.base_answers(), &[]));

    let install = Install::new();
    std::fs::remove_file(install.path("elasticsearch/elasticsearch.yml")).unwrap();
    let case = special("config-missing", 2, &["elasticsearch.yml"]);
    failures.extend(check(&install, &case, &install.base_answers(), &[]));

    let install = Install::new();
    std::fs::write(
        install.path("elasticsearch/elasticsearch.yml"),
        b"node.name: \xff\xfe\n",
    )
    .unwrap();
    let case = special("config-not-utf8", 2, &["elasticsearch.yml", "UTF-8"]);
    failures.extend(check(&install, &case, &install.base_answers(), &[]));

    let install = Install::new();
    std::fs::remove_file(install.path("home/lib/elasticsearch-8.19.21.jar")).unwrap();
    let case = special(
        "es-version-unknown",
        3,
        &["lib/elasticsearch-", "--es-home"],
    );
    failures.extend(check(&install, &case, &install.base_answers(), &[]));

    let install = Install::new();
    let case = special("service-user-missing", 3, &["no-such-es-user", "useradd"]);
    let answers = install.base_answers().replacen(
        "elasticsearch:\n",
        "elasticsearch:\n  service_user: no-such-es-user\n",
        1,
    );
    failures.extend(check(&install, &case, &answers, &[]));

    report(failures, 6);
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Writes that fail half-way (an immutable file, a full disk) must roll back everything.
#[test]
fn failed_writes_roll_back_everything() {
    if !is_root() {
        support::skip("failed_writes_roll_back_everything needs root (chattr, mount)");
        return;
    }
    let mut failures = Vec::new();

    // kibana.yml immutable: the ES side is written first, then the Kibana write fails.
    let install = Install::new();
    let kyml = install.path("kibana/kibana.yml");
    let chattr_ok = support::run::succeeds(Command::new("chattr").arg("+i").arg(&kyml));
    if chattr_ok {
        let case = special("read-only-kibana-yml", 4, &["kibana.yml", "Rolled back"]);
        failures.extend(check(&install, &case, &install.base_answers(), &[]));
        let _ = support::run::output(Command::new("chattr").arg("-i").arg(&kyml)).status;
    } else {
        support::skip("read-only case (chattr +i not supported on this filesystem)");
    }

    // A full disk: the config directory on a 64 KiB tmpfs, already nearly full.
    let install = Install::new();
    let es = install.path("elasticsearch");
    let saved = std::fs::read(es.join("elasticsearch.yml")).unwrap();
    let mounted = support::run::succeeds(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&es),
    );
    if mounted {
        std::fs::write(es.join("elasticsearch.yml"), &saved).unwrap();
        // Fill the rest so the certificate writes fail with ENOSPC.
        let filler = vec![b'x'; 60 * 1024];
        let _ = std::fs::write(es.join("filler"), &filler);
        let case = special("disk-full", 4, &["No space left", "Rolled back"]);
        failures.extend(check(&install, &case, &install.base_answers(), &[]));
        let _ = support::run::output(Command::new("umount").arg(&es)).status;
    } else {
        support::skip("disk-full case (cannot mount a tmpfs here)");
    }
    report(failures, 2);
}

/// Not root: a clear error with the exact sudo command, before anything is planned.
#[test]
fn not_writable_config_names_sudo() {
    if !is_root() {
        support::skip("not_writable_config_names_sudo drops to `nobody`, needs root");
        return;
    }
    let install = Install::new();
    // `nobody` must be able to reach the files to read them.
    for p in ["", "elasticsearch", "kibana", "home", "home/lib"] {
        std::fs::set_permissions(install.path(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let answers = install.path("answers.yml");
    std::fs::write(&answers, install.base_answers()).unwrap();
    std::fs::set_permissions(&answers, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = install.snapshot();
    let out = support::run::output(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_es-secure"))
            .args(["apply", "--yes", "--answers"])
            .arg(&answers)
            .arg("--es-home")
            .arg(install.path("home"))
            .arg("--es-config")
            .arg(install.path("elasticsearch"))
            .arg("--kibana-config")
            .arg(install.path("kibana"))
            .arg("--state-dir")
            .arg(install.path("nobody-state")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("sudo"), "{stderr}");
    assert_eq!(before, install.snapshot());
}
