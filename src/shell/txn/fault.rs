//! Fault injection for the transaction's crash tests: an injected error or a self-inflicted
//! SIGKILL at a chosen mutation. Compiled in only with the cargo feature `fault-injection`
//! (off by default); without it [`FaultPlan`] never fires and the variables are ignored.
//!
//! What it must not do: exist in a release build's behaviour, or run a test silently without
//! its fault (a malformed variable is an error).

/// Where in a mutation a kill happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Before,
    AfterBackup,
    AfterWrite,
}

#[cfg(feature = "fault-injection")]
pub(super) use enabled::FaultPlan;
#[cfg(feature = "fault-injection")]
pub use enabled::side_effect_point;

#[cfg(not(feature = "fault-injection"))]
pub(super) use disabled::FaultPlan;
#[cfg(not(feature = "fault-injection"))]
pub use disabled::side_effect_point;

#[cfg(not(feature = "fault-injection"))]
mod disabled {
    use super::Phase;

    /// Without the `fault-injection` feature no fault is ever injected.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(in crate::shell::txn) struct FaultPlan;

    impl FaultPlan {
        pub(in crate::shell::txn) fn from_env() -> anyhow::Result<Self> {
            Ok(Self)
        }

        pub(in crate::shell::txn) fn fails_at(self, _n: u32) -> bool {
            false
        }

        pub(in crate::shell::txn) fn kill_point(self, _n: u32, _phase: Phase) {}
    }

    /// Without the `fault-injection` feature a side-effect point does nothing.
    pub fn side_effect_point(_what: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "fault-injection")]
mod enabled {
    use anyhow::bail;

    use super::Phase;

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(in crate::shell::txn) struct FaultPlan {
        pub(super) fail_at: Option<u32>,
        pub(super) kill_at: Option<(u32, Phase)>,
    }

    impl FaultPlan {
        pub(in crate::shell::txn) fn from_env() -> anyhow::Result<Self> {
            let get = |name: &str| std::env::var(name).ok();
            Self::parse(
                get("ES_SECURE_FAULT_AT").as_deref(),
                get("ES_SECURE_FAULT_KILL_AT").as_deref(),
                get("ES_SECURE_FAULT_KILL_PHASE").as_deref(),
            )
        }

        /// A malformed value is an error, so a test never silently runs without its fault.
        pub(super) fn parse(
            fail: Option<&str>,
            kill: Option<&str>,
            phase: Option<&str>,
        ) -> anyhow::Result<Self> {
            let num = |name: &str, v: &str| -> anyhow::Result<u32> {
                match v.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(n),
                    _ => bail!("{name}={v:?}: expected a mutation number from 1"),
                }
            };
            let fail_at = fail.map(|v| num("ES_SECURE_FAULT_AT", v)).transpose()?;
            let phase = match phase.map(str::trim) {
                None | Some("before") => Phase::Before,
                Some("after-backup") => Phase::AfterBackup,
                Some("after-write") => Phase::AfterWrite,
                Some(other) => bail!(
                    "ES_SECURE_FAULT_KILL_PHASE={other:?}: expected before, after-backup or after-write"
                ),
            };
            let kill_at = kill
                .map(|v| num("ES_SECURE_FAULT_KILL_AT", v))
                .transpose()?
                .map(|n| (n, phase));
            Ok(Self { fail_at, kill_at })
        }

        /// True when the n-th mutation must fail before it changes anything.
        pub(in crate::shell::txn) fn fails_at(self, n: u32) -> bool {
            self.fail_at == Some(n)
        }

        /// Die here if this is the chosen kill point.
        pub(in crate::shell::txn) fn kill_point(self, n: u32, phase: Phase) {
            if self.kill_at == Some((n, phase)) {
                crash_now();
            }
        }
    }

    /// How many side-effect points this process has passed (they are not file mutations, so
    /// the transaction's counter does not see them).
    static POINTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    /// A boundary between side effects outside the file transaction (the temporary superuser
    /// in place, a password on disk before its REST call, a password the node accepted before
    /// it is marked done). `ES_SECURE_FAULT_REST_AT=<n>` picks the n-th point of the process;
    /// `ES_SECURE_FAULT_REST_MODE=error` (default) fails there, `kill` sends SIGKILL.
    pub fn side_effect_point(what: &str) -> anyhow::Result<()> {
        let n = POINTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let Ok(at) = std::env::var("ES_SECURE_FAULT_REST_AT") else {
            return Ok(());
        };
        let at: u32 = match at.trim().parse() {
            Ok(v) if v >= 1 => v,
            _ => bail!("ES_SECURE_FAULT_REST_AT={at:?}: expected a point number from 1"),
        };
        if at != n {
            return Ok(());
        }
        match std::env::var("ES_SECURE_FAULT_REST_MODE").as_deref() {
            Err(_) | Ok("error") => {
                bail!("injected fault (ES_SECURE_FAULT_REST_AT={n}) at side-effect point: {what}")
            }
            Ok("kill") => crash_now(),
            Ok(other) => bail!("ES_SECURE_FAULT_REST_MODE={other:?}: expected error or kill"),
        }
    }

    /// Die like a power cut would leave us: no destructors, no rollback.
    fn crash_now() -> ! {
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        std::process::abort()
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used, clippy::expect_used)]
        use super::*;

        #[test]
        fn fault_plan_parses_and_rejects_typos() {
            assert_eq!(
                FaultPlan::parse(None, None, None).unwrap(),
                FaultPlan::default()
            );
            let p = FaultPlan::parse(Some("3"), Some("2"), Some("after-write")).unwrap();
            assert_eq!(p.fail_at, Some(3));
            assert_eq!(p.kill_at, Some((2, Phase::AfterWrite)));
            assert_eq!(
                FaultPlan::parse(None, Some("1"), None).unwrap().kill_at,
                Some((1, Phase::Before))
            );
            assert!(FaultPlan::parse(Some("0"), None, None).is_err());
            assert!(FaultPlan::parse(Some("x"), None, None).is_err());
            assert!(FaultPlan::parse(None, Some("1"), Some("afterwrite")).is_err());
        }
    }
}
