//! Apply, inside phase 1: restarting Elasticsearch and waiting until it answers healthy with
//! the new files (creating the temporary superuser the wait authenticates with). It must not
//! write configuration files or make REST changes.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::domain::answers::Restart;
use crate::domain::outcome::ApplyEvent;
use crate::shell::file_realm::TempSuperuser;

use super::Run;

impl Run<'_> {
    pub(super) fn restart(&self, how: &Restart, index: usize) -> anyhow::Result<()> {
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
        let out = std::process::Command::new(program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            bail!(
                "the restart command failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// The health wait of the files phase: authenticate (the temporary superuser is created
    /// first when the answers ask for one), then wait for a non-red cluster.
    pub(super) fn wait_healthy(
        &self,
        index: usize,
        url: &str,
        timeout_secs: u64,
        temp_user: &mut Option<TempSuperuser>,
    ) -> anyhow::Result<()> {
        if self.needs_temp_superuser() && temp_user.is_none() {
            *temp_user = Some(TempSuperuser::create(&self.facts.es.config_dir)?);
        }
        let client = self.client(url, temp_user.as_ref())?;
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
