//! Detection's look at the host around Elasticsearch, as [`HostFacts`] with preflight
//! findings: the service user (the flag, else the layout's, checked against a systemd unit's
//! `User=`), a known version, Elasticsearch processes running as root, and who owns and may
//! write the directories es-secure will write into. It only reads (the process table, users,
//! file metadata); it never changes anything.

use std::path::{Path, PathBuf};

use super::{Locate, kibana_dir};
use crate::domain::facts::{EsFacts, Finding, HostFacts, Layout, Severity};

/// Preflight findings about the host: the service user, root processes, ownership.
pub(super) fn host_facts(loc: &Locate, es: &EsFacts) -> HostFacts {
    use std::os::unix::fs::MetadataExt as _;
    let mut findings = Vec::new();
    let hostname = nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned());
    let running_as_root = nix::unistd::geteuid().is_root();
    let systemd = Path::new("/run/systemd/system").is_dir();

    // Archive installs have no package user: the owner of the config dir is the best guess.
    let owner_name = std::fs::metadata(&es.config_dir).ok().and_then(|m| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid()))
            .ok()
            .flatten()
            .map(|u| u.name)
    });
    let service_user = loc.es_user.clone().or(match es.layout {
        Layout::Package => Some("elasticsearch".to_string()),
        _ => owner_name.filter(|n| n != "root"),
    });
    let user = service_user
        .as_deref()
        .and_then(|u| nix::unistd::User::from_name(u).ok().flatten());
    let service_group = user.as_ref().and_then(|u| {
        nix::unistd::Group::from_gid(u.gid)
            .ok()
            .flatten()
            .map(|g| g.name)
    });
    if es.version.is_none() {
        // The keystore format and several settings depend on the version; guessing is how
        // a node ends up with a keystore it cannot read.
        findings.push(Finding {
            severity: Severity::Blocking,
            text: format!(
                "cannot tell the Elasticsearch version: no lib/elasticsearch-<version>.jar under {}",
                es.home
                    .as_deref()
                    .map_or_else(|| "(no home directory found)".to_string(), |h| h.display().to_string())
            ),
            fix: Some("pass --es-home DIR (the directory holding bin/ and lib/)".to_string()),
            override_flag: None,
        });
    }
    match (&service_user, &user) {
        (Some(name), None) if es.layout != Layout::Sandbox => findings.push(Finding {
            severity: Severity::Blocking,
            text: format!("the service user `{name}` does not exist"),
            fix: Some(format!(
                "useradd --system --no-create-home --shell /usr/sbin/nologin --user-group {name}"
            )),
            override_flag: None,
        }),
        (None, _) if es.layout != Layout::Sandbox => findings.push(Finding {
            severity: Severity::Overridable,
            text: "cannot tell which user Elasticsearch runs as (the config directory is owned by root)".to_string(),
            fix: Some("pass --es-user NAME (or set elasticsearch.service_user in the answers)".to_string()),
            override_flag: Some("--es-user".to_string()),
        }),
        _ => {}
    }
    if let Some(u) = &user
        && u.uid.is_root()
    {
        findings.push(Finding {
                severity: Severity::Blocking,
                text: "the Elasticsearch service user is root".to_string(),
                fix: Some("run Elasticsearch as a dedicated unprivileged user (the packages use `elasticsearch`)".to_string()),
                override_flag: None,
            });
    }
    for pid in root_es_processes(&loc.probe.proc_dir) {
        findings.push(Finding {
            severity: Severity::Blocking,
            text: format!("an Elasticsearch process (pid {pid}) is running as root"),
            fix: Some(
                "stop it and start Elasticsearch as its service user (never as root)".to_string(),
            ),
            override_flag: None,
        });
    }
    if let Some(unit_user) = systemd_unit_user(&loc.probe.systemd_dirs)
        && unit_user == "root"
    {
        findings.push(Finding {
                severity: Severity::Blocking,
                text: "the elasticsearch systemd unit sets User=root".to_string(),
                fix: Some("remove the User=root override (systemctl edit elasticsearch) so the unit runs as `elasticsearch`".to_string()),
                override_flag: None,
            });
    }
    if let Some(acct) = service_user
        .as_deref()
        .and_then(crate::shell::access::Account::lookup)
        && es.layout != Layout::Sandbox
    {
        findings.extend(ownership_findings(es, &acct, service_group.as_deref()));
        findings.extend(writable_dir_findings(
            es,
            kibana_dir(loc).as_deref(),
            &acct,
            service_group.as_deref(),
        ));
    }
    if !running_as_root && es.layout != Layout::Sandbox {
        let writable = nix::unistd::access(&es.yml_path, nix::unistd::AccessFlags::W_OK).is_ok();
        if !writable {
            findings.push(Finding {
                severity: Severity::Blocking,
                text: format!("{} is not writable by this user", es.yml_path.display()),
                fix: Some("run es-secure as root: sudo es-secure ...".to_string()),
                override_flag: None,
            });
        }
    }
    HostFacts {
        hostname,
        service_user,
        service_user_exists: user.is_some(),
        service_group,
        running_as_root,
        systemd,
        findings,
    }
}

/// Pids of Elasticsearch JVMs owned by root, from the process table (`proc_dir`).
fn root_es_processes(proc_dir: &Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let is_es = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == b"org.elasticsearch.bootstrap.Elasticsearch");
            let uid = std::fs::metadata(e.path()).ok()?.uid();
            (is_es && uid == 0).then_some(pid)
        })
        .collect()
}

/// `User=` of the elasticsearch systemd unit as systemd would resolve it: the unit file from
/// the highest-precedence directory that has one, then every drop-in in name order (later
/// ones win; an empty `User=` resets to the default, root).
fn systemd_unit_user(dirs: &[PathBuf]) -> Option<String> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .rev()
        .map(|d| d.join("elasticsearch.service"))
        .find(|f| f.is_file())
        .into_iter()
        .collect();
    let mut dropins: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d.join("elasticsearch.service.d")).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    dropins.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files.extend(dropins);
    let mut user = None;
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            for line in text.lines() {
                if let Some(u) = line.trim().strip_prefix("User=") {
                    let u = u.trim();
                    user = Some(if u.is_empty() { "root" } else { u }.to_string());
                }
            }
        }
    }
    user
}

/// The flag that overrides the ownership findings.
pub const IGNORE_OWNERSHIP: &str = "--ignore-ownership";

/// The data and logs directories this node uses: `path.data` / `path.logs`, else the
/// layout's defaults. Relative paths are relative to the home, as Elasticsearch reads them.
fn data_and_logs_dirs(es: &EsFacts) -> Vec<(&'static str, PathBuf)> {
    let home = es.home.clone().unwrap_or_else(|| es.config_dir.join(".."));
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { home.join(p) }
    };
    let mut out = Vec::new();
    for (key, package_default, archive_default) in [
        ("path.data", "/var/lib/elasticsearch", "data"),
        ("path.logs", "/var/log/elasticsearch", "logs"),
    ] {
        match es.parsed.settings.value(key) {
            Some(crate::domain::settings::SettingValue::List(items)) => {
                out.extend(items.iter().map(|i| (key, resolve(&i.as_plain()))));
            }
            Some(v) if !v.as_plain().is_empty() => out.push((key, resolve(&v.as_plain()))),
            _ if es.layout == Layout::Package => out.push((key, PathBuf::from(package_default))),
            _ => out.push((key, home.join(archive_default))),
        }
    }
    out
}

/// Directories es-secure writes into as root that the service account can write: it could
/// swap files or plant symlinks there between es-secure's steps. es-secure never follows
/// such a link (see `safe_fs`), but the directory should be locked down. On a package
/// install (where they are root's by default) apply refuses unless `--ignore-ownership`;
/// on an archive install, where the tarball gives the service user everything, it warns.
fn writable_dir_findings(
    es: &EsFacts,
    kibana: Option<&Path>,
    acct: &crate::shell::access::Account,
    group: Option<&str>,
) -> Vec<Finding> {
    use crate::shell::access::{Need, check};
    let mut dirs = vec![
        ("the Elasticsearch config directory", es.config_dir.clone()),
        (
            "the Elasticsearch certificates directory",
            es.config_dir.join("certs"),
        ),
    ];
    if let Some(k) = kibana {
        dirs.push(("the Kibana config directory", k.to_path_buf()));
    }
    let user = &acct.name;
    let g = group.unwrap_or(user);
    dirs.into_iter()
        .filter(|(_, d)| d.is_dir() && check(d, acct, Need::WriteDir).is_ok())
        .map(|(what, d)| {
            let package = es.layout == Layout::Package;
            Finding {
                severity: if package {
                    Severity::Overridable
                } else {
                    Severity::Warning
                },
                text: format!(
                    "the service user `{user}` can write {what} {}, which es-secure writes as root; a compromised service account could swap files or plant symlinks there (es-secure refuses to follow them)",
                    d.display()
                ),
                fix: Some(format!(
                    "chown root:{g} {d} && chmod 2750 {d}",
                    d = d.display()
                )),
                override_flag: package.then(|| IGNORE_OWNERSHIP.to_string()),
            }
        })
        .collect()
}

/// Can the service user read the config directory and write its data and logs directories?
/// Elasticsearch fails at start-up otherwise, after the restart — so say it before.
fn ownership_findings(
    es: &EsFacts,
    acct: &crate::shell::access::Account,
    group: Option<&str>,
) -> Vec<Finding> {
    use crate::shell::access::{Need, check};
    let mut dirs = vec![("the config directory", es.config_dir.clone(), Need::ReadDir)];
    dirs.extend(
        data_and_logs_dirs(es)
            .into_iter()
            .map(|(key, p)| (key, p, Need::WriteDir)),
    );
    let mut findings = Vec::new();
    for (what, dir, need) in dirs {
        // A missing data/logs directory is created by Elasticsearch on first start.
        let Err(Some(denied)) = check(&dir, acct, need) else {
            continue;
        };
        let user = &acct.name;
        let fix = match need {
            _ if denied.at != dir => format!("chmod o+x {}", denied.at.display()),
            Need::WriteDir => format!(
                "chown -R {user}:{g} {d}",
                g = group.unwrap_or(user),
                d = dir.display()
            ),
            _ => format!(
                "chgrp {g} {d} && chmod g+rx {d}",
                g = group.unwrap_or(user),
                d = dir.display()
            ),
        };
        findings.push(Finding {
            severity: Severity::Overridable,
            text: format!(
                "the service user `{user}` cannot {verb} {what} {d}: {denied}; Elasticsearch will not start",
                verb = if need == Need::WriteDir { "write" } else { "read" },
                d = dir.display(),
            ),
            fix: Some(fix),
            override_flag: Some(IGNORE_OWNERSHIP.to_string()),
        });
    }
    findings
}
