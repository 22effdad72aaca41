//! Phase preparation: everything a rotation phase writes, made in memory before the first
//! write (the new CA, trust lists, certificates, bundles) on the CA host or from a bundle. It
//! must not write anything: a bad CA or bundle changes nothing.

use super::*;

pub(super) fn prepare_ca_host(
    facts: &Facts,
    phase: RotationPhase,
    plan: &Plan,
) -> anyhow::Result<Prepared> {
    let old = crate::shell::renew::signer(facts)?;
    let (next_cert, next_key) = crate::domain::planner::next_ca_paths(facts);
    let mut writes = Vec::new();
    let (new, new_key): (CaSigner, Zeroizing<String>) =
        match plan.steps.iter().find_map(|s| match s {
            Step::CreateCa { spec, .. } => Some(spec),
            _ => None,
        }) {
            Some(spec) => certgen::generate_ca(spec)?,
            None => {
                let cert = crate::shell::safe_fs::read_file_text(
                    &next_cert,
                    crate::shell::safe_fs::SMALL_CAP,
                )
                .with_context(|| format!("reading the new CA {}", next_cert.display()))?;
                let key = Zeroizing::new(
                    crate::shell::safe_fs::read_file_text(
                        &next_key,
                        crate::shell::safe_fs::SMALL_CAP,
                    )
                    .with_context(|| format!("reading the new CA key {}", next_key.display()))?,
                );
                (certgen::load_ca(&cert, &key)?, key)
            }
        };
    let old_pem = old.cert_pem().trim_end().to_string() + "\n";
    let new_pem = new.cert_pem().trim_end().to_string() + "\n";
    let both = format!("{old_pem}{new_pem}");
    let trust = if phase == RotationPhase::DropOld {
        new_pem.clone()
    } else {
        both.clone()
    };
    let old_serial = serial_of(&old_pem)?;
    let new_serial = serial_of(&new_pem)?;
    let mut expect = Expect::default();
    match phase {
        RotationPhase::TrustBoth => expect.ca_present = vec![old_serial, new_serial],
        RotationPhase::NewLeaves => {
            expect.ca_present = vec![old_serial, new_serial];
            expect.handshake_ca = Some(new_pem.clone());
        }
        RotationPhase::DropOld => {
            expect.ca_present = vec![new_serial];
            expect.ca_absent = vec![old_serial];
            expect.handshake_ca = Some(new_pem.clone());
        }
    }
    let record = CaRotation {
        phase,
        old_ca: old.fingerprint_sha256(),
        new_ca: new.fingerprint_sha256(),
        at: facts.now,
    };
    let me = Owner::current();
    let mut bundle_lines = Vec::new();
    let mut kibana_cert = None;
    let mut bundles_dir_planned = false;
    for step in &plan.steps {
        match step {
            Step::CreateCa {
                cert_path,
                key_path,
                ..
            } => writes.push(Write::Pair {
                first: (cert_path.clone(), bytes(&new_pem), perms(0o644, &me)?),
                second: (key_path.clone(), bytes(&new_key), perms(0o600, &me)?),
                serial: None,
            }),
            Step::WriteTrust { path, owner, .. } => writes.push(Write::File {
                path: path.clone(),
                bytes: bytes(&trust),
                perms: perms(0o640, owner)?,
            }),
            Step::IssueCert {
                spec,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let cert = new.issue(spec)?;
                let serial = serial_of(&cert.cert_pem)?;
                let p = perms(0o640, owner)?;
                if cert_path.file_name() == Some(std::ffi::OsStr::new("http.crt"))
                    && cert_path.starts_with(&facts.es.config_dir)
                {
                    expect.http_serial = Some(serial.clone());
                }
                if cert_path.starts_with(&facts.es.config_dir) {
                    expect.leaves.push((cert_path.clone(), serial.clone()));
                } else {
                    kibana_cert = Some(cert_path.clone());
                }
                writes.push(Write::Pair {
                    first: (
                        cert_path.clone(),
                        bytes(&format!("{}{}", cert.cert_pem, new.cert_pem())),
                        p.clone(),
                    ),
                    second: (key_path.clone(), bytes(&cert.key_pem), p),
                    serial: Some(serial),
                });
            }
            Step::PromoteCa {
                cert_path,
                key_path,
                ..
            } => writes.push(Write::Pair {
                first: (cert_path.clone(), bytes(&new_pem), perms(0o644, &me)?),
                second: (key_path.clone(), bytes(&new_key), perms(0o600, &me)?),
                serial: None,
            }),
            Step::RemoveFile { path, .. } => writes.push(Write::Remove(path.clone())),
            Step::WriteRotationBundle {
                node,
                path,
                phase,
                certs,
            } => {
                if !bundles_dir_planned
                    && let Some(dir) = path.parent()
                    && !dir.exists()
                {
                    writes.push(Write::Dir(dir.to_path_buf()));
                }
                bundles_dir_planned = true;
                let mut issued = BTreeMap::new();
                for spec in certs {
                    let purpose = spec
                        .purpose
                        .with_context(|| format!("the bundle for {node} lists a CA to issue"))?;
                    let c = new.issue(spec)?;
                    issued.insert(
                        crate::domain::planner::bundle_cert_name(purpose).to_string(),
                        BundleCert {
                            cert: format!("{}{}", c.cert_pem, new.cert_pem()),
                            key: c.key_pem.to_string(),
                        },
                    );
                }
                let b = RotationBundle {
                    kind: BUNDLE_KIND.to_string(),
                    version: BUNDLE_VERSION,
                    node: node.clone(),
                    phase: *phase,
                    signer_ca: old_pem.clone(),
                    old_ca: record.old_ca.clone(),
                    new_ca: record.new_ca.clone(),
                    trust: if *phase == RotationPhase::NewLeaves {
                        String::new()
                    } else {
                        trust.clone()
                    },
                    certs: issued,
                };
                let text = Zeroizing::new(signed_text(&old, &b)?);
                writes.push(Write::File {
                    path: path.clone(),
                    bytes: bytes(&text),
                    perms: Perms {
                        mode: Some(0o600),
                        owner: None,
                    },
                });
                bundle_lines.push(format!(
                    "CA rotation phase {phase} for {node}: copy {} to {node} (0600; it holds private keys in phase b) and run there: es-secure rotate-ca --bundle {node}.rotate-ca.yml --ca-fingerprint {} --yes",
                    path.display(),
                    record.old_ca
                ));
            }
            _ => {}
        }
    }
    Ok(Prepared {
        phase,
        writes,
        expect,
        client_trust: both,
        record,
        bundle_lines,
        kibana_cert,
    })
}

pub(super) fn bytes(s: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.as_bytes().to_vec())
}

pub(super) fn prepare_bundle(
    facts: &Facts,
    b: &RotationBundle,
    plan: &Plan,
) -> anyhow::Result<Prepared> {
    let installed = facts
        .es
        .ca_copies
        .get(crate::domain::planner::files::CA_CERT)
        .cloned()
        .unwrap_or_default();
    let mut writes = Vec::new();
    let mut expect = Expect::default();
    let serials = |pem: &str| -> anyhow::Result<Vec<(String, String)>> {
        crate::shell::certinfo::cert_ders(pem)
            .map_err(|e| anyhow!("the trust list: {e}"))?
            .iter()
            .map(|d| -> anyhow::Result<(String, String)> {
                let i = crate::shell::certinfo::inspect_der(d)
                    .map_err(|e| anyhow!("the trust list: {e}"))?;
                Ok((i.fingerprint_sha256, normalise_serial(&i.serial)))
            })
            .collect()
    };
    match b.phase {
        RotationPhase::TrustBoth | RotationPhase::DropOld => {
            let list = serials(&b.trust)?;
            if !list.iter().any(|(fp, _)| fp == &b.new_ca) {
                bail!(
                    "the bundle's trust list does not hold its new CA {}",
                    b.new_ca
                );
            }
            expect.ca_present = list.iter().map(|(_, s)| s.clone()).collect();
            if b.phase == RotationPhase::DropOld {
                anyhow::ensure!(
                    list.len() == 1,
                    "the bundle's phase (c) trust list must hold only the new CA"
                );
                expect.ca_absent = serials(&installed)?
                    .into_iter()
                    .filter(|(fp, _)| fp != &b.new_ca)
                    .map(|(_, s)| s)
                    .collect();
                expect.handshake_ca = Some(b.trust.clone());
            }
        }
        RotationPhase::NewLeaves => {
            let new_pem = crate::shell::certinfo::block_with_fingerprint(&installed, &b.new_ca);
            let Some(new_pem) = new_pem else {
                bail!(
                    "this node does not trust the new CA {} yet; apply the phase (a) bundle first",
                    b.new_ca
                );
            };
            expect.handshake_ca = Some(new_pem);
        }
    }
    for step in &plan.steps {
        match step {
            Step::WriteTrust { path, owner, .. } => writes.push(Write::File {
                path: path.clone(),
                bytes: bytes(&b.trust),
                perms: perms(0o640, owner)?,
            }),
            Step::InstallBundleCert {
                purpose,
                cert_path,
                key_path,
                owner,
                ..
            } => {
                let name = crate::domain::planner::bundle_cert_name(*purpose);
                let c = b
                    .certs
                    .get(name)
                    .with_context(|| format!("the bundle has no {name} certificate"))?;
                let info = crate::shell::certinfo::inspect_pem(&c.cert)
                    .map_err(|e| anyhow!("the bundle's {name} certificate: {e}"))?;
                let chain_ca = crate::shell::certinfo::cert_ders(&c.cert)
                    .map_err(|e| anyhow!("the bundle's {name} certificate: {e}"))?
                    .get(1)
                    .and_then(|d| crate::shell::certinfo::inspect_der(d).ok())
                    .map(|i| i.fingerprint_sha256);
                anyhow::ensure!(
                    chain_ca.as_deref() == Some(b.new_ca.as_str()),
                    "the bundle's {name} certificate is not followed by the new CA {}",
                    b.new_ca
                );
                let serial = normalise_serial(&info.serial);
                if name == "http" {
                    expect.http_serial = Some(serial.clone());
                }
                expect.leaves.push((cert_path.clone(), serial.clone()));
                let p = perms(0o640, owner)?;
                writes.push(Write::Pair {
                    first: (cert_path.clone(), bytes(&c.cert), p.clone()),
                    second: (key_path.clone(), bytes(&c.key), p),
                    serial: Some(serial),
                });
            }
            _ => {}
        }
    }
    Ok(Prepared {
        phase: b.phase,
        writes,
        expect,
        client_trust: format!("{}{}", installed.trim_end().to_string() + "\n", b.trust),
        record: CaRotation {
            phase: b.phase,
            old_ca: b.old_ca.clone(),
            new_ca: b.new_ca.clone(),
            at: facts.now,
        },
        bundle_lines: Vec::new(),
        kibana_cert: None,
    })
}
