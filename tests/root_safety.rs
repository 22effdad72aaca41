//! Root safety (issue 12): es-secure runs as root while the Elasticsearch/Kibana service
//! accounts may be compromised. Each attack here is made by the real unprivileged user
//! (`estest`, via `runuser`), and each test asserts that the file the attack aims at is
//! untouched (bytes, mode, owner) and that the message names the path and the fix.
//!
//! The attacks need root and the test user: without them those tests print SKIPPED (or fail
//! with `ES_SECURE_TEST_REQUIRE=1`). The input tests (FIFO, device, huge file, non-UTF-8
//! arguments) run as any user. The directory-swap test needs the `fault-injection` feature.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use es_secure::shell::safe_fs;
use es_secure::shell::txn::{Perms, StateDir, Txn};

const ROOT_ONLY: &[u8] = b"ROOT-ONLY: nobody but root may change this\n";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The test user's (uid, gid) when running as root with the test user present.
fn attacker() -> Option<(String, u32, u32)> {
    let user = support::es::test_user();
    let why = if !nix::unistd::geteuid().is_root() {
        "not running as root".to_string()
    } else {
        match nix::unistd::User::from_name(&user).ok().flatten() {
            Some(u) => return Some((user, u.uid.as_raw(), u.gid.as_raw())),
            None => format!("user {user} does not exist (scripts/test-env.sh creates it)"),
        }
    };
    let msg = format!("SKIPPED root-safety test: {why}");
    if std::env::var("ES_SECURE_TEST_REQUIRE").is_ok_and(|s| s == "1") {
        panic!("{msg} (and ES_SECURE_TEST_REQUIRE=1)");
    }
    eprintln!("{msg}");
    None
}

/// Run a shell command as `user`, with a wall-clock limit; it must succeed.
fn as_user(user: &str, script: &str) {
    let st = std::process::Command::new("timeout")
        .args(["30", "runuser", "-u", user, "--", "sh", "-c", script])
        .status()
        .unwrap();
    assert!(st.success(), "as {user}: {script}");
}

/// A directory tree the attacker can reach (0755 top, like /etc), with a root-only victim
/// file in a root-only directory.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let vault = dir.path().join("vault");
        std::fs::create_dir(&vault).unwrap();
        std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(vault.join("victim"), ROOT_ONLY).unwrap();
        std::fs::set_permissions(vault.join("victim"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn victim(&self) -> PathBuf {
        self.path("vault/victim")
    }

    /// A directory owned by the attacker (an archive install's config dir or `certs/`).
    fn attacker_dir(&self, p: &str, uid: u32, gid: u32) -> PathBuf {
        let d = self.path(p);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    fn assert_victim_untouched(&self) {
        let v = self.victim();
        assert_eq!(
            std::fs::read(&v).unwrap(),
            ROOT_ONLY,
            "victim content changed"
        );
        let m = std::fs::symlink_metadata(&v).unwrap();
        assert!(m.is_file());
        assert_eq!(m.mode() & 0o7777, 0o600, "victim mode changed");
        assert_eq!((m.uid(), m.gid()), (0, 0), "victim owner changed");
    }

    fn state(&self) -> StateDir {
        StateDir::open(&self.path("state")).unwrap()
    }
}

fn assert_names_path_and_fix(err: &str, path: &Path) {
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("help:"), "no fix in: {err}");
}

#[test]
fn symlinked_key_in_a_service_writable_certs_dir_is_refused() {
    let Some((user, uid, gid)) = attacker() else {
        return;
    };
    let s = Scene::new();
    let config = s.attacker_dir("es/config", uid, gid);
    let certs = s.attacker_dir("es/config/certs", uid, gid);
    let key = certs.join("http.key");
    as_user(
        &user,
        &format!("ln -s {} {}", s.victim().display(), key.display()),
    );
    let state = s.state();
    let _lock = state.lock("test").unwrap();
    let mut t = Txn::begin(&state, "attack").unwrap();
    let err = format!(
        "{:#}",
        t.write_file(
            &key,
            b"-----BEGIN PRIVATE KEY-----\n",
            Perms {
                mode: Some(0o640),
                owner: Some((0, gid)),
            }
        )
        .unwrap_err()
    );
    assert!(err.contains("refusing to follow the symlink"), "{err}");
    assert_names_path_and_fix(&err, &key);
    assert!(err.contains("chmod 2750"), "{err}");
    assert!(t.rollback().unwrap().items.is_empty());
    s.assert_victim_untouched();
    assert!(std::fs::symlink_metadata(&key).unwrap().is_symlink());
    // A symlinked directory component planted there is refused the same way.
    as_user(
        &user,
        &format!(
            "ln -s {} {}",
            s.path("vault").display(),
            config.join("sub").display()
        ),
    );
    let mut t = Txn::begin(&state, "attack 2").unwrap();
    let err = format!(
        "{:#}",
        t.write_file(&config.join("sub/victim"), b"x", Perms::default())
            .unwrap_err()
    );
    assert!(err.contains("refusing to follow the symlink"), "{err}");
    t.rollback().unwrap();
    s.assert_victim_untouched();
}

#[test]
fn symlinked_users_realm_file_is_refused() {
    let Some((user, uid, gid)) = attacker() else {
        return;
    };
    let s = Scene::new();
    let config = s.attacker_dir("es/config", uid, gid);
    as_user(
        &user,
        &format!(
            "ln -s {} {}",
            s.victim().display(),
            config.join("users").display()
        ),
    );
    let err = format!(
        "{:#}",
        es_secure::shell::file_realm::TempSuperuser::create(&config).unwrap_err()
    );
    assert!(err.contains("refusing to follow the symlink"), "{err}");
    assert_names_path_and_fix(&err, &config.join("users"));
    s.assert_victim_untouched();
    // The role line added before the failure was taken out again.
    assert!(!config.join("users_roles").exists());
}

#[test]
fn planted_temp_files_and_links_in_a_shared_output_dir() {
    let Some((user, _, _)) = attacker() else {
        return;
    };
    let s = Scene::new();
    // A shared, sticky output directory like /tmp.
    let shared = s.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = shared.join("passwords.txt");
    for tmp in [
        ".passwords.txt.tmp",
        ".passwords.txt.es-secure.tmp",
        "passwords.txt.tmp",
    ] {
        as_user(
            &user,
            &format!(
                "ln -s {} {}",
                s.victim().display(),
                shared.join(tmp).display()
            ),
        );
    }
    safe_fs::write_private(&out, b"elastic: secret\n").unwrap();
    s.assert_victim_untouched();
    let m = std::fs::symlink_metadata(&out).unwrap();
    assert!(m.is_file());
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, 0));
    assert_eq!(std::fs::read(&out).unwrap(), b"elastic: secret\n");

    // The output file itself planted as a link by the attacker: refused.
    let out2 = shared.join("passwords2.txt");
    as_user(
        &user,
        &format!("ln -s {} {}", s.victim().display(), out2.display()),
    );
    let err = format!(
        "{:#}",
        safe_fs::write_private(&out2, b"elastic: secret\n").unwrap_err()
    );
    assert!(err.contains("refusing to follow the symlink"), "{err}");
    assert_names_path_and_fix(&err, &out2);
    s.assert_victim_untouched();
}

#[cfg(feature = "fault-injection")]
#[test]
fn directory_swapped_between_mkdir_and_chown_is_refused() {
    let Some((user, uid, gid)) = attacker() else {
        return;
    };
    for swap in ["link", "own-dir"] {
        let s = Scene::new();
        let config = s.attacker_dir("es/config", uid, gid);
        let new = config.join("certs");
        let vault = s.path("vault");
        let (hook_new, hook_vault, hook_user) = (new.clone(), vault.clone(), user.clone());
        let swap_cmd = match swap {
            "link" => format!(
                "rmdir {n} && ln -s {v} {n}",
                n = hook_new.display(),
                v = hook_vault.display()
            ),
            _ => format!("rmdir {n} && mkdir {n}", n = hook_new.display()),
        };
        safe_fs::set_after_mkdir_hook(Some(Box::new(move |p: &Path| {
            if p == hook_new {
                as_user(&hook_user, &swap_cmd);
            }
        })));
        let state = s.state();
        let _lock = state.lock("test").unwrap();
        let mut t = Txn::begin(&state, "swap").unwrap();
        let result = t.create_dir_all(
            &new,
            Perms {
                mode: Some(0o750),
                owner: Some((0, gid)),
            },
        );
        safe_fs::set_after_mkdir_hook(None);
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("was replaced"), "{swap}: {err}");
        assert!(err.contains(&new.display().to_string()), "{swap}: {err}");
        t.rollback().unwrap();
        let v = std::fs::metadata(&vault).unwrap();
        assert_eq!(
            (v.uid(), v.gid(), v.mode() & 0o7777),
            (0, 0, 0o755),
            "{swap}"
        );
        s.assert_victim_untouched();
    }
}

// ---------------------------------------------------------------------------------------
// Bounded, non-blocking input (any user)

fn es_secure() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("es-secure").unwrap();
    cmd.env("NO_COLOR", "1").timeout(TIMEOUT);
    cmd
}

fn run(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fifo_device_and_huge_answers_exit_2_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("answers.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let huge = tmp.path().join("huge.yml");
    std::fs::write(&huge, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    for (path, expect) in [
        (fifo.as_path(), "a FIFO"),
        (Path::new("/dev/zero"), "a character device"),
        (huge.as_path(), "bytes, more than"),
    ] {
        let (code, err) = run(es_secure().arg("plan").arg("--answers").arg(path));
        assert_eq!(code, 2, "{}: {err}", path.display());
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(expect), "{err}");
    }
}

#[test]
fn fifo_config_and_secret_exit_2_and_change_nothing() {
    let dir = support::install::deb_install();
    let yml = dir.path().join("elasticsearch/elasticsearch.yml");
    let before = std::fs::read(&yml).unwrap();
    let kibana = dir.path().join("kibana/kibana.yml");
    // A `file:` secret that is a FIFO: apply must not hang on it.
    let fifo = dir.path().join("elastic.pw");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let answers = dir.path().join("answers.yml");
    std::fs::write(
        &answers,
        format!(
            "version: 1\ntier: https\nnodes:\n  - name: node-1\n    dns: [localhost]\n    ip: [127.0.0.1]\nthis_node: node-1\nelasticsearch:\n  allow_partial_cluster: true\npasswords:\n  elastic: file:{}\n",
            fifo.display()
        ),
    )
    .unwrap();
    let mut cmd = es_secure();
    cmd.arg("--es-home")
        .arg(dir.path().join("home"))
        .arg("--es-config")
        .arg(dir.path().join("elasticsearch"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--kibana-config")
        .arg(dir.path().join("kibana"))
        .args(["--es-user", "nobody", "apply", "--yes", "--answers"])
        .arg(&answers);
    let (code, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&fifo.display().to_string()), "{err}");
    assert!(err.contains("a FIFO"), "{err}");
    assert_eq!(std::fs::read(&yml).unwrap(), before);

    // elasticsearch.yml itself a FIFO.
    std::fs::remove_file(&yml).unwrap();
    nix::unistd::mkfifo(&yml, nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
    let (code, err) = run(es_secure()
        .arg("--es-home")
        .arg(dir.path().join("home"))
        .arg("--es-config")
        .arg(dir.path().join("elasticsearch"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--kibana-config")
        .arg(dir.path().join("kibana"))
        .arg("status"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&yml.display().to_string()), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(kibana.exists());
}

#[test]
fn non_utf8_arguments_exit_2_with_a_message() {
    let bad = OsStr::from_bytes(b"/tmp/answers-\xff.yml");
    let (code, err) = run(es_secure().arg("plan").arg("--answers").arg(bad));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn status_names_a_config_dir_the_service_user_can_write_with_the_fix() {
    let Some((user, uid, gid)) = attacker() else {
        return;
    };
    let dir = support::install::deb_install();
    let config = dir.path().join("elasticsearch");
    std::os::unix::fs::chown(&config, Some(uid), Some(gid)).unwrap();
    let out = es_secure()
        .arg("--es-home")
        .arg(dir.path().join("home"))
        .arg("--es-config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--kibana-config")
        .arg(dir.path().join("kibana"))
        .args(["--es-user", &user, "status"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "can write the Elasticsearch config directory {}",
            config.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("chmod 2750 {}", config.display())),
        "{text}"
    );
    // The Kibana dir stays root's: no finding for it.
    assert!(
        !text.contains("can write the Kibana config directory"),
        "{text}"
    );
}

#[test]
fn fifos_and_links_planted_in_certs_do_not_hang_or_redirect_status() {
    let Some((user, uid, gid)) = attacker() else {
        return;
    };
    let dir = support::install::deb_install();
    let config = dir.path().join("elasticsearch");
    let certs = config.join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::os::unix::fs::chown(&certs, Some(uid), Some(gid)).unwrap();
    as_user(
        &user,
        &format!(
            "mkfifo {c}/http.crt {c}/ca.crt && ln -s /dev/zero {c}/transport.crt",
            c = certs.display()
        ),
    );
    // A blocking open of a FIFO would hang here until the timeout kills it.
    let out = es_secure()
        .arg("--es-home")
        .arg(dir.path().join("home"))
        .arg("--es-config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--kibana-config")
        .arg(dir.path().join("kibana"))
        .args(["--es-user", &user, "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("can write the Elasticsearch certificates directory"),
        "{text}"
    );
}
