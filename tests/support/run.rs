//! Runs a child process (es-secure, or a helper tool) with a wall-clock limit: a hung binary
//! fails its test with a clear message instead of hanging CI until its global timeout.
//! It must NOT decide what the output means; callers assert on the returned `Output`.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any single es-secure run on a scratch install may take. Generous: on a loaded
/// 2-core CI machine an RSA-4096 plan takes seconds, not minutes.
pub const LIMIT: Duration = Duration::from_secs(180);

/// The same limit for `assert_cmd` callers (`.timeout(run::LIMIT)`).
pub fn limit() -> Duration {
    LIMIT
}

/// [`output_within`] with [`LIMIT`].
pub fn output(cmd: &mut Command) -> Output {
    output_within(cmd, LIMIT)
}

/// Like `Command::output` (stdin closed, stdout and stderr captured), but kills the child
/// (and anything it started: it runs in its own process group) and panics when it is still
/// running after `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    wait_output_within(child, limit, &format!("{cmd:?}"))
}

/// Wait for an already spawned child (stdout/stderr piped) with a deadline, collecting its
/// output; on the deadline the child (and its process group, when it leads one) is killed
/// and the test panics naming `what`.
pub fn wait_output_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                // The output readers are not joined: a grandchild outside the group could
                // hold the pipes open and hang this test after all.
                panic!(
                    "{what} was still running after {} s and was killed",
                    limit.as_secs()
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    };
    Output {
        status,
        stdout: stdout
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default(),
        stderr: stderr
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default(),
    }
}

/// [`output_within`] with `input` on the child's stdin, written from a thread (a child that
/// does not read it cannot block the test) and closed after.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write as _;
            // A child that exits without reading closes the pipe: not this helper's error.
            let _ = stdin.write_all(&input);
        })
    });
    let out = wait_output_within(child, limit, &format!("{cmd:?}"));
    if let Some(w) = writer {
        let _ = w.join();
    }
    out
}

/// For probes such as `node --version`: true when `cmd` starts and exits 0 within [`LIMIT`];
/// a program that is not installed is `false`, not a panic.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    match cmd.spawn() {
        Ok(child) => wait_output_within(child, LIMIT, &format!("{cmd:?}"))
            .status
            .success(),
        Err(_) => false,
    }
}

/// SIGKILL the child's process group if it leads one, else the child alone; then reap it.
fn kill_group(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    if nix::unistd::getpgid(Some(pid)) == Ok(pid) {
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    } else {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn reader<R: std::io::Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// `curl -sS --max-time 60 ARGS`, killed after 90 s.
pub fn curl(args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60"]).args(args);
    output_within(&mut cmd, Duration::from_secs(90))
}

/// A finished command (es-secure here or in a container): exit code, output as text, time.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}
