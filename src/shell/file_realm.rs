//! A temporary superuser in Elasticsearch's file realm, the way `elasticsearch-reset-password`
//! makes one: a random user with role `superuser` in `<config>/users_roles`, then its `$2a$`
//! bcrypt hash in `<config>/users`. es-secure needs it to call the REST API before any
//! built-in user has a password it knows.
//!
//! It must not: leave the user behind (removal runs on `remove`, on drop, and in
//! [`with_temp_superuser`] even when the work fails), change any other line, the owner or the
//! mode of those files, leave a half-written file (every write is temp file + rename), or
//! follow a symlink the service account could have planted (writes go through `safe_fs`).
//! It does not talk to Elasticsearch; see [`EsClient::authenticate_retrying`] for the wait
//! until the realm has reloaded the files.
//!
//! [`EsClient::authenticate_retrying`]: crate::shell::es_client::EsClient::authenticate_retrying

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use crate::shell::es_client::Credentials;
use crate::shell::safe_fs;

/// Elasticsearch's default bcrypt cost (`Hasher.BCRYPT`).
const BCRYPT_COST: u32 = 10;
const USERNAME_PREFIX: &str = "es_secure_";
const PASSWORD_LEN: usize = 32;
/// Mode for a `users`/`users_roles` file we have to create: the Elasticsearch group reads it.
const NEW_FILE_MODE: u32 = 0o660;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// One line we added to one file, and how to take it out again.
#[derive(Debug)]
struct Addition {
    path: PathBuf,
    /// Exactly the bytes appended (a separating newline when the file lacked one, then the
    /// line and its newline). Removing them restores the file byte for byte.
    appended: String,
    /// The line without newlines, for when someone appended after us.
    line: String,
    /// The file did not exist; remove it again if nothing else was written to it.
    created: bool,
}

/// A file-realm superuser that exists until [`remove`](Self::remove) (or drop).
pub struct TempSuperuser {
    username: String,
    password: Zeroizing<String>,
    /// In the order they were made: users_roles, then users. Undone in reverse.
    additions: Vec<Addition>,
}

impl std::fmt::Debug for TempSuperuser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempSuperuser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl TempSuperuser {
    /// Add a random superuser to the file realm under `config_dir`. The role line goes first
    /// (as Elastic's tool does) so the user never exists without its role.
    pub fn create(config_dir: &Path) -> anyhow::Result<Self> {
        Self::create_with(config_dir, |_| Ok(()))
    }

    fn create_with(
        config_dir: &Path,
        record: impl FnOnce(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        if !config_dir.is_dir() {
            bail!(
                "the Elasticsearch config directory {} does not exist",
                config_dir.display()
            );
        }
        let username = format!("{USERNAME_PREFIX}{}", random_string(LOWER_ALNUM, 10)?);
        let password = Zeroizing::new(random_string(ALNUM, PASSWORD_LEN)?);
        let hash = bcrypt_2a(&password)?;
        let mut user = Self {
            username,
            password,
            additions: Vec::new(),
        };
        record(&user.username)?;
        let roles_line = format!("superuser:{}", user.username);
        let users_line = Zeroizing::new(format!("{}:{}", user.username, hash.as_str()));
        for (name, line) in [
            ("users_roles", roles_line.as_str()),
            ("users", users_line.as_str()),
        ] {
            let path = config_dir.join(name);
            match append_line(&path, line, config_dir) {
                Ok(a) => user.additions.push(a),
                Err(e) => {
                    // Undo the role line if the users file failed.
                    let undo = user.remove_all();
                    return Err(match undo {
                        Ok(()) => e,
                        Err(u) => e.context(format!("and undoing failed too: {u:#}")),
                    });
                }
            }
        }
        Ok(user)
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn credentials(&self) -> Credentials {
        Credentials {
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    /// Take the user out of both files again.
    pub fn remove(mut self) -> anyhow::Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        // users first, so the user stops authenticating before it loses its role.
        while let Some(a) = self.additions.pop() {
            if let Err(e) = remove_addition(&a)
                && first_error.is_none()
            {
                first_error = Some(e.context(format!(
                    "removing the temporary user {} from {}; delete that line by hand",
                    self.username,
                    a.path.display()
                )));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for TempSuperuser {
    fn drop(&mut self) {
        // Best effort for early returns and panics; `remove` reports errors properly.
        let _ = self.remove_all();
    }
}

/// Run `f` with a temporary superuser and remove the user afterwards, also when `f` fails.
pub fn with_temp_superuser<T>(
    config_dir: &Path,
    f: impl FnOnce(&Credentials) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let user = TempSuperuser::create(config_dir)?;
    let result = f(&user.credentials());
    let removed = user.remove();
    match (result, removed) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(r)) => Err(e.context(format!("also: {r:#}"))),
    }
}

/// The `es_secure_*` users found in the file realm under `config_dir` (in `users` or
/// `users_roles`): temporary superusers an interrupted run (or an older version) left
/// behind. Read-only.
pub fn leftover_users(config_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for name in ["users", "users_roles"] {
        let path = config_dir.join(name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for line in text.lines() {
            if let Some(user) = leftover_in_line(name, line)
                && !names.contains(&user)
            {
                names.push(user);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The es-secure user a line of `users` (`name:hash`) or `users_roles` (`role:u1,u2`) names.
fn leftover_in_line(file: &str, line: &str) -> Option<String> {
    let (left, right) = line.split_once(':')?;
    if file == "users" {
        return left.starts_with(USERNAME_PREFIX).then(|| left.to_string());
    }
    right
        .split(',')
        .map(str::trim)
        .find(|u| u.starts_with(USERNAME_PREFIX))
        .map(str::to_string)
}

/// Remove every `es_secure_*` user from `users` and `users_roles` under `config_dir`, by name:
/// their lines in `users`, their names in `users_roles` (a role line left empty goes). Every
/// other byte, the owner and the mode are kept. Returns the names removed.
pub fn remove_leftover_users(config_dir: &Path) -> anyhow::Result<Vec<String>> {
    let names = leftover_users(config_dir)?;
    if !names.is_empty() {
        remove_matching(
            config_dir,
            &|u| u.starts_with(USERNAME_PREFIX),
            [true, true],
        )?;
    }
    Ok(names)
}

/// Undo of a journaled temporary superuser: remove exactly `username` from `users` and
/// `users_roles`; a file that did not exist before (`*_existed` false) and is empty
/// afterwards is deleted. Returns whether the user was still there.
pub fn remove_user_by_name(
    config_dir: &Path,
    username: &str,
    users_existed: bool,
    roles_existed: bool,
) -> anyhow::Result<bool> {
    if !username.starts_with(USERNAME_PREFIX) {
        bail!("{username} is not an es-secure temporary user; not removing it");
    }
    remove_matching(
        config_dir,
        &|u| u == username,
        [users_existed, roles_existed],
    )
}

/// Drop the users `ours` matches from `users` then `users_roles` (`existed`: in that order,
/// whether the file existed before es-secure added to it). Returns whether any was found.
fn remove_matching(
    config_dir: &Path,
    ours: &dyn Fn(&str) -> bool,
    existed: [bool; 2],
) -> anyhow::Result<bool> {
    let mut found = false;
    // users first, so a user stops authenticating before it loses its role.
    for (name, existed) in ["users", "users_roles"].into_iter().zip(existed) {
        let target = match safe_fs::resolve(&config_dir.join(name)) {
            Ok(t) => t,
            Err(e) if safe_fs::is_not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        let path = target.path();
        let Some((bytes, meta)) = target.read(safe_fs::CONFIG_CAP)? else {
            continue;
        };
        let text = Zeroizing::new(
            String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?,
        );
        let mut kept = Zeroizing::new(String::with_capacity(text.len()));
        let mut changed = false;
        for l in text.split_inclusive('\n') {
            let body = l.trim_end_matches(['\n', '\r']);
            match (name, body.split_once(':')) {
                ("users", Some((user, _))) if ours(user) => changed = true,
                ("users_roles", Some((role, members)))
                    if members.split(',').any(|u| ours(u.trim())) =>
                {
                    changed = true;
                    let rest: Vec<&str> = members.split(',').filter(|u| !ours(u.trim())).collect();
                    if !rest.is_empty() {
                        kept.push_str(&format!("{role}:{}{}", rest.join(","), &l[body.len()..]));
                    }
                }
                _ => kept.push_str(l),
            }
        }
        found |= changed;
        let result = if !existed && kept.is_empty() {
            target.remove().map(|_| ())
        } else if changed {
            target.write(kept.as_bytes(), meta.mode, Some((meta.uid, meta.gid)))
        } else {
            Ok(())
        };
        result.with_context(|| {
            format!(
                "removing the temporary es-secure users from {}; delete their lines by hand",
                path.display()
            )
        })?;
    }
    Ok(found)
}

/// Like [`TempSuperuser::create`], calling `record(username)` before the first byte is
/// written — the transaction journals the user there, so a crash at any point is undone.
pub fn create_journaled(
    config_dir: &Path,
    record: impl FnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<TempSuperuser> {
    TempSuperuser::create_with(config_dir, record)
}

/// bcrypt with the `$2a$` prefix: Elasticsearch's `Hasher` recognises bcrypt hashes by it
/// (older versions by nothing else), while the bcrypt crate writes `$2b$` by default.
pub fn bcrypt_2a(password: &str) -> anyhow::Result<Zeroizing<String>> {
    let parts = bcrypt::hash_with_result(password, BCRYPT_COST).context("bcrypt hashing")?;
    Ok(Zeroizing::new(
        parts.format_for_version(bcrypt::Version::TwoA),
    ))
}

/// `len` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
fn random_string(alphabet: &[u8], len: usize) -> anyhow::Result<String> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(buf.as_mut()).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        for &b in buf.iter() {
            if (b as usize) < limit && out.len() < len {
                out.push(char::from(alphabet[b as usize % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// Append `line` to the file at `path` atomically, keeping every existing byte, the owner
/// and the mode. A missing file is created 0660, owned by root and the config dir's group.
/// Reads and writes go through [`safe_fs`], so a `users` file that the service account
/// replaced by a symlink is refused, not followed.
fn append_line(path: &Path, line: &str, config_dir: &Path) -> anyhow::Result<Addition> {
    let target = safe_fs::resolve(path)?;
    let (old, created, uid, gid, mode) = match target.read(safe_fs::CONFIG_CAP)? {
        Some((bytes, meta)) => {
            let text = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8 text", target.path().display()))?;
            (Zeroizing::new(text), false, meta.uid, meta.gid, meta.mode)
        }
        None => {
            let dir_gid = fs::metadata(config_dir)
                .with_context(|| format!("reading {}", config_dir.display()))?
                .gid();
            (
                Zeroizing::new(String::new()),
                true,
                0,
                dir_gid,
                NEW_FILE_MODE,
            )
        }
    };
    let separator = if old.is_empty() || old.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let appended = format!("{separator}{line}\n");
    let mut new = Zeroizing::new(String::with_capacity(old.len() + appended.len()));
    new.push_str(&old);
    new.push_str(&appended);
    target.write(new.as_bytes(), mode, Some((uid, gid)))?;
    Ok(Addition {
        path: target.path(),
        appended,
        line: line.to_string(),
        created,
    })
}

fn remove_addition(a: &Addition) -> anyhow::Result<()> {
    let target = match safe_fs::resolve(&a.path) {
        Ok(t) => t,
        Err(e) if safe_fs::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    // Someone removed the file: our line is gone with it.
    let Some((bytes, meta)) = target.read(safe_fs::CONFIG_CAP)? else {
        return Ok(());
    };
    let current = Zeroizing::new(
        String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", a.path.display()))?,
    );
    let restored: Zeroizing<String> = if let Some(before) = current.strip_suffix(&a.appended) {
        // The usual case: nothing was appended after us, restore the exact old bytes.
        Zeroizing::new(before.to_string())
    } else {
        // Someone (ES tooling, an operator) appended after us: drop only our line.
        let mut kept = String::with_capacity(current.len());
        let mut found = false;
        for l in current.split_inclusive('\n') {
            if !found && l.trim_end_matches(['\n', '\r']) == a.line {
                found = true;
                continue;
            }
            kept.push_str(l);
        }
        if !found {
            return Ok(());
        }
        Zeroizing::new(kept)
    };
    if a.created && restored.is_empty() {
        target.remove()?;
        return Ok(());
    }
    target.write(restored.as_bytes(), meta.mode, Some((meta.uid, meta.gid)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    fn meta(p: &Path) -> (u32, u32, u32) {
        let m = fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    }

    #[test]
    fn bcrypt_uses_2a_prefix_and_verifies() {
        let h = bcrypt_2a("correct horse").unwrap();
        assert!(h.starts_with("$2a$10$"), "{}", h.as_str());
        assert!(bcrypt::verify("correct horse", &h).unwrap());
    }

    #[test]
    fn random_strings_use_the_alphabet() {
        let s = random_string(ALNUM, PASSWORD_LEN).unwrap();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| ALNUM.contains(&b)));
        assert_ne!(s, random_string(ALNUM, PASSWORD_LEN).unwrap());
    }

    #[test]
    fn create_and_remove_preserve_bytes_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        let roles = dir.path().join("users_roles");
        // No trailing newline on purpose, plus a CRLF line and an existing superuser line.
        let users_before =
            "alice:$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\r\nbob:{PBKDF2}x";
        let roles_before = "superuser:alice\nviewer:bob\n";
        fs::write(&users, users_before).unwrap();
        fs::write(&roles, roles_before).unwrap();
        fs::set_permissions(&users, fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(&roles, fs::Permissions::from_mode(0o604)).unwrap();
        let (um, rm) = (meta(&users), meta(&roles));

        let t = TempSuperuser::create(dir.path()).unwrap();
        let c = t.credentials();
        assert!(c.username.starts_with("es_secure_"));
        assert_eq!(c.password.len(), 32);
        let u = fs::read_to_string(&users).unwrap();
        let r = fs::read_to_string(&roles).unwrap();
        assert!(u.starts_with(users_before), "{u}");
        let added = u.lines().last().unwrap();
        let (name, hash) = added.split_once(':').unwrap();
        assert_eq!(name, c.username);
        assert!(hash.starts_with("$2a$10$"));
        assert!(bcrypt::verify(c.password.as_str(), hash).unwrap());
        assert_eq!(r, format!("{roles_before}superuser:{}\n", c.username));
        assert_eq!(meta(&users), um);
        assert_eq!(meta(&roles), rm);
        assert!(!format!("{t:?}").contains(c.password.as_str()));

        t.remove().unwrap();
        assert_eq!(fs::read_to_string(&users).unwrap(), users_before);
        assert_eq!(fs::read_to_string(&roles).unwrap(), roles_before);
        assert_eq!(meta(&users), um);
        assert_eq!(meta(&roles), rm);
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn removal_keeps_lines_appended_after_us() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("users"), "a:x\n").unwrap();
        fs::write(dir.path().join("users_roles"), "").unwrap();
        let t = TempSuperuser::create(dir.path()).unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("users"))
            .unwrap();
        f.write_all(b"later:y\n").unwrap();
        t.remove().unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("users")).unwrap(),
            "a:x\nlater:y\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("users_roles")).unwrap(),
            ""
        );
    }

    #[test]
    fn missing_files_are_created_0660_and_deleted_again() {
        let dir = tempfile::tempdir().unwrap();
        let t = TempSuperuser::create(dir.path()).unwrap();
        let (_, gid, mode) = meta(&dir.path().join("users"));
        assert_eq!(mode, 0o660);
        assert_eq!(gid, fs::metadata(dir.path()).unwrap().gid());
        drop(t); // Drop removes too.
        assert!(!dir.path().join("users").exists());
        assert!(!dir.path().join("users_roles").exists());
    }

    #[test]
    fn with_temp_superuser_removes_on_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("users"), "").unwrap();
        fs::write(dir.path().join("users_roles"), "").unwrap();
        let r: anyhow::Result<()> = with_temp_superuser(dir.path(), |c| {
            let u = fs::read_to_string(dir.path().join("users")).unwrap();
            assert!(u.contains(&c.username));
            bail!("boom")
        });
        assert_eq!(r.unwrap_err().to_string(), "boom");
        assert_eq!(fs::read_to_string(dir.path().join("users")).unwrap(), "");
        assert_eq!(
            fs::read_to_string(dir.path().join("users_roles")).unwrap(),
            ""
        );
    }

    #[test]
    fn leftovers_are_found_and_removed_by_name_keeping_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        let roles = dir.path().join("users_roles");
        std::fs::write(&users, "alice:$2a$10$x\nes_secure_abc:$2a$10$y\n").unwrap();
        std::fs::write(
            &roles,
            "admin:alice\nsuperuser:alice,es_secure_abc\nsuperuser:es_secure_old\n",
        )
        .unwrap();
        assert_eq!(
            leftover_users(dir.path()).unwrap(),
            vec!["es_secure_abc".to_string(), "es_secure_old".to_string()]
        );
        let removed = remove_leftover_users(dir.path()).unwrap();
        assert_eq!(removed.len(), 2);
        assert_eq!(std::fs::read_to_string(&users).unwrap(), "alice:$2a$10$x\n");
        assert_eq!(
            std::fs::read_to_string(&roles).unwrap(),
            "admin:alice\nsuperuser:alice\n"
        );
        assert!(leftover_users(dir.path()).unwrap().is_empty());
        assert!(remove_leftover_users(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn missing_config_dir_is_an_error() {
        let e = TempSuperuser::create(Path::new("/nonexistent/es-secure-test")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
