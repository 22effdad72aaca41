//! A scratch copy of the deb-style fixture install for binary tests: `elasticsearch/` and
//! `kibana/` config dirs from `tests/fixtures/installs/deb`, an ES home whose
//! `lib/elasticsearch-8.19.21.jar` (empty) gives the version, and a private (0700) `state/`. The
//! top directory is 0755, as a real install's parents are.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Lay the fixture out in a fresh temp dir and return it.
pub fn deb_install() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // Searchable by the service user, like /etc: es-secure checks that the service user can
    // read every file it writes, along the whole path.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/installs/deb");
    for (sub, file) in [
        ("elasticsearch", "elasticsearch.yml"),
        ("kibana", "kibana.yml"),
    ] {
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(src.join(sub).join(file), to.join(file)).unwrap();
    }
    let lib = dir.path().join("home/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("elasticsearch-8.19.21.jar"), b"").unwrap();
    // es-secure refuses a state directory others can read.
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// `es-secure` pointed at a scratch install in `dir` (`home/`, `elasticsearch/`, `state/`),
/// with no colours and the service user left to the answers or detection.
pub fn es_secure_at(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_es-secure"));
    cmd.arg("--es-home")
        .arg(dir.join("home"))
        .arg("--es-config")
        .arg(dir.join("elasticsearch"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("NO_COLOR", "1");
    cmd
}

/// [`es_secure_at`] with `user` as the Elasticsearch service user.
pub fn es_secure(dir: &Path, user: &str) -> std::process::Command {
    let mut cmd = es_secure_at(dir);
    cmd.args(["--es-user", user]);
    cmd
}
