//! What a restart means for the cluster, and the steps around a full-cluster restart:
//! Elastic's procedure (disable shard allocation down to primaries and flush before stopping;
//! after every node is back, wait for the whole cluster and re-enable allocation). Pure: it
//! decides which steps the plan gets; it must not decide what to edit or call anything.

use super::{Planner, es_url_at};
use crate::domain::answers::Restart;
use crate::domain::plan::{RestartKind, Step};
use crate::domain::tier::Tier;

/// The restart a change needs: none when Elasticsearch's files do not change, the node itself
/// on a single-node cluster, a full-cluster restart when transport TLS turns on (TLS and
/// plaintext nodes cannot talk), otherwise a rolling one.
pub(super) fn kind(es_changed: bool, from: Tier, to: Tier, nodes: usize) -> RestartKind {
    if !es_changed {
        RestartKind::None
    } else if nodes <= 1 {
        RestartKind::Node
    } else if from < Tier::Basic && to >= Tier::Basic {
        RestartKind::Full
    } else {
        RestartKind::Rolling
    }
}

impl Planner<'_> {
    /// Before the file steps of a full-cluster restart: disable allocation and flush, on the
    /// host that holds the CA (it writes the bundles, so it goes first and finishes last), when
    /// es-secure can: the restart is the operator's (`restart: manual`; es-secure restarts only
    /// its own node, which alone cannot form a TLS cluster with plaintext peers), and the
    /// cluster is open now (tier none), so the call needs no credential this apply does not
    /// have yet. Otherwise the plan says how to do it by hand.
    pub(super) fn plan_cluster_restart(&mut self, kind: RestartKind) {
        match kind {
            RestartKind::Full => {}
            RestartKind::Rolling => {
                self.note(
                    "Several nodes: restart them one at a time (a rolling restart): apply and restart this node, wait until the cluster is yellow or green with every node, then the next.",
                );
                return;
            }
            RestartKind::None | RestartKind::Node => return,
        }
        let from = self.facts.es.tier.tier;
        let first_host = self.facts.bundle.is_none();
        if first_host && self.answers.es.restart == Restart::Manual && from == Tier::None {
            let url = es_url_at(self.facts, self.answers, from);
            self.steps.insert(0, Step::PrepareRestart { url });
            self.note(format!(
                "Full-cluster restart, step by step: this apply first disables shard allocation (`cluster.routing.allocation.enable: primaries`) and flushes; then stop all {n} nodes, apply on each, start them all; the re-run here waits until all {n} nodes are back, re-enables allocation (`null`) with the new credentials, sets the passwords and verifies.",
                n = self.answers.nodes.len()
            ));
        } else if first_host {
            self.note(
                "Before stopping the nodes, disable shard allocation (`PUT _cluster/settings {\"persistent\":{\"cluster.routing.allocation.enable\":\"primaries\"}}`) and flush (`POST _flush`); after all are back, re-enable it (`\"cluster.routing.allocation.enable\": null`). es-secure does this itself only with `restart: manual` from tier none.",
            );
        }
    }

    /// After the health wait of the re-run that follows a full-cluster restart this host
    /// prepared: wait for every node, then re-enable allocation.
    pub(super) fn plan_after_cluster_restart(&mut self, url: &str) {
        if !(self.facts.state.restart_pending && self.facts.state.allocation_disabled) {
            return;
        }
        self.steps.push(Step::WaitCluster {
            url: url.to_string(),
            nodes: self.answers.nodes.len().max(1),
            timeout_secs: self.answers.es.health_timeout_secs,
        });
        self.steps.push(Step::FinishRestart {
            url: url.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_kind_for_every_tier_pair_and_cluster_size() {
        let tiers = [Tier::None, Tier::Minimal, Tier::Basic, Tier::Https];
        for from in tiers {
            for to in tiers.iter().copied().filter(|t| *t >= from) {
                assert_eq!(kind(false, from, to, 3), RestartKind::None);
                assert_eq!(kind(true, from, to, 1), RestartKind::Node, "{from}->{to}");
                assert_eq!(kind(true, from, to, 0), RestartKind::Node, "{from}->{to}");
                let expected = if from < Tier::Basic && to >= Tier::Basic {
                    RestartKind::Full
                } else {
                    RestartKind::Rolling
                };
                assert_eq!(kind(true, from, to, 3), expected, "{from}->{to}");
            }
        }
    }
}
