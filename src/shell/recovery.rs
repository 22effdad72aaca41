//! Recovery first: every command that touches the install (apply, verify, rollback, the
//! wizard's apply) takes the state lock and undoes what an interrupted or killed run left —
//! an incomplete file transaction, then temporary `es_secure_*` superusers in the file realm
//! (also ones left by older versions) — before it detects or plans, and says what it did.
//! It holds the lock for the rest of the command and installs the interrupt handling.
//!
//! What it must not do: recover without the lock, remove any file-realm user that is not
//! ours (`es_secure_` prefix), or hide what it changed.

use std::path::Path;

use anyhow::anyhow;

use crate::shell::signals::{self, Interrupts};
use crate::shell::txn::{self, Lock, StateDir};

/// A command's hold on the state directory: the lock, and the shared interrupt request.
pub struct Session {
    pub state: StateDir,
    pub interrupts: Interrupts,
    _lock: Lock,
}

impl Session {
    /// Open the state directory, take the lock for `what`, install the interrupt handling and
    /// roll back any incomplete transaction. Returns what was recovered, in words. An error
    /// (state directory unusable, lock held, a restore that failed) means this command
    /// changed nothing.
    pub fn begin(state_dir: &Path, what: &str) -> anyhow::Result<(Self, Vec<String>)> {
        let state = StateDir::open(state_dir)?;
        let lock = state.lock(what).map_err(|e| anyhow!(e))?;
        let interrupts = signals::install()?;
        let mut said = Vec::new();
        for report in txn::recover_incomplete(&state)? {
            let restarted = report
                .items
                .iter()
                .any(|i| i.action == txn::RollbackAction::WasRestarted);
            said.push(format!(
                "an earlier run was interrupted; its changes were rolled back first: {report}\n{}",
                if restarted {
                    "Elasticsearch was restarted on the interrupted files: restart it now so it runs on the restored ones."
                } else {
                    "Elasticsearch had not been restarted by it: it still runs on the old (restored) files."
                }
            ));
        }
        Ok((
            Self {
                state,
                interrupts,
                _lock: lock,
            },
            said,
        ))
    }

    /// Remove temporary superusers an interrupted run left in the file realm under
    /// `es_config`. Returns what was removed, in words.
    pub fn remove_leftover_users(&self, es_config: &Path) -> anyhow::Result<Vec<String>> {
        let removed = crate::shell::file_realm::remove_leftover_users(es_config)?;
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![format!(
            "removed temporary superuser(s) an interrupted run left in {}/users and users_roles: {}",
            es_config.display(),
            removed.join(", ")
        )])
    }
}
