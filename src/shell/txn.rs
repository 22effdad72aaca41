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
//! on purpose: the next apply rolls it back under the lock. After a first SIGINT/SIGTERM
//! (see [`install_interrupt_flag`]) the apply rolls back in order; a second one exits at once
//! and the journal is again recovered by the next apply.
//!
//! Fault injection, for tests only (they are read by [`Txn::begin`]; never set them on a
//! real node):
//! - `ES_SECURE_FAULT_AT=<n>`: the n-th mutation of the transaction (`write_file`,
//!   `create_dir_all` or `mutation_checkpoint`, counted from 1) fails with an error before it
//!   changes anything.
//! - `ES_SECURE_FAULT_KILL_AT=<n>` with `ES_SECURE_FAULT_KILL_PHASE=before|after-backup|after-write`
//!   (default `before`): the process sends itself SIGKILL at that point of the n-th mutation,
//!   to simulate a hard crash. `after-backup` is after the journal records the original and
//!   before the change; `after-write` is after the change. A checkpoint has no backup or
//!   write, so all three phases are the same point for it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const TXN_DIR: &str = "txn";
const JOURNAL: &str = "journal.json";
const JOURNAL_TMP: &str = "journal.json.tmp";
const BACKUP_DIR: &str = "backup";
const LOCK_FILE: &str = "lock";
const JOURNAL_VERSION: u32 = 1;
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

/// es-secure's private state directory (journals, backups, the lock).
pub struct StateDir {
    root: PathBuf,
    /// Set while this process holds the lock through this `StateDir`; the operations that
    /// change files check it so nobody forgets to lock.
    locked: Arc<AtomicBool>,
}

/// The held `<state>/lock`; released when dropped.
pub struct Lock {
    file: Flock<File>,
    held: Arc<AtomicBool>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // The holder text is only meaningful while held; clearing it is best effort.
        let _ = self.file.set_len(0);
        self.held.store(false, Ordering::SeqCst);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another es-secure is running: {} is locked by {holder}\nhelp: wait for it to finish; if that process is gone, the lock is released with it and you can run again",
        path.display()
    )]
    Held { path: PathBuf, holder: String },
    #[error("cannot take the lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// What a rollback did to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackAction {
    /// The original content, mode and owner are back.
    Restored,
    /// The file did not exist before and was deleted.
    Removed,
    /// The file did not exist before and had not been created yet.
    NotCreated,
    /// A directory this transaction created was removed.
    RemovedDir,
    /// A directory this transaction created was kept because something else is in it.
    KeptDirNotEmpty,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackItem {
    pub path: PathBuf,
    pub action: RollbackAction,
}

/// What a rollback restored, for the operator.
#[derive(Clone, Debug)]
pub struct RollbackReport {
    pub id: String,
    pub label: String,
    /// True when this undid a transaction a crash left incomplete.
    pub recovered: bool,
    /// The last checkpoint the transaction passed (e.g. `step 4`), when one was recorded.
    pub last_checkpoint: Option<String>,
    pub items: Vec<RollbackItem>,
}

impl std::fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "transaction {} ({})", self.id, self.label)?;
        if let Some(cp) = &self.last_checkpoint {
            write!(f, ", stopped at {cp}")?;
        }
        if self.items.is_empty() {
            return write!(f, ": nothing had been changed");
        }
        write!(f, ":")?;
        for item in &self.items {
            let what = match item.action {
                RollbackAction::Restored => "restored",
                RollbackAction::Removed => "removed (did not exist before)",
                RollbackAction::NotCreated => "not created (did not exist before)",
                RollbackAction::RemovedDir => "removed directory",
                RollbackAction::KeptDirNotEmpty => "kept directory (not empty)",
            };
            write!(f, "\n  {what}: {}", item.path.display())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Journal

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum JournalStatus {
    Incomplete,
    Committed,
    /// A committed transaction being rolled back: recovered like an incomplete one.
    RollingBack,
    RolledBack,
}

/// Content hash, mode and owner of a file at one moment.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
struct Stamp {
    sha256: String,
    mode: u32,
    uid: u32,
    gid: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
struct Original {
    /// File name of the copy under `backup/`.
    backup: String,
    #[serde(flatten)]
    stamp: Stamp,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Entry {
    /// A file this transaction writes; `original: None` means it did not exist.
    File {
        path: PathBuf,
        original: Option<Original>,
        /// Recorded at commit, to detect later changes before a `rollback_committed`.
        #[serde(default)]
        after: Option<Stamp>,
        /// The transaction deleted the file (see [`Txn::remove_file`]): it has no `after`, and
        /// a rollback restores the original.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        removed: bool,
    },
    /// A directory this transaction created.
    Dir { path: PathBuf },
}

impl Entry {
    fn path(&self) -> &Path {
        match self {
            Entry::File { path, .. } | Entry::Dir { path } => path,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
struct Journal {
    version: u32,
    id: String,
    label: String,
    /// Unix time in nanoseconds; orders the transactions.
    started_ns: u64,
    pid: u32,
    status: JournalStatus,
    #[serde(default)]
    last_checkpoint: Option<String>,
    entries: Vec<Entry>,
}

impl Journal {
    fn has_file(&self, path: &Path) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::File { path: p, .. } if p == path))
    }

    fn summary(&self) -> TxnSummary {
        TxnSummary {
            id: self.id.clone(),
            label: self.label.clone(),
            status: match self.status {
                JournalStatus::Committed => TxnStatus::Committed,
                JournalStatus::RolledBack => TxnStatus::RolledBack,
                JournalStatus::Incomplete | JournalStatus::RollingBack => TxnStatus::Incomplete,
            },
            paths: self
                .entries
                .iter()
                .map(|e| e.path().to_path_buf())
                .collect(),
        }
    }
}

fn read_journal(dir: &Path) -> anyhow::Result<Journal> {
    let path = dir.join(JOURNAL);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let journal: Journal = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid es-secure journal; inspect it and the backups next to it by hand",
            path.display()
        )
    })?;
    if journal.version != JOURNAL_VERSION {
        bail!(
            "{} has journal version {}, this es-secure reads version {JOURNAL_VERSION}",
            path.display(),
            journal.version
        );
    }
    Ok(journal)
}

/// Atomically replace the journal and make the replacement durable.
fn save_journal(dir: &Path, journal: &Journal) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(journal).context("serializing the journal")?;
    let tmp = dir.join(JOURNAL_TMP);
    remove_if_exists(&tmp)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    let path = dir.join(JOURNAL);
    fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)
}

// ---------------------------------------------------------------------------------------
// Small file-system helpers

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

fn remove_if_exists(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn parent_of(path: &Path) -> anyhow::Result<&Path> {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .with_context(|| format!("{} has no parent directory", path.display()))
}

/// The temp file an atomic write of `target` goes through. Its name is fixed so that
/// recovery can delete one a crash left behind.
fn temp_path(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} has no file name", target.display()))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".es-secure.tmp");
    Ok(parent_of(target)?.join(tmp))
}

/// Current content hash, mode and owner of a regular file, or `None` if it does not exist.
fn stamp_of(path: &Path) -> anyhow::Result<Option<(Stamp, Vec<u8>)>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let meta = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let stamp = Stamp {
        sha256: sha256_hex(&bytes),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    };
    Ok(Some((stamp, bytes)))
}

/// Replace `target` atomically with `bytes`, owned by `owner` (when given) with `mode`.
fn atomic_write(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> anyhow::Result<()> {
    let tmp = temp_path(target)?;
    remove_if_exists(&tmp)?;
    let result = (|| -> anyhow::Result<()> {
        // 0600 until the final mode is set: the content may be a secret.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        if let Some((uid, gid)) = owner {
            let meta = f
                .metadata()
                .with_context(|| format!("reading {}", tmp.display()))?;
            // Only chown when needed, so a non-root run keeping its own files works.
            if meta.uid() != uid || meta.gid() != gid {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
                    .with_context(|| format!("setting owner {uid}:{gid} on {}", tmp.display()))?;
            }
        }
        // After chown, which clears set-id bits.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting mode {mode:o} on {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, target).with_context(|| format!("renaming into {}", target.display()))
    })();
    if let Err(e) = result {
        let _ = remove_if_exists(&tmp);
        return Err(e);
    }
    sync_dir(parent_of(target)?)
}

/// The path a write really changes: an existing symlink is followed so the link stays a
/// link (package layouts symlink config files); anything but a regular file is refused.
fn resolve_target(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_absolute() {
        bail!("refusing to write {}: not an absolute path", path.display());
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let real = fs::canonicalize(path)
                .with_context(|| format!("{} is a symlink to a missing file", path.display()))?;
            if !real.is_file() {
                bail!("{} does not point to a regular file", path.display());
            }
            Ok(real)
        }
        Ok(m) if m.is_file() => Ok(path.to_path_buf()),
        Ok(_) => bail!("refusing to write {}: not a regular file", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn utc_stamp(compact: bool) -> String {
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
// State directory and lock

/// Refuse a directory others could read or that belongs to someone else: it holds backups
/// of files with secrets in them.
fn check_private_dir(dir: &Path) -> anyhow::Result<()> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "{} is owned by uid {}, not by the user running es-secure (uid {me}); it holds backups of files with secrets\nfix: chown {me} {}  (or choose another --state-dir)",
            dir.display(),
            meta.uid(),
            dir.display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "{} can be accessed by group or others (mode {:o}); it holds backups of files with secrets\nfix: chmod 700 {}",
            dir.display(),
            meta.mode() & 0o7777,
            dir.display()
        );
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            // The umask may have narrowed the mode only; set it exactly anyway.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting mode 700 on {}", dir.display()))?;
            sync_dir(parent_of(dir)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

impl StateDir {
    /// Open (creating it 0700 if missing) the state directory `root`.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        if !root.is_absolute() {
            bail!(
                "the state directory must be an absolute path, not {}",
                root.display()
            );
        }
        match fs::metadata(root) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = parent_of(root)?;
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                create_private_dir(root)?;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", root.display())),
        }
        check_private_dir(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            locked: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Take `<state>/lock` for `what` (e.g. `apply`) without waiting.
    pub fn lock(&self, what: &str) -> Result<Lock, LockError> {
        let path = self.root.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut file, errno)) if errno == Errno::EWOULDBLOCK => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                return Err(LockError::Held {
                    path,
                    holder: if holder.is_empty() {
                        "another process (it has not written its name yet)".to_string()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        };
        let mut command: String = std::env::args().collect::<Vec<_>>().join(" ");
        if command.len() > 200 {
            let mut cut = 200;
            while !command.is_char_boundary(cut) {
                cut -= 1;
            }
            command.truncate(cut);
            command.push_str("...");
        }
        let holder = format!(
            "pid {} ({command}) for {what}, since {}\n",
            std::process::id(),
            utc_stamp(false)
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        self.locked.store(true, Ordering::SeqCst);
        Ok(Lock {
            file,
            held: Arc::clone(&self.locked),
        })
    }

    fn require_lock(&self, doing: &str) -> anyhow::Result<()> {
        if !self.locked.load(Ordering::SeqCst) {
            bail!(
                "internal error: {doing} needs the lock on {} (call StateDir::lock first)",
                self.root.display()
            );
        }
        Ok(())
    }

    fn txn_root(&self) -> PathBuf {
        self.root.join(TXN_DIR)
    }

    /// Journals by transaction directory; directories without a journal (a crash inside
    /// `begin`) are returned as `None`.
    fn journals(&self) -> anyhow::Result<Vec<(PathBuf, Option<Journal>)>> {
        let root = self.txn_root();
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", root.display())),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", root.display()))?;
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            if dir.join(JOURNAL).exists() {
                let j = read_journal(&dir)?;
                out.push((dir, Some(j)));
            } else {
                out.push((dir, None));
            }
        }
        // Newest first.
        out.sort_by(|(da, a), (db, b)| {
            let ka = a.as_ref().map_or(0, |j| j.started_ns);
            let kb = b.as_ref().map_or(0, |j| j.started_ns);
            kb.cmp(&ka).then_with(|| db.cmp(da))
        });
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Fault injection

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Before,
    AfterBackup,
    AfterWrite,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FaultPlan {
    fail_at: Option<u32>,
    kill_at: Option<(u32, Phase)>,
}

impl FaultPlan {
    fn from_env() -> anyhow::Result<Self> {
        let get = |name: &str| std::env::var(name).ok();
        Self::parse(
            get("ES_SECURE_FAULT_AT").as_deref(),
            get("ES_SECURE_FAULT_KILL_AT").as_deref(),
            get("ES_SECURE_FAULT_KILL_PHASE").as_deref(),
        )
    }

    /// A malformed value is an error, so a test never silently runs without its fault.
    fn parse(fail: Option<&str>, kill: Option<&str>, phase: Option<&str>) -> anyhow::Result<Self> {
        let num = |name: &str, v: &str| -> anyhow::Result<u32> {
            match v.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => bail!("{name}={v:?}: expected a mutation number from 1"),
            }
        };
        let fail_at = fail.map(|v| num("ES_SECURE_FAULT_AT", v)).transpose()?;
        let phase = match phase.map(str::trim) {
            None | Some("before") => Phase::Before,
            Some("after-backup") => Phase::AfterBackup,
            Some("after-write") => Phase::AfterWrite,
            Some(other) => bail!(
                "ES_SECURE_FAULT_KILL_PHASE={other:?}: expected before, after-backup or after-write"
            ),
        };
        let kill_at = kill
            .map(|v| num("ES_SECURE_FAULT_KILL_AT", v))
            .transpose()?
            .map(|n| (n, phase));
        Ok(Self { fail_at, kill_at })
    }
}

/// Die like a power cut would leave us: no destructors, no rollback.
fn crash_now() -> ! {
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}

// ---------------------------------------------------------------------------------------
// Transaction

pub struct Txn {
    dir: PathBuf,
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
        let (id, dir) = {
            let mut attempt = 0;
            loop {
                let id = new_id()?;
                let dir = root.join(&id);
                match fs::DirBuilder::new().mode(0o700).create(&dir) {
                    Ok(()) => break (id, dir),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                        attempt += 1;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("creating {}", dir.display()));
                    }
                }
            }
        };
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 700 on {}", dir.display()))?;
        create_private_dir(&dir.join(BACKUP_DIR))?;
        let journal = Journal {
            version: JOURNAL_VERSION,
            id,
            label: label.to_string(),
            started_ns: now_ns(),
            pid: std::process::id(),
            status: JournalStatus::Incomplete,
            last_checkpoint: None,
            entries: Vec::new(),
        };
        save_journal(&dir, &journal)?;
        sync_dir(&root)?;
        Ok(Self {
            dir,
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
        if self.fault.fail_at == Some(n) {
            bail!(
                "injected fault (ES_SECURE_FAULT_AT={n}) before changing {}",
                what.display()
            );
        }
        self.kill_point(n, Phase::Before);
        Ok(n)
    }

    fn kill_point(&self, n: u32, phase: Phase) {
        if self.fault.kill_at == Some((n, phase)) {
            crash_now();
        }
    }

    fn save(&self) -> anyhow::Result<()> {
        save_journal(&self.dir, &self.journal)
    }

    /// Copy the original of `target` into the backup directory (durably) and describe it.
    fn back_up(&self, target: &Path) -> anyhow::Result<Option<Original>> {
        let Some((stamp, bytes)) = stamp_of(target)? else {
            return Ok(None);
        };
        let name = format!("{:04}", self.journal.entries.len());
        let backup_dir = self.dir.join(BACKUP_DIR);
        let path = backup_dir.join(&name);
        // A leftover from a crash between the copy and the journal record.
        remove_if_exists(&path)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating backup {}", path.display()))?;
        f.write_all(&bytes)
            .with_context(|| format!("writing backup {}", path.display()))?;
        // The copy is never more open than the original (and never set-id).
        f.set_permissions(fs::Permissions::from_mode(stamp.mode & 0o777))
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing backup {}", path.display()))?;
        drop(f);
        sync_dir(&backup_dir)?;
        Ok(Some(Original {
            backup: name,
            stamp,
        }))
    }

    /// Atomically replace (or create) the file `path`; its parent directory must exist.
    /// `None` in `perms` keeps the existing file's mode/owner.
    pub fn write_file(&mut self, path: &Path, contents: &[u8], perms: Perms) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        let target = resolve_target(path)?;
        let parent = parent_of(&target)?;
        if !parent.is_dir() {
            bail!(
                "cannot write {}: directory {} does not exist",
                target.display(),
                parent.display()
            );
        }
        let existing = match fs::metadata(&target) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
        };
        if !self.journal.has_file(&target) {
            let original = self.back_up(&target)?;
            self.journal.entries.push(Entry::File {
                path: target.clone(),
                original,
                after: None,
                removed: false,
            });
            self.save()?;
        }
        self.kill_point(n, Phase::AfterBackup);
        let mode = perms
            .mode
            .or(existing.as_ref().map(|m| m.mode() & 0o7777))
            .unwrap_or(DEFAULT_FILE_MODE);
        let owner = perms
            .owner
            .or(existing.as_ref().map(|m| (m.uid(), m.gid())));
        atomic_write(&target, contents, mode, owner)?;
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Delete the regular file `path` (not following a symlink), backing it up first so a
    /// rollback restores it byte-for-byte. A missing file is nothing to do.
    pub fn remove_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if !meta.file_type().is_file() {
            bail!(
                "not removing {}: it is not a regular file (a symlink or directory)\nhelp: remove it yourself if it is no longer used, then run es-secure again",
                path.display()
            );
        }
        if self.journal.has_file(path) {
            bail!(
                "{} was already changed by this apply; not removing it",
                path.display()
            );
        }
        let original = self.back_up(path)?;
        self.journal.entries.push(Entry::File {
            path: path.to_path_buf(),
            original,
            after: None,
            removed: true,
        });
        self.save()?;
        self.kill_point(n, Phase::AfterBackup);
        fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        sync_dir(parent_of(path)?)?;
        self.kill_point(n, Phase::AfterWrite);
        Ok(())
    }

    /// Create `path` and any missing parents with `perms`, recording each directory created
    /// so a rollback removes it (if empty). An existing directory is left as it is.
    pub fn create_dir_all(&mut self, path: &Path, perms: Perms) -> anyhow::Result<()> {
        let n = self.start_mutation(path)?;
        if !path.is_absolute() {
            bail!(
                "refusing to create {}: not an absolute path",
                path.display()
            );
        }
        let mut missing = Vec::new();
        let mut cur = path;
        loop {
            match fs::metadata(cur) {
                Ok(m) if m.is_dir() => break,
                Ok(_) => bail!(
                    "cannot create directory {}: {} exists and is not a directory",
                    path.display(),
                    cur.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if fs::symlink_metadata(cur).is_ok() {
                        bail!("{} is a dangling symlink", cur.display());
                    }
                    missing.push(cur.to_path_buf());
                    cur = parent_of(cur)?;
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", cur.display())),
            }
        }
        missing.reverse();
        let mode = perms.mode.unwrap_or(DEFAULT_DIR_MODE);
        for (i, dir) in missing.iter().enumerate() {
            self.journal.entries.push(Entry::Dir { path: dir.clone() });
            self.save()?;
            if i == 0 {
                self.kill_point(n, Phase::AfterBackup);
            }
            // Private until owner and mode are set.
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            if let Some((uid, gid)) = perms.owner {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                    .with_context(|| format!("setting owner {uid}:{gid} on {}", dir.display()))?;
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting mode {mode:o} on {}", dir.display()))?;
            sync_dir(parent_of(dir)?)?;
        }
        if missing.is_empty() {
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
                let (stamp, _) = stamp_of(path)?
                    .with_context(|| format!("{} disappeared before the commit", path.display()))?;
                *after = Some(stamp);
            }
        }
        self.journal.status = JournalStatus::Committed;
        self.save().context("marking the transaction committed")?;
        Ok(self.journal.id.clone())
    }

    /// Undo everything this transaction did.
    pub fn rollback(mut self) -> anyhow::Result<RollbackReport> {
        roll_back(&self.dir, &mut self.journal, false)
    }
}

/// Undo one journal's entries, newest first. Idempotent, so a crash during a rollback is
/// recovered by running it again. The journal is marked rolled back only if every entry was
/// undone.
fn roll_back(dir: &Path, journal: &mut Journal, recovered: bool) -> anyhow::Result<RollbackReport> {
    let mut items = Vec::new();
    let mut failures = Vec::new();
    for entry in journal.entries.iter().rev() {
        match undo(dir, entry) {
            Ok(action) => items.push(RollbackItem {
                path: entry.path().to_path_buf(),
                action,
            }),
            Err(e) => failures.push(format!("  {}: {e:#}", entry.path().display())),
        }
    }
    let report = RollbackReport {
        id: journal.id.clone(),
        label: journal.label.clone(),
        recovered,
        last_checkpoint: journal.last_checkpoint.clone(),
        items,
    };
    if !failures.is_empty() {
        bail!(
            "could not undo everything of {report}\nthese paths failed:\n{}\nhelp: fix the cause and run es-secure again; the journal and backups in {} are kept",
            failures.join("\n"),
            dir.display()
        );
    }
    journal.status = JournalStatus::RolledBack;
    save_journal(dir, journal).context("marking the transaction rolled back")?;
    Ok(report)
}

fn undo(dir: &Path, entry: &Entry) -> anyhow::Result<RollbackAction> {
    match entry {
        Entry::File { path, original, .. } => {
            // A crash mid-write can leave the temp file.
            remove_if_exists(&temp_path(path)?)?;
            match original {
                Some(o) => {
                    let backup = dir.join(BACKUP_DIR).join(&o.backup);
                    let bytes = fs::read(&backup)
                        .with_context(|| format!("reading backup {}", backup.display()))?;
                    if sha256_hex(&bytes) != o.stamp.sha256 {
                        bail!(
                            "the backup {} does not match its recorded hash; not restoring from it",
                            backup.display()
                        );
                    }
                    atomic_write(path, &bytes, o.stamp.mode, Some((o.stamp.uid, o.stamp.gid)))?;
                    Ok(RollbackAction::Restored)
                }
                None => {
                    let removed = remove_if_exists(path)?;
                    sync_dir(parent_of(path)?)?;
                    Ok(if removed {
                        RollbackAction::Removed
                    } else {
                        RollbackAction::NotCreated
                    })
                }
            }
        }
        Entry::Dir { path } => match fs::remove_dir(path) {
            Ok(()) => {
                sync_dir(parent_of(path)?)?;
                Ok(RollbackAction::RemovedDir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RollbackAction::NotCreated),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                Ok(RollbackAction::KeptDirNotEmpty)
            }
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        },
    }
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

/// Restore what a committed apply changed. Refuses, naming the files, if any file it wrote
/// changed since (the hash recorded at commit differs), so later edits are never lost.
pub fn rollback_committed(state: &StateDir, id: &str) -> anyhow::Result<RollbackReport> {
    state.require_lock("rolling back")?;
    if !valid_id(id) {
        bail!("`{id}` is not a transaction id (see `es-secure rollback --list`)");
    }
    let all = state.journals()?;
    if let Some(j) = all.iter().filter_map(|(_, j)| j.as_ref()).find(|j| {
        matches!(
            j.status,
            JournalStatus::Incomplete | JournalStatus::RollingBack
        ) && j.id != id
    }) {
        bail!(
            "an interrupted apply ({}) must be rolled back first\nhelp: run `es-secure apply` again: it rolls the interrupted apply back first",
            j.id
        );
    }
    let dir = state.txn_root().join(id);
    if !dir.join(JOURNAL).exists() {
        bail!(
            "no apply with id {id} in {}\nhelp: `es-secure rollback --list` shows the recorded applies",
            state.root.display()
        );
    }
    let mut journal = read_journal(&dir)?;
    match journal.status {
        JournalStatus::Committed => {}
        // A crash during an earlier `rollback_committed`: the checks were done then.
        JournalStatus::RollingBack => return roll_back(&dir, &mut journal, true),
        JournalStatus::RolledBack => bail!("apply {id} was already rolled back"),
        JournalStatus::Incomplete => bail!(
            "apply {id} did not finish\nhelp: run `es-secure apply` again: it rolls the interrupted apply back first"
        ),
    }
    let mut changed = Vec::new();
    for entry in &journal.entries {
        if let Entry::File {
            path,
            removed: true,
            ..
        } = entry
            && fs::symlink_metadata(path).is_ok()
        {
            changed.push(format!("  {} (created again)", path.display()));
        }
        if let Entry::File {
            path,
            after: Some(after),
            ..
        } = entry
        {
            match stamp_of(path) {
                Ok(Some((now, _))) if now.sha256 == after.sha256 => {}
                Ok(Some(_)) => changed.push(format!("  {} (content changed)", path.display())),
                Ok(None) => changed.push(format!("  {} (deleted)", path.display())),
                Err(e) => changed.push(format!("  {} ({e:#})", path.display())),
            }
        }
    }
    if !changed.is_empty() {
        bail!(
            "refusing to roll back apply {id}: these files changed after it, and rolling back would lose those changes:\n{}\nhelp: roll back the later applies first, or undo those edits by hand",
            changed.join("\n")
        );
    }
    journal.status = JournalStatus::RollingBack;
    save_journal(&dir, &journal)?;
    roll_back(&dir, &mut journal, false)
}

/// Roll back every transaction a crash left incomplete (newest first). Needs the lock.
pub fn recover_incomplete(state: &StateDir) -> anyhow::Result<Vec<RollbackReport>> {
    state.require_lock("recovering interrupted applies")?;
    let mut reports = Vec::new();
    for (dir, journal) in state.journals()? {
        match journal {
            // A crash inside `begin` before the journal existed: nothing was changed.
            None => {
                remove_if_exists(&dir.join(JOURNAL_TMP))?;
                match fs::remove_dir(dir.join(BACKUP_DIR)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("removing the empty {}", dir.display()));
                    }
                }
                fs::remove_dir(&dir)
                    .with_context(|| format!("removing the empty {}", dir.display()))?;
            }
            Some(mut j)
                if matches!(
                    j.status,
                    JournalStatus::Incomplete | JournalStatus::RollingBack
                ) =>
            {
                reports.push(roll_back(&dir, &mut j, true)?);
            }
            Some(_) => {}
        }
    }
    Ok(reports)
}

/// Install SIGINT/SIGTERM handlers that set the returned flag; the apply checks it between
/// steps and rolls back in order. A second signal while the flag is set exits at once (the
/// journal makes that safe: the next apply rolls back).
pub fn install_interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first so that it sees the flag before this signal sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flag))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .context("installing the signal handlers")?;
    }
    Ok(flag)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn private_tmp() -> (tempfile::TempDir, StateDir) {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("state")).unwrap();
        (tmp, state)
    }

    #[test]
    fn fault_plan_parses_and_rejects_typos() {
        assert_eq!(
            FaultPlan::parse(None, None, None).unwrap(),
            FaultPlan::default()
        );
        let p = FaultPlan::parse(Some("3"), Some("2"), Some("after-write")).unwrap();
        assert_eq!(p.fail_at, Some(3));
        assert_eq!(p.kill_at, Some((2, Phase::AfterWrite)));
        assert_eq!(
            FaultPlan::parse(None, Some("1"), None).unwrap().kill_at,
            Some((1, Phase::Before))
        );
        assert!(FaultPlan::parse(Some("0"), None, None).is_err());
        assert!(FaultPlan::parse(Some("x"), None, None).is_err());
        assert!(FaultPlan::parse(None, Some("1"), Some("afterwrite")).is_err());
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
    fn temp_file_is_a_hidden_sibling() {
        assert_eq!(
            temp_path(Path::new("/etc/es/elasticsearch.yml")).unwrap(),
            PathBuf::from("/etc/es/.elasticsearch.yml.es-secure.tmp")
        );
    }

    #[test]
    fn journal_round_trips_through_json() {
        let j = Journal {
            version: JOURNAL_VERSION,
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
}
