//! Detection: find Elasticsearch and Kibana on this host and read what the planner needs into
//! [`Facts`]. It only reads (files, the process table, users and groups, and — only for a
//! service-account token already in kibana.keystore when the answers want one — one
//! `GET /_security/_authenticate` with that token); it never changes anything. Each failure
//! names the path and says what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::domain::answers::{Answers, CaSource, KibanaEsAuth};
use crate::domain::facts::{
    CaFacts, EsFacts, ExistingCert, Facts, KeystoreFacts, KibanaFacts, Layout, StateFacts,
    TokenCheck, Version,
};
use crate::domain::planner::files;
use crate::domain::settings;
use crate::domain::tier;
use crate::shell::safe_fs;
use crate::shell::state::State;

mod host;

pub use host::IGNORE_OWNERSHIP;
use host::host_facts;

/// Where to look, from the command line (highest precedence) and the answers.
#[derive(Clone, Debug, Default)]
pub struct Locate {
    pub es_home: Option<PathBuf>,
    pub es_config: Option<PathBuf>,
    pub kibana_config: Option<PathBuf>,
    pub es_user: Option<String>,
    pub state_dir: PathBuf,
    /// Set when the install is es-secure's sandbox copy.
    pub sandbox: bool,
    /// Where host facts come from (the real /proc and systemd directories; tests point
    /// these elsewhere).
    pub probe: HostProbe,
}

/// The host places preflight reads: the process table and the systemd unit directories.
#[derive(Clone, Debug)]
pub struct HostProbe {
    pub proc_dir: PathBuf,
    /// Unit directories, lowest precedence first (`/etc` overrides `/usr/lib`).
    pub systemd_dirs: Vec<PathBuf>,
}

impl Default for HostProbe {
    fn default() -> Self {
        Self {
            proc_dir: PathBuf::from("/proc"),
            systemd_dirs: [
                "/usr/lib/systemd/system",
                "/lib/systemd/system",
                "/etc/systemd/system",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
        }
    }
}

impl Locate {
    /// Fill unset locations from the answers (command-line values win).
    pub fn with_answers(mut self, answers: &Answers) -> Self {
        if self.es_config.is_none() {
            self.es_config = answers.es.config_dir.clone();
        }
        if self.es_home.is_none() {
            self.es_home = answers.es.home.clone();
        }
        if self.kibana_config.is_none() {
            self.kibana_config = answers.kibana.as_ref().map(|k| k.config_dir.clone());
        }
        if self.es_user.is_none() {
            self.es_user = answers.es.service_user.clone();
        }
        self
    }
}

/// No Elasticsearch configuration was found; the app may offer the sandbox.
#[derive(Debug, thiserror::Error)]
#[error(
    "no Elasticsearch configuration found (looked at: {looked})\nhelp: pass --es-config DIR (the directory holding elasticsearch.yml), or set ES_PATH_CONF"
)]
pub struct NotFound {
    pub looked: String,
}

/// Find the Elasticsearch config directory and home, and the layout.
pub fn locate_es(loc: &Locate) -> Result<(PathBuf, Option<PathBuf>, Layout), NotFound> {
    let mut looked = Vec::new();
    let home_env = std::env::var_os("ES_HOME").map(PathBuf::from);
    if let Some(dir) = &loc.es_config {
        let home = loc.es_home.clone().or_else(|| archive_home_of(dir));
        let layout = if loc.sandbox {
            Layout::Sandbox
        } else {
            Layout::Explicit
        };
        return Ok((dir.clone(), home, layout));
    }
    if let Some(home) = loc.es_home.clone().or(home_env) {
        let dir = home.join("config");
        if dir.join("elasticsearch.yml").exists() {
            return Ok((dir, Some(home), Layout::Archive));
        }
        looked.push(dir.display().to_string());
    }
    if let Some(dir) = std::env::var_os("ES_PATH_CONF").map(PathBuf::from) {
        if dir.join("elasticsearch.yml").exists() {
            return Ok((dir, package_home(), Layout::Package));
        }
        looked.push(format!("$ES_PATH_CONF={}", dir.display()));
    }
    for defaults in ["/etc/default/elasticsearch", "/etc/sysconfig/elasticsearch"] {
        if let Some(dir) = path_conf_from_defaults(Path::new(defaults)) {
            if dir.join("elasticsearch.yml").exists() {
                return Ok((dir, package_home(), Layout::Package));
            }
            looked.push(format!("ES_PATH_CONF in {defaults}"));
        }
    }
    let etc = PathBuf::from("/etc/elasticsearch");
    if etc.join("elasticsearch.yml").exists() {
        return Ok((etc, package_home(), Layout::Package));
    }
    looked.push("/etc/elasticsearch".to_string());
    Err(NotFound {
        looked: looked.join(", "),
    })
}

fn package_home() -> Option<PathBuf> {
    let home = PathBuf::from("/usr/share/elasticsearch");
    home.join("lib").is_dir().then_some(home)
}

fn archive_home_of(config_dir: &Path) -> Option<PathBuf> {
    let parent = config_dir.parent()?;
    parent.join("lib").is_dir().then(|| parent.to_path_buf())
}

/// `ES_PATH_CONF=/etc/elasticsearch` from a package defaults file.
fn path_conf_from_defaults(path: &Path) -> Option<PathBuf> {
    let text = safe_fs::read_file_text(path, safe_fs::SMALL_CAP).ok()?;
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("ES_PATH_CONF=")?;
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| PathBuf::from(value))
    })
}

/// The version from `lib/elasticsearch-<version>.jar`.
pub fn es_version(home: &Path) -> Option<Version> {
    let entries = std::fs::read_dir(home.join("lib")).ok()?;
    entries.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let v = name.strip_prefix("elasticsearch-")?.strip_suffix(".jar")?;
        Version::parse(v)
    })
}

/// Read a settings file, refusing directories, dangling links and non-UTF-8 text with a clear
/// message.
pub fn read_settings_file(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| {
        if std::fs::symlink_metadata(path).is_ok() {
            format!(
                "{} is a symbolic link to a file that does not exist\nhelp: point it at the real file or replace it with one",
                path.display()
            )
        } else {
            format!("{} does not exist\nhelp: check the path (nothing was changed)", path.display())
        }
    })?;
    if meta.is_dir() {
        bail!(
            "{} is a directory, not a settings file\nhelp: it must be a YAML file",
            path.display()
        );
    }
    if !meta.is_file() {
        bail!(
            "{} is not a regular file (a FIFO, socket or device), not a settings file\nhelp: it must be a YAML file (nothing was changed)",
            path.display()
        );
    }
    // Non-blocking, size-capped, and a symlink only where no service account could have
    // planted it (the config dir of an archive install is the service user's).
    let bytes = crate::shell::safe_fs::read_config(path).with_context(|| {
        format!(
            "cannot read {}\nhelp: run es-secure as root (e.g. `sudo es-secure ...`) or as the owner of the file",
            path.display()
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (first bad byte at offset {})\nhelp: convert it to UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn group_of(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let gid = std::fs::metadata(path).ok()?.gid();
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// Inspect our certificate files in `certs_dir` against the CA (if any) and the trust list
/// `trust` next to them (`ca.crt`, if any).
fn existing_certs(
    certs_dir: &Path,
    pairs: &[(&str, &str)],
    ca: Option<&CaFacts>,
    trust: Option<&String>,
) -> BTreeMap<String, ExistingCert> {
    let trusted = trust.map_or_else(Vec::new, |t| crate::shell::certinfo::certificate_blocks(t));
    let mut out = BTreeMap::new();
    for (cert, key) in pairs {
        // Through safe_fs: certs/ may be the service user's, so a FIFO or a planted link
        // there must neither hang nor redirect root.
        let Ok(cert_pem) = safe_fs::read_file_text(&certs_dir.join(cert), safe_fs::SMALL_CAP)
        else {
            continue;
        };
        let key_pem = safe_fs::read_file_text(&certs_dir.join(key), safe_fs::SMALL_CAP).ok();
        if let Some(mut found) = crate::shell::inspect::existing_cert(
            &cert_pem,
            key_pem.as_deref(),
            ca.map(|c| c.cert_pem.as_str()),
        ) {
            found.signed_by_trusted_ca = trusted
                .iter()
                .any(|ca| crate::shell::certinfo::verify_issued_by(&cert_pem, ca).is_ok());
            out.insert((*cert).to_string(), found);
        }
    }
    out
}

fn ca_copies(certs_dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(text) = safe_fs::read_file_text(&certs_dir.join(files::CA_CERT), safe_fs::SMALL_CAP) {
        out.insert(files::CA_CERT.to_string(), text);
    }
    out
}

/// TLS files Elastic's security auto-configuration writes under `<config>/certs/`.
const AUTOCONFIG_FILES: [&str; 3] = ["http.p12", "transport.p12", "http_ca.crt"];

/// Elasticsearch's data directories: `path.data`, else the layout's default.
fn data_dirs(settings: &settings::Settings, layout: Layout, home: Option<&Path>) -> Vec<PathBuf> {
    use crate::domain::settings::SettingValue;
    match settings.value("path.data") {
        Some(SettingValue::List(items)) => {
            items.iter().map(|i| PathBuf::from(i.as_plain())).collect()
        }
        Some(v) => vec![PathBuf::from(v.as_plain())],
        None => match (layout, home) {
            (Layout::Package, _) => vec![PathBuf::from("/var/lib/elasticsearch")],
            (_, Some(home)) => vec![home.join("data")],
            (_, None) => Vec::new(),
        },
    }
}

/// Read a CA certificate (and check its key file exists) into facts.
pub fn read_ca(cert_path: &Path, key_path: &Path) -> anyhow::Result<Option<CaFacts>> {
    let Ok(cert_pem) = safe_fs::read_file_text(cert_path, safe_fs::SMALL_CAP) else {
        return Ok(None);
    };
    if !key_path.exists() {
        bail!(
            "{} exists but its key {} is missing\nhelp: if an apply was interrupted, run `es-secure rollback` to undo it; otherwise restore the key from a backup, or move the certificate away to create a new CA",
            cert_path.display(),
            key_path.display()
        );
    }
    let summary = crate::shell::inspect::ca_summary(&cert_pem)
        .with_context(|| format!("reading CA certificate {}", cert_path.display()))?;
    Ok(Some(CaFacts {
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        fingerprint: summary.0,
        not_after: summary.1,
        subject: summary.2,
        cert_pem,
    }))
}

/// Gather everything about this host. `answers` are used to know where to look and to check
/// whether stored password hashes still match; they are not otherwise interpreted here.
pub fn detect(loc: &Locate, answers: Option<&Answers>, now: i64) -> anyhow::Result<Facts> {
    let (config_dir, home, layout) = locate_es(loc)?;
    let yml_path = config_dir.join("elasticsearch.yml");
    let yml_text = read_settings_file(&yml_path)?;
    let parsed = settings::parse(&yml_path.display().to_string(), &yml_text)?;
    let tier = tier::detect(&parsed.settings, parsed.autoconfig.is_some());
    let version = home.as_deref().and_then(es_version);

    let ca_dir = loc.state_dir.join("ca");
    let ca = read_ca(&ca_dir.join("ca.crt"), &ca_dir.join("ca.key"))?;
    let byo_ca = match answers.map(|a| &a.certs.ca) {
        Some(CaSource::Files { cert, key }) => read_ca(cert, key)?,
        _ => None,
    };

    let es_certs_dir = config_dir.join("certs");
    let es_ca_copies = ca_copies(&es_certs_dir);
    let own_certs_installed = own_certs_installed(answers, &es_certs_dir);
    let cluster_formed = data_dirs(&parsed.settings, layout, home.as_deref())
        .iter()
        .any(|d| d.join("_state").is_dir());
    let es = EsFacts {
        layout,
        home,
        version,
        yml_path,
        keystore: keystore_facts(&config_dir.join("elasticsearch.keystore"), false),
        certs_dir_exists: es_certs_dir.is_dir(),
        certs: existing_certs(
            &es_certs_dir,
            &[
                (files::TRANSPORT_CERT, files::TRANSPORT_KEY),
                (files::HTTP_CERT, files::HTTP_KEY),
            ],
            ca.as_ref(),
            es_ca_copies.get(files::CA_CERT),
        ),
        ca_copies: es_ca_copies,
        config_group: group_of(&config_dir),
        autoconfig_files: AUTOCONFIG_FILES
            .iter()
            .filter(|f| es_certs_dir.join(f).is_file())
            .map(ToString::to_string)
            .collect(),
        autoconfig_ca_fingerprint: std::fs::read_to_string(es_certs_dir.join("http_ca.crt"))
            .ok()
            .and_then(|pem| crate::shell::inspect::ca_summary(&pem).ok())
            .map(|s| s.0),
        cluster_formed,
        config_dir,
        yml_text,
        parsed,
        tier,
    };

    let kibana = match kibana_dir(loc) {
        Some(dir) => Some(detect_kibana(&dir, ca.as_ref())?),
        None => None,
    };

    let state = State::load(&loc.state_dir)?;
    let passwords_current = answers
        .map(|a| crate::shell::secrets::passwords_current(a, &state))
        .unwrap_or_default();
    let host = host_facts(loc, &es);
    let mut facts = Facts {
        es,
        kibana,
        ca,
        byo_ca,
        own_certs_installed,
        bundle: None,
        state: StateFacts {
            state_dir: loc.state_dir.clone(),
            passwords_current,
            restart_pending: state.restart_pending,
            allocation_disabled: state.allocation_disabled,
            ca_rotation: state.ca_rotation.clone(),
        },
        host,
        now,
    };
    if let Some(a) = answers
        && a.kibana.as_ref().map(|k| k.es_auth) == Some(KibanaEsAuth::ServiceToken)
        && let Some(keystore) = facts.kibana.as_ref().map(|k| k.keystore.path.clone())
    {
        // The one network read of detection: only for a token already in kibana.keystore.
        let url = crate::domain::planner::es_url(&facts, a);
        let ca = facts.ca.as_ref().map(|c| c.cert_pem.as_str());
        let check = crate::shell::service_token::check_keystore(&keystore, &url, ca);
        if let Some(k) = &mut facts.kibana {
            k.service_token = check;
        }
    }
    Ok(facts)
}

/// For each own node certificate the answers give, whether `<config>/certs/` already holds
/// byte-identical copies of it and its key (an unreadable file counts as not installed, so
/// the plan installs it and apply reports the precise problem).
fn own_certs_installed(answers: Option<&Answers>, certs_dir: &Path) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let Some(own) = answers.and_then(|a| a.certs.node_certs.as_ref()) else {
        return out;
    };
    let read = |p: &Path| safe_fs::read_file(p, safe_fs::SMALL_CAP);
    let same = |a: &Path, b: &Path| match (read(a), read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    let mut pairs = vec![(&own.transport, files::TRANSPORT_CERT, files::TRANSPORT_KEY)];
    pairs.extend(
        own.http
            .as_ref()
            .map(|h| (h, files::HTTP_CERT, files::HTTP_KEY)),
    );
    for (pair, cert, key) in pairs {
        let installed =
            same(&pair.cert, &certs_dir.join(cert)) && same(&pair.key, &certs_dir.join(key));
        out.insert(cert.to_string(), installed);
    }
    out
}

fn kibana_dir(loc: &Locate) -> Option<PathBuf> {
    if let Some(dir) = &loc.kibana_config {
        return Some(dir.clone());
    }
    if loc.sandbox {
        return None;
    }
    if let Some(dir) = std::env::var_os("KBN_PATH_CONF").map(PathBuf::from)
        && dir.join("kibana.yml").exists()
    {
        return Some(dir);
    }
    let etc = PathBuf::from("/etc/kibana");
    etc.join("kibana.yml").exists().then_some(etc)
}

fn detect_kibana(dir: &Path, ca: Option<&CaFacts>) -> anyhow::Result<KibanaFacts> {
    let yml_path = dir.join("kibana.yml");
    let yml_text = read_settings_file(&yml_path)?;
    let parsed = settings::parse(&yml_path.display().to_string(), &yml_text)?;
    let certs_dir = dir.join("certs");
    let copies = ca_copies(&certs_dir);
    Ok(KibanaFacts {
        config_dir: dir.to_path_buf(),
        yml_path,
        keystore: keystore_facts(&kibana_keystore_path(dir), true),
        certs_dir_exists: certs_dir.is_dir(),
        certs: existing_certs(
            &certs_dir,
            &[(files::KIBANA_CERT, files::KIBANA_KEY)],
            ca,
            copies.get(files::CA_CERT),
        ),
        ca_copies: copies,
        config_group: group_of(dir),
        yml_text,
        parsed,
        service_token: TokenCheck::Absent,
    })
}

/// The kibana.keystore Kibana reads: like Kibana's `getKeystore()`, the one in its data
/// directory (`<home>/data`, else `/var/lib/kibana`) when it exists, else the config dir's.
/// `/var/lib/kibana` is only looked at for a config dir under `/etc` (a package install).
fn kibana_keystore_path(config_dir: &Path) -> PathBuf {
    let mut data_dirs = Vec::new();
    if config_dir.file_name().is_some_and(|n| n == "config")
        && let Some(home) = config_dir.parent()
    {
        data_dirs.push(home.join("data"));
    }
    if config_dir.starts_with("/etc") {
        data_dirs.push(PathBuf::from("/usr/share/kibana/data"));
        data_dirs.push(PathBuf::from("/var/lib/kibana"));
    }
    data_dirs
        .into_iter()
        .find(|d| d.is_dir())
        .map(|d| d.join("kibana.keystore"))
        .filter(|k| k.exists())
        .unwrap_or_else(|| config_dir.join("kibana.keystore"))
}

fn keystore_facts(path: &Path, kibana: bool) -> KeystoreFacts {
    let exists = path.exists();
    let entries = if exists {
        crate::shell::inspect::keystore_entry_names(path, kibana)
    } else {
        Some(Vec::new())
    };
    // The header is readable without the password; it tells which ES release wrote it.
    let format = if exists && !kibana {
        crate::shell::inspect::es_keystore_format(path)
    } else {
        None
    };
    KeystoreFacts {
        path: path.to_path_buf(),
        exists,
        entries,
        format,
    }
}
