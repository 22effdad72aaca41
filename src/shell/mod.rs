//! The imperative shell: every side effect of es-secure lives below this module.

pub mod access;
pub mod apply;
pub mod bundle;
pub mod bundle_format;
pub mod bundle_prune;
pub mod bundle_sig;
pub mod certgen;
pub mod certinfo;
pub mod child;
pub mod cores;
pub mod detect;
pub mod es_client;
pub mod file_realm;
pub mod inspect;
pub mod keystore;
pub mod license_view;
pub mod precheck;
pub mod recovery;
pub mod renew;
pub mod report;
pub mod rolling_restart;
pub mod rotate;
pub mod run_log;
pub mod safe_fs;
pub mod sandbox;
pub mod secrets;
pub mod service_token;
pub mod signals;
pub mod state;
pub mod temp_admin;
pub mod trace;
pub mod txn;
pub mod verify;

/// A path as a shell word: unchanged when it holds only safe characters, else single-quoted,
/// so a printed command can be pasted as it is.
pub fn quote(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
