//! Can the Elasticsearch service user read (or write) a path? Worked out from owner, group and
//! mode bits along the whole path, the way the kernel decides, because es-secure runs as root
//! and `access(2)` only answers for the caller. Reads metadata only; changes nothing.
//!
//! POSIX ACLs and capabilities are not considered: packages do not use them on these paths,
//! and a false "cannot read" is explained with the exact mode it saw.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// A local account as the kernel sees it for permission checks.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// Primary and supplementary groups.
    pub gids: Vec<u32>,
}

impl Account {
    /// The account called `name`, or `None` when it does not exist.
    pub fn lookup(name: &str) -> Option<Self> {
        let user = nix::unistd::User::from_name(name).ok().flatten()?;
        let mut gids = vec![user.gid.as_raw()];
        if let Ok(cname) = CString::new(name)
            && let Ok(list) = nix::unistd::getgrouplist(&cname, user.gid)
        {
            gids.extend(list.iter().map(|g| g.as_raw()));
        }
        gids.sort_unstable();
        gids.dedup();
        Some(Self {
            name: user.name,
            uid: user.uid.as_raw(),
            gids,
        })
    }
}

/// What the account needs on the final path component.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Need {
    /// Read a file.
    ReadFile,
    /// List and enter a directory (read + search).
    ReadDir,
    /// Create files in a directory (write + search), e.g. `path.data`.
    WriteDir,
}

/// Why the account cannot get at a path: the path component that stops it and its mode.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Denied {
    /// The component that denies access (the path itself or one of its parents).
    pub at: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// What was missing there, e.g. "search (x)".
    pub missing: &'static str,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (mode {:04o}, owner {}:{}) does not grant {}",
            self.at.display(),
            self.mode & 0o7777,
            name_of_uid(self.uid),
            name_of_gid(self.gid),
            self.missing
        )
    }
}

fn name_of_uid(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn name_of_gid(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

/// The permission bits (rwx as 0o7) that apply to `acct` for a file with this owner and mode:
/// owner bits if it owns it, else group bits if it is in the group, else the rest — the
/// kernel never falls through to a more generous class.
fn bits_for(acct: &Account, uid: u32, gid: u32, mode: u32) -> u32 {
    if acct.uid == uid {
        (mode >> 6) & 0o7
    } else if acct.gids.contains(&gid) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    }
}

/// Check that `acct` can do `need` on `path`. Missing paths are an error from the caller's
/// point of view, so they come back as `Err(None)`.
pub fn check(path: &Path, acct: &Account, need: Need) -> Result<(), Option<Denied>> {
    // Root bypasses mode bits for read/write (and search on directories).
    if acct.uid == 0 {
        return path.exists().then_some(()).ok_or(None);
    }
    // Resolve symlinks so the check is on what the service will really open.
    let real = std::fs::canonicalize(path).map_err(|_| None)?;
    let mut ancestors: Vec<&Path> = real.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let m = std::fs::metadata(dir).map_err(|_| None)?;
        if bits_for(acct, m.uid(), m.gid(), m.mode()) & 0o1 == 0 {
            return Err(Some(Denied {
                at: dir.to_path_buf(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                missing: "search (x)",
            }));
        }
    }
    let m = std::fs::metadata(&real).map_err(|_| None)?;
    let (want, missing) = match need {
        Need::ReadFile => (0o4, "read (r)"),
        Need::ReadDir => (0o5, "read and search (r-x)"),
        Need::WriteDir => (0o3, "write and search (-wx)"),
    };
    if bits_for(acct, m.uid(), m.gid(), m.mode()) & want == want {
        Ok(())
    } else {
        Err(Some(Denied {
            at: real,
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            missing,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(uid: u32, gids: &[u32]) -> Account {
        Account {
            name: "t".into(),
            uid,
            gids: gids.to_vec(),
        }
    }

    #[test]
    fn owner_bits_win_even_when_group_bits_would_allow() {
        // Owner with ---, group rwx: the owner is denied (the kernel does not fall through).
        assert_eq!(bits_for(&acct(5, &[7]), 5, 7, 0o070), 0);
        assert_eq!(bits_for(&acct(6, &[7]), 5, 7, 0o070), 0o7);
        assert_eq!(bits_for(&acct(6, &[8]), 5, 7, 0o770), 0);
        assert_eq!(bits_for(&acct(6, &[8]), 5, 7, 0o705), 0o5);
    }

    #[test]
    fn denied_names_the_blocking_parent() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let inner = d.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        let f = inner.join("key.pem");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Someone who is neither the owner nor in the group.
        let other = acct(4_000_000, &[4_000_000]);
        let err = check(&f, &other, Need::ReadFile).unwrap_err().unwrap();
        assert_eq!(err.at, std::fs::canonicalize(&inner).unwrap());
        assert_eq!(err.missing, "search (x)");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check(&f, &other, Need::ReadFile), Ok(()));
        assert!(check(&inner, &other, Need::WriteDir).is_err());
        assert_eq!(
            check(&d.path().join("nope"), &other, Need::ReadFile),
            Err(None)
        );
    }
}
