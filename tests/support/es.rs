//! Real-Elasticsearch test harness: start real ES nodes from the Maven Central
//! integ-test-zip that `scripts/test-env.sh` prepared, one fresh copy per node.
//!
//! There is no mock Elasticsearch anywhere in the suite: every claim es-secure makes about
//! a node (config accepted, TLS working, passwords changed, cluster formed) is checked
//! against one of these nodes.
//!
//! Typical use:
//!
//! ```ignore
//! mod support;
//! use support::es::{self, EsVersion, Node, Security};
//!
//! #[test]
//! fn something_real() {
//!     if !es::available(EsVersion::V8) { return; }
//!     let mut node = Node::builder(EsVersion::V8, "something_real")
//!         .security(Security::Enabled)
//!         .build().unwrap();
//!     node.add_file_user("admin", "admin-password", &["superuser"]).unwrap();
//!     node.start_and_wait(es::ready_timeout()).unwrap();
//!     let r = node.get("/_security/_authenticate", Some(("admin", "admin-password"))).unwrap();
//!     assert_eq!(r.status, 200);
//! } // Drop stops the node (and prints its log tail if the test panicked)
//! ```
//!
//! Facts the design relies on (see docs/es-zip-notes.md):
//! - ES refuses to run as root, so nodes and `bin/elasticsearch-*` tools run as the
//!   unprivileged `$ES_SECURE_TEST_USER` (via `runuser`); the tests themselves run as root.
//! - Nodes bind only loopback addresses (127.0.0.1/.2/.3) and ports from a lock-file
//!   allocator, so parallel tests and parallel test binaries don't collide.
//! - The pristine copy carries the test-only `es-shim` plugin that stands in for the
//!   missing `analysis-common` module, so the `.security` index can be created.

use std::cell::{Cell, OnceCell};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// ES 8.x version `scripts/test-env.sh` pins (newest 8.19.x when pinned).
pub const PINNED_8: &str = "8.19.21";
/// ES 9.x version `scripts/test-env.sh` pins.
pub const PINNED_9: &str = "9.5.4";
/// Older ES 8.x version `scripts/test-env.sh` pins (last one writing keystore format 5).
pub const PINNED_8_OLD: &str = "8.13.4";

/// First HTTP port the allocator hands out; slot `k` gets `HTTP_BASE + k`.
const HTTP_BASE: u16 = 19200;
/// First transport port; slot `k` gets `TRANSPORT_BASE + k`.
const TRANSPORT_BASE: u16 = 19300;
/// Slots: HTTP ports stay below the transport range.
const SLOTS: u16 = 100;

/// Which pinned Elasticsearch version to run. Each reads its own `ES_SECURE_TEST_*_<suffix>`
/// variables, so `scripts/test-matrix.sh` runs any 8.x as `V8` and any 9.x as `V9` by
/// overriding `ES_SECURE_TEST_VERSION_8` / `ES_SECURE_TEST_PRISTINE_8` (and `_9`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EsVersion {
    V8,
    V9,
    /// An older 8.x (`ES_SECURE_TEST_*_8_OLD`, 8.13.4 by default): keystore format 5.
    V8Old,
}

impl EsVersion {
    fn suffix(self) -> &'static str {
        match self {
            EsVersion::V8 => "8",
            EsVersion::V9 => "9",
            EsVersion::V8Old => "8_OLD",
        }
    }

    fn var(self, what: &str) -> Option<String> {
        std::env::var(format!("ES_SECURE_TEST_{what}_{}", self.suffix()))
            .ok()
            .filter(|s| !s.trim().is_empty())
    }

    /// Major version number (8 or 9).
    pub fn major(self) -> u32 {
        match self {
            EsVersion::V8 | EsVersion::V8Old => 8,
            EsVersion::V9 => 9,
        }
    }

    /// Full version, e.g. `8.19.21` (from `ES_SECURE_TEST_VERSION_<n>`, else the pin).
    pub fn version(self) -> String {
        self.var("VERSION").unwrap_or_else(|| {
            match self {
                EsVersion::V8 => PINNED_8,
                EsVersion::V9 => PINNED_9,
                EsVersion::V8Old => PINNED_8_OLD,
            }
            .to_string()
        })
    }

    /// Unpacked pristine install (`ES_SECURE_TEST_PRISTINE_<n>`). Never modify it: nodes copy it.
    pub fn pristine(self) -> Option<PathBuf> {
        self.var("PRISTINE").map(PathBuf::from)
    }

    /// JDK to run this version with (`ES_SECURE_TEST_JAVA_<n>`).
    pub fn java_home(self) -> Option<PathBuf> {
        self.var("JAVA").map(PathBuf::from)
    }

    /// The downloaded integ-test-zip (`ES_SECURE_TEST_ZIP_<n>`).
    pub fn zip(self) -> Option<PathBuf> {
        self.var("ZIP").map(PathBuf::from)
    }
}

/// The unprivileged user ES runs as (`ES_SECURE_TEST_USER`, default `estest`).
pub fn test_user() -> String {
    std::env::var("ES_SECURE_TEST_USER")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "estest".to_string())
}

/// How long to wait for a node to answer HTTP (`ES_SECURE_TEST_READY_TIMEOUT` seconds,
/// default 480). Start-up took 45-100 s, and up to 4 min with first-start
/// auto-configuration (4096-bit RSA keys), on a heavily loaded shared 2-core machine.
pub fn ready_timeout() -> Duration {
    let secs = std::env::var("ES_SECURE_TEST_READY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(480);
    Duration::from_secs(secs)
}

/// Writes straight to the process's stderr. Bypasses libtest's output capture on purpose:
/// real-ES steps take minutes and someone watching `cargo test` should see progress and
/// skips.
pub fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "[es-harness] {msg}");
}

/// Why real-ES tests for `v` cannot run here, if they cannot.
fn unavailable_reason(v: EsVersion) -> Option<String> {
    let Some(pristine) = v.pristine() else {
        return Some(format!("ES_SECURE_TEST_PRISTINE_{} is not set", v.suffix()));
    };
    if !pristine.join("bin/elasticsearch").is_file() {
        return Some(format!("{} has no bin/elasticsearch", pristine.display()));
    }
    let Some(java) = v.java_home() else {
        return Some(format!("ES_SECURE_TEST_JAVA_{} is not set", v.suffix()));
    };
    if !java.join("bin/java").is_file() {
        return Some(format!("{} has no bin/java", java.display()));
    }
    if !nix::unistd::geteuid().is_root() {
        return Some("the harness must run as root (it drops to the test user for ES)".into());
    }
    if nix::unistd::User::from_name(&test_user())
        .ok()
        .flatten()
        .is_none()
    {
        return Some(format!("user {} does not exist", test_user()));
    }
    None
}

/// True when real ES `v` can be started here. Otherwise prints a loud SKIPPED line and
/// returns false, so the calling test returns early. With `ES_SECURE_TEST_REQUIRE=1`
/// (CI) a missing environment panics instead: a silently skipped suite proves nothing.
pub fn available(v: EsVersion) -> bool {
    match unavailable_reason(v) {
        None => true,
        Some(reason) => {
            let msg = format!(
                "SKIPPED real Elasticsearch {} test: {reason}. \
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

/// A pair of ports held for one node. The `flock` on the slot file is released when the
/// node (and so this value) is dropped, or when the test process dies.
struct PortSlot {
    _lock: nix::fcntl::Flock<fs::File>,
    http: u16,
    transport: u16,
}

fn port_free(host: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind((host, port)).is_ok()
}

/// Takes the first slot whose lock file is free and whose ports can be bound on `host`.
/// The lock files live in a directory shared by every test binary on the machine.
fn alloc_ports(host: Ipv4Addr) -> Result<PortSlot> {
    let dir = std::env::temp_dir().join("es-secure-test-ports");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for k in 0..SLOTS {
        let path = dir.join(format!("slot-{k}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let Ok(lock) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        else {
            continue;
        };
        let (http, transport) = (HTTP_BASE + k, TRANSPORT_BASE + k);
        // A leftover node from a killed test run may still hold the ports.
        if port_free(host, http) && port_free(host, transport) {
            return Ok(PortSlot {
                _lock: lock,
                http,
                transport,
            });
        }
    }
    bail!("no free port slot in {HTTP_BASE}+{SLOTS} / {TRANSPORT_BASE}+{SLOTS} on {host}")
}

/// Discovery settings written into `elasticsearch.yml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// `discovery.type: single-node` (the default).
    SingleNode,
    /// Multi-node: `discovery.seed_hosts` and `cluster.initial_master_nodes`.
    Seeds {
        seed_hosts: Vec<String>,
        initial_master_nodes: Vec<String>,
    },
    /// Write nothing (a cluster helper or the test adds it later).
    Unset,
}

/// What the harness writes for `xpack.security.enabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `xpack.security.enabled: false`: a plain unsecured node (the default).
    Disabled,
    /// `xpack.security.enabled: true`, no TLS. Being explicit also stops auto-configuration.
    Enabled,
    /// Leave the key out, as a fresh install has it: ES 8+/9 auto-configure security
    /// (TLS + `xpack.security.enabled: true`) on the first start.
    Unset,
}

/// Settings for one node; [`NodeBuilder::build`] copies the pristine install and writes
/// the config but does not start anything.
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    version: EsVersion,
    test_name: String,
    name: String,
    cluster_name: String,
    host: Ipv4Addr,
    network_host: bool,
    discovery: Discovery,
    security: Security,
    settings: Vec<(String, String)>,
    heap_mb: u32,
    shim: bool,
}

fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.chars().take(40).collect()
}

impl NodeBuilder {
    /// Defaults: node `node-1`, cluster named after the test, 127.0.0.1, single-node,
    /// security disabled, 256 MB heap, es-shim kept.
    pub fn new(version: EsVersion, test_name: &str) -> Self {
        NodeBuilder {
            version,
            test_name: sanitize(test_name),
            name: "node-1".to_string(),
            cluster_name: sanitize(test_name),
            host: Ipv4Addr::LOCALHOST,
            network_host: true,
            discovery: Discovery::SingleNode,
            security: Security::Disabled,
            settings: Vec::new(),
            heap_mb: 256,
            shim: true,
        }
    }

    /// `node.name`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// `cluster.name` (all nodes of one cluster need the same).
    pub fn cluster_name(mut self, name: &str) -> Self {
        self.cluster_name = name.to_string();
        self
    }

    /// Loopback address to bind (`network.host`), e.g. `127.0.0.2` for a second node.
    pub fn host(mut self, host: Ipv4Addr) -> Self {
        self.host = host;
        self
    }

    /// Don't write `network.host`, like a fresh install (ES then binds `_local_`, and
    /// first-start auto-configuration adds `http.host: 0.0.0.0`). Probes still use
    /// [`NodeBuilder::host`] (default 127.0.0.1) to reach the node.
    pub fn without_network_host(mut self) -> Self {
        self.network_host = false;
        self
    }

    pub fn discovery(mut self, discovery: Discovery) -> Self {
        self.discovery = discovery;
        self
    }

    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Extra `key: value` line for `elasticsearch.yml`; `value` is written as YAML as is.
    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }

    /// JVM heap (`-Xms`/`-Xmx`) in MB; default 256.
    pub fn heap_mb(mut self, mb: u32) -> Self {
        self.heap_mb = mb;
        self
    }

    /// Remove the test-only `es-shim` plugin from this node's copy, to see stock
    /// integ-test-zip behaviour (the `.security` index then cannot be created).
    pub fn without_shim(mut self) -> Self {
        self.shim = false;
        self
    }

    /// [`build`](Self::build) and start the node, waiting up to [`ready_timeout`] until it
    /// answers; panics (failing the test) when either fails.
    pub fn started(self) -> Node {
        let mut node = self.build().unwrap();
        node.start_and_wait(ready_timeout()).unwrap();
        node
    }

    /// Copies the pristine install to a fresh temp dir, writes the config and the
    /// start/restart scripts, and chowns everything to the test user.
    pub fn build(self) -> Result<Node> {
        if let Some(reason) = unavailable_reason(self.version) {
            bail!("real ES {} unavailable: {reason}", self.version.version());
        }
        let pristine = self.version.pristine().context("no pristine install")?;
        let java = self.version.java_home().context("no java home")?;
        let user = test_user();
        let slot = alloc_ports(self.host)?;

        // temp_dir() is world-traversable; the per-node dir is made 0755 so the test
        // user can reach its files inside.
        let base = std::env::temp_dir().join("es-secure-nodes");
        fs::create_dir_all(&base)?;
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-{}-", self.test_name, sanitize(&self.name)))
            .tempdir_in(&base)
            .context("creating node temp dir")?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let root = dir.path().to_path_buf();
        let home = root.join("es");
        let run = root.join("run");

        let t = Instant::now();
        run_ok(Command::new("cp").arg("-a").arg(&pristine).arg(&home))?;
        if !self.shim {
            fs::remove_dir_all(home.join("plugins/es-shim"))?;
        }
        fs::create_dir_all(run.join("tmp"))?;

        fs::write(
            home.join("config/jvm.options.d/es-secure-test-heap.options"),
            format!(
                "# es-secure test harness: small heap, several nodes share 2 cores\n-Xms{0}m\n-Xmx{0}m\n",
                self.heap_mb
            ),
        )?;

        let mut yml = String::from("\n# ---- es-secure test harness ----\n");
        writeln!(yml, "cluster.name: {}", self.cluster_name)?;
        writeln!(yml, "node.name: {}", self.name)?;
        if self.network_host {
            writeln!(yml, "network.host: {}", self.host)?;
        }
        writeln!(yml, "http.port: {}", slot.http)?;
        writeln!(yml, "transport.port: {}", slot.transport)?;
        match &self.discovery {
            Discovery::SingleNode => yml.push_str("discovery.type: single-node\n"),
            Discovery::Seeds {
                seed_hosts,
                initial_master_nodes,
            } => {
                writeln!(yml, "discovery.seed_hosts: {}", yaml_list(seed_hosts))?;
                writeln!(
                    yml,
                    "cluster.initial_master_nodes: {}",
                    yaml_list(initial_master_nodes)
                )?;
            }
            Discovery::Unset => {}
        }
        match self.security {
            Security::Disabled => yml.push_str("xpack.security.enabled: false\n"),
            Security::Enabled => yml.push_str("xpack.security.enabled: true\n"),
            Security::Unset => {}
        }
        // Build machines can have little free disk; the default watermarks would leave
        // the .security shard unassigned.
        yml.push_str("cluster.routing.allocation.disk.threshold_enabled: false\n");
        for (k, v) in &self.settings {
            writeln!(yml, "{k}: {v}")?;
        }
        yml.push_str("# ---- end es-secure test harness ----\n");
        append(&home.join("config/elasticsearch.yml"), &yml)?;

        let env = node_env(&user, &java, &home, &run);
        let start_sh = run.join("start.sh");
        fs::write(
            &start_sh,
            format!(
                "#!/bin/bash\n\
                 # Starts test node {name} as {user}, detached, logging to console.log.\n\
                 cd '{home}' || exit 1\n\
                 exec runuser -u {user} -- {env} '{home}/bin/elasticsearch' -p '{pid}' \\\n  \
                 >>'{console}' 2>&1 </dev/null\n",
                name = self.name,
                home = home.display(),
                pid = run.join("es.pid").display(),
                console = run.join("console.log").display(),
            ),
        )?;
        let restart_sh = run.join("restart.sh");
        fs::write(
            &restart_sh,
            restart_script(&run, self.host, slot.http, &start_sh),
        )?;
        for f in [&start_sh, &restart_sh] {
            fs::set_permissions(f, fs::Permissions::from_mode(0o755))?;
        }
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(&home)
                .arg(&run),
        )?;
        say(&format!(
            "prepared {} ({}) at {} [{}:{} / transport {}] in {:.1}s",
            self.name,
            self.version.version(),
            home.display(),
            self.host,
            slot.http,
            slot.transport,
            t.elapsed().as_secs_f64()
        ));

        Ok(Node {
            version: self.version,
            label: format!("{}/{}", self.test_name, self.name),
            name: self.name,
            cluster_name: self.cluster_name,
            host: self.host,
            http_port: slot.http,
            transport_port: slot.transport,
            root,
            home,
            run,
            java,
            dir: Some(dir),
            child: None,
            scheme: Cell::new("http"),
            client: OnceCell::new(),
            _slot: slot,
        })
    }
}

fn yaml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `env -i ...` prefix: a clean, fixed environment for ES and its tools, so nothing from
/// the test process (ES_JAVA_OPTS, a different JAVA_HOME) leaks in. Only ES_JAVA_HOME is
/// set: with JAVA_HOME too, every launch prints "warning: ignoring JAVA_HOME".
fn node_env(user: &str, java: &Path, home: &Path, run: &Path) -> String {
    format!(
        "env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
         HOME=/home/{user} LANG=C.UTF-8 ES_JAVA_HOME='{java}' \
         ES_PATH_CONF='{home}/config' ES_TMPDIR='{tmp}'",
        java = java.display(),
        home = home.display(),
        tmp = run.join("tmp").display(),
    )
}

/// The script behind [`Node::restart_command`]. It behaves like `systemctl restart` with
/// ES's notify unit: stop, start, and return only once the node listens on HTTP (exit 1,
/// with the log tail on stderr, if it dies or doesn't come up in time).
fn restart_script(run: &Path, host: Ipv4Addr, port: u16, start_sh: &Path) -> String {
    format!(
        r#"#!/bin/bash
# Restarts this es-secure test node (for es-secure's `restart: command` answer).
set -u
pidfile='{pid}'
console='{console}'
timeout=${{ES_SECURE_TEST_RESTART_TIMEOUT:-300}}
if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -ge 120 ]; then kill -KILL "$pid" 2>/dev/null; fi
        sleep 0.5
    done
fi
rm -f "$pidfile"
# Wait (up to 60 s) for the HTTP port to be released so the new node can bind it.
i=0
while (exec 3<>/dev/tcp/{host}/{port}) 2>/dev/null && [ "$i" -lt 120 ]; do
    i=$((i + 1))
    sleep 0.5
done
echo "=== restart.sh: starting $(date -u +%FT%TZ) ===" >>"$console"
setsid /bin/bash '{start}' </dev/null >/dev/null 2>&1 &
start_pid=$!
deadline=$((SECONDS + timeout))
until (exec 3<>/dev/tcp/{host}/{port}) 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "restart.sh: node did not listen on {host}:{port} within ${{timeout}}s" >&2
        tail -n 40 "$console" >&2
        exit 1
    fi
    if ! kill -0 "$start_pid" 2>/dev/null && ! {{ [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }}; then
        echo "restart.sh: node exited during start-up" >&2
        tail -n 40 "$console" >&2
        exit 1
    fi
    sleep 1
done
echo "restart.sh: node listening on {host}:{port}"
"#,
        pid = run.join("es.pid").display(),
        console = run.join("console.log").display(),
        start = start_sh.display(),
    )
}

fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return format!("({} not readable)", path.display());
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An HTTP answer from a node.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("HTTP {} body is not JSON: {}", self.status, self.body))
    }
}

/// One real ES node in its own temp dir. Dropping it stops the node and deletes the dir
/// (kept, with the log tail printed, if the test panicked or `ES_SECURE_TEST_KEEP=1`).
pub struct Node {
    version: EsVersion,
    /// `test/node` for progress lines: parallel tests all have a `node-1`.
    label: String,
    name: String,
    cluster_name: String,
    host: Ipv4Addr,
    http_port: u16,
    transport_port: u16,
    root: PathBuf,
    home: PathBuf,
    run: PathBuf,
    java: PathBuf,
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    /// Scheme the last successful probe used: auto-configuration or es-secure may switch
    /// the node to HTTPS between starts.
    scheme: Cell<&'static str>,
    client: OnceCell<reqwest::blocking::Client>,
    _slot: PortSlot,
}

impl Node {
    pub fn builder(version: EsVersion, test_name: &str) -> NodeBuilder {
        NodeBuilder::new(version, test_name)
    }

    pub fn version(&self) -> EsVersion {
        self.version
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }
    /// ES_HOME of this node's copy.
    pub fn home(&self) -> &Path {
        &self.home
    }
    /// `$ES_HOME/config` (ES_PATH_CONF).
    pub fn config_dir(&self) -> PathBuf {
        self.home.join("config")
    }
    pub fn elasticsearch_yml(&self) -> PathBuf {
        self.config_dir().join("elasticsearch.yml")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }
    /// Directory with start.sh, restart.sh, es.pid and console.log (outside ES_HOME).
    pub fn run_dir(&self) -> &Path {
        &self.run
    }
    /// The per-node temp dir holding `es/` (home) and `run/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn java_home(&self) -> &Path {
        &self.java
    }
    pub fn host(&self) -> Ipv4Addr {
        self.host
    }
    pub fn http_port(&self) -> u16 {
        self.http_port
    }
    pub fn transport_port(&self) -> u16 {
        self.transport_port
    }
    /// `host:transport_port`, for other nodes' `discovery.seed_hosts`.
    pub fn transport_addr(&self) -> String {
        format!("{}:{}", self.host, self.transport_port)
    }
    /// `http://` or `https://` `host:port`, whichever the node last answered on.
    pub fn http_url(&self) -> String {
        format!("{}://{}:{}", self.scheme.get(), self.host, self.http_port)
    }
    pub fn https_url(&self) -> String {
        format!("https://{}:{}", self.host, self.http_port)
    }

    /// Command line es-secure can run (`restart: command`) to restart this node. It blocks
    /// until the node listens on HTTP again (see the script in `run_dir()/restart.sh`).
    pub fn restart_command(&self) -> String {
        self.run.join("restart.sh").display().to_string()
    }

    pub fn read_config(&self) -> Result<String> {
        fs::read_to_string(self.elasticsearch_yml()).context("reading elasticsearch.yml")
    }

    /// Appends raw YAML to `elasticsearch.yml` (the file keeps its owner).
    pub fn append_config(&self, yaml: &str) -> Result<()> {
        append(&self.elasticsearch_yml(), &format!("\n{yaml}\n"))
    }

    /// chown -R `path` to the test user: files a root test writes into the node must
    /// stay readable by ES.
    pub fn chown_to_test_user(&self, path: &Path) -> Result<()> {
        let user = test_user();
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(path),
        )?;
        Ok(())
    }

    /// Command for `bin/elasticsearch-<tool> args...`, run as the test user in a clean
    /// environment (ES_JAVA_HOME, ES_PATH_CONF set). In these zips every tool has its own
    /// script in bin/ (certutil, users, reset-password, keystore, ...).
    pub fn tool_command(&self, tool: &str, args: &[&str]) -> Command {
        let user = test_user();
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &user, "--", "env", "-i"])
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg(format!("HOME=/home/{user}"))
            .arg("LANG=C.UTF-8")
            .arg(format!("ES_JAVA_HOME={}", self.java.display()))
            .arg(format!("ES_PATH_CONF={}", self.config_dir().display()))
            .arg(format!("ES_TMPDIR={}", self.run.join("tmp").display()))
            .arg(self.home.join(format!("bin/elasticsearch-{tool}")))
            .args(args)
            .current_dir(&self.home);
        cmd
    }

    /// Runs `bin/elasticsearch-<tool>` (stdin empty) and returns its output, whatever the
    /// exit code.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Result<Output> {
        self.tool_with_input(tool, args, "")
    }

    /// Like [`Node::tool`] with `input` on stdin (keystore `add -x`, prompts).
    pub fn tool_with_input(&self, tool: &str, args: &[&str], input: &str) -> Result<Output> {
        let mut child = self
            .tool_command(tool, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting elasticsearch-{tool}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A tool that exits without reading gives EPIPE; its exit code tells the story.
            let _ = stdin.write_all(input.as_bytes());
        }
        child
            .wait_with_output()
            .with_context(|| format!("waiting for elasticsearch-{tool}"))
    }

    /// Like [`Node::tool`] but fails unless it exits 0.
    pub fn tool_ok(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let out = self.tool(tool, args)?;
        if !out.status.success() {
            bail!(
                "elasticsearch-{tool} {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Puts `bootstrap.password` into the keystore (creating it if needed): until elastic
    /// has a password in `.security`, that password logs in as `elastic`.
    pub fn set_bootstrap_password(&self, password: &str) -> Result<()> {
        if !self.config_dir().join("elasticsearch.keystore").exists() {
            self.tool_ok("keystore", &["create"])?;
        }
        let out = self.tool_with_input(
            "keystore",
            &["add", "-x", "-f", "bootstrap.password"],
            password,
        )?;
        if !out.status.success() {
            bail!(
                "keystore add bootstrap.password failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Adds a file-realm user with `bin/elasticsearch-users useradd` (works before start;
    /// a running node picks the change up within ~5 s).
    pub fn add_file_user(&self, user: &str, password: &str, roles: &[&str]) -> Result<()> {
        self.tool_ok(
            "users",
            &["useradd", user, "-p", password, "-r", &roles.join(",")],
        )?;
        Ok(())
    }

    /// Server pid from the pidfile, if ES wrote one.
    pub fn pid(&self) -> Option<i32> {
        fs::read_to_string(self.run.join("es.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn pid_alive(&self) -> bool {
        self.pid()
            .is_some_and(|p| kill(Pid::from_raw(p), None::<Signal>).is_ok())
    }

    fn child_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// True while our launcher or the pidfile's process lives (covers restarts done by
    /// `restart_command()`, whose process is not our child).
    pub fn is_running(&mut self) -> bool {
        self.child_alive() || self.pid_alive()
    }

    /// Starts the node detached (as the test user, in its own process group) and returns
    /// at once; see [`Node::wait_ready`].
    pub fn start(&mut self) -> Result<()> {
        if self.is_running() {
            bail!("node {} is already running", self.name);
        }
        let _ = fs::remove_file(self.run.join("es.pid"));
        append(
            &self.run.join("console.log"),
            &format!("=== harness start of {} ===\n", self.name),
        )
        .or_else(|_| fs::write(self.run.join("console.log"), "=== harness start ===\n"))?;
        let child = Command::new("/bin/bash")
            .arg(self.run.join("start.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("spawning start.sh")?;
        say(&format!(
            "starting {} ({}) on {}:{}",
            self.label,
            self.version.version(),
            self.host,
            self.http_port
        ));
        self.child = Some(child);
        Ok(())
    }

    fn client(&self) -> &reqwest::blocking::Client {
        self.client.get_or_init(|| {
            // The harness's own probes don't judge certificates: the node may use
            // auto-configured or es-secure-made TLS. Trust checks belong in the tests.
            reqwest::blocking::Client::builder()
                .tls_danger_accept_invalid_certs(true)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_else(|e| panic!("building the harness HTTP client: {e}"))
        })
    }

    fn send(
        &self,
        scheme: &str,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<Reply> {
        let url = format!("{scheme}://{}:{}{path}", self.host, self.http_port);
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.client().request(method, &url).timeout(timeout);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().with_context(|| format!("requesting {url}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().unwrap_or_default();
        Ok(Reply { status, body })
    }

    /// HTTP request to this node over whichever scheme it answers (tries the last one
    /// first, then the other). Non-2xx statuses are returned, not errors.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let first = self.scheme.get();
        let other = if first == "http" { "https" } else { "http" };
        match self.send(first, method, path, auth, body, Duration::from_secs(60)) {
            Ok(r) => Ok(r),
            Err(e1) => match self.send(other, method, path, auth, body, Duration::from_secs(60)) {
                Ok(r) => {
                    self.scheme.set(other);
                    Ok(r)
                }
                Err(e2) => Err(e2.context(format!("{first} also failed: {e1:#}"))),
            },
        }
    }

    pub fn get(&self, path: &str, auth: Option<(&str, &str)>) -> Result<Reply> {
        self.request("GET", path, auth, None)
    }

    pub fn post_json(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        body: &serde_json::Value,
    ) -> Result<Reply> {
        self.request("POST", path, auth, Some(body))
    }

    /// One quick readiness probe: the status of `GET /_cluster/health`, on either scheme.
    fn probe(&self) -> Option<u16> {
        let quick = Duration::from_secs(5);
        let first = self.scheme.get();
        let other = if first == "http" { "https" } else { "http" };
        for scheme in [first, other] {
            if let Ok(r) = self.send(scheme, "GET", "/_cluster/health", None, None, quick) {
                self.scheme.set(scheme);
                return Some(r.status);
            }
        }
        None
    }

    /// Waits until the node answers HTTP as a working node: `/_cluster/health` gives 200
    /// (no security) or 401/403 (security on, no credentials). 503 (no master yet) is not
    /// ready. Fails early, with the log tail, if the process exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        let mut next_report = Duration::from_secs(15);
        let mut last = None;
        loop {
            last = self.probe().or(last);
            if let Some(code @ (200 | 401 | 403)) = last {
                let took = t0.elapsed();
                say(&format!(
                    "{} ready at {} (HTTP {code}) after {:.1}s",
                    self.label,
                    self.http_url(),
                    took.as_secs_f64()
                ));
                return Ok(took);
            }
            if !self.is_running() {
                bail!(
                    "node {} exited before it was ready; log tail:\n{}",
                    self.name,
                    self.log_tail(60)
                );
            }
            if t0.elapsed() > timeout {
                bail!(
                    "node {} not ready after {:?} (last probe: {last:?}); log tail:\n{}",
                    self.name,
                    timeout,
                    self.log_tail(60)
                );
            }
            if t0.elapsed() >= next_report {
                say(&format!(
                    "{} not ready yet after {}s (last probe: {})",
                    self.label,
                    t0.elapsed().as_secs(),
                    last.map_or("no answer".to_string(), |c| format!("HTTP {c}"))
                ));
                next_report += Duration::from_secs(15);
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    }

    /// [`Node::start`] then [`Node::wait_ready`]; returns the time it took.
    pub fn start_and_wait(&mut self, timeout: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        self.start()?;
        self.wait_ready(timeout)?;
        Ok(t0.elapsed())
    }

    /// Waits for `GET /_cluster/health?wait_for_status=<status>` to succeed.
    pub fn wait_for_status(
        &self,
        auth: Option<(&str, &str)>,
        status: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value> {
        let t0 = Instant::now();
        loop {
            let r = self.get(
                &format!("/_cluster/health?wait_for_status={status}&timeout=10s"),
                auth,
            );
            if let Ok(r) = &r
                && r.status == 200
            {
                return r.json();
            }
            if t0.elapsed() > timeout {
                bail!(
                    "cluster health of {} never reached {status}: {r:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// SIGTERM (pidfile, else our process group), wait up to 60 s, then SIGKILL.
    pub fn stop(&mut self) -> Result<()> {
        if !self.is_running() {
            self.reap();
            return Ok(());
        }
        let t0 = Instant::now();
        self.signal(Signal::SIGTERM);
        while self.is_running() && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(250));
        }
        if self.is_running() {
            say(&format!("{} ignored SIGTERM for 60s; SIGKILL", self.label));
            self.signal(Signal::SIGKILL);
            while self.is_running() && t0.elapsed() < Duration::from_secs(75) {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        self.reap();
        let _ = fs::remove_file(self.run.join("es.pid"));
        say(&format!(
            "stopped {} in {:.1}s",
            self.label,
            t0.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    fn signal(&mut self, sig: Signal) {
        if let Some(p) = self.pid() {
            let _ = kill(Pid::from_raw(p), sig);
        }
        let group = self.child.as_ref().map(|c| c.id());
        if let Some(g) = group
            && self.child_alive()
            && let Ok(g) = i32::try_from(g)
        {
            let _ = killpg(Pid::from_raw(g), sig);
        }
    }

    fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// Last `n` lines of the node's console output (everything ES printed, including
    /// launcher and auto-configuration errors).
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.run.join("console.log"), n)
    }

    /// Full console output so far.
    pub fn console_log(&self) -> String {
        fs::read_to_string(self.run.join("console.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop();
        let keep = std::env::var("ES_SECURE_TEST_KEEP").is_ok_and(|s| s == "1");
        if std::thread::panicking() {
            say(&format!(
                "test failed; last lines of {} ({}):\n{}",
                self.label,
                self.run.join("console.log").display(),
                self.log_tail(80)
            ));
        }
        if (keep || std::thread::panicking())
            && let Some(dir) = self.dir.take()
        {
            say(&format!("kept node dir {}", dir.keep().display()));
        }
    }
}

/// Several nodes forming one cluster on 127.0.0.1, .2, .3, ...
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Builds `n` nodes `node-1..n` of one cluster, node i on `127.0.0.<i>`, each seeded
    /// with every node's transport address and all names as initial masters. `customize`
    /// can change each builder (security, settings, ...).
    pub fn build(
        version: EsVersion,
        test_name: &str,
        n: u8,
        customize: impl Fn(NodeBuilder) -> NodeBuilder,
    ) -> Result<Cluster> {
        let mut nodes = Vec::new();
        for i in 1..=n {
            let b = NodeBuilder::new(version, test_name)
                .name(&format!("node-{i}"))
                .host(Ipv4Addr::new(127, 0, 0, i))
                .discovery(Discovery::Unset);
            nodes.push(customize(b).build()?);
        }
        let seeds: Vec<String> = nodes.iter().map(Node::transport_addr).collect();
        let names: Vec<String> = nodes.iter().map(|n| n.name().to_string()).collect();
        for node in &nodes {
            node.append_config(&format!(
                "discovery.seed_hosts: {}\ncluster.initial_master_nodes: {}",
                yaml_list(&seeds),
                yaml_list(&names)
            ))?;
        }
        Ok(Cluster { nodes })
    }

    /// Starts every node, then waits for each to answer.
    pub fn start_all(&mut self, timeout: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        for n in &mut self.nodes {
            n.start()?;
        }
        for n in &mut self.nodes {
            let left = timeout.saturating_sub(t0.elapsed());
            n.wait_ready(left)?;
        }
        Ok(t0.elapsed())
    }

    /// Waits until the first node sees all nodes (`wait_for_nodes=<n>`); returns health.
    pub fn wait_formed(
        &self,
        auth: Option<(&str, &str)>,
        timeout: Duration,
    ) -> Result<serde_json::Value> {
        let t0 = Instant::now();
        let n = self.nodes.len();
        let first = self.nodes.first().context("empty cluster")?;
        loop {
            let r = first.get(
                &format!("/_cluster/health?wait_for_nodes={n}&timeout=10s"),
                auth,
            );
            if let Ok(r) = &r
                && r.status == 200
            {
                let v = r.json()?;
                if v["number_of_nodes"].as_u64() == Some(n as u64) {
                    return Ok(v);
                }
            }
            if t0.elapsed() > timeout {
                bail!("cluster did not form {n} nodes within {timeout:?}: {r:?}");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    pub fn stop_all(&mut self) -> Result<()> {
        for n in &mut self.nodes {
            n.stop()?;
        }
        Ok(())
    }
}
