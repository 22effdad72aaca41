//! End-to-end under a real systemd: `restart: systemd` is exercised against a deb-layout
//! Elasticsearch that systemd 252 runs as `elasticsearch.service`, inside a
//! `systemd-nspawn --boot` container (`tests/support/nspawn.rs`, image from
//! `scripts/nspawn-image.sh`). es-secure runs inside the container with no path flags, as an
//! operator on a deb host would.
//!
//! One container per ES version, one scenario each (a boot costs ~30-60 s):
//! 1. detection: `status` finds the package layout with no flags;
//! 2. a config ES cannot start with → `systemctl restart` fails → exit 4, rolled back, ES
//!    running again on the old files, systemd's stderr quoted;
//! 3. tier none → https with `restart: systemd` in one apply (exit 0): new MainPID, the journal
//!    shows the restart, `verify` authenticates every built-in user over HTTPS pinned to the CA.
//!
//! Skips loudly when root, nspawn or the ES copies are missing; `ES_SECURE_TEST_REQUIRE=1`
//! makes that a failure. Run the versions one at a time or two at most (2-core machines).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/nspawn.rs"]
mod nspawn;
mod support;

use std::path::Path;
use std::time::Instant;

use nspawn::Container;
use support::es::{EsVersion, say};
use support::es_secure::USERS;

const ANSWERS: &str = "/root/answers.yml";
const YML: &str = "/etc/elasticsearch/elasticsearch.yml";

/// Answers an operator would write on a single deb node: no paths, systemd restarts ES.
const ANSWERS_HTTPS: &str = "version: 1
tier: https
elasticsearch:
  url: https://localhost:9200
  restart: systemd
  health_timeout_secs: 400
nodes:
  - name: es-node
    dns: [localhost]
    ip: [127.0.0.1]
this_node: es-node
passwords:
  output_file: /root/passwords.txt
";

/// Harmless while security is off (the security plugin builds no realms then), fatal once
/// es-secure turns security on: an LDAP realm without its required `url`. It is the kind of
/// leftover an operator's elasticsearch.yml really carries, and es-secure leaves it alone, so
/// the restart fails on ES's own start-up check, not on anything the test fakes.
const BROKEN_REALM: &str =
    "\n# left over from an LDAP trial\nxpack.security.authc.realms.ldap.ldap-trial.order: 5\n";

/// Owner, group, mode, size and checksum of every file under /etc/elasticsearch: the "old
/// files" ES must be running on again after a rollback.
fn config_fingerprint(c: &Container) -> String {
    c.sh(
        "cd /etc/elasticsearch && find . -printf '%p %u:%g %m %s\\n' | sort && \
         find . -type f -exec sha256sum {} + | sort -k2",
        60,
    )
    .unwrap()
}

/// An unauthenticated plain-HTTP `GET /_cluster/health` from inside the container (minbase
/// has no curl).
fn http_health(c: &Container) -> String {
    c.run(
        &[
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/9200 && printf 'GET /_cluster/health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3",
        ],
        30,
    )
    .unwrap()
    .stdout
}

fn es_secure(c: &Container, args: &[&str], secs: u64) -> nspawn::Run {
    let mut full = vec!["es-secure"];
    full.extend_from_slice(args);
    let r = c.run(&full, secs).unwrap();
    say(&format!(
        "es-secure {} in container: exit {} in {:.1}s",
        args.join(" "),
        r.code,
        r.took.as_secs_f64()
    ));
    r
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn scenario(v: EsVersion) {
    if !nspawn::available(v) {
        return;
    }
    let t0 = Instant::now();
    let bin = Path::new(env!("CARGO_BIN_EXE_es-secure"));
    let c = Container::boot(v, &format!("es-systemd-{}", v.major()), bin).unwrap();

    // --- 1. the deb layout is detected with no flags ------------------------------------
    let status = es_secure(&c, &["status"], 120);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("layout:      Package"), "{status:?}");
    assert!(
        status.stdout.contains("config:      /etc/elasticsearch"),
        "{status:?}"
    );
    assert!(
        status
            .stdout
            .contains("home:        /usr/share/elasticsearch"),
        "{status:?}"
    );
    assert!(status.stdout.contains(&v.version()), "{status:?}");
    assert!(status.stdout.contains("tier:        none"), "{status:?}");

    c.write_file(ANSWERS, ANSWERS_HTTPS).unwrap();
    let original_yml = c.read_file(YML).unwrap();

    // --- 2. ES cannot start on the new config: systemctl fails, everything rolls back ----
    c.write_file(YML, &format!("{original_yml}{BROKEN_REALM}"))
        .unwrap();
    let before_fail = config_fingerprint(&c);
    let pid_before_fail = c.es_property("MainPID").unwrap();
    let t_fail = Instant::now();
    let failed = es_secure(&c, &["apply", "--yes", "--answers", ANSWERS], 1200);
    say(&format!(
        "TIMING failing apply + rollback restart: {:.1}s",
        t_fail.elapsed().as_secs_f64()
    ));
    assert_eq!(
        failed.code, 4,
        "a failed restart must roll back: {failed:?}"
    );
    let out = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        out.contains("Job for elasticsearch.service failed"),
        "the message must quote systemd's stderr: {failed:?}"
    );
    assert!(
        out.contains("Elasticsearch was restarted on the restored files"),
        "{failed:?}"
    );
    assert_eq!(
        config_fingerprint(&c),
        before_fail,
        "the rollback must restore every file under /etc/elasticsearch"
    );
    assert_eq!(c.es_property("ActiveState").unwrap(), "active");
    let pid_after_fail = c.es_property("MainPID").unwrap();
    assert_ne!(pid_after_fail, "0");
    assert_ne!(
        pid_after_fail, pid_before_fail,
        "ES must have been restarted on the restored files"
    );
    let health = http_health(&c);
    assert!(
        health.contains(" 200 OK") && health.contains(r#""cluster_name":"nspawn-test""#),
        "ES must serve plain HTTP again, unsecured, on the old files: {health}"
    );
    let journal = c.es_journal().unwrap();
    assert!(
        journal.contains("Failed to start elasticsearch.service"),
        "the journal must record the failed start:\n{journal}"
    );
    // The start failed on ES's own check of the realm (ES logs to its file: `--quiet`).
    let es_log = c
        .read_file("/var/log/elasticsearch/nspawn-test.log")
        .unwrap();
    assert!(
        es_log.contains("ldap-trial"),
        "ES must have refused the broken realm"
    );

    // --- 3. tier none → https with restart: systemd, in one apply --------------------------
    c.write_file(YML, &original_yml).unwrap();
    let pid_before = c.es_property("MainPID").unwrap();
    let started_before = count(&c.es_journal().unwrap(), "Started elasticsearch.service");
    let t_apply = Instant::now();
    let applied = es_secure(&c, &["apply", "--yes", "--answers", ANSWERS], 1200);
    say(&format!(
        "TIMING apply none -> https with systemctl restart: {:.1}s",
        t_apply.elapsed().as_secs_f64()
    ));
    assert_eq!(applied.code, 0, "{applied:?}");
    let pid_after = c.es_property("MainPID").unwrap();
    assert_ne!(pid_after, "0");
    assert_ne!(
        pid_after, pid_before,
        "systemctl restart must give a new MainPID"
    );
    assert_eq!(c.es_property("ActiveState").unwrap(), "active");
    let journal = c.es_journal().unwrap();
    assert!(
        journal.contains("Stopping elasticsearch.service"),
        "the journal must show the stop:\n{journal}"
    );
    assert_eq!(
        count(&journal, "Started elasticsearch.service"),
        started_before + 1,
        "the journal must show exactly one more start:\n{journal}"
    );

    let verify = es_secure(&c, &["verify", "--answers", ANSWERS], 600);
    assert_eq!(verify.code, 0, "{verify:?}");
    for user in USERS {
        assert!(
            verify.stdout.contains(user),
            "verify must check {user}: {verify:?}"
        );
    }
    let status = es_secure(&c, &["status"], 120);
    assert!(status.stdout.contains("tier:        https"), "{status:?}");
    // Plain HTTP is gone: the port now speaks TLS only.
    assert!(!http_health(&c).contains("cluster_name"));

    say(&format!(
        "TIMING systemd scenario ES {}: {:.1}s",
        v.version(),
        t0.elapsed().as_secs_f64()
    ));
}

#[test]
fn systemd_restart_rollback_and_https_8() {
    scenario(EsVersion::V8);
}

#[test]
fn systemd_restart_rollback_and_https_9() {
    scenario(EsVersion::V9);
}
