//! The one file-system layer for what es-secure writes as root: atomic replacement of a
//! file (temp file, owner, mode, fsync, rename, fsync of the directory) and the small helpers
//! around it.
//!
//! What it must not do: leave a file half written (a reader sees the old or the new version),
//! or give a new file's content wider permissions than asked for at any instant.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub(crate) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

pub(crate) fn remove_if_exists(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

pub(crate) fn parent_of(path: &Path) -> anyhow::Result<&Path> {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .with_context(|| format!("{} has no parent directory", path.display()))
}

/// The temp file an atomic write of `target` goes through. Its name is fixed so that
/// recovery can delete one a crash left behind.
pub(crate) fn temp_path(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} has no file name", target.display()))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".es-secure.tmp");
    Ok(parent_of(target)?.join(tmp))
}

/// Replace `target` atomically with `bytes`, owned by `owner` (when given) with `mode`.
pub(crate) fn atomic_write(
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
pub(crate) fn resolve_target(path: &Path) -> anyhow::Result<PathBuf> {
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
