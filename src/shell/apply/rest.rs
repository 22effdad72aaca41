//! Apply, phase 2 (after the commit): REST changes on the server — built-in user passwords,
//! Kibana's service account token (journaled in a small transaction of its own, with its
//! value in kibana.keystore) — then live verification, and the passwords file. Passwords
//! cannot be un-done on the server, so a failure says exactly which users were set. Every
//! call goes through one HTTP client (connections kept open from the health wait on), and a
//! bcrypt node receives the state file's hash of each password (made while the node
//! restarted) instead of hashing it again (issue 21). It must not touch configuration files
//! other than kibana.keystore for the token.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use zeroize::Zeroizing;

use crate::domain::answers::{AuthMethod, SecretRef};
use crate::domain::outcome::{ApplyEvent, ApplySummary, RedactedSecret};
use crate::domain::plan::{Owner, Plan, Product, Step};
use crate::domain::planner::TOKEN_ENTRY;
use crate::shell::es_client::{Credentials, EsClient, Trust};
use crate::shell::file_realm::TempSuperuser;
use crate::shell::service_token;
use crate::shell::state::{State, write_private};
use crate::shell::txn::Txn;

use super::files::AnyKeystore;
use super::{ApplyError, Run};

/// Suffix of the line that keeps a user's current password while a change is unconfirmed.
const PREVIOUS: &str = ".previous";

/// Password changes sent to Elasticsearch at once (there are six built-in users).
const PARALLEL_RESETS: usize = 6;

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

    pub(super) fn trust(&self, url: &str) -> anyhow::Result<Trust> {
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

    /// A client for `url` authenticating as [`Run::credentials`]. Every client of the run
    /// for the same URL shares one HTTP client (one connection pool): the health wait, the
    /// password changes, the token and the verification reuse open connections instead of
    /// each building a client and opening new ones (a TLS handshake each on https).
    pub(super) fn client(
        &self,
        url: &str,
        temp: Option<&TempSuperuser>,
    ) -> anyhow::Result<EsClient> {
        let client = self.base_client(url)?;
        Ok(match self.credentials(temp)? {
            Some(c) => client.with_credentials(c),
            None => client,
        })
    }

    /// The run's unauthenticated client for `url` (built on first use).
    fn base_client(&self, url: &str) -> anyhow::Result<EsClient> {
        if let Some((u, c)) = self.http.get()
            && u == url
        {
            return Ok(c.clone());
        }
        let client = EsClient::new(url, self.trust(url)?)?;
        // The first URL keeps its client; a plan names one URL for its REST steps.
        let _ = self.http.set((url.to_string(), client.clone()));
        Ok(client)
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
        // An earlier run that stopped during a change left both candidates in the file: ask
        // the node which one it has before this run writes its own pending lines over them.
        self.settle_unconfirmed(plan).map_err(ApplyError::Partial)?;
        let mut index = start;
        while let Some(step) = plan.steps.get(index) {
            // Interrupts stop the REST phase only at a step boundary: a password change is
            // either done and recorded or not started.
            if self.interrupts.requested() {
                return Err(self.interrupted(summary, &set_users, index));
            }
            if matches!(step, Step::ResetPassword { .. }) {
                let run = plan.steps[index..]
                    .iter()
                    .take_while(|s| matches!(s, Step::ResetPassword { .. }))
                    .count();
                let started = Instant::now();
                let result = self.reset_passwords(
                    plan,
                    index,
                    &plan.steps[index..index + run],
                    temp,
                    state,
                    &mut set_users,
                );
                self.rest += started.elapsed();
                match result {
                    Ok(None) => {}
                    Ok(Some(at)) => return Err(self.interrupted(summary, &set_users, at)),
                    Err((at, e)) => return Err(self.rest_failed(summary, &set_users, at, e)),
                }
                index += run;
                continue;
            }
            self.event(ApplyEvent::StepStarted {
                index,
                line: crate::domain::render::step_line(step),
            });
            let started = Instant::now();
            let result = match step {
                Step::FinishRestart { url } => self
                    .finish_cluster_restart(url, temp)
                    .map(|()| state.allocation_disabled = false),
                Step::ServiceToken {
                    url,
                    name,
                    keystore,
                    owner,
                } => self.service_token(url, name, keystore, owner, temp),
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
                return Err(self.rest_failed(summary, &set_users, index, e));
            }
            self.event(ApplyEvent::StepDone {
                index,
                elapsed: started.elapsed(),
            });
            index += 1;
        }
        self.write_password_file(summary, &set_users)
            .map_err(ApplyError::Partial)?;
        Ok(())
    }

    /// An interrupt stopped the REST phase before step `index`: write the passwords file for
    /// the users set and say what to re-run.
    fn interrupted(
        &self,
        summary: &mut ApplySummary,
        set_users: &[String],
        index: usize,
    ) -> ApplyError {
        if let Err(w) = self.write_password_file(summary, set_users) {
            return ApplyError::Partial(w);
        }
        ApplyError::Partial(anyhow!(
            "interrupted before step {}: the configuration is in place (committed); {}; run `{}` to finish",
            index + 1,
            done_text(set_users),
            self.rerun_command()
        ))
    }

    /// Step `index` of the REST phase failed: say so, write the passwords file for the users
    /// set, and tell the operator what is in place and what to re-run.
    fn rest_failed(
        &self,
        summary: &mut ApplySummary,
        set_users: &[String],
        index: usize,
        e: anyhow::Error,
    ) -> ApplyError {
        self.event(ApplyEvent::StepFailed {
            index,
            error: format!("{e:#}"),
        });
        if let Err(w) = self.write_password_file(summary, set_users) {
            return ApplyError::Partial(w);
        }
        ApplyError::Partial(e.context(format!(
            "the configuration is in place (committed); {}; run `{}` to finish",
            done_text(set_users),
            self.rerun_command()
        )))
    }

    /// The consecutive password steps `steps` (plan indexes from `first`). The REST calls are
    /// independent, so they run concurrently, at most [`PARALLEL_RESETS`] at a time — except
    /// elastic's when es-secure authenticates as elastic: that one goes first and alone, and
    /// the others then authenticate with the new password. Per group the order of the
    /// interrupt-safety rule holds: the new passwords are in the 0600 passwords file (marked
    /// "being set") before any call, and each is recorded as set only after Elasticsearch
    /// accepted it. The first failure (by plan order) is returned with its step index; the
    /// calls already started finish and are recorded. An interrupt is honoured between
    /// groups: `Ok(Some(index))` is the step no call was started for.
    fn reset_passwords(
        &mut self,
        plan: &Plan,
        first: usize,
        steps: &[Step],
        temp: Option<&TempSuperuser>,
        state: &mut State,
        set_users: &mut Vec<String>,
    ) -> Result<Option<usize>, (usize, anyhow::Error)> {
        let jobs: Vec<(usize, &String, &SecretRef)> = steps
            .iter()
            .enumerate()
            .filter_map(|(k, s)| match s {
                Step::ResetPassword { user, secret } => Some((first + k, user, secret)),
                _ => None,
            })
            .collect();
        let elastic_alone = temp.is_none() && !self.needs_temp_superuser();
        let (alone, rest): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .partition(|(_, user, _)| elastic_alone && user.as_str() == "elastic");
        let url = plan
            .steps
            .iter()
            .find_map(|s| match s {
                Step::WaitHealthy { url, .. } | Step::Verify { url } => Some(url.clone()),
                _ => None,
            })
            .context("the plan has no URL for the REST steps")
            .map_err(|e| (first, e))?;
        // The first change of a fresh cluster creates the security index: alone, so the
        // others do not race that creation (measured: 6 at once took 8 s, 1 + 5 see README).
        let (lead, rest) = rest.split_at(rest.len().min(1));
        for group in [alone.as_slice(), lead]
            .into_iter()
            .chain(rest.chunks(PARALLEL_RESETS))
            .filter(|g| !g.is_empty())
        {
            if let Some((index, _, _)) = group.first()
                && !set_users.is_empty()
                && self.interrupts.requested()
            {
                return Ok(Some(*index));
            }
            self.reset_group(&url, group, temp, state, set_users)?;
        }
        Ok(None)
    }

    /// One group of [`Run::reset_passwords`]: file first, calls concurrently, then record.
    fn reset_group(
        &mut self,
        url: &str,
        group: &[(usize, &String, &SecretRef)],
        temp: Option<&TempSuperuser>,
        state: &mut State,
        set_users: &mut Vec<String>,
    ) -> Result<(), (usize, anyhow::Error)> {
        let at = group.first().map_or(0, |(i, _, _)| *i);
        // Each password with the state file's hash of it (made in the background since
        // `prepare`), before anything is written or sent.
        let mut calls = Vec::with_capacity(group.len());
        for (index, user, _) in group {
            let password = self
                .passwords
                .get(*user)
                .cloned()
                .with_context(|| format!("no password resolved for {user}"))
                .map_err(|e| (*index, e))?;
            let hash = self.state_hash(user, &password).map_err(|e| (*index, e))?;
            calls.push((password, hash));
        }
        let send_hash = takes_bcrypt_hashes(&self.facts.es.parsed.settings);
        // The new passwords are on disk before Elasticsearch can accept them, so a crash
        // never loses a password the node has.
        let pending: Vec<&String> = group.iter().map(|(_, u, _)| *u).collect();
        self.persist_passwords(set_users, &pending)
            .map_err(|e| (at, e))?;
        let client = self.client(url, temp).map_err(|e| (at, e))?;
        for (index, user, secret) in group {
            self.event(ApplyEvent::StepStarted {
                index: *index,
                line: crate::domain::render::step_line(&Step::ResetPassword {
                    user: (*user).clone(),
                    secret: (*secret).clone(),
                }),
            });
        }
        let results: Vec<(anyhow::Result<()>, std::time::Duration)> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .zip(&calls)
                .map(|((_, user, _), (password, hash))| {
                    let client = &client;
                    scope.spawn(move || {
                        let started = Instant::now();
                        let result = if send_hash {
                            client.change_password_to_hash(user, password, hash)
                        } else {
                            client.change_password(user, password)
                        }
                        .map_err(|e| anyhow!(e))
                        .with_context(|| format!("setting the password of {user}"));
                        (result, started.elapsed())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (
                            Err(anyhow!("a password-change thread panicked")),
                            std::time::Duration::ZERO,
                        )
                    })
                })
                .collect()
        });
        let mut failed: Option<(usize, anyhow::Error)> = None;
        for (((index, user, secret), (password, hash)), (result, elapsed)) in
            group.iter().zip(calls).zip(results)
        {
            // The node has the password; a crash from here to the record below leaves it
            // as the `USER` line of the file, next to `USER.previous`.
            let result = result.and_then(|()| {
                crate::shell::txn::side_effect_point(
                    "a password the node accepted, not yet marked done",
                )
            });
            match result {
                Ok(()) => {
                    state.record_password_hash(user, &secret.to_string(), hash, self.facts.now);
                    set_users.push((*user).clone());
                    if user.as_str() == "elastic" && !self.needs_temp_superuser() {
                        // The next REST calls authenticate with elastic's new password.
                        self.passwords
                            .insert("__auth_elastic".to_string(), password);
                    }
                    self.event(ApplyEvent::StepDone {
                        index: *index,
                        elapsed,
                    });
                }
                Err(e) => {
                    failed = Some(match failed {
                        None => (*index, e),
                        // Name every failure, under the first one's step.
                        Some((i, first)) => (i, first.context(format!("also: {e:#}"))),
                    });
                }
            }
        }
        match failed {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// The state file's hash of `user`'s new password: the one `prepare` started computing,
    /// or (no such thread) computed now.
    fn state_hash(&mut self, user: &str, password: &str) -> anyhow::Result<String> {
        match self.hashes.remove(user) {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow!("the thread hashing {user}'s password panicked"))?,
            None => crate::shell::state::password_hash(password),
        }
    }

    /// [`Step::ServiceToken`]: nothing when the token in kibana.keystore authenticates as
    /// `elastic/kibana`; otherwise a leftover token of this name (an interrupted run created
    /// it, its value was never stored) is deleted, and in a transaction of its own the token
    /// is journaled, created and its value written into kibana.keystore. Any failure after
    /// the journal record rolls that transaction back, the token deleted with it.
    fn service_token(
        &mut self,
        url: &str,
        name: &str,
        keystore: &Path,
        owner: &Owner,
        temp: Option<&TempSuperuser>,
    ) -> anyhow::Result<()> {
        let client = self.client(url, temp)?;
        if let Some(token) = service_token::keystore_token(keystore)?
            && service_token::authenticates(&client, &token)
                .map_err(|e| anyhow!(e))
                .context("checking the service account token in kibana.keystore")?
        {
            self.event(ApplyEvent::Notice {
                text: format!(
                    "the service account token in {} already authenticates as {}: kept",
                    keystore.display(),
                    service_token::PRINCIPAL
                ),
            });
            return Ok(());
        }
        let names = client
            .service_token_names(service_token::NAMESPACE, service_token::SERVICE)
            .map_err(|e| anyhow!(e))?;
        if names.iter().any(|n| n == name) {
            client
                .delete_service_token(service_token::NAMESPACE, service_token::SERVICE, name)
                .map_err(|e| anyhow!(e))
                .with_context(|| format!("deleting the leftover token {name}"))?;
            self.event(ApplyEvent::Notice {
                text: format!(
                    "deleted the token {name} of {} that an interrupted run left (its value was never stored)",
                    service_token::PRINCIPAL
                ),
            });
        }
        let mut txn = Txn::begin(
            self.state_dir,
            &format!("service account token {name} for Kibana"),
        )?;
        match self.create_service_token(&client, &mut txn, url, name, keystore, owner) {
            Ok(()) => {
                txn.commit()
                    .context("committing the service account token")?;
                Ok(())
            }
            Err(e) => {
                let report = match txn.rollback_with(Some(&client)) {
                    Ok(r) => r.to_string(),
                    Err(r) => format!("ROLLBACK FAILED: {r:#}"),
                };
                Err(e.context(format!("Rolled back: {report}")))
            }
        }
    }

    /// The journaled part of [`Run::service_token`].
    fn create_service_token(
        &self,
        client: &EsClient,
        txn: &mut Txn,
        url: &str,
        name: &str,
        keystore: &Path,
        owner: &Owner,
    ) -> anyhow::Result<()> {
        txn.record_service_token(keystore, url, name)?;
        let token = client
            .create_service_token(service_token::NAMESPACE, service_token::SERVICE, name)
            .map_err(|e| anyhow!(e))?;
        crate::shell::txn::side_effect_point(
            "a service account token created, not yet in kibana.keystore",
        )?;
        self.keystore_update(Product::Kibana, keystore, owner, txn, |ks| match ks {
            AnyKeystore::Kibana(k) => {
                k.set(TOKEN_ENTRY, &token);
                Ok(())
            }
            AnyKeystore::Es(_) => Err(anyhow!("internal: not a Kibana keystore")),
        })
    }

    /// Resolve the `USER` / `USER.previous` pairs of the passwords file (a change an earlier
    /// run did not see confirmed) by asking the node which password it accepts, and keep only
    /// that one as `USER`. A pair the node answers neither way (unreachable) stays as it is.
    fn settle_unconfirmed(&self, plan: &Plan) -> anyhow::Result<()> {
        let path = self.password_file_path();
        let Ok(old) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let old = Zeroizing::new(old);
        if !old.lines().any(|l| {
            l.split_once(": ")
                .is_some_and(|(k, _)| k.ends_with(PREVIOUS))
        }) {
            return Ok(());
        }
        let Some(url) = plan.steps.iter().find_map(|s| match s {
            Step::WaitHealthy { url, .. } | Step::Verify { url } => Some(url.clone()),
            _ => None,
        }) else {
            return Ok(());
        };
        let client = self.base_client(&url)?;
        let accepts = |user: &str, pw: &str| {
            client
                .with_credentials(Credentials {
                    username: user.to_string(),
                    password: Zeroizing::new(pw.to_string()),
                })
                .authenticate()
                .is_ok()
        };
        let line_of = |key: &str| {
            old.lines()
                .filter_map(|l| l.split_once(": "))
                .find(|(k, _)| *k == key)
                .map(|(_, p)| p)
        };
        let mut text = Zeroizing::new(String::new());
        for line in old.lines() {
            let Some((key, pw)) = line.split_once(": ").filter(|_| !line.starts_with('#')) else {
                // Comments stay, except the "being set" note of a pair resolved below.
                if !line.contains("being set when this file was written") {
                    text.push_str(line);
                    text.push('\n');
                }
                continue;
            };
            if let Some(user) = key.strip_suffix(PREVIOUS) {
                // Kept only while unresolved: the node accepts neither candidate.
                let unresolved = match line_of(user) {
                    Some(now) => !accepts(user, now) && !accepts(user, pw),
                    None => true,
                };
                if unresolved {
                    text.push_str(line);
                    text.push('\n');
                }
                continue;
            }
            let chosen = match line_of(&format!("{key}{PREVIOUS}")) {
                Some(prev) if !accepts(key, pw) && accepts(key, prev) => prev,
                _ => pw,
            };
            text.push_str(&format!("{key}: {chosen}\n"));
        }
        write_private(&path, text.as_bytes())
    }

    /// Generated passwords, by user, among `users`.
    fn generated<'u>(&self, users: impl Iterator<Item = &'u String>) -> Vec<&'u String> {
        users
            .filter(|u| {
                self.answers
                    .passwords
                    .users
                    .iter()
                    .any(|(name, s)| name == *u && *s == SecretRef::Generate)
            })
            .collect()
    }

    fn password_file_path(&self) -> PathBuf {
        self.answers
            .passwords
            .output_file
            .clone()
            .unwrap_or_else(|| self.facts.state.state_dir.join("passwords.txt"))
    }

    /// Write the passwords file (0600): the generated passwords of `done`, and those of
    /// `pending` (about to be sent to Elasticsearch) marked as not yet confirmed. Returns the
    /// path when a file was written (only generated passwords go there).
    fn persist_passwords(
        &self,
        done: &[String],
        pending: &[&String],
    ) -> anyhow::Result<Option<PathBuf>> {
        let generated = self.generated(done.iter());
        let pending = self.generated(pending.iter().copied());
        if generated.is_empty() && pending.is_empty() {
            return Ok(None);
        }
        let path = self.password_file_path();
        let mut text = Zeroizing::new(String::from(
            "# Built-in user passwords set by es-secure. Keep this file secret (mode 0600).\n",
        ));
        // Users an earlier (possibly interrupted) run set and this one does not touch keep
        // their line, so the file always holds every password Elasticsearch accepted.
        // A `USER.previous` line goes with its user's line.
        let ours = |key: &str| {
            let u = key.strip_suffix(PREVIOUS).unwrap_or(key);
            generated.iter().any(|g| g.as_str() == u) || pending.iter().any(|p| p.as_str() == u)
        };
        // The pending users' current passwords: until Elasticsearch confirms a change, the
        // node may still have the old one, so it stays in the file (as `USER.previous`).
        let mut previous: std::collections::BTreeMap<String, Zeroizing<String>> =
            std::collections::BTreeMap::new();
        if let Ok(old) = std::fs::read_to_string(&path) {
            let old = Zeroizing::new(old);
            for line in old.lines().filter(|l| !l.starts_with('#')) {
                let Some((u, pw)) = line.split_once(": ") else {
                    continue;
                };
                if !ours(u) {
                    text.push_str(line);
                    text.push('\n');
                } else if pending.iter().any(|p| p.as_str() == u) {
                    previous.insert(u.to_string(), Zeroizing::new(pw.to_string()));
                }
            }
        }
        for u in &generated {
            if let Some(pw) = self.passwords.get(*u) {
                text.push_str(&format!("{u}: {}\n", pw.as_str()));
            }
        }
        for u in &pending {
            let Some(pw) = self.passwords.get(*u) else {
                continue;
            };
            text.push_str(&format!(
                "# {u}: being set when this file was written; if es-secure stopped here, Elasticsearch has either `{u}` or `{u}{PREVIOUS}`\n{u}: {}\n",
                pw.as_str()
            ));
            if let Some(old) = previous.get(u.as_str()) {
                text.push_str(&format!("{u}{PREVIOUS}: {}\n", old.as_str()));
            }
        }
        crate::shell::trace::timed("passwords file written", || {
            write_private(&path, text.as_bytes())
        })?;
        if !pending.is_empty() {
            crate::shell::txn::side_effect_point("a password on disk before its REST call")?;
        }
        Ok(Some(path))
    }

    /// The final passwords file for the users set, and what the summary shows of it.
    fn write_password_file(
        &self,
        summary: &mut ApplySummary,
        users: &[String],
    ) -> anyhow::Result<()> {
        let Some(path) = self.persist_passwords(users, &[])? else {
            return Ok(());
        };
        if self.answers.passwords.show {
            for u in self.generated(users.iter()) {
                if let Some(pw) = self.passwords.get(u) {
                    summary
                        .shown_passwords
                        .push((u.clone(), RedactedSecret(pw.clone())));
                }
            }
        }
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
        let client = match self.base_client(url) {
            Ok(c) => c,
            Err(e) => return vec![("client".to_string(), false, format!("{e:#}"))],
        };
        let admin = self.credentials(temp).ok().flatten();
        let users: Vec<(String, Zeroizing<String>)> = users
            .iter()
            .filter_map(|u| self.passwords.get(u).map(|p| (u.clone(), p.clone())))
            .collect();
        let mut rows = crate::shell::verify::checks_with(&client, admin, &users, self.answers.tier);
        rows.extend(crate::shell::verify::kibana_token_row(
            self.facts,
            self.answers,
            &client,
        ));
        rows
    }
}

/// What the REST phase did, in words.
fn done_text(set_users: &[String]) -> String {
    if set_users.is_empty() {
        "no password was changed".to_string()
    } else {
        format!("passwords set for: {}", set_users.join(", "))
    }
}

/// Whether a node with these `elasticsearch.yml` settings stores bcrypt (cost 10) hashes, so
/// a password change can send the state file's hash instead of the password (see
/// [`EsClient::change_password_to_hash`]): `xpack.security.authc.password_hashing.algorithm`
/// unset (bcrypt is Elasticsearch's default) or bcrypt/bcrypt10, and not in FIPS mode (which
/// wants PBKDF2). Otherwise the password goes and the node hashes it its own way.
fn takes_bcrypt_hashes(settings: &crate::domain::settings::Settings) -> bool {
    let algorithm = settings
        .value("xpack.security.authc.password_hashing.algorithm")
        .map(|v| v.as_plain().to_ascii_lowercase());
    let fips = settings
        .value("xpack.security.fips_mode.enabled")
        .is_some_and(|v| v.as_plain().eq_ignore_ascii_case("true"));
    !fips && matches!(algorithm.as_deref(), None | Some("bcrypt" | "bcrypt10"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn takes(yml: &str) -> bool {
        let parsed = crate::domain::settings::parse("elasticsearch.yml", yml).unwrap();
        takes_bcrypt_hashes(&parsed.settings)
    }

    #[test]
    fn hashes_are_sent_only_to_bcrypt10_nodes() {
        assert!(takes("cluster.name: c\n"));
        assert!(takes(
            "xpack.security.authc.password_hashing.algorithm: bcrypt\n"
        ));
        assert!(takes(
            "xpack.security.authc.password_hashing.algorithm: BCRYPT10\n"
        ));
        assert!(!takes(
            "xpack.security.authc.password_hashing.algorithm: bcrypt12\n"
        ));
        assert!(!takes(
            "xpack.security.authc.password_hashing.algorithm: pbkdf2_stretch\n"
        ));
        assert!(!takes("xpack.security.fips_mode.enabled: true\n"));
        assert!(!takes("xpack:\n  security:\n    fips_mode.enabled: true\n"));
    }
}
