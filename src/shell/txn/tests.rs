//! Unit tests of the file transaction: backups, rollback, commit pruning, the lock, symlinks
//! and non-regular targets, on private temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use std::fs;
use std::os::unix::fs::MetadataExt as _;

fn private_tmp() -> (tempfile::TempDir, StateDir) {
    let tmp = tempfile::tempdir().unwrap();
    let state = StateDir::open(&tmp.path().join("state")).unwrap();
    (tmp, state)
}

/// A rolling restart commits one allocation-only journal per node: they must not push the
/// applies' backups out of the kept transactions, and only the newest of them stays.
#[test]
fn allocation_only_journals_do_not_count_towards_the_kept_transactions() {
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let f = tmp.path().join("f");
    let mut applies = Vec::new();
    for i in 0..DEFAULT_KEEP {
        let mut t = Txn::begin(&state, "apply").unwrap();
        t.write_file(&f, format!("{i}").as_bytes(), Perms::default())
            .unwrap();
        applies.push(t.commit().unwrap());
    }
    let mut rolling = Vec::new();
    for _ in 0..3 {
        let mut t = Txn::begin(&state, "rolling-restart").unwrap();
        t.record_allocation(tmp.path(), "https://127.0.0.1:9200")
            .unwrap();
        rolling.push(t.commit().unwrap());
    }
    let left: Vec<String> = list(&state).unwrap().into_iter().map(|s| s.id).collect();
    for id in &applies {
        assert!(left.contains(id), "apply {id} pruned: {left:?}");
    }
    assert!(left.contains(&rolling[2]), "{left:?}");
    assert!(
        !left.contains(&rolling[0]) && !left.contains(&rolling[1]),
        "{left:?}"
    );
}

#[test]
fn commit_keeps_only_the_last_finished_transactions() {
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let f = tmp.path().join("f");
    let mut ids = Vec::new();
    for i in 0..DEFAULT_KEEP + 2 {
        let mut t = Txn::begin(&state, "t").unwrap();
        t.write_file(&f, format!("{i}").as_bytes(), Perms::default())
            .unwrap();
        ids.push(t.commit().unwrap());
    }
    let left: Vec<String> = list(&state).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(left.len(), DEFAULT_KEEP, "{left:?}");
    // The newest are kept, the oldest (and their backups) are gone.
    assert_eq!(left[0], ids[ids.len() - 1]);
    assert!(!state.path().join("txn").join(&ids[0]).exists());
    assert!(!state.path().join("txn").join(&ids[1]).exists());
    let mut t = Txn::begin(&state, "k").unwrap();
    t.keep_last(1);
    t.commit().unwrap();
    assert_eq!(list(&state).unwrap().len(), 1);
}

#[test]
fn write_pair_replaces_both_files_and_rollback_restores_both() {
    use std::os::unix::fs::PermissionsExt as _;
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let (crt, key) = (tmp.path().join("http.crt"), tmp.path().join("http.key"));
    fs::write(&crt, b"old cert").unwrap();
    fs::write(&key, b"old key").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let mut t = Txn::begin(&state, "renew").unwrap();
    let p = Perms {
        mode: Some(0o640),
        owner: None,
    };
    t.write_pair((&crt, b"new cert", p.clone()), (&key, b"new key", p))
        .unwrap();
    assert_eq!(fs::read(&crt).unwrap(), b"new cert");
    assert_eq!(fs::read(&key).unwrap(), b"new key");
    assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o640);
    // No temporary file is left next to them.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
    t.rollback().unwrap();
    assert_eq!(fs::read(&crt).unwrap(), b"old cert");
    assert_eq!(fs::read(&key).unwrap(), b"old key");
    assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn ids_are_safe_directory_names() {
    let id = new_id().unwrap();
    assert!(valid_id(&id), "{id}");
    for bad in ["", "../x", "a/b", ".", "a b"] {
        assert!(!valid_id(bad), "{bad}");
    }
}

#[test]
fn journal_round_trips_through_json() {
    let j = Journal {
        version: journal::JOURNAL_VERSION,
        id: "20260101-000000-abcdef".into(),
        label: "tier 0 -> 1".into(),
        started_ns: 7,
        pid: 1,
        status: JournalStatus::RollingBack,
        last_checkpoint: Some("step 2".into()),
        entries: vec![
            Entry::Dir { path: "/a".into() },
            Entry::File {
                path: "/a/b".into(),
                original: Some(Original {
                    backup: "0001".into(),
                    stamp: Stamp {
                        sha256: "00".into(),
                        mode: 0o640,
                        uid: 1,
                        gid: 2,
                    },
                }),
                after: None,
                removed: false,
            },
        ],
    };
    let text = serde_json::to_string(&j).unwrap();
    assert_eq!(serde_json::from_str::<Journal>(&text).unwrap(), j);
    assert!(text.contains("\"rolling-back\""), "{text}");
}

#[test]
fn report_names_every_path_and_action() {
    let r = RollbackReport {
        id: "X".into(),
        label: "L".into(),
        recovered: false,
        last_checkpoint: None,
        items: vec![
            RollbackItem {
                path: "/f".into(),
                action: RollbackAction::Restored,
            },
            RollbackItem {
                path: "/n".into(),
                action: RollbackAction::Removed,
            },
        ],
    };
    let s = r.to_string();
    assert!(s.starts_with("transaction X (L):"), "{s}");
    assert!(s.contains("restored: /f") && s.contains("removed (did not exist before): /n"));
}

#[test]
fn state_dir_must_be_absolute_and_is_created_private() {
    assert!(StateDir::open(Path::new("rel/state")).is_err());
    let (tmp, _state) = private_tmp();
    let mode = fs::metadata(tmp.path().join("state")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_journaled_service_token_is_deleted_or_reported_left() {
    let (tmp, state) = private_tmp();
    let keystore = tmp.path().join("kibana.keystore");
    let _lock = state.lock("test").unwrap();
    // A crash after the record: recovery has no credentials, so it reports the token.
    let mut txn = Txn::begin(&state, "t").unwrap();
    txn.record_service_token(&keystore, "http://127.0.0.1:9", "es-secure-h")
        .unwrap();
    drop(txn);
    let reports = recover_incomplete(&state).unwrap();
    assert_eq!(reports[0].items[0].action, RollbackAction::TokenLeft);
    assert!(
        reports[0]
            .to_string()
            .contains("may be left in Elasticsearch"),
        "{}",
        reports[0]
    );
    // A live rollback whose node does not answer: left too, not an error.
    let mut txn = Txn::begin(&state, "t").unwrap();
    txn.record_service_token(&keystore, "http://127.0.0.1:9", "es-secure-h")
        .unwrap();
    let client = EsClient::new(
        "http://127.0.0.1:9",
        crate::shell::es_client::Trust::PlainHttp,
    )
    .unwrap();
    let report = txn.rollback_with(Some(&client)).unwrap();
    assert_eq!(report.items[0].action, RollbackAction::TokenLeft);
}

#[test]
fn a_journaled_temp_user_is_removed_by_name_and_created_files_deleted() {
    let (tmp, state) = private_tmp();
    let config = tmp.path().join("config");
    fs::create_dir(&config).unwrap();
    fs::write(config.join("users_roles"), "admin:alice\n").unwrap();
    let _lock = state.lock("test").unwrap();
    let mut txn = Txn::begin(&state, "t").unwrap();
    let user = crate::shell::file_realm::create_journaled(&config, |name| {
        txn.record_temp_user(&config, name)
    })
    .unwrap();
    // A crash: the user is never removed by its owner.
    std::mem::forget(user);
    drop(txn);
    let reports = recover_incomplete(&state).unwrap();
    assert!(
        reports[0]
            .to_string()
            .contains("removed the temporary superuser")
    );
    assert!(
        !config.join("users").exists(),
        "created by the user: deleted again"
    );
    assert_eq!(
        fs::read_to_string(config.join("users_roles")).unwrap(),
        "admin:alice\n"
    );
}

#[test]
fn changing_operations_need_the_lock() {
    let (_tmp, state) = private_tmp();
    let err = Txn::begin(&state, "x").err().unwrap().to_string();
    assert!(err.contains("needs the lock"), "{err}");
    assert!(recover_incomplete(&state).is_err());
    let lock = state.lock("test").unwrap();
    assert!(Txn::begin(&state, "x").is_ok());
    drop(lock);
    assert!(Txn::begin(&state, "y").is_err());
}

#[test]
fn second_locker_is_told_who_holds_it() {
    let (_tmp, state) = private_tmp();
    let other = StateDir::open(state.path()).unwrap();
    let held = state.lock("apply").unwrap();
    match other.lock("rollback") {
        Err(LockError::Held { path, holder }) => {
            assert_eq!(path, state.path().join("lock"));
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains("for apply"), "{holder}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("locked twice"),
    }
    drop(held);
    assert!(other.lock("rollback").is_ok());
}

#[test]
fn write_through_a_symlink_keeps_the_link() {
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let real = tmp.path().join("real.yml");
    let link = tmp.path().join("link.yml");
    fs::write(&real, b"old\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut t = Txn::begin(&state, "t").unwrap();
    t.write_file(&link, b"new\n", Perms::default()).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(&real).unwrap(), b"new\n");
    let report = t.rollback().unwrap();
    assert_eq!(fs::read(&real).unwrap(), b"old\n");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(report.items[0].path, fs::canonicalize(&real).unwrap());
}

#[test]
fn created_dirs_are_removed_only_when_empty() {
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let top = tmp.path().join("a");
    let mut t = Txn::begin(&state, "t").unwrap();
    t.create_dir_all(
        &top.join("b/c"),
        Perms {
            mode: Some(0o750),
            owner: None,
        },
    )
    .unwrap();
    assert_eq!(fs::metadata(top.join("b/c")).unwrap().mode() & 0o777, 0o750);
    // Someone else's file appears in a directory the apply created.
    fs::write(top.join("foreign"), b"x").unwrap();
    let report = t.rollback().unwrap();
    assert!(!top.join("b").exists());
    assert!(top.join("foreign").exists());
    assert_eq!(
        report.items.last().unwrap().action,
        RollbackAction::KeptDirNotEmpty
    );
}

#[test]
fn refuses_non_regular_targets_and_missing_parents() {
    let (tmp, state) = private_tmp();
    let _lock = state.lock("test").unwrap();
    let mut t = Txn::begin(&state, "t").unwrap();
    assert!(t.write_file(tmp.path(), b"x", Perms::default()).is_err());
    assert!(
        t.write_file(&tmp.path().join("nope/f"), b"x", Perms::default())
            .is_err()
    );
    assert!(
        t.write_file(Path::new("rel"), b"x", Perms::default())
            .is_err()
    );
    assert!(t.rollback().unwrap().items.is_empty());
}
