//! Real systemd for tests: boots the deb-layout Debian image that `scripts/nspawn-image.sh`
//! builds, as a `systemd-nspawn --boot` container with systemd as its PID 1, and runs commands
//! inside it (`nsenter` into all its namespaces).
//!
//! It must NOT touch the host's own units, /etc or network: the container has a private
//! (loopback-only) network, `--volatile=overlay` keeps every change in RAM so the cached image
//! stays pristine, and the container is powered off (or killed) when the value is dropped.
//!
//! The pitfalls this works around were each hit on these machines (see
//! shared/reference/live-test-envs.md, part A): no host systemd/dbus (`--register=no
//! --keep-unit`), /run on disk (a tmpfs on /run/systemd/nspawn), cgroup dirs that nspawn leaves
//! behind and shares between containers started from one cgroup (each container gets its own
//! cgroup, removed afterwards).

use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::es::{EsVersion, say};

/// PATH inside the container (a clean environment: nothing of the test's leaks in).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The longest a container may live: a hung test still ends.
const CONTAINER_LIFETIME_SECS: u64 = 1800;
/// cgroup hierarchies nspawn creates `payload/` and `supervisor/` in.
const CGROUP_ROOTS: [&str; 2] = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"];
/// Prefix of the per-container cgroup directories this helper creates.
const CGROUP_PREFIX: &str = "es-secure-nspawn-";

/// Serializes the host-side set-up (tmpfs mount, image build) between tests of one binary;
/// `scripts/nspawn-image.sh` itself holds a file lock against other processes.
static SETUP: Mutex<()> = Mutex::new(());

/// Why real-systemd tests cannot run here, if they cannot.
fn unavailable_reason(v: EsVersion) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the systemd tests must run as root (nspawn, mount, cgroups)".into());
    }
    for tool in ["systemd-nspawn", "mmdebstrap", "nsenter", "timeout"] {
        if !on_path(tool) {
            return Some(format!(
                "`{tool}` is not installed (apt-get install systemd-container mmdebstrap)"
            ));
        }
    }
    for root in CGROUP_ROOTS {
        if !Path::new(root).join("cgroup.procs").is_file() {
            return Some(format!("no cgroup hierarchy at {root}"));
        }
    }
    let Some(pristine) = v.pristine() else {
        return Some(format!("ES_SECURE_TEST_PRISTINE_{} is not set", v.major()));
    };
    if !pristine.join("bin/elasticsearch").is_file() {
        return Some(format!("{} has no bin/elasticsearch", pristine.display()));
    }
    match v.java_home() {
        Some(j) if j.join("bin/java").is_file() => None,
        Some(j) => Some(format!("{} has no bin/java", j.display())),
        None => Some(format!("ES_SECURE_TEST_JAVA_{} is not set", v.major())),
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// True when a real-systemd container for `v` can be booted here. Otherwise prints a loud
/// SKIPPED line and returns false; with `ES_SECURE_TEST_REQUIRE=1` (CI) it panics instead, as
/// `support::es::available` does.
pub fn available(v: EsVersion) -> bool {
    match unavailable_reason(v) {
        None => true,
        Some(reason) => {
            let msg = format!(
                "SKIPPED real-systemd Elasticsearch {} test: {reason}. \
                 Prepare with: eval \"$(scripts/test-env.sh)\" (as root)",
                v.version()
            );
            if std::env::var("ES_SECURE_TEST_REQUIRE").is_ok_and(|s| s == "1") {
                panic!("{msg} (and ES_SECURE_TEST_REQUIRE=1)");
            }
            say(&format!("\n{}\n{msg}\n{}", "!".repeat(78), "!".repeat(78)));
            false
        }
    }
}

/// `timeout` in front of every command: a wall-clock bound on each spawned process.
fn bounded(secs: u64, program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", &secs.to_string(), program]);
    cmd
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// The cached image for `v`, built on first use by `scripts/nspawn-image.sh` (1-3 min cold,
/// instant when cached).
pub fn image(v: EsVersion) -> Result<PathBuf> {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nspawn-image.sh");
    let t0 = Instant::now();
    let out = run_checked(
        bounded(1500, "bash")
            .arg(&script)
            .arg(v.major().to_string()),
        "scripts/nspawn-image.sh",
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .context("scripts/nspawn-image.sh printed no image directory")?;
    say(&format!(
        "nspawn image for ES {}: {dir} ({:.1}s)",
        v.version(),
        t0.elapsed().as_secs_f64()
    ));
    Ok(PathBuf::from(dir))
}

/// nspawn wants /run/systemd/nspawn on a tmpfs (it refuses to clean up "disk file systems"
/// under /run, which is on disk here). Mounted once; harmless to keep.
fn ensure_nspawn_tmpfs() -> Result<()> {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let target = "/run/systemd/nspawn";
    let mounts = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(target))
    {
        return Ok(());
    }
    fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
    run_checked(
        bounded(30, "mount").args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", target]),
        "mount tmpfs on /run/systemd/nspawn",
    )?;
    Ok(())
}

/// Remove a cgroup directory tree bottom-up (cgroup dirs go with rmdir once empty).
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Leftovers of earlier runs whose test process is gone (nspawn never removes them).
fn remove_stale_cgroups() {
    for root in CGROUP_ROOTS {
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(CGROUP_PREFIX) else {
                continue;
            };
            let owner = rest.rsplit('-').next().and_then(|p| p.parse::<i32>().ok());
            let alive = owner.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                remove_cgroup_tree(&e.path());
            }
        }
    }
}

/// Direct children of `pid` (from /proc/*/stat: this kernel has no task/*/children).
fn children(pid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // `pid (comm) state ppid ...`: comm may contain spaces, so split after ')'.
                    let after = s.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn pid_ns(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

// The result of a command run inside the container.
pub use crate::support::run::Run;

/// A booted container. Dropping it powers the container off (killing it if it does not stop)
/// and removes its cgroup directories.
pub struct Container {
    name: String,
    nspawn: Child,
    leader: i32,
    cgroups: Vec<PathBuf>,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Container {
    /// Boot the cached image for `v` as container `name`, with `bin` bind-mounted at
    /// /usr/local/bin/es-secure, and wait until systemd reports the boot finished (ES is
    /// enabled, so that includes ES answering on its port).
    pub fn boot(v: EsVersion, name: &str, bin: &Path) -> Result<Self> {
        let img = image(v)?;
        ensure_nspawn_tmpfs()?;
        remove_stale_cgroups();
        let java = v.java_home().context("no JDK for this version")?;

        let cg_name = format!("{CGROUP_PREFIX}{name}-{}", std::process::id());
        let mut cgroups = Vec::new();
        for root in CGROUP_ROOTS {
            let dir = Path::new(root).join(&cg_name);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            cgroups.push(dir);
        }
        let logdir = tempfile::tempdir()?;
        let log = logdir.path().join("nspawn.log");
        let log_file = fs::File::create(&log)?;

        let mut args: Vec<String> = vec![
            format!("--directory={}", img.display()),
            "--boot".into(),
            "--volatile=overlay".into(),
            "--register=no".into(),
            "--keep-unit".into(),
            "--private-network".into(),
            "--console=passive".into(),
            format!("--machine={name}"),
            format!("--bind-ro={}", java.display()),
            format!("--bind-ro={}:/usr/local/bin/es-secure", bin.display()),
        ];
        // Debian's OpenJDK links its conf/ and cacerts out of the JDK directory.
        for extra in [
            "/etc/java-17-openjdk",
            "/etc/java-21-openjdk",
            "/etc/ssl/certs/java",
        ] {
            if Path::new(extra).is_dir() {
                args.push(format!("--bind-ro={extra}"));
            }
        }
        // The shell moves itself into this container's own cgroups, then becomes nspawn: two
        // containers started from one cgroup would share `payload/` (pitfall 3).
        let script = format!(
            "echo $$ > '{}/cgroup.procs' && echo $$ > '{}/cgroup.procs' && exec systemd-nspawn \"$@\"",
            cgroups[0].display(),
            cgroups[1].display()
        );
        let mut cmd = bounded(CONTAINER_LIFETIME_SECS, "sh");
        cmd.args(["-c", &script, "sh"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0);
        let t0 = Instant::now();
        let nspawn = cmd.spawn().context("starting systemd-nspawn")?;
        let mut c = Container {
            name: name.to_string(),
            nspawn,
            leader: 0,
            cgroups,
            log,
            _logdir: logdir,
        };
        c.leader = c.find_leader(Duration::from_secs(60))?;
        c.wait_booted(Duration::from_secs(600))?;
        // The image enables ES, so a finished boot must include a running ES.
        let active = c.run(&["systemctl", "is-active", "elasticsearch"], 30)?;
        if active.stdout.trim() != "active" {
            let journal = c.run(
                &[
                    "journalctl",
                    "-u",
                    "elasticsearch",
                    "--no-pager",
                    "-n",
                    "40",
                ],
                30,
            )?;
            bail!(
                "elasticsearch.service is {} after boot:\n{}",
                active.stdout.trim(),
                journal.stdout
            );
        }
        say(&format!(
            "container {name} (ES {}) booted, ES up, in {:.1}s",
            v.version(),
            t0.elapsed().as_secs_f64()
        ));
        Ok(c)
    }

    /// The container's PID 1, seen from the host: the process below nspawn that lives in a
    /// new PID namespace.
    fn find_leader(&mut self, within: Duration) -> Result<i32> {
        let ours = pid_ns(std::process::id() as i32);
        let deadline = Instant::now() + within;
        let timeout_pid = self.nspawn.id() as i32;
        while Instant::now() < deadline {
            if let Some(status) = self.nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited early ({status}):\n{}",
                    self.log_tail()
                );
            }
            for nspawn in children(timeout_pid) {
                for child in children(nspawn) {
                    if pid_ns(child).is_some() && pid_ns(child) != ours {
                        return Ok(child);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("no container PID 1 after {within:?}:\n{}", self.log_tail())
    }

    fn wait_booted(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            if left == 0 {
                bail!("{} did not finish booting within {within:?}", self.name);
            }
            // Fails at once while systemd is not yet listening; --wait blocks until the boot
            // job queue is empty.
            let r = self.run(&["systemctl", "is-system-running", "--wait"], left.min(600))?;
            match r.stdout.trim() {
                "running" => return Ok(()),
                "degraded" => {
                    let failed = self.run(&["systemctl", "--failed", "--no-pager"], 30)?;
                    say(&format!(
                        "container {} booted degraded:\n{}",
                        self.name, failed.stdout
                    ));
                    return Ok(());
                }
                _ => {}
            }
            if let Some(status) = self.nspawn.try_wait()? {
                bail!("systemd-nspawn exited ({status}):\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn enter(&self, secs: u64) -> Command {
        let mut cmd = bounded(secs, "nsenter");
        cmd.args(["-t", &self.leader.to_string(), "-a", "--", "env", "-i"])
            .arg(format!("PATH={PATH}"))
            .args(["HOME=/root", "LANG=C.UTF-8", "NO_COLOR=1", "SYSTEMD_PAGER="]);
        cmd
    }

    /// Run `args` inside the container (all its namespaces, a clean environment), killed after
    /// `secs` seconds.
    pub fn run(&self, args: &[&str], secs: u64) -> Result<Run> {
        self.run_with_stdin(args, secs, None)
    }

    /// Like [`Container::run`], feeding `stdin` to the command.
    pub fn run_with_stdin(&self, args: &[&str], secs: u64, stdin: Option<&[u8]>) -> Result<Run> {
        let t0 = Instant::now();
        let mut cmd = self.enter(secs);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {args:?} in {}", self.name))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)?;
        }
        let out = child.wait_with_output()?;
        Ok(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: t0.elapsed(),
        })
    }

    /// `sh -c script` inside the container; fails unless it exits 0.
    pub fn sh(&self, script: &str, secs: u64) -> Result<String> {
        let r = self.run(&["sh", "-c", script], secs)?;
        if r.code != 0 {
            bail!("`{script}` in {} failed: {r:?}", self.name);
        }
        Ok(r.stdout)
    }

    /// Replace the contents of an existing file (keeping its owner and mode), or create it.
    pub fn write_file(&self, path: &str, contents: &str) -> Result<()> {
        let r = self.run_with_stdin(
            &["sh", "-c", "cat > \"$1\"", "sh", path],
            30,
            Some(contents.as_bytes()),
        )?;
        if r.code != 0 {
            bail!("writing {path} in {} failed: {r:?}", self.name);
        }
        Ok(())
    }

    pub fn read_file(&self, path: &str) -> Result<String> {
        let r = self.run(&["cat", path], 30)?;
        if r.code != 0 {
            bail!("reading {path} in {} failed: {r:?}", self.name);
        }
        Ok(r.stdout)
    }

    /// `systemctl show -p <prop> --value elasticsearch`.
    pub fn es_property(&self, prop: &str) -> Result<String> {
        Ok(self
            .sh(
                &format!("systemctl show -p {prop} --value elasticsearch"),
                30,
            )?
            .trim()
            .to_string())
    }

    /// The unit's journal (`journalctl -u elasticsearch`), without paging.
    pub fn es_journal(&self) -> Result<String> {
        self.sh("journalctl -u elasticsearch --no-pager -o short-iso", 60)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(j) = self.run(
                &[
                    "journalctl",
                    "-u",
                    "elasticsearch",
                    "--no-pager",
                    "-n",
                    "60",
                ],
                30,
            )
        {
            say(&format!(
                "journal of elasticsearch in {} (test failed):\n{}",
                self.name, j.stdout
            ));
        }
        let t0 = Instant::now();
        let _ = self.run(&["systemctl", "poweroff"], 30);
        let mut stopped = false;
        while t0.elapsed() < Duration::from_secs(90) {
            if matches!(self.nspawn.try_wait(), Ok(Some(_))) {
                stopped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if !stopped {
            // SIGKILL of a PID namespace's init kills everything in it.
            let _ = kill(Pid::from_raw(self.leader), Signal::SIGKILL);
            let _ =
                nix::sys::signal::killpg(Pid::from_raw(self.nspawn.id() as i32), Signal::SIGKILL);
            let _ = self.nspawn.wait();
        }
        for dir in &self.cgroups {
            remove_cgroup_tree(dir);
        }
        say(&format!(
            "container {} {} in {:.1}s",
            self.name,
            if stopped { "powered off" } else { "killed" },
            t0.elapsed().as_secs_f64()
        ));
    }
}
