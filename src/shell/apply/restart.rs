//! Apply, inside phase 1: restarting Elasticsearch and waiting until it answers healthy with
//! the new files (creating the temporary superuser the wait authenticates with). It must not
//! write configuration files or make REST changes.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::domain::answers::{AuthMethod, Restart, SecretRef};
use crate::domain::outcome::ApplyEvent;
use crate::shell::child;
use crate::shell::file_realm::{self, TempSuperuser};
use crate::shell::txn::Txn;

use super::Run;

impl Run<'_> {
    /// Run the restart (systemd or the operator's command) with an explicit environment and
    /// the `elasticsearch.restart_timeout_secs` limit. `interruptible`: an interrupt request
    /// stops the command (the caller then rolls back); the restart on the restored files
    /// during a rollback is not interruptible.
    pub(super) fn restart(
        &self,
        how: &Restart,
        index: usize,
        interruptible: bool,
    ) -> anyhow::Result<()> {
        let (program, args): (&str, Vec<String>) = match how {
            Restart::Manual => return Ok(()),
            Restart::Systemd => (
                "systemctl",
                vec!["restart".to_string(), "elasticsearch".to_string()],
            ),
            Restart::Command(cmd) => ("sh", vec!["-c".to_string(), cmd.clone()]),
        };
        self.event(ApplyEvent::StepProgress {
            index,
            text: format!("running {program} {}", args.join(" ")),
        });
        let env = child::child_env(std::env::vars(), &self.secret_env_names());
        child::run(
            program,
            &args,
            &env,
            Duration::from_secs(self.answers.es.restart_timeout_secs),
            interruptible.then_some(&self.interrupts),
        )
        .map(drop)
        .context("the restart command failed")
    }

    /// Environment variables an `env:NAME` answer reads a secret from: never passed to a
    /// child process.
    fn secret_env_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut add = |r: &SecretRef| {
            if let SecretRef::Env(n) = r {
                names.push(n.clone());
            }
        };
        for (_, r) in &self.answers.passwords.users {
            add(r);
        }
        if let AuthMethod::ElasticPassword(r) = &self.answers.auth {
            add(r);
        }
        names
    }

    /// The health wait of the files phase: authenticate (the temporary superuser is created
    /// first when the answers ask for one), then wait for a non-red cluster.
    pub(super) fn wait_healthy(
        &self,
        index: usize,
        url: &str,
        timeout_secs: u64,
        txn: &mut Txn,
        temp_user: &mut Option<TempSuperuser>,
    ) -> anyhow::Result<()> {
        if self.needs_temp_superuser() && temp_user.is_none() {
            // Journaled before its first byte: a crash from here on is undone by name.
            let dir = &self.facts.es.config_dir;
            *temp_user = Some(file_realm::create_journaled(dir, |name| {
                txn.record_temp_user(dir, name)
            })?);
            crate::shell::txn::side_effect_point("the temporary superuser is in place")?;
        }
        let client = self
            .client(url, temp_user.as_ref())?
            .with_interrupts(self.interrupts.clone());
        // A 401 for a temporary file-realm user can be the realm still reloading, and right
        // after a restart native users get 401 until the security index has recovered, so the
        // health wait retries 401s. With a known password a 401 that lasts a minute is a wrong
        // password: say so then instead of waiting out the whole timeout.
        if temp_user.is_none()
            && let Err(e @ crate::shell::es_client::EsError::Unauthorized { .. }) =
                client.authenticate_retrying(Duration::from_secs(60))
        {
            bail!(
                "{e}\nhelp: check the password given in `auth.elastic_password` (nothing on the node was changed by this step)"
            );
        }
        let events = self.events;
        client
            .wait_healthy(Duration::from_secs(timeout_secs), &mut |status| {
                events(ApplyEvent::StepProgress {
                    index,
                    text: status.to_string(),
                });
            })
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("waiting for {url}"))?;
        Ok(())
    }
}
