//! The imperative shell: every side effect of es-secure lives below this module.

pub mod access;
pub mod apply;
pub mod bundle;
pub mod bundle_prune;
pub mod bundle_sig;
pub mod certgen;
pub mod certinfo;
pub mod child;
pub mod detect;
pub mod es_client;
pub mod file_realm;
pub mod inspect;
pub mod keystore;
pub mod recovery;
pub mod report;
pub mod run_log;
pub mod safe_fs;
pub mod sandbox;
pub mod secrets;
pub mod signals;
pub mod state;
pub mod txn;
pub mod verify;
