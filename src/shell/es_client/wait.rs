//! Waiting for the node: health polled until yellow or green, credentials retried until the
//! file realm has loaded them, pauses that an interrupt request ends early. It must not
//! retry what waiting cannot fix (TLS problems, 403, garbage answers).

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use super::error::{UNREACHABLE_HINT, decode};
use super::{AuthInfo, EsClient, EsError, Health};

/// How long one `wait_for_status` health request may wait inside Elasticsearch.
const HEALTH_WAIT: Duration = Duration::from_secs(5);
/// Pause between attempts that failed fast (refused connection, 401, 503).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// With an interrupt request attached, a health request waits at most this long inside
/// Elasticsearch, so an interrupt is seen within about a second.
const INTERRUPTIBLE_HEALTH_WAIT: Duration = Duration::from_secs(1);

/// Progress of [`EsClient::wait_healthy`].
#[derive(Clone, Debug)]
pub struct WaitStatus {
    pub elapsed: Duration,
    pub attempt: u32,
    /// Short description of the last outcome ("unreachable (connection refused)", "red").
    pub last: String,
}

impl fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} after {} s: {}",
            self.attempt,
            self.elapsed.as_secs(),
            self.last
        )
    }
}

impl EsClient {
    fn interrupted(&self, what: &str) -> Result<(), EsError> {
        match &self.interrupts {
            Some(i) if i.requested() => Err(EsError::Interrupted {
                what: what.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Sleep between attempts; an interrupt request ends the pause (and the wait) early.
    fn pause(&self, d: Duration, what: &str) -> Result<(), EsError> {
        match &self.interrupts {
            Some(i) => {
                i.sleep(d);
                self.interrupted(what)
            }
            None => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }

    /// [`authenticate`](Self::authenticate), retrying 401 answers and refused connections
    /// for up to `timeout`. A user just written to the file realm is unknown until
    /// Elasticsearch's resource watcher reloads the file (every 5 s by default).
    pub fn authenticate_retrying(&self, timeout: Duration) -> Result<AuthInfo, EsError> {
        let started = Instant::now();
        let what = "waiting for Elasticsearch to accept the credentials";
        loop {
            self.interrupted(what)?;
            match self.authenticate() {
                Ok(info) => return Ok(info),
                Err(e @ (EsError::Unauthorized { .. } | EsError::Unreachable { .. }))
                    if started.elapsed() + RETRY_PAUSE < timeout =>
                {
                    drop(e);
                    self.pause(RETRY_PAUSE, what)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Poll cluster health until it is yellow or green, or `timeout` passes. Refused
    /// connections, 401 (a file-realm user not loaded yet), 5xx and red are retried; TLS
    /// problems, 403 and garbage answers end the wait at once because waiting cannot fix them.
    pub fn wait_healthy(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&WaitStatus),
    ) -> Result<Health, EsError> {
        self.wait_cluster(timeout, 0, progress)
    }

    /// [`wait_healthy`](Self::wait_healthy) for the whole cluster: yellow or green *and* at
    /// least `nodes` nodes (after a full-cluster restart, not only the local node is back).
    pub fn wait_cluster(
        &self,
        timeout: Duration,
        nodes: usize,
        progress: &mut dyn FnMut(&WaitStatus),
    ) -> Result<Health, EsError> {
        let what = "cluster health (GET /_cluster/health?wait_for_status=yellow)";
        let wait_nodes = format!(">={nodes}");
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let longest = if self.interrupts.is_some() {
            INTERRUPTIBLE_HEALTH_WAIT
        } else {
            HEALTH_WAIT
        };
        loop {
            self.interrupted("waiting for Elasticsearch to become healthy")?;
            attempt += 1;
            let attempt_started = Instant::now();
            let remaining = timeout.saturating_sub(started.elapsed());
            let wait = longest.min(remaining).max(Duration::from_secs(1));
            let wait_param = format!("{}s", wait.as_secs());
            let mut query = vec![
                ("wait_for_status", "yellow"),
                ("timeout", wait_param.as_str()),
            ];
            if nodes > 0 {
                query.push(("wait_for_nodes", wait_nodes.as_str()));
            }
            let outcome = self
                .call_with_status(
                    what,
                    Method::GET,
                    &["_cluster", "health"],
                    &query,
                    None,
                    true,
                    // 408 means "not yellow within the wait"; its body is still a health.
                    &[StatusCode::REQUEST_TIMEOUT],
                )
                .and_then(|body| decode::<Health>(what, &body));
            let (last, err) = match outcome {
                Ok(h)
                    if (h.status == "green" || h.status == "yellow")
                        && usize::try_from(h.number_of_nodes).is_ok_and(|n| n >= nodes) =>
                {
                    return Ok(h);
                }
                Ok(h) => (format!("{} ({} nodes)", h.status, h.number_of_nodes), None),
                Err(e) => (e.short(), Some(e)),
            };
            let elapsed = started.elapsed();
            progress(&WaitStatus {
                elapsed,
                attempt,
                last: last.clone(),
            });
            match err {
                // TLS problems, 403, garbage: waiting cannot fix them, and the error says why.
                Some(e) if !e.is_transient() => return Err(e),
                err if elapsed + RETRY_PAUSE >= timeout => {
                    return Err(self.not_healthy(elapsed, attempt, err.as_ref(), last, nodes));
                }
                _ => {}
            }
            // Fast failures (refused, 401) would spin; a 5 s server-side wait needs no pause.
            self.pause(
                RETRY_PAUSE.saturating_sub(attempt_started.elapsed()),
                "waiting for Elasticsearch to become healthy",
            )?;
        }
    }

    fn not_healthy(
        &self,
        elapsed: Duration,
        attempts: u32,
        err: Option<&EsError>,
        last: String,
        nodes: usize,
    ) -> EsError {
        let hint = match err {
            None if nodes > 0 && !last.starts_with("red") => format!(
                "fewer than the {nodes} expected nodes have joined the cluster. Check that every \
                 node was started with its new files, and each node's log for transport TLS \
                 errors (a certificate from another CA, a missing IP in its SANs)"
            ),
            None => "the cluster is red: some primary shards are not assigned. Check \
                     `GET _cluster/allocation/explain` and the Elasticsearch log (disk full, \
                     missing nodes, corrupted shards)"
                .to_string(),
            Some(EsError::Unreachable { .. }) => UNREACHABLE_HINT.to_string(),
            Some(e @ EsError::Unauthorized { .. }) => format!(
                "{e}. If es-secure just created a temporary file-realm user, check that the \
                 file realm is enabled and that Elasticsearch can read config/users and \
                 config/users_roles"
            ),
            Some(e) => format!(
                "{e}. Elasticsearch may still be starting (master not elected, security index \
                 not recovered); see its log"
            ),
        };
        EsError::NotHealthy {
            url: self.base.to_string(),
            waited_secs: elapsed.as_secs(),
            attempts,
            last,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::shell::es_client::Trust;

    #[test]
    fn wait_healthy_times_out_with_hint() {
        let c = EsClient::new("http://127.0.0.1:9", Trust::PlainHttp).unwrap();
        let mut seen = Vec::new();
        let e = c
            .wait_healthy(Duration::from_secs(2), &mut |s| seen.push(s.to_string()))
            .unwrap_err();
        assert!(matches!(e, EsError::NotHealthy { .. }), "{e:?}");
        assert!(e.to_string().contains("is Elasticsearch running"), "{e}");
        assert!(!seen.is_empty());
        assert!(seen[0].starts_with("attempt 1"), "{seen:?}");
    }
}
