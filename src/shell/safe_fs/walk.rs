//! Resolving a path as root: one component at a time from `/` through directory descriptors
//! opened `O_NOFOLLOW`, following a symlink only when no one but root (or us) could have
//! changed it (the trust rule in the parent module's documentation), and refusing an entry
//! swapped between `fstatat` and `openat`. It hands out checked [`Dir`]s and [`Target`]s;
//! what is done with them (writes, renames, removals) lives in the parent module.
//!
//! What it must not do: follow an untrusted symlink, open anything by path rather than
//! relative to a checked directory descriptor, or change anything on disk.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use super::{Dir, MAX_LINKS, Target, dir_flags, io_err, kind};

pub(super) fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == me()
}

/// No one but root (or us) can change the entries of this directory.
fn dir_locked_down(st: &FileStat) -> bool {
    trusted_owner(st.st_uid) && st.st_mode & 0o022 == 0
}

/// The directory `parent` protects its entry `child` from untrusted users: it is locked
/// down, or it is sticky and the entry belongs to root or us.
fn guards(parent: &FileStat, child: &FileStat) -> bool {
    dir_locked_down(parent)
        || (st_sticky(parent) && trusted_owner(parent.st_uid) && trusted_owner(child.st_uid))
}

fn st_sticky(st: &FileStat) -> bool {
    st.st_mode & 0o1000 != 0
}

fn why_untrusted(dir: &Path, st: &FileStat) -> String {
    format!(
        "{} is owned by uid {} / gid {} with mode {:o}, so a user other than root can change what is in it",
        dir.display(),
        st.st_uid,
        st.st_gid,
        st.st_mode & 0o7777
    )
}

fn refuse_link(link: &Path, dir: &Path, st: &FileStat) -> anyhow::Error {
    anyhow::anyhow!(
        "refusing to follow the symlink {link} as root: {why}\nhelp: replace the link with the file it points to (cp --remove-destination \"$(readlink -f {link})\" {link}), or make {dir} root-owned and not writable by the service account (chown root:<group> {dir} && chmod 2750 {dir})",
        link = link.display(),
        dir = dir.display(),
        why = why_untrusted(dir, st),
    )
}

fn open_root() -> anyhow::Result<Dir> {
    let fd = openat(AT_FDCWD, "/", dir_flags(), Mode::empty())
        .map_err(io_err)
        .context("opening /")?;
    Ok(Dir {
        fd,
        path: PathBuf::from("/"),
    })
}

/// The components of an absolute or relative path, `..` kept, `.` dropped.
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Walk state shared by a resolution: links followed so far, and whether one was.
struct Walk {
    links: u32,
    /// Set once a symlink was followed: from then on every directory must be trusted.
    strict: bool,
}

impl Walk {
    fn new() -> Self {
        Self {
            links: 0,
            strict: false,
        }
    }

    fn follow(&mut self, link: &Path) -> anyhow::Result<()> {
        self.links += 1;
        self.strict = true;
        if self.links > MAX_LINKS {
            bail!("too many levels of symlinks resolving {}", link.display());
        }
        Ok(())
    }

    /// Open the directory `path` (absolute) one component at a time.
    fn open_dir(&mut self, path: &Path) -> anyhow::Result<Dir> {
        if !path.is_absolute() {
            bail!("{} is not an absolute path", path.display());
        }
        let mut queue: std::collections::VecDeque<OsString> = components(path).into();
        let mut cur = open_root()?;
        while let Some(comp) = queue.pop_front() {
            let cur_st = fstat(cur.fd())
                .map_err(io_err)
                .with_context(|| format!("reading {}", cur.path.display()))?;
            if comp == ".." {
                let fd = openat(cur.fd(), "..", dir_flags(), Mode::empty())
                    .map_err(io_err)
                    .with_context(|| format!("opening {}/..", cur.path.display()))?;
                let mut p = cur.path.clone();
                p.pop();
                cur = Dir { fd, path: p };
                continue;
            }
            let child = cur.path.join(&comp);
            let st = match fstatat(cur.fd(), comp.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::ENOENT) => {
                    return Err(anyhow::Error::new(io_err(Errno::ENOENT))
                        .context(format!("directory {} does not exist", child.display())));
                }
                Err(e) => {
                    return Err(io_err(e)).with_context(|| format!("reading {}", child.display()));
                }
            };
            if kind(&st) == SFlag::S_IFLNK {
                if !guards(&cur_st, &st) {
                    return Err(refuse_link(&child, &cur.path, &cur_st));
                }
                self.follow(&child)?;
                let target = readlinkat(cur.fd(), comp.as_os_str())
                    .map_err(io_err)
                    .with_context(|| format!("reading the symlink {}", child.display()))?;
                let target = Path::new(&target);
                for c in components(target).into_iter().rev() {
                    queue.push_front(c);
                }
                if target.is_absolute() {
                    cur = open_root()?;
                }
                continue;
            }
            if kind(&st) != SFlag::S_IFDIR {
                bail!("{} is not a directory", child.display());
            }
            if self.strict && !guards(&cur_st, &st) {
                bail!(
                    "refusing to use {} as root after following a symlink: {}",
                    child.display(),
                    why_untrusted(&cur.path, &cur_st)
                );
            }
            let fd = openat(cur.fd(), comp.as_os_str(), dir_flags(), Mode::empty())
                .map_err(io_err)
                .with_context(|| format!("opening directory {}", child.display()))?;
            same_inode(&fd, &st, &child)?;
            cur = Dir { fd, path: child };
        }
        if self.strict {
            let st = fstat(cur.fd())
                .map_err(io_err)
                .with_context(|| format!("reading {}", cur.path.display()))?;
            if !dir_locked_down(&st) {
                bail!(
                    "refusing to write into {} as root after following a symlink: {}\nhelp: chown root:<group> {dir} && chmod 2750 {dir}",
                    cur.path.display(),
                    why_untrusted(&cur.path, &st),
                    dir = cur.path.display()
                );
            }
        }
        Ok(cur)
    }
}

/// The entry swapped between `fstatat` and `openat` is refused.
fn same_inode(fd: &OwnedFd, expected: &FileStat, path: &Path) -> anyhow::Result<()> {
    let st = fstat(fd.as_fd())
        .map_err(io_err)
        .with_context(|| format!("reading {}", path.display()))?;
    if st.st_dev != expected.st_dev || st.st_ino != expected.st_ino {
        bail!(
            "{} was replaced while es-secure opened it; refusing to go on (is someone changing this directory?)",
            path.display()
        );
    }
    Ok(())
}

/// Open the directory `path` (absolute), following symlinks only under the trust rule.
pub fn open_dir(path: &Path) -> anyhow::Result<Dir> {
    Walk::new().open_dir(path)
}

/// Resolve the file `path` (absolute) to its checked parent directory and name. If the file
/// is a symlink it is followed (so a link stays a link when written) under the trust rule;
/// a link to a missing file, and anything but a regular file, are refused.
pub fn resolve(path: &Path) -> anyhow::Result<Target> {
    if !path.is_absolute() {
        bail!("refusing to use {}: not an absolute path", path.display());
    }
    let mut walk = Walk::new();
    let mut path = path.to_path_buf();
    loop {
        let (parent, name) = split(&path)?;
        let dir = walk.open_dir(parent)?;
        let name = name.to_os_string();
        match fstatat(dir.fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) if walk.links > 0 => {
                bail!("{} is a symlink to a missing file", path.display());
            }
            Err(Errno::ENOENT) => return Ok(Target { dir, name }),
            Err(e) => {
                return Err(io_err(e)).with_context(|| format!("reading {}", path.display()));
            }
            Ok(st) if kind(&st) == SFlag::S_IFLNK => {
                let dir_st = fstat(dir.fd())
                    .map_err(io_err)
                    .with_context(|| format!("reading {}", dir.path.display()))?;
                let link = dir.path.join(&name);
                if !guards(&dir_st, &st) {
                    return Err(refuse_link(&link, &dir.path, &dir_st));
                }
                walk.follow(&link)?;
                let to = readlinkat(dir.fd(), name.as_os_str())
                    .map_err(io_err)
                    .with_context(|| format!("reading the symlink {}", link.display()))?;
                path = dir.path.join(to);
            }
            Ok(st) if kind(&st) == SFlag::S_IFREG => return Ok(Target { dir, name }),
            Ok(_) => bail!("refusing to use {}: not a regular file", path.display()),
        }
    }
}

pub(super) fn split(path: &Path) -> anyhow::Result<(&Path, &OsStr)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    Ok((parent, name))
}
