//! Running the `es-secure` binary against a harness node (`support::es::Node`) the way the
//! real-Elasticsearch tests do: the node's home, config directory and service user and a
//! private state directory as flags, a bounded wait, and reading back what a run leaves (the
//! passwords file, the bytes of a directory for "nothing changed" checks).
//! It must NOT start or stop nodes (that is `es.rs`) nor decide what a test asserts.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::es::{self, Node, say};

/// The built-in users whose passwords every secured tier sets.
pub const USERS: [&str; 6] = [
    "elastic",
    "kibana_system",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_user",
];

/// Bounded above es-secure's own waits (restart 400 s, health 400 s) plus its own work.
pub const LIMIT: Duration = Duration::from_secs(900);

/// A private (0700) state directory for es-secure, as it requires.
pub fn state_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// The binary under test: `ES_SECURE_E2E_BIN` when set (scripts/bench-apply.sh points it at
/// the release build to time the tool's own work), else the one cargo built for this test.
pub fn bin() -> String {
    std::env::var("ES_SECURE_E2E_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_es-secure").into())
}

/// Point `cmd` (an es-secure command line) at `node`, with `state` as its state directory and
/// the test user as the service user; no colours.
pub fn on_node<'a>(cmd: &'a mut Command, node: &Node, state: &Path) -> &'a mut Command {
    cmd.arg("--es-home")
        .arg(node.home())
        .arg("--es-config")
        .arg(node.config_dir())
        .arg("--state-dir")
        .arg(state)
        .args(["--es-user", &es::test_user()])
        .env("NO_COLOR", "1")
}

/// `es-secure ARGS` on `node` (see [`on_node`]), not yet run.
pub fn command(node: &Node, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    on_node(&mut cmd, node, state);
    cmd
}

pub use super::run::Run;

/// The answers file of a harness node: `node` of the cluster `all` (`&[node]` for a single
/// node), restarted through the harness's restart script, its passwords written to
/// `state/passwords.txt`. `extra` follows the `passwords:` block (indented lines continue
/// it, others add top-level keys). Written to `state/file`.
pub fn answers_file(
    node: &Node,
    all: &[&Node],
    tier: &str,
    state: &Path,
    extra: &str,
    file: &str,
) -> PathBuf {
    let scheme = if tier == "https" { "https" } else { "http" };
    let mut nodes = String::new();
    for n in all {
        nodes.push_str(&format!(
            "  - name: {}\n    dns: [localhost]\n    ip: [{}]\n",
            n.name(),
            n.host()
        ));
    }
    let text = format!(
        "version: 1
tier: {tier}
elasticsearch:
  url: {scheme}://{host}:{port}
  restart: command
  restart_command: {restart}
  health_timeout_secs: 400
nodes:
{nodes}this_node: {name}
passwords:
  output_file: {state}/passwords.txt
{extra}",
        host = node.host(),
        port = node.http_port(),
        restart = node.restart_command(),
        name = node.name(),
        state = state.display(),
    );
    let path = state.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// Run es-secure `args` on `node` with the restart timeout the harness nodes need and the
/// extra environment `env`, within [`LIMIT`]; one progress line names the run and its time.
pub fn output(
    node: &Node,
    state: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut cmd = command(node, state, args);
    cmd.env("ES_SECURE_TEST_RESTART_TIMEOUT", "400")
        .envs(env.iter().copied());
    let out = super::run::output_within(&mut cmd, LIMIT);
    let took = t0.elapsed();
    // scripts/bench-apply.sh greps `exit N in`.
    say(&format!(
        "es-secure {} on {}: exit {} in {:.1}s",
        args.join(" "),
        node.name(),
        out.status.code().unwrap_or(-1),
        took.as_secs_f64()
    ));
    (out, took)
}

/// [`output`] as a [`Run`] (exit code -1 when killed by a signal).
pub fn run(node: &Node, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let (out, took) = output(node, state, args, env);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    }
}

/// `apply --yes --answers ANSWERS` on `node`, as a [`Run`].
pub fn apply(node: &Node, state: &Path, answers: &Path) -> Run {
    run(
        node,
        state,
        &["apply", "--yes", "--answers", answers.to_str().unwrap()],
        &[],
    )
}

/// Bytes of every regular file under `dir` (for "nothing changed" checks).
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Every regular file of the node's config directory, by path.
pub fn config_tree(node: &Node) -> BTreeMap<PathBuf, Vec<u8>> {
    tree(&node.config_dir())
}

/// `user: password` lines of the 0600 password file es-secure wrote into `state`.
pub fn passwords(state: &Path) -> BTreeMap<String, String> {
    let path = state.join("passwords.txt");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} must be 0600", path.display());
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect()
}

/// The `elastic` password from the passwords file in `state` (its mode is not checked).
pub fn elastic_password(state: &Path) -> String {
    std::fs::read_to_string(state.join("passwords.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("elastic: "))
        .expect("elastic's password in passwords.txt")
        .to_string()
}
