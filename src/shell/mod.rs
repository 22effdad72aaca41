//! The imperative shell: every side effect of es-secure lives below this module.

pub mod apply;
pub mod certgen;
pub mod certinfo;
pub mod detect;
pub mod es_client;
pub mod file_realm;
pub mod keystore;
pub mod secrets;
pub mod txn;
