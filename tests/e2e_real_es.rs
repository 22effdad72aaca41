//! End-to-end: the real `es-secure` binary against real Elasticsearch nodes started by the
//! harness (`tests/support/es.rs`, prepared by `scripts/test-env.sh`). No mock anywhere:
//! every tier claim is checked on a live node — restart, health, password resets, anonymous
//! 401, each built-in user authenticating, TLS with our CA, a three-node cluster forming.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::es::{self, Cluster, EsVersion, Node, Security, say};
use support::es_secure::{Run, USERS, config_tree, passwords, run as es_secure, state_dir, tree};
use support::run::curl;

/// Answers for a single node (or `node` of `all` in a cluster), restarted through the
/// harness's restart script.
fn answers(node: &Node, all: &[&Node], tier: &str, state: &Path, extra: &str) -> PathBuf {
    let file = format!("answers-{}-{tier}.yml", node.name());
    support::es_secure::answers_file(node, all, tier, state, extra, &file)
}

fn apply(node: &Node, state: &Path, answers: &Path) -> Run {
    let run = support::es_secure::apply(node, state, answers);
    // The tool's own time next to the restart (issue: performance) — reported, not asserted.
    if let Some(line) = run.stdout.lines().find(|l| l.starts_with("Took ")) {
        say(&format!("TIMING {}: {line}", node.name()));
        // The step log, for scripts/bench-apply.sh: which step took the tool's time.
        if std::env::var_os("ES_SECURE_E2E_BIN").is_some() {
            for l in run
                .stderr
                .lines()
                .filter(|l| l.starts_with('[') || l.contains("done ("))
            {
                say(&format!("TIMING   {l}"));
            }
        }
    }
    run
}

fn assert_secured(node: &Node, pw: &BTreeMap<String, String>) {
    assert_eq!(node.get("/_cluster/health", None).unwrap().status, 401);
    for user in USERS {
        let p = pw
            .get(user)
            .unwrap_or_else(|| panic!("no password for {user}"));
        assert!(p.len() >= 20, "generated password for {user} is too short");
        let r = node
            .get("/_security/_authenticate", Some((user, p)))
            .unwrap();
        assert_eq!(r.status, 200, "{user}: {}", r.body);
        assert_eq!(r.json().unwrap()["username"], user);
    }
    let r = node
        .get(
            "/_security/_authenticate",
            Some(("elastic", "wrong-password-123")),
        )
        .unwrap();
    assert_eq!(r.status, 401);
}

fn index_docs(node: &Node, auth: Option<(&str, &str)>, n: usize) {
    for i in 0..n {
        let r = node
            .post_json(
                &format!("/books/_doc/{i}?refresh=true"),
                auth,
                &serde_json::json!({ "title": format!("book {i}") }),
            )
            .unwrap();
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
    }
}

fn count_docs(node: &Node, auth: Option<(&str, &str)>) -> u64 {
    let r = node.get("/books/_count", auth).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().unwrap()["count"].as_u64().unwrap()
}

/// A started single 8.x node without security, or `None` (after a loud SKIPPED line) when
/// the real-Elasticsearch environment is missing.
fn unsecured_node(test: &str) -> Option<Node> {
    if !es::available(EsVersion::V8) {
        return None;
    }
    Some(
        Node::builder(EsVersion::V8, test)
            .security(Security::Disabled)
            .started(),
    )
}

/// 1 + 5: minimal on a single unsecured node, then the same answers again.
#[test]
fn minimal_single_node_then_idempotent_rerun() {
    let Some(mut node) = unsecured_node("e2e_minimal") else {
        return;
    };
    let state = state_dir();
    let a = answers(&node, &[&node], "minimal", state.path(), "");

    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("waiting") || run.stderr.contains("yellow"),
        "{run:?}"
    );
    let pw = passwords(state.path());
    assert_secured(&node, &pw);
    // The temporary superuser is gone from the file realm.
    let users = std::fs::read_to_string(node.config_dir().join("users")).unwrap_or_default();
    assert!(
        !users.contains("es_secure"),
        "temporary user left behind: {users}"
    );
    // No generated password reached the output, the plan, ES's logs, the config, the
    // backups or the state — anywhere but the designated 0600 password file.
    let mut haystacks = vec![
        ("stdout".to_string(), run.stdout.clone().into_bytes()),
        ("stderr".to_string(), run.stderr.clone().into_bytes()),
    ];
    for dir in [
        node.config_dir(),
        node.logs_dir(),
        state.path().to_path_buf(),
    ] {
        for (path, bytes) in tree(&dir) {
            if path == state.path().join("passwords.txt") {
                continue;
            }
            haystacks.push((path.display().to_string(), bytes));
        }
    }
    for (user, p) in &pw {
        for (what, bytes) in &haystacks {
            assert!(
                !bytes.windows(p.len()).any(|w| w == p.as_bytes()),
                "{user}'s password found in {what}"
            );
        }
    }

    // Idempotence: same answers → nothing to do, every byte kept, passwords unchanged.
    let before = config_tree(&node);
    let pw_file = std::fs::read(state.path().join("passwords.txt")).unwrap();
    let again = apply(&node, state.path(), &a);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("Nothing to do") || again.stderr.contains("Nothing to do"),
        "{again:?}"
    );
    assert_eq!(before, config_tree(&node));
    assert_eq!(
        pw_file,
        std::fs::read(state.path().join("passwords.txt")).unwrap()
    );
    assert_secured(&node, &pw);

    // `verify` agrees.
    let v = es_secure(
        &node,
        state.path(),
        &["verify", "--answers", a.to_str().unwrap()],
        &[],
    );
    assert_eq!(v.code, 0, "{v:?}");
    node.stop().unwrap();
}

/// 3: HTTPS on a single node; curl with our CA works, without it fails.
#[test]
fn https_single_node_curl_with_and_without_ca() {
    let Some(mut node) = unsecured_node("e2e_https") else {
        return;
    };
    let state = state_dir();
    let a = answers(&node, &[&node], "https", state.path(), "");
    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("SHA-256")
            || run.stderr.contains("SHA-256")
            || run.stdout.contains("fingerprint")
            || run.stderr.contains("fingerprint"),
        "{run:?}"
    );
    let pw = passwords(state.path());
    assert_secured(&node, &pw);

    let ca = node.config_dir().join("certs/ca.crt");
    let url = format!("https://localhost:{}/_cluster/health", node.http_port());
    let elastic = format!("elastic:{}", pw["elastic"]);
    let with_ca = curl(&[
        "--fail",
        "--cacert",
        ca.to_str().unwrap(),
        "-u",
        &elastic,
        &url,
    ]);
    assert!(
        with_ca.status.success(),
        "curl --cacert: {}",
        String::from_utf8_lossy(&with_ca.stderr)
    );
    assert!(String::from_utf8_lossy(&with_ca.stdout).contains("\"status\""));
    let without = curl(&["--fail", "-u", &elastic, &url]);
    assert!(!without.status.success(), "curl without our CA must fail");
    assert_eq!(
        without.status.code(),
        Some(60),
        "expected curl's certificate error (60)"
    );
    // Plain HTTP is gone.
    let plain = curl(&[
        "--fail",
        "-u",
        &elastic,
        &format!("http://127.0.0.1:{}/", node.http_port()),
    ]);
    assert!(!plain.status.success());
    // ES itself reports our certificates.
    let certs = node
        .get("/_ssl/certificates", Some(("elastic", &pw["elastic"])))
        .unwrap();
    assert_eq!(certs.status, 200);
    assert!(certs.body.contains("certs/http.crt"), "{}", certs.body);
    assert!(certs.body.contains("certs/transport.crt"), "{}", certs.body);
    node.stop().unwrap();
}

/// 4: none → minimal → basic → https by three re-runs; the documents survive.
#[test]
fn upgrade_path_none_minimal_basic_https_keeps_documents() {
    let Some(mut node) = unsecured_node("e2e_upgrade") else {
        return;
    };
    index_docs(&node, None, 5);
    let state = state_dir();

    let run = apply(
        &node,
        state.path(),
        &answers(&node, &[&node], "minimal", state.path(), ""),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let pw = passwords(state.path());
    let elastic = Some(("elastic", pw["elastic"].as_str()));
    assert_eq!(count_docs(&node, elastic), 5);

    // Later runs keep the passwords (already set): authenticate with elastic's.
    std::fs::write(state.path().join("elastic.pw"), &pw["elastic"]).unwrap();
    let keep = format!(
        "auth:\n  method: elastic-password\n  elastic_password: file:{}/elastic.pw\n",
        state.path().display()
    );
    for tier in ["basic", "https"] {
        let run = apply(
            &node,
            state.path(),
            &answers(&node, &[&node], tier, state.path(), &keep),
        );
        assert_eq!(run.code, 0, "{tier}: {run:?}");
        assert_eq!(count_docs(&node, elastic), 5, "after {tier}");
        let status = es_secure(&node, state.path(), &["status"], &[]);
        assert!(
            status.stdout.contains(&format!("tier:        {tier}")),
            "{status:?}"
        );
    }
    assert_secured(&node, &pw);
    node.stop().unwrap();
}

/// 2: basic on three nodes (127.0.0.1/.2/.3): per-node certificates, transport TLS with
/// `verification_mode: full`, the cluster forms again; a node with a certificate from a
/// foreign CA is kept out.
#[test]
fn basic_three_node_cluster_and_foreign_ca_is_refused() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut cluster = Cluster::build(EsVersion::V8, "e2e_basic3", 3, |b| {
        b.security(Security::Disabled)
    })
    .unwrap();
    cluster.start_all(es::ready_timeout()).unwrap();
    cluster.wait_formed(None, es::ready_timeout()).unwrap();
    index_docs(&cluster.nodes[0], None, 3);

    // Node-1 holds the CA and writes signed bundles for the others; each other node has its
    // own state directory and applies its bundle with the CA fingerprint node-1 printed.
    // Manual restart: transport TLS needs a full-cluster restart, so every node is configured
    // first, then all are restarted.
    let state = state_dir();
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    let a1 = answers(&cluster.nodes[0], &all, "basic", state.path(), "");
    let text: String = std::fs::read_to_string(&a1)
        .unwrap()
        .replace("restart: command", "restart: manual")
        .lines()
        .filter(|l| !l.contains("restart_command:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&a1, text).unwrap();

    // Full-cluster restart, first the rollback: a files step that fails after allocation was
    // limited (the bundles directory is a file) rolls back and enables allocation again.
    let blocker = state.path().join("bundles");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let run = apply(&cluster.nodes[0], state.path(), &a1);
    assert_eq!(run.code, 4, "node-1 must roll back: {run:?}");
    assert!(
        run.stderr.contains("shard allocation enabled again"),
        "{run:?}"
    );
    assert_eq!(allocation(&cluster.nodes[0], None), None);
    std::fs::remove_file(&blocker).unwrap();

    let run = apply(&cluster.nodes[0], state.path(), &a1);
    assert_eq!(run.code, 7, "node-1: {run:?}");
    assert!(run.stderr.contains("full-cluster restart"), "{run:?}");
    // Elastic's procedure before the stop: allocation limited to primaries (then a flush),
    // on the cluster that still runs unsecured.
    assert!(
        run.stderr
            .contains("PUT _cluster/settings cluster.routing.allocation.enable=primaries"),
        "{run:?}"
    );
    assert_eq!(
        allocation(&cluster.nodes[0], None).as_deref(),
        Some("primaries")
    );
    // The operator changes their mind before restarting: `rollback` restores the files,
    // enables allocation again and leaves neither a pending restart nor a stale
    // "allocation disabled" in the state; the apply after it starts over.
    let rb = es_secure(&cluster.nodes[0], state.path(), &["rollback"], &[]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert!(
        rb.stdout.contains("shard allocation enabled again"),
        "{rb:?}"
    );
    assert_eq!(allocation(&cluster.nodes[0], None), None);
    let st = std::fs::read_to_string(state.path().join("state.json")).unwrap();
    assert!(st.contains("\"allocation_disabled\": false"), "{st}");
    assert!(st.contains("\"restart_pending\": false"), "{st}");
    let run = apply(&cluster.nodes[0], state.path(), &a1);
    assert_eq!(run.code, 7, "node-1 after the rollback: {run:?}");
    assert_eq!(
        allocation(&cluster.nodes[0], None).as_deref(),
        Some("primaries")
    );
    let fp = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CA SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("no CA fingerprint printed: {run:?}"))
        .to_string();
    let mut node_states = Vec::new();
    for node in &cluster.nodes[1..] {
        let bundle = state
            .path()
            .join(format!("bundles/{}.bundle.yml", node.name()));
        // The copy-paste line node-1 printed for this node.
        assert!(
            run.stdout.contains(&format!(
                "es-secure apply --bundle {}.bundle.yml --ca-fingerprint {fp} --yes",
                node.name()
            )),
            "{run:?}"
        );
        let own = state_dir();
        // Without the fingerprint, --yes is refused and nothing is written.
        let before = config_tree(node);
        let refused = es_secure(
            node,
            own.path(),
            &["apply", "--bundle", bundle.to_str().unwrap(), "--yes"],
            &[],
        );
        assert_eq!(refused.code, 3, "{refused:?}");
        assert_eq!(before, config_tree(node));
        let run = es_secure(
            node,
            own.path(),
            &[
                "apply",
                "--bundle",
                bundle.to_str().unwrap(),
                "--ca-fingerprint",
                &fp,
                "--yes",
            ],
            &[],
        );
        assert_eq!(run.code, 7, "{}: {run:?}", node.name());
        assert!(run.stderr.contains("signature verified"), "{run:?}");
        node_states.push(own);
    }
    for node in &cluster.nodes {
        let yml = node.read_config().unwrap();
        assert!(yml.contains("xpack.security.transport.ssl.verification_mode: full"));
        let crt = node.config_dir().join("certs/transport.crt");
        let text = support::run::output(
            Command::new("openssl")
                .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
                .arg(&crt),
        );
        let sans = String::from_utf8_lossy(&text.stdout);
        assert!(
            sans.contains(&format!("IP Address:{}", node.host())),
            "{sans}"
        );
    }
    cluster.stop_all().unwrap();
    cluster.start_all(es::ready_timeout()).unwrap();
    // Finish on node-1: health, the whole cluster (3 nodes over TLS), allocation back to
    // its default with the new credentials, passwords, verify.
    let run = apply(&cluster.nodes[0], state.path(), &a1);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("to have 3 nodes and be yellow or green"),
        "{run:?}"
    );
    let pw = passwords(state.path());
    let elastic = Some(("elastic", pw["elastic"].as_str()));
    assert_eq!(allocation(&cluster.nodes[0], elastic), None);
    let st = std::fs::read_to_string(state.path().join("state.json")).unwrap();
    assert!(st.contains("\"allocation_disabled\": false"), "{st}");
    let health = cluster.wait_formed(elastic, es::ready_timeout()).unwrap();
    assert_eq!(health["number_of_nodes"], 3, "{health}");
    assert_secured(&cluster.nodes[0], &pw);
    assert_eq!(count_docs(&cluster.nodes[0], elastic), 3);

    // Node-2 and node-3 have joined: node-1 deletes its copies of their bundles (which hold
    // their private keys).
    let run = es_secure(
        &cluster.nodes[0],
        state.path(),
        &[
            "apply",
            "--answers",
            a1.to_str().unwrap(),
            "--prune-bundles",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    for node in &cluster.nodes[1..] {
        assert!(
            run.stdout
                .contains(&format!("deleted the bundle of {}", node.name())),
            "{run:?}"
        );
        assert!(
            !state
                .path()
                .join(format!("bundles/{}.bundle.yml", node.name()))
                .exists()
        );
    }

    // Issue 19: renew on the CA host of the running cluster (tier basic: transport only). Not
    // restarted, the new transport certificate loaded within 10 s, requests during the
    // renewal all answered, the cluster green; node-2 restarted afterwards joins through a
    // handshake with node-1's new certificate.
    let n1 = &cluster.nodes[0];
    let pid = n1.pid();
    let crt = n1.config_dir().join("certs/transport.crt");
    let old = file_serial(&crt);
    let (stop, client) = request_loop(
        format!("http://{}:{}", n1.host(), n1.http_port()),
        None,
        pw["elastic"].clone(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let run = es_secure(n1, state.path(), &["renew", "--yes"], &[]);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (oks, failures) = client.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    say(&format!(
        "cluster renew: client loop {oks} ok, {} failed",
        failures.len()
    ));
    assert!(failures.is_empty(), "{failures:?}");
    assert!(oks >= 40, "only {oks} requests");
    assert_eq!(n1.pid(), pid, "node-1 was restarted");
    let new = file_serial(&crt);
    assert_ne!(old, new);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("serves the new certificates after"))
        .unwrap_or_else(|| panic!("{run:?}"));
    let secs: f64 = line
        .split("after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(secs <= 10.0, "{line}");
    let health = cluster.wait_formed(elastic, es::ready_timeout()).unwrap();
    assert_eq!(health["status"], "green", "{health}");
    assert_eq!(health["number_of_nodes"], 3, "{health}");
    cluster.nodes[1].stop().unwrap();
    cluster.nodes[1].start().unwrap();
    let health = cluster.wait_formed(elastic, es::ready_timeout()).unwrap();
    assert_eq!(health["number_of_nodes"], 3, "{health}");
    assert_eq!(count_docs(&cluster.nodes[0], elastic), 3);

    // Issue 19: rotate-ca on the running cluster, phase by phase and node by node: node-1
    // (the CA host) runs each phase and writes a signed rotation bundle for the others, which
    // each run it with the old CA's fingerprint. No node restarts; the cluster is green with
    // 3 nodes and the documents readable after every single step.
    let green = |cluster: &Cluster, what: &str| {
        let r = cluster.nodes[0]
            .get(
                "/_cluster/health?wait_for_status=green&wait_for_nodes=3&timeout=60s",
                elastic,
            )
            .unwrap();
        let h = r.json().unwrap();
        assert_eq!(h["status"], "green", "{what}: {h}");
        assert_eq!(h["number_of_nodes"], 3, "{what}: {h}");
        assert_eq!(count_docs(&cluster.nodes[0], elastic), 3, "{what}");
    };
    let rot_t0 = Instant::now();
    let pids: Vec<Option<i32>> = cluster.nodes.iter().map(|n| n.pid()).collect();
    let a1s = a1.to_str().unwrap().to_string();
    let n3_certs = cluster.nodes[2].config_dir().join("certs");
    let mut old_n3 = Vec::new();
    for phase in ["(a) trust-both", "(b) new-leaves", "(c) drop-old"] {
        if phase.starts_with("(b)") {
            // node-3's old-CA certificate, for the negative check after (c).
            for f in ["transport.crt", "transport.key"] {
                old_n3.push((f, std::fs::read(n3_certs.join(f)).unwrap()));
            }
        }
        let run = es_secure(
            &cluster.nodes[0],
            state.path(),
            &["rotate-ca", "--all", "--answers", &a1s, "--yes"],
            &[],
        );
        assert_eq!(run.code, 0, "node-1 {phase}: {run:?}");
        assert!(
            run.stdout
                .contains(&format!("CA rotation phase {phase} done")),
            "{run:?}"
        );
        assert!(
            run.stdout.contains(&format!("phase {phase} served after")),
            "{run:?}"
        );
        assert!(run.stdout.contains("with 3 node(s)"), "{run:?}");
        green(&cluster, &format!("node-1 {phase}"));
        // Between (b) and (c) the leaves are the new CA's while the state directory's CA is
        // still the old one: status must say so, not call them foreign.
        let st = es_secure(&cluster.nodes[0], state.path(), &["status"], &[]);
        assert!(!st.stdout.contains("NOT signed"), "node-1 {phase}: {st:?}");
        assert_eq!(
            st.stdout
                .contains("signed by the new CA of the CA rotation"),
            phase.starts_with("(b)"),
            "node-1 {phase}: {st:?}"
        );
        for (node, own) in cluster.nodes[1..].iter().zip(&node_states) {
            let bundle = state
                .path()
                .join(format!("bundles/{}.rotate-ca.yml", node.name()));
            assert!(
                run.stdout.contains(&format!(
                    "es-secure rotate-ca --bundle {}.rotate-ca.yml --ca-fingerprint {fp} --yes",
                    node.name()
                )),
                "{run:?}"
            );
            let r = es_secure(
                node,
                own.path(),
                &[
                    "rotate-ca",
                    "--bundle",
                    bundle.to_str().unwrap(),
                    "--ca-fingerprint",
                    &fp,
                    "--yes",
                ],
                &[],
            );
            assert_eq!(r.code, 0, "{} {phase}: {r:?}", node.name());
            assert!(
                r.stdout
                    .contains(&format!("CA rotation phase {phase} done")),
                "{r:?}"
            );
            assert!(
                r.stdout.contains(&format!("phase {phase} served after")),
                "{r:?}"
            );
            let st = es_secure(node, own.path(), &["status"], &[]);
            assert!(st.stdout.contains("CA rotation:   "), "{st:?}");
            assert!(
                !st.stdout.contains("NOT signed"),
                "{} {phase}: {st:?}",
                node.name()
            );
            green(&cluster, &format!("{} {phase}", node.name()));
        }
    }
    let pids_after: Vec<Option<i32>> = cluster.nodes.iter().map(|n| n.pid()).collect();
    assert_eq!(pids, pids_after, "a node was restarted by the rotation");
    let new_ca = std::fs::read_to_string(state.path().join("ca/ca.crt")).unwrap();
    for node in &cluster.nodes {
        let trust = std::fs::read_to_string(node.config_dir().join("certs/ca.crt")).unwrap();
        assert_eq!(trust.trim_end(), new_ca.trim_end(), "{}", node.name());
        let t = std::fs::read_to_string(node.config_dir().join("certs/transport.crt")).unwrap();
        es_secure::shell::certinfo::verify_issued_by(&t, &new_ca).unwrap();
    }
    say(&format!(
        "rotate-ca on 3 nodes (3 phases x 3 nodes): {:.0} s, green after every step",
        rot_t0.elapsed().as_secs_f64()
    ));

    // After (c): node-3 presenting its old-CA certificate is refused and never joins.
    let refusal = [
        "pkix",
        "handshake",
        "bad_certificate",
        "certificate_unknown",
        "unknown_ca",
    ];
    let refusals = |cluster: &Cluster| {
        let logs =
            (cluster.nodes[0].console_log() + &cluster.nodes[2].console_log()).to_lowercase();
        refusal
            .iter()
            .map(|w| logs.matches(w).count())
            .sum::<usize>()
    };
    let wait_refused = |cluster: &Cluster, before: usize, what: &str| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(300) {
            if refusals(cluster) > before {
                return;
            }
            std::thread::sleep(Duration::from_secs(5));
        }
        panic!(
            "{what}: no new TLS refusal in the logs of node-1/node-3 after 300s:\n{}",
            cluster.nodes[2].log_tail(80)
        );
    };
    cluster.nodes[2].stop().unwrap();
    for (f, bytes) in &old_n3 {
        std::fs::write(n3_certs.join(f), bytes).unwrap();
    }
    let before = refusals(&cluster);
    cluster.nodes[2].start().unwrap();
    wait_refused(&cluster, before, "old-CA certificate");
    let nodes = cluster.nodes[0].get("/_cat/nodes?h=name", elastic).unwrap();
    assert!(
        !nodes.body.contains("node-3"),
        "node-3 joined with an old-CA certificate: {}",
        nodes.body
    );

    // Negative: node-3 with a transport certificate from a foreign CA cannot join.
    let before = refusals(&cluster);
    let n3 = &mut cluster.nodes[2];
    n3.stop().unwrap();
    let certs = n3.config_dir().join("certs");
    let foreign = tempfile::tempdir().unwrap();
    let f = foreign.path();
    openssl_ca(f, "foreign-ca");
    sh(&format!(
        "set -e; cd {f}; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node-3 \
           -keyout t.key -out t.csr 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost,IP:{ip}\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ext; \
         openssl x509 -req -in t.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile ext -out t.crt 2>/dev/null; \
         openssl pkcs8 -topk8 -nocrypt -in t.key -out t8.key",
        f = f.display(),
        ip = n3.host()
    ));
    for (from, to) in [("t.crt", "transport.crt"), ("t8.key", "transport.key")] {
        std::fs::copy(f.join(from), certs.join(to)).unwrap();
        // As es-secure installs them: readable by the service group, so the node starts
        // and the refusal we see is the TLS handshake, not an unreadable key.
        std::fs::set_permissions(certs.join(to), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    n3.start().unwrap();
    // Wait (node start-up takes a while) until a new TLS refusal shows in node-1's or
    // node-3's log; node-3 must never join.
    wait_refused(&cluster, before, "foreign-CA certificate");
    let nodes = cluster.nodes[0].get("/_cat/nodes?h=name", elastic).unwrap();
    assert!(
        !nodes.body.contains("node-3"),
        "node-3 joined: {}",
        nodes.body
    );
    cluster.stop_all().unwrap();
}

/// A throw-away CA (`ca.crt`, `ca.key`) made by the openssl CLI in `dir` — a CA that is not
/// ours, for the negative tests.
/// The cluster's persistent `cluster.routing.allocation.enable`, `None` when unset.
fn allocation(node: &Node, auth: Option<(&str, &str)>) -> Option<String> {
    let r = node
        .get("/_cluster/settings?flat_settings=true", auth)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().unwrap()["persistent"]["cluster.routing.allocation.enable"]
        .as_str()
        .map(str::to_string)
}

fn openssl_ca(dir: &Path, cn: &str) {
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
         -subj /CN={cn} -keyout ca.key -out ca.crt \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
        d = dir.display()
    ));
}

fn sh(script: &str) {
    assert!(
        support::run::output(Command::new("sh").args(["-c", script]))
            .status
            .success(),
        "{script}"
    );
}

/// 6: a fresh 8.x node auto-configures security on first start; es-secure reports it and
/// takes over with its own CA; the node restarts and verifies.
#[test]
fn autoconfigured_node_is_detected_and_taken_over() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "e2e_autoconf")
        .security(Security::Unset)
        .without_network_host()
        .started();
    let yml = node.read_config().unwrap();
    assert!(yml.contains("BEGIN SECURITY AUTO CONFIGURATION"), "{yml}");
    let state = state_dir();

    let status = es_secure(&node, state.path(), &["status"], &[]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("tier:        https"), "{status:?}");
    assert!(
        status.stdout.to_lowercase().contains("auto-configuration")
            || status.stdout.to_lowercase().contains("auto configuration"),
        "{status:?}"
    );

    let a = answers(&node, &[&node], "https", state.path(), "");
    // The auto-configured node listens on every interface; es-secure reaches it on
    // 127.0.0.1, which our HTTP certificate covers.
    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    let yml = node.read_config().unwrap();
    assert!(!yml.contains("BEGIN SECURITY AUTO CONFIGURATION"), "{yml}");
    assert!(yml.contains("certs/http.crt"), "{yml}");
    let pw = passwords(state.path());
    assert_secured(&node, &pw);
    let ks = node.tool_ok("keystore", &["list"]).unwrap();
    let list = String::from_utf8_lossy(&ks.stdout);
    assert!(
        !list.contains("xpack.security.http.ssl.keystore.secure_password"),
        "auto-configuration keystore entries left: {list}"
    );
    // The superseded key material is gone (journaled), the formed cluster's bootstrap
    // setting removed, and the plan said why and which CA clients must trust now.
    for old in ["http.p12", "transport.p12", "http_ca.crt"] {
        assert!(
            !node.config_dir().join("certs").join(old).exists(),
            "{old} left behind"
        );
    }
    // (The distribution's template keeps its commented example line; only a setting counts.)
    assert!(
        !yml.lines()
            .any(|l| l.trim_start().starts_with("cluster.initial_master_nodes")),
        "{yml}"
    );
    assert!(run.stderr.contains("The CA changes"), "{run:?}");
    assert!(
        run.stderr
            .contains("removes `xpack.security.enrollment.enabled`"),
        "{run:?}"
    );
    node.stop().unwrap();
}

/// `auth: bootstrap-password`: the elastic password goes into `elasticsearch.keystore` as
/// `bootstrap.password` (never into elasticsearch.yml), the node starts with it, the resets
/// authenticate with it; Elastic's own `elasticsearch-keystore list` shows the entry and the
/// keystore keeps its owner (the service user) and mode.
#[test]
fn bootstrap_password_goes_to_the_keystore_and_secures_the_node() {
    let Some(mut node) = unsecured_node("e2e_bootstrap") else {
        return;
    };
    let ks_path = node.config_dir().join("elasticsearch.keystore");
    let owner = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    // Elasticsearch creates its keystore on first start, as the service user.
    let before = owner(&ks_path);
    let test_uid = nix::unistd::User::from_name(&es::test_user())
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert_eq!(
        before.0, test_uid,
        "keystore should belong to the service user"
    );
    let state = state_dir();
    let a = answers(
        &node,
        &[&node],
        "minimal",
        state.path(),
        "auth:\n  method: bootstrap-password\n",
    );
    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("keystore entry `bootstrap.password`"),
        "the plan names the entry: {run:?}"
    );
    let pw = passwords(state.path());
    assert_secured(&node, &pw);

    let list = node.tool_ok("keystore", &["list"]).unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.lines().any(|l| l == "bootstrap.password"), "{list}");
    assert_eq!(owner(&ks_path), before, "keystore owner and mode kept");
    let elastic = pw.get("elastic").unwrap();
    for (path, bytes) in config_tree(&node) {
        assert!(
            !bytes
                .windows(elastic.len())
                .any(|w| w == elastic.as_bytes()),
            "elastic's password in plain text in {}",
            path.display()
        );
    }
    node.stop().unwrap();
}

/// Review §3(g): `auth: bootstrap-password` with `restart: manual` works in two runs when the
/// elastic password comes from `env:` — run 1 writes `bootstrap.password` and stops (exit 7),
/// the operator restarts, run 2 authenticates with the same password and finishes. (With a
/// generated password the answers are refused: tests/bad_inputs.)
#[test]
fn bootstrap_password_with_manual_restart_and_env_password() {
    let Some(mut node) = unsecured_node("e2e_bootstrap_manual") else {
        return;
    };
    let state = state_dir();
    let a = answers(
        &node,
        &[&node],
        "minimal",
        state.path(),
        "auth:\n  method: bootstrap-password\n",
    );
    let text: String = std::fs::read_to_string(&a)
        .unwrap()
        .replace("restart: command", "restart: manual")
        .replace(
            "passwords:\n",
            "passwords:\n  elastic: env:E2E_BOOTSTRAP_ELASTIC_PW\n",
        )
        .lines()
        .filter(|l| !l.contains("restart_command:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&a, text).unwrap();
    let password = "e2e-bootstrap-Elastic-pw-0123";
    let env = [("E2E_BOOTSTRAP_ELASTIC_PW", password)];
    let args = ["apply", "--yes", "--answers", a.to_str().unwrap()];
    let first = es_secure(&node, state.path(), &args, &env);
    assert_eq!(first.code, 7, "{first:?}");
    node.stop().unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();
    let second = es_secure(&node, state.path(), &args, &env);
    assert_eq!(second.code, 0, "{second:?}");
    let r = node
        .get("/_security/_authenticate", Some(("elastic", password)))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    for (path, bytes) in config_tree(&node) {
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "elastic's password in plain text in {}",
            path.display()
        );
    }
    node.stop().unwrap();
}

/// 7: wrong elastic password, node down, wrong CA → clear error, nothing changed, exit code
/// as documented.
#[test]
fn wrong_password_node_down_and_wrong_ca_fail_clearly() {
    let Some(mut node) = unsecured_node("e2e_wrong") else {
        return;
    };
    let state = state_dir();
    let a = answers(&node, &[&node], "https", state.path(), "");
    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    let pw = passwords(state.path());

    // Wrong elastic password: rotating the passwords with it is refused by ES (401).
    std::fs::write(state.path().join("wrong.pw"), "not-the-password-1234").unwrap();
    let wrong = format!(
        "auth:\n  method: elastic-password\n  elastic_password: file:{}/wrong.pw\n",
        state.path().display()
    );
    let a_wrong = answers(&node, &[&node], "https", state.path(), &wrong);
    let text = std::fs::read_to_string(&a_wrong)
        .unwrap()
        .replace("passwords:\n", "passwords:\n  rotate: true\n");
    std::fs::write(&a_wrong, text).unwrap();
    let before = config_tree(&node);
    let run = apply(&node, state.path(), &a_wrong);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("401") || run.stderr.to_lowercase().contains("password"),
        "{run:?}"
    );
    assert_eq!(before, config_tree(&node));
    assert_secured(&node, &pw);

    // Wrong CA: verify from a state directory holding another CA → TLS error, exit 6.
    let other = state_dir();
    let other_ca = other.path().join("ca");
    std::fs::create_dir_all(&other_ca).unwrap();
    openssl_ca(&other_ca, "other-ca");
    std::fs::write(other.path().join("elastic.pw"), &pw["elastic"]).unwrap();
    let auth = format!(
        "auth:\n  method: elastic-password\n  elastic_password: file:{}/elastic.pw\n",
        other.path().display()
    );
    let a_other = answers(&node, &[&node], "https", other.path(), &auth);
    let v = es_secure(
        &node,
        other.path(),
        &["verify", "--answers", a_other.to_str().unwrap()],
        &[],
    );
    assert_eq!(v.code, 6, "{v:?}");
    let all = format!("{}{}", v.stdout, v.stderr).to_lowercase();
    assert!(all.contains("certificate") || all.contains("tls"), "{v:?}");

    // Node down: verify says so in words an operator can act on, exit 6.
    node.stop().unwrap();
    let v = es_secure(
        &node,
        state.path(),
        &["verify", "--answers", a.to_str().unwrap()],
        &[],
    );
    assert_eq!(v.code, 6, "{v:?}");
    let all = format!("{}{}", v.stdout, v.stderr).to_lowercase();
    assert!(
        all.contains("running") || all.contains("unreachable") || all.contains("refused"),
        "{v:?}"
    );
    assert_eq!(before, config_tree(&node));
}

/// A client making authenticated requests (`GET _security/_authenticate` as elastic) to `url`,
/// a new connection (over HTTPS: a new handshake, pinned to `ca_pem`) each time, 20 per
/// second, until the returned flag is set or 120 s pass. The thread returns the number of
/// successes and the failures.
fn request_loop(
    url: String,
    ca_pem: Option<String>,
    password: String,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<(usize, Vec<String>)>,
) {
    use es_secure::shell::es_client::{Credentials, EsClient, Trust};
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, Vec::new());
        let until = Instant::now() + Duration::from_secs(120);
        while !flag.load(Ordering::Relaxed) && Instant::now() < until {
            let t = Instant::now();
            let trust = match &ca_pem {
                Some(ca) => Trust::Ca {
                    ca_pem: ca.clone(),
                    pin_sha256: None,
                },
                None => Trust::PlainHttp,
            };
            let result = EsClient::new(&url, trust).and_then(|c| {
                c.with_credentials(Credentials {
                    username: "elastic".to_string(),
                    password: password.clone().into(),
                })
                .authenticate()
                .map_err(anyhow::Error::from)
            });
            match result {
                Ok(_) => ok += 1,
                Err(e) => failed.push(format!("{e:#}")),
            }
            std::thread::sleep(Duration::from_millis(50).saturating_sub(t.elapsed()));
        }
        (ok, failed)
    });
    (stop, handle)
}

/// Serial of the leaf certificate in a PEM file, as es-secure prints serials.
fn file_serial(path: &Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    es_secure::shell::renew::normalise_serial(
        &es_secure::shell::certinfo::inspect_pem(&pem)
            .unwrap()
            .serial,
    )
}

/// Issue 19: `renew` on a running https node. The node is not restarted (same pid), it serves
/// the new HTTP certificate (GET _ssl/certificates and a fresh TLS handshake) within 10 s, and
/// a client making authenticated HTTPS requests pinned to our CA — a new connection, so a new
/// handshake, each time, 20 per second for the whole renewal — sees no failure. Then, on the
/// same node, `--within 30` finds nothing due and changes no byte.
#[test]
fn renew_on_a_running_https_node_without_restart_or_failed_requests() {
    let Some(mut node) = unsecured_node("e2e_renew") else {
        return;
    };
    let state = state_dir();
    let a = answers(&node, &[&node], "https", state.path(), "");
    let run = apply(&node, state.path(), &a);
    assert_eq!(run.code, 0, "{run:?}");
    let pw = passwords(state.path());
    let pid = node.pid().expect("node pid");
    let http_crt = node.config_dir().join("certs/http.crt");
    let transport_crt = node.config_dir().join("certs/transport.crt");
    let old_http = file_serial(&http_crt);
    let old_transport = file_serial(&transport_crt);
    let ca_pem = std::fs::read_to_string(node.config_dir().join("certs/ca.crt")).unwrap();
    let url = format!("https://{}:{}", node.host(), node.http_port());

    let (stop, client) = request_loop(url.clone(), Some(ca_pem.clone()), pw["elastic"].clone());
    // Some requests before the renewal, so the loop is known to work.
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    let run = es_secure(&node, state.path(), &["renew", "--yes"], &[]);
    let took = t0.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (oks, failures) = client.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    say(&format!(
        "renew took {:.1}s; client loop: {oks} ok, {} failed",
        took.as_secs_f64(),
        failures.len()
    ));
    assert!(
        failures.is_empty(),
        "requests failed during the renewal: {failures:?}"
    );
    assert!(oks >= 40, "the client loop made only {oks} requests");

    // Not restarted.
    assert_eq!(node.pid(), Some(pid), "the node was restarted");
    let new_http = file_serial(&http_crt);
    let new_transport = file_serial(&transport_crt);
    assert_ne!(old_http, new_http);
    assert_ne!(old_transport, new_transport);
    // What renew reported, and within 10 s.
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("serves the new certificates after"))
        .unwrap_or_else(|| panic!("no confirmation line: {run:?}"));
    let secs: f64 = line
        .split("after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(secs <= 10.0, "served after {secs} s: {line}");
    assert!(line.contains(&new_http), "{line}");
    // Checked here too, independently of es-secure: the node lists the new serials and a
    // fresh handshake presents the new HTTP certificate.
    let certs = node
        .get("/_ssl/certificates", Some(("elastic", &pw["elastic"])))
        .unwrap();
    let listed: Vec<String> = certs
        .json()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            es_secure::shell::renew::normalise_serial(c["serial_number"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(
        listed.contains(&new_http) && listed.contains(&new_transport),
        "{}",
        certs.body
    );
    let der = es_secure::shell::es_client::presented_leaf(
        &node.host().to_string(),
        node.http_port(),
        &ca_pem,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        es_secure::shell::renew::normalise_serial(
            &es_secure::shell::certinfo::inspect_der(&der)
                .unwrap()
                .serial
        ),
        new_http
    );

    // Same node: nothing is due within 30 days, and no byte changes.
    let before = config_tree(&node);
    let run = es_secure(
        &node,
        state.path(),
        &["renew", "--yes", "--within", "30"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Nothing to renew"), "{run:?}");
    assert_eq!(before, config_tree(&node));
    node.stop().unwrap();
}
