//! The sandbox: a scratch copy of a bundled sample install (Elasticsearch 8.19 archive layout
//! plus a Kibana config) so anyone can try the wizard on a machine without Elasticsearch.
//! It only ever writes inside its own directory, through `safe_fs` like every other write.

use std::path::PathBuf;

use anyhow::Context;

use crate::shell::safe_fs;

const ES_YML: &str = include_str!("../../assets/sandbox/elasticsearch.yml");
const KIBANA_YML: &str = include_str!("../../assets/sandbox/kibana.yml");
const SANDBOX_VERSION: &str = "8.19.21";

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
    write(config.join("elasticsearch.yml"), ES_YML.as_bytes())?;
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
    write(kibana.join("kibana.yml"), KIBANA_YML.as_bytes())?;
    Ok(root)
}
