//! The file transaction under every apply: it makes the changes es-secure writes to a node
//! (config files, certificates, keystores, directories) undoable, even after a crash.
//!
//! How it works:
//! - One [`Txn`] per apply, in `<state>/txn/<id>/`. Before a path is first changed, its
//!   original (content, mode, owner, or "did not exist") is copied to `backup/` and recorded
//!   in `journal.json`; the journal is fsynced *before* the change, so at any instant the
//!   journal knows how to undo everything that may have happened.
//! - Writes are atomic: temp file in the same directory, write, owner, mode, fsync, rename,
//!   fsync of the directory. A file is therefore always either its old or its new version.
//! - [`Txn::rollback`] restores every original byte-for-byte with mode and owner, deletes
//!   files that did not exist and removes the directories it created (only when empty).
//!   [`Txn::commit`] marks the journal committed and records a hash of each file written, so
//!   [`rollback_committed`] can later undo a finished apply, but only if nothing changed
//!   those files since. [`recover_incomplete`] rolls back journals a crash left unfinished,
//!   and [`Txn::begin`] refuses to start while one exists.
//! - [`StateDir`] is the private (0700, owned by the running user) directory holding the
//!   journals and backups; [`StateDir::lock`] takes `<state>/lock` with `flock` so two
//!   es-secure runs never interleave. Starting, recovering and rolling back require the lock.
//!
//! What it must not do: change anything outside the paths it is given; write a path without
//! a backup already on disk; widen the permissions of a backup (backups of secret-bearing
//! files keep their original mode inside a 0700 directory); roll back a committed apply over
//! changes made after it; leave a half-restored node silently (a failed restore is an
//! error naming the paths, and the journal is kept so the next run tries again).
//!
//! A [`Txn`] dropped without `commit` or `rollback` (a panic) leaves its journal incomplete
//! on purpose: the next run rolls it back under the lock. Interrupts never exit the process
//! (see `shell::signals`): the apply rolls back in order, however many signals arrive; only
//! SIGKILL leaves an incomplete journal. Besides files and directories the journal records
//! the temporary file-realm superuser ([`Txn::record_temp_user`]) before its first byte, and
//! the one REST change a rollback must undo, shard allocation limited for a full-cluster
//! restart ([`Txn::record_allocation`]), before the request, and Kibana's service account
//! token ([`Txn::record_service_token`]), before it is created in the REST phase's own small
//! transaction (the token, then its value in kibana.keystore); a rollback deletes it.
//!
//! Fault injection, for tests only, compiled in only with the cargo feature `fault-injection`
//! (see `fault.rs`; read by [`Txn::begin`]; never set them on a real node):
//! - `ES_SECURE_FAULT_AT=<n>`: the n-th mutation of the transaction (`write_file`,
//!   `create_dir_all` or `mutation_checkpoint`, counted from 1) fails with an error before it
//!   changes anything.
//! - `ES_SECURE_FAULT_KILL_AT=<n>` with `ES_SECURE_FAULT_KILL_PHASE=before|after-backup|after-write`
//!   (default `before`): the process sends itself SIGKILL at that point of the n-th mutation,
//!   to simulate a hard crash. `after-backup` is after the journal records the original and
//!   before the change; `after-write` is after the change. A checkpoint has no backup or
//!   write, so all three phases are the same point for it. For a unit of files
//!   ([`Txn::write_files_as_unit`]) `after-backup` is after the new directory is built and
//!   durable, before it is swapped in.
//! - `ES_SECURE_FAULT_REST_AT=<n>` with `ES_SECURE_FAULT_REST_MODE=error|kill` (default
//!   `error`): the n-th [`side_effect_point`] of the process — the side effects after the
//!   file transaction (temporary superuser in place, each password on disk before its REST
//!   call, each password accepted before it is marked done, Kibana's service account token
//!   created before its value is in kibana.keystore) — fails or sends SIGKILL.

mod fault;
mod journal;
mod lock;
mod rollback;
mod unit;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest as _, Sha256};

use crate::shell::es_client::EsClient;
use crate::shell::safe_fs::{self, RemovedDir};
pub use fault::side_effect_point;
use fault::{FaultPlan, Phase};
use journal::{
    Entry, JOURNAL, JOURNAL_TMP, Journal, JournalStatus, Original, Stamp, read_journal,
    save_journal,
};
pub use lock::{Lock, LockError, StateDir};
use lock::{check_private_dir, create_private_dir};
use rollback::roll_back;
pub use rollback::{
    RollbackAction, RollbackItem, RollbackReport, recover_incomplete, rollback_committed,
};
pub use unit::UnitWriter;

const BACKUP_DIR: &str = "backup";
/// Mode of a new file when the caller gives none: private, since it may hold a secret.
const DEFAULT_FILE_MODE: u32 = 0o600;
/// Mode of a new directory when the caller gives none.
const DEFAULT_DIR_MODE: u32 = 0o700;

/// Mode and owner (uid, gid) for a write. `None` keeps the existing file's value; a new file
/// gets [`DEFAULT_FILE_MODE`] / the running user.
#[derive(Clone, Debug, Default)]
pub struct Perms {
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}

/// Status of a past transaction as shown to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    Committed,
    RolledBack,
    /// Interrupted (crash, kill) or half rolled back; the next apply rolls it back.
    Incomplete,
}

pub struct TxnSummary {
    pub id: String,
    pub label: String,
    pub status: TxnStatus,
    pub paths: Vec<PathBuf>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Current content hash, mode and owner of a regular file, or `None` if it does not exist.
fn stamp_of(target: &safe_fs::Target) -> anyhow::Result<Option<(Stamp, Vec<u8>)>> {
    let Some((bytes, meta)) = target.read(safe_fs::CONFIG_CAP)? else {
        return Ok(None);
    };
    let stamp = Stamp {
        sha256: sha256_hex(&bytes),
        mode: meta.mode,
        uid: meta.uid,
        gid: meta.gid,
    };
    Ok(Some((stamp, bytes)))
}

/// [`stamp_of`] the file at `path` (a path the journal recorded, already resolved).
fn stamp_at(path: &Path) -> anyhow::Result<Option<(Stamp, Vec<u8>)>> {
    stamp_of(&safe_fs::resolve(path)?)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(super) fn utc_stamp(compact: bool) -> String {
    let t = time::OffsetDateTime::now_utc();
    if compact {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

fn new_id() -> anyhow::Result<String> {
    let mut rnd = [0u8; 3];
    getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(format!("{}-{}", utc_stamp(true), hex::encode(rnd)))
}

/// Ids are directory names: keep them to what [`new_id`] produces so an id from the command
/// line cannot point outside `<state>/txn`.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

// ---------------------------------------------------------------------------------------
// Transaction

/// How many finished (committed or rolled back) transactions, with their backups, the state
/// keeps by default; older ones are deleted when an apply commits.
pub const DEFAULT_KEEP: usize = 5;

pub struct Txn {
    dir: PathBuf,
    /// Finished transactions to keep at commit (see [`DEFAULT_KEEP`]).
    keep: usize,
    journal: Journal,
    mutations: u32,
    fault: FaultPlan,
}

impl Txn {
    /// Start the transaction of one apply. Needs the lock; refuses while an earlier
    /// transaction is incomplete (run [`recover_incomplete`] first).
    pub fn begin(state: &StateDir, label: &str) -> anyhow::Result<Self> {
        state.require_lock("starting a transaction")?;
        let fault = FaultPlan::from_env()?;
        if let Some(j) = state
            .journals()?
            .into_iter()
            .filter_map(|(_, j)| j)
            .find(|j| {
                matches!(
                    j.status,
                    JournalStatus::Incomplete | JournalStatus::RollingBack
                )
            })
        {
            bail!(
                "an earlier apply ({}, {}) did not finish and has not been rolled back\nhelp: run `es-secure apply` again: it rolls the interrupted apply back first",
                j.id,
                j.label
            );
        }
        let root = state.txn_root();
        create_private_dir(&root)?;
        check_private_dir(&root)?;
        let root_dir = safe_fs::open_dir(&root)?;
        let (id, dir) = {
            let mut attempt = 0;
            loop {
                let id = new_id()?;
                match root_dir.child_kind(std::ffi::OsStr::new(&id))? {
                    Some(_) if attempt < 8 => attempt += 1,
                    _ => {
                        let made = root_dir.create_dir(std::ffi::OsStr::new(&id), 0o700, None)?;
                        break (id, made.path().to_path_buf());
                    }
                }
            }
        };
        create_private_dir(&dir.join(BACKUP_DIR))?;
        let journal = Journal {
            // Raised when an entry needs it (see `Journal::format_version`).
            version: 1,
            id,
            label: label.to_string(),
            started_ns: now_ns(),
            pid: std::process::id(),
            status: JournalStatus::Incomplete,
            last_checkpoint: None,
            entries: Vec::new(),
        };
        save_journal(&dir, &journal)?;
        root_dir.sync()?;
        Ok(Self {
            dir,
            keep: DEFAULT_KEEP,
            journal,
            mutations: 0,
            fault,
        })
    }

    pub fn id(&self) -> &str {
        &self.journal.id
    }

    /// Count a mutation and apply the injected faults that come before it.
    fn start_mutation(&mut self, what: &Path) -> anyhow::Result<u32> {
        self.mutations += 1;
        let n = self.mutations;
        if self.fault.fails_at(n) {
            bail!(
                "injected fault (ES_SECURE_FAULT_AT={n}) before changing {}",
                what.display()
            );
        }
        self.kill_point(n, Phase::Before);
        Ok(n)
    }

    fn kill_point(&self, n: u32, phase: Phase) {
        self.fault.kill_point(n, phase);
    }

    fn save(&self) -> anyhow::Result<()> {
        save_journal(&self.dir, &self.journal)
    }

    /// Copy the original of `target` into the backup directory (durably) and describe it.
    fn back_up(&self, target: &safe_fs::Target) -> anyhow::Result<Option<Original>> {
        let Some((stamp, bytes)) = stamp_of(target)? else {
            return Ok(None);
        };
        let name = format!("{:04}", self.journal.entries.len());
        // Always 0600 inside the 0700 backup directory: the original may hold a secret, and
        // its own mode and owner are in the journal. A leftover from a crash between the
        // copy and the journal record is replaced.
        safe_fs::resolve(&self.dir.join(BACKUP_DIR).join(&name))?.write(&bytes, 0o600, None)?;
        Ok(Some(Original {
            backup: name,
            stamp,
        }))
    }

    /// Atomically replace (or create) the file `path`; its parent directory must exist.
    /// `None` in `perms` keeps the existing file's mode/owner.
    pub fn write_file(&mut self, path: &Path, contents: &[u8], perms: Perms) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        let target =
            safe_fs::resolve(path).with_context(|| format!("cannot write {}", path.display()))?;
        let target_path = target.path();
        let existing = target.meta()?;
        if !self.journal.has_file(&target_path) {
            let original = self.back_up(&target)?;
            self.journal.entries.push(Entry::File {
                path: target_path.clone(),
                original,
                after: None,
                removed: false,
            });
            self.save()?;
        }
        self.kill_point(n, Phase::AfterBackup);
        let mode = perms
            .mode
            .or(existing.map(|m| m.mode))
            .unwrap_or(DEFAULT_FILE_MODE);
        let owner = perms.owner.or(existing.map(|m| (m.uid, m.gid)));
        target.write(contents, mode, owner)?;
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Replace two files that a reader must see change together (a certificate and its key):
    /// both originals are backed up and journaled, both new files are written completely
    /// (owner, mode, fsync) under temporary names, and only then renamed into place one right
    /// after the other. Elasticsearch polls its TLS files every 5 s; a reload that saw a new
    /// certificate with the old key would fail, so the window is kept to two renames. Counts
    /// as two mutations for fault injection.
    pub fn write_pair(
        &mut self,
        first: (&Path, &[u8], Perms),
        second: (&Path, &[u8], Perms),
    ) -> anyhow::Result<()> {
        let mut targets = Vec::with_capacity(2);
        for (path, _, _) in [&first, &second] {
            let n = self.start_mutation(path)?;
            let target = safe_fs::resolve(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let target_path = target.path();
            if !self.journal.has_file(&target_path) {
                let original = self.back_up(&target)?;
                self.journal.entries.push(Entry::File {
                    path: target_path,
                    original,
                    after: None,
                    removed: false,
                });
                self.save()?;
            }
            self.kill_point(n, Phase::AfterBackup);
            targets.push((n, target));
        }
        let mut staged = Vec::with_capacity(2);
        for ((_, target), (_, contents, perms)) in targets.iter().zip([&first, &second]) {
            let existing = target.meta()?;
            let mode = perms
                .mode
                .or(existing.map(|m| m.mode))
                .unwrap_or(DEFAULT_FILE_MODE);
            let owner = perms.owner.or(existing.map(|m| (m.uid, m.gid)));
            staged.push(target.stage(contents, mode, owner)?);
        }
        for (s, (n, _)) in staged.into_iter().zip(&targets) {
            s.publish()?;
            self.kill_point(*n, Phase::AfterWrite);
        }
        Ok(())
    }

    /// Delete the regular file `path` (not following a symlink), backing it up first so a
    /// rollback restores it byte-for-byte. A missing file is nothing to do.
    pub fn remove_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        // The entry itself, not what a final symlink points at: a planted link is refused.
        let target =
            safe_fs::entry(path).with_context(|| format!("cannot remove {}", path.display()))?;
        let target_path = target.path();
        // `meta` does not follow a symlink and refuses anything but a regular file.
        if target
            .meta()
            .with_context(|| format!("not removing {}", path.display()))?
            .is_none()
        {
            return Ok(());
        }
        if self.journal.has_file(&target_path) {
            bail!(
                "{} was already changed by this apply; not removing it",
                path.display()
            );
        }
        let original = self.back_up(&target)?;
        self.journal.entries.push(Entry::File {
            path: target_path,
            original,
            after: None,
            removed: true,
        });
        self.save()?;
        self.kill_point(n, Phase::AfterBackup);
        target.remove()?;
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Create `path` and any missing parents with `perms`, recording each directory created
    /// so a rollback removes it (if empty). An existing directory is left as it is.
    pub fn create_dir_all(&mut self, path: &Path, perms: Perms) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        let mode = perms.mode.unwrap_or(DEFAULT_DIR_MODE);
        let mut first = true;
        safe_fs::create_dir_all_with(path, mode, perms.owner, |dir| {
            self.journal.entries.push(Entry::Dir {
                path: dir.to_path_buf(),
            });
            self.save()?;
            if first {
                self.kill_point(n, Phase::AfterBackup);
            }
            first = false;
            Ok(())
        })?;
        if first {
            self.kill_point(n, Phase::AfterBackup);
        }
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Called before a change the transaction cannot undo by itself (a restart, a step
    /// boundary): counts as a mutation for fault injection and records how far the apply got.
    pub fn mutation_checkpoint(&mut self, what: &Path) -> anyhow::Result<()> {
        let n = self.start_mutation(what)?;
        self.journal.last_checkpoint = Some(what.display().to_string());
        self.save()?;
        self.kill_point(n, Phase::AfterBackup);
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Journal a temporary file-realm superuser under `config_dir` before the first byte of
    /// it is written (the journal is fsynced), so a crash at any point is undone by name.
    pub fn record_temp_user(&mut self, config_dir: &Path, username: &str) -> anyhow::Result<()> {
        self.journal.entries.push(Entry::TempUser {
            path: config_dir.to_path_buf(),
            username: username.to_string(),
            users_existed: config_dir.join("users").exists(),
            roles_existed: config_dir.join("users_roles").exists(),
        });
        self.save()
            .context("recording the temporary superuser in the journal")
    }

    /// Journal (fsynced) that Elasticsearch under `config_dir` is about to be restarted on
    /// the files written so far.
    pub fn record_restart(&mut self, config_dir: &Path) -> anyhow::Result<()> {
        self.journal.entries.push(Entry::Restart {
            path: config_dir.to_path_buf(),
        });
        self.save().context("recording the restart in the journal")
    }

    /// Journal (fsynced) that shard allocation of the cluster at `url` (credential-less) is
    /// about to be limited to primaries, so a rollback or recovery enables it again.
    pub fn record_allocation(&mut self, config_dir: &Path, url: &str) -> anyhow::Result<()> {
        self.journal.entries.push(Entry::Allocation {
            path: config_dir.to_path_buf(),
            url: url.to_string(),
        });
        self.save()
            .context("recording the shard allocation change in the journal")
    }

    /// Journal (fsynced) that the token `name` of the service account `elastic/kibana` is
    /// about to be created on the cluster at `url` for the Kibana keystore `keystore`, so a
    /// rollback deletes it ([`Txn::rollback_with`]) or, after a crash, the next apply does.
    pub fn record_service_token(
        &mut self,
        keystore: &Path,
        url: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        self.journal.entries.push(Entry::ServiceToken {
            path: keystore.to_path_buf(),
            url: url.to_string(),
            name: name.to_string(),
        });
        self.journal.version = self.journal.format_version();
        self.save()
            .context("recording the service account token in the journal")
    }

    /// Whether this transaction restarted Elasticsearch (see [`Txn::record_restart`]).
    pub fn restarted(&self) -> bool {
        self.journal
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Restart { .. }))
    }

    /// Mark the transaction done, recording a hash of every file it wrote. Returns its id.
    pub fn commit(mut self) -> anyhow::Result<String> {
        for entry in &mut self.journal.entries {
            if let Entry::File {
                path,
                after,
                removed: false,
                ..
            } = entry
            {
                let (stamp, _) = stamp_at(path)?
                    .with_context(|| format!("{} disappeared before the commit", path.display()))?;
                *after = Some(stamp);
            }
            // A unit's digest was made from the bytes it wrote (`write_files_as_unit`); read
            // the directory only when it was not.
            if let Entry::DirUnit {
                path,
                after: after @ None,
                ..
            } = entry
            {
                *after = Some(unit::unit_digest(path)?.with_context(|| {
                    format!("{} disappeared before the commit", path.display())
                })?);
            }
        }
        self.journal.status = JournalStatus::Committed;
        self.save().context("marking the transaction committed")?;
        // Retention: best effort, since the apply itself succeeded; a failure here leaves
        // extra backups that the next successful apply prunes again.
        if let Some(root) = self.dir.parent() {
            let _ = prune_finished(root, self.keep);
        }
        Ok(self.journal.id.clone())
    }

    /// Keep the backups of the last `n` finished transactions (at least this one) instead
    /// of [`DEFAULT_KEEP`] when this one commits.
    pub fn keep_last(&mut self, n: usize) {
        self.keep = n.max(1);
    }

    /// Undo everything this transaction did.
    pub fn rollback(self) -> anyhow::Result<RollbackReport> {
        self.rollback_with(None)
    }

    /// Undo everything this transaction did; `rest` (authenticated as the apply is) deletes
    /// a service account token it created.
    pub fn rollback_with(mut self, rest: Option<&EsClient>) -> anyhow::Result<RollbackReport> {
        roll_back(&self.dir, &mut self.journal, false, rest)
    }
}

/// Delete finished transactions beyond the newest `keep` under the transaction root `root`
/// (an incomplete one is never touched). Returns the ids deleted. A journal that holds only
/// shard allocation changes (`rolling-restart before`, one per node of a rolling restart) has
/// no backups: it does not count towards `keep`, so a rolling restart of a large cluster does
/// not push the applies' backups out; only the newest of them is kept.
fn prune_finished(root: &Path, keep: usize) -> anyhow::Result<Vec<String>> {
    let mut kept = 0;
    let mut kept_allocation_only = false;
    let mut removed = Vec::new();
    for (dir, journal) in lock::journals_in(root)? {
        let Some(j) = journal else { continue };
        if !matches!(
            j.status,
            JournalStatus::Committed | JournalStatus::RolledBack
        ) {
            continue;
        }
        let allocation_only = !j.entries.is_empty()
            && j.entries
                .iter()
                .all(|e| matches!(e, Entry::Allocation { .. }));
        if allocation_only && !kept_allocation_only {
            kept_allocation_only = true;
            continue;
        }
        if !allocation_only && kept < keep {
            kept += 1;
            continue;
        }
        remove_txn_dir(&dir)?;
        removed.push(j.id);
    }
    Ok(removed)
}

/// Delete one finished transaction directory: backups first, then the journal, so a crash
/// in between never leaves a journal-less directory with backups (which recovery refuses).
fn remove_txn_dir(dir: &Path) -> anyhow::Result<()> {
    let backup_path = dir.join(BACKUP_DIR);
    match safe_fs::open_dir(&backup_path) {
        Ok(backup) => {
            for name in backup.entries()? {
                if backup.child_kind(&name)? == Some(true) {
                    unit::remove_backup_unit(&backup, &name)?;
                } else {
                    backup.file(&name)?.remove()?;
                }
            }
            safe_fs::entry(&backup_path)?.remove_dir()?;
        }
        Err(e) if safe_fs::is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let journal = safe_fs::entry(&dir.join(JOURNAL))?;
    journal.remove_temp_leftovers()?;
    journal.remove()?;
    if safe_fs::entry(dir)?.remove_dir()? == RemovedDir::NotEmpty {
        bail!(
            "{} is not empty after pruning; remove it by hand",
            dir.display()
        );
    }
    Ok(())
}

/// Past transactions, newest first.
pub fn list(state: &StateDir) -> anyhow::Result<Vec<TxnSummary>> {
    Ok(state
        .journals()?
        .into_iter()
        .filter_map(|(_, j)| j)
        .map(|j| j.summary())
        .collect())
}

#[cfg(test)]
mod tests;
