//! The renew executor: runs a renew [`Plan`] (only `IssueCert` steps, from the CA in the
//! state directory) without restarting anything, then waits until Elasticsearch serves the
//! new certificates.
//!
//! Order and guarantees:
//! 1. Before the first write: the CA key is read and every certificate is issued in memory,
//!    so a bad CA changes nothing.
//! 2. Each certificate and its key are replaced as one journaled step
//!    ([`Txn::write_pair`]: both written completely with owner and mode under temporary names,
//!    then renamed one right after the other; names unchanged, so Elasticsearch's 5 s reload
//!    sees them — elastic/elasticsearch#63870 is why nothing is ever half-written).
//! 3. The wait (`GET _ssl/certificates` lists the new serial for every renewed file, and a new
//!    TLS handshake to the HTTP port presents the new HTTP certificate) still belongs to the
//!    transaction: a failure or an interrupt restores the old files byte-for-byte (which the
//!    node reloads again) and removes the temporary superuser it authenticated as.
//! 4. A node that does not answer at all is not running: it reads the new files when it
//!    starts, so the renewal is committed without waiting (and the operator told).
//!
//! It must not restart Elasticsearch or Kibana, edit a settings file, or create a CA.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use zeroize::Zeroizing;

use crate::domain::facts::Facts;
use crate::domain::plan::{Plan, Step};
use crate::shell::certgen;
use crate::shell::es_client::{EsClient, EsError};
use crate::shell::file_realm::{self, TempSuperuser};
use crate::shell::recovery::Session;
use crate::shell::signals::Phase;
use crate::shell::txn::Txn;

/// How long to wait for the node to serve the new certificates (it polls every 5 s).
const SERVE_TIMEOUT: Duration = Duration::from_secs(60);

/// How a renewal failed. The app maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum RenewFailure {
    /// Nothing was changed (the CA is unusable, the lock is held, …).
    #[error("{0:#}")]
    Refused(anyhow::Error),
    /// Files were written and then every one of them restored.
    #[error("{cause:#}\n\nRolled back: {report}")]
    RolledBack {
        cause: anyhow::Error,
        report: String,
    },
}

impl RenewFailure {
    /// Roll `txn` back after `cause`: the restored files are reloaded by Elasticsearch (no
    /// restart either way); `more` is said after that (e.g. what the re-run does).
    pub(crate) fn rolled_back(txn: Txn, cause: anyhow::Error, more: &str) -> Self {
        let report = match txn.rollback() {
            Ok(r) => format!(
                "{r}\nElasticsearch reloads the restored files within 5 s; nothing was restarted.{more}"
            ),
            Err(e) => format!("ROLLBACK FAILED: {e:#}"),
        };
        RenewFailure::RolledBack { cause, report }
    }
}

/// A certificate issued for one `IssueCert` step, held until it is written.
struct Issued {
    cert_path: PathBuf,
    key_path: PathBuf,
    chain: String,
    key: Zeroizing<String>,
    perms: crate::shell::txn::Perms,
    /// Normalised (lowercase hex, no colons or leading zeros), as Elasticsearch prints it.
    serial: String,
}

/// What the renewal did, in lines for the operator.
#[derive(Debug, Default)]
pub struct RenewReport {
    pub transaction: Option<String>,
    pub lines: Vec<String>,
}

/// `0A:1B` / `0a1b` / `a1b` → `a1b`.
pub fn normalise_serial(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Run the renew plan inside `session` (lock held, recovery done). `say` gets progress lines.
pub fn renew(
    session: &Session,
    facts: &Facts,
    plan: &Plan,
    say: &dyn Fn(&str),
) -> Result<RenewReport, RenewFailure> {
    let issued = issue_all(facts, plan).map_err(RenewFailure::Refused)?;
    let bundles = signer(facts)
        .and_then(|s| Ok((bundles_of(&s, plan)?, s.fingerprint_sha256())))
        .map_err(RenewFailure::Refused)?;
    // Asked before anything is written: a node that answers now must be seen serving the new
    // certificates; one that does not (stopped) reads them when it starts.
    let running = es_answers(facts);
    let interrupts = session.interrupts.clone();
    let mut txn = Txn::begin(&session.state, "renew").map_err(RenewFailure::Refused)?;
    interrupts.set_phase(Phase::Files);
    let mut temp_user: Option<TempSuperuser> = None;
    let mut report = RenewReport::default();
    let ctx = Ctx {
        facts,
        session,
        say,
    };
    let result = run(
        &ctx,
        running,
        &issued,
        &mut txn,
        &mut temp_user,
        &mut report,
    )
    .and_then(|()| write_bundles(&bundles.0, &bundles.1, &mut txn, &mut report, say));
    if let Some(u) = temp_user.take()
        && let Err(e) = u.remove()
    {
        say(&format!(
            "could not remove the temporary superuser: {e:#}; remove its line from users and users_roles"
        ));
    }
    let outcome = match result {
        Ok(()) => match txn.commit() {
            Ok(id) => {
                report.transaction = Some(id);
                Ok(report)
            }
            Err(e) => Err(RenewFailure::Refused(e.context("committing"))),
        },
        Err(cause) => Err(RenewFailure::rolled_back(txn, cause, "")),
    };
    interrupts.set_phase(Phase::Idle);
    outcome
}

/// The CA in the state directory, ready to sign.
pub(crate) fn signer(facts: &Facts) -> anyhow::Result<certgen::CaSigner> {
    let ca = facts
        .ca
        .as_ref()
        .context("no es-secure CA in the state directory")?;
    let key = Zeroizing::new(
        crate::shell::safe_fs::read_file_text(&ca.key_path, crate::shell::safe_fs::SMALL_CAP)
            .with_context(|| format!("reading the CA key {}", ca.key_path.display()))?,
    );
    certgen::load_ca(&ca.cert_pem, &key)
}

/// A new signed bundle for another node (`renew --all`), complete in memory.
struct Bundle {
    node: String,
    path: PathBuf,
    text: Zeroizing<String>,
}

/// The new bundles of the plan and the cluster file they share (empty without `--all`).
#[derive(Default)]
struct Bundles {
    cluster: String,
    list: Vec<Bundle>,
}

/// Every bundle of the plan, signed (their certificates issued) before anything is written.
/// They are built on every core (two ECDSA certificates and a signature each: most of a
/// 1000-node `renew --all`), and come back in plan order.
fn bundles_of(signer: &certgen::CaSigner, plan: &Plan) -> anyhow::Result<Bundles> {
    let steps: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::WriteBundle {
                node,
                path,
                contents,
            } => Some((node, path, contents.as_ref())),
            _ => None,
        })
        .collect();
    let Some((_, _, first)) = steps.first() else {
        return Ok(Bundles::default());
    };
    let writer = crate::shell::bundle::BundleWriter::new(signer, first)?;
    let jobs: Vec<_> = steps
        .iter()
        .map(|(node, _, contents)| (node.as_str(), *contents))
        .collect();
    let list = steps
        .iter()
        .zip(writer.texts_for(&jobs))
        .map(|((node, path, _), text)| {
            Ok(Bundle {
                node: (*node).clone(),
                path: (*path).clone(),
                text: text?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Bundles {
        cluster: writer.cluster_text().to_string(),
        list,
    })
}

/// Issue every certificate of the plan in memory, from the CA in the state directory.
fn issue_all(facts: &Facts, plan: &Plan) -> anyhow::Result<Vec<Issued>> {
    let signer = signer(facts)?;
    let mut out = Vec::new();
    for step in &plan.steps {
        let Step::IssueCert {
            spec,
            cert_path,
            key_path,
            owner,
            ..
        } = step
        else {
            continue;
        };
        let cert = signer.issue(spec)?;
        let serial = crate::shell::certinfo::inspect_pem(&cert.cert_pem)
            .map_err(|e| anyhow!("reading the certificate just issued: {e}"))?
            .serial;
        out.push(Issued {
            cert_path: cert_path.clone(),
            key_path: key_path.clone(),
            chain: format!("{}{}", cert.cert_pem, signer.cert_pem()),
            key: cert.key_pem.clone(),
            perms: crate::shell::apply::perms(0o640, owner)?,
            serial: normalise_serial(&serial),
        });
    }
    Ok(out)
}

/// Write the new bundles and their cluster file into `<state>/bundles/` (0600, root only:
/// they hold private keys) as one unit of the transaction: one barrier for all of them, and
/// the directory is the old set or the new one after a crash.
fn write_bundles(
    bundles: &Bundles,
    fingerprint: &str,
    txn: &mut Txn,
    report: &mut RenewReport,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let Some(dir) = bundles.list.first().and_then(|b| b.path.parent()) else {
        return Ok(());
    };
    let private = crate::shell::txn::Perms {
        mode: Some(0o700),
        owner: None,
    };
    txn.write_files_as_unit(dir, 0o600, None, private, |unit| {
        unit.add(
            crate::shell::bundle::CLUSTER_FILE,
            bundles.cluster.as_bytes(),
        )?;
        for b in &bundles.list {
            let name = b
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|_| b.path.parent() == Some(dir))
                .with_context(|| {
                    format!(
                        "internal: the bundles are not all in {} ({})",
                        dir.display(),
                        b.path.display()
                    )
                })?;
            unit.add(name, b.text.as_bytes())?;
        }
        Ok(())
    })?;
    for b in &bundles.list {
        say(&format!(
            "wrote the bundle for {}: {}",
            b.node,
            b.path.display()
        ));
        report.lines.push(crate::shell::bundle::copy_instruction(
            &b.node,
            &b.path,
            Some(fingerprint),
        ));
    }
    Ok(())
}

/// What every phase of one renewal reads.
struct Ctx<'a> {
    facts: &'a Facts,
    session: &'a Session,
    say: &'a dyn Fn(&str),
}

fn run(
    ctx: &Ctx<'_>,
    running: bool,
    issued: &[Issued],
    txn: &mut Txn,
    temp_user: &mut Option<TempSuperuser>,
    report: &mut RenewReport,
) -> anyhow::Result<()> {
    let (facts, say) = (ctx.facts, ctx.say);
    let interrupts = &ctx.session.interrupts;
    for (i, c) in issued.iter().enumerate() {
        if interrupts.requested() {
            bail!(
                "interrupted (SIGINT, SIGTERM, SIGHUP) before step {}",
                i + 1
            );
        }
        txn.write_pair(
            (&c.cert_path, c.chain.as_bytes(), c.perms.clone()),
            (&c.key_path, c.key.as_bytes(), c.perms.clone()),
        )?;
        say(&format!(
            "[{}/{}] wrote {} and {} (serial {})",
            i + 1,
            issued.len(),
            c.cert_path.display(),
            c.key_path.display(),
            c.serial
        ));
    }
    let es_config = &facts.es.config_dir;
    let es_issued: Vec<&Issued> = issued
        .iter()
        .filter(|c| c.cert_path.starts_with(es_config))
        .collect();
    if !es_issued.is_empty() && !running {
        report.lines.push(format!(
            "Elasticsearch did not answer at {} before the renewal: it reads the new files when it starts",
            crate::domain::planner::es_url_detected(facts)
        ));
    } else if !es_issued.is_empty() {
        wait_served(ctx, &es_issued, txn, temp_user, report)?;
    }
    if let Some(k) = issued.iter().find(|c| {
        facts
            .kibana
            .as_ref()
            .is_some_and(|kf| c.cert_path.starts_with(&kf.config_dir))
    }) {
        report.lines.push(kibana_reload(facts, &k.cert_path));
    }
    Ok(())
}

/// Wait until Elasticsearch lists every renewed file with its new serial and a new TLS
/// handshake to its HTTP port presents the new HTTP certificate.
fn wait_served(
    ctx: &Ctx<'_>,
    es_issued: &[&Issued],
    txn: &mut Txn,
    temp_user: &mut Option<TempSuperuser>,
    report: &mut RenewReport,
) -> anyhow::Result<()> {
    let (facts, say) = (ctx.facts, ctx.say);
    let interrupts = &ctx.session.interrupts;
    let url = crate::domain::planner::es_url_detected(facts);
    let ca_pem = facts.ca.as_ref().map(|c| c.cert_pem.as_str());
    let trust = crate::shell::verify::trust_for(&url, ca_pem)?;
    let client = EsClient::new(&url, trust)?.with_interrupts(interrupts.clone());
    let (host, port) = host_port(&url)?;
    let config_dir = facts.es.config_dir.clone();
    let user =
        file_realm::create_journaled(&config_dir, |name| txn.record_temp_user(&config_dir, name))?;
    let client = client.with_credentials(user.credentials());
    *temp_user = Some(user);
    let http_serial = es_issued
        .iter()
        .find(|c| c.cert_path.file_name() == Some(std::ffi::OsStr::new("http.crt")))
        .map(|c| c.serial.clone());
    let started = Instant::now();
    let mut last_said = Duration::ZERO;
    loop {
        let loaded = match client.ssl_certificates() {
            Ok(list) => es_issued
                .iter()
                .map(|c| {
                    let name = file_name(&c.cert_path);
                    let ok = list.iter().any(|e| {
                        file_name(Path::new(&e.path)) == name
                            && normalise_serial(&e.serial_number) == c.serial
                    });
                    (name, ok)
                })
                .collect::<Vec<_>>(),
            Err(EsError::Interrupted { .. }) => {
                bail!("interrupted while waiting for the new certificates")
            }
            // The temporary user authenticates once the file realm reloads (5 s too).
            Err(_) => es_issued
                .iter()
                .map(|c| (file_name(&c.cert_path), false))
                .collect(),
        };
        let handshake = match (&http_serial, ca_pem) {
            (Some(want), Some(ca)) => {
                match crate::shell::es_client::presented_leaf(
                    &host,
                    port,
                    ca,
                    Duration::from_secs(5),
                ) {
                    Ok(der) => Some(
                        crate::shell::certinfo::inspect_der(&der)
                            .map(|i| normalise_serial(&i.serial) == *want)
                            .unwrap_or(false),
                    ),
                    Err(_) => Some(false),
                }
            }
            _ => None,
        };
        let done = loaded.iter().all(|(_, ok)| *ok) && handshake != Some(false);
        let elapsed = started.elapsed();
        if done {
            let mut line = format!(
                "Elasticsearch serves the new certificates after {:.1} s: {} listed by GET _ssl/certificates with the new serial",
                elapsed.as_secs_f64(),
                loaded
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(s) = &http_serial {
                line.push_str(&format!(
                    "; a new TLS handshake with {host}:{port} presents serial {s}"
                ));
            }
            report.lines.push(line);
            return Ok(());
        }
        if elapsed >= SERVE_TIMEOUT {
            bail!(
                "Elasticsearch did not serve the new certificates within {} s ({}{})\nhelp: look at the Elasticsearch log for a certificate reload error",
                SERVE_TIMEOUT.as_secs(),
                status_words(&loaded),
                match handshake {
                    Some(false) => "; the HTTP port still presents the old certificate",
                    _ => "",
                }
            );
        }
        if elapsed - last_said >= Duration::from_secs(2) {
            last_said = elapsed;
            say(&format!(
                "waiting for Elasticsearch to reload its certificates (it checks every 5 s)… {:.0} s: {}{}",
                elapsed.as_secs_f64(),
                status_words(&loaded),
                match handshake {
                    Some(true) => "; HTTPS handshake: new",
                    Some(false) => "; HTTPS handshake: old certificate or no answer",
                    None => "",
                }
            ));
        }
        if !interrupts.sleep(Duration::from_millis(500)) {
            bail!("interrupted while waiting for the new certificates");
        }
    }
}

fn status_words(loaded: &[(String, bool)]) -> String {
    loaded
        .iter()
        .map(|(n, ok)| format!("{n}: {}", if *ok { "loaded" } else { "not yet" }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether Elasticsearch answers HTTP(S) at its URL, trusting our CA (any status counts:
/// a secured node answers 401; what answers must say it is Elasticsearch).
fn es_answers(facts: &Facts) -> bool {
    let url = crate::domain::planner::es_url_detected(facts);
    let ca_pem = facts.ca.as_ref().map(|c| c.cert_pem.as_str());
    crate::shell::verify::trust_for(&url, ca_pem)
        .and_then(|t| EsClient::new(&url, t))
        .is_ok_and(|c| c.is_elasticsearch().unwrap_or(false))
}

/// `https://host:9200` → (`host`, 9200).
pub(crate) fn host_port(url: &str) -> anyhow::Result<(String, u16)> {
    let u = reqwest::Url::parse(url).map_err(|e| anyhow!("invalid URL {url}: {e}"))?;
    let host = u
        .host_str()
        .with_context(|| format!("{url} has no host"))?
        .to_string();
    let port = u.port_or_known_default().unwrap_or(9200);
    Ok((host, port))
}

/// Kibana reloads `server.ssl.*` on SIGHUP from 8.11.2: send it when kibana.yml's `pid.file`
/// names a running process, else say how.
pub(crate) fn kibana_reload(facts: &Facts, cert: &Path) -> String {
    let manual = format!(
        "Kibana's certificate {} was renewed: Kibana 8.11.2 and later reload it on SIGHUP (`kill -HUP <Kibana's pid>`); older Kibana: restart it (`systemctl restart kibana`)",
        cert.display()
    );
    let Some(pid_file) = facts.kibana.as_ref().and_then(|k| {
        k.parsed
            .settings
            .value("pid.file")
            .map(|v| PathBuf::from(v.as_plain()))
    }) else {
        return manual;
    };
    let pid = crate::shell::safe_fs::read_file_text(&pid_file, 64)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 1);
    match pid {
        Some(p) => match nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGHUP,
        ) {
            Ok(()) => format!(
                "sent SIGHUP to Kibana (pid {p}, from {}): Kibana 8.11.2 and later reload {} now; older Kibana: restart it",
                pid_file.display(),
                cert.display()
            ),
            Err(e) => format!(
                "{manual} (SIGHUP to pid {p} from {} failed: {e})",
                pid_file.display()
            ),
        },
        None => manual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_as_elasticsearch_prints_them() {
        assert_eq!(normalise_serial("0A:1B:FF"), "a1bff");
        assert_eq!(normalise_serial("a1bff"), "a1bff");
        assert_eq!(normalise_serial("00:00"), "0");
    }
}
