//! STUB (replaced by the txn branch).
#![allow(dead_code, unused_variables)]
use std::path::{Path, PathBuf};
use std::sync::{Arc, atomic::AtomicBool};
#[derive(Clone, Debug, Default)]
pub struct Perms {
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}
pub struct StateDir {
    root: PathBuf,
}
pub struct Lock;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct LockError;
pub struct Txn;
pub struct RollbackReport;
impl std::fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stub")
    }
}
#[derive(Debug, PartialEq, Eq)]
pub enum TxnStatus {
    Committed,
    RolledBack,
    Incomplete,
}
pub struct TxnSummary {
    pub id: String,
    pub label: String,
    pub status: TxnStatus,
    pub paths: Vec<PathBuf>,
}
impl StateDir {
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
        })
    }
    pub fn lock(&self, what: &str) -> Result<Lock, LockError> {
        Ok(Lock)
    }
}
impl Txn {
    pub fn begin(state: &StateDir, label: &str) -> anyhow::Result<Self> {
        Ok(Self)
    }
    pub fn write_file(&mut self, path: &Path, contents: &[u8], perms: Perms) -> anyhow::Result<()> {
        anyhow::bail!("stub")
    }
    pub fn create_dir_all(&mut self, path: &Path, perms: Perms) -> anyhow::Result<()> {
        anyhow::bail!("stub")
    }
    pub fn mutation_checkpoint(&mut self, what: &Path) -> anyhow::Result<()> {
        Ok(())
    }
    pub fn commit(self) -> anyhow::Result<String> {
        Ok(String::new())
    }
    pub fn rollback(self) -> anyhow::Result<RollbackReport> {
        Ok(RollbackReport)
    }
}
pub fn list(state: &StateDir) -> anyhow::Result<Vec<TxnSummary>> {
    Ok(Vec::new())
}
pub fn rollback_committed(state: &StateDir, id: &str) -> anyhow::Result<RollbackReport> {
    Ok(RollbackReport)
}
pub fn recover_incomplete(state: &StateDir) -> anyhow::Result<Vec<RollbackReport>> {
    Ok(Vec::new())
}
pub fn install_interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    Ok(Arc::new(AtomicBool::new(false)))
}
