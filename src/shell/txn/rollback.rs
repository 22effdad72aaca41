//! Rolling a transaction back: undoing a journal's entries newest first (files, directories,
//! the temporary superuser, shard allocation, Kibana's token), undoing a committed apply when
//! nothing changed its files since, recovering journals a crash left unfinished, and the
//! report the operator reads. It must not write a path the journal does not name.

use super::*;

/// What a rollback did to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackAction {
    /// The original content, mode and owner are back.
    Restored,
    /// The file did not exist before and was deleted.
    Removed,
    /// The file did not exist before and had not been created yet.
    NotCreated,
    /// A directory this transaction created was removed.
    RemovedDir,
    /// A directory this transaction created was kept because something else is in it.
    KeptDirNotEmpty,
    /// A directory replaced as a unit had not been swapped yet: it was left as it was and
    /// the new files were discarded.
    NotReplaced,
    /// The temporary file-realm superuser was still there and was removed.
    RemovedTempUser,
    /// The temporary file-realm superuser had already been removed.
    TempUserGone,
    /// Elasticsearch had been restarted on the files now restored: it must be restarted
    /// again to run on them.
    WasRestarted,
    /// Shard allocation, limited to primaries for a full-cluster restart, is enabled again.
    AllocationEnabled,
    /// Shard allocation could not be enabled again (the cluster did not answer): the operator
    /// must do it. Not an error: a cluster that is down must not block every later run.
    AllocationLeftDisabled,
    /// The service account token this transaction created for Kibana was deleted.
    TokenDeleted,
    /// The service account token had not been created (or was already gone).
    TokenNotCreated,
    /// The service account token may exist and could not be deleted here (no credentials in
    /// a recovery, or no answer): the next apply deletes it by name. Not an error, for the
    /// same reason as [`RollbackAction::AllocationLeftDisabled`].
    TokenLeft,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackItem {
    pub path: PathBuf,
    pub action: RollbackAction,
}

/// What a rollback restored, for the operator.
#[derive(Clone, Debug)]
pub struct RollbackReport {
    pub id: String,
    pub label: String,
    /// True when this undid a transaction a crash left incomplete.
    pub recovered: bool,
    /// The last checkpoint the transaction passed (e.g. `step 4`), when one was recorded.
    pub last_checkpoint: Option<String>,
    pub items: Vec<RollbackItem>,
}

impl std::fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "transaction {} ({})", self.id, self.label)?;
        if let Some(cp) = &self.last_checkpoint {
            write!(f, ", stopped at {cp}")?;
        }
        if self.items.is_empty() {
            return write!(f, ": nothing had been changed");
        }
        write!(f, ":")?;
        for item in &self.items {
            let what = match item.action {
                RollbackAction::Restored => "restored",
                RollbackAction::Removed => "removed (did not exist before)",
                RollbackAction::NotCreated => "not created (did not exist before)",
                RollbackAction::RemovedDir => "removed directory",
                RollbackAction::KeptDirNotEmpty => "kept directory (not empty)",
                RollbackAction::NotReplaced => {
                    "left as it was (the new files were never put in place)"
                }
                RollbackAction::RemovedTempUser => {
                    "removed the temporary superuser from users and users_roles in"
                }
                RollbackAction::TempUserGone => {
                    "temporary superuser already removed from users and users_roles in"
                }
                RollbackAction::WasRestarted => {
                    "Elasticsearch had been restarted on the new files (restart it again to run on the restored ones):"
                }
                RollbackAction::AllocationEnabled => {
                    "shard allocation enabled again (cluster.routing.allocation.enable: null) for the cluster of"
                }
                RollbackAction::AllocationLeftDisabled => {
                    "COULD NOT enable shard allocation again; once the cluster answers, run `PUT _cluster/settings {\"persistent\":{\"cluster.routing.allocation.enable\":null}}` for the cluster of"
                }
                RollbackAction::TokenDeleted => {
                    "deleted the service account token (elastic/kibana) created for the keystore"
                }
                RollbackAction::TokenNotCreated => {
                    "no service account token had been created for the keystore"
                }
                RollbackAction::TokenLeft => {
                    "a service account token es-secure-<host> of elastic/kibana may be left in Elasticsearch (`GET /_security/service/elastic/kibana/credential` lists it): the next apply with `kibana.es_auth: service-token` deletes it, or `DELETE /_security/service/elastic/kibana/credential/token/<name>`; it was made for the keystore"
                }
            };
            write!(f, "\n  {what}: {}", item.path.display())?;
        }
        Ok(())
    }
}

/// Undo one journal's entries, newest first. Idempotent, so a crash during a rollback is
/// recovered by running it again. The journal is marked rolled back only if every entry was
/// undone.
pub(super) fn roll_back(
    dir: &Path,
    journal: &mut Journal,
    recovered: bool,
    rest: Option<&EsClient>,
) -> anyhow::Result<RollbackReport> {
    let mut items = Vec::new();
    let mut failures = Vec::new();
    for entry in journal.entries.iter().rev() {
        match undo(dir, entry, rest) {
            Ok(action) => items.push(RollbackItem {
                path: entry.path().to_path_buf(),
                action,
            }),
            Err(e) => failures.push(format!("  {}: {e:#}", entry.path().display())),
        }
    }
    let report = RollbackReport {
        id: journal.id.clone(),
        label: journal.label.clone(),
        recovered,
        last_checkpoint: journal.last_checkpoint.clone(),
        items,
    };
    if !failures.is_empty() {
        bail!(
            "could not undo everything of {report}\nthese paths failed:\n{}\nhelp: fix the cause and run es-secure again; the journal and backups in {} are kept",
            failures.join("\n"),
            dir.display()
        );
    }
    journal.status = JournalStatus::RolledBack;
    save_journal(dir, journal).context("marking the transaction rolled back")?;
    Ok(report)
}

pub(super) fn undo(
    dir: &Path,
    entry: &Entry,
    rest: Option<&EsClient>,
) -> anyhow::Result<RollbackAction> {
    match entry {
        Entry::File { path, original, .. } => {
            let target = match safe_fs::resolve(path) {
                Ok(t) => t,
                // Its directory is gone (a directory this transaction created, or removed
                // since): there is nothing to delete, and a file to restore is an error.
                Err(e) if original.is_none() && safe_fs::is_not_found(&e) => {
                    return Ok(RollbackAction::NotCreated);
                }
                Err(e) => return Err(e),
            };
            // A crash mid-write can leave the temp file.
            target.remove_temp_leftovers()?;
            match original {
                Some(o) => {
                    let backup = dir.join(BACKUP_DIR).join(&o.backup);
                    let (bytes, _) = safe_fs::resolve(&backup)?
                        .read(safe_fs::CONFIG_CAP)?
                        .with_context(|| format!("the backup {} is missing", backup.display()))?;
                    if sha256_hex(&bytes) != o.stamp.sha256 {
                        bail!(
                            "the backup {} does not match its recorded hash; not restoring from it",
                            backup.display()
                        );
                    }
                    target.write(&bytes, o.stamp.mode, Some((o.stamp.uid, o.stamp.gid)))?;
                    Ok(RollbackAction::Restored)
                }
                None => Ok(if target.remove()? {
                    RollbackAction::Removed
                } else {
                    RollbackAction::NotCreated
                }),
            }
        }
        Entry::Dir { path } => {
            let entry = match safe_fs::entry(path) {
                Ok(e) => e,
                Err(e) if safe_fs::is_not_found(&e) => return Ok(RollbackAction::NotCreated),
                Err(e) => return Err(e),
            };
            Ok(match entry.remove_dir()? {
                RemovedDir::Removed => RollbackAction::RemovedDir,
                RemovedDir::Missing => RollbackAction::NotCreated,
                RemovedDir::NotEmpty => RollbackAction::KeptDirNotEmpty,
            })
        }
        Entry::DirUnit {
            path,
            staging,
            original,
            ..
        } => unit::undo_unit(dir, path, staging, *original),
        Entry::Restart { .. } => Ok(RollbackAction::WasRestarted),
        Entry::Allocation { url, .. } => Ok(enable_allocation(rest, url)),
        Entry::ServiceToken { name, .. } => Ok(delete_service_token(rest, name)),
        Entry::TempUser {
            path,
            username,
            users_existed,
            roles_existed,
        } => {
            let removed = crate::shell::file_realm::remove_user_by_name(
                path,
                username,
                *users_existed,
                *roles_existed,
            )?;
            Ok(if removed {
                RollbackAction::RemovedTempUser
            } else {
                RollbackAction::TempUserGone
            })
        }
    }
}

/// Set `cluster.routing.allocation.enable` back to its default on the cluster at `url`: with
/// `rest` when it is a client for that same URL (a secured cluster: `rolling-restart before`
/// rolls back with its own authenticated client), else credential-less over plain HTTP (the
/// open cluster a full-cluster restart prepares; a recovery has no credentials). Best effort,
/// bounded by the client's timeouts: see [`RollbackAction::AllocationLeftDisabled`].
pub(super) fn enable_allocation(rest: Option<&EsClient>, url: &str) -> RollbackAction {
    use crate::shell::es_client::Trust;
    let same = |c: &&EsClient| c.base_url().trim_end_matches('/') == url.trim_end_matches('/');
    let enabled = match rest.filter(same) {
        Some(client) => client.set_allocation(None).is_ok(),
        None => EsClient::new(url, Trust::PlainHttp)
            .ok()
            .is_some_and(|c| c.set_allocation(None).is_ok()),
    };
    if enabled {
        RollbackAction::AllocationEnabled
    } else {
        RollbackAction::AllocationLeftDisabled
    }
}

/// Delete the service account token `name` of `elastic/kibana` with the apply's client.
/// Best effort: see [`RollbackAction::TokenLeft`].
pub(super) fn delete_service_token(rest: Option<&EsClient>, name: &str) -> RollbackAction {
    use crate::shell::service_token::{NAMESPACE, SERVICE};
    match rest.map(|c| c.delete_service_token(NAMESPACE, SERVICE, name)) {
        Some(Ok(true)) => RollbackAction::TokenDeleted,
        Some(Ok(false)) => RollbackAction::TokenNotCreated,
        Some(Err(_)) | None => RollbackAction::TokenLeft,
    }
}

/// Restore what a committed apply changed. Refuses, naming the files, if any file it wrote
/// changed since (the hash recorded at commit differs), so later edits are never lost.
pub fn rollback_committed(state: &StateDir, id: &str) -> anyhow::Result<RollbackReport> {
    state.require_lock("rolling back")?;
    if !valid_id(id) {
        bail!("`{id}` is not a transaction id (see `es-secure rollback --list`)");
    }
    let all = state.journals()?;
    if let Some(j) = all.iter().filter_map(|(_, j)| j.as_ref()).find(|j| {
        matches!(
            j.status,
            JournalStatus::Incomplete | JournalStatus::RollingBack
        ) && j.id != id
    }) {
        bail!(
            "an interrupted apply ({}) must be rolled back first\nhelp: run `es-secure apply` again: it rolls the interrupted apply back first",
            j.id
        );
    }
    let dir = state.txn_root().join(id);
    if !dir.join(JOURNAL).exists() {
        bail!(
            "no apply with id {id} in {}\nhelp: `es-secure rollback --list` shows the recorded applies",
            state.path().display()
        );
    }
    let mut journal = read_journal(&dir)?;
    match journal.status {
        JournalStatus::Committed => {}
        // A crash during an earlier `rollback_committed`: the checks were done then.
        JournalStatus::RollingBack => return roll_back(&dir, &mut journal, true, None),
        JournalStatus::RolledBack => bail!("apply {id} was already rolled back"),
        JournalStatus::Incomplete => bail!(
            "apply {id} did not finish\nhelp: run `es-secure apply` again: it rolls the interrupted apply back first"
        ),
    }
    let mut changed = Vec::new();
    for entry in &journal.entries {
        if let Entry::File {
            path,
            removed: true,
            ..
        } = entry
            && std::fs::symlink_metadata(path).is_ok()
        {
            changed.push(format!("  {} (created again)", path.display()));
        }
        if let Entry::File {
            path,
            after: Some(after),
            ..
        } = entry
        {
            match stamp_at(path) {
                Ok(Some((now, _))) if now.sha256 == after.sha256 => {}
                Ok(Some(_)) => changed.push(format!("  {} (content changed)", path.display())),
                Ok(None) => changed.push(format!("  {} (deleted)", path.display())),
                Err(e) => changed.push(format!("  {} ({e:#})", path.display())),
            }
        }
        if let Entry::DirUnit {
            path,
            after: Some(after),
            ..
        } = entry
        {
            match unit::unit_digest(path) {
                Ok(Some(now)) if now == *after => {}
                Ok(Some(_)) => changed.push(format!(
                    "  {} (files changed, added or deleted)",
                    path.display()
                )),
                Ok(None) => changed.push(format!("  {} (deleted)", path.display())),
                Err(e) => changed.push(format!("  {} ({e:#})", path.display())),
            }
        }
    }
    if !changed.is_empty() {
        bail!(
            "refusing to roll back apply {id}: these files changed after it, and rolling back would lose those changes:\n{}\nhelp: roll back the later applies first, or undo those edits by hand",
            changed.join("\n")
        );
    }
    journal.status = JournalStatus::RollingBack;
    save_journal(&dir, &journal)?;
    roll_back(&dir, &mut journal, false, None)
}

/// Roll back every transaction a crash left incomplete (newest first). Needs the lock.
pub fn recover_incomplete(state: &StateDir) -> anyhow::Result<Vec<RollbackReport>> {
    state.require_lock("recovering interrupted applies")?;
    let mut reports = Vec::new();
    for (dir, journal) in state.journals()? {
        match journal {
            // A crash inside `begin` before the journal existed: nothing was changed.
            None => {
                safe_fs::entry(&dir.join(JOURNAL_TMP))?.remove()?;
                safe_fs::entry(&dir.join(JOURNAL))?.remove_temp_leftovers()?;
                safe_fs::entry(&dir.join(BACKUP_DIR))?.remove_dir()?;
                if safe_fs::entry(&dir)?.remove_dir()? == RemovedDir::NotEmpty {
                    bail!(
                        "{} holds no journal but is not empty; inspect it and remove it by hand",
                        dir.display()
                    );
                }
            }
            Some(mut j)
                if matches!(
                    j.status,
                    JournalStatus::Incomplete | JournalStatus::RollingBack
                ) =>
            {
                reports.push(roll_back(&dir, &mut j, true, None)?);
            }
            Some(_) => {}
        }
    }
    Ok(reports)
}
