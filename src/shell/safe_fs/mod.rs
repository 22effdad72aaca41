//! The one file-system layer for everything es-secure writes (and the config and secret
//! files it reads) while running as root: config files, certificates, realm files,
//! keystores, Kibana files, state, the passwords file, saved answers and rollback.
//!
//! Threat model: the Elasticsearch and Kibana service accounts may be compromised, and they
//! can write some of the directories es-secure works in (archive installs, auto-configured
//! `certs/`). So every operation is anchored on directory file descriptors opened one path
//! component at a time with `O_NOFOLLOW`; a new file is a randomly named temp file created
//! `O_CREAT|O_EXCL|O_NOFOLLOW` 0600, then written, `fchown`ed, `fchmod`ed and fsynced, and
//! renamed into place with `renameat` in the same directory, which is then fsynced. A new
//! directory is `mkdirat` 0700, opened `O_NOFOLLOW`, checked to be the one just made (owned
//! by us), and only then `fchown`ed/`fchmod`ed through its descriptor.
//!
//! A symlink (as a path component or as the file itself) is followed only when whoever could
//! change it is trusted: the directory holding the link must not be writable by anyone but
//! root (or the user running es-secure), and every directory on the way to the link's target
//! must satisfy the same (a sticky directory counts when the entry is owned by root or us).
//! Otherwise the operation is refused with a message naming the link and the fix.
//!
//! Input files are read non-blocking, must be regular files and are size-capped, so a FIFO,
//! a device or a huge file is a clear error rather than a hang or an out-of-memory. Those reads
//! live in `read`; resolving a path under the symlink trust rule lives in `walk`; many new
//! files written as one unit in `unit`; this file holds the descriptor-anchored directories
//! and targets and what is written through them.
//!
//! What it must not do: follow a symlink an untrusted user controls; change a path anywhere
//! but through a descriptor of its checked parent directory; give content wider permissions
//! than asked at any instant; leave a file half written (a reader sees the old or the new
//! version); read without a size bound.

mod read;
mod unit;
mod walk;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};

use self::read::read_capped;
pub use self::read::{
    InputError, read_config, read_file, read_file_text, read_input, read_input_text,
};
pub use self::unit::DirId;
use self::walk::{me, split};
pub use self::walk::{open_dir, resolve};

/// Size cap for configuration files (elasticsearch.yml, kibana.yml, realm files).
pub const CONFIG_CAP: u64 = 64 * 1024 * 1024;
/// Size cap for small inputs: answers, `file:` secrets, bundles, certificates and keys.
pub const SMALL_CAP: u64 = 1024 * 1024;
/// Symlinks followed in one resolution before giving up (as the kernel does).
const MAX_LINKS: u32 = 40;
/// Infix of the temp files of an atomic write: `.<name>.es-secure.<random>`.
const TEMP_INFIX: &str = ".es-secure.";

/// An open directory and the path it was reached by (symlinks resolved).
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A file to read or write: its checked parent directory and its name in it.
pub struct Target {
    dir: Dir,
    name: OsString,
}

/// Mode, owner and size of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Meta {
    fn of(st: &FileStat) -> Self {
        Self {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }
}

/// What removing a directory did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedDir {
    Removed,
    Missing,
    NotEmpty,
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn io_err(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

fn dir_flags() -> OFlag {
    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC
}

impl Target {
    /// The resolved path (symlinks followed), for messages and journals.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(&self.name)
    }

    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Mode, owner and size, or `None` if the file does not exist (a symlink is not
    /// followed: [`resolve`] already did that).
    pub fn meta(&self) -> anyhow::Result<Option<Meta>> {
        match fstatat(
            self.dir.fd(),
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if kind(&st) == SFlag::S_IFREG => Ok(Some(Meta::of(&st))),
            Ok(_) => bail!("{} is not a regular file", self.path().display()),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(io_err(e)).with_context(|| format!("reading {}", self.path().display())),
        }
    }

    /// Read the file (at most `cap` bytes), or `None` if it does not exist.
    pub fn read(&self, cap: u64) -> anyhow::Result<Option<(Vec<u8>, Meta)>> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(self.dir.fd(), self.name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => bail!(
                "{} became a symlink while es-secure read it; refusing",
                self.path().display()
            ),
            Err(e) => {
                return Err(io_err(e))
                    .with_context(|| format!("reading {}", self.path().display()));
            }
        };
        let (bytes, meta) = read_capped(File::from(fd), &self.path(), cap)?;
        Ok(Some((bytes, meta)))
    }

    /// Replace the file atomically with `bytes`, `mode` and (when given) `owner`.
    pub fn write(&self, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> anyhow::Result<()> {
        self.stage(bytes, mode, owner)?.publish()
    }

    /// The first half of [`Target::write`]: the complete new file (bytes, owner, mode,
    /// fsynced) under a temporary name next to this one. [`Staged::publish`] renames it into
    /// place; dropping it unpublished deletes it. Two files a reader must see change together
    /// (a certificate and its key) are both staged before either is published, so the window
    /// between them is two renames.
    pub fn stage(
        &self,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> anyhow::Result<Staged<'_>> {
        let tmp = self.temp_name()?;
        let tmp_path = self.dir.path.join(&tmp);
        let result = (|| -> anyhow::Result<()> {
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            let fd = openat(
                self.dir.fd(),
                tmp.as_os_str(),
                flags,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(io_err)
            .with_context(|| format!("creating {}", tmp_path.display()))?;
            let mut f = File::from(fd);
            f.write_all(bytes)
                .with_context(|| format!("writing {}", tmp_path.display()))?;
            if let Some((uid, gid)) = owner {
                set_owner(f.as_fd(), uid, gid, &tmp_path)?;
            }
            // After chown, which clears set-id bits.
            fchmod(f.as_fd(), Mode::from_bits_truncate(mode))
                .map_err(io_err)
                .with_context(|| format!("setting mode {mode:o} on {}", tmp_path.display()))?;
            f.sync_all()
                .with_context(|| format!("syncing {}", tmp_path.display()))
        })();
        if let Err(e) = result {
            let _ = unlinkat(self.dir.fd(), tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
        Ok(Staged {
            target: self,
            tmp: Some(tmp),
        })
    }

    /// Delete the file; `false` if it did not exist.
    pub fn remove(&self) -> anyhow::Result<bool> {
        match unlinkat(
            self.dir.fd(),
            self.name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) => {
                self.dir.sync()?;
                Ok(true)
            }
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(io_err(e)).with_context(|| format!("removing {}", self.path().display())),
        }
    }

    /// Delete temp files of an atomic write of this file that a crash left behind (only
    /// regular files owned by us).
    pub fn remove_temp_leftovers(&self) -> anyhow::Result<()> {
        let mut prefix = OsString::from(".");
        prefix.push(&self.name);
        prefix.push(TEMP_INFIX);
        let prefix = prefix.as_bytes().to_vec();
        let names = self
            .dir
            .entries()?
            .into_iter()
            .filter(|n| n.as_bytes().starts_with(&prefix));
        for name in names {
            if let Ok(st) = fstatat(
                self.dir.fd(),
                name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) && kind(&st) == SFlag::S_IFREG
                && st.st_uid == me()
            {
                unlinkat(self.dir.fd(), name.as_os_str(), UnlinkatFlags::NoRemoveDir)
                    .map_err(io_err)
                    .with_context(|| format!("removing {}", self.dir.path.join(&name).display()))?;
            }
        }
        Ok(())
    }

    /// Remove the directory this target names; kept when not empty.
    pub fn remove_dir(&self) -> anyhow::Result<RemovedDir> {
        match unlinkat(
            self.dir.fd(),
            self.name.as_os_str(),
            UnlinkatFlags::RemoveDir,
        ) {
            Ok(()) => {
                self.dir.sync()?;
                Ok(RemovedDir::Removed)
            }
            // Something else took its place (a symlink, a file): not ours to remove.
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(RemovedDir::Missing),
            Err(Errno::ENOTEMPTY | Errno::EEXIST) => Ok(RemovedDir::NotEmpty),
            Err(e) => Err(io_err(e)).with_context(|| format!("removing {}", self.path().display())),
        }
    }

    fn temp_name(&self) -> anyhow::Result<OsString> {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        let mut tmp = OsString::from(".");
        tmp.push(&self.name);
        tmp.push(TEMP_INFIX);
        tmp.push(hex::encode(rnd));
        Ok(tmp)
    }
}

/// A complete new file under a temporary name, not yet renamed into place (see
/// [`Target::stage`]). Dropped unpublished, the temporary file is deleted.
pub struct Staged<'a> {
    target: &'a Target,
    tmp: Option<OsString>,
}

impl Staged<'_> {
    /// Rename the staged file over the target, then fsync the directory.
    pub fn publish(mut self) -> anyhow::Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let t = self.target;
        if let Err(e) = renameat(t.dir.fd(), tmp.as_os_str(), t.dir.fd(), t.name.as_os_str()) {
            let _ = unlinkat(t.dir.fd(), tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(io_err(e)).with_context(|| format!("renaming into {}", t.path().display()));
        }
        t.dir.sync()
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = unlinkat(
                self.target.dir.fd(),
                tmp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// The directory a target of `path` names, without resolving a final symlink: for removing
/// a directory es-secure created.
pub fn entry(path: &Path) -> anyhow::Result<Target> {
    let (parent, name) = split(path)?;
    Ok(Target {
        dir: open_dir(parent)?,
        name: name.to_os_string(),
    })
}

fn set_owner(fd: BorrowedFd<'_>, uid: u32, gid: u32, path: &Path) -> anyhow::Result<()> {
    let st = fstat(fd)
        .map_err(io_err)
        .with_context(|| format!("reading {}", path.display()))?;
    // Only chown when needed, so a non-root run keeping its own files works.
    if st.st_uid != uid || st.st_gid != gid {
        fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(io_err)
            .with_context(|| format!("setting owner {uid}:{gid} on {}", path.display()))?;
    }
    Ok(())
}

impl Dir {
    /// Make the directory's entries durable.
    pub fn sync(&self) -> anyhow::Result<()> {
        fsync(self.fd())
            .map_err(io_err)
            .with_context(|| format!("syncing directory {}", self.path.display()))
    }

    /// The names in this directory (without `.` and `..`).
    pub fn entries(&self) -> anyhow::Result<Vec<OsString>> {
        let fd = openat(self.fd(), ".", dir_flags(), Mode::empty())
            .map_err(io_err)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let mut listing = nix::dir::Dir::from_fd(fd)
            .map_err(io_err)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let mut names = Vec::new();
        for entry in listing.iter() {
            let entry = entry
                .map_err(io_err)
                .with_context(|| format!("reading {}", self.path.display()))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(names)
    }

    /// Does `name` exist in this directory as a directory (not following a symlink)?
    pub fn child_kind(&self, name: &OsStr) -> anyhow::Result<Option<bool>> {
        match fstatat(self.fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(kind(&st) == SFlag::S_IFDIR)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(io_err(e))
                .with_context(|| format!("reading {}", self.path.join(name).display())),
        }
    }

    /// Create the directory `name` here, private until it is checked, then give it `owner`
    /// and `mode` through its descriptor. Returns the new directory, opened.
    pub fn create_dir(
        &self,
        name: &OsStr,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> anyhow::Result<Dir> {
        let path = self.path.join(name);
        mkdirat(self.fd(), name, Mode::from_bits_truncate(0o700))
            .map_err(io_err)
            .with_context(|| format!("creating {}", path.display()))?;
        after_mkdir_hook(&path);
        let fd = match openat(self.fd(), name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOTDIR) => bail!(
                "{} was replaced by something else right after es-secure created it; refusing to go on (someone can write {})",
                path.display(),
                self.path.display()
            ),
            Err(e) => {
                return Err(io_err(e)).with_context(|| format!("opening {}", path.display()));
            }
        };
        let st = fstat(fd.as_fd())
            .map_err(io_err)
            .with_context(|| format!("reading {}", path.display()))?;
        if st.st_uid != me() {
            bail!(
                "{} was replaced by a directory of uid {} right after es-secure created it; refusing to go on (someone can write {})",
                path.display(),
                st.st_uid,
                self.path.display()
            );
        }
        if let Some((uid, gid)) = owner {
            set_owner(fd.as_fd(), uid, gid, &path)?;
        }
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))
            .map_err(io_err)
            .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
        self.sync()?;
        Ok(Dir { fd, path })
    }

    /// The file `name` in this directory (not following a symlink there).
    pub fn file(&self, name: &OsStr) -> anyhow::Result<Target> {
        let fd = openat(self.fd(), ".", dir_flags(), Mode::empty())
            .map_err(io_err)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let target = Target {
            dir: Dir {
                fd,
                path: self.path.clone(),
            },
            name: name.to_os_string(),
        };
        if let Some(st) = target.lstat()?
            && kind(&st) != SFlag::S_IFREG
        {
            bail!(
                "refusing to use {}: not a regular file",
                target.path().display()
            );
        }
        Ok(target)
    }
}

impl Target {
    fn lstat(&self) -> anyhow::Result<Option<FileStat>> {
        match fstatat(
            self.dir.fd(),
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(io_err(e)).with_context(|| format!("reading {}", self.path().display())),
        }
    }
}

/// A test hook run between a directory's creation and its chown.
#[cfg(feature = "fault-injection")]
type MkdirHook = Box<dyn Fn(&Path) + Send + Sync>;

#[cfg(feature = "fault-injection")]
static AFTER_MKDIR: std::sync::Mutex<Option<MkdirHook>> = std::sync::Mutex::new(None);

/// Test hook (feature `fault-injection` only): run `hook` with each new directory's path
/// between its creation and its chown, so a test can swap the directory there.
#[cfg(feature = "fault-injection")]
pub fn set_after_mkdir_hook(hook: Option<MkdirHook>) {
    if let Ok(mut h) = AFTER_MKDIR.lock() {
        *h = hook;
    }
}

#[cfg(feature = "fault-injection")]
fn after_mkdir_hook(path: &Path) {
    if let Ok(h) = AFTER_MKDIR.lock()
        && let Some(hook) = h.as_ref()
    {
        hook(path);
    }
}

#[cfg(not(feature = "fault-injection"))]
fn after_mkdir_hook(_path: &Path) {}

/// Write `bytes` to `path` atomically as a private file (0600, owned by the running user):
/// state, the passwords file, saved answers. Missing parent directories are created 0700.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let (parent, _) = split(path)?;
    create_dir_all(parent, 0o700, None)?;
    resolve(path)?.write(bytes, 0o600, None)
}

/// Open (creating it 0600 if missing) the file `path` for reading and writing without
/// truncating it, never through a symlink: the state directory's lock file.
pub fn open_private_rw(path: &Path) -> anyhow::Result<File> {
    let t = entry(path)?;
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(
        t.dir.fd(),
        t.name.as_os_str(),
        flags,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(io_err)
    .with_context(|| format!("opening {}", path.display()))?;
    let f = File::from(fd);
    let st = fstat(f.as_fd())
        .map_err(io_err)
        .with_context(|| format!("reading {}", path.display()))?;
    if kind(&st) != SFlag::S_IFREG {
        bail!("{} is not a regular file", path.display());
    }
    Ok(f)
}

/// Create `path` and any missing parents with `mode`/`owner` (existing ones are left as they
/// are). Returns the directories created, outermost first.
pub fn create_dir_all(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    create_dir_all_with(path, mode, owner, |p| {
        created.push(p.to_path_buf());
        Ok(())
    })?;
    Ok(created)
}

/// [`create_dir_all`], calling `before_each` with each directory's path before creating it
/// (the transaction journals it there).
pub fn create_dir_all_with(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
    mut before_each: impl FnMut(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if !path.is_absolute() {
        bail!(
            "refusing to create {}: not an absolute path",
            path.display()
        );
    }
    // The longest existing prefix, opened safely; the rest is created below it.
    let mut missing: Vec<OsString> = Vec::new();
    let mut cur = path.to_path_buf();
    let mut dir = loop {
        match open_dir(&cur) {
            Ok(d) => break d,
            Err(e) if is_not_found(&e) => {
                let name = cur
                    .file_name()
                    .with_context(|| format!("cannot create {}", path.display()))?
                    .to_os_string();
                missing.push(name);
                if !cur.pop() {
                    return Err(e);
                }
            }
            Err(e) => {
                return Err(e.context(format!("cannot create directory {}", path.display())));
            }
        }
    };
    for name in missing.into_iter().rev() {
        let next = dir.path.join(&name);
        match dir.child_kind(&name)? {
            Some(true) => {
                dir = open_dir(&next)?;
                continue;
            }
            Some(false) => bail!(
                "cannot create directory {}: {} exists and is not a directory",
                path.display(),
                next.display()
            ),
            None => {}
        }
        before_each(&next)?;
        dir = dir.create_dir(&name, mode, owner)?;
    }
    Ok(())
}

/// The error (or one it wraps) is "no such file or directory".
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    #[test]
    fn write_creates_and_replaces_atomically_with_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        resolve(&p).unwrap().write(b"one", 0o640, None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        resolve(&p).unwrap().write(b"two", 0o600, None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn symlink_in_a_private_dir_is_followed_and_stays_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        let link = tmp.path().join("link");
        std::fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let t = resolve(&link).unwrap();
        assert_eq!(t.path(), real);
        t.write(b"new", 0o600, None).unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    }

    #[test]
    fn symlink_in_an_open_dir_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let real = tmp.path().join("real");
        std::fs::write(&real, b"secret").unwrap();
        std::os::unix::fs::symlink(&real, open.join("key")).unwrap();
        let err = format!("{:#}", resolve(&open.join("key")).err().unwrap());
        assert!(err.contains("refusing to follow the symlink"), "{err}");
        assert!(err.contains(&open.display().to_string()), "{err}");
        assert!(err.contains("chmod 2750"), "{err}");
        // A symlinked directory component in it is refused too.
        std::os::unix::fs::symlink(tmp.path(), open.join("d")).unwrap();
        assert!(open_dir(&open.join("d")).is_err());
        assert_eq!(std::fs::read(&real).unwrap(), b"secret");
    }

    #[test]
    fn create_dir_all_sets_mode_and_reports_created() {
        let tmp = tempfile::tempdir().unwrap();
        let made = create_dir_all(&tmp.path().join("a/b"), 0o750, None).unwrap();
        assert_eq!(made, vec![tmp.path().join("a"), tmp.path().join("a/b")]);
        let m = std::fs::metadata(tmp.path().join("a/b")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o750);
        assert!(
            create_dir_all(&tmp.path().join("a/b"), 0o750, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn leftover_temp_files_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(tmp.path().join(".f.es-secure.tmp"), b"x").unwrap();
        std::fs::write(tmp.path().join(".f.es-secure.0011"), b"x").unwrap();
        std::fs::write(tmp.path().join(".g.es-secure.tmp"), b"x").unwrap();
        resolve(&p).unwrap().remove_temp_leftovers().unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
