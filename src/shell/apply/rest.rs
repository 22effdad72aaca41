//! Apply, phase 2 (after the commit): REST changes on the server — built-in user passwords —
//! then live verification, and the passwords file. These cannot be un-done on the server, so
//! a failure says exactly which users were set. It must not touch configuration files.

use std::time::Instant;

use anyhow::{Context, anyhow};
use zeroize::Zeroizing;

use crate::domain::answers::{AuthMethod, SecretRef};
use crate::domain::outcome::{ApplyEvent, ApplySummary, RedactedSecret};
use crate::domain::plan::{Plan, Step};
use crate::shell::es_client::{Credentials, EsClient, Trust};
use crate::shell::file_realm::TempSuperuser;
use crate::shell::state::{State, write_private};

use super::{ApplyError, Run};

impl Run<'_> {
    /// Credentials for REST calls: the temporary superuser, or elastic with the bootstrap or
    /// current password.
    fn credentials(&self, temp: Option<&TempSuperuser>) -> anyhow::Result<Option<Credentials>> {
        if let Some(t) = temp {
            return Ok(Some(t.credentials()));
        }
        let pw = match &self.answers.auth {
            AuthMethod::TemporarySuperuser => return Ok(None),
            AuthMethod::BootstrapPassword => self.passwords.get("elastic"),
            AuthMethod::ElasticPassword(_) => self.passwords.get("__auth_elastic"),
        };
        Ok(pw.map(|p| Credentials {
            username: "elastic".to_string(),
            password: p.clone(),
        }))
    }

    fn trust(&self, url: &str) -> anyhow::Result<Trust> {
        crate::shell::verify::trust_for(url, self.ca_cert_pem())
    }

    /// The CA certificate this node trusts: ours, or the one in the bundle being applied
    /// (whose key this host does not have).
    fn ca_cert_pem(&self) -> Option<&str> {
        match (&self.ca, &self.facts.bundle) {
            (Some(ca), _) => Some(ca.cert_pem()),
            (None, Some(b)) => Some(b.ca_cert_pem.as_str()),
            (None, None) => None,
        }
    }

    pub(super) fn client(
        &self,
        url: &str,
        temp: Option<&TempSuperuser>,
    ) -> anyhow::Result<EsClient> {
        let client = EsClient::new(url, self.trust(url)?)?;
        Ok(match self.credentials(temp)? {
            Some(c) => client.with_credentials(c),
            None => client,
        })
    }

    pub(super) fn rest_phase(
        &mut self,
        plan: &Plan,
        start: usize,
        state: &mut State,
        temp: Option<&TempSuperuser>,
        summary: &mut ApplySummary,
    ) -> Result<(), ApplyError> {
        let mut set_users: Vec<String> = Vec::new();
        for (index, step) in plan.steps.iter().enumerate().skip(start) {
            self.event(ApplyEvent::StepStarted {
                index,
                line: crate::domain::render::step_line(step),
            });
            let started = Instant::now();
            let result = match step {
                Step::ResetPassword { user, secret } => self
                    .reset_password(user, secret, plan, temp, state)
                    .map(|()| set_users.push(user.clone())),
                Step::Verify { url } => {
                    let table = self.verify(url, temp, &set_users);
                    let failed: Vec<String> = table
                        .iter()
                        .filter(|(_, ok, _)| !ok)
                        .map(|(name, _, detail)| format!("{name}: {detail}"))
                        .collect();
                    summary.verify_table = table;
                    if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(anyhow!("verification failed:\n{}", failed.join("\n")))
                    }
                }
                _ => Ok(()),
            };
            self.rest += started.elapsed();
            if let Err(e) = result {
                self.event(ApplyEvent::StepFailed {
                    index,
                    error: format!("{e:#}"),
                });
                let done = if set_users.is_empty() {
                    "no password was changed".to_string()
                } else {
                    format!("passwords set for: {}", set_users.join(", "))
                };
                self.write_password_file(summary, &set_users)
                    .map_err(ApplyError::Partial)?;
                return Err(ApplyError::Partial(e.context(format!(
                    "the configuration is in place (committed); {done}; run the same apply again to finish"
                ))));
            }
            self.event(ApplyEvent::StepDone {
                index,
                elapsed: started.elapsed(),
            });
        }
        self.write_password_file(summary, &set_users)
            .map_err(ApplyError::Partial)?;
        Ok(())
    }

    fn reset_password(
        &mut self,
        user: &str,
        secret: &SecretRef,
        plan: &Plan,
        temp: Option<&TempSuperuser>,
        state: &mut State,
    ) -> anyhow::Result<()> {
        let url = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::WaitHealthy { url, .. } | Step::Verify { url } => Some(url.clone()),
                _ => None,
            })
            .context("the plan has no URL for the REST steps")?;
        let client = self.client(&url, temp)?;
        let password = self
            .passwords
            .get(user)
            .cloned()
            .with_context(|| format!("no password resolved for {user}"))?;
        client
            .change_password(user, &password)
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("setting the password of {user}"))?;
        state.record_password(user, &secret.to_string(), &password, self.facts.now)?;
        if user == "elastic" && !self.needs_temp_superuser() {
            // The next REST calls authenticate with elastic's new password.
            self.passwords
                .insert("__auth_elastic".to_string(), password.clone());
        }
        Ok(())
    }

    fn write_password_file(
        &self,
        summary: &mut ApplySummary,
        users: &[String],
    ) -> anyhow::Result<()> {
        let generated: Vec<&String> = users
            .iter()
            .filter(|u| {
                self.answers
                    .passwords
                    .users
                    .iter()
                    .any(|(name, s)| name == *u && *s == SecretRef::Generate)
            })
            .collect();
        if generated.is_empty() {
            return Ok(());
        }
        let path = self
            .answers
            .passwords
            .output_file
            .clone()
            .unwrap_or_else(|| self.facts.state.state_dir.join("passwords.txt"));
        let mut text = Zeroizing::new(String::from(
            "# Built-in user passwords set by es-secure. Keep this file secret (mode 0600).\n",
        ));
        for u in &generated {
            if let Some(pw) = self.passwords.get(*u) {
                text.push_str(&format!("{u}: {}\n", pw.as_str()));
                if self.answers.passwords.show {
                    summary
                        .shown_passwords
                        .push(((*u).clone(), RedactedSecret(pw.clone())));
                }
            }
        }
        write_private(&path, text.as_bytes())?;
        summary.password_file = Some(path);
        Ok(())
    }

    /// Live checks (shared with `es-secure verify`), as a table of (check, passed, detail).
    fn verify(
        &self,
        url: &str,
        temp: Option<&TempSuperuser>,
        users: &[String],
    ) -> Vec<crate::shell::verify::Row> {
        let trust = match self.trust(url) {
            Ok(t) => t,
            Err(e) => return vec![("trust".to_string(), false, format!("{e:#}"))],
        };
        let admin = self.credentials(temp).ok().flatten();
        let users: Vec<(String, Zeroizing<String>)> = users
            .iter()
            .filter_map(|u| self.passwords.get(u).map(|p| (u.clone(), p.clone())))
            .collect();
        crate::shell::verify::checks(url, &trust, admin, &users, self.answers.tier)
    }
}
