//! Certificates in the plan: the CA, this node's certificate specs (which SANs, key type,
//! validity), when an installed certificate must be issued again, and whether a bundle's or
//! the operator's own certificate fits. Pure planning: it must not read files or certificates
//! itself (the shell summarises them into [`Facts`]) and must not decide settings-file edits.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::{PlanError, Planner, RENEW_WITHIN_DAYS, files};
use crate::domain::answers::{Answers, CaSource, KibanaAnswers, Node, RawCertPair};
use crate::domain::certspec::{CertPurpose, CertSpec};
use crate::domain::facts::{BundleFacts, ExistingCert};
use crate::domain::plan::Step;
use crate::domain::settings::SettingValue;
use crate::domain::tier::Tier;

impl<'a> Planner<'a> {
    pub(super) fn ca_paths(&self) -> (PathBuf, PathBuf) {
        let dir = self.facts.state.state_dir.join("ca");
        (dir.join("ca.crt"), dir.join("ca.key"))
    }

    /// Plan the CA. Returns true when this plan creates or replaces it (so every certificate
    /// must be issued again).
    pub(super) fn plan_ca(&mut self) -> Result<bool, PlanError> {
        let (cert_path, key_path) = self.ca_paths();
        match (&self.answers.certs.ca, &self.facts.ca) {
            (CaSource::Generate | CaSource::Existing, Some(_)) => Ok(false),
            (CaSource::Existing, None) => Err(PlanError::NoExistingCa {
                dir: self.facts.state.state_dir.join("ca").display().to_string(),
            }),
            (CaSource::Generate, None) => {
                self.steps.push(Step::CreateCa {
                    spec: CertSpec {
                        common_name: "es-secure CA".to_string(),
                        purpose: None,
                        dns: Vec::new(),
                        ip: Vec::new(),
                        key_type: self.answers.certs.key_type,
                        // A CA outlives the leaves it signs: three leaf lifetimes, at most 10 years.
                        validity_days: (self.answers.certs.validity_days.saturating_mul(3))
                            .clamp(365, 3650),
                    },
                    cert_path,
                    key_path,
                });
                Ok(true)
            }
            (CaSource::Files { cert, key }, existing) => {
                // Already imported when the state directory holds the same certificate.
                let same = match (existing, &self.facts.byo_ca) {
                    (Some(ca), Some(byo)) => ca.fingerprint == byo.fingerprint,
                    _ => false,
                };
                if same {
                    return Ok(false);
                }
                self.steps.push(Step::ImportCa {
                    from_cert: cert.clone(),
                    from_key: key.clone(),
                    cert_path,
                    key_path,
                });
                Ok(true)
            }
        }
    }

    pub(super) fn ca_pem_changed(
        &self,
        copies: &std::collections::BTreeMap<String, String>,
        ca_new: bool,
    ) -> bool {
        if ca_new {
            return true;
        }
        match (self.ca_cert_pem(), copies.get(files::CA_CERT)) {
            (Some(ca), Some(copy)) => copy.trim() != ca.trim(),
            _ => true,
        }
    }

    /// The CA certificate this node trusts: the bundle's when applying one, else ours.
    pub(super) fn ca_cert_pem(&self) -> Option<&str> {
        match (&self.facts.bundle, &self.facts.ca) {
            (Some(b), _) => Some(b.ca_cert_pem.as_str()),
            (None, Some(ca)) => Some(ca.cert_pem.as_str()),
            (None, None) => None,
        }
    }

    pub(super) fn plan_es_certs(&mut self, node: &Node, ca_new: bool) {
        let certs_dir = self.facts.es.config_dir.join("certs");
        let owner = self.es_owner();
        let mut planned = Vec::new();
        if self.ca_pem_changed(&self.facts.es.ca_copies, ca_new) {
            planned.push(Step::InstallCaCert {
                path: certs_dir.join(files::CA_CERT),
                owner: owner.clone(),
            });
        }
        let mut specs = vec![(
            transport_spec(node, self.answers),
            files::TRANSPORT_CERT,
            files::TRANSPORT_KEY,
        )];
        if self.answers.tier == Tier::Https {
            specs.push((
                http_spec(node, self.answers),
                files::HTTP_CERT,
                files::HTTP_KEY,
            ));
        }
        for (spec, cert, key) in specs {
            if let Some(own) = self.own_cert(spec.purpose) {
                // The operator's own certificate replaces issuing; apply validates it first.
                // An installed copy is left alone only while it still fits (the CA or the
                // node's addresses may have changed since): otherwise it is installed again,
                // so apply checks it and says precisely what is wrong.
                let installed = self.facts.own_certs_installed.get(cert) == Some(&true);
                let problem = match self.facts.es.certs.get(cert) {
                    _ if ca_new => Some("the CA changes".to_string()),
                    Some(c) if !c.signed_by_ca => Some("it is not signed by the current CA".into()),
                    Some(c) => bundle_cert_problem(c, &spec, self.facts.now),
                    None => Some("not readable".to_string()),
                };
                let reason = match (installed, problem) {
                    (true, None) => continue,
                    (true, Some(p)) => format!("installed, but checked again: {p}"),
                    (false, _) if self.facts.es.certs.contains_key(cert) => {
                        "replaces the installed one".to_string()
                    }
                    (false, _) => "new".to_string(),
                };
                planned.push(Step::InstallOwnCert {
                    purpose: spec.purpose.unwrap_or(CertPurpose::Transport),
                    from_cert: own.cert.clone(),
                    from_key: own.key.clone(),
                    cert_path: certs_dir.join(cert),
                    key_path: certs_dir.join(key),
                    owner: owner.clone(),
                    dns: spec.dns,
                    ip: spec.ip,
                    reason,
                });
                continue;
            }
            if let Some(reason) =
                reissue_reason(self.facts.es.certs.get(cert), &spec, ca_new, self.facts.now)
            {
                planned.push(Step::IssueCert {
                    spec,
                    cert_path: certs_dir.join(cert),
                    key_path: certs_dir.join(key),
                    owner: owner.clone(),
                    reason,
                });
            }
        }
        self.push_es_cert_steps(planned);
    }

    /// The operator's own certificate for this purpose, if the answers give one.
    pub(super) fn own_cert(&self, purpose: Option<CertPurpose>) -> Option<&'a RawCertPair> {
        let answers: &'a Answers = self.answers;
        let own = answers.certs.node_certs.as_ref()?;
        match purpose? {
            CertPurpose::Transport => Some(&own.transport),
            CertPurpose::Http => own.http.as_ref(),
            CertPurpose::KibanaServer => None,
        }
    }

    /// Add certificate steps, creating `<config>/certs/` first when it is missing.
    pub(super) fn push_es_cert_steps(&mut self, planned: Vec<Step>) {
        let certs_dir = self.facts.es.config_dir.join("certs");
        let owner = self.es_owner();
        if !planned.is_empty() && !self.facts.es.certs_dir_exists {
            self.steps.push(Step::CreateDir {
                path: certs_dir,
                mode: 0o750,
                owner,
            });
        }
        self.steps.extend(planned);
    }

    /// Refuse a bundle meant for another node or cluster before looking at anything else.
    pub(super) fn check_bundle_target(&self, b: &BundleFacts) -> Result<(), PlanError> {
        let settings = &self.facts.es.parsed.settings;
        let file = self.facts.es.yml_path.display().to_string();
        if let Some(configured) = settings.value("node.name").map(SettingValue::as_plain)
            && !configured.starts_with("${")
            && configured != b.node
        {
            return Err(PlanError::BundleWrongNode {
                bundle: b.node.clone(),
                configured,
                file,
            });
        }
        if let Some(bundle_cluster) = &b.cluster_name {
            // Elasticsearch's default when the file does not set one.
            let configured = settings
                .value("cluster.name")
                .map(SettingValue::as_plain)
                .unwrap_or_else(|| "elasticsearch".to_string());
            if !configured.starts_with("${") && &configured != bundle_cluster {
                return Err(PlanError::BundleWrongCluster {
                    bundle: bundle_cluster.clone(),
                    configured,
                    file,
                });
            }
        }
        if b.declared_fingerprint != b.ca_fingerprint {
            return Err(PlanError::BundleCaMismatch {
                declared: b.declared_fingerprint.clone(),
                actual: b.ca_fingerprint.clone(),
            });
        }
        if let Some(ca) = &self.facts.ca
            && ca.fingerprint != b.ca_fingerprint
        {
            return Err(PlanError::BundleOtherCa {
                bundle: b.ca_fingerprint.clone(),
                local: ca.fingerprint.clone(),
                dir: self.facts.state.state_dir.join("ca").display().to_string(),
            });
        }
        Ok(())
    }

    /// Install the bundle's CA certificate and this node's certificates where the installed
    /// files differ from the bundle's. Each certificate must be signed by the bundle's CA,
    /// match its key and name every address of the node: a bundle is never half-trusted.
    pub(super) fn plan_bundle_certs(
        &mut self,
        node: &Node,
        b: &BundleFacts,
    ) -> Result<(), PlanError> {
        let certs_dir = self.facts.es.config_dir.join("certs");
        let owner = self.es_owner();
        let mut planned = Vec::new();
        if self.ca_pem_changed(&self.facts.es.ca_copies, false) {
            planned.push(Step::InstallCaCert {
                path: certs_dir.join(files::CA_CERT),
                owner: owner.clone(),
            });
        }
        let mut wanted = vec![(
            transport_spec(node, self.answers),
            files::TRANSPORT_CERT,
            files::TRANSPORT_KEY,
        )];
        if self.answers.tier == Tier::Https {
            wanted.push((
                http_spec(node, self.answers),
                files::HTTP_CERT,
                files::HTTP_KEY,
            ));
        }
        for (spec, cert_file, key_file) in wanted {
            let Some(purpose) = spec.purpose else {
                continue;
            };
            let name = bundle_cert_name(purpose);
            let refuse = |reason: String| PlanError::BundleCert {
                name: name.to_string(),
                reason,
            };
            let Some(bc) = b.certs.get(name) else {
                return Err(refuse(format!(
                    "the bundle has no {name} certificate, which tier {} needs",
                    self.answers.tier
                )));
            };
            let Some(c) = &bc.summary else {
                return Err(refuse("it is not a readable certificate".to_string()));
            };
            if let Some(reason) = bundle_cert_problem(c, &spec, self.facts.now) {
                return Err(refuse(reason));
            }
            if bc.installed {
                continue;
            }
            let reason = if self.facts.es.certs.contains_key(cert_file) {
                "replaces the installed one"
            } else {
                "new"
            };
            planned.push(Step::InstallBundleCert {
                purpose,
                cert_path: certs_dir.join(cert_file),
                key_path: certs_dir.join(key_file),
                owner: owner.clone(),
                dns: c.dns.clone(),
                ip: c.ip.clone(),
                reason: reason.to_string(),
            });
        }
        self.push_es_cert_steps(planned);
        Ok(())
    }
}

pub fn transport_spec(node: &Node, answers: &Answers) -> CertSpec {
    CertSpec {
        common_name: node.name.clone(),
        purpose: Some(CertPurpose::Transport),
        dns: node.dns.clone(),
        ip: node.ip.clone(),
        key_type: answers.certs.key_type,
        validity_days: answers.certs.validity_days,
    }
}

/// Whether this node's HTTP certificate names `host` (a DNS name or an IP address).
pub(super) fn http_cert_names(node: &Node, answers: &Answers, host: &str) -> bool {
    let spec = http_spec(node, answers);
    match host.parse::<IpAddr>() {
        Ok(ip) => spec.ip.contains(&ip),
        Err(_) => spec.dns.iter().any(|d| d.eq_ignore_ascii_case(host)),
    }
}

/// The HTTP certificate also names `localhost` and `127.0.0.1`, because es-secure itself and
/// local clients reach the node that way with hostname verification on.
pub fn http_spec(node: &Node, answers: &Answers) -> CertSpec {
    let mut dns = node.dns.clone();
    if !dns.iter().any(|d| d == "localhost") {
        dns.push("localhost".to_string());
    }
    let mut ip = node.ip.clone();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if !ip.contains(&lo) {
        ip.push(lo);
    }
    CertSpec {
        common_name: node.name.clone(),
        purpose: Some(CertPurpose::Http),
        dns,
        ip,
        key_type: answers.certs.key_type,
        validity_days: answers.certs.validity_days,
    }
}

pub(super) fn kibana_spec(k: &KibanaAnswers, answers: &Answers) -> CertSpec {
    let mut dns = k.dns.clone();
    if !dns.iter().any(|d| d == "localhost") {
        dns.push("localhost".to_string());
    }
    let mut ip = k.ip.clone();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if !ip.contains(&lo) {
        ip.push(lo);
    }
    CertSpec {
        common_name: dns.first().cloned().unwrap_or_else(|| "kibana".to_string()),
        purpose: Some(CertPurpose::KibanaServer),
        dns,
        ip,
        key_type: answers.certs.key_type,
        validity_days: answers.certs.validity_days,
    }
}

/// The name a node bundle gives the certificate for `purpose` (`certs.<name>` in the file).
pub fn bundle_cert_name(purpose: CertPurpose) -> &'static str {
    match purpose {
        CertPurpose::Transport => "transport",
        CertPurpose::Http => "http",
        CertPurpose::KibanaServer => "kibana-server",
    }
}

/// Why a certificate from a bundle (or the operator's own, once installed) cannot be used
/// for `spec`, or `None` when it can.
/// Stricter than [`reissue_reason`] in one way (a problem refuses the bundle rather than
/// issuing anew, since this host cannot issue) and looser in another: a certificate expiring
/// soon is still installed, because the fix is a fresh bundle, not refusing this one.
pub(super) fn bundle_cert_problem(c: &ExistingCert, spec: &CertSpec, now: i64) -> Option<String> {
    if !c.signed_by_ca {
        return Some("it is not signed by the CA in the bundle".to_string());
    }
    if !c.key_matches {
        return Some("its key is missing or does not match it".to_string());
    }
    let mut missing: Vec<String> = spec
        .dns
        .iter()
        .filter(|d| !c.dns.contains(d))
        .cloned()
        .collect();
    missing.extend(
        spec.ip
            .iter()
            .filter(|i| !c.ip.contains(i))
            .map(ToString::to_string),
    );
    if !missing.is_empty() {
        return Some(format!(
            "it does not name {} (the node's addresses in the bundle's answers)",
            missing.join(", ")
        ));
    }
    if c.not_after <= now {
        return Some("it has expired".to_string());
    }
    None
}

/// Why an existing certificate must be issued again, or `None` when it is good.
pub(super) fn reissue_reason(
    existing: Option<&ExistingCert>,
    spec: &CertSpec,
    ca_new: bool,
    now: i64,
) -> Option<String> {
    let Some(c) = existing else {
        return Some("new".to_string());
    };
    if ca_new || !c.signed_by_ca {
        return Some("not signed by the current CA".to_string());
    }
    if !c.key_matches {
        return Some("key file missing or does not match".to_string());
    }
    let missing_dns: Vec<&String> = spec.dns.iter().filter(|d| !c.dns.contains(d)).collect();
    let missing_ip: Vec<&IpAddr> = spec.ip.iter().filter(|i| !c.ip.contains(i)).collect();
    if !missing_dns.is_empty() || !missing_ip.is_empty() {
        let mut names: Vec<String> = missing_dns.iter().map(|d| d.to_string()).collect();
        names.extend(missing_ip.iter().map(|i| i.to_string()));
        return Some(format!("SANs missing {}", names.join(", ")));
    }
    if c.key_type != Some(spec.key_type) {
        return Some(format!("key type is not {}", spec.key_type.as_str()));
    }
    if c.not_after - now < RENEW_WITHIN_DAYS * 86_400 {
        return Some(format!("expires within {RENEW_WITHIN_DAYS} days"));
    }
    if !c.has_chain {
        return Some("file lacks the CA certificate after the leaf".to_string());
    }
    None
}
