//! The executor: runs a [`Plan`] on this host. The only place es-secure changes anything.
//!
//! Order and guarantees:
//! 1. Everything that can fail without touching the host is done first: secrets are resolved,
//!    a brought-your-own CA is validated, the state lock is taken.
//! 2. File steps run inside one transaction (`shell::txn`): each file is backed up before it is
//!    written, every write is atomic, and any failure restores every file byte-for-byte.
//! 3. The restart and the health wait still belong to the transaction: if the node does not come
//!    back healthy with the new files, they are restored and the node restarted on the old ones.
//! 4. The transaction commits once the node is healthy. Password resets, Kibana's service
//!    account token (its own small transaction: journaled before it is created, deleted by a
//!    rollback) and verification come after; a password cannot be "un-done" on the server, so
//!    a failure there says exactly which users were set, and re-running the same apply
//!    finishes the rest.
//!
//! Secrets are resolved here, kept in `Zeroizing` buffers and never logged.
//!
//! The phases live in their own files: [`prepare`] (before the first write), [`files`] (the
//! transaction), [`restart`] (restart and health wait, inside the transaction),
//! [`cluster_restart`] (shard allocation, flush and the whole-cluster wait around a
//! full-cluster restart) and [`rest`] (after the commit). This module only sequences them; it must not do a step's work itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::domain::answers::{Answers, AuthMethod};
use crate::domain::facts::Facts;
use crate::domain::outcome::{ApplyEvent, ApplySummary, Timing};
use crate::domain::plan::{Plan, Step};
use crate::domain::tier::Tier;
use crate::shell::certgen::CaSigner;
use crate::shell::file_realm::TempSuperuser;
use crate::shell::recovery::Session;
use crate::shell::signals::{Interrupts, Phase};
use crate::shell::state::State;
use crate::shell::txn::{StateDir, Txn};

mod cluster_restart;
mod files;
mod license;
mod prepare;
mod rest;
mod restart;

pub(crate) use files::perms;
use files::{FilesFailure, FilesOutcome};

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
    /// The bundle's cluster file when given with `--cluster-file` (not the one next to it).
    pub cluster_file: Option<PathBuf>,
    /// The flags that give this run's context (` --sandbox --state-dir …`, each with a
    /// leading space), appended to the printed re-run command so it works when pasted.
    pub context_flags: String,
}

/// Progress sink: the TUI sends these to its screen, the CLI prints them.
pub type Events<'a> = &'a dyn Fn(ApplyEvent);

struct Run<'a> {
    facts: &'a Facts,
    answers: &'a Answers,
    opts: &'a ApplyOptions,
    events: Events<'a>,
    /// SIGINT/SIGTERM/SIGHUP or the wizard's abort: checked at every step boundary and by
    /// every wait loop.
    interrupts: Interrupts,
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
    /// This apply limited shard allocation to primaries before a full-cluster restart.
    allocation_disabled: bool,
    /// When the apply began, and how long it spent on the restart and health wait.
    started: Instant,
    waited: Duration,
    /// Time spent in the REST phase (password changes, verification): mostly Elasticsearch
    /// hashing passwords and writing its security index.
    rest: Duration,
    /// The state directory (locked by the session): the REST phase's own small transaction
    /// (Kibana's service account token) is journaled there.
    state_dir: &'a StateDir,
    /// The HTTP client (connection pool) shared by every REST call from the health wait on,
    /// with the URL it is for.
    http: std::cell::OnceCell<(String, crate::shell::es_client::EsClient)>,
    /// The state file's bcrypt hashes of the passwords this apply sets, computed in the
    /// background from `prepare` on (while the files are written and the node restarts), so
    /// the REST phase does not wait for them.
    hashes: BTreeMap<String, std::thread::JoinHandle<anyhow::Result<String>>>,
}

/// Apply `plan`. `events` receives one event per step start/finish and live progress lines.
/// Takes the state lock and recovers what an interrupted run left first (see
/// [`Session`]); callers that already hold a session use [`apply_in`].
pub fn apply(
    facts: &Facts,
    answers: &Answers,
    plan: &Plan,
    opts: &ApplyOptions,
    events: Events<'_>,
) -> Result<ApplySummary, ApplyError> {
    let (session, said) =
        Session::begin(&facts.state.state_dir, "apply").map_err(ApplyError::Refused)?;
    for text in said {
        events(ApplyEvent::Notice { text });
    }
    let removed = session
        .remove_leftover_users(&facts.es.config_dir)
        .map_err(ApplyError::Refused)?;
    for text in removed {
        events(ApplyEvent::Notice { text });
    }
    apply_in(&session, facts, answers, plan, opts, events)
}

/// Apply `plan` inside a session that holds the lock and has recovered.
pub fn apply_in(
    session: &Session,
    facts: &Facts,
    answers: &Answers,
    plan: &Plan,
    opts: &ApplyOptions,
    events: Events<'_>,
) -> Result<ApplySummary, ApplyError> {
    prepare::check_findings(facts, opts).map_err(ApplyError::Refused)?;
    let interrupts = session.interrupts.clone();
    interrupts.set_phase(Phase::Idle);
    let mut run = Run {
        facts,
        answers,
        opts,
        events,
        interrupts,
        passwords: BTreeMap::new(),
        ca: None,
        issued: BTreeMap::new(),
        bundle_certs: BTreeMap::new(),
        own_certs: BTreeMap::new(),
        restarted: false,
        allocation_disabled: false,
        started: Instant::now(),
        waited: Duration::ZERO,
        rest: Duration::ZERO,
        state_dir: &session.state,
        http: std::cell::OnceCell::new(),
        hashes: BTreeMap::new(),
    };
    run.prepare(plan).map_err(ApplyError::Invalid)?;
    run.check_license(plan, &session.state)
        .map_err(ApplyError::Refused)?;
    let result = run.execute(plan, &session.state);
    session.interrupts.set_phase(Phase::Idle);
    result
}

impl Run<'_> {
    fn event(&self, e: ApplyEvent) {
        (self.events)(e);
    }

    /// Sequence the phases: files (rolled back on any failure), commit, then either the
    /// manual-restart hand-over or the REST phase.
    fn execute(mut self, plan: &Plan, state_dir: &StateDir) -> Result<ApplySummary, ApplyError> {
        let mut summary = ApplySummary::default();
        let label = format!("tier {} -> {}", plan.from, plan.to);
        let mut state = State::load(&self.facts.state.state_dir).map_err(ApplyError::Refused)?;
        let mut txn = Txn::begin(state_dir, &label).map_err(ApplyError::Refused)?;
        self.interrupts.set_phase(Phase::Files);

        // The temporary superuser lives from the health wait to the end of the REST phase.
        let mut temp_user: Option<TempSuperuser> = None;
        let outcome = match self.files_phase(plan, &mut txn, &mut temp_user) {
            Ok(outcome) => outcome,
            Err(failure) => {
                let report = self.roll_back(txn, temp_user, &failure);
                let FilesFailure { cause, .. } = failure;
                return Err(ApplyError::RolledBack { cause, report });
            }
        };
        self.commit(txn, &mut summary)?;
        self.interrupts.set_phase(Phase::Rest);
        match outcome {
            FilesOutcome::RestartPending => self.hand_over_restart(plan, &mut state, summary),
            FilesOutcome::Healthy { rest_from } => {
                self.finish_rest(plan, rest_from, state, temp_user, summary)
            }
        }
    }

    /// Commit the file transaction and record what the summary needs from it.
    fn commit(&self, txn: Txn, summary: &mut ApplySummary) -> Result<(), ApplyError> {
        let id = txn
            .commit()
            .map_err(|e| ApplyError::Partial(e.context("committing")))?;
        summary.transaction = Some(id);
        summary.ca_fingerprint = match (&self.ca, &self.facts.bundle) {
            (Some(ca), _) => Some(ca.fingerprint_sha256()),
            (None, Some(b)) => Some(b.ca_fingerprint.clone()),
            (None, None) => None,
        };
        Ok(())
    }

    /// `restart: manual`: the files are committed; record the pending restart and tell the
    /// operator what to run next.
    fn hand_over_restart(
        &self,
        plan: &Plan,
        state: &mut State,
        mut summary: ApplySummary,
    ) -> Result<ApplySummary, ApplyError> {
        state.restart_pending = true;
        if self.allocation_disabled {
            state.allocation_disabled = true;
        }
        state.es_config_dir = Some(self.facts.es.config_dir.clone());
        state
            .save(&self.facts.state.state_dir)
            .map_err(ApplyError::Partial)?;
        let rerun = self.rerun_command();
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
        Ok(summary)
    }

    /// After the commit: passwords and verification, then the temporary superuser is removed
    /// and the state saved, whatever the REST phase did.
    fn finish_rest(
        &mut self,
        plan: &Plan,
        rest_from: usize,
        mut state: State,
        mut temp_user: Option<TempSuperuser>,
        mut summary: ApplySummary,
    ) -> Result<ApplySummary, ApplyError> {
        state.restart_pending = false;
        let result = self.rest_phase(
            plan,
            rest_from,
            &mut state,
            temp_user.as_ref(),
            &mut summary,
        );
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
        summary.timing = Some(Timing {
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
            if let Step::WriteBundle { node, path, .. } = step {
                summary
                    .next_steps
                    .push(crate::shell::bundle::copy_instruction(
                        node,
                        path,
                        summary.ca_fingerprint.as_deref(),
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

    /// The command that runs this apply again (to finish it).
    /// The command that finishes this apply, with the run's context flags, ready to paste.
    fn rerun_command(&self) -> String {
        let flags = &self.opts.context_flags;
        match (&self.opts.answers_path, &self.opts.bundle_path) {
            (Some(p), _) => format!(
                "es-secure apply --answers {}{flags}",
                crate::shell::quote(p)
            ),
            (None, Some(b)) => {
                let cluster = self
                    .opts
                    .cluster_file
                    .as_ref()
                    .map_or_else(String::new, |c| {
                        format!(" --cluster-file {}", crate::shell::quote(c))
                    });
                match &self.facts.bundle {
                    // The same CA again: the re-run authenticates the bundle like the first run.
                    Some(f) => format!(
                        "es-secure apply --bundle {}{cluster} --ca-fingerprint {}{flags}",
                        crate::shell::quote(b),
                        f.ca_fingerprint
                    ),
                    None => format!(
                        "es-secure apply --bundle {}{cluster}{flags}",
                        crate::shell::quote(b)
                    ),
                }
            }
            (None, None) => format!("es-secure apply{flags} (with the same answers)"),
        }
    }

    fn needs_temp_superuser(&self) -> bool {
        self.answers.auth == AuthMethod::TemporarySuperuser
    }
}
