#![allow(clippy::unwrap_used, clippy::expect_used)]
//! es-secure's `elasticsearch.keystore` reader/writer against the real
//! `bin/elasticsearch-keystore` of Elasticsearch distributions, in both directions, with and
//! without a keystore password, in the format each version writes (and, for the newer
//! versions, in older formats they must still read).
//!
//! The distributions are `org.elasticsearch.distribution.integ-test-zip:elasticsearch` zips,
//! found through env vars (the CI test script sets them; for a manual run fetch with
//! `mvn -q dependency:copy -Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:<v>:zip -DoutputDirectory=$HOME/.cache/es-secure-test`):
//! - `ES_SECURE_TEST_ZIP_8`: an 8.x zip (8.19.x: format 7), run with `ES_SECURE_TEST_JAVA_8`
//!   (default `/usr/lib/jvm/java-17-openjdk-amd64`);
//! - `ES_SECURE_TEST_ZIP_9`: a 9.x zip, run with `ES_SECURE_TEST_JAVA_9`
//!   (default `/usr/lib/jvm/temurin-25-jdk-amd64`);
//! - `ES_SECURE_TEST_ZIP_8_OLD` (optional): an older 8.x zip (8.13.x: format 5; 8.14–8.17:
//!   format 6), run with `ES_SECURE_TEST_JAVA_8`.
//!
//! Each zip is extracted once into `<zip>.extracted/` next to it (outside the repository).
//! Unset env var → a loud `SKIPPED:` line and the test returns (a failure under
//! `ES_SECURE_TEST_REQUIRE=1`, as in CI).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use es_secure::shell::keystore::es::{EsKeystore, KeystoreError, format_for_version};

/// Printable ASCII with shell- and YAML-hostile characters; one line, as `add --stdin` reads.
const TRICKY: &str = "p@ss w0rd!\"'$`\\;#:=%{}[]~";
/// A multi-line "file" value, as `add-file` stores.
const FILE_VALUE: &[u8] = b"-----BEGIN TEST-----\nline two\n\tline three\n-----END TEST-----\n";
const KS_PASSWORD: &str = "keystore pässword 1";

struct Distro {
    home: PathBuf,
    java: PathBuf,
    major: u32,
    minor: u32,
}

fn distro(zip_var: &str, java_var: &str, java_default: &str) -> Option<Distro> {
    let Some(zip) = std::env::var_os(zip_var) else {
        support::skip(&format!(
            "{zip_var} is not set, so the elasticsearch-keystore round-trip tests did not run \
             (point it at an integ-test-zip elasticsearch-<version>.zip)"
        ));
        return None;
    };
    let java =
        std::env::var_os(java_var).map_or_else(|| PathBuf::from(java_default), PathBuf::from);
    let home = extract(Path::new(&zip));
    let name = home.file_name().unwrap().to_string_lossy().to_string();
    let version = name.strip_prefix("elasticsearch-").unwrap();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    eprintln!(
        "using Elasticsearch {version} at {} with {}",
        home.display(),
        java.display()
    );
    Some(Distro {
        home,
        java,
        major,
        minor,
    })
}

/// Extracts the zip once into `<zip>.extracted/` (atomically, so parallel test runs agree)
/// and returns the `elasticsearch-<version>` directory inside.
fn extract(zip: &Path) -> PathBuf {
    let target = PathBuf::from(format!("{}.extracted", zip.display()));
    if !target.exists() {
        let tmp = PathBuf::from(format!(
            "{}.extracting-{}",
            zip.display(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let status =
            support::run::output(Command::new("unzip").arg("-q").arg(zip).arg("-d").arg(&tmp))
                .status;
        assert!(status.success(), "unzip {} failed", zip.display());
        if std::fs::rename(&tmp, &target).is_err() {
            // Another run won the race; use its copy.
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("elasticsearch-"))
        })
        .unwrap()
}

impl Distro {
    fn format(&self) -> u32 {
        format_for_version(self.major, self.minor)
    }

    /// Runs `elasticsearch-keystore <args>` on config dir `conf` with `stdin` lines.
    fn try_run(&self, conf: &Path, args: &[&str], stdin: &str) -> Output {
        support::run::output_with_stdin(
            Command::new(self.home.join("bin/elasticsearch-keystore"))
                .args(args)
                .env("ES_JAVA_HOME", &self.java)
                .env_remove("JAVA_HOME")
                .env("ES_PATH_CONF", conf),
            stdin.as_bytes(),
            support::run::LIMIT,
        )
    }

    fn run(&self, conf: &Path, args: &[&str], stdin: &str) -> Vec<u8> {
        let out = self.try_run(conf, args, stdin);
        assert!(
            out.status.success(),
            "elasticsearch-keystore {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn list(&self, conf: &Path, password: &str) -> Vec<String> {
        let stdin = pw_line(password);
        let out = self.run(conf, &["list"], &stdin);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn show(&self, conf: &Path, password: &str, name: &str) -> Vec<u8> {
        self.run(conf, &["show", name], &pw_line(password))
    }
}

/// The password line the CLI reads first from stdin when the keystore has one.
fn pw_line(password: &str) -> String {
    if password.is_empty() {
        String::new()
    } else {
        format!("{password}\n")
    }
}

fn keystore_file(conf: &Path) -> PathBuf {
    conf.join("elasticsearch.keystore")
}

/// Adds a string setting with the CLI. With a keystore password, the value goes in through
/// `add-file`: in 8.13.4, `add --stdin` read the value from a different reader than the
/// password, so piping both through stdin stored an empty value (8.19.21 reads both with
/// `Terminal.readSecret`, cf. elastic/elasticsearch#126966).
fn add_string(d: &Distro, conf: &Path, password: &str, name: &str, value: &str) {
    if password.is_empty() {
        d.run(conf, &["add", "-x", name], &format!("{value}\n"));
    } else {
        let file = conf.join(format!("{name}.value"));
        std::fs::write(&file, value).unwrap();
        d.run(
            conf,
            &["add-file", name, file.to_str().unwrap()],
            &pw_line(password),
        );
    }
}

/// Their `create`/`add`/`add-file` → our parser.
fn theirs_to_ours(d: &Distro, password: &str) {
    let conf = tempfile::tempdir().unwrap();
    let c = conf.path();
    if password.is_empty() {
        d.run(c, &["create"], "");
    } else {
        d.run(c, &["create", "-p"], &format!("{password}\n{password}\n"));
    }
    let pw = pw_line(password);
    add_string(d, c, password, "bootstrap.password", TRICKY);
    let file = c.join("value.txt");
    std::fs::write(&file, FILE_VALUE).unwrap();
    d.run(
        c,
        &["add-file", "xpack.test.file", file.to_str().unwrap()],
        &pw,
    );

    let bytes = std::fs::read(keystore_file(c)).unwrap();
    let header = EsKeystore::peek(&bytes).unwrap();
    assert_eq!(
        header.format,
        d.format(),
        "format ES {}.{} writes",
        d.major,
        d.minor
    );
    assert_eq!(header.has_password, !password.is_empty());
    let ks = EsKeystore::parse(&bytes, password).unwrap();
    assert_eq!(
        ks.names(),
        vec!["bootstrap.password", "keystore.seed", "xpack.test.file"]
    );
    assert_eq!(ks.get("bootstrap.password").unwrap(), TRICKY.as_bytes());
    assert_eq!(ks.get("xpack.test.file").unwrap(), FILE_VALUE);
    assert_eq!(ks.get("keystore.seed").unwrap().len(), 20);
    if !password.is_empty() {
        assert!(matches!(
            EsKeystore::parse(&bytes, ""),
            Err(KeystoreError::PasswordRequired { .. })
        ));
        assert!(matches!(
            EsKeystore::parse(&bytes, "wrong"),
            Err(KeystoreError::WrongPassword { .. })
        ));
    }
}

/// Our writer (in `format`) → their `list`/`show`, then their `add` re-saves our file and we
/// read it back.
fn ours_to_theirs(d: &Distro, format: u32, password: &str, resave: bool) {
    let conf = tempfile::tempdir().unwrap();
    let c = conf.path();
    let mut ks = EsKeystore::new(format).unwrap();
    ks.set("bootstrap.password", TRICKY.as_bytes()).unwrap();
    ks.set("xpack.test.file", FILE_VALUE).unwrap();
    std::fs::write(keystore_file(c), ks.to_bytes(password).unwrap()).unwrap();

    let ctx = format!("ES {}.{} reading our format {format}", d.major, d.minor);
    assert_eq!(
        d.list(c, password),
        vec!["bootstrap.password", "keystore.seed", "xpack.test.file"],
        "{ctx}"
    );
    assert_eq!(
        d.show(c, password, "bootstrap.password"),
        TRICKY.as_bytes(),
        "{ctx}"
    );
    if !resave {
        return;
    }
    assert_eq!(d.show(c, password, "xpack.test.file"), FILE_VALUE, "{ctx}");
    let has = d.try_run(c, &["has-passwd"], "");
    assert_eq!(
        has.status.success(),
        !password.is_empty(),
        "{ctx}: has-passwd"
    );

    add_string(d, c, password, "extra.setting", "extra");
    let back = EsKeystore::parse(&std::fs::read(keystore_file(c)).unwrap(), password).unwrap();
    assert_eq!(back.get("extra.setting").unwrap(), b"extra");
    assert_eq!(back.get("bootstrap.password").unwrap(), TRICKY.as_bytes());
    assert_eq!(back.get("keystore.seed"), ks.get("keystore.seed"));
}

fn full_round_trip(d: &Distro, older_formats: &[u32]) {
    theirs_to_ours(d, "");
    theirs_to_ours(d, KS_PASSWORD);
    ours_to_theirs(d, d.format(), "", true);
    ours_to_theirs(d, d.format(), KS_PASSWORD, true);
    for &f in older_formats {
        ours_to_theirs(d, f, "", false);
    }
}

#[test]
fn es8_keystore_cli_round_trip() {
    let Some(d) = distro(
        "ES_SECURE_TEST_ZIP_8",
        "ES_SECURE_TEST_JAVA_8",
        "/usr/lib/jvm/java-17-openjdk-amd64",
    ) else {
        return;
    };
    // An 8.13 keystore (format 5) left behind by an upgrade must stay readable.
    full_round_trip(&d, &[5]);
}

#[test]
fn es9_keystore_cli_round_trip() {
    let Some(d) = distro(
        "ES_SECURE_TEST_ZIP_9",
        "ES_SECURE_TEST_JAVA_9",
        "/usr/lib/jvm/temurin-25-jdk-amd64",
    ) else {
        return;
    };
    full_round_trip(&d, &[4, 5, 6]);
}

#[test]
fn es8_old_keystore_cli_round_trip() {
    let Some(d) = distro(
        "ES_SECURE_TEST_ZIP_8_OLD",
        "ES_SECURE_TEST_JAVA_8",
        "/usr/lib/jvm/java-17-openjdk-amd64",
    ) else {
        return;
    };
    full_round_trip(&d, &[4]);
}

/// Debug-build cost of one key derivation per format family (printed, not asserted: the
/// machine's load decides it). Ignored by default because format 7 costs seconds; run with
/// `cargo test --test keystore_es_cli kdf_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing report only"]
fn kdf_timing_report() {
    for format in [5, 7] {
        let ks = EsKeystore::new(format).unwrap();
        let start = std::time::Instant::now();
        let bytes = ks.to_bytes("").unwrap();
        let write = start.elapsed();
        let start = std::time::Instant::now();
        EsKeystore::parse(&bytes, "").unwrap();
        eprintln!(
            "format {format}: to_bytes {write:?}, parse {:?}",
            start.elapsed()
        );
    }
}
