//! The on-disk journal of one transaction (`<state>/txn/<id>/journal.json`): its format
//! and its durable replacement.
//!
//! What it must not do: decide what to undo (that is the transaction's job) or ever leave a
//! half-written journal (it is replaced atomically and fsynced).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{TxnStatus, TxnSummary};
use crate::shell::safe_fs;

pub(super) const JOURNAL: &str = "journal.json";
/// The fixed temp name older versions wrote the journal through; recovery still removes one.
pub(super) const JOURNAL_TMP: &str = "journal.json.tmp";
/// The newest journal format this es-secure reads and writes. Version 2 added the
/// [`Entry::DirUnit`] and [`Entry::ServiceToken`] kinds; a journal is written as version 1
/// when it holds neither, so an es-secure from before version 2 can still recover it, and as
/// version 2 otherwise, so one that reads only version 1 refuses it rather than recovering
/// half of it.
pub(super) const JOURNAL_VERSION: u32 = 2;

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

/// Device and inode of the directory a [`Entry::DirUnit`] replaced.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub(super) struct DirOriginal {
    pub(super) dev: u64,
    pub(super) ino: u64,
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
        /// The transaction deleted the file (see `Txn::remove_file`): it has no `after`, and
        /// a rollback restores the original.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        removed: bool,
    },
    /// A directory this transaction created.
    Dir { path: PathBuf },
    /// A temporary file-realm superuser, recorded (and fsynced) before the first byte of it
    /// is written to `users_roles`/`users` under `path` (the Elasticsearch config directory).
    /// Undone by removing exactly that user's lines by name; a file that did not exist before
    /// is removed again when nothing else is in it.
    TempUser {
        path: PathBuf,
        username: String,
        users_existed: bool,
        roles_existed: bool,
    },
    /// A directory whose files were replaced as one unit (`Txn::write_files_as_unit`): the
    /// new directory is built in `backup/<staging>` and then swapped with `path`, so after the
    /// swap `backup/<staging>` holds the original directory. Which side is which is told by
    /// the original's identity, so a crash at any point is undone.
    DirUnit {
        path: PathBuf,
        /// Name of the staging directory under `backup/`.
        staging: String,
        /// The directory at `path` before (`None`: there was none).
        original: Option<DirOriginal>,
        /// A hash of every file in the new directory (names, contents, modes, owners), to
        /// detect later changes before a `rollback_committed`: made from the written bytes
        /// once the swap is done, saved with the commit, read only in committed journals.
        #[serde(default)]
        after: Option<String>,
    },
    /// Elasticsearch (config directory `path`) was about to be restarted on the new files:
    /// recorded before the restart command runs, so a recovery knows the node may run on
    /// the files it restores and says so. Nothing to undo on disk.
    Restart { path: PathBuf },
    /// Shard allocation of the cluster at `url` was about to be limited to primaries (recorded
    /// before the request is sent): before a full-cluster restart of an open cluster (tier
    /// none; undone credential-less over the same URL), or by `rolling-restart before` on a
    /// secured one (undone with that command's authenticated client; a recovery without it
    /// reports the allocation left limited). Undone by setting it back to the default
    /// (`null`). `path` is the Elasticsearch config directory.
    Allocation { path: PathBuf, url: String },
    /// A token `name` of the service account `elastic/kibana` on the cluster at `url` was
    /// about to be created for the Kibana whose keystore is `path` (recorded, fsynced, before
    /// the request; never the value). Undone by deleting the token by name, which needs the
    /// apply's credentials: a recovery without them reports it, and the next apply deletes a
    /// leftover of that name before creating its own.
    ServiceToken {
        path: PathBuf,
        url: String,
        name: String,
    },
}

impl Entry {
    pub(super) fn path(&self) -> &Path {
        match self {
            Entry::File { path, .. }
            | Entry::Dir { path }
            | Entry::DirUnit { path, .. }
            | Entry::TempUser { path, .. }
            | Entry::Restart { path }
            | Entry::Allocation { path, .. }
            | Entry::ServiceToken { path, .. } => path,
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

    /// Whether a file or unit this journal records lies under `dir` (or is `dir`).
    pub(super) fn has_under(&self, dir: &Path) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::File { path, .. } | Entry::DirUnit { path, .. } => path.starts_with(dir),
            _ => false,
        })
    }

    /// The oldest format that can hold this journal's entries (see [`JOURNAL_VERSION`]).
    pub(super) fn format_version(&self) -> u32 {
        if self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::DirUnit { .. } | Entry::ServiceToken { .. }))
        {
            2
        } else {
            1
        }
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
    let (bytes, _) = safe_fs::resolve(&path)?
        .read(safe_fs::CONFIG_CAP)?
        .with_context(|| format!("{} does not exist", path.display()))?;
    // The version before anything else: a newer es-secure may record kinds of change this
    // one does not know, and "written by a newer es-secure" is the useful message then, not
    // a parse error about an unknown entry.
    #[derive(Deserialize)]
    struct Header {
        version: u32,
    }
    let not_valid = || {
        format!(
            "{} is not a valid es-secure journal; inspect it and the backups next to it by hand",
            path.display()
        )
    };
    let header: Header = serde_json::from_slice(&bytes).with_context(not_valid)?;
    if header.version == 0 || header.version > JOURNAL_VERSION {
        bail!(
            "{} has journal version {}, which this es-secure cannot read (it reads versions 1 to {JOURNAL_VERSION}): it was written by a newer es-secure\nhelp: recover or roll it back with the es-secure that wrote it (run it again, or `es-secure rollback`); this one changes nothing while that journal is there",
            path.display(),
            header.version
        );
    }
    let journal: Journal = serde_json::from_slice(&bytes).with_context(not_valid)?;
    Ok(journal)
}

/// Atomically replace the journal and make the replacement durable. Written with the oldest
/// version that holds its entries ([`Journal::format_version`]).
pub(super) fn save_journal(dir: &Path, journal: &Journal) -> anyhow::Result<()> {
    let version = journal.format_version();
    let text = if journal.version == version {
        serde_json::to_vec_pretty(journal)
    } else {
        serde_json::to_vec_pretty(&Journal {
            version,
            ..journal.clone()
        })
    }
    .context("serializing the journal")?;
    safe_fs::resolve(&dir.join(JOURNAL))?.write(&text, 0o600, None)
}
