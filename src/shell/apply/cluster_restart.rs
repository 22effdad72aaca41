//! Apply: the REST calls around a full-cluster restart, as Elastic's procedure has them.
//! Before the files: limit shard allocation to primaries and flush, journaled before the
//! request so a rollback (or the recovery after a crash) enables allocation again. After every
//! node is back: wait for the whole cluster, then enable allocation with the new credentials.
//! It must not write files or restart anything.

use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::domain::outcome::ApplyEvent;
use crate::shell::file_realm::TempSuperuser;
use crate::shell::txn::Txn;

use super::Run;

impl Run<'_> {
    /// `cluster.routing.allocation.enable: primaries`, then `POST /_flush`, on the cluster as
    /// it runs now (open, tier none: no credentials). A cluster that does not answer its
    /// health (nodes already stopped, another address) is left as it is, with a notice: the
    /// step saves recovery time, it does not make the restart safe, so it must not block it.
    pub(super) fn prepare_cluster_restart(
        &mut self,
        index: usize,
        url: &str,
        txn: &mut Txn,
    ) -> anyhow::Result<()> {
        // No credentials: the cluster is open, and a password must not cross it in clear.
        let client = crate::shell::es_client::EsClient::new(url, self.trust(url)?)?
            .with_interrupts(self.interrupts.clone());
        if let Err(e) = client.health() {
            self.event(ApplyEvent::Notice {
                text: format!(
                    "shard allocation left as it is: the cluster at {url} does not answer ({}); if its nodes are still running, disable allocation yourself before stopping them (`PUT _cluster/settings {{\"persistent\":{{\"cluster.routing.allocation.enable\":\"primaries\"}}}}`, then `POST _flush`)",
                    e.short()
                ),
            });
            return Ok(());
        }
        // In the journal before the request: from here a rollback enables allocation again.
        txn.record_allocation(&self.facts.es.config_dir, url)?;
        client
            .set_allocation(Some("primaries"))
            .map_err(|e| anyhow!(e))
            .context("disabling shard allocation before the full-cluster restart")?;
        self.allocation_disabled = true;
        self.event(ApplyEvent::StepProgress {
            index,
            text: "shard allocation: primaries only; flushing".to_string(),
        });
        client
            .flush()
            .map_err(|e| anyhow!(e))
            .context("flushing before the full-cluster restart")
    }

    /// Wait until the cluster at `url` has `nodes` nodes and is yellow or green.
    pub(super) fn wait_cluster(
        &self,
        index: usize,
        url: &str,
        nodes: usize,
        timeout_secs: u64,
        temp: Option<&TempSuperuser>,
    ) -> anyhow::Result<()> {
        let client = self
            .client(url, temp)?
            .with_interrupts(self.interrupts.clone());
        let events = self.events;
        client
            .wait_cluster(Duration::from_secs(timeout_secs), nodes, &mut |status| {
                events(ApplyEvent::StepProgress {
                    index,
                    text: status.to_string(),
                });
            })
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("waiting for all {nodes} nodes at {url}"))?;
        Ok(())
    }

    /// `cluster.routing.allocation.enable: null` with this apply's credentials. Not journaled:
    /// it only goes back to the default, and a re-run does it again.
    pub(super) fn finish_cluster_restart(
        &self,
        url: &str,
        temp: Option<&TempSuperuser>,
    ) -> anyhow::Result<()> {
        self.client(url, temp)?
            .with_interrupts(self.interrupts.clone())
            .set_allocation(None)
            .map_err(|e| anyhow!(e))
            .context("enabling shard allocation again after the full-cluster restart")
    }
}
