//! Planner tests: the full-cluster restart on the CA host (allocation off before, the cluster
//! wait and allocation back on after) and what a bundle host is told.

use super::*;

/// Node-1 of a two-node cluster, from tier none, with the answers' restart method.
fn ca_host_plan(restart: &str, state: StateFacts) -> Plan {
    let mut facts = facts_for(
        "cluster.name: prod-logs\nnode.name: node-1\nnetwork.host: 10.0.0.11\nxpack.security.enabled: false\n",
    );
    facts.state = state;
    let text = format!(
        "version: 1\ntier: https\nelasticsearch:\n  restart: {restart}\nnodes:\n  - {{name: node-1, dns: [node-1.example.internal], ip: [10.0.0.11]}}\n  - {{name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}}\nthis_node: node-1\n"
    );
    let answers = Answers::from_raw(&parse_raw(&text).unwrap()).unwrap();
    build_plan(&facts, &answers).unwrap()
}

#[test]
fn full_cluster_restart_disables_allocation_first_on_the_ca_host() {
    let plan = ca_host_plan("manual", StateFacts::default());
    assert_eq!(plan.restart, RestartKind::Full);
    // Before any file step, on the cluster as it runs now (plain HTTP, tier none).
    assert_eq!(
        plan.steps[0],
        Step::PrepareRestart {
            url: "http://10.0.0.11:9200".to_string()
        }
    );
    assert!(plan.disables_allocation());
    assert!(plan.stops_for_restart());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.contains("primaries") && n.text.contains("all 2 nodes")),
        "{:?}",
        plan.notes
    );
    let json = crate::domain::plan_json::document(&plan).unwrap();
    assert_eq!(json["restart"], "full");
    assert_eq!(
        json["steps"][0]["PrepareRestart"]["url"],
        "http://10.0.0.11:9200"
    );
    let text = crate::domain::render::plan_text(&plan);
    assert!(
        text.contains("cluster.routing.allocation.enable=primaries, then POST /_flush"),
        "{text}"
    );
}

#[test]
fn full_cluster_restart_by_systemd_or_on_a_bundle_host_only_says_what_to_do() {
    let plan = ca_host_plan("systemd", StateFacts::default());
    assert_eq!(plan.restart, RestartKind::Full);
    assert!(!plan.disables_allocation());
    assert!(
        plan.notes.iter().any(|n| n
            .text
            .contains("Before stopping the nodes, disable shard allocation")),
        "{:?}",
        plan.notes
    );
    let (facts, answers) = bundle_setup(Tier::Basic);
    let plan = build_plan(&facts, &answers).unwrap();
    assert_eq!(plan.restart, RestartKind::Full);
    assert!(!plan.disables_allocation());
}

#[test]
fn rerun_after_a_prepared_restart_waits_for_the_cluster_then_enables_allocation() {
    let state = StateFacts {
        restart_pending: true,
        allocation_disabled: true,
        ..StateFacts::default()
    };
    let plan = ca_host_plan("manual", state);
    let pos = |f: &dyn Fn(&Step) -> bool| plan.steps.iter().position(f).unwrap();
    let health = pos(&|s| matches!(s, Step::WaitHealthy { .. }));
    let cluster = pos(&|s| matches!(s, Step::WaitCluster { nodes: 2, .. }));
    let finish = pos(&|s| matches!(s, Step::FinishRestart { url } if url.starts_with("https://")));
    let reset = pos(&|s| matches!(s, Step::ResetPassword { .. }));
    assert!(
        health < cluster && cluster < finish && finish < reset,
        "{:?}",
        plan.steps
    );
    // Without the state's record, allocation is not touched after the restart.
    let plan = ca_host_plan(
        "manual",
        StateFacts {
            restart_pending: true,
            ..StateFacts::default()
        },
    );
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::WaitCluster { .. } | Step::FinishRestart { .. }))
    );
}
