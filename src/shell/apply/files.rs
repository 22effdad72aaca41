//! Apply, phase 1: the file steps inside the transaction — directories, the CA, certificates,
//! settings edits, keystores, bundles — then the restart and health wait, which still belong to
//! the transaction. Any failure rolls every file back (and restarts the node on the old files
//! if it had been restarted). It must not make REST changes on the server (that is `rest`),
//! except limiting shard allocation before a full-cluster restart, which is journaled
//! (`cluster_restart`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use zeroize::Zeroizing;

use crate::domain::answers::Restart;
use crate::domain::outcome::ApplyEvent;
use crate::domain::plan::{Owner, Plan, Product, SecretSource, Step};
use crate::shell::certgen::{self, CaSigner};
use crate::shell::file_realm::TempSuperuser;
use crate::shell::keystore::{es::EsKeystore, kibana::KibanaKeystore};
use crate::shell::txn::{Perms, Txn};

use super::Run;

/// Node bundles built at once (on every core) before they are written: bounds the texts,
/// which hold private keys, kept in memory at a time.
const BUNDLE_CHUNK: usize = 64;

/// How the files phase ended when nothing failed.
pub(super) enum FilesOutcome {
    /// Every file step ran, and the node (if restarted) answered healthy: commit, then run
    /// the REST steps from `rest_from`.
    Healthy { rest_from: usize },
    /// `restart: manual`: the files are written and checked; the operator restarts the node.
    RestartPending,
}

/// The files phase failed at step `index` (0-based); everything must be rolled back.
pub(super) struct FilesFailure {
    pub(super) index: usize,
    pub(super) cause: anyhow::Error,
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

/// The files `step` writes that Kibana reads: its settings and keystore (wherever it is), and
/// the certificates under its config directory.
fn kibana_files_of(step: &Step, kibana_config: &Path) -> Vec<PathBuf> {
    match step {
        Step::EditSettings {
            product: Product::Kibana,
            path,
            ..
        }
        | Step::KeystoreSet {
            product: Product::Kibana,
            path,
            ..
        } => vec![path.clone()],
        Step::IssueCert {
            cert_path,
            key_path,
            ..
        } if cert_path.starts_with(kibana_config) => vec![cert_path.clone(), key_path.clone()],
        Step::InstallCaCert { path, .. } if path.starts_with(kibana_config) => vec![path.clone()],
        _ => Vec::new(),
    }
}

/// The account Kibana runs as, as far as the host tells: the user named like the Kibana config
/// directory's group (the packages make user and group `kibana` and /etc/kibana
/// `root:kibana`), else the user `kibana`. `None` when there is no such account.
fn kibana_account(config_group: Option<&str>) -> Option<crate::shell::access::Account> {
    use crate::shell::access::Account;
    config_group
        .filter(|g| *g != "root")
        .and_then(Account::lookup)
        .or_else(|| Account::lookup("kibana"))
        .filter(|a| a.uid != 0)
}

/// The plaintext value of `key` in a settings file, as it is now (the plan moves it into a
/// keystore before its edit deletes the line).
fn plaintext_setting(path: &Path, key: &str) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(crate::shell::detect::read_settings_file(path)?);
    let parsed = crate::domain::settings::parse(&path.display().to_string(), &text)?;
    match parsed.settings.value(key) {
        Some(v) if !v.as_plain().is_empty() => Ok(Zeroizing::new(v.as_plain())),
        _ => bail!(
            "{}: `{key}` is gone or empty since the plan was made\nhelp: run es-secure again to plan against the current file",
            path.display()
        ),
    }
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

pub(crate) fn perms(mode: u32, owner: &Owner) -> anyhow::Result<Perms> {
    Ok(Perms {
        mode: Some(mode),
        owner: resolve_owner(owner)?,
    })
}

impl Run<'_> {
    /// Run the file steps, the restart and the health wait, in plan order, up to the first
    /// REST step. `temp_user` receives the temporary superuser once it exists, so the caller
    /// removes it whatever happens.
    pub(super) fn files_phase(
        &mut self,
        plan: &Plan,
        txn: &mut Txn,
        temp_user: &mut Option<TempSuperuser>,
    ) -> Result<FilesOutcome, FilesFailure> {
        // Kibana's files are checked once the last of them is written (Kibana is not
        // restarted by es-secure, so nothing else would notice before the operator does).
        let last_kibana_write = self.facts.kibana.as_ref().and_then(|k| {
            plan.steps
                .iter()
                .rposition(|s| !kibana_files_of(s, &k.config_dir).is_empty())
        });
        let mut index = 0;
        while let Some(step) = plan.steps.get(index) {
            if matches!(
                step,
                Step::ResetPassword { .. }
                    | Step::ServiceToken { .. }
                    | Step::Verify { .. }
                    | Step::FinishRestart { .. }
            ) {
                return Ok(FilesOutcome::Healthy { rest_from: index });
            }
            if matches!(step, Step::WriteBundle { .. }) {
                // Consecutive bundles are written as one unit (one barrier, one swap).
                let run = plan.steps[index..]
                    .iter()
                    .take_while(|s| matches!(s, Step::WriteBundle { .. }))
                    .count();
                self.write_bundles(&plan.steps[index..index + run], index, txn)
                    .map_err(|(index, cause)| FilesFailure { index, cause })?;
                index += run;
                continue;
            }
            match self.files_step(plan, index, step, txn, temp_user) {
                Ok(true) => return Ok(FilesOutcome::RestartPending),
                Ok(false) => {}
                Err(cause) => return Err(FilesFailure { index, cause }),
            }
            if Some(index) == last_kibana_write
                && let Err(cause) = self.check_kibana_user_reads(plan)
            {
                return Err(FilesFailure { index, cause });
            }
            index += 1;
        }
        Ok(FilesOutcome::Healthy {
            rest_from: plan.steps.len(),
        })
    }

    /// One step of the files phase; `Ok(true)` when it hands the restart over to the operator.
    fn files_step(
        &mut self,
        plan: &Plan,
        index: usize,
        step: &Step,
        txn: &mut Txn,
        temp_user: &mut Option<TempSuperuser>,
    ) -> anyhow::Result<bool> {
        if self.interrupts.requested() {
            bail!(
                "interrupted (SIGINT, SIGTERM, SIGHUP or abort) before step {}",
                index + 1
            );
        }
        self.event(ApplyEvent::StepStarted {
            index,
            line: crate::domain::render::step_line(step),
        });
        let started = Instant::now();
        txn.mutation_checkpoint(Path::new(&format!("step {}", index + 1)))?;
        match step {
            Step::Restart { how, .. } => {
                // Before any restart (or handing over for a manual one): a file the node
                // cannot read only shows up as a failed start, minutes later.
                self.check_service_user_reads(plan)?;
                if *how == Restart::Manual {
                    return Ok(true);
                }
                // Counted as restarted from the moment the command starts: an interrupted or
                // failed restart may have stopped the node, so a rollback restarts it.
                self.restarted = true;
                txn.record_restart(&self.facts.es.config_dir)?;
                self.restart(how, index, true)?;
            }
            Step::WaitHealthy { url, timeout_secs } => {
                self.wait_healthy(index, url, *timeout_secs, txn, temp_user)?;
            }
            Step::PrepareRestart { url } => self.prepare_cluster_restart(index, url, txn)?,
            Step::WaitCluster {
                url,
                nodes,
                timeout_secs,
            } => self.wait_cluster(index, url, *nodes, *timeout_secs, temp_user.as_ref())?,
            other => self.file_step(other, txn)?,
        }
        if matches!(
            step,
            Step::Restart { .. } | Step::WaitHealthy { .. } | Step::WaitCluster { .. }
        ) {
            self.waited += started.elapsed();
        }
        self.event(ApplyEvent::StepDone {
            index,
            elapsed: started.elapsed(),
        });
        Ok(false)
    }

    /// Undo a failed files phase: remove the temporary superuser, restore every file, restart
    /// the node on the restored files if a restart was attempted (even one that failed: it
    /// may have stopped the node). Returns the report in words.
    pub(super) fn roll_back(
        &self,
        txn: Txn,
        temp_user: Option<TempSuperuser>,
        failure: &FilesFailure,
    ) -> String {
        self.event(ApplyEvent::StepFailed {
            index: failure.index,
            error: format!("{:#}", failure.cause),
        });
        if let Some(u) = temp_user {
            let _ = u.remove();
        }
        let mut report = match txn.rollback() {
            Ok(r) => r.to_string(),
            Err(e) => format!("ROLLBACK FAILED: {e:#}"),
        };
        if self.restarted {
            // Not interruptible: a second interrupt must not skip the restart on old files.
            match self.restart(&self.answers.es.restart, failure.index, false) {
                Ok(()) => report.push_str("\nElasticsearch was restarted on the restored files."),
                Err(e) => report.push_str(&format!(
                    "\nRestarting Elasticsearch on the restored files failed: {e:#}; restart it yourself"
                )),
            }
        }
        self.event(ApplyEvent::RolledBack {
            report: report.clone(),
        });
        report
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

    /// The same for Kibana: every file this plan wrote for Kibana must be readable by Kibana's
    /// service user ([`kibana_account`]); without one on the host there is nothing to check.
    fn check_kibana_user_reads(&self, plan: &Plan) -> anyhow::Result<()> {
        use crate::shell::access::{Need, check};
        let Some(kfacts) = &self.facts.kibana else {
            return Ok(());
        };
        let Some(acct) = kibana_account(kfacts.config_group.as_deref()) else {
            return Ok(());
        };
        for path in plan
            .steps
            .iter()
            .flat_map(|s| kibana_files_of(s, &kfacts.config_dir))
        {
            if let Err(Some(denied)) = check(&path, &acct, Need::ReadFile) {
                bail!(
                    "Kibana's service user `{}` cannot read {}: {denied}
help: Kibana reads its files as `{}`; give that user (or its group) read access to the file and search (x) access to every directory above it",
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
                // Certificate and key change together (a reload never pairs a new
                // certificate with the old key), as renew writes them.
                txn.write_pair(
                    (cert_path, chain.as_bytes(), p.clone()),
                    (key_path, issued.key_pem.as_bytes(), p),
                )?;
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
                txn.write_pair(
                    (cert_path, cert.as_bytes(), p.clone()),
                    (key_path, key.as_bytes(), p),
                )?;
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
                txn.write_pair(
                    (cert_path, cert.as_bytes(), p.clone()),
                    (key_path, key.as_bytes(), p),
                )?;
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
                    SecretSource::PlaintextSetting { path, key } => plaintext_setting(path, key)?,
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
            Step::RemoveFile { path, .. } => txn.remove_file(path)?,
            Step::WriteBundle { .. } => bail!("internal: bundles are written by write_bundles"),
            Step::WriteTrust { .. } | Step::PromoteCa { .. } | Step::WriteRotationBundle { .. } => {
                bail!("internal: CA-rotation steps are run by rotate-ca, not apply")
            }
            Step::Restart { .. }
            | Step::WaitHealthy { .. }
            | Step::PrepareRestart { .. }
            | Step::WaitCluster { .. }
            | Step::FinishRestart { .. }
            | Step::ResetPassword { .. }
            | Step::ServiceToken { .. }
            | Step::Verify { .. } => {}
        }
        Ok(())
    }

    /// The consecutive [`Step::WriteBundle`] steps `steps` (plan indexes from `first`),
    /// written to their directory as one unit of the transaction: the bundles are built
    /// [`BUNDLE_CHUNK`] at a time on every core and handed to the unit in plan order (never
    /// all in memory), and the unit costs one durability barrier and one swap instead of a
    /// backup, a journal record and two fsyncs per bundle; still old-or-new after a crash. A
    /// failure names the step.
    fn write_bundles(
        &mut self,
        steps: &[Step],
        first: usize,
        txn: &mut Txn,
    ) -> Result<(), (usize, anyhow::Error)> {
        let last = first + steps.len().saturating_sub(1);
        let dir = match steps.first() {
            Some(Step::WriteBundle { path, .. }) => path.parent().map(Path::to_path_buf),
            _ => None,
        };
        let Some(dir) = dir else {
            return Err((
                first,
                anyhow!("internal: step {} is not a bundle", first + 1),
            ));
        };
        if self.interrupts.requested() {
            return Err((
                first,
                anyhow!(
                    "interrupted (SIGINT, SIGTERM, SIGHUP or abort) before step {}",
                    first + 1
                ),
            ));
        }
        txn.mutation_checkpoint(Path::new(&format!(
            "steps {}-{} (bundles)",
            first + 1,
            last + 1
        )))
        .map_err(|e| (first, e))?;
        // Bundles hold private keys: 0600, in a directory private to the running user.
        let mine = perms(0o700, &Owner::current()).map_err(|e| (first, e))?;
        let mut at = first;
        let mut last_started = Instant::now();
        let this = &*self;
        txn.write_files_as_unit(&dir, 0o600, mine.owner, mine.clone(), |unit| {
            // One writer for all the bundles: the cluster file (every node's answers) is
            // serialized, signed and written once, first; each bundle names it by SHA-256.
            let mut writer = None;
            // Bundles are built a chunk at a time on every core, then written in plan order:
            // never more than a chunk of key-bearing texts in memory.
            for (c, chunk) in steps.chunks(BUNDLE_CHUNK).enumerate() {
                let base = first + c * BUNDLE_CHUNK;
                at = base;
                if this.interrupts.requested() {
                    bail!(
                        "interrupted (SIGINT, SIGTERM, SIGHUP or abort) before step {}",
                        at + 1
                    );
                }
                let mut jobs = Vec::with_capacity(chunk.len());
                for (k, step) in chunk.iter().enumerate() {
                    at = base + k;
                    let Step::WriteBundle {
                        node,
                        path,
                        contents,
                    } = step
                    else {
                        bail!("internal: step {} is not a bundle", at + 1);
                    };
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .filter(|_| path.parent() == Some(dir.as_path()))
                        .with_context(|| {
                            format!(
                                "internal: the bundles are not all in {} ({})",
                                dir.display(),
                                path.display()
                            )
                        })?;
                    jobs.push((step, node.as_str(), name, &**contents));
                }
                let writer = match (&mut writer, jobs.first()) {
                    (Some(w), _) => w,
                    (None, Some((_, _, _, contents))) => {
                        at = base;
                        let w = crate::shell::bundle::BundleWriter::new(this.signer()?, contents)?;
                        unit.add(
                            crate::shell::bundle::CLUSTER_FILE,
                            w.cluster_text().as_bytes(),
                        )?;
                        writer.insert(w)
                    }
                    (None, None) => break,
                };
                let built = writer.texts_for(
                    &jobs
                        .iter()
                        .map(|(_, node, _, contents)| (*node, *contents))
                        .collect::<Vec<_>>(),
                );
                for (k, ((step, _, name, _), text)) in jobs.iter().zip(built).enumerate() {
                    at = base + k;
                    this.event(ApplyEvent::StepStarted {
                        index: at,
                        line: crate::domain::render::step_line(step),
                    });
                    last_started = Instant::now();
                    unit.add(name, text?.as_bytes())?;
                    if at != last {
                        this.event(ApplyEvent::StepDone {
                            index: at,
                            elapsed: last_started.elapsed(),
                        });
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| (at, e))?;
        // The last bundle's step includes making all of them durable and swapping them in.
        self.event(ApplyEvent::StepDone {
            index: last,
            elapsed: last_started.elapsed(),
        });
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

    pub(super) fn keystore_update(
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
}

pub(super) enum AnyKeystore {
    Es(EsKeystore),
    Kibana(KibanaKeystore),
}
