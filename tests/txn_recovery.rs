#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash and fault recovery of the file transaction (`shell::txn`).
//!
//! Hard crashes run in a child process: this test binary re-executes itself with
//! `TXN_CHILD_ROOT` set and `--ignored`, and the (otherwise ignored) `child_scenario` test
//! runs the scenario with the fault-injection variables the parent chose.

mod support;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use es_secure::shell::txn::{self, LockError, Perms, RollbackAction, StateDir, Txn, TxnStatus};

const OLD_YML: &[u8] = b"cluster.name: prod\r\nnode.name: n1\r\n# trailing CRLF\r\n";
const NEW_YML: &[u8] = b"cluster.name: prod\r\nnode.name: n1\r\nxpack.security.enabled: true\r\n";
const NEW_YML2: &[u8] = b"cluster.name: prod\nxpack.security.enabled: true\n";
const NEW_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/// Every byte value, so nothing is treated as text.
fn old_keystore() -> Vec<u8> {
    (0..=255u8)
        .rev()
        .chain([0, 0, b'\r', b'\n', 0xff])
        .collect()
}
fn new_keystore() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}
/// The bundles directory before: one bundle the unit replaces, one it keeps.
const OLD_BUNDLES: [(&str, &[u8]); 2] = [
    (
        "gone.bundle.yml",
        b"old bundle of a node no longer in the answers\n",
    ),
    ("n1.bundle.yml", b"old bundle n1\n"),
];
/// After the unit: the kept one, the replaced one and a new one.
const NEW_BUNDLES: [(&str, &[u8]); 3] = [
    (
        "gone.bundle.yml",
        b"old bundle of a node no longer in the answers\n",
    ),
    ("n1.bundle.yml", b"new bundle n1\n"),
    ("n2.bundle.yml", b"new bundle n2\n"),
];

/// Mutations the scenario makes, in order (for the fault loops).
#[cfg(feature = "fault-injection")]
const MUTATIONS: u32 = 7;
#[cfg(feature = "fault-injection")]
const PHASES: [&str; 3] = ["before", "after-backup", "after-write"];

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A real non-root owner when running as root (to prove owners are kept), else ourselves.
fn other_owner() -> (u32, u32) {
    if is_root() {
        (65534, 65534)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    }
}

fn me() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

struct Paths {
    root: PathBuf,
    state: PathBuf,
    yml: PathBuf,
    keystore: PathBuf,
    certs: PathBuf,
    pem: PathBuf,
    bundles: PathBuf,
}

fn paths(root: &Path) -> Paths {
    let etc = root.join("etc");
    Paths {
        root: root.to_path_buf(),
        state: root.join("state"),
        yml: etc.join("elasticsearch.yml"),
        keystore: etc.join("elasticsearch.keystore"),
        certs: etc.join("certs"),
        pem: etc.join("certs/sub/node.pem"),
        bundles: etc.join("bundles"),
    }
}

fn set(path: &Path, bytes: &[u8], mode: u32, owner: (u32, u32)) {
    fs::write(path, bytes).unwrap();
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The node before the apply.
fn setup() -> (tempfile::TempDir, Paths) {
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    fs::create_dir(p.root.join("etc")).unwrap();
    set(&p.yml, OLD_YML, 0o640, other_owner());
    set(&p.keystore, &old_keystore(), 0o660, (other_owner().0, 0));
    fs::create_dir(&p.bundles).unwrap();
    fs::set_permissions(&p.bundles, fs::Permissions::from_mode(0o700)).unwrap();
    for (name, bytes) in OLD_BUNDLES {
        set(&p.bundles.join(name), bytes, 0o600, me());
    }
    (tmp, p)
}

/// The bundles directory's files (name, bytes, mode), sorted; `None` when it is missing.
fn bundles(p: &Paths) -> Option<Vec<(String, Vec<u8>, u32)>> {
    let mut out: Vec<_> = fs::read_dir(&p.bundles)
        .ok()?
        .map(|e| {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            assert!(m.is_file(), "{}", e.path().display());
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
                m.mode() & 0o7777,
            )
        })
        .collect();
    out.sort();
    Some(out)
}

fn expected(set: &[(&str, &[u8])]) -> Option<Vec<(String, Vec<u8>, u32)>> {
    Some(
        set.iter()
            .map(|(n, b)| (n.to_string(), b.to_vec(), 0o600))
            .collect(),
    )
}

/// No staging or swapped-out unit directory is left in any transaction's backups.
fn assert_no_unit_leftovers(p: &Paths) {
    for txn in fs::read_dir(p.state.join("txn")).unwrap() {
        let backup = txn.unwrap().path().join("backup");
        if let Ok(entries) = fs::read_dir(&backup) {
            for e in entries {
                let e = e.unwrap();
                assert!(
                    !e.file_type().unwrap().is_dir(),
                    "unit directory left: {}",
                    e.path().display()
                );
            }
        }
    }
}

fn assert_file(path: &Path, bytes: &[u8], mode: u32, owner: (u32, u32)) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(m.is_file(), "{}", path.display());
    assert!(
        fs::read(path).unwrap() == bytes,
        "{} content",
        path.display()
    );
    assert_eq!(m.mode() & 0o7777, mode, "{} mode", path.display());
    assert_eq!((m.uid(), m.gid()), owner, "{} owner", path.display());
}

/// Everything is as `setup` left it: originals byte-for-byte with mode and owner, nothing
/// created, no temp files.
fn assert_original(p: &Paths) {
    assert_file(&p.yml, OLD_YML, 0o640, other_owner());
    assert_file(&p.keystore, &old_keystore(), 0o660, (other_owner().0, 0));
    assert!(!p.certs.exists(), "created directory left behind");
    assert_eq!(
        bundles(p),
        expected(&OLD_BUNDLES),
        "bundles not the old set"
    );
    assert_eq!(
        fs::metadata(&p.bundles).unwrap().mode() & 0o7777,
        0o700,
        "bundles directory mode"
    );
    let mut names: Vec<String> = fs::read_dir(p.root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bundles", "elasticsearch.keystore", "elasticsearch.yml"]
    );
    if p.state.join("txn").exists() {
        assert_no_unit_leftovers(p);
    }
}

fn new_ks_owner() -> Option<(u32, u32)> {
    is_root().then_some((0, 0))
}

/// The mutations of one apply, numbered as the fault injection counts them.
fn scenario_steps(t: &mut Txn, p: &Paths) -> anyhow::Result<()> {
    let (uid, gid) = other_owner();
    t.create_dir_all(
        &p.certs.join("sub"),
        Perms {
            mode: Some(0o750),
            owner: Some((uid, gid)),
        },
    )?; // 1
    t.write_file(&p.yml, NEW_YML, Perms::default())?; // 2
    t.mutation_checkpoint(Path::new("step 3"))?; // 3
    t.write_file(
        &p.pem,
        NEW_PEM,
        Perms {
            mode: Some(0o640),
            owner: Some((uid, gid)),
        },
    )?; // 4
    t.write_file(
        &p.keystore,
        &new_keystore(),
        Perms {
            mode: Some(0o600),
            owner: new_ks_owner(),
        },
    )?; // 5
    t.write_files_as_unit(
        &p.bundles,
        0o600,
        None,
        Perms {
            mode: Some(0o700),
            owner: None,
        },
        |w| {
            for (name, bytes) in &NEW_BUNDLES[1..] {
                w.add(name, bytes)?;
            }
            Ok(())
        },
    )?; // 6
    t.write_file(&p.yml, NEW_YML2, Perms::default())?; // 7
    Ok(())
}

/// Run the scenario like an apply: on error, roll back. Returns the committed id.
fn run_scenario(p: &Paths) -> anyhow::Result<String> {
    let state = StateDir::open(&p.state)?;
    let _lock = state.lock("apply").map_err(anyhow::Error::new)?;
    let mut t = Txn::begin(&state, "scenario")?;
    match scenario_steps(&mut t, p) {
        Ok(()) => t.commit(),
        Err(e) => {
            let report = t.rollback()?;
            anyhow::bail!("{e:#}\nrolled back: {report}")
        }
    }
}

/// The state after a committed scenario.
fn assert_applied(p: &Paths) {
    assert_file(&p.yml, NEW_YML2, 0o640, other_owner());
    assert_file(
        &p.keystore,
        &new_keystore(),
        0o600,
        new_ks_owner().unwrap_or(me()),
    );
    assert_file(&p.pem, NEW_PEM, 0o640, other_owner());
    assert_eq!(
        bundles(p),
        expected(&NEW_BUNDLES),
        "bundles not the new set"
    );
    let d = fs::metadata(p.certs.join("sub")).unwrap();
    assert_eq!(d.mode() & 0o7777, 0o750);
    assert_eq!((d.uid(), d.gid()), other_owner());
}

/// Entry point of the child process. Ignored, so a normal run lists it as ignored instead of
/// counting a no-op as a passing test; the parent runs it with `--ignored` (and it fails when
/// started that way without the parent's `TXN_CHILD_ROOT`).
#[test]
#[ignore = "the crash child's entry point; run only by the other tests here"]
fn child_scenario() {
    let root = std::env::var_os("TXN_CHILD_ROOT")
        .expect("child_scenario is started by the crash tests with TXN_CHILD_ROOT set");
    let p = paths(Path::new(&root));
    if std::env::var_os("TXN_CHILD_HANG").is_some() {
        // Hold the lock mid-transaction until the parent kills us.
        let state = StateDir::open(&p.state).unwrap();
        let _lock = state.lock("apply").unwrap();
        let mut t = Txn::begin(&state, "hang").unwrap();
        let (uid, gid) = other_owner();
        t.create_dir_all(
            &p.certs.join("sub"),
            Perms {
                mode: Some(0o750),
                owner: Some((uid, gid)),
            },
        )
        .unwrap();
        t.write_file(&p.yml, NEW_YML, Perms::default()).unwrap();
        t.write_file(&p.pem, NEW_PEM, Perms::default()).unwrap();
        println!("READY");
        std::thread::sleep(std::time::Duration::from_secs(120));
        std::process::exit(9);
    }
    match run_scenario(&p) {
        Ok(id) => {
            println!("COMMITTED {id}");
            std::process::exit(0)
        }
        Err(e) => {
            println!("FAILED {e:#}");
            std::process::exit(3)
        }
    }
}

fn child(root: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_scenario",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("TXN_CHILD_ROOT", root)
    .env_remove("ES_SECURE_FAULT_AT")
    .env_remove("ES_SECURE_FAULT_KILL_AT")
    .env_remove("ES_SECURE_FAULT_KILL_PHASE")
    .env_remove("TXN_CHILD_HANG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Each file is its old or one of its new versions (never a mix), with its mode and owner.
fn assert_each_file_old_or_new(p: &Paths, label: &str) {
    let yml = fs::read(&p.yml).unwrap();
    assert!(
        yml == OLD_YML || yml == NEW_YML || yml == NEW_YML2,
        "{label}: torn elasticsearch.yml"
    );
    assert_eq!(
        fs::metadata(&p.yml).unwrap().mode() & 0o777,
        0o640,
        "{label}"
    );
    let ks = fs::read(&p.keystore).unwrap();
    assert!(
        ks == old_keystore() || ks == new_keystore(),
        "{label}: torn keystore"
    );
    if p.pem.exists() {
        assert_eq!(fs::read(&p.pem).unwrap(), NEW_PEM, "{label}: torn pem");
    }
    // The bundles are one unit: all old or all new, never a mix.
    let b = bundles(p);
    assert!(
        b == expected(&OLD_BUNDLES) || b == expected(&NEW_BUNDLES),
        "{label}: bundles are a mix: {:?}",
        b.map(|v| v
            .into_iter()
            .map(|(n, c, _)| (n, String::from_utf8_lossy(&c).into_owned()))
            .collect::<Vec<_>>())
    );
}

#[test]
#[cfg(feature = "fault-injection")]
fn hard_crash_at_every_fault_point_is_recovered() {
    for n in 1..=MUTATIONS {
        for phase in PHASES {
            let label = format!("kill at mutation {n} {phase}");
            let (_tmp, p) = setup();
            let out = support::run::output(&mut child(
                &p.root,
                &[
                    ("ES_SECURE_FAULT_KILL_AT", n.to_string()),
                    ("ES_SECURE_FAULT_KILL_PHASE", phase.to_string()),
                ],
            ));
            assert_eq!(
                out.status.signal(),
                Some(9),
                "{label}: child was not killed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert_each_file_old_or_new(&p, &label);

            let state = StateDir::open(&p.state).unwrap();
            let _lock = state.lock("recover").unwrap();
            assert_eq!(txn::list(&state).unwrap()[0].status, TxnStatus::Incomplete);
            let refused = Txn::begin(&state, "next").err().expect("begin must refuse");
            assert!(
                refused.to_string().contains("did not finish"),
                "{label}: {refused}"
            );

            let reports = txn::recover_incomplete(&state).unwrap();
            assert_eq!(reports.len(), 1, "{label}");
            assert!(reports[0].recovered);
            assert_original(&p);
            let all = txn::list(&state).unwrap();
            assert_eq!(all[0].status, TxnStatus::RolledBack, "{label}");
            // Recovery is idempotent and a new transaction may start.
            assert!(txn::recover_incomplete(&state).unwrap().is_empty());
            Txn::begin(&state, "next").unwrap().rollback().unwrap();
        }
    }
}

#[test]
#[cfg(feature = "fault-injection")]
fn injected_error_at_every_mutation_rolls_back() {
    for n in 1..=MUTATIONS {
        let (_tmp, p) = setup();
        let out = support::run::output(&mut child(
            &p.root,
            &[("ES_SECURE_FAULT_AT", n.to_string())],
        ));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "mutation {n}: {stdout}");
        assert!(
            stdout.contains(&format!("ES_SECURE_FAULT_AT={n}")),
            "{stdout}"
        );
        assert_original(&p);
        let state = StateDir::open(&p.state).unwrap();
        let _lock = state.lock("check").unwrap();
        assert_eq!(txn::list(&state).unwrap()[0].status, TxnStatus::RolledBack);
        assert!(txn::recover_incomplete(&state).unwrap().is_empty());
    }
}

#[test]
#[cfg(feature = "fault-injection")]
fn fault_beyond_the_last_mutation_commits() {
    let (_tmp, p) = setup();
    let out = support::run::output(&mut child(
        &p.root,
        &[("ES_SECURE_FAULT_KILL_AT", (MUTATIONS + 1).to_string())],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_applied(&p);
}

#[test]
fn sigkill_from_outside_mid_transaction_then_recovery() {
    let (_tmp, p) = setup();
    let mut c = child(&p.root, &[("TXN_CHILD_HANG", "1".to_string())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(c.stdout.take().unwrap());
    while !line.contains("READY") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child exited early"
        );
    }
    // While the child holds the lock, a second locker is told who holds it.
    let state = StateDir::open(&p.state).unwrap();
    match state.lock("apply") {
        Err(LockError::Held { path, holder }) => {
            assert_eq!(path, p.state.join("lock"));
            assert!(holder.contains(&format!("pid {}", c.id())), "{holder}");
            let msg = LockError::Held {
                path: path.clone(),
                holder: holder.clone(),
            }
            .to_string();
            assert!(msg.contains(&path.display().to_string()) && msg.contains(&holder));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("the lock was not held"),
    }
    c.kill().unwrap();
    assert_eq!(c.wait().unwrap().signal(), Some(9));
    assert_each_file_old_or_new(&p, "external kill");
    assert!(p.pem.exists());

    // The lock died with its holder.
    let _lock = state.lock("apply").unwrap();
    let reports = txn::recover_incomplete(&state).unwrap();
    assert_eq!(reports.len(), 1);
    let text = reports[0].to_string();
    assert!(text.contains(&p.yml.display().to_string()), "{text}");
    assert!(
        reports[0]
            .items
            .iter()
            .any(|i| i.path == p.pem && i.action == RollbackAction::Removed)
    );
    assert_original(&p);
}

#[test]
fn rollback_of_a_failed_apply_reports_what_it_restored() {
    let (_tmp, p) = setup();
    let state = StateDir::open(&p.state).unwrap();
    let _lock = state.lock("apply").unwrap();
    let mut t = Txn::begin(&state, "failing").unwrap();
    let id = t.id().to_string();
    scenario_steps(&mut t, &p).unwrap();
    assert_applied(&p);
    let report = t.rollback().unwrap();
    assert_original(&p);
    assert_eq!(report.id, id);
    let actions: Vec<(PathBuf, RollbackAction)> = report
        .items
        .iter()
        .map(|i| (i.path.clone(), i.action))
        .collect();
    assert_eq!(
        actions,
        [
            (p.bundles.clone(), RollbackAction::Restored),
            (p.keystore.clone(), RollbackAction::Restored),
            (p.pem.clone(), RollbackAction::Removed),
            (p.yml.clone(), RollbackAction::Restored),
            (p.certs.join("sub"), RollbackAction::RemovedDir),
            (p.certs.clone(), RollbackAction::RemovedDir),
        ]
    );
}

#[test]
fn rollback_committed_restores_and_refuses_after_a_later_change() {
    let (_tmp, p) = setup();
    let first = run_scenario(&p).unwrap();
    assert_applied(&p);

    let state = StateDir::open(&p.state).unwrap();
    {
        let _lock = state.lock("rollback").unwrap();
        // Someone edits a file the apply wrote.
        fs::write(&p.yml, b"edited by hand\n").unwrap();
        let err = txn::rollback_committed(&state, &first)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refusing") && err.contains(&p.yml.display().to_string()),
            "{err}"
        );
        assert!(!err.contains(&p.keystore.display().to_string()), "{err}");
        // Nothing was touched by the refusal.
        assert_eq!(fs::read(&p.keystore).unwrap(), new_keystore());
        assert_eq!(txn::list(&state).unwrap()[0].status, TxnStatus::Committed);

        fs::write(&p.yml, NEW_YML2).unwrap();
        // A bundle deleted after the apply (as --prune-bundles does): refused too.
        let n2 = p.bundles.join("n2.bundle.yml");
        fs::remove_file(&n2).unwrap();
        let err = txn::rollback_committed(&state, &first)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refusing") && err.contains(&p.bundles.display().to_string()),
            "{err}"
        );
        set(&n2, NEW_BUNDLES[2].1, 0o600, me());
        let report = txn::rollback_committed(&state, &first).unwrap();
        assert_eq!(report.id, first);
        assert_original(&p);
        assert!(txn::rollback_committed(&state, &first).is_err(), "twice");
        assert!(txn::rollback_committed(&state, "../etc").is_err());
        assert!(txn::rollback_committed(&state, "20200101-000000-000000").is_err());
    }

    // A second apply; list is newest first.
    let second = run_scenario(&p).unwrap();
    let all = txn::list(&state).unwrap();
    let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    assert_eq!(all[0].status, TxnStatus::Committed);
    assert_eq!(all[1].status, TxnStatus::RolledBack);
    assert!(all[0].paths.contains(&p.yml));
}

#[test]
fn rollback_committed_needs_the_lock() {
    let (_tmp, p) = setup();
    let id = run_scenario(&p).unwrap();
    let state = StateDir::open(&p.state).unwrap();
    assert!(txn::rollback_committed(&state, &id).is_err());
    assert_applied(&p);
}

#[test]
fn backups_are_private_and_keep_the_original_mode() {
    let (_tmp, p) = setup();
    let state = StateDir::open(&p.state).unwrap();
    let _lock = state.lock("apply").unwrap();
    let mut t = Txn::begin(&state, "b").unwrap();
    let id = t.id().to_string();
    set(&p.keystore, &old_keystore(), 0o600, me());
    t.write_file(&p.keystore, b"new", Perms::default()).unwrap();
    let dir = p.state.join("txn").join(&id);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        fs::metadata(dir.join("backup")).unwrap().mode() & 0o777,
        0o700
    );
    let backup = fs::read_dir(dir.join("backup"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(backup.metadata().unwrap().mode() & 0o777, 0o600);
    assert_eq!(fs::read(backup.path()).unwrap(), old_keystore());
    assert_eq!(
        fs::metadata(dir.join("journal.json")).unwrap().mode() & 0o777,
        0o600
    );
    t.rollback().unwrap();
}

#[test]
fn state_dir_refusals_say_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
    let err = StateDir::open(&open).err().unwrap().to_string();
    assert!(err.contains("chmod 700"), "{err}");

    let rel = StateDir::open(Path::new("state"))
        .err()
        .unwrap()
        .to_string();
    assert!(rel.contains("absolute"), "{rel}");

    let file = tmp.path().join("file");
    fs::write(&file, b"").unwrap();
    assert!(StateDir::open(&file).is_err());

    if is_root() {
        let theirs = tmp.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let err = StateDir::open(&theirs).err().unwrap().to_string();
        assert!(err.contains("chown") && err.contains("65534"), "{err}");
    }

    let fresh = tmp.path().join("a/b/state");
    StateDir::open(&fresh).unwrap();
    assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn crlf_and_binary_contents_round_trip_exactly() {
    let (_tmp, p) = setup();
    let state = StateDir::open(&p.state).unwrap();
    let _lock = state.lock("apply").unwrap();
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let crlf = b"a\r\nb\rc\n\r\n\x00\xef\xbb\xbf".to_vec();
    let bin = p.root.join("etc/bin");
    let mut t = Txn::begin(&state, "bytes").unwrap();
    t.write_file(&bin, &all_bytes, Perms::default()).unwrap();
    t.write_file(&p.yml, &crlf, Perms::default()).unwrap();
    assert_eq!(fs::read(&bin).unwrap(), all_bytes);
    assert_eq!(fs::read(&p.yml).unwrap(), crlf);
    assert_eq!(
        fs::metadata(&bin).unwrap().mode() & 0o777,
        0o600,
        "private default"
    );
    t.commit().unwrap();

    let mut t = Txn::begin(&state, "back").unwrap();
    t.write_file(&bin, b"", Perms::default()).unwrap();
    t.write_file(&p.yml, OLD_YML, Perms::default()).unwrap();
    t.rollback().unwrap();
    assert_eq!(fs::read(&bin).unwrap(), all_bytes);
    assert_file(&p.yml, &crlf, 0o640, other_owner());
}

#[test]
fn sigterm_sets_the_interrupt_flag_instead_of_killing() {
    let interrupts = es_secure::shell::signals::install().unwrap();
    interrupts.set_quiet(true);
    assert!(!interrupts.requested());
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
    // The signal thread sets the request; give it a moment.
    for _ in 0..100 {
        if interrupts.requested() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("SIGTERM did not set the flag");
}
