//! Speed targets of the tool's own work (issue: performance), as criterion benchmarks —
//! never as timed tests: the TUI's first frame (< 100 ms), reading and classifying a
//! 10,000-line `elasticsearch.yml` (the heart of `status`, < 50 ms) and planning a 3-node
//! https cluster. Process-level figures (`--version`, `status`, `plan` as commands) come
//! from `scripts/bench-cli.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use es_secure::domain::answers::Answers;
use es_secure::domain::{planner, settings, tier};
use es_secure::ui::tui::demo;

/// A 10,000-line file: Elastic's comment style, a few hundred settings, one nested block.
pub fn big_yml() -> String {
    let mut s = String::new();
    for i in 0..2000 {
        s.push_str(
            "# ---------------------------------- Section ----------------------------------\n#\n",
        );
        s.push_str(&format!(
            "# Explanation of setting number {i}, kept by es-secure byte for byte.\n#\n"
        ));
        s.push_str(&format!(
            "custom.group{}.setting{i}: \"value {i}\"\n",
            i % 50
        ));
    }
    s.push_str("xpack:\n  security:\n    enabled: false\n");
    s
}

fn benches(c: &mut Criterion) {
    let yml = big_yml();
    assert!(yml.lines().count() >= 10_000);
    c.bench_function(
        "status core: parse + tier of a 10k-line elasticsearch.yml",
        |b| {
            b.iter(|| {
                let parsed = settings::parse("elasticsearch.yml", &yml).unwrap();
                tier::detect(&parsed.settings, parsed.autoconfig.is_some())
            })
        },
    );

    let facts = demo::facts();
    let answers = Answers::from_raw(&demo::answers()).unwrap();
    c.bench_function("plan: 3-node https cluster with Kibana", |b| {
        b.iter(|| planner::build_plan(&facts, &answers).unwrap())
    });

    let screens = demo::screens();
    c.bench_function("TUI first frame (welcome, 80x24)", |b| {
        b.iter(|| demo::render_buffer(&screens[0].1, 80, 24).unwrap())
    });
    c.bench_function("TUI frame (review with diff, 80x24)", |b| {
        let review = screens
            .iter()
            .find(|(n, _)| n.contains("review"))
            .map(|(_, m)| m)
            .unwrap_or(&screens[0].1);
        b.iter(|| demo::render_buffer(review, 80, 24).unwrap())
    });
}

criterion_group!(cli, benches);
criterion_main!(cli);
