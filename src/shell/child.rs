//! Running an external command es-secure depends on (the restart command, `systemctl`): with
//! an explicit environment (an allow-list, never a variable that held a secret), in its own
//! process group (a Ctrl-C on the terminal reaches es-secure, which decides, not the child),
//! with a wall-clock timeout and an interrupt check at least every 100 ms, and with its output
//! captured by detached readers: a command that leaves a background process holding its
//! stdout (a node started with `&`) does not make es-secure wait until that pipe closes.
//!
//! What it must not do: pass the caller's whole environment on, print or log the output
//! (callers quote the tail in an error), or wait on a pipe instead of the process.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::shell::signals::Interrupts;

/// Environment variables a restart command or `systemctl` may see, when the caller has them
/// (PATH gets a safe default when unset). Everything else is dropped.
pub const ENV_ALLOW_LIST: &[&str] = &[
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "HOME",
    "USER",
    "LOGNAME",
    // What a restart command for an archive install may need to find the JVM and the node.
    "JAVA_HOME",
    "ES_JAVA_HOME",
    "ES_JAVA_OPTS",
    "ES_HOME",
    "ES_PATH_CONF",
    "ES_TMPDIR",
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Lines of output kept for error messages.
const TAIL_LINES: usize = 40;

/// The environment for a child: the allow-listed variables from `vars`, minus every name in
/// `secret_names` (variables an `env:NAME` answer read a secret from).
pub fn child_env(
    vars: impl IntoIterator<Item = (String, String)>,
    secret_names: &[String],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| ENV_ALLOW_LIST.contains(&k.as_str()))
        .filter(|(k, _)| !secret_names.iter().any(|s| s == k))
        .collect();
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.push(("PATH".to_string(), DEFAULT_PATH.to_string()));
    }
    out.sort();
    out
}

/// How a command ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("interrupted while running `{program}`; it was stopped")]
    Interrupted { program: String },
    #[error(
        "`{program}` did not finish within {secs} s and was stopped{tail}\nhelp: the command must stop the old node and return once the new one listens, with the node's output sent elsewhere (e.g. `setsid bin/elasticsearch -d -p es.pid` or `... >/var/log/es.out 2>&1 &`); raise `elasticsearch.restart_timeout_secs` if the node is just slow"
    )]
    TimedOut {
        program: String,
        secs: u64,
        tail: String,
    },
    #[error("`{program}` failed ({status}){tail}")]
    Failed {
        program: String,
        status: ExitStatus,
        tail: String,
    },
}

/// Run `program args` with exactly `env`, at most `timeout`; stop it (its whole process
/// group: SIGTERM, then SIGKILL after 5 s) on timeout or, when `interrupts` is given, on an
/// interrupt request. Returns the output tail on success.
pub fn run(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
    interrupts: Option<&Interrupts>,
) -> anyhow::Result<String> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().with_context(|| format!("running {program}"))?;
    let tail = Arc::new(Mutex::new(Vec::<String>::new()));
    // Readers are detached on purpose: a background process the command started may hold
    // the pipe open for as long as it lives.
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, Arc::clone(&tail));
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Arc::clone(&tail));
    }
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the command")? {
            break status;
        }
        let interrupted = interrupts.is_some_and(Interrupts::requested);
        if interrupted || started.elapsed() >= timeout {
            stop_group(pgid, &mut child);
            let err = if interrupted {
                ChildError::Interrupted {
                    program: program.to_string(),
                }
            } else {
                ChildError::TimedOut {
                    program: program.to_string(),
                    secs: timeout.as_secs(),
                    tail: tail_text(&tail),
                }
            };
            return Err(err.into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Let the readers catch the last lines the command wrote before it exited.
    std::thread::sleep(Duration::from_millis(100));
    if !status.success() {
        bail!(ChildError::Failed {
            program: program.to_string(),
            status,
            tail: tail_text(&tail),
        });
    }
    Ok(tail_text(&tail))
}

fn spawn_reader(stream: impl Read + Send + 'static, tail: Arc<Mutex<Vec<String>>>) {
    let _ = std::thread::Builder::new()
        .name("es-secure-child-output".to_string())
        .spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut t) = tail.lock() {
                    t.push(line);
                    if t.len() > TAIL_LINES {
                        t.remove(0);
                    }
                }
            }
        });
}

fn tail_text(tail: &Arc<Mutex<Vec<String>>>) -> String {
    match tail.lock() {
        Ok(t) if !t.is_empty() => format!(":\n{}", t.join("\n")),
        _ => String::new(),
    }
}

/// SIGTERM the process group, give it 5 s, then SIGKILL; reap the child.
fn stop_group(pgid: nix::unistd::Pid, child: &mut std::process::Child) {
    use nix::sys::signal::{Signal, killpg};
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn env() -> Vec<(String, String)> {
        child_env(std::env::vars(), &[])
    }

    #[test]
    fn only_allow_listed_variables_pass_and_secret_names_never() {
        let vars = vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("ES_PW".to_string(), "s3cret".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let env = child_env(vars, &["HOME".to_string()]);
        assert_eq!(env, vec![("PATH".to_string(), "/bin".to_string())]);
        let env = child_env(Vec::new(), &[]);
        assert_eq!(env[0].0, "PATH", "a default PATH");
    }

    #[test]
    fn the_child_sees_only_the_given_environment() {
        let out = run(
            "sh",
            &["-c".to_string(), "env".to_string()],
            &[("PATH".to_string(), DEFAULT_PATH.to_string())],
            Duration::from_secs(10),
            None,
        )
        .unwrap();
        assert!(out.contains("PATH="), "{out}");
        assert!(!out.contains("HOME="), "{out}");
    }

    #[test]
    fn a_background_process_holding_the_pipe_does_not_block() {
        let started = Instant::now();
        run(
            "sh",
            &["-c".to_string(), "sleep 20 & echo started".to_string()],
            &env(),
            Duration::from_secs(10),
            None,
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_timeout_stops_the_command_and_says_what_to_do() {
        let started = Instant::now();
        let err = run(
            "sh",
            &["-c".to_string(), "echo waiting; sleep 30".to_string()],
            &env(),
            Duration::from_millis(500),
            None,
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("did not finish within"), "{text}");
        assert!(text.contains("waiting"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_interrupt_stops_the_command_within_a_second() {
        let i = Interrupts::detached();
        i.set_quiet(true);
        let j = i.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            j.request();
        });
        let started = Instant::now();
        let err = run(
            "sh",
            &["-c".to_string(), "sleep 30".to_string()],
            &env(),
            Duration::from_secs(60),
            Some(&i),
        )
        .unwrap_err();
        assert!(format!("{err}").contains("interrupted"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_failure_quotes_the_output_tail() {
        let err = run(
            "sh",
            &["-c".to_string(), "echo boom >&2; exit 3".to_string()],
            &env(),
            Duration::from_secs(10),
            None,
        )
        .unwrap_err();
        let text = format!("{err}");
        assert!(text.contains("boom"), "{text}");
    }
}
