//! The operator's own node certificates (`certificates.node_certs`), made with the real
//! `openssl` command line: a good set is installed byte-for-byte and a re-run has nothing to
//! do; a bad one (missing SAN, expired, from another CA, key not matching) is refused with a
//! precise message, exit 2 and nothing changed on disk.
//!
//! These cases need real certificate files, so they live here rather than in the
//! `tests/bad_inputs/` catalogue (which would make every case pay for openssl runs); the
//! checks are the catalogue's: exit code, message text, no file touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(args: &[&str], dir: &Path) {
    let out = support::run::output(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `<name>.crt`/`<name>.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "3650",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
}

/// A node key and CSR `<name>.key`/`<name>.csr`, and the extensions file `<name>.ext`.
fn make_csr(dir: &Path, name: &str, sans: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=node-1",
        ],
        dir,
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n"
        ),
    )
    .unwrap();
}

/// A node certificate `<name>.crt` signed by CA `ca`, valid from now.
fn make_leaf(dir: &Path, name: &str, ca: &str, sans: &str) {
    make_csr(dir, name, sans);
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "365",
            "-sha256",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

/// A node certificate `<name>.crt` signed by CA `ca` that expired in 2021 (`openssl x509`
/// of OpenSSL 3.0 cannot back-date, `openssl ca` can).
fn make_expired_leaf(dir: &Path, name: &str, ca: &str, sans: &str) {
    make_csr(dir, name, sans);
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    openssl(
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-notext",
            "-cert",
            &format!("{ca}.crt"),
            "-keyfile",
            &format!("{ca}.key"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-extfile",
            &format!("{name}.ext"),
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

const SANS: &str = "DNS:node-1.example.internal,DNS:localhost,IP:10.0.0.11,IP:127.0.0.1";

/// A scratch deb-style install plus `byo/` with the CA and certificates.
struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Searchable by the service user, like /etc: es-secure checks it can read what it writes.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/installs/deb");
        std::fs::create_dir_all(dir.path().join("elasticsearch")).unwrap();
        std::fs::copy(
            src.join("elasticsearch/elasticsearch.yml"),
            dir.path().join("elasticsearch/elasticsearch.yml"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("home/lib")).unwrap();
        std::fs::write(dir.path().join("home/lib/elasticsearch-8.19.21.jar"), b"").unwrap();
        // As an earlier es-secure run leaves it: apply's lock and journal live here.
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::set_permissions(
            dir.path().join("state"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        let byo = dir.path().join("byo");
        std::fs::create_dir_all(&byo).unwrap();
        make_ca(&byo, "ca");
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn byo(&self) -> PathBuf {
        self.path("byo")
    }

    /// Answers for tier basic with our CA and `transport` = `byo/<name>.crt|key`.
    fn answers(&self, name: &str) -> PathBuf {
        self.answers_with("basic", name, None)
    }

    /// Answers for `tier` with our CA, `transport` = `byo/<transport>.crt|key` and, when
    /// given, `http` = `byo/<http>.crt|key`.
    fn answers_with(&self, tier: &str, transport: &str, http: Option<&str>) -> PathBuf {
        let p = self.path("answers.yml");
        let b = self.byo().display().to_string();
        let http = http
            .map(|h| format!("    http: {{cert: {b}/{h}.crt, key: {b}/{h}.key}}\n"))
            .unwrap_or_default();
        std::fs::write(
            &p,
            format!(
                "version: 1\ntier: {tier}\nelasticsearch:\n  allow_partial_cluster: true\n  allow_cleartext_rest: true\nnodes:\n  - name: node-1\n    dns: [node-1.example.internal, localhost]\n    ip: [10.0.0.11, 127.0.0.1]\nthis_node: node-1\ncertificates:\n  ca: {{cert: {b}/ca.crt, key: {b}/ca.key}}\n  node_certs:\n    transport: {{cert: {b}/{transport}.crt, key: {b}/{transport}.key}}\n{http}"
            ),
        )
        .unwrap();
        p
    }

    fn run(&self, args: &[&str], answers: &Path) -> (i32, String) {
        let out = support::run::output(
            support::install::es_secure(self.dir.path(), "nobody")
                .args(args)
                .arg("--answers")
                .arg(answers),
        );
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Bytes and mode of every file under the install except the answers file and
    /// es-secure's own bookkeeping (lock, journals).
    fn snapshot(&self) -> BTreeMap<PathBuf, (Option<Vec<u8>>, u32)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(self.dir.path()).unwrap().to_path_buf();
                if rel == Path::new("answers.yml")
                    || rel == Path::new("state/lock")
                    || rel.starts_with("state/txn")
                {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    stack.push(path.clone());
                }
                let bytes = meta.is_file().then(|| std::fs::read(&path).unwrap());
                out.insert(rel, (bytes, meta.mode()));
            }
        }
        out
    }
}

#[test]
fn own_node_certificates_are_installed_and_a_rerun_has_nothing_to_do() {
    let i = Install::new();
    make_leaf(&i.byo(), "node", "ca", SANS);
    let a = i.answers("node");
    // restart: manual → files written and committed, then exit 7 (restart pending).
    let (code, out) = i.run(&["apply", "--yes"], &a);
    assert_eq!(code, 7, "{out}");
    let certs = i.path("elasticsearch/certs");
    for (installed, given) in [("transport.crt", "node.crt"), ("transport.key", "node.key")] {
        assert_eq!(
            std::fs::read(certs.join(installed)).unwrap(),
            std::fs::read(i.byo().join(given)).unwrap(),
            "{installed}"
        );
        let mode = std::fs::metadata(certs.join(installed)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o640, "{installed}");
    }
    assert_eq!(
        std::fs::read(certs.join("ca.crt")).unwrap(),
        std::fs::read(i.byo().join("ca.crt")).unwrap()
    );
    // What is left is the restart and the REST steps after it: no file is written again.
    // (`Nothing to do` only once the restart has happened and the passwords are set.)
    let (code, out) = i.run(&["plan", "--json"], &a);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WaitHealthy"), "{out}");
    for file_step in [
        "InstallOwnCert",
        "IssueCert",
        "InstallCaCert",
        "EditSettings",
        "CreateDir",
    ] {
        assert!(
            !out.contains(file_step),
            "{file_step} planned again:\n{out}"
        );
    }
}

#[test]
fn bad_own_node_certificates_are_refused_before_any_write() {
    let i = Install::new();
    let b = i.byo();
    make_leaf(&b, "nosan", "ca", "DNS:localhost,IP:10.0.0.11,IP:127.0.0.1");
    make_expired_leaf(&b, "expired", "ca", SANS);
    make_ca(&b, "other-ca");
    make_leaf(&b, "othersigned", "other-ca", SANS);
    make_leaf(&b, "wrongkey", "ca", SANS);
    // The certificate of one pair with the key of another.
    std::fs::copy(b.join("nosan.key"), b.join("wrongkey.key")).unwrap();
    let cases = [
        ("nosan", "node-1.example.internal"),
        ("expired", "expired on"),
        ("othersigned", "was not signed by the CA"),
        ("wrongkey", "private key does not belong"),
    ];
    for (name, want) in cases {
        let a = i.answers(name);
        let before = i.snapshot();
        let (code, out) = i.run(&["apply", "--yes"], &a);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(out.contains(want), "{name}: want `{want}` in\n{out}");
        assert!(
            out.contains("certificates.node_certs.transport"),
            "{name}: the message names the key\n{out}"
        );
        let after = i.snapshot();
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "{name}: changed on disk: {changed:?}");
        assert!(!i.path("elasticsearch/certs").exists(), "{name}");
    }
}

#[test]
fn own_http_certificate_in_the_https_tier_is_installed_and_checked() {
    let i = Install::new();
    let b = i.byo();
    make_leaf(&b, "transport", "ca", SANS);
    make_leaf(&b, "http", "ca", SANS);
    // The HTTP certificate must also name localhost and 127.0.0.1 (es-secure connects so).
    make_leaf(
        &b,
        "http-nolocal",
        "ca",
        "DNS:node-1.example.internal,IP:10.0.0.11",
    );
    let a = i.answers_with("https", "transport", Some("http-nolocal"));
    let before = i.snapshot();
    let (code, out) = i.run(&["apply", "--yes"], &a);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("certificates.node_certs.http"), "{out}");
    assert!(out.contains("`localhost`"), "{out}");
    assert_eq!(before, i.snapshot(), "nothing changed");

    let a = i.answers_with("https", "transport", Some("http"));
    let (code, out) = i.run(&["apply", "--yes"], &a);
    assert_eq!(code, 7, "{out}");
    let certs = i.path("elasticsearch/certs");
    for (installed, given) in [
        ("transport.crt", "transport.crt"),
        ("transport.key", "transport.key"),
        ("http.crt", "http.crt"),
        ("http.key", "http.key"),
    ] {
        assert_eq!(
            std::fs::read(certs.join(installed)).unwrap(),
            std::fs::read(b.join(given)).unwrap(),
            "{installed}"
        );
    }
    let (code, out) = i.run(&["plan", "--json"], &a);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("InstallOwnCert"), "{out}");
    assert!(!out.contains("IssueCert"), "{out}");
}
