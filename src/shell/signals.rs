//! Interrupts are requests, not kills. SIGINT, SIGTERM and SIGHUP (a closed terminal or a
//! dropped SSH session) all set one shared request that `apply` checks at every step
//! boundary and every wait loop (health wait, authentication retries, the restart command,
//! `verify`) checks at least once a second. The first signal prints at once what will happen;
//! later ones print that the clean-up is under way.
//!
//! What it must not do: exit the process, or let a second signal skip a rollback or the
//! removal of the temporary superuser. Only SIGKILL can do that, and the journal makes the next
//! run recover. It changes nothing on disk and never prints a secret.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// What the process is doing when a signal arrives: decides what the first one announces.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Phase {
    /// Nothing changed yet (or only reading): stop.
    Idle = 0,
    /// Inside the file transaction (files, restart, health wait): roll back.
    Files = 1,
    /// After the commit (password changes, verification): stop at the next step boundary.
    Rest = 2,
    /// `es-secure verify`: stop the checks, remove the temporary superuser.
    Verify = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Phase::Files,
            2 => Phase::Rest,
            3 => Phase::Verify,
            _ => Phase::Idle,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Signals (or TUI abort requests) received since the last [`Interrupts::reset`].
    count: AtomicUsize,
    phase: AtomicU8,
    /// The full-screen wizard shows interrupts itself; printing would garble its screen.
    quiet: AtomicBool,
    /// Set inside the signal handler itself, so a signal is seen the moment it is delivered;
    /// `count` is raised by the signal thread, which may run later on a loaded machine (a key
    /// pressed right after the signal could otherwise be acted on first).
    raised: Arc<AtomicBool>,
}

/// The shared interrupt request. Cheap to clone; every clone sees the same request.
#[derive(Clone, Default)]
pub struct Interrupts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Interrupts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupts")
            .field("count", &self.inner.count.load(Ordering::SeqCst))
            .finish()
    }
}

static INSTALLED: OnceLock<Interrupts> = OnceLock::new();

/// Install the handlers for SIGINT, SIGTERM and SIGHUP (once per process; later calls return
/// the same request, cleared).
pub fn install() -> anyhow::Result<Interrupts> {
    if let Some(i) = INSTALLED.get() {
        i.reset();
        return Ok(i.clone());
    }
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handlers")?;
    let interrupts = INSTALLED.get_or_init(Interrupts::default).clone();
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&interrupts.inner.raised))
            .context("installing the signal handlers")?;
    }
    let seen = interrupts.clone();
    std::thread::Builder::new()
        .name("es-secure-signals".to_string())
        .spawn(move || {
            for sig in signals.forever() {
                let name = match sig {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                seen.received(name);
            }
        })
        .context("starting the signal thread")?;
    Ok(interrupts)
}

impl Interrupts {
    /// A request not connected to any signal (tests, and callers that only need the type).
    pub fn detached() -> Self {
        Self::default()
    }

    /// Whether an interrupt was requested.
    pub fn requested(&self) -> bool {
        self.inner.count.load(Ordering::SeqCst) > 0 || self.inner.raised.load(Ordering::SeqCst)
    }

    /// Start a new run with no request pending.
    pub fn reset(&self) {
        self.inner.count.store(0, Ordering::SeqCst);
        self.inner.raised.store(false, Ordering::SeqCst);
        self.set_phase(Phase::Idle);
    }

    pub fn set_phase(&self, phase: Phase) {
        self.inner.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }

    /// Do not print announcements (the full-screen wizard shows them itself).
    pub fn set_quiet(&self, quiet: bool) {
        self.inner.quiet.store(quiet, Ordering::SeqCst);
    }

    /// Ask for an interrupt without a signal: the wizard's "Abort (roll back)".
    pub fn request(&self) {
        self.received("abort");
    }

    fn received(&self, what: &str) {
        let n = self.inner.count.fetch_add(1, Ordering::SeqCst) + 1;
        if self.inner.quiet.load(Ordering::SeqCst) {
            return;
        }
        let text = announcement(n, what, self.phase());
        // A closed terminal (SIGHUP) makes writes fail; that must not stop the clean-up.
        let _ = writeln!(std::io::stderr(), "\n{text}");
    }

    /// Sleep up to `d`, waking at least every 100 ms to look at the request. Returns false when
    /// interrupted.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.requested() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// What the process says when the `n`-th interrupt arrives during `phase`.
pub fn announcement(n: usize, what: &str, phase: Phase) -> String {
    if n > 1 {
        return match phase {
            Phase::Files | Phase::Idle => {
                "es-secure: rolling back, please wait (the rollback is never skipped; stopping it now would leave the node half-configured)".to_string()
            }
            Phase::Rest | Phase::Verify => {
                "es-secure: stopping, please wait: removing the temporary superuser and writing the passwords file".to_string()
            }
        };
    }
    let plan = match phase {
        Phase::Idle => "stopping before anything is changed",
        Phase::Files => {
            "stopping now: every file will be rolled back, and Elasticsearch restarted on the old files if it was restarted (exit code 4)"
        }
        Phase::Rest => {
            "stopping after the current step: the configuration stays in place, the temporary superuser is removed, every password already set is kept in the passwords file (exit code 5)"
        }
        Phase::Verify => "stopping the checks and removing the temporary superuser",
    };
    format!("es-secure: {what} received: {plan}. Please wait.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_seen_by_every_clone_and_cleared_by_reset() {
        let a = Interrupts::detached();
        a.set_quiet(true);
        let b = a.clone();
        assert!(!b.requested());
        a.request();
        assert!(b.requested());
        assert!(!b.sleep(Duration::from_secs(5)), "sleep returns early");
        b.reset();
        assert!(!a.requested());
        assert!(a.sleep(Duration::from_millis(10)));
    }

    #[test]
    fn announcements_say_what_happens_per_phase() {
        assert!(announcement(1, "SIGINT", Phase::Files).contains("rolled back"));
        assert!(announcement(1, "SIGHUP", Phase::Rest).contains("exit code 5"));
        assert!(announcement(2, "SIGINT", Phase::Files).contains("rolling back, please wait"));
        assert!(!announcement(2, "SIGINT", Phase::Rest).contains("rolling back"));
    }
}
