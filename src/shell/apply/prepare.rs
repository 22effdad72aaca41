//! Apply, phase 0: everything that can fail before the first write — the host findings that
//! stop an apply, secrets resolved, a brought-your-own CA and node certificates validated, the
//! CA key loaded. It must not write anything: a failure here means nothing changed.

use anyhow::{Context, anyhow, bail};
use zeroize::Zeroizing;

use crate::domain::answers::{AuthMethod, CaSource};
use crate::domain::facts::Facts;
use crate::domain::plan::{Plan, SecretSource, Step};
use crate::shell::certgen;

use super::{ApplyOptions, Run};

pub(super) fn check_findings(facts: &Facts, opts: &ApplyOptions) -> anyhow::Result<()> {
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

/// Whether this apply reaches its REST phase in this process: not when the files phase hands a
/// manual restart over to the operator first (the re-run sets the passwords).
fn rest_phase_runs_now(steps: &[Step]) -> bool {
    !steps.iter().any(|s| {
        matches!(
            s,
            Step::Restart {
                how: crate::domain::answers::Restart::Manual,
                ..
            }
        )
    })
}

impl Run<'_> {
    /// Everything that can fail before the first write.
    pub(super) fn prepare(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let rest_phase_runs = rest_phase_runs_now(&plan.steps);
        for step in &plan.steps {
            match step {
                Step::ResetPassword { user, secret } => {
                    let value =
                        crate::shell::secrets::resolve(&format!("passwords.{user}"), secret)?;
                    // bcrypt is slow on purpose: hash now, in the background, so the REST
                    // phase finds the state file's hash ready (see `Run::hashes`). Only when
                    // that phase runs in this process: a hand-over would burn the CPU
                    // (6 × bcrypt) for hashes nobody reads.
                    if rest_phase_runs {
                        let copy = value.clone();
                        self.hashes.insert(
                            user.clone(),
                            std::thread::spawn(move || crate::shell::state::password_hash(&copy)),
                        );
                    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers::Restart;

    fn restart(how: Restart) -> Step {
        Step::Restart {
            how,
            reason: "tls".to_string(),
        }
    }

    #[test]
    fn a_manual_restart_defers_the_rest_phase_and_its_hashes() {
        assert!(!rest_phase_runs_now(&[restart(Restart::Manual)]));
        assert!(rest_phase_runs_now(&[restart(Restart::Systemd)]));
        assert!(rest_phase_runs_now(&[restart(Restart::Command(
            "true".into()
        ))]));
        // No restart at all (passwords only): the REST phase runs now.
        assert!(rest_phase_runs_now(&[]));
    }
}
