//! The sandbox: a scratch copy of a bundled sample install (Elasticsearch 8.19 archive layout
//! plus a Kibana config) so anyone can try the wizard on a machine without Elasticsearch.
//! It only ever writes inside its own directory.

use std::path::PathBuf;

use anyhow::Context;

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
    let root = dir();
    let es = root.join("elasticsearch");
    let config = es.join("config");
    if config.join("elasticsearch.yml").exists() {
        return Ok(root);
    }
    let kibana = root.join("kibana").join("config");
    for d in [&config, &es.join("lib"), &kibana] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // The state directory holds backups of secret-bearing files: private from the start
    // (the transaction layer refuses a state directory others can read).
    let state = root.join("state");
    if !state.exists() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&state)
            .with_context(|| format!("creating {}", state.display()))?;
    }
    std::fs::write(config.join("elasticsearch.yml"), ES_YML)
        .with_context(|| format!("writing the sandbox in {}", root.display()))?;
    // The version is read from the name of the server jar, as on a real install; the file
    // itself is empty.
    std::fs::write(
        es.join("lib")
            .join(format!("elasticsearch-{SANDBOX_VERSION}.jar")),
        b"",
    )
    .context("writing the sandbox")?;
    for f in ["users", "users_roles"] {
        std::fs::write(config.join(f), b"").context("writing the sandbox")?;
    }
    std::fs::write(kibana.join("kibana.yml"), KIBANA_YML).context("writing the sandbox")?;
    Ok(root)
}
