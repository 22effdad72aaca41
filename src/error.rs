//! Exit codes, and the few error kinds the app branches on to pick one. Everything else is an
//! `anyhow::Error` with context.

/// Process exit codes (documented in the README).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Exit {
    Ok = 0,
    /// Unexpected internal error.
    Internal = 1,
    /// Usage or configuration error (bad answers, malformed YAML, unreadable file). Nothing was
    /// changed.
    Config = 2,
    /// A precondition refused the apply (blocking finding, downgrade, lock held, missing
    /// secret, operator declined). Nothing was changed.
    Refused = 3,
    /// A step failed and every change was rolled back.
    RolledBack = 4,
    /// The configuration is committed but a later step (passwords, verification) failed;
    /// re-run the same apply.
    Partial = 5,
    /// `verify` found a failing check.
    VerifyFailed = 6,
    /// The files are written; restart Elasticsearch, then re-run the same apply.
    RestartPending = 7,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{error:#}")]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: error.into(),
        }
    }
}

/// Shorthand for `Err(Failure)` with a message.
pub fn fail<T>(exit: Exit, msg: impl std::fmt::Display) -> Result<T, Failure> {
    Err(Failure::new(exit, anyhow::anyhow!("{msg}")))
}
