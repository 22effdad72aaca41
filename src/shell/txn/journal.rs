//! The on-disk journal of one transaction (`<state>/txn/<id>/journal.json`): its format
//! and its durable replacement.
//!
//! What it must not do: decide what to undo (that is the transaction's job) or ever leave a
//! half-written journal (it is replaced atomically and fsynced).

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{TxnStatus, TxnSummary};
use crate::shell::safe_fs::{remove_if_exists, sync_dir};

pub(super) const JOURNAL: &str = "journal.json";
pub(super) const JOURNAL_TMP: &str = "journal.json.tmp";
pub(super) const JOURNAL_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum JournalStatus {
    Incomplete,
    Committed,
    /// A committed transaction being rolled back: recovered like an incomplete one.
    RollingBack,
    RolledBack,
}

/// Content hash, mode and owner of a file at one moment.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub(super) struct Stamp {
    pub(super) sha256: String,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub(super) struct Original {
    /// File name of the copy under `backup/`.
    pub(super) backup: String,
    #[serde(flatten)]
    pub(super) stamp: Stamp,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(super) enum Entry {
    /// A file this transaction writes; `original: None` means it did not exist.
    File {
        path: PathBuf,
        original: Option<Original>,
        /// Recorded at commit, to detect later changes before a `rollback_committed`.
        #[serde(default)]
        after: Option<Stamp>,
    },
    /// A directory this transaction created.
    Dir { path: PathBuf },
}

impl Entry {
    pub(super) fn path(&self) -> &Path {
        match self {
            Entry::File { path, .. } | Entry::Dir { path } => path,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub(super) struct Journal {
    pub(super) version: u32,
    pub(super) id: String,
    pub(super) label: String,
    /// Unix time in nanoseconds; orders the transactions.
    pub(super) started_ns: u64,
    pub(super) pid: u32,
    pub(super) status: JournalStatus,
    #[serde(default)]
    pub(super) last_checkpoint: Option<String>,
    pub(super) entries: Vec<Entry>,
}

impl Journal {
    pub(super) fn has_file(&self, path: &Path) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::File { path: p, .. } if p == path))
    }

    pub(super) fn summary(&self) -> TxnSummary {
        TxnSummary {
            id: self.id.clone(),
            label: self.label.clone(),
            status: match self.status {
                JournalStatus::Committed => TxnStatus::Committed,
                JournalStatus::RolledBack => TxnStatus::RolledBack,
                JournalStatus::Incomplete | JournalStatus::RollingBack => TxnStatus::Incomplete,
            },
            paths: self
                .entries
                .iter()
                .map(|e| e.path().to_path_buf())
                .collect(),
        }
    }
}

pub(super) fn read_journal(dir: &Path) -> anyhow::Result<Journal> {
    let path = dir.join(JOURNAL);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let journal: Journal = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid es-secure journal; inspect it and the backups next to it by hand",
            path.display()
        )
    })?;
    if journal.version != JOURNAL_VERSION {
        bail!(
            "{} has journal version {}, this es-secure reads version {JOURNAL_VERSION}",
            path.display(),
            journal.version
        );
    }
    Ok(journal)
}

/// Atomically replace the journal and make the replacement durable.
pub(super) fn save_journal(dir: &Path, journal: &Journal) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(journal).context("serializing the journal")?;
    let tmp = dir.join(JOURNAL_TMP);
    remove_if_exists(&tmp)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    let path = dir.join(JOURNAL);
    fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)
}
