//! The executor: runs a [`Plan`] on this host. The only place es-secure changes anything.
//!
//! Order and guarantees:
//! 1. Everything that can fail without touching the host is done first: secrets are resolved,
//!    a brought-your-own CA is validated, the state lock is taken.
//! 2. File steps run inside one transaction (`shell::txn`): each file is backed up before it is
//!    written, every write is atomic, and any failure restores every file byte-for-byte.
//! 3. The restart and the health wait still belong to the transaction: if the node does not come
//!    back healthy with the new files, they are restored and the node restarted on the old ones.
//! 4. The transaction commits once the node is healthy. Password resets and verification come
//!    after; they cannot be "un-done" on the server, so a failure there says exactly which users
//!    were set, and re-running the same apply finishes the rest.
//!
//! Secrets are resolved here, kept in `Zeroizing` buffers and never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use zeroize::Zeroizing;

use crate::domain::answers::{Answers, AuthMethod, CaSource, Restart, SecretRef};
use crate::domain::facts::Facts;
use crate::domain::plan::{Owner, Plan, Product, SecretSource, Step};
use crate::domain::tier::Tier;
use crate::shell::certgen::{self, CaSigner};
use crate::shell::es_client::{Credentials, EsClient, Trust};
use crate::shell::file_realm::TempSuperuser;
use crate::shell::keystore::{es::EsKeystore, kibana::KibanaKeystore};
use crate::shell::state::{State, write_private};
use crate::shell::txn::{Perms, StateDir, Txn};
use crate::ui::{ApplyEvent, ApplySummary, RedactedSecret};

/// How an apply failed. The app maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Nothing was changed: a precondition failed before the first write.
    #[error("{0:#}")]
    Refused(anyhow::Error),
    /// Nothing was changed: an input (a secret, a brought-your-own CA) is unusable.
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// A step failed and every file was restored.
    #[error("{cause:#}\n\nRolled back: {report}")]
    RolledBack {
        cause: anyhow::Error,
        report: String,
    },
    /// The configuration is in place and committed, but a later step (password reset,
    /// verification) failed; re-running the same apply finishes the rest.
    #[error("{0:#}")]
    Partial(anyhow::Error),
}

/// Options from the command line.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Path of the answers file, to tell the operator what to re-run.
    pub answers_path: Option<PathBuf>,
    /// Overridable findings the operator chose to override (flag names).
    pub overrides: Vec<String>,
    /// The node bundle being applied (`apply --bundle`), to tell the operator what to re-run.
    pub bundle_path: Option<PathBuf>,
    /// How to invoke es-secure again in this context (`es-secure --sandbox --state-dir …`),
    /// so a printed re-run command works when pasted; `es-secure` when unset.
    pub command: Option<String>,
}

/// Progress sink: the TUI sends these to its screen, the CLI prints them.
pub type Events<'a> = &'a dyn Fn(ApplyEvent);

struct Run<'a> {
    facts: &'a Facts,
    answers: &'a Answers,
    opts: &'a ApplyOptions,
    events: Events<'a>,
    interrupted: Arc<AtomicBool>,
    /// Passwords this apply sets, by user.
    passwords: BTreeMap<String, Zeroizing<String>>,
    ca: Option<CaSigner>,
    /// Certificates issued in this run, by cert path (for bundles).
    issued: BTreeMap<PathBuf, (String, Zeroizing<String>)>,
    /// With `apply --bundle`: the bundle's certificates and keys, by bundle name.
    bundle_certs: BTreeMap<String, (String, Zeroizing<String>)>,
    /// The operator's own certificates and keys (`certificates.node_certs`), validated, by
    /// the path they are installed to.
    own_certs: BTreeMap<PathBuf, (String, Zeroizing<String>)>,
    restarted: bool,
    /// When the apply began, and how long it spent on the restart and health wait.
    started: Instant,
    waited: Duration,
    /// Time spent in the REST phase (password changes, verification): mostly Elasticsearch
    /// hashing passwords and writing its security index.
    rest: Duration,
}

/// Apply `plan`. `events` receives one event per step start/finish and live progress lines.
pub fn apply(
    facts: &Facts,
    answers: &Answers,
    plan: &Plan,
    opts: &ApplyOptions,
    events: Events<'_>,
) -> Result<ApplySummary, ApplyError> {
    let state_dir = StateDir::open(&facts.state.state_dir).map_err(ApplyError::Refused)?;
    let _lock = state_dir
        .lock("apply")
        .map_err(|e| ApplyError::Refused(anyhow!(e)))?;
    for report in crate::shell::txn::recover_incomplete(&state_dir).map_err(ApplyError::Refused)? {
        events(ApplyEvent::Notice {
            text: format!(
                "an earlier apply was interrupted; its changes were rolled back: {report}"
            ),
        });
    }
    check_findings(facts, opts).map_err(ApplyError::Refused)?;
    let interrupted = crate::shell::txn::install_interrupt_flag().map_err(ApplyError::Refused)?;
    let mut run = Run {
        facts,
        answers,
        opts,
        events,
        interrupted,
        passwords: BTreeMap::new(),
        ca: None,
        issued: BTreeMap::new(),
        bundle_certs: BTreeMap::new(),
        own_certs: BTreeMap::new(),
        restarted: false,
        started: Instant::now(),
        waited: Duration::ZERO,
        rest: Duration::ZERO,
    };
    run.prepare(plan).map_err(ApplyError::Invalid)?;
    run.execute(plan, &state_dir)
}

/// The files a plan writes that Elasticsearch itself reads (under its config directory).
fn es_files_written(plan: &Plan, es_config: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for step in &plan.steps {
        match step {
            Step::IssueCert {
                cert_path,
                key_path,
                ..
            }
            | Step::InstallBundleCert {
                cert_path,
                key_path,
                ..
            }
            | Step::InstallOwnCert {
                cert_path,
                key_path,
                ..
            } => out.extend([cert_path.clone(), key_path.clone()]),
            Step::InstallCaCert { path, .. }
            | Step::EditSettings {
                product: Product::Elasticsearch,
                path,
                ..
            }
            | Step::KeystoreSet {
                product: Product::Elasticsearch,
                path,
                ..
            } => out.push(path.clone()),
            _ => {}
        }
    }
    out.retain(|p| p.starts_with(es_config));
    out.dedup();
    out
}

fn check_findings(facts: &Facts, opts: &ApplyOptions) -> anyhow::Result<()> {
    use crate::domain::facts::Severity;
    let mut blocking = Vec::new();
    for f in &facts.host.findings {
        let overridden = f
            .override_flag
            .as_ref()
            .is_some_and(|flag| opts.overrides.contains(flag));
        let stops = f.severity == Severity::Blocking
            || (f.severity == Severity::Overridable && !overridden);
        if stops {
            let mut line = format!("- {}", f.text);
            if let Some(fix) = &f.fix {
                line.push_str(&format!("\n  fix: {fix}"));
            }
            // Name the override unless the fix already says to pass that flag.
            if let Some(flag) = &f.override_flag
                && !f
                    .fix
                    .as_deref()
                    .is_some_and(|fix| fix.contains(flag.as_str()))
            {
                line.push_str(&format!("\n  or, to apply anyway: {flag}"));
            }
            blocking.push(line);
        }
    }
    if !blocking.is_empty() {
        bail!(
            "refusing to apply; nothing was changed:\n{}",
            blocking.join("\n")
        );
    }
    Ok(())
}

/// Uid/gid for an [`Owner`], or `None` to keep the current user (always when not root).
fn resolve_owner(owner: &Owner) -> anyhow::Result<Option<(u32, u32)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let uid = match &owner.user {
        Some(name) => nix::unistd::User::from_name(name)
            .context("looking up user")?
            .with_context(|| format!("user `{name}` does not exist"))?
            .uid
            .as_raw(),
        None => nix::unistd::geteuid().as_raw(),
    };
    let gid = match &owner.group {
        Some(name) => nix::unistd::Group::from_name(name)
            .context("looking up group")?
            .with_context(|| format!("group `{name}` does not exist"))?
            .gid
            .as_raw(),
        None => nix::unistd::getegid().as_raw(),
    };
    Ok(Some((uid, gid)))
}

fn perms(mode: u32, owner: &Owner) -> anyhow::Result<Perms> {
    Ok(Perms {
        mode: Some(mode),
        owner: resolve_owner(owner)?,
    })
}

impl Run<'_> {
    fn event(&self, e: ApplyEvent) {
        (self.events)(e);
    }

    /// Everything that can fail before the first write.
    fn prepare(&mut self, plan: &Plan) -> anyhow::Result<()> {
        for step in &plan.steps {
            match step {
                Step::ResetPassword { user, secret } => {
                    let value =
                        crate::shell::secrets::resolve(&format!("passwords.{user}"), secret)?;
                    self.passwords.insert(user.clone(), value);
                }
                Step::ImportCa {
                    from_cert,
                    from_key,
                    ..
                } => {
                    let cert = std::fs::read_to_string(from_cert).with_context(|| {
                        format!("reading CA certificate {}", from_cert.display())
                    })?;
                    let key = Zeroizing::new(
                        std::fs::read_to_string(from_key)
                            .with_context(|| format!("reading CA key {}", from_key.display()))?,
                    );
                    crate::shell::certinfo::validate_ca(&cert, &key, self.facts.now)
                        .map_err(|e| anyhow!("{}: {e}", from_cert.display()))?;
                    self.ca = Some(certgen::load_ca(&cert, &key)?);
                }
                _ => {}
            }
        }
        // A keystore entry that needs a user's password this apply does not set cannot be
        // written: say so now rather than half-way.
        for step in &plan.steps {
            if let Step::KeystoreSet {
                value: SecretSource::UserPassword(user),
                entry,
                ..
            } = step
                && !self.passwords.contains_key(user)
            {
                bail!(
                    "keystore entry `{entry}` needs {user}'s password, which this apply does not set\nhelp: set `passwords.rotate: true` or give `passwords.{user}` as env:NAME / file:PATH"
                );
            }
        }
        if let AuthMethod::ElasticPassword(secret) = &self.answers.auth {
            let value = crate::shell::secrets::resolve("auth.elastic_password", secret)?;
            self.passwords
                .entry("__auth_elastic".to_string())
                .or_insert(value);
        }
        self.prepare_own_certs(plan)?;
        if let Some(b) = &self.facts.bundle
            && plan
                .steps
                .iter()
                .any(|s| matches!(s, Step::InstallBundleCert { .. }))
        {
            self.bundle_certs = crate::shell::bundle::read_certs(b)?;
        }
        if self.ca.is_none()
            && let Some(ca) = &self.facts.ca
        {
            let key = Zeroizing::new(
                std::fs::read_to_string(&ca.key_path)
                    .with_context(|| format!("reading the CA key {}", ca.key_path.display()))?,
            );
            self.ca = Some(certgen::load_ca(&ca.cert_pem, &key)?);
        }
        Ok(())
    }

    /// Read and check the operator's own node certificates against the CA and this node's
    /// addresses, so a bad one stops the apply before anything is written.
    fn prepare_own_certs(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let mut ca_pem: Option<String> = None;
        for step in &plan.steps {
            let Step::InstallOwnCert {
                purpose,
                from_cert,
                from_key,
                cert_path,
                dns,
                ip,
                ..
            } = step
            else {
                continue;
            };
            let ca = match &ca_pem {
                Some(pem) => pem.clone(),
                None => {
                    let pem = match (&self.answers.certs.ca, &self.facts.ca) {
                        (CaSource::Files { cert, .. }, _) => std::fs::read_to_string(cert)
                            .with_context(|| {
                                format!("reading CA certificate {}", cert.display())
                            })?,
                        (_, Some(ca)) => ca.cert_pem.clone(),
                        (_, None) => {
                            bail!("own node certificates need `certificates.ca: {{cert, key}}`")
                        }
                    };
                    ca_pem = Some(pem.clone());
                    pem
                }
            };
            let key_name = format!(
                "certificates.node_certs.{}",
                crate::domain::planner::bundle_cert_name(*purpose)
            );
            let cert = std::fs::read_to_string(from_cert)
                .with_context(|| format!("`{key_name}.cert`: reading {}", from_cert.display()))?;
            let key =
                Zeroizing::new(std::fs::read_to_string(from_key).with_context(|| {
                    format!("`{key_name}.key`: reading {}", from_key.display())
                })?);
            crate::shell::certinfo::validate_leaf(&cert, &key, &ca, dns, ip, self.facts.now)
                .map_err(|e| anyhow!("`{key_name}`: {}: {e}", from_cert.display()))?;
            self.own_certs.insert(cert_path.clone(), (cert, key));
        }
        Ok(())
    }

    fn execute(mut self, plan: &Plan, state_dir: &StateDir) -> Result<ApplySummary, ApplyError> {
        let mut summary = ApplySummary::default();
        let label = format!("tier {} -> {}", plan.from, plan.to);
        let mut txn = Txn::begin(state_dir, &label).map_err(ApplyError::Refused)?;
        let mut index = 0;
        let steps = &plan.steps;
        let mut state = State::load(&self.facts.state.state_dir).map_err(ApplyError::Refused)?;

        // Phase 1 and 2: files, restart, health. Any failure rolls everything back.
        let mut temp_user: Option<TempSuperuser> = None;
        let phase = (|| -> anyhow::Result<bool> {
            while index < steps.len() {
                let step = &steps[index];
                if matches!(step, Step::ResetPassword { .. } | Step::Verify { .. }) {
                    break;
                }
                if self.interrupted.load(Ordering::SeqCst) {
                    bail!("interrupted by a signal");
                }
                self.event(ApplyEvent::StepStarted {
                    index,
                    line: crate::domain::render::step_line(step),
                });
                let started = Instant::now();
                txn.mutation_checkpoint(Path::new(&format!("step {}", index + 1)))?;
                match step {
                    Step::Restart { how, .. } => {
                        // Before any restart (or handing over for a manual one): a file the
                        // node cannot read only shows up as a failed start, minutes later.
                        self.check_service_user_reads(plan)?;
                        if *how == Restart::Manual {
                            return Ok(true);
                        }
                        self.restart(how, index)?;
                        self.restarted = true;
                    }
                    Step::WaitHealthy { url, timeout_secs } => {
                        if self.needs_temp_superuser() && temp_user.is_none() {
                            temp_user = Some(TempSuperuser::create(&self.facts.es.config_dir)?);
                        }
                        let client = self.client(url, temp_user.as_ref())?;
                        // A 401 for a temporary file-realm user can be the realm still
                        // reloading, and right after a restart native users get 401 until
                        // the security index has recovered, so the health wait retries 401s.
                        // With a known password a 401 that lasts a minute is a wrong
                        // password: say so then instead of waiting out the whole timeout.
                        if temp_user.is_none()
                            && let Err(e @ crate::shell::es_client::EsError::Unauthorized { .. }) =
                                client.authenticate_retrying(Duration::from_secs(60))
                        {
                            bail!(
                                "{e}\nhelp: check the password given in `auth.elastic_password` (nothing on the node was changed by this step)"
                            );
                        }
                        let idx = index;
                        let events = self.events;
                        client
                            .wait_healthy(Duration::from_secs(*timeout_secs), &mut |status| {
                                events(ApplyEvent::StepProgress {
                                    index: idx,
                                    text: status.to_string(),
                                });
                            })
                            .map_err(|e| anyhow!(e))
                            .with_context(|| format!("waiting for {url}"))?;
                    }
                    other => self.file_step(other, &mut txn)?,
                }
                if matches!(step, Step::Restart { .. } | Step::WaitHealthy { .. }) {
                    self.waited += started.elapsed();
                }
                self.event(ApplyEvent::StepDone {
                    index,
                    elapsed: started.elapsed(),
                });
                index += 1;
            }
            Ok(false)
        })();

        let stopped_for_restart = match phase {
            Ok(stopped) => stopped,
            Err(cause) => {
                self.event(ApplyEvent::StepFailed {
                    index,
                    error: format!("{cause:#}"),
                });
                if let Some(u) = temp_user.take() {
                    let _ = u.remove();
                }
                let report = match txn.rollback() {
                    Ok(r) => r.to_string(),
                    Err(e) => format!("ROLLBACK FAILED: {e:#}"),
                };
                let mut report = report;
                if self.restarted {
                    match self.restart(&self.answers.es.restart, index) {
                        Ok(()) => report.push_str("\nElasticsearch was restarted on the restored files."),
                        Err(e) => report.push_str(&format!(
                            "\nRestarting Elasticsearch on the restored files failed: {e:#}; restart it yourself"
                        )),
                    }
                }
                self.event(ApplyEvent::RolledBack {
                    report: report.clone(),
                });
                return Err(ApplyError::RolledBack { cause, report });
            }
        };

        let id = txn
            .commit()
            .map_err(|e| ApplyError::Partial(e.context("committing")))?;
        summary.transaction = Some(id);
        summary.ca_fingerprint = match (&self.ca, &self.facts.bundle) {
            (Some(ca), _) => Some(ca.fingerprint_sha256()),
            (None, Some(b)) => Some(b.ca_fingerprint.clone()),
            (None, None) => None,
        };
        if stopped_for_restart {
            state.restart_pending = true;
            state.es_config_dir = Some(self.facts.es.config_dir.clone());
            state
                .save(&self.facts.state.state_dir)
                .map_err(ApplyError::Partial)?;
            let me = self.opts.command.as_deref().unwrap_or("es-secure");
            let rerun = match (&self.opts.answers_path, &self.opts.bundle_path) {
                (Some(p), _) => format!("{me} apply --answers {}", crate::shell::quote(p)),
                (None, Some(b)) => format!("{me} apply --bundle {}", crate::shell::quote(b)),
                (None, None) => format!("{me} apply (with the same answers)"),
            };
            let text = format!(
                "The files are written. Restart Elasticsearch now (e.g. `systemctl restart elasticsearch`{}), then run `{rerun}` to {}.",
                if plan.from < Tier::Basic && plan.to >= Tier::Basic {
                    "; with transport TLS this is a full-cluster restart: stop all nodes first"
                } else {
                    ""
                },
                // A bundle sets no passwords: the host that wrote it does.
                if self.facts.bundle.is_some() {
                    "check that the node comes back"
                } else {
                    "set the passwords and verify"
                }
            );
            self.event(ApplyEvent::Notice { text: text.clone() });
            summary.next_steps.push(text);
            self.finish_summary(&mut summary, plan);
            return Ok(summary);
        }
        state.restart_pending = false;

        // Phase 3: passwords and verification, after the commit.
        let result = self.rest_phase(plan, index, &mut state, temp_user.as_ref(), &mut summary);
        if let Some(u) = temp_user.take()
            && let Err(e) = u.remove()
        {
            self.event(ApplyEvent::Notice {
                    text: format!("could not remove the temporary superuser: {e:#}; remove its line from users and users_roles"),
                });
        }
        let saved = state.save(&self.facts.state.state_dir);
        result?;
        saved.map_err(ApplyError::Partial)?;
        self.finish_summary(&mut summary, plan);
        Ok(summary)
    }

    fn finish_summary(&self, summary: &mut ApplySummary, plan: &Plan) {
        summary.timing = Some(crate::ui::Timing {
            own: self
                .started
                .elapsed()
                .saturating_sub(self.waited + self.rest),
            waiting_for_es: self.waited,
            rest_calls: self.rest,
        });
        for note in &plan.notes {
            if note.text.starts_with("Restart Kibana") {
                summary.next_steps.push(note.text.clone());
            }
        }
        for step in &plan.steps {
            if let Step::WriteBundle { node, path } = step {
                summary.next_steps.push(format!(
                    "copy {} to node {node} and run `es-secure apply --bundle FILE` there",
                    path.display()
                ));
            }
        }
        if let Some(b) = &self.facts.bundle {
            summary.next_steps.push(format!(
                "{} holds this node's private keys: delete it once the node runs with the new certificates",
                b.path.display()
            ));
        }
    }

    fn needs_temp_superuser(&self) -> bool {
        self.answers.auth == AuthMethod::TemporarySuperuser
    }

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

    fn client(&self, url: &str, temp: Option<&TempSuperuser>) -> anyhow::Result<EsClient> {
        let client = EsClient::new(url, self.trust(url)?)?;
        Ok(match self.credentials(temp)? {
            Some(c) => client.with_credentials(c),
            None => client,
        })
    }

    fn restart(&self, how: &Restart, index: usize) -> anyhow::Result<()> {
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

    /// Every file this plan wrote for Elasticsearch must be readable by its service user —
    /// checked on the files as written (owner, group, mode along the path), not assumed from
    /// the modes we asked for. An unknown or missing user is a finding, reported before.
    fn check_service_user_reads(&self, plan: &Plan) -> anyhow::Result<()> {
        use crate::shell::access::{Account, Need, check};
        let Some(acct) = self
            .facts
            .host
            .service_user
            .as_deref()
            .and_then(Account::lookup)
        else {
            return Ok(());
        };
        for path in es_files_written(plan, &self.facts.es.config_dir) {
            if let Err(Some(denied)) = check(&path, &acct, Need::ReadFile) {
                bail!(
                    "the service user `{}` cannot read {}: {denied}
help: Elasticsearch reads its files as `{}`; give that user (or its group) read access to the file and search (x) access to every directory above it",
                    acct.name,
                    path.display(),
                    acct.name
                );
            }
        }
        Ok(())
    }

    fn signer(&self) -> anyhow::Result<&CaSigner> {
        self.ca
            .as_ref()
            .context("no CA is available to sign certificates")
    }

    fn file_step(&mut self, step: &Step, txn: &mut Txn) -> anyhow::Result<()> {
        match step {
            Step::CreateDir { path, mode, owner } => {
                txn.create_dir_all(path, perms(*mode, owner)?)?;
            }
            Step::CreateCa {
                spec,
                cert_path,
                key_path,
            } => {
                let (signer, key_pem) = certgen::generate_ca(spec)?;
                self.ensure_state_subdir(txn, cert_path)?;
                txn.write_file(
                    cert_path,
                    signer.cert_pem().as_bytes(),
                    perms(0o644, &Owner::current())?,
                )?;
                txn.write_file(
                    key_path,
                    key_pem.as_bytes(),
                    perms(0o600, &Owner::current())?,
                )?;
                self.ca = Some(signer);
            }
            Step::ImportCa {
                from_cert,
                from_key,
                cert_path,
                key_path,
            } => {
                let cert = std::fs::read(from_cert)
                    .with_context(|| format!("reading {}", from_cert.display()))?;
                let key = Zeroizing::new(
                    std::fs::read(from_key)
                        .with_context(|| format!("reading {}", from_key.display()))?,
                );
                self.ensure_state_subdir(txn, cert_path)?;
                txn.write_file(cert_path, &cert, perms(0o644, &Owner::current())?)?;
                txn.write_file(key_path, &key, perms(0o600, &Owner::current())?)?;
            }
            Step::IssueCert {
                spec,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let signer = self.signer()?;
                let issued = signer.issue(spec)?;
                let chain = format!("{}{}", issued.cert_pem, signer.cert_pem());
                let p = perms(0o640, owner)?;
                txn.write_file(cert_path, chain.as_bytes(), p.clone())?;
                txn.write_file(key_path, issued.key_pem.as_bytes(), p)?;
                self.issued
                    .insert(cert_path.clone(), (chain, issued.key_pem.clone()));
            }
            Step::InstallCaCert { path, owner } => {
                let pem = match (&self.facts.bundle, &self.ca) {
                    // A bundle's CA wins: it is what the bundle's certificates chain to.
                    (Some(b), _) => b.ca_cert_pem.clone(),
                    (None, _) => self.signer()?.cert_pem().to_string(),
                };
                txn.write_file(path, pem.as_bytes(), perms(0o640, owner)?)?;
            }
            Step::InstallBundleCert {
                purpose,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let name = crate::domain::planner::bundle_cert_name(*purpose);
                let (cert, key) = self
                    .bundle_certs
                    .get(name)
                    .with_context(|| format!("the bundle has no {name} certificate"))?;
                // Same modes as issued certificates: ES reads both through its group.
                let p = perms(0o640, owner)?;
                txn.write_file(cert_path, cert.as_bytes(), p.clone())?;
                txn.write_file(key_path, key.as_bytes(), p)?;
            }
            Step::InstallOwnCert {
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let (cert, key) = self
                    .own_certs
                    .get(cert_path)
                    .with_context(|| format!("{} was not checked", cert_path.display()))?;
                // Same modes as issued certificates: ES reads both through its group.
                let p = perms(0o640, owner)?;
                txn.write_file(cert_path, cert.as_bytes(), p.clone())?;
                txn.write_file(key_path, key.as_bytes(), p)?;
            }
            Step::EditSettings {
                path,
                before,
                after,
                ..
            } => {
                let now = crate::shell::detect::read_settings_file(path)?;
                if now != *before {
                    bail!(
                        "{} changed since the plan was made\nhelp: run es-secure again to plan against the current file",
                        path.display()
                    );
                }
                txn.write_file(
                    path,
                    after.as_bytes(),
                    Perms {
                        mode: None,
                        owner: None,
                    },
                )?;
            }
            Step::KeystoreSet {
                product,
                path,
                entry,
                value,
                owner,
            } => {
                let value = match value {
                    SecretSource::UserPassword(u) => self
                        .passwords
                        .get(u)
                        .cloned()
                        .with_context(|| format!("{u}'s password is not known to this apply"))?,
                    SecretSource::Random(n) => crate::shell::secrets::random_string(*n)?,
                    SecretSource::Ref(r) => crate::shell::secrets::resolve(entry, r)?,
                };
                self.keystore_update(*product, path, owner, txn, |ks| match ks {
                    AnyKeystore::Es(k) => k.set(entry, value.as_bytes()).map_err(|e| anyhow!(e)),
                    AnyKeystore::Kibana(k) => {
                        k.set(entry, &value);
                        Ok(())
                    }
                })?;
            }
            Step::KeystoreRemove {
                product,
                path,
                entry,
            } => {
                self.keystore_update(*product, path, &Owner::current(), txn, |ks| {
                    match ks {
                        AnyKeystore::Es(k) => {
                            k.remove(entry);
                        }
                        AnyKeystore::Kibana(k) => {
                            k.remove(entry);
                        }
                    }
                    Ok(())
                })?;
            }
            Step::WriteBundle { node, path } => {
                let text = self.bundle_text(node)?;
                self.ensure_state_subdir(txn, path)?;
                txn.write_file(path, text.as_bytes(), perms(0o600, &Owner::current())?)?;
            }
            Step::Restart { .. }
            | Step::WaitHealthy { .. }
            | Step::ResetPassword { .. }
            | Step::Verify { .. } => {}
        }
        Ok(())
    }

    /// State subdirectories (`ca/`, `bundles/`) are private to root.
    fn ensure_state_subdir(&self, txn: &mut Txn, file: &Path) -> anyhow::Result<()> {
        if let Some(dir) = file.parent()
            && !dir.exists()
        {
            txn.create_dir_all(dir, perms(0o700, &Owner::current())?)?;
        }
        Ok(())
    }

    fn keystore_update(
        &self,
        product: Product,
        path: &Path,
        owner: &Owner,
        txn: &mut Txn,
        change: impl FnOnce(&mut AnyKeystore) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let existing = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut ks = match (product, &existing) {
            (Product::Elasticsearch, Some(bytes)) => AnyKeystore::Es(
                EsKeystore::parse(bytes, "").map_err(|e| anyhow!("{}: {e}", path.display()))?,
            ),
            (Product::Elasticsearch, None) => {
                let v = self.facts.es.version;
                let format = crate::shell::keystore::es::format_for_version(
                    // Unknown version (blocked by a finding, but be safe): the oldest 8.x format.
                    v.map_or(8, |v| v.major),
                    v.map_or(0, |v| v.minor),
                );
                AnyKeystore::Es(EsKeystore::new(format)?)
            }
            (Product::Kibana, Some(bytes)) => {
                let text = String::from_utf8_lossy(bytes);
                AnyKeystore::Kibana(
                    KibanaKeystore::parse(&text, "")
                        .map_err(|e| anyhow!("{}: {e}", path.display()))?,
                )
            }
            (Product::Kibana, None) => AnyKeystore::Kibana(KibanaKeystore::new()),
        };
        change(&mut ks)?;
        let bytes = match &ks {
            AnyKeystore::Es(k) => k.to_bytes("")?,
            AnyKeystore::Kibana(k) => k.to_string("")?.into_bytes(),
        };
        // An existing keystore keeps its owner and mode (ES refuses an owner change); a new
        // one is readable by the service group only.
        let p = if existing.is_some() {
            Perms {
                mode: None,
                owner: None,
            }
        } else {
            perms(0o660, owner)?
        };
        txn.write_file(path, &bytes, p)
    }

    /// A bundle for another node: the CA certificate, that node's certificates and keys, and
    /// answers naming it. Private keys inside: written 0600.
    fn bundle_text(&mut self, node_name: &str) -> anyhow::Result<String> {
        let node = self
            .answers
            .nodes
            .iter()
            .find(|n| n.name == node_name)
            .with_context(|| format!("node {node_name} is not in the answers"))?;
        let signer = self.signer()?;
        let mut certs = BTreeMap::new();
        let mut specs = vec![(
            "transport",
            crate::domain::planner::transport_spec(node, self.answers),
        )];
        if self.answers.tier == Tier::Https {
            specs.push((
                "http",
                crate::domain::planner::http_spec(node, self.answers),
            ));
        }
        for (name, spec) in specs {
            let issued = signer.issue(&spec)?;
            certs.insert(
                name.to_string(),
                crate::shell::bundle::BundleCert {
                    cert: format!("{}{}", issued.cert_pem, signer.cert_pem()),
                    key: issued.key_pem.to_string(),
                },
            );
        }
        let cluster_name = self
            .facts
            .es
            .parsed
            .settings
            .value("cluster.name")
            .map(|v| v.as_plain())
            .filter(|c| !c.starts_with("${"));
        let bundle = crate::shell::bundle::Bundle {
            version: crate::shell::bundle::VERSION,
            node: node_name.to_string(),
            cluster_name,
            ca_cert: signer.cert_pem().to_string(),
            ca_fingerprint: signer.fingerprint_sha256(),
            certs,
            answers: crate::shell::bundle::answers_for_node(self.answers, node_name),
        };
        bundle.to_yaml()
    }

    fn rest_phase(
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

enum AnyKeystore {
    Es(EsKeystore),
    Kibana(KibanaKeystore),
}
