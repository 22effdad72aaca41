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
use support::es_secure::{self, state_dir};

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
        let problem = if !support::run::succeeds(Command::new("node").arg("--version")) {
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
        support::run::succeeds(Command::new("sh").args(["-c", &format!("command -v {c}")]))
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

/// A TCP forwarder from `127.0.0.3:<port>` (returned) to `to`, for the life of the test: the
/// node is reached at an IP address its certificate does not name.
fn forward_from_127_0_0_3(to: std::net::SocketAddr) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            let Ok(server) = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5))
            else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// The names of the tokens of the service account `elastic/kibana` in the security index.
fn kibana_tokens(node: &Node, elastic: &str) -> Vec<String> {
    let r = node
        .get(
            "/_security/service/elastic/kibana/credential",
            Some(("elastic", elastic)),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let mut names: Vec<String> = v["tokens"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
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

/// `es-secure apply --yes` for `tier` with a `kibana:` section.
fn apply_output(
    node: &Node,
    state: &Path,
    tier: &str,
    kibana_config: &Path,
    public_url: &str,
    extra: &str,
) -> Output {
    apply_output_env(node, state, tier, kibana_config, public_url, extra, "", &[])
}

/// [`apply_output`] with more keys under `kibana:` (`kibana_extra`, indented lines) and
/// environment variables (fault injection).
#[allow(clippy::too_many_arguments)]
fn apply_output_env(
    node: &Node,
    state: &Path,
    tier: &str,
    kibana_config: &Path,
    public_url: &str,
    extra: &str,
    kibana_extra: &str,
    env: &[(&str, &str)],
) -> Output {
    let extra = format!(
        "{extra}kibana:\n  config_dir: {}\n  public_url: {public_url}\n{kibana_extra}",
        kibana_config.display()
    );
    let path = es_secure::answers_file(
        node,
        &[node],
        tier,
        state,
        &extra,
        &format!("answers-{tier}.yml"),
    );
    let args = ["apply", "--yes", "--answers", path.to_str().unwrap()];
    es_secure::output(node, state, &args, env).0
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

/// One node for every case (a 2-core machine): a minimal apply with Kibana (http hosts), a
/// basic one (transport TLS), then https (hosts, CA, server TLS) — after each, Kibana's view
/// authenticates as kibana_system; then the negative cases, each failing for its own reason;
/// last a service account token instead of the password (with its fault cases).
#[test]
fn kibana_view_8x_after_minimal_basic_https_and_token_applies() {
    kibana_view_case(EsVersion::V8);
}

/// The same against 9.x, with the 9.x client (what Kibana 9 ships).
#[test]
fn kibana_view_9x_after_minimal_basic_https_and_token_applies() {
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
        .started();

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

    // The passwords are kept from here on (already set), authenticated with elastic's.
    let elastic = es_secure::elastic_password(state.path());
    std::fs::write(state.path().join("elastic.pw"), &elastic).unwrap();
    let keep = format!(
        "auth:\n  method: elastic-password\n  elastic_password: file:{}/elastic.pw\n",
        state.path().display()
    );

    // basic: transport TLS (a restart); Kibana still reaches Elasticsearch over http with
    // kibana_system's password.
    apply(
        &node,
        state.path(),
        "basic",
        &kconf,
        "http://localhost:5601",
        &keep,
    );
    let v = passed(&kv.check(&home, &[]));
    assert_eq!(v["username"], "kibana_system", "{v}");
    assert!(
        v["hosts"][0].as_str().unwrap().starts_with("http://"),
        "{v}"
    );

    // https: hosts, CA and Kibana's server TLS.
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

    // Elasticsearch reached at an IP address its HTTP certificate does not name (127.0.0.3,
    // forwarded to the node): with `full` Kibana's client refuses the certificate for the
    // name, with `certificate` (chain only) it connects and authenticates.
    let port = node.http_port();
    let fwd = forward_from_127_0_0_3(std::net::SocketAddr::from((node.host(), port)));
    let at_ip = |y: &str| {
        let from = format!("{}:{port}", node.host());
        assert!(y.contains(&from), "kibana.yml does not name {from}:\n{y}");
        y.replace(&from, &format!("127.0.0.3:{fwd}"))
    };
    let ip_full = variant(&home, root.path(), "kibana-ip-full", &kv.user, at_ip);
    failed(
        &kv.check(&ip_full, &[]),
        4,
        "Hostname/IP does not match certificate's altnames: IP: 127.0.0.3 is not in the cert's list",
    );
    let ip_cert = variant(&home, root.path(), "kibana-ip-certificate", &kv.user, |y| {
        assert!(y.contains("verificationMode: full"), "{y}");
        at_ip(y).replace("verificationMode: full", "verificationMode: certificate")
    });
    let v = passed(&kv.check(&ip_cert, &[]));
    assert_eq!(v["username"], "kibana_system", "{v}");
    assert_eq!(v["verificationMode"], "certificate", "{v}");

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

    service_token_case(
        &kv,
        &node,
        state.path(),
        &home,
        &public_url,
        &keep,
        &elastic,
    );

    node.stop().unwrap();
}

/// `kibana.es_auth: service-token` on the same node: a REST fault after the token is created
/// rolls it back (deleted); a SIGKILL there leaves it, and the next run deletes it and
/// creates the one kibana.keystore holds; Kibana's view authenticates as `elastic/kibana`
/// with it; a re-run has nothing to do.
fn service_token_case(
    kv: &KibanaView,
    node: &Node,
    state: &Path,
    home: &Path,
    public_url: &str,
    keep: &str,
    elastic: &str,
) {
    let kconf = home.join("config");
    let token = "  es_auth: service-token\n";
    let apply_token = |env: &[(&str, &str)]| {
        apply_output_env(node, state, "https", &kconf, public_url, keep, token, env)
    };
    assert!(kibana_tokens(node, elastic).is_empty());
    if cfg!(feature = "fault-injection") {
        // The passwords are current and es-secure authenticates as elastic: the token's
        // creation is the run's first side-effect point.
        let out = apply_token(&[("ES_SECURE_FAULT_REST_AT", "1")]);
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("a service account token created, not yet in kibana.keystore")
                && err.contains("deleted the service account token"),
            "{}",
            text(&out)
        );
        assert!(
            kibana_tokens(node, elastic).is_empty(),
            "the rollback left the token"
        );

        let out = apply_token(&[
            ("ES_SECURE_FAULT_REST_AT", "1"),
            ("ES_SECURE_FAULT_REST_MODE", "kill"),
        ]);
        assert_eq!(out.status.code(), None, "not killed: {}", text(&out));
        let left = kibana_tokens(node, elastic);
        assert_eq!(left.len(), 1, "the killed run created one token: {left:?}");
        let out = apply_output_env(node, state, "https", &kconf, public_url, keep, token, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let all = text(&out);
        assert!(
            all.contains("an earlier run was interrupted") && all.contains("deleted the token"),
            "{all}"
        );
        assert_eq!(
            kibana_tokens(node, elastic),
            left,
            "one token, of the same name"
        );
    } else {
        support::skip("the token's fault cases: build with --features fault-injection");
        let out = apply_token(&[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let names = kibana_tokens(node, elastic);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("es-secure-"), "{names:?}");

    // Kibana's view, as its user: the token from kibana.keystore, no username anywhere.
    let v = passed(&kv.check(home, &[]));
    assert_eq!(v["username"], "elastic/kibana", "{v}");
    assert_eq!(v["token"]["name"], names[0].as_str(), "{v}");
    assert_eq!(v["token"]["type"], "_service_account_index", "{v}");
    let entries = v["keystoreEntries"].as_array().unwrap();
    assert!(
        entries.contains(&serde_json::json!("elasticsearch.serviceAccountToken"))
            && !entries.contains(&serde_json::json!("elasticsearch.password")),
        "{v}"
    );
    let yml = std::fs::read_to_string(kconf.join("kibana.yml")).unwrap();
    assert!(
        !yml.lines().any(|l| l.starts_with("elasticsearch.username"))
            && !yml.contains("serviceAccountToken"),
        "{yml}"
    );

    // Re-run: the token authenticates, nothing to do, no new token.
    let out = apply_token(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("credential/token"), "{}", text(&out));
    assert_eq!(kibana_tokens(node, elastic), names);
    assert_eq!(passed(&kv.check(home, &[]))["username"], "elastic/kibana");

    // `es-secure verify` checks the token Kibana will send: it passes with the keystore's
    // token, and fails, naming the keystore, once Elasticsearch no longer knows the token.
    let row = "Kibana's service token authenticates as elastic/kibana";
    let out = verify_output(node, state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("[PASS] {row}")),
        "{}",
        text(&out)
    );
    let path = format!(
        "/_security/service/elastic/kibana/credential/token/{}",
        names[0]
    );
    let r = node
        .request("DELETE", &path, Some(("elastic", elastic)), None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let out = verify_output(node, state);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("[FAIL] {row}")) && stdout.contains("refused the token"),
        "{}",
        text(&out)
    );
    // The next apply sees the refused token and creates a new one (same name: the old one is
    // gone); Kibana's view authenticates with what kibana.keystore now holds.
    let out = apply_token(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(kibana_tokens(node, elastic), names);
    assert_eq!(passed(&kv.check(home, &[]))["username"], "elastic/kibana");
    let out = verify_output(node, state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// `es-secure verify` with the answers of the last https apply ([`apply_output_env`] wrote them).
fn verify_output(node: &Node, state: &Path) -> Output {
    let answers = state.join("answers-https.yml");
    let mut cmd = es_secure::command(
        node,
        state,
        &["verify", "--answers", answers.to_str().unwrap()],
    );
    support::run::output_within(&mut cmd, Duration::from_secs(300))
}
