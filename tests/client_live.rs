//! The ES client and the temporary file-realm superuser against a REAL Elasticsearch 8 node
//! from the integ-test zip: security on, HTTP without TLS, on 127.0.0.1.
//!
//! Needs `ES_SECURE_TEST_ZIP_8` (path to `elasticsearch-8.x.zip`) and `ES_SECURE_TEST_JAVA_8`
//! (a Java 17 home). Without them the live test prints SKIPPED and passes. As root, the node
//! runs as `ES_SECURE_TEST_USER` (default `esclient`, e.g. `useradd -r -m esclient`) because
//! Elasticsearch refuses to run as root.
//!
//! The node launcher below is deliberately minimal and self-contained; it is meant to be
//! replaced by the shared harness (tests/support/es.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use es_secure::shell::es_client::{Credentials, EsClient, EsError, Trust};
use es_secure::shell::file_realm::TempSuperuser;
use zeroize::Zeroizing;

/// A node started by this test, stopped (its whole process group) on drop.
struct Node {
    _dir: tempfile::TempDir,
    home: PathBuf,
    port: u16,
    child: Child,
}

impl Node {
    fn config_dir(&self) -> PathBuf {
        self.home.join("config")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        ["stdout.log", "stderr.log"]
            .iter()
            .map(|f| {
                let log = fs::read_to_string(self.home.join(f)).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!(
                    "--- {f}\n{}",
                    lines[lines.len().saturating_sub(40)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The launcher JVM starts the server JVM as its child; signal the whole group, which
        // holds only processes this test started.
        let pgid = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Two free adjacent ports (HTTP, transport) in 19400–19499, spread by pid so parallel
/// runs rarely collide.
fn free_ports() -> u16 {
    let start = 19400 + (std::process::id() % 25) as u16 * 2;
    (0..50u16)
        .map(|i| 19400 + (start - 19400 + i * 2) % 100)
        .find(|p| {
            TcpListener::bind(("127.0.0.1", *p)).is_ok()
                && TcpListener::bind(("127.0.0.1", *p + 1)).is_ok()
        })
        .expect("no free port pair in 19400-19499")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Unzip, configure and start a node; wait until it answers HTTP. None when not configured.
fn start_node() -> Option<Node> {
    let (Ok(zip), Ok(java)) = (
        std::env::var("ES_SECURE_TEST_ZIP_8"),
        std::env::var("ES_SECURE_TEST_JAVA_8"),
    ) else {
        eprintln!(
            "\n*** SKIPPED client_live: set ES_SECURE_TEST_ZIP_8 (integ-test zip) and \
             ES_SECURE_TEST_JAVA_8 (Java 17 home) to run it against a real Elasticsearch ***\n"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    run(Command::new("unzip")
        .args(["-q", &zip, "-d"])
        .arg(dir.path()));
    let home = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let port = free_ports();
    let yml = format!(
        "cluster.name: es-secure-client-test\nnode.name: client-test\n\
         network.host: 127.0.0.1\nhttp.port: {port}\ntransport.port: {}\n\
         discovery.type: single-node\nxpack.security.enabled: true\n\
         xpack.security.http.ssl.enabled: false\nxpack.security.transport.ssl.enabled: false\n",
        port + 1
    );
    fs::write(home.join("config/elasticsearch.yml"), yml).unwrap();
    let jvm = home.join("config/jvm.options.d/heap.options");
    fs::write(jvm, "-Xms256m\n-Xmx256m\n").unwrap();

    let mut cmd = Command::new(home.join("bin/elasticsearch"));
    // ES 8 reads ES_JAVA_HOME (JAVA_HOME is ignored with a warning); the zip has no JDK.
    cmd.env("ES_JAVA_HOME", &java)
        .env("ES_JAVA_OPTS", "-Xms256m -Xmx256m")
        .env_remove("ES_PATH_CONF")
        .current_dir(&home)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(fs::File::create(home.join("stdout.log")).unwrap())
        .stderr(fs::File::create(home.join("stderr.log")).unwrap());
    if nix::unistd::geteuid().is_root() {
        let name = std::env::var("ES_SECURE_TEST_USER").unwrap_or_else(|_| "esclient".into());
        let user = nix::unistd::User::from_name(&name)
            .unwrap()
            .unwrap_or_else(|| panic!("running as root needs user {name}: useradd -r -m {name}"));
        run(Command::new("chown").args([
            "-R",
            &format!("{}:{}", user.uid, user.gid),
            dir.path().to_str().unwrap(),
        ]));
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let child = cmd.spawn().unwrap();
    let node = Node {
        _dir: dir,
        home,
        port,
        child,
    };
    let client = EsClient::new(&node.url(), Trust::PlainHttp).unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if client.status_anonymous().is_ok() {
            return Some(node);
        }
        assert!(
            Instant::now() < deadline,
            "node did not start; log tail:\n{}",
            node.log_tail()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn snapshot(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(dir.join("users")).unwrap(),
        fs::read(dir.join("users_roles")).unwrap(),
    )
}

#[test]
fn unreachable_port_is_explained() {
    // A port that was free a moment ago: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    let e = c.health().unwrap_err();
    assert!(matches!(e, EsError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("is Elasticsearch running"), "{text}");
    assert!(text.contains("systemctl status elasticsearch"), "{text}");
    let e = c
        .wait_healthy(Duration::from_secs(2), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("not healthy after"), "{e}");
}

#[test]
fn live_node_health_auth_and_file_realm() {
    let Some(node) = start_node() else { return };
    let config = node.config_dir();
    let anon = EsClient::new(&node.url(), Trust::PlainHttp).unwrap();

    // Anonymous: secured node answers 401; an authenticated call without credentials says so.
    assert_eq!(anon.status_anonymous().unwrap(), 401);
    let e = anon.health().unwrap_err();
    assert!(
        matches!(e, EsError::Unauthorized { user: None, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("no credentials"), "{e}");

    // Existing file-realm lines must survive byte for byte.
    fs::write(config.join("users_roles"), "viewer:someone\n").unwrap();
    let before = snapshot(&config);

    // A fresh file-realm superuser; ES needs up to one reload interval (5 s) to see it.
    let temp = TempSuperuser::create(&config).unwrap();
    let admin = anon.with_credentials(temp.credentials());
    let started = Instant::now();
    let who = admin
        .authenticate_retrying(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", node.log_tail()));
    eprintln!(
        "temp superuser {} authenticated after {:?} via realm {} with roles {:?}",
        who.username,
        started.elapsed(),
        who.realm,
        who.roles
    );
    assert_eq!(who.username, temp.username());
    assert!(who.roles.iter().any(|r| r == "superuser"), "{who:?}");

    let mut progress = Vec::new();
    let health = admin
        .wait_healthy(Duration::from_secs(60), &mut |s| {
            progress.push(s.to_string())
        })
        .unwrap_or_else(|e| panic!("{e}\nprogress: {progress:?}"));
    assert!(
        health.status == "green" || health.status == "yellow",
        "{health:?}"
    );
    assert_eq!(admin.health().unwrap().number_of_nodes, 1);
    // HTTP TLS is off here; the call must still work and parse.
    let certs = admin.ssl_certificates().unwrap();
    eprintln!("ssl certificates: {certs:?}");

    // Wrong password: 401 naming the user.
    let wrong = anon.with_credentials(Credentials {
        username: temp.username().to_string(),
        password: Zeroizing::new("definitely-not-the-password".into()),
    });
    let e = wrong.authenticate().unwrap_err();
    assert!(matches!(e, EsError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains(temp.username()), "{e}");
    assert!(!e.to_string().contains("definitely-not"), "{e}");

    // change_password needs the .security index. The bare integ-test zip lacks
    // analysis-common, so creating that index fails; the error must say exactly why.
    let new_pw = Zeroizing::new("Kibana-System-Pass-123".to_string());
    match admin.change_password("kibana_system", &new_pw) {
        Ok(()) => {
            eprintln!("change_password succeeded (analysis-common or its shim is installed)");
            let kibana = anon.with_credentials(Credentials {
                username: "kibana_system".into(),
                password: new_pw.clone(),
            });
            assert_eq!(kibana.authenticate().unwrap().username, "kibana_system");
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!("change_password error: {text}");
            assert!(matches!(e, EsError::Status { code: 400, .. }), "{e:?}");
            assert!(
                text.contains("Unknown filter type [pattern_capture]"),
                "{text}"
            );
            assert!(text.contains("kibana_system"), "{text}");
            assert!(!text.contains("Kibana-System-Pass"), "{text}");
        }
    }

    // Removal restores both files exactly; after the next reload the user is gone.
    temp.remove().unwrap();
    assert_eq!(snapshot(&config), before);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin.authenticate() {
            Err(EsError::Unauthorized { .. }) => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "removed user still works: {other:?}"
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
