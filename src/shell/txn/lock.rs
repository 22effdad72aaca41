//! es-secure's private state directory and its lock: [`StateDir`] is the 0700 directory
//! (owned by the running user) holding the journals and backups; [`StateDir::lock`] takes
//! `<state>/lock` with `flock` so two es-secure runs never interleave.
//!
//! What it must not do: accept a state directory others can read or that belongs to someone
//! else (it holds backups of secret-bearing files), or wait for a held lock.

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

use super::journal::{JOURNAL, Journal, read_journal};
use super::utc_stamp;
use crate::shell::safe_fs::{parent_of, sync_dir};

const TXN_DIR: &str = "txn";
const LOCK_FILE: &str = "lock";

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

/// Refuse a directory others could read or that belongs to someone else: it holds backups
/// of files with secrets in them.
pub(super) fn check_private_dir(dir: &Path) -> anyhow::Result<()> {
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

pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
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

    pub(super) fn require_lock(&self, doing: &str) -> anyhow::Result<()> {
        if !self.locked.load(Ordering::SeqCst) {
            bail!(
                "internal error: {doing} needs the lock on {} (call StateDir::lock first)",
                self.root.display()
            );
        }
        Ok(())
    }

    pub(super) fn txn_root(&self) -> PathBuf {
        self.root.join(TXN_DIR)
    }

    /// Journals by transaction directory; directories without a journal (a crash inside
    /// `begin`) are returned as `None`.
    pub(super) fn journals(&self) -> anyhow::Result<Vec<(PathBuf, Option<Journal>)>> {
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
