//! Exit codes, and the error type that carries one from where an error is made to `main`.
//!
//! A [`Failure`] may travel inside an `anyhow::Error` through layers that do not know about
//! exit codes; [`Failure::from_error`] finds it again. The code is never derived from an
//! error's wording. This module must not print: `main` prints [`Failure::report`].

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
    /// `status --check-expiry DAYS`: a certificate or the CA expires within DAYS (or has
    /// expired). Nothing is wrong with the run itself; a monitor alerts on it.
    ExpiresSoon = 8,
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

impl Failure {
    /// The [`Failure`] inside `error` (with its exit code), or `fallback` when the error was
    /// made without one.
    pub fn from_error(error: anyhow::Error, fallback: Exit) -> Self {
        match error.downcast::<Failure>() {
            Ok(f) => f,
            Err(e) => Self::new(fallback, e),
        }
    }

    /// The message as `main` prints it, cargo-style: the outermost error on the first line,
    /// then each cause on its own indented line under "Caused by:".
    pub fn report(&self) -> String {
        let mut chain = self.error.chain();
        let mut out = chain.next().map(ToString::to_string).unwrap_or_default();
        let causes: Vec<String> = chain.map(ToString::to_string).collect();
        if !causes.is_empty() {
            out.push_str("\n\nCaused by:");
            for cause in causes {
                for (i, line) in cause.lines().enumerate() {
                    out.push_str(if i == 0 { "\n  " } else { "\n    " });
                    out.push_str(line);
                }
            }
        }
        out
    }
}

/// Shorthand for `Err(Failure)` with a message.
pub fn fail<T>(exit: Exit, msg: impl std::fmt::Display) -> Result<T, Failure> {
    Err(Failure::new(exit, anyhow::anyhow!("{msg}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_failure_keeps_its_exit_code_through_anyhow() {
        let inner: anyhow::Error = Failure::new(Exit::Refused, anyhow::anyhow!("lock held")).into();
        assert_eq!(
            Failure::from_error(inner, Exit::Internal).exit,
            Exit::Refused
        );
        let plain = anyhow::anyhow!("something else");
        assert_eq!(
            Failure::from_error(plain, Exit::Internal).exit,
            Exit::Internal
        );
    }

    #[test]
    fn the_report_lists_causes_cargo_style() {
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("No such file"));
        let e = e.context("cannot read answers file a.yml").unwrap_err();
        let f = Failure::new(Exit::Config, e);
        assert_eq!(
            f.report(),
            "cannot read answers file a.yml\n\nCaused by:\n  No such file"
        );
        assert_eq!(
            Failure::new(Exit::Config, anyhow::anyhow!("one\nhelp: two")).report(),
            "one\nhelp: two"
        );
    }
}
