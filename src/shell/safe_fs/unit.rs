//! Many files as one unit (node bundles): a fresh directory is filled without a durability
//! barrier per file, made durable with one barrier (every new file fsynced after all are
//! written, then the directory once), and swapped into place with one `renameat2`, so a
//! reader, and a crash, sees the whole old directory or the whole new one, never a mix. The
//! transaction (`shell::txn::unit`) journals the swap and undoes it; this file only does the
//! file-system operations, through directory descriptors like the rest of `safe_fs`.
//!
//! What it must not do: follow a symlink (new entries are created `O_EXCL|O_NOFOLLOW`; entries
//! carried over from the old directory must be regular files and are hard-linked, never
//! followed), give a file wider permissions than asked at any instant (files are created
//! 0600 and chmod-ed after their owner is set), or remove anything but a flat directory of
//! regular files.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsFd;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::{Mode, SFlag, fchmod, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, fsync, linkat, unlinkat};

use super::{Dir, Meta, RemovedDir, dir_flags, io_err, kind, set_owner};

/// Identity of a directory (device and inode): which side of a swap is where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirId {
    pub dev: u64,
    pub ino: u64,
}

/// New files are fsynced by this many threads at once: the file system batches concurrent
/// flushes into few journal commits, where one thread waits for one commit per file. The
/// threads only wait (no CPU), so more of them than cores pays: 1000 new files on a journaled
/// ext4 took 0.15–0.34 s of fsyncs on 8 threads, 0.10–0.13 s on 32 (issue 21,
/// `scripts/bench-apply-scale.sh`).
const SYNC_THREADS: usize = 32;

/// Stack of one fsync thread: it calls `openat` and `fsync` and formats an error at most.
const SYNC_THREAD_STACK: usize = 64 * 1024;

impl Dir {
    /// Device and inode of this directory.
    pub fn id(&self) -> anyhow::Result<DirId> {
        let st = fstat(self.fd())
            .map_err(io_err)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(DirId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// Mode and owner of this directory.
    pub fn meta(&self) -> anyhow::Result<Meta> {
        let st = fstat(self.fd())
            .map_err(io_err)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(Meta::of(&st))
    }

    /// The identity of the directory `name` here (a symlink is not followed), `None` when
    /// nothing is there; anything but a directory is an error.
    pub fn child_dir_id(&self, name: &OsStr) -> anyhow::Result<Option<DirId>> {
        match fstatat(self.fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if kind(&st) == SFlag::S_IFDIR => Ok(Some(DirId {
                dev: st.st_dev,
                ino: st.st_ino,
            })),
            Ok(_) => bail!(
                "{} is not a directory; refusing to use it",
                self.path.join(name).display()
            ),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(io_err(e))
                .with_context(|| format!("reading {}", self.path.join(name).display())),
        }
    }

    /// Open the directory `name` here without following a symlink.
    pub fn open_child_dir(&self, name: &OsStr) -> anyhow::Result<Dir> {
        let path = self.path.join(name);
        let fd = openat(self.fd(), name, dir_flags(), Mode::empty())
            .map_err(io_err)
            .with_context(|| format!("opening directory {}", path.display()))?;
        Ok(Dir { fd, path })
    }

    /// The names in this directory, which must all be regular files (a unit directory holds
    /// nothing else); anything else is an error naming it.
    pub fn regular_entries(&self) -> anyhow::Result<Vec<OsString>> {
        let names = self.entries()?;
        for name in &names {
            let st = fstatat(self.fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(io_err)
                .with_context(|| format!("reading {}", self.path.join(name).display()))?;
            if kind(&st) != SFlag::S_IFREG {
                bail!(
                    "{} is not a regular file; es-secure keeps only its own files in {}\nhelp: move it elsewhere and run es-secure again",
                    self.path.join(name).display(),
                    self.path.display()
                );
            }
        }
        Ok(names)
    }

    /// Create the new file `name` here with `bytes`, then its owner and `mode`, without an
    /// fsync: [`Dir::sync_files`] makes a whole unit durable at once. Returns the file's mode
    /// and owner as created (a set-group-ID directory may choose the group), so the caller
    /// can record the file without reading it back.
    pub fn create_file_unsynced(
        &self,
        name: &OsStr,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> anyhow::Result<Meta> {
        let path = self.path.join(name);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(self.fd(), name, flags, Mode::from_bits_truncate(0o600))
            .map_err(io_err)
            .with_context(|| format!("creating {}", path.display()))?;
        let mut f = File::from(fd);
        f.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        if let Some((uid, gid)) = owner {
            set_owner(f.as_fd(), uid, gid, &path)?;
        }
        // After chown, which clears set-id bits.
        fchmod(f.as_fd(), Mode::from_bits_truncate(mode))
            .map_err(io_err)
            .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
        let st = fstat(f.as_fd())
            .map_err(io_err)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Meta::of(&st))
    }

    /// Hard-link the regular file `name` of `from` into this directory under the same name
    /// (same file system): the file is carried over without copying or re-syncing it.
    pub fn link_from(&self, from: &Dir, name: &OsStr) -> anyhow::Result<()> {
        // No AT_SYMLINK_FOLLOW: a symlink would be linked as itself, and
        // `regular_entries` already refused one.
        linkat(from.fd(), name, self.fd(), name, AtFlags::empty())
            .map_err(io_err)
            .with_context(|| {
                format!(
                    "linking {} into {}",
                    from.path.join(name).display(),
                    self.path.display()
                )
            })
    }

    /// Make `names` (files in this directory) and then the directory itself durable: the one
    /// barrier of a unit. The fsyncs run on a few threads at once.
    pub fn sync_files(&self, names: &[OsString]) -> anyhow::Result<()> {
        let chunk = names.len().div_ceil(SYNC_THREADS).max(1);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let handles = names
                .chunks(chunk)
                .map(|part| {
                    std::thread::Builder::new()
                        .stack_size(SYNC_THREAD_STACK)
                        .spawn_scoped(s, move || part.iter().try_for_each(|n| self.sync_file(n)))
                        .context("starting a file-sync thread")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a file-sync thread panicked"))??;
            }
            Ok(())
        })?;
        self.sync()
    }

    fn sync_file(&self, name: &OsStr) -> anyhow::Result<()> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(self.fd(), name, flags, Mode::empty())
            .map_err(io_err)
            .with_context(|| format!("opening {}", self.path.join(name).display()))?;
        fsync(fd.as_fd())
            .map_err(io_err)
            .with_context(|| format!("syncing {}", self.path.join(name).display()))
    }

    /// Put the directory `name` (here) at `to_name` in `to`, atomically: exchanged with the
    /// directory there when `exchange` (`RENAME_EXCHANGE`: afterwards `name` here holds what
    /// was at `to_name`), else moved, never replacing anything (`RENAME_NOREPLACE`). Both
    /// directories are synced after.
    pub fn swap_dir(
        &self,
        name: &OsStr,
        to: &Dir,
        to_name: &OsStr,
        exchange: bool,
    ) -> anyhow::Result<()> {
        let flags = if exchange {
            RenameFlags::RENAME_EXCHANGE
        } else {
            RenameFlags::RENAME_NOREPLACE
        };
        renameat2(self.fd(), name, to.fd(), to_name, flags)
            .map_err(io_err)
            .with_context(|| {
                format!(
                    "{} {} and {} (both must be on one file system)",
                    if exchange { "exchanging" } else { "moving" },
                    self.path.join(name).display(),
                    to.path.join(to_name).display()
                )
            })?;
        to.sync()?;
        self.sync()
    }

    /// Remove the directory `name` here and the regular files in it (a unit directory
    /// es-secure built or swapped out). Anything but a regular file inside is an error.
    pub fn remove_flat_dir(&self, name: &OsStr) -> anyhow::Result<RemovedDir> {
        if self.child_dir_id(name)?.is_none() {
            return Ok(RemovedDir::Missing);
        }
        let dir = self.open_child_dir(name)?;
        for entry in dir.regular_entries()? {
            unlinkat(dir.fd(), entry.as_os_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(io_err)
                .with_context(|| format!("removing {}", dir.path.join(&entry).display()))?;
        }
        dir.sync()?;
        match unlinkat(self.fd(), name, UnlinkatFlags::RemoveDir) {
            Ok(()) => {
                self.sync()?;
                Ok(RemovedDir::Removed)
            }
            Err(Errno::ENOENT) => Ok(RemovedDir::Missing),
            Err(Errno::ENOTEMPTY | Errno::EEXIST) => Ok(RemovedDir::NotEmpty),
            Err(e) => Err(io_err(e))
                .with_context(|| format!("removing {}", self.path.join(name).display())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn build_swap_and_remove_a_unit() {
        let tmp = tempfile::tempdir().unwrap();
        let top = super::super::open_dir(tmp.path()).unwrap();
        std::fs::create_dir(tmp.path().join("live")).unwrap();
        std::fs::write(tmp.path().join("live/keep"), b"old keep").unwrap();
        std::fs::write(tmp.path().join("live/a"), b"old a").unwrap();
        let old_id = top.child_dir_id(OsStr::new("live")).unwrap().unwrap();

        let staging = top.create_dir(OsStr::new("new"), 0o700, None).unwrap();
        let live = top.open_child_dir(OsStr::new("live")).unwrap();
        staging
            .create_file_unsynced(OsStr::new("a"), b"new a", 0o640, None)
            .unwrap();
        staging.link_from(&live, OsStr::new("keep")).unwrap();
        staging.sync_files(&[OsString::from("a")]).unwrap();
        top.swap_dir(OsStr::new("new"), &top, OsStr::new("live"), true)
            .unwrap();

        assert_eq!(std::fs::read(tmp.path().join("live/a")).unwrap(), b"new a");
        assert_eq!(
            std::fs::metadata(tmp.path().join("live/a")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read(tmp.path().join("live/keep")).unwrap(),
            b"old keep"
        );
        // The old directory is where the new one was built, untouched.
        assert_eq!(
            top.child_dir_id(OsStr::new("new")).unwrap(),
            Some(old_id),
            "exchanged"
        );
        assert_eq!(std::fs::read(tmp.path().join("new/a")).unwrap(), b"old a");

        assert_eq!(
            top.remove_flat_dir(OsStr::new("new")).unwrap(),
            RemovedDir::Removed
        );
        assert_eq!(
            top.remove_flat_dir(OsStr::new("new")).unwrap(),
            RemovedDir::Missing
        );
        // A name already there is never replaced by a plain move.
        let other = top.create_dir(OsStr::new("other"), 0o700, None).unwrap();
        drop(other);
        assert!(
            top.swap_dir(OsStr::new("other"), &top, OsStr::new("live"), false)
                .is_err()
        );
    }

    #[test]
    fn symlinks_and_subdirs_are_refused_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let top = super::super::open_dir(tmp.path()).unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), tmp.path().join("d/link")).unwrap();
        let d = top.open_child_dir(OsStr::new("d")).unwrap();
        let err = format!("{:#}", d.regular_entries().unwrap_err());
        assert!(err.contains("not a regular file"), "{err}");
        assert!(top.remove_flat_dir(OsStr::new("d")).is_err());
        assert_eq!(std::fs::read(tmp.path().join("secret")).unwrap(), b"s");
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("dirlink")).unwrap();
        assert!(top.child_dir_id(OsStr::new("dirlink")).is_err());
        assert!(top.open_child_dir(OsStr::new("dirlink")).is_err());
    }
}
