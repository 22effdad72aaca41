//! Not a test: the driver of `scripts/bench-rest-phase.sh` (issue 21), ignored so that
//! `cargo test` never runs it. It times the REST phase of real applies (password changes and
//! verification after the restart) for one or more release binaries, interleaved run by run
//! so that a busy machine slows every binary alike, and prints one `BENCH` line per apply
//! plus, with `ES_SECURE_TRACE=1` passed through, the binary's per-request trace lines.
//! It asserts only that each apply succeeded; the numbers are for people to read.
//!
//! Two kinds of run, on Elasticsearch 8 nodes started by the harness:
//! - `fresh`: a new unsecured node per apply, tier none → minimal with a temporary
//!   superuser: the first password change creates the `.security` index (the case of a
//!   first apply).
//! - `rotate`: one node, secured once, then `passwords.rotate: true` applies: six password
//!   changes and the verification on an existing security index, no restart.
//!
//! Environment: `ES_SECURE_BENCH_BINS` (space-separated `label=path`), `ES_SECURE_BENCH_FRESH`
//! and `ES_SECURE_BENCH_ROTATE` (runs per binary, default 0 and 5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::es::{self, EsVersion, Node, Security, say};
use support::es_secure::{on_node, state_dir};

struct Bin {
    label: String,
    path: PathBuf,
}

fn bins() -> Vec<Bin> {
    let text = std::env::var("ES_SECURE_BENCH_BINS")
        .unwrap_or_else(|_| format!("this={}", env!("CARGO_BIN_EXE_es-secure")));
    text.split_whitespace()
        .map(|item| {
            let (label, path) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("ES_SECURE_BENCH_BINS item {item:?} is not label=path"));
            Bin {
                label: label.to_string(),
                path: PathBuf::from(path),
            }
        })
        .collect()
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn answers(node: &Node, state: &Path, rotate: bool) -> PathBuf {
    support::es_secure::answers_file(
        node,
        &[node],
        "minimal",
        state,
        &format!("  rotate: {rotate}\n"),
        &format!("answers-{rotate}.yml"),
    )
}

/// One apply with `bin`; prints its BENCH line and trace lines; panics when it fails.
fn apply(bin: &Bin, kind: &str, run: usize, node: &Node, state: &Path, answers: &Path) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    let started = Instant::now();
    let mut cmd = Command::new(&bin.path);
    cmd.args(["apply", "--yes", "--answers"]).arg(answers);
    on_node(&mut cmd, node, state).env("ES_SECURE_TEST_RESTART_TIMEOUT", "400");
    let out = support::run::output_within(&mut cmd, Duration::from_secs(900));
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} apply failed:\n{stdout}\n{stderr}",
        bin.label
    );
    let rest = stdout
        .lines()
        .find_map(|l| {
            let (head, _) = l.split_once(" s in password changes and checks over REST")?;
            head.rsplit(' ').next().map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string());
    say(&format!(
        "BENCH bin={} kind={kind} run={run} rest_s={rest} wall_s={wall:.2} load={load}",
        bin.label
    ));
    for l in stderr
        .lines()
        .filter(|l| l.starts_with("trace ") || l.contains("done ("))
    {
        say(&format!(
            "TRACE bin={} kind={kind} run={run} {l}",
            bin.label
        ));
    }
}

fn unsecured_node(name: &str) -> Node {
    let mut node = Node::builder(EsVersion::V8, name)
        .security(Security::Disabled)
        .build()
        .unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();
    node
}

#[test]
#[ignore = "benchmark driver for scripts/bench-rest-phase.sh"]
fn rest_phase() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let bins = bins();
    let fresh = count("ES_SECURE_BENCH_FRESH", 0);
    let rotate = count("ES_SECURE_BENCH_ROTATE", 5);
    for run in 1..=fresh {
        // Alternate the order each round: the machine's load drifts.
        let order: Vec<&Bin> = if run % 2 == 1 {
            bins.iter().collect()
        } else {
            bins.iter().rev().collect()
        };
        for bin in order {
            let node = unsecured_node(&format!("bench_fresh_{}_{run}", bin.label));
            let state = state_dir();
            let a = answers(&node, state.path(), false);
            apply(bin, "fresh", run, &node, state.path(), &a);
        }
    }
    if rotate == 0 {
        return;
    }
    let node = unsecured_node("bench_rotate");
    let state = state_dir();
    let first = answers(&node, state.path(), false);
    apply(&bins[0], "setup", 0, &node, state.path(), &first);
    let again = answers(&node, state.path(), true);
    for run in 1..=rotate {
        let order: Vec<&Bin> = if run % 2 == 1 {
            bins.iter().collect()
        } else {
            bins.iter().rev().collect()
        };
        for bin in order {
            apply(bin, "rotate", run, &node, state.path(), &again);
        }
    }
}
