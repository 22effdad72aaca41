//! The whole wizard, end to end, on a real 80×24 pseudo-terminal: the real binary is walked
//! through every screen with real keystrokes on a scratch copy of the deb fixture install,
//! proceeds, and writes the files; then the answers file it saved is replayed with
//! `es-secure apply --answers` on a fresh copy of the fixture, which must give byte-identical
//! settings files (certificates differ by nature: their subjects and SANs must match).
//!
//! `restart: manual` is the default, so the apply stops after writing files and needs no
//! running Elasticsearch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::Session;

const COLS: usize = 80;
const ROWS: usize = 24;
/// Generous: the machine running the tests may be heavily shared.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The `elastic` password is an env reference; the apply reads it before writing anything.
const PW_ENV: &str = "ES_SECURE_TEST_WALK_ELASTIC_PW";

/// A minimal terminal screen: enough of VT100 to follow what ratatui's crossterm backend
/// writes (cursor moves, clears, text; attributes are ignored). Searching the raw bytes is
/// not enough: ratatui only redraws changed cells, so a title that shares letters with the
/// previous screen's arrives in pieces separated by cursor moves.
struct Screen {
    cells: Vec<Vec<char>>,
    row: usize,
    col: usize,
    /// Undecoded bytes (an escape sequence or UTF-8 character split across reads).
    pending: Vec<u8>,
    /// Everything printed, for text written after the alternate screen is left.
    raw: Vec<u8>,
}

impl Screen {
    fn new() -> Self {
        Self {
            cells: vec![vec![' '; COLS]; ROWS],
            row: 0,
            col: 0,
            pending: Vec::new(),
            raw: Vec::new(),
        }
    }

    fn text(&self) -> String {
        self.cells
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn clear(&mut self) {
        self.cells = vec![vec![' '; COLS]; ROWS];
    }

    fn put(&mut self, c: char) {
        match c {
            '\r' => self.col = 0,
            '\n' => {
                if self.row + 1 < ROWS {
                    self.row += 1;
                } else {
                    self.cells.remove(0);
                    self.cells.push(vec![' '; COLS]);
                }
            }
            c if (c as u32) < 0x20 => {}
            c => {
                if self.col >= COLS {
                    self.col = 0;
                    self.put('\n');
                }
                self.cells[self.row][self.col] = c;
                self.col += 1;
            }
        }
    }

    /// Apply a CSI sequence: `params` between `ESC [` and the final byte.
    fn csi(&mut self, params: &str, fin: char) {
        let nums: Vec<usize> = params
            .trim_start_matches('?')
            .split(';')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let n = |i: usize, d: usize| nums.get(i).copied().filter(|v| *v != 0).unwrap_or(d);
        match fin {
            'H' | 'f' => {
                self.row = (n(0, 1) - 1).min(ROWS - 1);
                self.col = (n(1, 1) - 1).min(COLS - 1);
            }
            'J' if nums.first() == Some(&2) || nums.first() == Some(&3) => self.clear(),
            'J' => {
                for c in self.col..COLS {
                    self.cells[self.row][c] = ' ';
                }
                for r in self.row + 1..ROWS {
                    self.cells[r] = vec![' '; COLS];
                }
            }
            'K' => {
                for c in self.col..COLS {
                    self.cells[self.row][c] = ' ';
                }
            }
            'A' => self.row = self.row.saturating_sub(n(0, 1)),
            'B' => self.row = (self.row + n(0, 1)).min(ROWS - 1),
            'C' => self.col = (self.col + n(0, 1)).min(COLS - 1),
            'D' => self.col = self.col.saturating_sub(n(0, 1)),
            'G' => self.col = (n(0, 1) - 1).min(COLS - 1),
            // Entering or leaving the alternate screen starts from a blank one.
            'h' | 'l' if params == "?1049" => self.clear(),
            _ => {}
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        self.pending.extend_from_slice(bytes);
        let buf = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < buf.len() {
            if buf[i] == 0x1b {
                let Some(&next) = buf.get(i + 1) else { break };
                if next == b'[' {
                    let Some(end) = buf[i + 2..].iter().position(|b| (0x40..=0x7e).contains(b))
                    else {
                        break;
                    };
                    let params = String::from_utf8_lossy(&buf[i + 2..i + 2 + end]).to_string();
                    self.csi(&params, char::from(buf[i + 2 + end]));
                    i += end + 3;
                } else {
                    // Two-byte escapes (ESC 7, ESC 8, ESC =, ...): nothing to draw.
                    i += 2;
                }
                continue;
            }
            let len = match buf[i] {
                b if b < 0x80 => 1,
                b if b >= 0xf0 => 4,
                b if b >= 0xe0 => 3,
                _ => 2,
            };
            if i + len > buf.len() {
                break;
            }
            for c in String::from_utf8_lossy(&buf[i..i + len]).chars() {
                self.put(c);
            }
            i += len;
        }
        self.pending = buf[i..].to_vec();
    }
}

/// The wizard on a pseudo-terminal plus the screen it draws.
struct Wizard {
    session: expectrl::session::OsSession,
    screen: Screen,
}

impl Wizard {
    fn spawn(cmd: Command) -> Self {
        let mut session = Session::spawn(cmd).unwrap();
        session.get_process_mut().set_window_size(80, 24).unwrap();
        Self {
            session,
            screen: Screen::new(),
        }
    }

    /// Read what is there without blocking; false at end of output.
    fn pump(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        match self.session.try_read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.screen.feed(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                true
            }
            // EIO: the child closed the terminal.
            Err(_) => false,
        }
    }

    /// Wait until `done` holds for the screen text; on timeout fail with the screen as it was.
    fn wait_until(&mut self, done: impl Fn(&str) -> bool, what: &str, step: &str) {
        let start = Instant::now();
        loop {
            if done(&self.screen.text()) {
                return;
            }
            let alive = self.pump();
            assert!(
                alive && start.elapsed() < TIMEOUT,
                "{step}: {what} did not happen within {TIMEOUT:?} (process {}). The screen:\n{}\n",
                if alive { "running" } else { "ended" },
                self.screen.text()
            );
        }
    }

    /// Wait until the screen shows `needle`.
    fn wait_for(&mut self, needle: &str, step: &str) {
        self.wait_until(|t| t.contains(needle), &format!("`{needle}`"), step);
    }

    /// Wait until the screen shows a line containing all of `parts`.
    fn wait_line(&mut self, parts: &[&str], step: &str) {
        self.wait_until(
            |t| t.lines().any(|l| parts.iter().all(|p| l.contains(p))),
            &format!("a line with {parts:?}"),
            step,
        );
    }

    fn send(&mut self, keys: &str) {
        use std::io::Write as _;
        self.session.write_all(keys.as_bytes()).unwrap();
        self.session.flush().unwrap();
    }

    /// Read to the end of the output and return the exit code.
    fn finish(mut self) -> (i32, String) {
        let start = Instant::now();
        while self.pump() {
            assert!(
                start.elapsed() < TIMEOUT,
                "the wizard did not exit. The screen:\n{}",
                self.screen.text()
            );
        }
        let mut rest = Vec::new();
        let _ = self.session.read_to_end(&mut rest);
        self.screen.feed(&rest);
        // ptyprocess's WaitStatus comes from its own nix version, not nameable here; its
        // Debug form is `Exited(Pid(N), CODE)`.
        let status = format!("{:?}", self.session.get_process().wait().unwrap());
        let code = status
            .strip_prefix("Exited(")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.rsplit(", ").next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("the wizard did not exit normally: {status}"));
        (code, String::from_utf8_lossy(&self.screen.raw).to_string())
    }
}

const DOWN: &str = "\x1b[B";
const PAGE_DOWN: &str = "\x1b[6~";
const CTRL_U: &str = "\x15";
const ENTER: &str = "\r";

/// The scratch install: `dir/install/{elasticsearch,kibana,home,state}`.
fn fixture(dir: &Path) -> PathBuf {
    let install = dir.join("install");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/installs/deb");
    for (sub, file) in [
        ("elasticsearch", "elasticsearch.yml"),
        ("kibana", "kibana.yml"),
    ] {
        std::fs::create_dir_all(install.join(sub)).unwrap();
        std::fs::copy(src.join(sub).join(file), install.join(sub).join(file)).unwrap();
    }
    // A single node on the address the walk pins it to: the wizard configures one node, and
    // a config naming two more in discovery.seed_hosts / cluster.initial_master_nodes, or
    // binding an address the certificates do not name, would (rightly) be refused.
    let yml = install.join("elasticsearch/elasticsearch.yml");
    let single: String = std::fs::read_to_string(&yml)
        .unwrap()
        .replace("network.host: 10.0.0.11", "network.host: 127.0.0.1")
        .lines()
        .filter(|l| {
            !l.starts_with("discovery.seed_hosts") && !l.starts_with("cluster.initial_master_nodes")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&yml, single).unwrap();
    std::fs::create_dir_all(install.join("home/lib")).unwrap();
    std::fs::write(install.join("home/lib/elasticsearch-8.19.21.jar"), b"").unwrap();
    std::fs::create_dir(install.join("state")).unwrap();
    std::fs::set_permissions(
        install.join("state"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    install
}

fn args(install: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = Vec::new();
    for (flag, sub) in [
        ("--es-home", "home"),
        ("--es-config", "elasticsearch"),
        ("--kibana-config", "kibana"),
        ("--state-dir", "state"),
    ] {
        v.push(flag.into());
        v.push(install.join(sub).into());
    }
    v.extend(["--es-user".into(), "nobody".into()]);
    v
}

fn command(install: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_es-secure"));
    cmd.args(args(install))
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env("LINES", "24")
        .env(PW_ENV, "correct-horse-battery-staple-42");
    cmd
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every file and directory under `root` (relative path -> mode).
fn tree(root: &Path) -> BTreeMap<PathBuf, u32> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf(), mode(&p));
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
        std::fs::set_permissions(&dest, std::fs::metadata(&p).unwrap().permissions()).unwrap();
    }
}

/// A certificate's subject, issuer subject and SANs as openssl prints them.
fn cert_identity(p: &Path) -> String {
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-issuer",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(p)
        .output()
        .expect("openssl is needed to compare certificates");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Answer every question screen, from Welcome to Hardening, where `hardening` chooses; the
/// wizard is left on its way to Review.
fn answer_screens(w: &mut Wizard, hardening: fn(&mut Wizard)) {
    w.wait_for("Detected installation", "Welcome");
    w.wait_for("Current tier: none", "Welcome");
    w.send(ENTER);

    // Tier: minimal is preselected (the tier above none); two Downs choose https.
    w.wait_for("Security tier", "Tier");
    w.send(DOWN);
    w.wait_line(&["(•) basic"], "Tier: basic chosen");
    w.send(DOWN);
    w.wait_line(&["(•) https"], "Tier: https chosen");
    w.send(ENTER);

    // Nodes: prefilled from detection (node-1; this host's name and network.host). The test
    // pins the node to localhost/127.0.0.1 so the certificates do not depend on the host name.
    w.wait_for("Cluster nodes", "Nodes");
    w.wait_line(&["★", "node-1"], "Nodes: prefilled node");
    w.send(DOWN); // node.name
    w.send(DOWN); // DNS names
    w.wait_line(&["›", "DNS names"], "Nodes: DNS field focused");
    w.send(CTRL_U);
    w.send("localhost");
    w.wait_line(&["DNS names", "localhost_"], "Nodes: DNS typed");
    w.send(DOWN);
    w.wait_line(&["›", "IP addresses"], "Nodes: IP field focused");
    w.send(CTRL_U);
    w.send("127.0.0.1");
    w.wait_line(&["IP addresses", "127.0.0.1_"], "Nodes: IP typed");
    w.wait_line(
        &["★", "node-1", "localhost", "127.0.0.1"],
        "Nodes: row updated",
    );
    w.send(ENTER);

    // Certificates: the defaults (new CA, ecdsa-p256, 1095 days).
    w.wait_for("Certificates", "Certificates");
    w.wait_line(&["CA", "new CA"], "Certificates: defaults");
    w.send(ENTER);

    // Kibana: detected; give the public URL.
    w.wait_for("Kibana was detected in", "Kibana");
    w.send(DOWN);
    w.send(DOWN);
    w.wait_line(&["›", "Public URL"], "Kibana: URL focused");
    w.send("https://localhost:5601");
    w.wait_line(
        &["Public URL", "https://localhost:5601_"],
        "Kibana: URL typed",
    );
    w.send(ENTER);

    // Passwords: generate all but elastic, which comes from an environment variable.
    w.wait_for("Built-in user passwords", "Passwords");
    for _ in 0..5 {
        w.send(DOWN);
    }
    w.wait_line(&["›", "elastic", "generate"], "Passwords: elastic focused");
    w.send(" "); // keep
    w.wait_line(&["›", "elastic", "keep"], "Passwords: keep");
    w.send(" "); // your own
    w.send(&format!("env:{PW_ENV}"));
    w.wait_line(
        &["elastic", &format!("env:{PW_ENV}_")],
        "Passwords: reference typed",
    );
    w.send(ENTER);

    // Hardening (optional): the walk's own choice, then on to Review.
    w.wait_for("Hardening (optional)", "Hardening");
    w.wait_line(
        &["›", "Audit logging", "off (leave as is)"],
        "Hardening: defaults",
    );
    hardening(w);
    w.send(ENTER);
}

/// Walk the wizard. Returns the wizard's exit code and everything it printed.
fn walk(install: &Path, answers: &Path) -> (i32, String) {
    let mut w = Wizard::spawn(command(install));
    // TLS versions (no license needed, so the apply and the replay both run): two Downs
    // reach the choice, Space picks TLSv1.3 and TLSv1.2.
    answer_screens(&mut w, |w| {
        w.send(DOWN);
        w.send(DOWN);
        w.wait_line(
            &["›", "TLS versions", "leave as is"],
            "Hardening: TLS focused",
        );
        w.send(" ");
        w.wait_line(
            &["TLS versions", "TLSv1.3, TLSv1.2"],
            "Hardening: TLS chosen",
        );
    });

    // Review: the plan, scrolled a bit and through the diffs.
    w.wait_for("Review the plan", "Review");
    w.wait_for("Plan: tier none -> https", "Review: plan built");
    w.wait_line(&["[ Proceed ]", "diff 1/2 · 1-"], "Review: first page");
    w.send(PAGE_DOWN);
    w.wait_until(
        |t| t.contains("[ Proceed ]") && !t.contains("· 1-") && !t.contains("Plan: tier none"),
        "scrolling down a page",
        "Review: scrolled",
    );
    w.send("]");
    w.wait_for("+++ b", "Review: first diff");
    w.wait_for(
        "xpack.security.enabled: true",
        "Review: elasticsearch.yml diff",
    );
    w.send("]");
    w.wait_line(&["diff 2/2"], "Review: second diff");

    // Save answers to a path outside the install.
    w.send("s");
    w.wait_for("Write the answers", "Save prompt");
    w.send(CTRL_U);
    w.send(&answers.display().to_string());
    w.wait_for(
        &format!("{}_", answers.display()),
        "Save prompt: path typed",
    );
    w.send(ENTER);
    w.wait_for("answers saved to", "Save: confirmed");

    // Proceed asks first; y applies.
    w.send("p");
    w.wait_for("Apply the ", "Proceed: confirmation");
    w.send("y");
    w.wait_for("Done", "Apply");
    w.wait_for(
        "The files are written. Restart Elasticsearch to finish",
        "Done",
    );
    w.wait_for("Restart Elasticsearch now", "Done: restart pending");
    // The restart step arrives as a live notice and in the summary; it is listed once.
    let done = w.screen.text();
    assert_eq!(
        done.matches("Restart Elasticsearch now").count(),
        1,
        "{done}"
    );
    w.send(PAGE_DOWN);
    w.wait_for("Answers saved to", "Done: the saved answers file is named");
    w.send(ENTER);
    w.finish()
}

#[test]
fn wizard_walkthrough_then_replay_of_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    // Searchable by the service user, like /etc: es-secure checks it can read what it writes.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let install = fixture(dir.path());
    // The replay must run at the same paths (kibana.config_dir in the answers and the
    // certificate paths in kibana.yml are absolute), so a pristine copy is kept to restore
    // the install directory from after the wizard's results are moved aside.
    let pristine = dir.path().join("pristine");
    copy_tree(&install, &pristine);
    let answers = dir.path().join("saved-answers.yml");

    let (code, output) = walk(&install, &answers);
    assert!(
        output.contains("restart Elasticsearch") || output.contains("Restart Elasticsearch"),
        "{output}"
    );
    // Like `apply`: files written, restart pending.
    assert_eq!(code, 7, "wizard exit code; output:\n{output}");
    // The command that finishes names the answers the wizard recorded for this apply.
    assert!(
        output.contains(&format!(
            "es-secure apply --answers {}",
            install.join("state/wizard-answers.yml").display()
        )),
        "{output}"
    );

    // The files written.
    let es = install.join("elasticsearch");
    let es_yml = std::fs::read_to_string(es.join("elasticsearch.yml")).unwrap();
    let (_, managed) = es_yml
        .split_once("BEGIN es-secure managed settings")
        .expect("managed block");
    assert!(
        managed.contains("xpack.security.http.ssl.enabled: true"),
        "{es_yml}"
    );
    assert!(es_yml.contains("xpack.security.enabled: true"), "{es_yml}");
    // The Hardening screen's TLS versions, for both layers.
    for layer in ["transport", "http"] {
        assert!(
            managed.contains(&format!(
                "xpack.security.{layer}.ssl.supported_protocols: [\"TLSv1.3\", \"TLSv1.2\"]"
            )) || managed.contains(&format!(
                "xpack.security.{layer}.ssl.supported_protocols: [TLSv1.3, TLSv1.2]"
            )),
            "{es_yml}"
        );
    }
    // The operator's comments are kept.
    for kept in [
        "# ======================== Elasticsearch Configuration",
        "network.host: 127.0.0.1   # the cluster network",
        "# ---------------------------------- Security",
    ] {
        assert!(es_yml.contains(kept), "lost `{kept}`:\n{es_yml}");
    }
    assert_eq!(mode(&es.join("certs")), 0o750);
    // Package conventions: every file in certs/ is for root and the service group only.
    for f in [
        "ca.crt",
        "transport.crt",
        "transport.key",
        "http.crt",
        "http.key",
    ] {
        assert_eq!(mode(&es.join("certs").join(f)), 0o640, "{f}");
    }
    let kibana_yml = std::fs::read_to_string(install.join("kibana/kibana.yml")).unwrap();
    assert!(
        kibana_yml.contains(r#"elasticsearch.hosts: ["https://"#),
        "{kibana_yml}"
    );
    assert!(
        kibana_yml.contains("elasticsearch.username: kibana_system"),
        "{kibana_yml}"
    );
    assert!(
        kibana_yml.contains(r#"server.publicBaseUrl: "https://localhost:5601""#),
        "{kibana_yml}"
    );

    // The saved answers: mode 0600 (`save_answers`), no secrets, and they parse.
    assert_eq!(mode(&answers), 0o600);
    let text = std::fs::read_to_string(&answers).unwrap();
    assert!(!text.contains("correct-horse"), "{text}");
    assert!(text.contains(&format!("elastic: env:{PW_ENV}")), "{text}");
    assert!(text.contains("tls_protocols:"), "{text}");
    let raw = es_secure::domain::answers::parse_raw(&text).unwrap();
    let typed = es_secure::domain::answers::Answers::from_raw(&raw).unwrap();
    assert_eq!(typed.tier, es_secure::domain::tier::Tier::Https);
    assert!(
        text.lines()
            .filter(|l| {
                let l = l.trim_start();
                [
                    "kibana_system:",
                    "logstash_system:",
                    "beats_system:",
                    "apm_system:",
                ]
                .iter()
                .chain(&["remote_monitoring_user:", "elastic:"])
                .any(|u| l.starts_with(u))
            })
            .all(|l| {
                let v = l.split_once(':').unwrap().1.trim();
                v == "generate" || v == "keep" || v.starts_with("env:") || v.starts_with("file:")
            }),
        "{text}"
    );

    // Replay on a fresh copy at the same paths.
    let tui_result = dir.path().join("tui-result");
    std::fs::rename(&install, &tui_result).unwrap();
    copy_tree(&pristine, &install);
    let out = support::run::output(
        command(&install)
            .args(["apply", "--yes", "--answers"])
            .arg(&answers),
    );
    // restart: manual: the files are written, then "restart pending".
    assert_eq!(
        out.status.code(),
        Some(7),
        "replay: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    for sub in ["elasticsearch", "kibana"] {
        let (a, b) = (tree(&tui_result.join(sub)), tree(&install.join(sub)));
        assert_eq!(
            a, b,
            "{sub}: files and modes differ between the wizard and the replay"
        );
    }
    for yml in ["elasticsearch/elasticsearch.yml", "kibana/kibana.yml"] {
        let (a, b) = (
            std::fs::read_to_string(tui_result.join(yml)).unwrap(),
            std::fs::read_to_string(install.join(yml)).unwrap(),
        );
        assert_eq!(a, b, "{yml} differs between the wizard and the replay");
    }
    for cert in [
        "elasticsearch/certs/ca.crt",
        "elasticsearch/certs/transport.crt",
        "elasticsearch/certs/http.crt",
        "kibana/certs/ca.crt",
        "kibana/certs/kibana-server.crt",
    ] {
        assert_eq!(
            cert_identity(&tui_result.join(cert)),
            cert_identity(&install.join(cert)),
            "{cert}"
        );
    }
}

/// Audit logging turned on in the wizard: the Review's diff writes it, the saved answers are
/// what an answers file with `hardening: {audit: {}}` holds (the plan of each is the same),
/// and, with no node to read the license from, the apply of those answers is refused before
/// anything is written.
#[test]
fn wizard_audit_reaches_the_plan_and_the_license_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let install = fixture(dir.path());
    let answers = dir.path().join("audit-answers.yml");
    let mut w = Wizard::spawn(command(&install));
    answer_screens(&mut w, |w| {
        w.send(" ");
        w.wait_line(&["›", "Audit logging", "on"], "Hardening: audit on");
        w.wait_for("authentication_failed", "Hardening: the events recorded");
        w.wait_for("Gold license", "Hardening: the license note");
    });
    w.wait_for("Plan: tier none -> https", "Review: plan built");
    w.send("]");
    w.wait_for("+++ b", "Review: first diff");
    let mut seen = false;
    for _ in 0..12 {
        if w.screen
            .text()
            .contains("+xpack.security.audit.enabled: true")
        {
            seen = true;
            break;
        }
        w.send(PAGE_DOWN);
        std::thread::sleep(Duration::from_millis(300));
        w.pump();
    }
    assert!(seen, "no audit setting in the diff:\n{}", w.screen.text());
    w.send("s");
    w.wait_for("Write the answers", "Save prompt");
    w.send(CTRL_U);
    w.send(&answers.display().to_string());
    w.wait_for(
        &format!("{}_", answers.display()),
        "Save prompt: path typed",
    );
    w.send(ENTER);
    w.wait_for("answers saved to", "Save: confirmed");
    w.send("q");
    w.wait_for("Quit es-secure now?", "Quit");
    w.send("y");
    let (code, output) = w.finish();
    assert_eq!(code, 3, "cancelled; output:\n{output}");

    // The saved answers' hardening is the answers file's `audit: {}`, and so is the plan.
    let text = std::fs::read_to_string(&answers).unwrap();
    let raw = es_secure::domain::answers::parse_raw(&text).unwrap();
    let (head, _) = text.split_once("hardening:").expect("a hardening section");
    let by_hand = dir.path().join("by-hand.yml");
    std::fs::write(&by_hand, format!("{head}hardening:\n  audit: {{}}\n")).unwrap();
    let typed = |r| es_secure::domain::answers::Answers::from_raw(r).unwrap();
    let hand =
        es_secure::domain::answers::parse_raw(&std::fs::read_to_string(&by_hand).unwrap()).unwrap();
    assert_eq!(typed(&raw), typed(&hand), "{text}");
    let plan = |a: &Path| {
        let out = support::run::output(command(&install).args(["plan", "--answers"]).arg(a));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let from_wizard = plan(&answers);
    assert!(
        from_wizard.contains("+xpack.security.audit.enabled: true"),
        "{from_wizard}"
    );
    assert!(from_wizard.contains("Audit logging: "), "{from_wizard}");
    assert_eq!(from_wizard, plan(&by_hand));

    // No node answers GET _license: the Gold feature is refused, nothing is written.
    let yml = install.join("elasticsearch/elasticsearch.yml");
    let before = std::fs::read(&yml).unwrap();
    let out = support::run::output(
        command(&install)
            .args(["apply", "--yes", "--answers"])
            .arg(&answers),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_ne!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("need a Gold or higher license"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(before, std::fs::read(&yml).unwrap());
}
