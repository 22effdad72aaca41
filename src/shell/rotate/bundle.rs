//! Rotation bundles: the signed file that carries one phase of a CA rotation to another node
//! (its format, its signature, reading and checking it, and the plan it makes). It must not
//! write anything.

use super::*;

/// The rotation bundle format this es-secure reads and writes.
pub const BUNDLE_KIND: &str = "es-secure-ca-rotation";
pub const BUNDLE_VERSION: u32 = 1;

/// A rotation bundle: one phase for one other node, signed with the current (old) CA key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RotationBundle {
    pub kind: String,
    pub version: u32,
    pub node: String,
    pub phase: RotationPhase,
    /// The CA whose key signed this bundle (the CA being replaced).
    pub signer_ca: String,
    /// SHA-256 fingerprints of the old and the new CA.
    pub old_ca: String,
    pub new_ca: String,
    /// The new contents of the node's trust list (`certs/ca.crt`); empty in phase (b).
    #[serde(default)]
    pub trust: String,
    /// Phase (b): `transport` and (https tier) `http`, issued under the new CA.
    #[serde(default)]
    pub certs: BTreeMap<String, BundleCert>,
}

/// The bundle's signed text (body, then the signature line with `signer`'s key).
pub(super) fn signed_text(signer: &CaSigner, b: &RotationBundle) -> anyhow::Result<String> {
    let body = serde_saphyr::to_string(b).context("serializing the rotation bundle")?;
    let body = if body.ends_with('\n') {
        body
    } else {
        format!("{body}\n")
    };
    let body = format!(
        "# es-secure CA-rotation bundle for {}, phase {}. May contain private keys: keep it 0600, delete it after\n# `es-secure rotate-ca --bundle FILE --ca-fingerprint SHA256 --yes` on that node.\n{body}",
        b.node, b.phase
    );
    crate::shell::bundle_sig::sign(signer, &body)
}

/// Read, authenticate and check a rotation bundle for this node: signed by the CA with the
/// fingerprint the operator gives, which this node trusts now; for this node; the phase after
/// the one this node completed. `Ok(None)`: this phase is already done here.
pub fn read_bundle(
    path: &Path,
    ca_fingerprint: &str,
    facts: &Facts,
) -> anyhow::Result<Option<RotationBundle>> {
    let file = path.display().to_string();
    let want = crate::shell::bundle_sig::parse_fingerprint(ca_fingerprint)
        .map_err(|e| anyhow!("--ca-fingerprint: {e}"))?;
    let text = Zeroizing::new(
        crate::shell::safe_fs::read_input_text(path, crate::shell::safe_fs::SMALL_CAP, "bundles")
            .with_context(|| format!("reading the rotation bundle {file}"))?,
    );
    let signed = crate::shell::bundle_sig::split(&text)
        .map_err(|why| anyhow!("{file} is refused: {why}"))?;
    let b: RotationBundle = serde_saphyr::from_str(signed.body)
        .map_err(|e| anyhow!("{file}: not an es-secure CA-rotation bundle: {e}"))?;
    if b.kind != BUNDLE_KIND || b.version != BUNDLE_VERSION {
        bail!(
            "{file}: not an es-secure CA-rotation bundle this release reads (kind {}, version {})",
            b.kind,
            b.version
        );
    }
    let signer = crate::shell::certinfo::inspect_pem(&b.signer_ca)
        .map_err(|e| anyhow!("{file}: the signing CA certificate: {e}"))?;
    if signer.fingerprint_sha256 != want {
        bail!(
            "{file} is refused: it is signed by the CA with SHA-256 fingerprint {}, not by the CA you named ({want})",
            signer.fingerprint_sha256
        );
    }
    let der = crate::shell::certinfo::cert_ders(&b.signer_ca)
        .map_err(|e| anyhow!("{file}: the signing CA certificate: {e}"))?
        .remove(0);
    signed
        .verify(&der)
        .map_err(|why| anyhow!("{file} is refused: {why}"))?;
    // Authentic. The signer must be a CA this node trusts now (its own cluster's).
    let installed = facts
        .es
        .ca_copies
        .get(crate::domain::planner::files::CA_CERT)
        .cloned()
        .unwrap_or_default();
    let trusted = crate::shell::certinfo::cert_ders(&installed)
        .unwrap_or_default()
        .iter()
        .any(|d| d == &der);
    if !trusted {
        bail!(
            "{file} is refused: it is signed by a CA this node does not trust ({}); it is not from this cluster's CA host",
            signer.fingerprint_sha256
        );
    }
    if let Some(configured) = facts
        .es
        .parsed
        .settings
        .value("node.name")
        .map(|v| v.as_plain())
        .filter(|n| !n.starts_with("${"))
        && configured != b.node
    {
        bail!(
            "{file} is for node {}, and this node is {configured} ({})",
            b.node,
            facts.es.yml_path.display()
        );
    }
    let done = facts.state.ca_rotation.as_ref();
    if let Some(r) = done
        && r.phase == b.phase
        && r.new_ca == b.new_ca
    {
        return Ok(None);
    }
    let expected = RotationPhase::after(done.map(|r| r.phase));
    if b.phase != expected {
        bail!(
            "{file} carries phase {}, and this node's next phase is {expected}{}; nothing was changed\nhelp: apply the rotation bundles in order (a, b, c)",
            b.phase,
            done.map(|r| format!(" (it completed {})", r.phase))
                .unwrap_or_default()
        );
    }
    if let Some(r) = done
        && b.phase != RotationPhase::TrustBoth
        && r.new_ca != b.new_ca
    {
        bail!(
            "{file} belongs to a rotation to the CA {}, and this node is rotating to {}; nothing was changed",
            b.new_ca,
            r.new_ca
        );
    }
    Ok(Some(b))
}

/// The plan of a rotation bundle on this node (shown before it runs, through the renderer).
pub fn bundle_plan(facts: &Facts, b: &RotationBundle) -> Plan {
    use crate::domain::planner::files;
    let certs = facts.es.config_dir.join("certs");
    let owner = Owner {
        user: None,
        group: facts
            .host
            .service_group
            .clone()
            .or_else(|| facts.es.config_group.clone()),
    };
    let mut steps = Vec::new();
    if b.phase == RotationPhase::NewLeaves {
        for (name, (cert, key, purpose)) in [
            (
                "transport",
                (
                    files::TRANSPORT_CERT,
                    files::TRANSPORT_KEY,
                    crate::domain::certspec::CertPurpose::Transport,
                ),
            ),
            (
                "http",
                (
                    files::HTTP_CERT,
                    files::HTTP_KEY,
                    crate::domain::certspec::CertPurpose::Http,
                ),
            ),
        ] {
            if let Some(c) = b.certs.get(name) {
                let info = crate::shell::certinfo::inspect_pem(&c.cert).ok();
                steps.push(Step::InstallBundleCert {
                    purpose,
                    cert_path: certs.join(cert),
                    key_path: certs.join(key),
                    owner: owner.clone(),
                    dns: info.as_ref().map(|i| i.dns.clone()).unwrap_or_default(),
                    ip: info.map(|i| i.ip).unwrap_or_default(),
                    reason: "CA rotation: issued under the new CA".to_string(),
                });
            }
        }
    } else {
        steps.push(Step::WriteTrust {
            path: certs.join(files::CA_CERT),
            cas: if b.phase == RotationPhase::TrustBoth {
                vec![
                    format!("old CA {}", crate::domain::rotation::short_fp(&b.old_ca)),
                    format!("new CA {}", crate::domain::rotation::short_fp(&b.new_ca)),
                ]
            } else {
                vec![format!(
                    "new CA {}",
                    crate::domain::rotation::short_fp(&b.new_ca)
                )]
            },
            owner,
        });
    }
    let tier = facts.es.tier.tier;
    Plan {
        from: tier,
        to: tier,
        restart: crate::domain::plan::RestartKind::None,
        steps,
        notes: vec![crate::domain::plan::Note {
            text: format!(
                "CA rotation phase {} ({}) from the CA host's bundle; no restart (the files keep their names)",
                b.phase,
                b.phase.describe()
            ),
        }],
    }
}
