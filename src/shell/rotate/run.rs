//! Phase execution: the journaled transaction of a prepared phase, its verification against
//! the running node, and its record in `state.json`; rolled back on any failure or interrupt.
//! It must not restart Elasticsearch or edit a settings file.

use super::*;

pub(super) fn execute(
    session: &Session,
    facts: &Facts,
    p: Prepared,
    say: &dyn Fn(&str),
) -> Result<RotateReport, RenewFailure> {
    let url = crate::domain::planner::es_url_detected(facts);
    let client = crate::shell::verify::trust_for(&url, Some(p.client_trust.as_str()))
        .and_then(|t| EsClient::new(&url, t))
        .map_err(RenewFailure::Refused)?
        .with_interrupts(session.interrupts.clone());
    // Asked before anything is written: a node that answers must be seen serving the phase.
    let running = client.is_elasticsearch().unwrap_or(false);
    let interrupts = session.interrupts.clone();
    let mut txn = Txn::begin(&session.state, "rotate-ca").map_err(RenewFailure::Refused)?;
    interrupts.set_phase(Phase::Files);
    let mut temp_user: Option<TempSuperuser> = None;
    let mut lines = Vec::new();
    let result = run(
        facts,
        session,
        &p,
        running,
        &client,
        &mut txn,
        &mut temp_user,
        &mut lines,
        say,
    );
    if let Some(u) = temp_user.take()
        && let Err(e) = u.remove()
    {
        say(&format!(
            "could not remove the temporary superuser: {e:#}; remove its line from users and users_roles"
        ));
    }
    let result = result.and_then(|()| record_phase(&mut txn, &facts.state.state_dir, &p.record));
    let outcome = match result {
        Ok(()) => match txn.commit() {
            Ok(id) => {
                lines.extend(p.bundle_lines.iter().cloned());
                Ok(RotateReport {
                    transaction: Some(id),
                    lines,
                    record: p.record.clone(),
                })
            }
            Err(e) => Err(RenewFailure::Refused(e.context("committing"))),
        },
        Err(cause) => Err(RenewFailure::rolled_back(
            txn,
            cause,
            " The phase was not recorded: re-run it.",
        )),
    };
    interrupts.set_phase(Phase::Idle);
    outcome
}

/// Record the phase in `state.json` through the transaction (journaled like every other file,
/// so the record and the files commit or roll back together).
pub(super) fn record_phase(
    txn: &mut Txn,
    state_dir: &Path,
    record: &CaRotation,
) -> anyhow::Result<()> {
    let mut state = crate::shell::state::State::load(state_dir)?;
    state.ca_rotation = Some(record.clone());
    txn.write_file(
        &crate::shell::state::state_file(state_dir),
        &state.to_bytes()?,
        Perms {
            mode: Some(0o600),
            owner: Some((0, 0)),
        },
    )
    .context("recording the phase in state.json")
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    facts: &Facts,
    session: &Session,
    p: &Prepared,
    running: bool,
    client: &EsClient,
    txn: &mut Txn,
    temp_user: &mut Option<TempSuperuser>,
    lines: &mut Vec<String>,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let interrupts = &session.interrupts;
    // Credentials and the cluster's size first: the phase must leave as many nodes.
    let mut authed = None;
    let mut nodes_before = 0;
    if running {
        let config_dir = facts.es.config_dir.clone();
        let user = file_realm::create_journaled(&config_dir, |name| {
            txn.record_temp_user(&config_dir, name)
        })?;
        let c = client.with_credentials(user.credentials());
        *temp_user = Some(user);
        c.authenticate_retrying(Duration::from_secs(30))
            .map_err(|e| anyhow!("authenticating the temporary superuser: {e}"))?;
        let h = c
            .health()
            .map_err(|e| anyhow!("cluster health before the phase: {e}"))?;
        nodes_before = h.number_of_nodes as usize;
        say(&format!(
            "cluster before phase {}: {} with {} node(s)",
            p.phase, h.status, h.number_of_nodes
        ));
        authed = Some(c);
    }
    let n = p.writes.len();
    for (i, w) in p.writes.iter().enumerate() {
        if interrupts.requested() {
            bail!(
                "interrupted (SIGINT, SIGTERM, SIGHUP) before step {}",
                i + 1
            );
        }
        match w {
            Write::Dir(d) => {
                txn.create_dir_all(
                    d,
                    Perms {
                        mode: Some(0o700),
                        owner: None,
                    },
                )?;
                say(&format!("[{}/{n}] created {}", i + 1, d.display()));
            }
            Write::File { path, bytes, perms } => {
                txn.write_file(path, bytes, perms.clone())?;
                say(&format!("[{}/{n}] wrote {}", i + 1, path.display()));
            }
            Write::Pair {
                first,
                second,
                serial,
            } => {
                txn.write_pair(
                    (&first.0, &first.1, first.2.clone()),
                    (&second.0, &second.1, second.2.clone()),
                )?;
                say(&format!(
                    "[{}/{n}] wrote {} and {}{}",
                    i + 1,
                    first.0.display(),
                    second.0.display(),
                    serial
                        .as_ref()
                        .map(|s| format!(" (serial {s})"))
                        .unwrap_or_default()
                ));
            }
            Write::Remove(path) => {
                txn.remove_file(path)?;
                say(&format!("[{}/{n}] removed {}", i + 1, path.display()));
            }
        }
    }
    match authed {
        None => lines.push(format!(
            "Elasticsearch did not answer at {} before phase {}: it reads the new files when it starts",
            crate::domain::planner::es_url_detected(facts),
            p.phase
        )),
        Some(c) => {
            wait_served(facts, session, p, &c, lines, say)?;
            let h = c
                .wait_cluster(
                    HEALTH_TIMEOUT,
                    nodes_before,
                    &mut |_: &crate::shell::es_client::WaitStatus| {},
                )
                .map_err(|e| anyhow!("the cluster after phase {}: {e}", p.phase))?;
            lines.push(format!(
                "cluster after phase {}: {} with {} node(s)",
                p.phase, h.status, h.number_of_nodes
            ));
        }
    }
    if let Some(k) = &p.kibana_cert {
        lines.push(crate::shell::renew::kibana_reload(facts, k));
    }
    Ok(())
}

/// Wait until `GET _ssl/certificates` shows the trust list and certificates the phase wrote,
/// and a new TLS handshake presents the new HTTP certificate under the new CA.
pub(super) fn wait_served(
    facts: &Facts,
    session: &Session,
    p: &Prepared,
    client: &EsClient,
    lines: &mut Vec<String>,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let e = &p.expect;
    let url = crate::domain::planner::es_url_detected(facts);
    let (host, port) = crate::shell::renew::host_port(&url)?;
    let started = Instant::now();
    let mut last_said = Duration::ZERO;
    loop {
        let (ca_ok, leaves_ok, what) = match client.ssl_certificates() {
            Ok(list) => {
                let ca: Vec<String> = list
                    .iter()
                    .filter(|c| file_name(Path::new(&c.path)) == "ca.crt")
                    .map(|c| normalise_serial(&c.serial_number))
                    .collect();
                let ca_ok = e.ca_present.iter().all(|s| ca.contains(s))
                    && e.ca_absent.iter().all(|s| !ca.contains(s));
                let leaves_ok = e.leaves.iter().all(|(path, serial)| {
                    let name = file_name(path);
                    list.iter().any(|c| {
                        file_name(Path::new(&c.path)) == name
                            && normalise_serial(&c.serial_number) == *serial
                    })
                });
                (
                    ca_ok,
                    leaves_ok,
                    format!("ca.crt lists serials [{}]", ca.join(", ")),
                )
            }
            Err(EsError::Interrupted { .. }) => bail!("interrupted while waiting for the node"),
            Err(err) => (
                false,
                false,
                format!("GET _ssl/certificates: {}", err.short()),
            ),
        };
        let handshake = match (&e.http_serial, &e.handshake_ca) {
            (Some(want), Some(ca)) => Some(
                crate::shell::es_client::presented_leaf(&host, port, ca, Duration::from_secs(5))
                    .ok()
                    .and_then(|der| crate::shell::certinfo::inspect_der(&der).ok())
                    .is_some_and(|i| normalise_serial(&i.serial) == *want),
            ),
            _ => None,
        };
        let elapsed = started.elapsed();
        if ca_ok && leaves_ok && handshake != Some(false) {
            let mut line = format!(
                "phase {} served after {:.1} s: GET _ssl/certificates: {what}",
                p.phase,
                elapsed.as_secs_f64()
            );
            if !e.leaves.is_empty() {
                line.push_str(&format!(
                    "; {} loaded with the new serial",
                    e.leaves
                        .iter()
                        .map(|(p, _)| file_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(s) = &e.http_serial {
                line.push_str(&format!(
                    "; a new TLS handshake with {host}:{port}, trusting only the new CA, presents serial {s}"
                ));
            }
            lines.push(line);
            return Ok(());
        }
        if elapsed >= SERVE_TIMEOUT {
            bail!(
                "Elasticsearch did not serve phase {} within {} s ({what}{}{})\nhelp: look at the Elasticsearch log for a certificate reload error",
                p.phase,
                SERVE_TIMEOUT.as_secs(),
                if leaves_ok {
                    ""
                } else {
                    "; a certificate is not loaded yet"
                },
                if handshake == Some(false) {
                    "; the HTTP port does not present the new certificate under the new CA"
                } else {
                    ""
                }
            );
        }
        if elapsed - last_said >= Duration::from_secs(2) {
            last_said = elapsed;
            say(&format!(
                "waiting for Elasticsearch to reload (it checks every 5 s)… {:.0} s: {what}",
                elapsed.as_secs_f64()
            ));
        }
        if !session.interrupts.sleep(Duration::from_millis(500)) {
            bail!("interrupted while waiting for the node");
        }
    }
}
