//! Many files written as one journaled unit (node bundles): [`Txn::write_files_as_unit`]
//! builds the new directory in the transaction's backup directory, makes it durable with one
//! barrier and swaps it with the live directory in one `renameat2`; the swapped-out original
//! then *is* the backup. The cost is one journal record and one barrier for the whole set
//! instead of a backup, a journal record and two fsyncs per file, and the crash guarantee
//! is the same: the directory is the old one or the new one, never a mix. The digest the
//! commit records (to detect later edits) is made from the bytes as they are written, so the
//! new files are never read back.
//!
//! What it must not do: replace anything but a flat directory of regular files (a symlink or
//! a subdirectory in it is refused before anything changes), drop a file of the old
//! directory that the unit does not replace (those are carried over by hard link), or undo
//! a swap it cannot prove happened (each side is told by the original's device and inode).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest as _, Sha256};

use super::fault::Phase;
use super::journal::{DirOriginal, Entry};
use super::{BACKUP_DIR, DEFAULT_DIR_MODE, Perms, RollbackAction, Txn, sha256_hex};
use crate::shell::safe_fs::{self, DirId, Meta, RemovedDir};

fn split(path: &Path) -> anyhow::Result<(&Path, &OsStr)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no directory name", path.display()))?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    Ok((parent, name))
}

fn as_id(o: DirOriginal) -> DirId {
    DirId {
        dev: o.dev,
        ino: o.ino,
    }
}

/// A file name of a unit: one plain path component.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Receives the files of a unit one at a time (see [`Txn::write_files_as_unit`]), so the
/// caller never holds all of them in memory.
pub struct UnitWriter<'a> {
    dir: &'a safe_fs::Dir,
    mode: u32,
    owner: Option<(u32, u32)>,
    written: Vec<OsString>,
    names: BTreeSet<String>,
    /// Per written file: its name, the SHA-256 of its bytes and its mode and owner, for
    /// [`digest_of`] (no read-back at commit).
    stamps: Vec<(OsString, String, Meta)>,
}

impl UnitWriter<'_> {
    /// Add the file `name` (one path component, not added before) with `bytes`.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if !valid_name(name) || !self.names.insert(name.to_string()) {
            bail!("internal: `{name}` cannot be a file name in a unit (empty, a path or repeated)");
        }
        let meta = self
            .dir
            .create_file_unsynced(OsStr::new(name), bytes, self.mode, self.owner)?;
        self.written.push(name.into());
        self.stamps.push((name.into(), sha256_hex(bytes), meta));
        Ok(())
    }
}

impl Txn {
    /// Replace files of the directory `dir` as one unit: `fill` adds them (name, contents)
    /// through a [`UnitWriter`]; every file gets `mode` and `owner`, files of `dir` not added
    /// are kept, a missing `dir` is created with `new_dir` (an existing one keeps its mode and
    /// owner). A reader or a crash sees the old directory or the new one, never a mix; a
    /// rollback brings the old one back. Counts as one mutation for fault injection:
    /// `after-backup` is after the new directory is built and durable, before the swap.
    pub fn write_files_as_unit(
        &mut self,
        dir: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
        new_dir: Perms,
        fill: impl FnOnce(&mut UnitWriter<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let n = self.start_mutation(dir)?;
        let (parent_path, name) = split(dir)?;
        let parent = safe_fs::open_dir(parent_path)
            .with_context(|| format!("cannot write {}", dir.display()))?;
        let target = parent.path().join(name);
        if self.journal.has_under(&target) {
            bail!(
                "internal: {} was already changed by this apply; it cannot be replaced as a unit",
                target.display()
            );
        }
        let original = parent.child_dir_id(name)?;
        let staging = format!("{:04}.dir", self.journal.entries.len());
        let entry = self.journal.entries.len();
        self.journal.entries.push(Entry::DirUnit {
            path: target.clone(),
            staging: staging.clone(),
            original: original.map(|o| DirOriginal {
                dev: o.dev,
                ino: o.ino,
            }),
            after: None,
        });
        self.journal.version = self.journal.format_version();
        self.save()?;

        let old = match original {
            Some(id) => {
                let old = parent.open_child_dir(name)?;
                if old.id()? != id {
                    bail!(
                        "{} was replaced while es-secure opened it; refusing to go on",
                        target.display()
                    );
                }
                Some(old)
            }
            None => None,
        };
        // What the old directory keeps: checked before anything is built (a symlink or a
        // subdirectory in it is refused here).
        let carried = match &old {
            Some(d) => d.regular_entries()?,
            None => Vec::new(),
        };
        let (dir_mode, dir_owner) = match &old {
            Some(d) => {
                let m = d.meta()?;
                (m.mode, Some((m.uid, m.gid)))
            }
            None => (new_dir.mode.unwrap_or(DEFAULT_DIR_MODE), new_dir.owner),
        };
        // Built inside the private (0700) backup directory, so its mode may be the final one
        // from the start: nobody else can reach it before the swap.
        let backup = safe_fs::open_dir(&self.dir.join(BACKUP_DIR))?;
        let built = backup.create_dir(OsStr::new(&staging), dir_mode, dir_owner)?;
        let mut writer = UnitWriter {
            dir: &built,
            mode,
            owner,
            written: Vec::new(),
            names: BTreeSet::new(),
            stamps: Vec::new(),
        };
        fill(&mut writer)?;
        let UnitWriter {
            written,
            names,
            mut stamps,
            ..
        } = writer;
        if let Some(old) = &old {
            for name in carried
                .iter()
                .filter(|e| !e.to_str().is_some_and(|e| names.contains(e)))
            {
                built.link_from(old, name)?;
                // Carried files were not written here: the digest reads them (usually none).
                stamps.push(stamp_in(&built, name)?);
            }
        }
        let digest = digest_of(stamps);
        // The one barrier: every new file, then the directory's entries (links included;
        // the linked files were durable already).
        built.sync_files(&written)?;
        drop(built);
        self.kill_point(n, Phase::AfterBackup);
        backup.swap_dir(OsStr::new(&staging), &parent, name, original.is_some())?;
        if let Some(id) = original
            && backup.child_dir_id(OsStr::new(&staging))? != Some(id)
        {
            bail!(
                "{} changed while es-secure replaced it; the rollback restores the original",
                target.display()
            );
        }
        // What the commit records for the unit: the directory as just built and swapped in.
        if let Some(Entry::DirUnit { after, .. }) = self.journal.entries.get_mut(entry) {
            *after = Some(digest);
        }
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }
}

/// Undo one [`Entry::DirUnit`] of the transaction in `txn_dir`. Idempotent: the original's
/// identity tells whether the swap happened (or was already undone).
pub(super) fn undo_unit(
    txn_dir: &Path,
    path: &Path,
    staging: &str,
    original: Option<DirOriginal>,
) -> anyhow::Result<RollbackAction> {
    let (parent_path, name) = split(path)?;
    let parent = match safe_fs::open_dir(parent_path) {
        Ok(d) => d,
        Err(e) if original.is_none() && safe_fs::is_not_found(&e) => {
            return Ok(RollbackAction::NotCreated);
        }
        Err(e) => return Err(e),
    };
    let backup = safe_fs::open_dir(&txn_dir.join(BACKUP_DIR))?;
    let staging = OsStr::new(staging);
    let at_target = parent.child_dir_id(name)?;
    let at_staging = backup.child_dir_id(staging)?;
    match original.map(as_id) {
        Some(o) if at_target == Some(o) => {
            // Never swapped (or swapped back already): drop what was built.
            backup.remove_flat_dir(staging)?;
            Ok(RollbackAction::NotReplaced)
        }
        Some(o) if at_staging == Some(o) => {
            backup.swap_dir(staging, &parent, name, at_target.is_some())?;
            // Now the new directory (when there was one at the target).
            backup.remove_flat_dir(staging)?;
            Ok(RollbackAction::Restored)
        }
        Some(_) => bail!(
            "neither {} nor {} is the directory this apply replaced; restore it by hand from there",
            path.display(),
            txn_dir.join(BACKUP_DIR).join(staging).display()
        ),
        None if at_staging.is_some() => {
            // Never moved into place.
            backup.remove_flat_dir(staging)?;
            Ok(RollbackAction::NotCreated)
        }
        None if at_target.is_some() => Ok(match parent.remove_flat_dir(name)? {
            RemovedDir::Removed => RollbackAction::RemovedDir,
            RemovedDir::Missing => RollbackAction::NotCreated,
            RemovedDir::NotEmpty => RollbackAction::KeptDirNotEmpty,
        }),
        None => Ok(RollbackAction::NotCreated),
    }
}

/// A hash of every file in the directory `path` (names, contents, modes, owners), `None`
/// when it does not exist: what a unit left, to detect later changes.
pub(super) fn unit_digest(path: &Path) -> anyhow::Result<Option<String>> {
    let dir = match safe_fs::open_dir(path) {
        Ok(d) => d,
        Err(e) if safe_fs::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let stamps = dir
        .regular_entries()?
        .iter()
        .map(|name| stamp_in(&dir, name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(digest_of(stamps)))
}

/// The file `name` of `dir` as [`digest_of`] takes it, read from disk.
fn stamp_in(dir: &safe_fs::Dir, name: &OsStr) -> anyhow::Result<(OsString, String, Meta)> {
    let (bytes, meta) = dir
        .file(name)?
        .read(safe_fs::CONFIG_CAP)?
        .with_context(|| format!("{} disappeared", dir.path().join(name).display()))?;
    Ok((name.to_os_string(), sha256_hex(&bytes), meta))
}

/// The digest of a directory's files given (name, SHA-256 of the contents, mode and owner)
/// for each, in any order: the same whether the files were just written or read back.
fn digest_of(mut stamps: Vec<(OsString, String, Meta)>) -> String {
    stamps.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, sha, meta) in stamps {
        h.update(name.as_encoded_bytes());
        h.update(format!("\0{sha} {:o} {} {}\n", meta.mode, meta.uid, meta.gid).as_bytes());
    }
    hex::encode(h.finalize())
}

/// Remove a unit directory left in a finished transaction's backups.
pub(super) fn remove_backup_unit(backup: &safe_fs::Dir, name: &OsStr) -> anyhow::Result<()> {
    if backup.remove_flat_dir(name)? == RemovedDir::NotEmpty {
        bail!(
            "{} is not empty after pruning; remove it by hand",
            backup.path().join(name).display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::shell::txn::journal::{JOURNAL_VERSION, read_journal};
    use crate::shell::txn::{StateDir, recover_incomplete};
    use std::fs;

    fn add(
        name: &'static str,
        bytes: &'static [u8],
    ) -> impl FnOnce(&mut UnitWriter<'_>) -> anyhow::Result<()> {
        move |w| w.add(name, bytes)
    }

    /// A crash while the new directory was half built (the journal has the unit, the staging
    /// directory holds a torn file): recovery leaves the live directory as it was and drops
    /// the staging directory.
    #[test]
    fn a_crash_while_building_leaves_the_old_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let live = tmp.path().join("bundles");
        fs::create_dir(&live).unwrap();
        fs::write(live.join("a"), b"old").unwrap();
        let _lock = state.lock("test").unwrap();
        let mut t = Txn::begin(&state, "t").unwrap();
        let id = safe_fs::open_dir(tmp.path())
            .unwrap()
            .child_dir_id(OsStr::new("bundles"))
            .unwrap()
            .unwrap();
        t.journal.entries.push(Entry::DirUnit {
            path: live.clone(),
            staging: "0000.dir".into(),
            original: Some(DirOriginal {
                dev: id.dev,
                ino: id.ino,
            }),
            after: None,
        });
        t.save().unwrap();
        let staging = t.dir.join(BACKUP_DIR).join("0000.dir");
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("a"), b"ne").unwrap();
        drop(t); // a crash: neither commit nor rollback
        let reports = recover_incomplete(&state).unwrap();
        assert_eq!(reports[0].items[0].action, RollbackAction::NotReplaced);
        assert_eq!(fs::read(live.join("a")).unwrap(), b"old");
        assert!(!staging.exists());
    }

    #[test]
    fn a_created_directory_is_removed_by_rollback_and_kept_files_survive_a_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let _lock = state.lock("test").unwrap();
        let live = tmp.path().join("bundles");
        let mut t = Txn::begin(&state, "t").unwrap();
        t.write_files_as_unit(&live, 0o600, None, Perms::default(), add("a", b"1"))
            .unwrap();
        assert_eq!(fs::read(live.join("a")).unwrap(), b"1");
        // A second unit over the same directory in one transaction is refused.
        assert!(
            t.write_files_as_unit(&live, 0o600, None, Perms::default(), add("b", b"2"))
                .is_err()
        );
        let report = t.rollback().unwrap();
        assert_eq!(report.items[0].action, RollbackAction::RemovedDir);
        assert!(!live.exists());

        fs::create_dir(&live).unwrap();
        fs::write(live.join("keep"), b"k").unwrap();
        let mut t = Txn::begin(&state, "t2").unwrap();
        t.write_files_as_unit(&live, 0o640, None, Perms::default(), add("a", b"1"))
            .unwrap();
        t.commit().unwrap();
        assert_eq!(fs::read(live.join("keep")).unwrap(), b"k");
        assert_eq!(fs::read(live.join("a")).unwrap(), b"1");
    }

    #[test]
    fn a_symlink_in_the_directory_is_refused_before_any_change() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let _lock = state.lock("test").unwrap();
        let live = tmp.path().join("bundles");
        fs::create_dir(&live).unwrap();
        fs::write(tmp.path().join("elsewhere"), b"x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), live.join("l")).unwrap();
        let mut t = Txn::begin(&state, "t").unwrap();
        let err = t
            .write_files_as_unit(&live, 0o600, None, Perms::default(), add("a", b"1"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
        t.rollback().unwrap();
        assert!(!live.join("a").exists());
        assert!(fs::symlink_metadata(live.join("l")).unwrap().is_symlink());
    }

    /// The digest the commit records is made from the bytes written (and the carried files),
    /// never by reading the new files back; it must be exactly the one a later read of the
    /// directory gives, or `rollback_committed` would take every unit for edited.
    #[test]
    fn the_digest_made_while_writing_is_the_one_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let _lock = state.lock("test").unwrap();
        let live = tmp.path().join("bundles");
        fs::create_dir(&live).unwrap();
        fs::write(live.join("carried"), b"kept from before").unwrap();
        fs::write(live.join("b"), b"replaced").unwrap();
        let mut t = Txn::begin(&state, "t").unwrap();
        t.write_files_as_unit(&live, 0o640, None, Perms::default(), |w| {
            w.add("b", b"new b")?;
            w.add("a", b"new a")
        })
        .unwrap();
        let Some(Entry::DirUnit {
            after: Some(made), ..
        }) = t.journal.entries.first().cloned()
        else {
            panic!("no digest recorded for the unit: {:?}", t.journal.entries);
        };
        assert_eq!(Some(made.clone()), unit_digest(&live).unwrap());
        let id = t.commit().unwrap();
        let j = read_journal(&state.txn_root().join(&id)).unwrap();
        assert!(
            matches!(&j.entries[0], Entry::DirUnit { after: Some(a), .. } if *a == made),
            "{:?}",
            j.entries
        );
        // Any later change gives another digest.
        fs::write(live.join("a"), b"edited").unwrap();
        assert_ne!(Some(made), unit_digest(&live).unwrap());
    }

    fn journal_json(t: &Txn) -> serde_json::Value {
        serde_json::from_slice(&fs::read(t.dir.join(super::super::JOURNAL)).unwrap()).unwrap()
    }

    #[test]
    fn a_journal_with_a_unit_is_version_2_and_one_without_stays_version_1() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let _lock = state.lock("test").unwrap();
        let mut t = Txn::begin(&state, "t").unwrap();
        t.write_file(&tmp.path().join("f"), b"x", Perms::default())
            .unwrap();
        // Nothing an es-secure reading only version 1 does not know: it can still recover it.
        assert_eq!(journal_json(&t)["version"], 1);
        t.write_files_as_unit(
            &tmp.path().join("bundles"),
            0o600,
            None,
            Perms::default(),
            add("a", b"1"),
        )
        .unwrap();
        // A `dir-unit` entry: an es-secure that reads only version 1 must refuse it.
        assert_eq!(journal_json(&t)["version"], 2);
        let id = t.commit().unwrap();
        let j = read_journal(&state.txn_root().join(&id)).unwrap();
        assert_eq!(j.version, 2);
        assert!(matches!(j.entries[1], Entry::DirUnit { .. }));
    }

    #[test]
    fn a_journal_of_a_newer_format_is_refused_with_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        let dir = {
            let _lock = state.lock("test").unwrap();
            let mut t = Txn::begin(&state, "t").unwrap();
            t.write_file(&tmp.path().join("f"), b"x", Perms::default())
                .unwrap();
            let dir = t.dir.clone();
            drop(t); // a crash: the journal stays incomplete
            dir
        };
        // What a newer es-secure might write: a higher version and an entry kind unknown here.
        let mut j = journal_json_at(&dir);
        j["version"] = serde_json::json!(JOURNAL_VERSION + 1);
        j["entries"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"kind": "future-kind", "path": "/x"}));
        fs::write(
            dir.join(super::super::JOURNAL),
            serde_json::to_vec(&j).unwrap(),
        )
        .unwrap();
        let err = format!("{:#}", read_journal(&dir).unwrap_err());
        assert!(
            err.contains(&format!("has journal version {}", JOURNAL_VERSION + 1))
                && err.contains("written by a newer es-secure")
                && err.contains("help: recover or roll it back with the es-secure that wrote it"),
            "{err}"
        );
        assert!(!err.contains("future-kind"), "{err}");
        // Recovery and the lock refuse it too, changing nothing.
        assert!(recover_incomplete(&state).is_err());
        assert_eq!(fs::read(tmp.path().join("f")).unwrap(), b"x");
        // A version-0 or unparsable header is not taken for a journal either.
        j["version"] = serde_json::json!(0);
        fs::write(
            dir.join(super::super::JOURNAL),
            serde_json::to_vec(&j).unwrap(),
        )
        .unwrap();
        assert!(read_journal(&dir).is_err());
    }

    fn journal_json_at(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&fs::read(dir.join(super::super::JOURNAL)).unwrap()).unwrap()
    }
}
