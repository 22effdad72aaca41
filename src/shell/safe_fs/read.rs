//! Bounded reads: input files the operator names (answers, `file:` secrets, bundles, CAs)
//! and files es-secure finds on the node, read non-blocking, regular files only, at most a
//! cap of bytes, so a FIFO, a device or a huge file is a clear error rather than a hang or an
//! out-of-memory. It must not write, and must not read without a size bound.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, SFlag, fstat};

use super::{CONFIG_CAP, Meta, io_err, kind, resolve};

/// Why an input file could not be read; always exit 2 (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a regular file ({what}); es-secure reads {role} only from regular files\nhelp: point it at the file itself",
        path.display()
    )]
    NotRegular {
        path: PathBuf,
        what: &'static str,
        role: &'static str,
    },
    #[error(
        "{} is {size} bytes, more than the {cap} bytes es-secure accepts for {role}\nhelp: check that this is the right file",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        cap: u64,
        role: &'static str,
    },
    #[error("{} is not UTF-8 text\nhelp: save it as UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
}

fn kind_name(st: &FileStat) -> &'static str {
    match kind(st) {
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFLNK => "a symlink",
        _ => "not a regular file",
    }
}

pub(super) fn read_capped(mut f: File, path: &Path, cap: u64) -> anyhow::Result<(Vec<u8>, Meta)> {
    let st = fstat(f.as_fd())
        .map_err(io_err)
        .with_context(|| format!("reading {}", path.display()))?;
    if kind(&st) != SFlag::S_IFREG {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            what: kind_name(&st),
            role: "files",
        }
        .into());
    }
    let meta = Meta::of(&st);
    if meta.size > cap {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: meta.size,
            cap,
            role: "this file",
        }
        .into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    (&mut f)
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            cap,
            role: "this file",
        }
        .into());
    }
    Ok((bytes, meta))
}

/// Read an input file the operator named (answers, a `file:` secret, a bundle, a CA or a
/// certificate): non-blocking open, must be a regular file, at most `cap` bytes. The
/// operator chose the path, so a symlink is followed. `role` names the file in messages.
pub fn read_input(path: &Path, cap: u64, role: &'static str) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(io)?;
    let st = fstat(f.as_fd()).map_err(|e| io(io_err(e)))?;
    if kind(&st) != SFlag::S_IFREG {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            what: kind_name(&st),
            role,
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > cap {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size,
            cap,
            role,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > cap {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: len,
            cap,
            role,
        });
    }
    Ok(bytes)
}

/// Read a configuration file of the node (elasticsearch.yml, kibana.yml): resolved under the
/// trust rule (a symlink the service account could have planted is refused), non-blocking,
/// regular files only, at most [`CONFIG_CAP`] bytes.
pub fn read_config(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_file(path, CONFIG_CAP)
}

/// Read a file es-secure finds on the node (certificates, keys, keystores, the CA):
/// [`resolve`]d under the trust rule, non-blocking, regular files only, at most `cap` bytes.
/// A relative path is taken from the working directory.
pub fn read_file(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let abs = std::path::absolute(path).with_context(|| format!("reading {}", path.display()))?;
    match resolve(&abs)?.read(cap)? {
        Some((bytes, _)) => Ok(bytes),
        None => Err(anyhow::Error::new(io_err(Errno::ENOENT))
            .context(format!("{} does not exist", path.display()))),
    }
}

/// [`read_file`] as UTF-8 text.
pub fn read_file_text(path: &Path, cap: u64) -> anyhow::Result<String> {
    String::from_utf8(read_file(path, cap)?)
        .map_err(|_| InputError::NotUtf8 {
            path: path.to_path_buf(),
        })
        .map_err(anyhow::Error::from)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, cap: u64, role: &'static str) -> Result<String, InputError> {
    String::from_utf8(read_input(path, cap, role)?).map_err(|_| InputError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::shell::safe_fs::SMALL_CAP;
    use nix::sys::stat::Mode;

    #[test]
    fn fifo_and_oversize_inputs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let err = read_input(&fifo, SMALL_CAP, "answers").unwrap_err();
        assert!(matches!(err, InputError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let big = tmp.path().join("big");
        std::fs::write(&big, vec![b'a'; 2048]).unwrap();
        assert!(matches!(
            read_input(&big, 1024, "answers").unwrap_err(),
            InputError::TooLarge { size: 2048, .. }
        ));
        assert!(resolve(&fifo).is_err());
    }
}
