//! Kibana's side of what es-secure wrote, proven on real Elasticsearch 8.19 and 9.x nodes.
//!
//! Kibana itself cannot be installed on the test machines, so its stand-in is
//! `tests/support/kibana-view/kibana_view.js`: Kibana's own config reading, keystore lookup and
//! decryption, `elasticsearch.*` schema rules and `parseClientOptions`, ported from Kibana's
//! source, driving the official `@elastic/elasticsearch` client of the Kibana major played
//! (8.19.x or 9.x) configured as Kibana's (HttpConnection, ClusterConnectionPool). It runs as
//! Kibana's service user (`kbtest`, the group of the Kibana config directory), never root, so
//! file permissions are the kernel's.
//! It must NOT claim more than that: Kibana's plugins, status page and UI are not here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::es::{self, EsVersion, Node, Security, say};

/// What the stand-in needs: node, its npm packages (scripts/test-env.sh) and the Kibana user.
struct KibanaView {
    script: PathBuf,
    modules: PathBuf,
    user: String,
    /// The Kibana major played (`--major`): the client of that major is used.
    major: u32,
}

impl KibanaView {
    /// `None` after a loud SKIPPED line (a failure under `ES_SECURE_TEST_REQUIRE=1`).
    fn find(major: u32) -> Option<Self> {
        let user = std::env::var("ES_SECURE_TEST_KIBANA_USER").unwrap_or_else(|_| "kbtest".into());
        let modules = std::env::var("ES_SECURE_TEST_KIBANA_VIEW_MODULES").map(PathBuf::from);
        let problem = if !Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            Some("node is not installed".to_string())
        } else if let Err(e) = &modules {
            Some(format!(
                "ES_SECURE_TEST_KIBANA_VIEW_MODULES is not set ({e})"
            ))
        } else if !modules
            .as_ref()
            .is_ok_and(|m| m.join("@elastic/elasticsearch").is_dir())
        {
            Some("the kibana-view npm packages are not installed".to_string())
        } else if nix::unistd::User::from_name(&user).ok().flatten().is_none() {
            Some(format!("user {user} does not exist"))
        } else {
            None
        };
        if let Some(p) = problem {
            support::skip(&format!(
                "Kibana's view: {p}; prepare with scripts/test-env.sh (as root)"
            ));
            return None;
        }
        Some(Self {
            script: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/support/kibana-view/kibana_view.js"),
            modules: modules.unwrap(),
            user,
            major,
        })
    }

    /// `kibana_view.js check` as the Kibana user, with `env` added (e.g. the keystore password).
    fn check(&self, home: &Path, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.user, "--", "env"])
            .arg(format!("NODE_PATH={}", self.modules.display()));
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg("node")
            .arg(&self.script)
            .arg("check")
            .args(["--major", &self.major.to_string()])
            .arg("--home")
            .arg(home);
        let t0 = Instant::now();
        let out = support::run::output_within(&mut cmd, Duration::from_secs(120));
        say(&format!(
            "kibana-view check {}: exit {:?} in {:.1}s",
            home.display(),
            out.status.code(),
            t0.elapsed().as_secs_f64()
        ));
        out
    }
}

/// Kibana's HTTPS server stand-in (`kibana_view.js serve`) as the Kibana user; killed (with its
/// process group) on drop.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(-(self.0.id() as i32));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl KibanaView {
    /// Starts the server and waits (60 s at most) for its "listening <port>" line.
    fn serve(&self, home: &Path) -> Served {
        use std::io::BufRead as _;
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new("runuser")
            .args(["-u", &self.user, "--", "env"])
            .arg(format!("NODE_PATH={}", self.modules.display()))
            .arg("node")
            .arg(&self.script)
            .args(["serve", "--seconds", "300", "--home"])
            .arg(home)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let served = Served(child);
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        if !line.starts_with("listening ") {
            let mut s = served;
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-(s.0.id() as i32)),
                nix::sys::signal::Signal::SIGKILL,
            );
            let mut err = String::new();
            if let Some(mut e) = s.0.stderr.take() {
                use std::io::Read as _;
                let _ = e.read_to_string(&mut err);
            }
            panic!("kibana-view serve did not start: {line:?}\n{err}");
        }
        say(&format!("kibana-view serve: {}", line.trim()));
        served
    }
}

/// A browser profile whose NSS db trusts `ca` (or nothing, when `None`), as
/// `certutil -A -t C,,` does for a user's Chromium.
fn browser_home(dir: &Path, ca: Option<&Path>) -> PathBuf {
    let home = dir.to_path_buf();
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db_arg = format!("sql:{}", db.display());
    let out = support::run::output_within(
        Command::new("certutil").args(["-d", &db_arg, "-N", "--empty-password"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    if let Some(ca) = ca {
        let out = support::run::output_within(
            Command::new("certutil")
                .args(["-d", &db_arg, "-A", "-t", "C,,", "-n", "es-secure-ca", "-i"])
                .arg(ca),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    home
}

/// Headless Chromium loads `url` (DOM on stdout, net errors on stderr). `map` sends a host
/// name to 127.0.0.2 (Kibana's `server.host` here) without DNS.
fn chromium(home: &Path, url: &str, map: Option<&str>) -> Output {
    let mut cmd = Command::new("chromium-headless-shell");
    // --no-sandbox: the test runs as root, where Chromium's sandbox refuses to start.
    cmd.args(["--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(format!(
            "--user-data-dir={}",
            home.join("profile").display()
        ))
        .env("HOME", home);
    if let Some(host) = map {
        cmd.arg(format!("--host-resolver-rules=MAP {host} 127.0.0.2"));
    }
    cmd.args(["--timeout=20000", "--dump-dom", url]);
    let t0 = Instant::now();
    let out = support::run::output_within(&mut cmd, Duration::from_secs(90));
    say(&format!(
        "chromium {url}: exit {:?} in {:.1}s",
        out.status.code(),
        t0.elapsed().as_secs_f64()
    ));
    out
}

fn chromium_available() -> bool {
    let ok = ["chromium-headless-shell", "certutil"].iter().all(|c| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        support::skip(
            "the browser check: chromium-headless-shell or certutil (libnss3-tools) is missing; scripts/test-env.sh installs them",
        );
    }
    ok
}

/// A TCP port nobody listens on right now (for Kibana's public URL).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The JSON line of a successful check.
fn passed(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A failed check: exit `code` and `reason` in Kibana-view's stderr.
fn failed(out: &Output, code: i32, reason: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(reason), "expected {reason:?}: {}", text(out));
}

fn chown_group(path: &Path, group: &str) {
    let gid = nix::unistd::Group::from_name(group)
        .unwrap()
        .unwrap_or_else(|| panic!("no group {group}"))
        .gid;
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(gid)).unwrap();
}

/// A Kibana home laid out like the archive: `<home>/config/kibana.yml`, the config directory
/// `root:<kibana group>` 2750 like the package's /etc/kibana.
fn kibana_home(root: &Path, name: &str, group: &str) -> PathBuf {
    let home = root.join(name);
    let config = home.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        config.join("kibana.yml"),
        "# Kibana is served by a back end server.\nserver.port: 5601\nserver.host: \"127.0.0.2\"\n",
    )
    .unwrap();
    chown_group(&config, group);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o2750)).unwrap();
    chown_group(&config.join("kibana.yml"), group);
    std::fs::set_permissions(
        config.join("kibana.yml"),
        std::fs::Permissions::from_mode(0o660),
    )
    .unwrap();
    home
}

/// A copy of `home`'s kibana.yml and kibana.keystore (the certificates stay where they are:
/// kibana.yml names them by absolute path) with `edit` applied to kibana.yml.
fn variant(
    home: &Path,
    root: &Path,
    name: &str,
    group: &str,
    edit: impl Fn(&str) -> String,
) -> PathBuf {
    let new = kibana_home(root, name, group);
    let yml = std::fs::read_to_string(home.join("config/kibana.yml")).unwrap();
    std::fs::write(new.join("config/kibana.yml"), edit(&yml)).unwrap();
    let ks = new.join("config/kibana.keystore");
    std::fs::copy(home.join("config/kibana.keystore"), &ks).unwrap();
    chown_group(&ks, group);
    std::fs::set_permissions(&ks, std::fs::Permissions::from_mode(0o640)).unwrap();
    new
}

fn state_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// `es-secure apply --yes` for `tier` with a `kibana:` section.
fn apply_output(
    node: &Node,
    state: &Path,
    tier: &str,
    kibana_config: &Path,
    public_url: &str,
    extra: &str,
) -> Output {
    let scheme = if tier == "https" { "https" } else { "http" };
    let answers = format!(
        "version: 1
tier: {tier}
elasticsearch:
  url: {scheme}://{host}:{port}
  restart: command
  restart_command: {restart}
  health_timeout_secs: 400
nodes:
  - name: {name}
    dns: [localhost]
    ip: [{host}]
this_node: {name}
kibana:
  config_dir: {kconf}
  public_url: {public_url}
passwords:
  output_file: {state}/passwords.txt
{extra}",
        host = node.host(),
        port = node.http_port(),
        restart = node.restart_command(),
        name = node.name(),
        kconf = kibana_config.display(),
        state = state.display(),
    );
    let path = state.join(format!("answers-{tier}.yml"));
    std::fs::write(&path, answers).unwrap();
    let t0 = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_es-secure"));
    cmd.args(["apply", "--yes", "--answers"])
        .arg(&path)
        .arg("--es-home")
        .arg(node.home())
        .arg("--es-config")
        .arg(node.config_dir())
        .arg("--state-dir")
        .arg(state)
        .args(["--es-user", &es::test_user()])
        .env("NO_COLOR", "1")
        .env("ES_SECURE_TEST_RESTART_TIMEOUT", "400");
    let out = support::run::output_within(&mut cmd, Duration::from_secs(900));
    say(&format!(
        "es-secure apply {tier}: exit {:?} in {:.1}s",
        out.status.code(),
        t0.elapsed().as_secs_f64()
    ));
    out
}

/// [`apply_output`], asserting exit 0.
fn apply(
    node: &Node,
    state: &Path,
    tier: &str,
    kibana_config: &Path,
    public_url: &str,
    extra: &str,
) {
    let out = apply_output(node, state, tier, kibana_config, public_url, extra);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A CA of nobody's: the "wrong CA" case.
fn foreign_ca(dir: &Path) -> PathBuf {
    let crt = dir.join("foreign-ca.crt");
    let out = support::run::output_within(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=Not our CA"])
            .arg("-keyout")
            .arg(dir.join("foreign-ca.key"))
            .arg("-out")
            .arg(&crt),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::set_permissions(&crt, std::fs::Permissions::from_mode(0o644)).unwrap();
    crt
}

/// One node for every case (a 2-core machine): a minimal apply with Kibana (http hosts), then
/// https (hosts, CA, server TLS) — after each, Kibana's view authenticates as kibana_system;
/// then the negative cases, each failing for its own reason.
#[test]
fn kibana_view_8x_after_minimal_and_https_applies() {
    kibana_view_case(EsVersion::V8);
}

/// The same against 9.x, with the 9.x client (what Kibana 9 ships).
#[test]
fn kibana_view_9x_after_minimal_and_https_applies() {
    kibana_view_case(EsVersion::V9);
}

fn kibana_view_case(version: EsVersion) {
    let Some(kv) = KibanaView::find(version.major()) else {
        return;
    };
    if !es::available(version) {
        return;
    }
    let mut node = Node::builder(version, &format!("kibana_view_{}", version.major()))
        .security(Security::Disabled)
        .build()
        .unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();

    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = kibana_home(root.path(), "kibana", &kv.user);
    let kconf = home.join("config");
    let state = state_dir();

    // minimal: http hosts, kibana_system's password in kibana.keystore.
    apply(
        &node,
        state.path(),
        "minimal",
        &kconf,
        "http://localhost:5601",
        "",
    );
    let v = passed(&kv.check(&home, &[]));
    assert_eq!(v["username"], "kibana_system", "{v}");
    assert_eq!(v["versions"], serde_json::json!([version.version()]), "{v}");
    let client = v["client"].as_str().unwrap_or_default();
    let want = if version.major() == 8 { "8.19." } else { "9." };
    assert!(client.starts_with(want), "client {client} for {v}");
    assert!(
        v["hosts"][0].as_str().unwrap().starts_with("http://"),
        "{v}"
    );
    assert_eq!(
        v["keystore"],
        kconf.join("kibana.keystore").display().to_string(),
        "{v}"
    );
    assert!(
        v["keystoreEntries"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("elasticsearch.password")),
        "{v}"
    );

    // https: the passwords are kept (already set), authenticated with elastic's.
    let pw = std::fs::read_to_string(state.path().join("passwords.txt")).unwrap();
    let elastic = pw
        .lines()
        .find_map(|l| l.strip_prefix("elastic: "))
        .expect("elastic's password in passwords.txt");
    std::fs::write(state.path().join("elastic.pw"), elastic).unwrap();
    let keep = format!(
        "auth:\n  method: elastic-password\n  elastic_password: file:{}/elastic.pw\n",
        state.path().display()
    );
    let kport = free_port();
    // An IP address in the public URL: Kibana's certificate must carry it as an IP SAN.
    let public_url = format!("https://127.0.0.2:{kport}");
    apply(&node, state.path(), "https", &kconf, &public_url, &keep);
    let v = passed(&kv.check(&home, &[]));
    assert_eq!(v["username"], "kibana_system", "{v}");
    assert_eq!(v["verificationMode"], "full", "{v}");
    assert!(
        v["hosts"][0].as_str().unwrap().starts_with("https://"),
        "{v}"
    );

    // Wrong CA: Kibana's client refuses Elasticsearch's certificate.
    let ca = kconf.join("certs/ca.crt").display().to_string();
    let foreign = foreign_ca(root.path()).display().to_string();
    let wrong_ca = variant(&home, root.path(), "kibana-wrong-ca", &kv.user, |y| {
        assert!(y.contains(&ca), "kibana.yml does not name {ca}:\n{y}");
        y.replace(&ca, &foreign)
    });
    failed(
        &kv.check(&wrong_ca, &[]),
        4,
        "self-signed certificate in certificate chain",
    );

    // Wrong keystore password: Kibana cannot decrypt kibana.keystore.
    failed(
        &kv.check(&home, &[("KBN_KEYSTORE_PASSWORD", "not-the-password")]),
        3,
        "the password was incorrect",
    );

    // Kibana's keystore precedence: `<home>/data/kibana.keystore`, when it exists, wins over
    // the config dir's — here one with a wrong password for kibana_system, so authentication
    // fails (and its entry overrides kibana.yml's username/password pair).
    let data_first = variant(&home, root.path(), "kibana-data-keystore", &kv.user, |y| {
        y.to_string()
    });
    let data = data_first.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut enc = Command::new("node");
    enc.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kibana_keystore_decrypt.js"))
        .arg("encrypt")
        .arg(data.join("kibana.keystore"));
    let mut child = enc
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        br#"{"elasticsearch.password": "not-kibana-systems-password"}"#,
    )
    .unwrap();
    let out = support::run::wait_output_within(child, Duration::from_secs(60), "keystore encrypt");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::set_permissions(
        data.join("kibana.keystore"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = kv.check(&data_first, &[]);
    failed(&out, 5, "security_exception");

    // The stand-in's schema rules can fail: `elasticsearch.username: elastic` is refused.
    let elastic_user = variant(&home, root.path(), "kibana-elastic-user", &kv.user, |y| {
        y.replace("kibana_system", "elastic")
    });
    failed(
        &kv.check(&elastic_user, &[]),
        2,
        "value of \"elastic\" is forbidden",
    );

    // Browsers: Kibana's HTTPS server (server.ssl.* with Kibana's TLS defaults, on the public
    // URL's port) in a real Chromium.
    let server = kv.serve(&home);
    // Kibana's default protocols: TLSv1.2 and TLSv1.3 offered, TLSv1.1 refused (the client is
    // told to allow it, so the refusal is the server's).
    let kaddr = format!("127.0.0.2:{kport}");
    for (proto, ok) in [("-tls1_2", true), ("-tls1_3", true), ("-tls1_1", false)] {
        let out = support::run::output_within(
            Command::new("openssl")
                .args(["s_client", "-connect", &kaddr, proto])
                .args(["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile"])
                .arg(kconf.join("certs/ca.crt")),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.success(), ok, "{proto}: {}", text(&out));
        if ok {
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("Verify return code: 0 (ok)"),
                "{proto}: {}",
                text(&out)
            );
        }
    }
    if chromium_available() {
        let ca = kconf.join("certs/ca.crt");
        let trusting = browser_home(&root.path().join("browser-ca"), Some(&ca));
        let bare = browser_home(&root.path().join("browser-bare"), None);
        let page = chromium(&trusting, &format!("{public_url}/"), None);
        assert!(
            String::from_utf8_lossy(&page.stdout).contains("kibana-view ok"),
            "the page did not load with our CA trusted: {}",
            text(&page)
        );
        let page = chromium(&bare, &format!("{public_url}/"), None);
        assert!(
            String::from_utf8_lossy(&page.stderr).contains("ERR_CERT_AUTHORITY_INVALID")
                && !String::from_utf8_lossy(&page.stdout).contains("kibana-view ok"),
            "without our CA: {}",
            text(&page)
        );
        let page = chromium(
            &trusting,
            &format!("https://not-in-sans.example:{kport}/"),
            Some("not-in-sans.example"),
        );
        assert!(
            String::from_utf8_lossy(&page.stderr).contains("ERR_CERT_COMMON_NAME_INVALID")
                && !String::from_utf8_lossy(&page.stdout).contains("kibana-view ok"),
            "a name not in the SANs: {}",
            text(&page)
        );
    }
    drop(server);

    // The server key unreadable by Kibana's user: the server cannot start (EACCES).
    let key = kconf.join("certs/kibana-server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", &kv.user, "--", "env"])
        .arg(format!("NODE_PATH={}", kv.modules.display()))
        .arg("node")
        .arg(&kv.script)
        .args(["serve", "--seconds", "5", "--home"])
        .arg(&home);
    let out = support::run::output_within(&mut cmd, Duration::from_secs(60));
    failed(&out, 2, "cannot read server.ssl.key");
    failed(&out, 2, "EACCES");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();

    // Kibana's config dir under a directory its user cannot enter: Kibana could not read what
    // es-secure writes there (the stand-in gets EACCES), so es-secure refuses and rolls back.
    let locked_root = root.path().join("locked");
    std::fs::create_dir(&locked_root).unwrap();
    let locked = kibana_home(&locked_root, "kibana", &kv.user);
    std::fs::set_permissions(&locked_root, std::fs::Permissions::from_mode(0o700)).unwrap();
    failed(&kv.check(&locked, &[]), 2, "EACCES");
    let yml_before = std::fs::read(locked.join("config/kibana.yml")).unwrap();
    let out = apply_output(
        &node,
        state.path(),
        "https",
        &locked.join("config"),
        &public_url,
        &keep,
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("Kibana's service user `{}` cannot read", kv.user)),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(locked.join("config/kibana.yml")).unwrap(),
        yml_before,
        "kibana.yml was not rolled back"
    );
    assert!(!locked.join("config/certs/kibana-server.key").exists());

    node.stop().unwrap();
}
