//! Proves the real-Elasticsearch harness itself (tests/support/es.rs) against the pinned
//! integ-test-zips: nodes start on 8.x and 9.x, a 3-node cluster forms, the `es-shim`
//! plugin makes password changes work, first-start auto-configuration behaves as the
//! docs say, and the security CLI tools run. Each test prints its wall times.
//!
//! Needs `scripts/test-env.sh` (as root); without it every test prints SKIPPED and passes
//! (set `ES_SECURE_TEST_REQUIRE=1` to make that a failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::es::{self, Cluster, EsVersion, Node, Security, say};

/// Resident memory of the ES server process, in MB, from /proc.
fn rss_mb(node: &Node) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid()?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn v8_single_node_unsecured_starts_and_answers() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "v8_unsecured")
        .build()
        .unwrap();
    let took = node.start_and_wait(es::ready_timeout()).unwrap();

    let health = node
        .wait_for_status(None, "green", Duration::from_secs(60))
        .unwrap();
    assert_eq!(health["number_of_nodes"], 1);
    assert_eq!(health["cluster_name"], "v8_unsecured");
    assert!(
        node.http_url().starts_with("http://"),
        "{}",
        node.http_url()
    );

    let info = node.get("/_nodes/_local", None).unwrap().json().unwrap();
    let n = info["nodes"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(n["version"], EsVersion::V8.version());
    let plugins: Vec<&str> = n["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(plugins, ["es-shim"], "only the test shim is a plugin");

    // The zip has no rest-root module: `GET /` has no handler (only HEAD-less 405).
    let root = node.get("/", None).unwrap();
    say(&format!(
        "8.x GET / without rest-root: HTTP {}",
        root.status
    ));

    say(&format!(
        "TIMING v8 single node: ready in {:.1}s, RSS {:?} MB",
        took.as_secs_f64(),
        rss_mb(&node)
    ));
    let t = Instant::now();
    node.stop().unwrap();
    assert!(!node.is_running());
    say(&format!(
        "TIMING v8 stop: {:.1}s",
        t.elapsed().as_secs_f64()
    ));
}

#[test]
fn v8_three_node_cluster_forms_on_three_loopback_addresses() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut cluster = Cluster::build(EsVersion::V8, "v8_three_nodes", 3, |b| b).unwrap();
    let hosts: Vec<String> = cluster.nodes.iter().map(|n| n.host().to_string()).collect();
    assert_eq!(hosts, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]);

    let t = Instant::now();
    cluster.start_all(es::ready_timeout() * 2).unwrap();
    let health = cluster.wait_formed(None, Duration::from_secs(180)).unwrap();
    assert_eq!(health["number_of_nodes"], 3);
    let rss: Vec<Option<u64>> = cluster.nodes.iter().map(rss_mb).collect();
    say(&format!(
        "TIMING v8 3-node cluster formed in {:.1}s, RSS MB {rss:?}",
        t.elapsed().as_secs_f64()
    ));

    // Every node sees the same three members.
    for n in &cluster.nodes {
        let nodes = n.get("/_cat/nodes?h=name&s=name", None).unwrap();
        assert_eq!(
            nodes.body.split_whitespace().collect::<Vec<_>>(),
            ["node-1", "node-2", "node-3"]
        );
    }
    cluster.stop_all().unwrap();
}

/// The core shim proof on 8.x: with security on, the native realm works, so passwords can
/// be changed through the API and with `elasticsearch-reset-password`, and they survive a
/// restart through `restart_command()`.
#[test]
fn v8_security_with_shim_changes_passwords() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "v8_shim_passwords")
        .security(Security::Enabled)
        .build()
        .unwrap();
    node.add_file_user("admin", "admin-password-1", &["superuser"])
        .unwrap();
    node.set_bootstrap_password("bootstrap-pw-1").unwrap();
    let took = node.start_and_wait(es::ready_timeout()).unwrap();
    let admin = Some(("admin", "admin-password-1"));

    // Right after start-up security may still be initialising (503) for a moment.
    let t0 = Instant::now();
    let me = loop {
        let r = node.get("/_security/_authenticate", admin).unwrap();
        if r.status == 200 || t0.elapsed() > std::time::Duration::from_secs(60) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json().unwrap()["authentication_realm"]["type"], "file");
    // bootstrap.password logs in as elastic until elastic has a stored password.
    let t0 = Instant::now();
    let boot = loop {
        let r = node
            .get(
                "/_security/_authenticate",
                Some(("elastic", "bootstrap-pw-1")),
            )
            .unwrap();
        if r.status == 200 || t0.elapsed() > std::time::Duration::from_secs(60) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    assert_eq!(boot.status, 200, "{}", boot.body);

    // Creates the .security index: this is what fails without the shim.
    let t = Instant::now();
    let r = node
        .post_json(
            "/_security/user/kibana_system/_password",
            admin,
            &json!({"password": "kibana-system-pw-1"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    say(&format!(
        "TIMING first password change (creates .security): {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    let kib = node
        .get(
            "/_security/_authenticate",
            Some(("kibana_system", "kibana-system-pw-1")),
        )
        .unwrap();
    assert_eq!(kib.status, 200, "{}", kib.body);
    assert_eq!(kib.json().unwrap()["username"], "kibana_system");

    // elastic via the bootstrap password, changing its own password.
    let r = node
        .post_json(
            "/_security/user/elastic/_password",
            Some(("elastic", "bootstrap-pw-1")),
            &json!({"password": "elastic-pw-1"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        node.get(
            "/_security/_authenticate",
            Some(("elastic", "bootstrap-pw-1"))
        )
        .unwrap()
        .status,
        401,
        "bootstrap password must stop working once elastic has a stored password"
    );

    // The stock CLI tool (temporary file-realm superuser + the same API) now works too.
    let t = Instant::now();
    let url = node.http_url();
    let out = node
        .tool(
            "reset-password",
            &["-u", "kibana_system", "--url", &url, "-b", "-s", "-a"],
        )
        .unwrap();
    assert!(out.status.success(), "reset-password: {out:?}");
    let generated = stdout(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        generated.len() >= 20,
        "unexpected tool output {:?}",
        stdout(&out)
    );
    say(&format!(
        "TIMING elasticsearch-reset-password: {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    assert_eq!(
        node.get(
            "/_security/_authenticate",
            Some(("kibana_system", &generated))
        )
        .unwrap()
        .status,
        200
    );

    // restart_command() is what es-secure's `restart: command` answer runs.
    let t = Instant::now();
    let out = support::run::output(
        std::process::Command::new("sh").args(["-c", &node.restart_command()]),
    );
    assert!(out.status.success(), "restart: {out:?}");
    node.wait_ready(es::ready_timeout()).unwrap();
    say(&format!(
        "TIMING restart via restart_command(): {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    node.wait_for_status(admin, "green", Duration::from_secs(120))
        .unwrap();
    assert_eq!(
        node.get(
            "/_security/_authenticate",
            Some(("elastic", "elastic-pw-1"))
        )
        .unwrap()
        .status,
        200,
        "stored password survives the restart"
    );
    say(&format!(
        "TIMING v8 secured node ready in {:.1}s, RSS {:?} MB",
        took.as_secs_f64(),
        rss_mb(&node)
    ));
    node.stop().unwrap();
}

/// Documents the stock problem the shim solves: without it the .security index cannot be
/// created, so any native-realm write fails.
#[test]
fn v8_without_shim_password_change_fails() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "v8_no_shim")
        .security(Security::Enabled)
        .without_shim()
        .build()
        .unwrap();
    node.add_file_user("admin", "admin-password-1", &["superuser"])
        .unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();
    let r = node
        .post_json(
            "/_security/user/kibana_system/_password",
            Some(("admin", "admin-password-1")),
            &json!({"password": "kibana-system-pw-1"}),
        )
        .unwrap();
    say(&format!("8.x without shim: HTTP {} {}", r.status, r.body));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("pattern_capture"), "{}", r.body);
    node.stop().unwrap();
}

/// A fresh copy with neither `xpack.security.enabled` nor `network.host`: the start script
/// auto-configures security on the first start (TLS on HTTP, the marked block,
/// `http.host: 0.0.0.0`).
#[test]
fn v8_first_start_runs_security_autoconfiguration() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "v8_autoconfig")
        .security(Security::Unset)
        .without_network_host()
        .build()
        .unwrap();
    let before = node.read_config().unwrap();
    assert!(!before.contains("BEGIN SECURITY AUTO CONFIGURATION"));
    node.start_and_wait(es::ready_timeout()).unwrap();

    let after = node.read_config().unwrap();
    say(&format!(
        "8.x auto-configured elasticsearch.yml tail:\n{}",
        &after[before.len()..]
    ));
    assert!(after.contains("#----------------------- BEGIN SECURITY AUTO CONFIGURATION"));
    assert!(after.contains("xpack.security.enabled: true"));
    assert!(after.contains("http.host: 0.0.0.0"));
    assert!(node.config_dir().join("certs/http_ca.crt").is_file());
    assert!(node.config_dir().join("certs/http.p12").is_file());
    assert!(
        node.http_url().starts_with("https://"),
        "{}",
        node.http_url()
    );
    assert_eq!(node.get("/_cluster/health", None).unwrap().status, 401);
    node.stop().unwrap();
}

/// 9.x starts with security and the shim, and the native realm works there too.
#[test]
fn v9_secured_node_starts_and_changes_a_password() {
    if !es::available(EsVersion::V9) {
        return;
    }
    let mut node = Node::builder(EsVersion::V9, "v9_shim_passwords")
        .security(Security::Enabled)
        .build()
        .unwrap();
    node.add_file_user("admin", "admin-password-1", &["superuser"])
        .unwrap();
    let took = node.start_and_wait(es::ready_timeout()).unwrap();
    let admin = Some(("admin", "admin-password-1"));

    let info = node.get("/_nodes/_local", admin).unwrap().json().unwrap();
    let n = info["nodes"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(n["version"], EsVersion::V9.version());

    let r = node
        .post_json(
            "/_security/user/kibana_system/_password",
            admin,
            &json!({"password": "kibana-system-pw-9"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        node.get(
            "/_security/_authenticate",
            Some(("kibana_system", "kibana-system-pw-9"))
        )
        .unwrap()
        .status,
        200
    );
    let url = node.http_url();
    let out = node
        .tool(
            "reset-password",
            &["-u", "elastic", "--url", &url, "-b", "-s", "-a"],
        )
        .unwrap();
    assert!(out.status.success(), "reset-password: {out:?}");
    let pw = stdout(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert_eq!(
        node.get("/_security/_authenticate", Some(("elastic", &pw)))
            .unwrap()
            .status,
        200
    );
    say(&format!(
        "TIMING v9 secured node ready in {:.1}s, RSS {:?} MB",
        took.as_secs_f64(),
        rss_mb(&node)
    ));
    node.stop().unwrap();
}

/// The security CLI tools ship in bin/ of both zips and run offline (no node needed).
#[test]
fn security_cli_tools_exist_and_run() {
    for v in [EsVersion::V8, EsVersion::V9] {
        if !es::available(v) {
            continue;
        }
        let node = Node::builder(v, "cli_tools").build().unwrap();
        for tool in [
            "certutil",
            "reset-password",
            "users",
            "keystore",
            "setup-passwords",
            "service-tokens",
            "create-enrollment-token",
        ] {
            assert!(
                node.home()
                    .join(format!("bin/elasticsearch-{tool}"))
                    .is_file(),
                "{} lacks bin/elasticsearch-{tool}",
                v.version()
            );
        }
        let t = Instant::now();
        let ca = node.root().join("run/ca.zip");
        node.tool_ok(
            "certutil",
            &["ca", "--silent", "--pem", "--out", ca.to_str().unwrap()],
        )
        .unwrap();
        assert!(ca.is_file());
        node.add_file_user("someone", "someone-pw-1", &["superuser"])
            .unwrap();
        let users = node.tool_ok("users", &["list"]).unwrap();
        assert!(stdout(&users).contains("someone"), "{users:?}");
        assert!(
            std::fs::read_to_string(node.config_dir().join("users"))
                .unwrap()
                .contains("someone:$2a$")
        );
        say(&format!(
            "TIMING {} certutil ca + users useradd + list: {:.1}s",
            v.version(),
            t.elapsed().as_secs_f64()
        ));
    }
}
