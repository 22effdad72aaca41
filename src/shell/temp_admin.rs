//! A temporary file-realm superuser outside an apply's own transaction (for `verify`, and for
//! reading the license before an apply writes anything): journaled in a transaction of its
//! own before its first byte, so even a SIGKILL is undone by the next run's recovery, and
//! removed — then the transaction closed — when the caller is done.
//!
//! What it must not do: create the user without the state lock (`Txn::begin` requires it),
//! or leave the transaction open once the user is gone.

use std::path::Path;

use crate::shell::es_client::Credentials;
use crate::shell::file_realm::{self, TempSuperuser};
use crate::shell::txn::{StateDir, Txn};

/// The user and the transaction that records it.
pub struct TempAdmin {
    user: TempSuperuser,
    txn: Txn,
}

impl TempAdmin {
    /// Journal, then create, a temporary superuser in the file realm under `config_dir`.
    pub fn create(state: &StateDir, config_dir: &Path, label: &str) -> anyhow::Result<Self> {
        let mut txn = Txn::begin(state, label)?;
        let user = file_realm::create_journaled(config_dir, |name| {
            txn.record_temp_user(config_dir, name)
        })?;
        Ok(Self { user, txn })
    }

    pub fn credentials(&self) -> Credentials {
        self.user.credentials()
    }

    /// Remove the user, then close its transaction (nothing is left for it to undo).
    pub fn remove(self) -> anyhow::Result<()> {
        let removed = self.user.remove();
        self.txn.rollback()?;
        removed
    }
}
