//! Multi-node end to end on scratch installs: an apply on node-1 writes signed bundles for the
//! other nodes, `apply --bundle --ca-fingerprint` on node-2 installs certificates that chain to
//! node-1's CA, a re-run has nothing to do, and a bundle for another node, another cluster,
//! with a foreign certificate, signed by another CA, with an edited byte, with answers
//! es-secure never writes, or applied with `--yes` but no fingerprint is refused with nothing
//! changed; so is a bundle whose cluster file is missing, edited or from another apply.
//! Bundles are pruned on the CA host. Runs the real binary; `openssl` cross-checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use es_secure::shell::bundle::Bundle;
use es_secure::shell::certgen;

const THREE_NODES: &str = "version: 1
tier: basic
elasticsearch:
  allow_cleartext_rest: true
nodes:
  - name: node-1
    dns: [node-1.example.internal]
    ip: [10.0.0.11]
  - name: node-2
    dns: [node-2.example.internal]
    ip: [10.0.0.12]
  - name: node-3
    dns: [node-3.example.internal]
    ip: [10.0.0.13]
this_node: node-1
";

/// A scratch copy of the deb fixture, renamed to be `name` at `ip`.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new(name: &str, ip: &str) -> Self {
        let dir = support::install::deb_install();
        for file in ["elasticsearch/elasticsearch.yml", "kibana/kibana.yml"] {
            let path = dir.path().join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("node.name: node-1", &format!("node.name: {name}"))
                .replace("network.host: 10.0.0.11", &format!("network.host: {ip}"));
            std::fs::write(&path, text).unwrap();
        }
        // No state directory yet: the tests check that a refused bundle does not create one.
        std::fs::remove_dir(dir.path().join("state")).unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Run es-secure against this install: (exit code, stdout, stderr), with the scratch
    /// directory shown as `[TMP]`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = support::run::output(
            support::install::es_secure(self.dir.path(), "nobody")
                .arg("--kibana-config")
                .arg(self.path("kibana"))
                .args(args),
        );
        let clean = |b: &[u8]| {
            String::from_utf8_lossy(b).replace(&self.dir.path().display().to_string(), "[TMP]")
        };
        (
            out.status.code().unwrap_or(-1),
            clean(&out.stdout),
            clean(&out.stderr),
        )
    }

    /// The SHA-256 fingerprint of this host's es-secure CA (what its apply printed).
    fn ca_fp(&self) -> String {
        let pem = std::fs::read_to_string(self.path("state/ca/ca.crt")).unwrap();
        es_secure::shell::certinfo::inspect_pem(&pem)
            .unwrap()
            .fingerprint_sha256
    }

    /// This host's CA, to sign edited bundles with in tests.
    fn ca_signer(&self) -> certgen::CaSigner {
        let cert = std::fs::read_to_string(self.path("state/ca/ca.crt")).unwrap();
        let key = std::fs::read_to_string(self.path("state/ca/ca.key")).unwrap();
        certgen::load_ca(&cert, &key).unwrap()
    }

    /// `apply --bundle FILE --ca-fingerprint FP --yes`.
    fn apply_trusted(&self, bundle: &Path, ca: &Node) -> (i32, String, String) {
        let fp = ca.ca_fp();
        self.apply_bundle(bundle, &["--ca-fingerprint", &fp, "--yes"])
    }

    fn apply_bundle(&self, bundle: &Path, extra: &[&str]) -> (i32, String, String) {
        let bundle = bundle.display().to_string();
        let mut args = vec!["apply", "--bundle", bundle.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Every file under the install, with its bytes: to show that nothing changed.
    /// Nothing but the (empty) state lock in the state directory, if it exists: no journal,
    /// backup, CA or answers of a refused run.
    fn state_is_empty(&self) -> bool {
        std::fs::read_dir(self.path("state")).map_or(true, |entries| {
            entries.flatten().all(|e| e.file_name() == "lock")
        })
    }

    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.file_name().is_some_and(|n| n == "lock") {
                    // The state lock a refused run took: empty, and not part of the install.
                    assert!(std::fs::read(&p).unwrap().is_empty(), "{}", p.display());
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out.sort();
        out
    }
}

/// Node-1 of a fresh cluster, applied at tier basic (manual restart: files written, exit 7).
fn cluster() -> Node {
    let n1 = Node::new("node-1", "10.0.0.11");
    let answers = n1.path("answers.yml");
    std::fs::write(&answers, THREE_NODES).unwrap();
    let (code, out, err) = n1.run(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(code, 7, "{out}{err}");
    // The fingerprint and the exact command for each other node.
    let fp = n1.ca_fp();
    assert!(
        out.contains(&format!("CA SHA-256 fingerprint: {fp}")),
        "{out}"
    );
    for node in ["node-2", "node-3"] {
        let line =
            format!("es-secure apply --bundle {node}.bundle.yml --ca-fingerprint {fp} --yes");
        assert!(out.contains(&line), "{line}\n{out}");
    }
    n1
}

fn bundle_of(n1: &Node, node: &str) -> PathBuf {
    n1.path(&format!("state/bundles/{node}.bundle.yml"))
}

/// The cluster file written with `n1`'s bundles.
fn cluster_file_of(n1: &Node) -> PathBuf {
    n1.path("state/bundles/cluster.yml")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// `n1`'s bundle for `node`, read with its cluster file.
fn parsed(n1: &Node, node: &str) -> Bundle {
    Bundle::parse(
        "node.bundle.yml",
        &read(&bundle_of(n1, node)),
        "cluster.yml",
        &read(&cluster_file_of(n1)),
    )
    .unwrap()
}

/// Write a bundle `name` and its cluster file (`cluster.yml`, where `apply --bundle` looks
/// for it) into `dir`, 0600 like es-secure writes them.
fn write_pair(dir: &Path, name: &str, node: &str, cluster: &str) -> PathBuf {
    let path = dir.join(name);
    for (p, text) in [(path.clone(), node), (dir.join("cluster.yml"), cluster)] {
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = support::run::output(Command::new("openssl").args(args));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `crt` verifies against `ca` (openssl), and its subjectAltName text.
fn verified_sans(ca: &Path, crt: &Path) -> String {
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        crt.to_str().unwrap(),
    ]);
    assert!(ok && text.contains(": OK"), "{text}");
    let (ok, sans) = openssl(&[
        "x509",
        "-in",
        crt.to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(ok, "{sans}");
    sans
}

#[test]
fn bundle_applies_on_its_node_and_only_there() {
    let n1 = cluster();
    let b2 = bundle_of(&n1, "node-2");
    assert!(bundle_of(&n1, "node-3").exists());
    assert!(!bundle_of(&n1, "node-1").exists());

    // The bundle is private, holds node-2's key and never the CA key.
    let mode = std::fs::metadata(&b2).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let text = std::fs::read_to_string(&b2).unwrap();
    assert_eq!(
        text.matches("-----BEGIN PRIVATE KEY-----").count(),
        1,
        "basic: the transport key only\n{text}"
    );
    let ca_key = std::fs::read_to_string(n1.path("state/ca/ca.key")).unwrap();
    assert!(!text.contains(ca_key.trim()));
    for line in ca_key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !text.contains(line),
            "a line of the CA key is in the bundle"
        );
    }
    // Its cluster file: the same directory, private, no key at all.
    let cluster_text = read(&cluster_file_of(&n1));
    let mode = std::fs::metadata(cluster_file_of(&n1))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(!cluster_text.contains("PRIVATE KEY"), "{cluster_text}");
    let parsed = parsed(&n1, "node-2");
    assert_eq!(parsed.node, "node-2");
    assert_eq!(parsed.cluster_name.as_deref(), Some("prod-logs"));
    assert_eq!(parsed.certs.keys().collect::<Vec<_>>(), vec!["transport"]);

    // Node-2: the plan installs the bundle's certificates and issues nothing.
    let n2 = Node::new("node-2", "10.0.0.12");
    let (code, plan, err) = n2.apply_bundle(&b2, &["--dry-run"]);
    assert_eq!(code, 0, "{plan}{err}");
    let plan = plan.replace(&b2.display().to_string(), "[BUNDLE]");
    insta::assert_snapshot!("node_2_basic_plan", plan);

    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert_eq!(code, 7, "{out}{err}");
    let ca_fp = parsed.ca_fingerprint.clone();
    assert!(
        out.contains(&format!("CA SHA-256 fingerprint: {ca_fp}")),
        "{out}"
    );
    // The re-run after the restart names the same CA.
    let rerun = format!(
        "es-secure apply --bundle {} --ca-fingerprint {ca_fp}",
        b2.display()
    );
    assert!(err.contains(&rerun), "{rerun}\n{err}");
    assert!(!n2.path("state/ca/ca.key").exists());

    // The certificates chain to node-1's CA and name node-2.
    let ca = n1.path("state/ca/ca.crt");
    let crt = n2.path("elasticsearch/certs/transport.crt");
    let sans = verified_sans(&ca, &crt);
    assert!(sans.contains("DNS:node-2.example.internal"), "{sans}");
    assert!(sans.contains("IP Address:10.0.0.12"), "{sans}");
    assert!(!sans.contains("node-1"), "{sans}");
    assert_eq!(
        std::fs::read(n2.path("elasticsearch/certs/ca.crt")).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    let key = n2.path("elasticsearch/certs/transport.key");
    let (ok, text) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-noout"]);
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let yml = std::fs::read_to_string(n2.path("elasticsearch/elasticsearch.yml")).unwrap();
    assert!(
        yml.contains("xpack.security.transport.ssl.enabled: true"),
        "{yml}"
    );

    // A re-run writes nothing: only the wait for the pending restart is left.
    let after = n2.snapshot();
    let (code, out, err) = n2.apply_bundle(&b2, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("install") && !out.contains("edit"), "{out}");
    assert!(out.contains("wait for"), "{out}");
    assert_eq!(after, n2.snapshot());
    // Once the node runs (the finishing re-run clears the pending restart) it is empty.
    let state = n2.path("state/state.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    json["restart_pending"] = serde_json::Value::Bool(false);
    std::fs::write(&state, json.to_string()).unwrap();
    let after = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(after, n2.snapshot());

    // Node-2's bundle on node-3: refused, nothing changed.
    let n3 = Node::new("node-3", "10.0.0.13");
    let before = n3.snapshot();
    let (code, out, err) = n3.apply_trusted(&b2, &n1);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("this bundle is for node `node-2`"), "{err}");
    assert!(err.contains("node.name: node-3"), "{err}");
    assert_eq!(before, n3.snapshot());
    assert!(n3.state_is_empty());
}

#[test]
fn bundle_with_a_certificate_from_another_ca_is_refused() {
    let a = cluster();
    let b = cluster();
    let mut bundle = parsed(&a, "node-2");
    let foreign = parsed(&b, "node-2");
    bundle
        .certs
        .insert("transport".to_string(), foreign.certs["transport"].clone());
    // Signed again with a's CA: only the certificate check can catch it.
    let (node, cluster) = bundle.to_signed_texts(&a.ca_signer()).unwrap();
    let tampered = write_pair(a.dir.path(), "tampered.bundle.yml", &node, &cluster);

    let n2 = Node::new("node-2", "10.0.0.12");
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(&tampered, &a);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains(
            "transport certificate cannot be used: it is not signed by the CA in the bundle"
        ),
        "{err}"
    );
    assert_eq!(before, n2.snapshot());
}

#[test]
fn bundle_from_another_cluster_is_refused() {
    let a = cluster();
    let b2 = bundle_of(&a, "node-2");

    // Another cluster name in elasticsearch.yml.
    let n2 = Node::new("node-2", "10.0.0.12");
    let yml = n2.path("elasticsearch/elasticsearch.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    std::fs::write(
        &yml,
        text.replace("cluster.name: prod-logs", "cluster.name: staging"),
    )
    .unwrap();
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(&b2, &a);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("this bundle is for cluster `prod-logs`"),
        "{err}"
    );
    assert_eq!(before, n2.snapshot());

    // Same name, but this host already has an es-secure CA of its own.
    let other = cluster();
    let n2 = Node::new("node-2", "10.0.0.12");
    std::fs::create_dir_all(n2.path("state/ca")).unwrap();
    // A state directory as es-secure makes it (private), so the refusal is the bundle's.
    std::fs::set_permissions(n2.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    for f in ["ca.crt", "ca.key"] {
        std::fs::copy(
            other.path(&format!("state/ca/{f}")),
            n2.path(&format!("state/ca/{f}")),
        )
        .unwrap();
    }
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(&b2, &a);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("the bundle is from another cluster"), "{err}");
    assert_eq!(before, n2.snapshot());
}

#[test]
fn unsupported_or_unreadable_bundles_are_config_errors() {
    let a = cluster();
    let text = std::fs::read_to_string(bundle_of(&a, "node-2")).unwrap();
    let n2 = Node::new("node-2", "10.0.0.12");
    let before = n2.snapshot();

    let cluster = read(&cluster_file_of(&a));
    let header = "kind: es-secure-node-bundle\nversion: 4\nnode:";
    assert!(text.contains(header), "{text}");
    let v5 = write_pair(
        a.dir.path(),
        "v5.bundle.yml",
        &text.replace(
            header,
            "kind: es-secure-node-bundle\nversion: 5\nnew_field: x\nnode:",
        ),
        &cluster,
    );
    let (code, out, err) = n2.apply_trusted(&v5, &a);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bundle version 5 is not supported"), "{err}");

    // A version 3 bundle (the cluster's answers in every bundle) or 2 (the answers with
    // `this_node`) says to write the bundles anew with this release.
    for (old, body) in [
        (3, "version: 3\nnode: node-2\ncluster:\n  version: 1\n"),
        (2, "version: 2\nnode: node-2\nanswers:\n  version: 1\n"),
    ] {
        let path = a.path("old.bundle.yml");
        std::fs::write(&path, format!("# es-secure node bundle\n{body}")).unwrap();
        let (code, out, err) = n2.apply_trusted(&path, &a);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!("bundle version {old} is from an older es-secure"))
                && err.contains("re-run the apply on the CA host with this release"),
            "{err}"
        );
    }

    // The cluster file given as the bundle: named for what it is.
    let (code, out, err) = n2.apply_trusted(&cluster_file_of(&a), &a);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("is the cluster file of a set of node bundles"),
        "{err}"
    );

    // An unsigned bundle of the first format is not trusted.
    let v1 = a.path("v1.bundle.yml");
    std::fs::write(&v1, text.replace(header, "version: 1\nnode:")).unwrap();
    let (code, out, err) = n2.apply_trusted(&v1, &a);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("unsigned (version 1) bundle"), "{err}");

    let (code, out, err) = n2.apply_trusted(&a.path("missing.bundle.yml"), &a);
    assert_eq!(code, 2, "{out}{err}");

    // The bundle without its cluster file: both files named, and what to copy.
    let alone = tempfile::tempdir().unwrap();
    let lone = alone.path().join("node-2.bundle.yml");
    std::fs::copy(bundle_of(&a, "node-2"), &lone).unwrap();
    let (code, out, err) = n2.apply_trusted(&lone, &a);
    assert_eq!(code, 2, "{out}{err}");
    let missing = alone.path().join("cluster.yml");
    assert!(
        err.contains(&format!(
            "{}: its cluster file {} cannot be read",
            lone.display(),
            missing.display()
        )) && err.contains("--cluster-file FILE"),
        "{err}"
    );
    // Named with --cluster-file instead, it is found.
    let (code, out, err) = n2.apply_bundle(
        &lone,
        &[
            "--cluster-file",
            cluster_file_of(&a).to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");

    // A fingerprint that is not one is a usage error.
    let (code, out, err) = n2.apply_bundle(
        &bundle_of(&a, "node-2"),
        &["--ca-fingerprint", "AB:CD", "--yes"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is not a SHA-256 fingerprint"), "{err}");
    assert_eq!(before, n2.snapshot());
}

/// Exit 3, the message contains `want`, and node-2 is untouched (no state directory either).
fn assert_refused(n2: &Node, bundle: &Path, ca: &Node, want: &str) {
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(bundle, ca);
    assert_eq!(code, 3, "{want}: {out}{err}");
    assert!(err.contains(want), "{want}: {err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(before, n2.snapshot());
    assert!(n2.state_is_empty());
}

#[test]
fn edited_bytes_are_refused() {
    let a = cluster();
    let b2 = bundle_of(&a, "node-2");
    let text = std::fs::read_to_string(&b2).unwrap();
    let cluster = read(&cluster_file_of(&a));
    let n2 = Node::new("node-2", "10.0.0.12");
    let edited = a.path("edited.bundle.yml");
    let write = |t: &str| {
        write_pair(a.dir.path(), "edited.bundle.yml", t, &cluster);
    };

    // Renamed for another node by hand.
    write(&text.replacen("node: node-2", "node: node-3", 1));
    assert_refused(
        &n2,
        &edited,
        &a,
        "the file was edited after the CA host signed it",
    );
    // One byte inside the transport key.
    let at = text.find("-----BEGIN PRIVATE KEY-----").unwrap() + 40;
    let mut bytes = text.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    write(&String::from_utf8(bytes).unwrap());
    assert_refused(
        &n2,
        &edited,
        &a,
        "the file was edited after the CA host signed it",
    );
    // A comment is signed too.
    write(&text.replacen("# es-secure node bundle", "# es-secure node  bundle", 1));
    assert_refused(
        &n2,
        &edited,
        &a,
        "the file was edited after the CA host signed it",
    );
    // The signature removed, or text after it.
    let unsigned: String = text
        .lines()
        .filter(|l| !l.starts_with("# es-secure-signature:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&unsigned);
    assert_refused(&n2, &edited, &a, "it is not signed");
    write(&format!("{text}elasticsearch:\n  restart: command\n"));
    assert_refused(&n2, &edited, &a, "text after its signature line");

    // The bundle intact, its cluster file edited: one byte of a node's address, a comment,
    // or text after the signature. The bundle names the cluster file it was written with.
    for edit in [
        cluster.replacen("10.0.0.13", "10.0.0.99", 1),
        cluster.replacen("# es-secure cluster file", "# es-secure  cluster file", 1),
        format!("{cluster}  restart: command\n"),
    ] {
        assert_ne!(edit, cluster);
        let path = write_pair(a.dir.path(), "edited.bundle.yml", &text, &edit);
        assert_refused(
            &n2,
            &path,
            &a,
            &format!(
                "{}: refused: it is not the cluster file {} was written with",
                a.path("cluster.yml").display(),
                path.display()
            ),
        );
    }
    // Both intact: applies (the pair itself was never the problem).
    let path = write_pair(a.dir.path(), "edited.bundle.yml", &text, &cluster);
    let (code, out, err) = n2.apply_bundle(&path, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Two applies of one CA host (the second with a changed node list) each write a cluster
/// file; a bundle with the other apply's cluster file is refused, naming both files, though
/// both are signed by the same CA.
#[test]
fn a_cluster_file_of_another_apply_is_refused() {
    let a = cluster();
    let first_bundle = read(&bundle_of(&a, "node-2"));
    let first_cluster = read(&cluster_file_of(&a));
    let answers = a.path("answers.yml");
    std::fs::write(
        &answers,
        // Node-1's own certificate changes, so the apply writes the bundles again.
        THREE_NODES.replace(
            "dns: [node-1.example.internal]",
            "dns: [node-1.example.internal, n1.example.internal]",
        ),
    )
    .unwrap();
    let (code, out, err) = a.run(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert!(code == 0 || code == 7, "{out}{err}");
    let second_bundle = read(&bundle_of(&a, "node-2"));
    let second_cluster = read(&cluster_file_of(&a));
    assert_ne!(first_cluster, second_cluster);
    let n2 = Node::new("node-2", "10.0.0.12");
    for (bundle, cluster) in [
        (&first_bundle, &second_cluster),
        (&second_bundle, &first_cluster),
    ] {
        let path = write_pair(a.dir.path(), "mixed.bundle.yml", bundle, cluster);
        assert_refused(
            &n2,
            &path,
            &a,
            &format!(
                "{}: refused: it is not the cluster file {} was written with",
                a.path("cluster.yml").display(),
                path.display()
            ),
        );
    }
    // Each with its own: accepted.
    for (bundle, cluster) in [
        (&first_bundle, &first_cluster),
        (&second_bundle, &second_cluster),
    ] {
        let path = write_pair(a.dir.path(), "mixed.bundle.yml", bundle, cluster);
        let (code, out, err) = n2.apply_bundle(&path, &["--dry-run"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    // Another cluster's cluster file (another CA): refused the same way.
    let b = cluster();
    let path = write_pair(
        a.dir.path(),
        "mixed.bundle.yml",
        &second_bundle,
        &read(&cluster_file_of(&b)),
    );
    assert_refused(&n2, &path, &a, "is not the cluster file");
}

#[test]
fn bundle_signed_by_another_ca_or_a_wrong_fingerprint_is_refused() {
    let a = cluster();
    let b = cluster();
    let n2 = Node::new("node-2", "10.0.0.12");
    // b's genuine bundle, but the operator trusts a's CA.
    assert_refused(&n2, &bundle_of(&b, "node-2"), &a, "not by the CA you named");
    // a's bundle with b's CA certificate put in: the signature is a's, not b's.
    let text_a = std::fs::read_to_string(bundle_of(&a, "node-2")).unwrap();
    let ca_a = std::fs::read_to_string(a.path("state/ca/ca.crt")).unwrap();
    let ca_b = std::fs::read_to_string(b.path("state/ca/ca.crt")).unwrap();
    let indent = |pem: &str| pem.trim_end().replace('\n', "\n  ");
    let swapped = text_a.replace(&indent(&ca_a), &indent(&ca_b));
    assert_ne!(swapped, text_a);
    let path = a.path("swapped.bundle.yml");
    std::fs::write(&path, swapped).unwrap();
    assert_refused(&n2, &path, &b, "signature does not verify");
    // The right bundle, a wrong fingerprint (lower case, no colons: accepted syntax).
    let before = n2.snapshot();
    let wrong = "ab".repeat(32);
    let (code, out, err) = n2.apply_bundle(
        &bundle_of(&a, "node-2"),
        &["--ca-fingerprint", &wrong, "--yes"],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("not by the CA you named (AB:AB:"), "{err}");
    assert_eq!(before, n2.snapshot());
    // The right fingerprint in that spelling is accepted.
    let fp = a.ca_fp().replace(':', "").to_lowercase();
    let (code, out, err) = n2.apply_bundle(
        &bundle_of(&a, "node-2"),
        &["--ca-fingerprint", &fp, "--yes"],
    );
    assert_eq!(code, 7, "{out}{err}");
    assert!(err.contains("signature verified"), "{err}");
}

#[test]
fn yes_without_a_fingerprint_is_refused() {
    let a = cluster();
    let n2 = Node::new("node-2", "10.0.0.12");
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_bundle(&bundle_of(&a, "node-2"), &["--yes"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("--yes needs --ca-fingerprint"), "{err}");
    assert!(err.contains("help: run `es-secure apply --bundle"), "{err}");
    // The refusal does not hand out the bundle's own fingerprint to copy.
    assert!(!err.contains(&a.ca_fp()), "{err}");
    assert_eq!(before, n2.snapshot());
    assert!(n2.state_is_empty());
    // Without a terminal and without --yes: refused the same way.
    let (code, out, err) = n2.apply_bundle(&bundle_of(&a, "node-2"), &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("no terminal to confirm"), "{err}");
    assert_eq!(before, n2.snapshot());
}

#[test]
fn answers_es_secure_never_writes_are_refused_naming_the_key() {
    let a = cluster();
    let text = std::fs::read_to_string(bundle_of(&a, "node-2")).unwrap();
    let n2 = Node::new("node-2", "10.0.0.12");
    let marker = n2.path("restart-command-ran");
    let cmd = format!("touch {}", marker.display());
    type Edit = Box<dyn Fn(&mut es_secure::domain::answers::RawAnswers)>;
    let keep_not = |v: &str| {
        Some(serde_saphyr::Spanned::new(
            v.to_string(),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        ))
    };
    let cases: Vec<(&str, Edit)> = vec![
        (
            "`answers.elasticsearch.restart`, `answers.elasticsearch.restart_command`",
            Box::new(move |r| {
                r.elasticsearch.restart = Some(es_secure::domain::answers::RestartMode::Command);
                r.elasticsearch.restart_command = Some(cmd.clone());
            }),
        ),
        (
            "`answers.passwords.elastic`",
            Box::new(move |r| r.passwords.elastic = keep_not("generate")),
        ),
        (
            "`answers.elasticsearch.url`",
            Box::new(|r| r.elasticsearch.url = Some("http://10.9.9.9:9200".to_string())),
        ),
        (
            "`answers.passwords.output_file`",
            Box::new(|r| r.passwords.output_file = Some("/tmp/es-secure-pw.txt".into())),
        ),
        (
            "`answers.elasticsearch.config_dir`",
            Box::new(|r| r.elasticsearch.config_dir = Some("/etc/shadow-dir".into())),
        ),
        (
            "`answers.kibana`",
            Box::new(|r| {
                r.kibana = Some(es_secure::domain::answers::RawKibana {
                    config_dir: "/etc/kibana".into(),
                    ..Default::default()
                });
            }),
        ),
    ];
    for (want, edit) in cases {
        let mut bundle = parsed(&a, "node-2");
        edit(&mut bundle.answers);
        // Signed with the real CA: the key check alone must refuse it.
        let (node, cluster) = bundle.to_signed_texts(&a.ca_signer()).unwrap();
        let path = write_pair(a.dir.path(), "forbidden.bundle.yml", &node, &cluster);
        assert_refused(
            &n2,
            &path,
            &a,
            &format!(
                "its answers (in {}) set {want}",
                a.path("cluster.yml").display()
            ),
        );
        // The edited cluster file next to the genuine bundle: not the one it names.
        let path = write_pair(a.dir.path(), "forbidden.bundle.yml", &text, &cluster);
        assert_refused(&n2, &path, &a, "is not the cluster file");
    }
    assert!(!marker.exists(), "the bundle's restart command ran");
}

#[test]
fn prune_bundles_deletes_the_ca_hosts_copies() {
    let n1 = cluster();
    // The same cluster, reached where nothing listens (port 1 refuses at once).
    let answers = n1.path("prune.yml");
    std::fs::write(
        &answers,
        THREE_NODES.replace(
            "  allow_cleartext_rest: true\n",
            "  allow_cleartext_rest: true\n  url: http://127.0.0.1:1\n",
        ),
    )
    .unwrap();
    let answers = answers.to_str().unwrap();
    // Nothing listens at the node's URL: the joined check cannot ask, so nothing is deleted.
    let (code, out, err) = n1.run(&["apply", "--yes", "--answers", answers, "--prune-bundles"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("--prune-bundles all"), "{err}");
    assert!(bundle_of(&n1, "node-2").exists() && bundle_of(&n1, "node-3").exists());
    // Every bundle, on request.
    let (code, out, err) = n1.run(&[
        "apply",
        "--yes",
        "--answers",
        answers,
        "--prune-bundles",
        "all",
    ]);
    assert!(
        out.contains("deleted the bundle of node-2"),
        "{code} {out}{err}"
    );
    assert!(out.contains("deleted the bundle of node-3"), "{out}{err}");
    assert!(!bundle_of(&n1, "node-2").exists() && !bundle_of(&n1, "node-3").exists());
    // Their cluster file went with the last of them.
    assert!(!cluster_file_of(&n1).exists());
}

#[test]
fn world_readable_bundle_is_warned_about() {
    let a = cluster();
    let b2 = bundle_of(&a, "node-2");
    std::fs::set_permissions(&b2, std::fs::Permissions::from_mode(0o644)).unwrap();
    let n2 = Node::new("node-2", "10.0.0.12");
    let (code, out, err) = n2.apply_bundle(&b2, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning:") && err.contains("readable by group or others"),
        "{err}"
    );
    assert!(err.contains("chmod 600"), "{err}");
}

/// Format 4: the cluster's answers (every node's name and addresses) are written once, in
/// the cluster file; a bundle holds only its node's part and the cluster file's SHA-256, so
/// the output grows with the number of nodes, not its square.
#[test]
fn bundles_carry_only_their_node_and_name_the_cluster_file() {
    let a = cluster();
    let t2 = read(&bundle_of(&a, "node-2"));
    let t3 = read(&bundle_of(&a, "node-3"));
    let cluster = read(&cluster_file_of(&a));
    let sha = es_secure::shell::bundle::sha256_hex(cluster.as_bytes());
    for t in [&t2, &t3] {
        assert!(t.contains(&format!("\ncluster_sha256: {sha}\n")), "{t}");
        assert!(!t.contains("example.internal"), "{t}");
        assert!(!t.contains("this_node"), "{t}");
    }
    assert!(t2.contains("\nnode: node-2\n"), "{t2}");
    for node in ["node-1", "node-2", "node-3"] {
        assert!(
            cluster.contains(&format!("{node}.example.internal")),
            "{cluster}"
        );
    }
    assert!(!cluster.contains("this_node"), "{cluster}");
    // A `this_node` inside the cluster file, even signed by the CA and named by a bundle
    // signed by the CA, is not one es-secure wrote: refused before anything is planned.
    let signer = a.ca_signer();
    let edited = es_secure::shell::bundle_sig::sign(
        &signer,
        &bundle_sig_body(&cluster).replace("\ncluster:\n", "\ncluster:\n  this_node: node-3\n"),
    )
    .unwrap();
    let node = es_secure::shell::bundle_sig::sign(
        &signer,
        &bundle_sig_body(&t2).replace(
            &sha,
            &es_secure::shell::bundle::sha256_hex(edited.as_bytes()),
        ),
    )
    .unwrap();
    let path = write_pair(a.dir.path(), "this-node.bundle.yml", &node, &edited);
    let n2 = Node::new("node-2", "10.0.0.12");
    let before = n2.snapshot();
    let (code, out, err) = n2.apply_trusted(&path, &a);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("its `cluster` answers name `this_node: node-3`"),
        "{err}"
    );
    assert_eq!(before, n2.snapshot());
}

/// The signed body of a bundle text (everything before its signature line).
fn bundle_sig_body(text: &str) -> String {
    es_secure::shell::bundle_sig::split(text)
        .unwrap()
        .body
        .to_string()
}

#[test]
fn bundle_answers_keep_cluster_passwords() {
    let a = cluster();
    let bundle = parsed(&a, "node-3");
    assert_eq!(bundle.answers.this_node.as_deref(), Some("node-3"));
    assert!(bundle.answers.kibana.is_none());
    let n3 = Node::new("node-3", "10.0.0.13");
    let (code, out, err) = n3.apply_bundle(&bundle_of(&a, "node-3"), &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("_password"), "{out}");
    assert!(!out.contains("bundles/"), "{out}");
}

#[test]
fn https_bundle_carries_and_installs_the_http_certificate() {
    let n1 = Node::new("node-1", "10.0.0.11");
    let answers = n1.path("answers.yml");
    std::fs::write(&answers, THREE_NODES.replace("tier: basic", "tier: https")).unwrap();
    let (code, out, err) = n1.run(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(code, 7, "{out}{err}");
    let b2 = bundle_of(&n1, "node-2");
    let text = std::fs::read_to_string(&b2).unwrap();
    assert_eq!(text.matches("-----BEGIN PRIVATE KEY-----").count(), 2);

    let n2 = Node::new("node-2", "10.0.0.12");
    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert_eq!(code, 7, "{out}{err}");
    let crt = n2.path("elasticsearch/certs/http.crt");
    let ca = n1.path("state/ca/ca.crt");
    let sans = verified_sans(&ca, &crt);
    for want in [
        "DNS:node-2.example.internal",
        "DNS:localhost",
        "IP Address:10.0.0.12",
        "IP Address:127.0.0.1",
    ] {
        assert!(sans.contains(want), "{want}: {sans}");
    }
    let yml = std::fs::read_to_string(n2.path("elasticsearch/elasticsearch.yml")).unwrap();
    assert!(
        yml.contains("xpack.security.http.ssl.enabled: true"),
        "{yml}"
    );
}

#[test]
fn at_a_terminal_the_fingerprint_is_shown_and_asked_for() {
    use expectrl::Expect as _;
    let a = cluster();
    let n2 = Node::new("node-2", "10.0.0.12");
    let spawn = || {
        let mut cmd = support::install::es_secure(n2.dir.path(), "nobody");
        cmd.arg("--kibana-config")
            .arg(n2.path("kibana"))
            .args(["apply", "--bundle"])
            .arg(bundle_of(&a, "node-2"))
            .env("TERM", "xterm");
        let mut s = expectrl::Session::spawn(cmd).unwrap();
        s.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
        s
    };
    // Declined: nothing changed.
    let before = n2.snapshot();
    let mut s = spawn();
    s.expect(a.ca_fp().as_str()).unwrap();
    s.expect("Is this the CA fingerprint the CA host printed?")
        .unwrap();
    s.send("n\r").unwrap();
    s.expect("the bundle's CA was not confirmed; nothing was changed")
        .unwrap();
    s.expect(expectrl::Eof).unwrap();
    assert_eq!(before, n2.snapshot());
    // Confirmed: the plan follows (and is then cancelled at its own prompt).
    let mut s = spawn();
    s.expect("Is this the CA fingerprint the CA host printed?")
        .unwrap();
    s.send("y\r").unwrap();
    s.expect("install transport certificate from the bundle")
        .unwrap();
    s.expect("Apply this plan?").unwrap();
    s.send("n\r").unwrap();
    s.expect("cancelled; nothing was changed").unwrap();
    s.expect(expectrl::Eof).unwrap();
    assert_eq!(before, n2.snapshot());
}

/// Issue 19: `renew --all --answers FILE` on the CA host writes new signed bundles for the
/// other nodes (new transport certificates from the same CA, same SANs); node-2 applies the
/// new bundle after its first one, and its installed certificate changes to the renewed one.
#[test]
fn renew_all_writes_new_signed_bundles_for_the_other_nodes() {
    let n1 = cluster();
    let b2 = bundle_of(&n1, "node-2");
    let n2 = Node::new("node-2", "10.0.0.12");
    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert_eq!(code, 7, "{out}{err}");
    let installed = std::fs::read(n2.path("elasticsearch/certs/transport.crt")).unwrap();
    let first = std::fs::read_to_string(&b2).unwrap();
    let answers = n1.path("answers.yml");
    let (code, out, err) = n1.run(&[
        "renew",
        "--all",
        "--answers",
        answers.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let fp = n1.ca_fp();
    for node in ["node-2", "node-3"] {
        let line =
            format!("es-secure apply --bundle {node}.bundle.yml --ca-fingerprint {fp} --yes");
        assert!(out.contains(&line), "{line}\n{out}");
    }
    let second = std::fs::read_to_string(&b2).unwrap();
    assert_ne!(first, second);
    // The new bundle names the new cluster file written next to it.
    let new = parsed(&n1, "node-2");
    assert_eq!(n1.ca_fp(), new.ca_fingerprint);
    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert!(code == 0 || code == 7, "{out}{err}");
    assert!(err.contains("signature verified"), "{out}{err}");
    let now = std::fs::read(n2.path("elasticsearch/certs/transport.crt")).unwrap();
    assert_ne!(installed, now, "node-2 still has its first certificate");
    assert!(
        verified_sans(
            &n2.path("elasticsearch/certs/ca.crt"),
            &n2.path("elasticsearch/certs/transport.crt")
        )
        .contains("10.0.0.12")
    );
}

/// The hardening settings every node must share, as `key: value` lines of `yml`.
fn hardening_lines(yml: &str) -> Vec<String> {
    yml.lines()
        .filter(|l| {
            [
                "xpack.security.audit.",
                "xpack.security.transport.filter.",
                "xpack.security.http.filter.",
                "xpack.security.transport.ssl.supported_protocols",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn hardening_reaches_the_other_nodes_through_their_bundles() {
    // A node answering GET _license with a trial (the apply reads it before writing Gold
    // settings), reached on loopback by both nodes' applies.
    let fake = support::fake_es::FakeEs::with_license("trial");
    let on_fake = |n: &Node| {
        let path = n.path("elasticsearch/elasticsearch.yml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "http.port: 9200",
            &format!("http.host: 127.0.0.1\nhttp.port: {}", fake.port),
        );
        std::fs::write(&path, text).unwrap();
    };
    let n1 = Node::new("node-1", "10.0.0.11");
    on_fake(&n1);
    let answers = n1.path("answers.yml");
    std::fs::write(
        &answers,
        format!(
            "{THREE_NODES}hardening:\n  audit: {{}}\n  tls_protocols: [TLSv1.3, TLSv1.2]\n  kibana_session: {{idle_timeout: 30m}}\n  ip_filter:\n    http_allow: [127.0.0.1, 10.0.0.0/8]\n"
        ),
    )
    .unwrap();
    let (code, out, err) = n1.run(&["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(code, 7, "{out}{err}");
    let yml1 = std::fs::read_to_string(n1.path("elasticsearch/elasticsearch.yml")).unwrap();
    let want = hardening_lines(&yml1);
    for line in [
        "xpack.security.audit.enabled: true",
        "xpack.security.transport.filter.allow:",
        "xpack.security.http.filter.allow:",
        "xpack.security.transport.ssl.supported_protocols:",
    ] {
        assert!(want.iter().any(|l| l.starts_with(line)), "{line}\n{yml1}");
    }
    // The bundle carries the Elasticsearch hardening, not Kibana's sessions.
    let b2 = bundle_of(&n1, "node-2");
    let bundle = parsed(&n1, "node-2");
    let carried = bundle
        .answers
        .hardening
        .clone()
        .expect("hardening in the bundle");
    assert!(carried.kibana_session.is_none());

    let n2 = Node::new("node-2", "10.0.0.12");
    on_fake(&n2);
    fake.take();
    let (code, plan, err) = n2.apply_bundle(&b2, &["--dry-run"]);
    assert_eq!(code, 0, "{plan}{err}");
    assert!(plan.contains("Audit logging:"), "{plan}");
    let (code, out, err) = n2.apply_trusted(&b2, &n1);
    assert_eq!(code, 7, "{out}{err}");
    // Node-2 read the license too before writing Gold settings.
    assert!(
        fake.take().iter().any(|r| r.path == "/_license"),
        "no license read on node-2"
    );
    let yml2 = std::fs::read_to_string(n2.path("elasticsearch/elasticsearch.yml")).unwrap();
    assert_eq!(hardening_lines(&yml2), want, "{yml2}");
    // The transport allow list is the cluster's, the same on every node.
    assert!(
        want.iter()
            .any(|l| l.contains("transport.filter.allow") && l.contains("10.0.0.13")),
        "{want:?}"
    );
}
