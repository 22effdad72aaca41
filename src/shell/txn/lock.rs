//! es-secure's private state directory and its lock: [`StateDir`] is the 0700 directory
//! (owned by the running user) holding the journals and backups; [`StateDir::lock`] takes
//! `<state>/lock` with `flock` so two es-secure runs never interleave.
//!
//! What it must not do: accept a state directory others can read or that belongs to someone
//! else (it holds backups of secret-bearing files), or wait for a held lock.

use std::fs::{self, File};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::journal::{JOURNAL, Journal, read_journal};
use super::utc_stamp;
use crate::shell::safe_fs;

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

/// Create `dir` 0700 if it is missing (its parent must exist); an existing one is kept.
pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let (parent, name) = split(dir)?;
    let parent = safe_fs::open_dir(parent)?;
    match parent.child_kind(name)? {
        Some(_) => Ok(()),
        None => parent.create_dir(name, 0o700, None).map(drop),
    }
}

fn split(path: &Path) -> anyhow::Result<(&Path, &std::ffi::OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) if !p.as_os_str().is_empty() => Ok((p, n)),
        _ => bail!("{} has no parent directory", path.display()),
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
                let (parent, _) = split(root)?;
                safe_fs::create_dir_all(parent, 0o755, None)
                    .and_then(|_| create_private_dir(root))
                    .map_err(with_root_hint)?;
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
        let file = safe_fs::open_private_rw(&path)
            .map_err(|e| io(std::io::Error::other(format!("{e:#}"))))?;
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
        // Lossy: a non-UTF-8 argument must not make taking the lock panic.
        let mut command: String = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
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
        journals_in(&self.txn_root())
    }
}

/// [`StateDir::journals`] of the transaction root `root`.
pub(super) fn journals_in(root: &Path) -> anyhow::Result<Vec<(PathBuf, Option<Journal>)>> {
    let entries = match fs::read_dir(root) {
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

/// A state directory this user may not create is almost always a run without root: say so.
fn with_root_hint(e: anyhow::Error) -> anyhow::Error {
    let denied = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    if denied {
        anyhow::anyhow!(
            "{e:#}\nhelp: es-secure changes files of root and the Elasticsearch user: run it as root (sudo es-secure ...), or pass --state-dir DIR you own for a sandbox"
        )
    } else {
        e
    }
}
