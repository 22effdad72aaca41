//! Bundle retention on the CA host: `<state>/bundles/<node>.bundle.yml` holds another node's
//! private keys, so once that node has joined the cluster the copy here is deleted
//! (`apply --answers FILE --prune-bundles`, which applies nothing else), or every copy on request (`--prune-bundles all`).
//! "Joined" means `GET /_nodes`, asked over the cluster URL trusting only our CA, lists a node
//! of that name: with transport TLS (`verification_mode: full`) a node can only join with a
//! certificate from our CA, i.e. after its bundle was applied. Must not write or edit files
//! (it only unlinks bundles in the root-only state directory through `safe_fs`, holding the
//! state lock; the bundles' `cluster.yml` goes with the last of them), and must not decide
//! what goes into a bundle.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::domain::answers::{Answers, AuthMethod};
use crate::domain::facts::Facts;
use crate::domain::planner;
use crate::shell::es_client::{Credentials, EsClient};
use crate::shell::txn::StateDir;

/// What `--prune-bundles` deletes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PruneMode {
    /// The bundles of nodes the cluster lists.
    Joined,
    /// Every bundle, without asking the cluster.
    All,
}

/// The bundles deleted and the ones kept (with why), by node name.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub deleted: Vec<(String, PathBuf)>,
    pub kept: Vec<(String, PathBuf)>,
}

const SUFFIX: &str = ".bundle.yml";

/// Delete bundles in `<state>/bundles/` as `mode` says. Holds the state lock, so it never
/// races an apply that writes bundles.
pub fn prune(facts: &Facts, answers: &Answers, mode: PruneMode) -> anyhow::Result<PruneReport> {
    let state = StateDir::open(&facts.state.state_dir)?;
    let _lock = state.lock("prune bundles")?;
    let bundles = list(&facts.state.state_dir.join("bundles"))?;
    let mut report = PruneReport::default();
    if bundles.is_empty() {
        return Ok(report);
    }
    let joined = match mode {
        PruneMode::All => None,
        PruneMode::Joined => Some(joined_nodes(facts, answers)?),
    };
    for (node, path) in bundles {
        let delete = joined.as_ref().is_none_or(|names| names.contains(&node));
        if delete {
            // Unlinks the entry itself (a symlink is not followed), inside the root-only
            // state directory, through the file-system layer.
            crate::shell::safe_fs::entry(&path)
                .and_then(|t| t.remove())
                .with_context(|| format!("deleting bundle {}", path.display()))?;
            report.deleted.push((node, path));
        } else {
            report.kept.push((node, path));
        }
    }
    if !report.deleted.is_empty() {
        let dir = facts.state.state_dir.join("bundles");
        if report.kept.is_empty() {
            // The cluster file serves only the bundles written with it: gone with the last.
            let cluster = dir.join(crate::shell::bundle::CLUSTER_FILE);
            if std::fs::symlink_metadata(&cluster).is_ok() {
                crate::shell::safe_fs::entry(&cluster)
                    .and_then(|t| t.remove())
                    .with_context(|| format!("deleting {}", cluster.display()))?;
            }
        }
        crate::shell::safe_fs::open_dir(&dir)?.sync()?;
    }
    Ok(report)
}

/// `(node, path)` of every regular `*.bundle.yml` file in `dir`, sorted; none when `dir` does
/// not exist.
fn list(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(node) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push((node.to_string(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The names of the cluster's nodes, asked at the answers' URL (our CA, hostname checked) as
/// `verify` authenticates: elastic's password with `auth.method: elastic-password`, else a
/// temporary file-realm superuser on this node.
fn joined_nodes(facts: &Facts, answers: &Answers) -> anyhow::Result<Vec<String>> {
    let url = planner::es_url(facts, answers);
    let trust =
        crate::shell::verify::trust_for(&url, facts.ca.as_ref().map(|c| c.cert_pem.as_str()))?;
    let client = EsClient::new(&url, trust)?;
    let help =
        "help: start Elasticsearch on this host, or delete every bundle with `--prune-bundles all`";
    // Reachable over TLS with our CA first, so a stopped node costs no temporary user.
    client.status_anonymous().with_context(|| {
        format!("asking {url} which nodes have joined, to delete their bundles\n{help}")
    })?;
    let ask = |creds: &Credentials| -> anyhow::Result<Vec<String>> {
        let client = client.with_credentials(creds.clone());
        // A new file-realm user needs up to 5 s to load; a wrong password stays a 401.
        let _ = client.authenticate_retrying(std::time::Duration::from_secs(30));
        client.node_names().map_err(anyhow::Error::from)
    };
    let names = match &answers.auth {
        AuthMethod::ElasticPassword(r) => ask(&Credentials {
            username: "elastic".to_string(),
            password: crate::shell::secrets::resolve("auth.elastic_password", r)?,
        }),
        _ => crate::shell::file_realm::with_temp_superuser(&facts.es.config_dir, ask),
    };
    names.with_context(|| {
        format!("asking {url} which nodes have joined, to delete their bundles\n{help}")
    })
}
