//! es-secure's own record of what earlier applies did (`<state>/state.json`): which built-in
//! passwords it set (as `$2a$` bcrypt hashes, like a shadow file, so a re-run can tell whether
//! the answers still ask for the same password without storing it), and whether a restart is
//! still pending after a manual-restart apply. It must never store a password in clear.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Default state directory for a system install.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/es-secure";

#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct PasswordRecord {
    /// `generate`, `env:NAME` or `file:PATH`: the reference the password came from.
    pub source: String,
    /// bcrypt hash (`$2a$`) of the password set.
    pub hash: String,
    /// Unix seconds.
    pub set_at: i64,
}

#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct State {
    #[serde(default)]
    pub passwords: BTreeMap<String, PasswordRecord>,
    #[serde(default)]
    pub restart_pending: bool,
    /// The Elasticsearch config dir this state belongs to (guards against mixing installs).
    #[serde(default)]
    pub es_config_dir: Option<PathBuf>,
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl State {
    /// Read the state; a missing file is an empty state.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = state_file(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not valid es-secure state; move it away to start afresh",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Write the state atomically with mode 0600.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("serializing state")?;
        write_private(&state_file(dir), text.as_bytes())
    }

    /// Record that `user`'s password was set from `source`.
    pub fn record_password(
        &mut self,
        user: &str,
        source: &str,
        password: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let hash = bcrypt::hash_with_result(password, 10)
            .context("hashing password for the state file")?
            .format_for_version(bcrypt::Version::TwoA);
        self.passwords.insert(
            user.to_string(),
            PasswordRecord {
                source: source.to_string(),
                hash,
                set_at: now,
            },
        );
        Ok(())
    }
}

/// Write a file only root (or the running user) can read, atomically (temp + fsync + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
