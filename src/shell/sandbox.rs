//! The sandbox: a scratch copy of a bundled sample install (Elasticsearch 8.19 archive layout
//! plus a Kibana config) so anyone can try the wizard on a machine without Elasticsearch.
//! It only ever writes inside its own directory, through `safe_fs` like every other write,
//! and it must never talk to a node that is not its own: its HTTP port is one nothing else
//! listened on when the sandbox was made, and [`refuse_foreign`] keeps every REST call on
//! that port of the loopback interface.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::shell::safe_fs;

const ES_YML: &str = include_str!("../../assets/sandbox/elasticsearch.yml");
const KIBANA_YML: &str = include_str!("../../assets/sandbox/kibana.yml");
const SANDBOX_VERSION: &str = "8.19.21";
/// Where the sample files say the sandbox's own HTTP port goes.
const PORT_MARK: &str = "@SANDBOX_PORT@";
/// The port a real node listens on by default: the sandbox never uses it.
const REAL_DEFAULT_PORT: u16 = 9200;

/// The sandbox directory: `$ES_SECURE_SANDBOX`, else `<data dir>/es-secure/sandbox`
/// (`~/.local/share/es-secure/sandbox` on Linux).
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ES_SECURE_SANDBOX") {
        return PathBuf::from(d);
    }
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("es-secure")
        .join("sandbox")
}

/// A loopback port nothing listens on now: the kernel hands out a free ephemeral one (far
/// from 9200-9300, where real nodes listen).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("finding a free port for the sandbox")?;
    let port = listener
        .local_addr()
        .context("finding a free port for the sandbox")?
        .port();
    Ok(port)
}

/// Create the sandbox if it does not exist yet; returns its directory.
pub fn ensure() -> anyhow::Result<PathBuf> {
    // The file-system layer works on absolute paths ($ES_SECURE_SANDBOX may be relative).
    let root = std::path::absolute(dir()).context("locating the sandbox directory")?;
    let es = root.join("elasticsearch");
    let config = es.join("config");
    if config.join("elasticsearch.yml").exists() {
        return Ok(root);
    }
    let kibana = root.join("kibana").join("config");
    for d in [&config, &es.join("lib"), &kibana] {
        safe_fs::create_dir_all(d, 0o755, None)
            .with_context(|| format!("creating {}", d.display()))?;
    }
    // The state directory holds backups of secret-bearing files: private from the start
    // (the transaction layer refuses a state directory others can read).
    safe_fs::create_dir_all(&root.join("state"), 0o700, None)?;
    let write = |path: PathBuf, bytes: &[u8]| {
        safe_fs::resolve(&path)
            .and_then(|t| t.write(bytes, 0o644, None))
            .with_context(|| format!("writing the sandbox in {}", root.display()))
    };
    let port = free_port()?.to_string();
    write(
        config.join("elasticsearch.yml"),
        ES_YML.replace(PORT_MARK, &port).as_bytes(),
    )?;
    // The version is read from the name of the server jar, as on a real install; the file
    // itself is empty.
    write(
        es.join("lib")
            .join(format!("elasticsearch-{SANDBOX_VERSION}.jar")),
        b"",
    )?;
    for f in ["users", "users_roles"] {
        write(config.join(f), b"")?;
    }
    write(
        kibana.join("kibana.yml"),
        KIBANA_YML.replace(PORT_MARK, &port).as_bytes(),
    )?;
    Ok(root)
}

/// [`refuse_foreign`] for the install in `facts`: nothing to refuse outside the sandbox;
/// in it, the sandbox's own port (its `elasticsearch.yml`) and root (two levels above its
/// config dir). One place for apply's guard and `status`'s license read.
pub fn refuse_foreign_for(facts: &crate::domain::facts::Facts, url: &str) -> anyhow::Result<()> {
    if facts.es.layout != crate::domain::facts::Layout::Sandbox {
        return Ok(());
    }
    let own_port = facts
        .es
        .parsed
        .settings
        .value("http.port")
        .and_then(|v| v.as_plain().parse::<u16>().ok());
    let root = facts
        .es
        .config_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&facts.es.config_dir);
    refuse_foreign(url, own_port, root)
}

/// Refuse a REST URL that could reach a node other than the sandbox's own: it must be the
/// loopback interface on the port the sandbox's `elasticsearch.yml` names, and that port must
/// not be 9200 (a sandbox made by an older es-secure used it, and a real node may be there).
pub fn refuse_foreign(url: &str, own_port: Option<u16>, root: &Path) -> anyhow::Result<()> {
    let help = format!(
        "help: the sandbox only talks to its own node on 127.0.0.1; delete {} to make a fresh one on a free port, and leave `elasticsearch.url` out of the answers",
        root.display()
    );
    let parsed = reqwest::Url::parse(url)
        .with_context(|| format!("the sandbox refuses to contact {url}: not a URL\n{help}"))?;
    let loopback = parsed.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    let port = parsed.port_or_known_default();
    match own_port {
        Some(own) if loopback && port == Some(own) && own != REAL_DEFAULT_PORT => Ok(()),
        Some(own) => anyhow::bail!(
            "the sandbox refuses to contact {url}: its own node is 127.0.0.1:{own}{}\n{help}",
            if own == REAL_DEFAULT_PORT {
                ", the port a real node uses"
            } else {
                ""
            }
        ),
        None => anyhow::bail!(
            "the sandbox refuses to contact {url}: its elasticsearch.yml names no http.port\n{help}"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_sandbox_port_on_loopback_is_allowed() {
        let root = Path::new("/tmp/sb");
        assert!(refuse_foreign("http://localhost:45123", Some(45123), root).is_ok());
        assert!(refuse_foreign("https://127.0.0.1:45123/", Some(45123), root).is_ok());
        assert!(refuse_foreign("http://localhost:9200", Some(45123), root).is_err());
        assert!(refuse_foreign("http://10.1.2.3:45123", Some(45123), root).is_err());
        assert!(refuse_foreign("http://localhost:9200", Some(9200), root).is_err());
        assert!(refuse_foreign("http://localhost:45123", None, root).is_err());
    }

    #[test]
    fn the_sample_files_get_one_port() {
        assert!(ES_YML.contains(PORT_MARK) && KIBANA_YML.contains(PORT_MARK));
        assert!(!ES_YML.contains("http.port: 9200"));
    }
}
