//! es-secure's own record of what earlier applies did (`<state>/state.json`): which built-in
//! passwords it set (as `$2a$` bcrypt hashes, like a shadow file, so a re-run can tell whether
//! the answers still ask for the same password without storing it), and whether a restart is
//! still pending after a manual-restart apply, and how far a CA rotation (`rotate-ca`) got.
//! It must never store a password in clear.

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
    /// An apply set `cluster.routing.allocation.enable: primaries` before a full-cluster
    /// restart; the apply that finishes after the restart sets it back (`null`).
    #[serde(default)]
    pub allocation_disabled: bool,
    /// The Elasticsearch config dir this state belongs to (guards against mixing installs).
    #[serde(default)]
    pub es_config_dir: Option<PathBuf>,
    /// How far `rotate-ca` got on this node (the last phase completed and verified), so the
    /// next run continues with the phase after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_rotation: Option<crate::domain::rotation::CaRotation>,
}

/// `<state>/state.json`.
pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl State {
    /// Read the state; a missing file is an empty state.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = state_file(dir);
        let target = match crate::shell::safe_fs::resolve(&path) {
            Ok(t) => t,
            Err(e) if crate::shell::safe_fs::is_not_found(&e) => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        match target.read(crate::shell::safe_fs::SMALL_CAP)? {
            Some((bytes, _)) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not valid es-secure state; move it away to start afresh",
                    path.display()
                )
            }),
            None => Ok(Self::default()),
        }
    }

    /// Write the state atomically with mode 0600.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        write_private(&state_file(dir), &self.to_bytes()?)
    }

    /// The file's bytes (for a transaction that writes the state with its other files).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).context("serializing state")
    }

    /// Record that `user`'s password was set from `source`.
    pub fn record_password(
        &mut self,
        user: &str,
        source: &str,
        password: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let hash = password_hash(password)?;
        self.record_password_hash(user, source, hash, now);
        Ok(())
    }

    /// [`State::record_password`] with the hash already made by [`password_hash`] (which is
    /// slow on purpose, so callers setting several passwords hash them in parallel).
    pub fn record_password_hash(&mut self, user: &str, source: &str, hash: String, now: i64) {
        self.passwords.insert(
            user.to_string(),
            PasswordRecord {
                source: source.to_string(),
                hash,
                set_at: now,
            },
        );
    }
}

/// The bcrypt hash (cost 10) the state file keeps of a password, to tell later whether the
/// answers still name the password that is set.
pub fn password_hash(password: &str) -> anyhow::Result<String> {
    crate::shell::trace::timed("bcrypt hash of a password for the state file", || {
        Ok(bcrypt::hash_with_result(password, 10)
            .context("hashing password for the state file")?
            .format_for_version(bcrypt::Version::TwoA))
    })
}

/// Write a file only root (or the running user) can read, atomically, through the one
/// file-system layer: a random `O_EXCL` temp name (nothing planted next to it is followed or
/// reused), and a planted symlink at `path` is refused unless only root could have made it.
pub use crate::shell::safe_fs::write_private;
