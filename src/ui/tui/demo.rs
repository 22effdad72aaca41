//! A sample install for screenshots and tests: facts of a three-node deb cluster with Kibana,
//! the answers the wizard would prefill, and a scripted apply. Used by
//! `examples/render_screens.rs` (the text screenshots in `assets/screens/`) and the screen
//! tests, so both show the same thing.
//!
//! Plain data built in code: it must not read the host (no detection, no files), so a
//! screenshot is the same on every machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};
use zeroize::Zeroizing;

use crate::domain::answers::{RawAnswers, RawKibana, RawNode};
use crate::domain::facts::{
    EsFacts, Facts, Finding, HostFacts, KeystoreFacts, KibanaFacts, Layout, Severity, StateFacts,
    Version,
};
use crate::domain::settings::{self, ParsedFile};
use crate::domain::tier::{self, Tier};
use crate::ui::{ApplyEvent, ApplySummary, RedactedSecret};

use super::model::{ApplyFailure, Command, Model, Msg};

/// The sample node's `elasticsearch.yml` (security never configured).
pub const ES_YML: &str =
    "# ======================== Elasticsearch Configuration =========================
cluster.name: prod-logs
node.name: node-1
path.data: /var/lib/elasticsearch
path.logs: /var/log/elasticsearch
network.host: 10.0.0.11
http.port: 9200
discovery.seed_hosts: [\"10.0.0.11\", \"10.0.0.12\", \"10.0.0.13\"]
cluster.initial_master_nodes: [\"node-1\", \"node-2\", \"node-3\"]
xpack.security.enabled: false
";

/// The sample `kibana.yml`.
pub const KIBANA_YML: &str = "server.port: 5601
server.host: \"0.0.0.0\"
elasticsearch.hosts: [\"http://10.0.0.11:9200\"]
";

fn parsed(file: &str, text: &str) -> ParsedFile {
    // The texts above are fixed and valid; an empty parse would only make the demo blander.
    settings::parse(file, text).unwrap_or_else(|_| ParsedFile {
        settings: settings::Settings::default(),
        autoconfig: None,
        managed: None,
    })
}

/// Facts of the sample host.
pub fn facts() -> Facts {
    let es_parsed = parsed("elasticsearch.yml", ES_YML);
    let tier = tier::detect(&es_parsed.settings, es_parsed.autoconfig.is_some());
    let kb_parsed = parsed("kibana.yml", KIBANA_YML);
    Facts {
        es: EsFacts {
            layout: Layout::Package,
            home: Some("/usr/share/elasticsearch".into()),
            config_dir: "/etc/elasticsearch".into(),
            version: Some(Version {
                major: 8,
                minor: 19,
                patch: 3,
            }),
            yml_path: "/etc/elasticsearch/elasticsearch.yml".into(),
            yml_text: ES_YML.to_string(),
            parsed: es_parsed,
            tier,
            keystore: KeystoreFacts {
                path: "/etc/elasticsearch/elasticsearch.keystore".into(),
                exists: true,
                entries: Some(vec!["keystore.seed".to_string()]),
                format: Some(7),
            },
            certs_dir_exists: false,
            certs: BTreeMap::new(),
            ca_copies: BTreeMap::new(),
            config_group: Some("elasticsearch".to_string()),
            autoconfig_files: Vec::new(),
            autoconfig_ca_fingerprint: None,
            cluster_formed: false,
        },
        kibana: Some(KibanaFacts {
            config_dir: "/etc/kibana".into(),
            yml_path: "/etc/kibana/kibana.yml".into(),
            yml_text: KIBANA_YML.to_string(),
            parsed: kb_parsed,
            keystore: KeystoreFacts {
                path: "/etc/kibana/kibana.keystore".into(),
                exists: false,
                entries: Some(Vec::new()),
                format: None,
            },
            certs_dir_exists: false,
            certs: BTreeMap::new(),
            ca_copies: BTreeMap::new(),
            config_group: Some("kibana".to_string()),
            service_token: crate::domain::facts::TokenCheck::Absent,
        }),
        ca: None,
        byo_ca: None,
        own_certs_installed: Default::default(),
        bundle: None,
        state: StateFacts {
            state_dir: "/var/lib/es-secure".into(),
            ..StateFacts::default()
        },
        host: HostFacts {
            hostname: Some("node-1.example.internal".to_string()),
            service_user: Some("elasticsearch".to_string()),
            service_user_exists: true,
            service_group: Some("elasticsearch".to_string()),
            running_as_root: true,
            systemd: true,
            findings: vec![
                Finding {
                    severity: Severity::Overridable,
                    text: "the cluster is yellow: 2 replica shards are unassigned".to_string(),
                    fix: Some("wait for green, or accept the risk".to_string()),
                    override_flag: Some("--allow-yellow".to_string()),
                },
                Finding {
                    severity: Severity::Warning,
                    text: "vm.max_map_count is 65530 (Elastic recommends 262144)".to_string(),
                    fix: Some("sysctl -w vm.max_map_count=262144".to_string()),
                    override_flag: None,
                },
            ],
        },
        now: 1_795_000_000,
    }
}

fn spanned(value: &str) -> Spanned<String> {
    Spanned::new(value.to_string(), Location::UNKNOWN, Location::UNKNOWN)
}

/// The answers the wizard starts from for the sample host (what detection would prefill, for
/// a three-node cluster at tier https).
pub fn answers() -> RawAnswers {
    let node = |n: u8| RawNode {
        name: spanned(&format!("node-{n}")),
        dns: vec![spanned(&format!("node-{n}.example.internal"))],
        ip: vec![std::net::IpAddr::from([10, 0, 0, 10 + n])],
    };
    RawAnswers {
        version: 1,
        tier: Tier::Https,
        nodes: vec![node(1), node(2), node(3)],
        this_node: Some("node-1".to_string()),
        kibana: Some(RawKibana {
            config_dir: "/etc/kibana".into(),
            public_url: Some("https://kibana.example.internal:5601".to_string()),
            ..RawKibana::default()
        }),
        ..RawAnswers::default()
    }
}

/// A scripted apply: the events a successful run of the first `steps` steps would send.
pub fn apply_events(steps: usize) -> Vec<ApplyEvent> {
    let mut v = Vec::new();
    for index in 0..steps {
        v.push(ApplyEvent::StepStarted {
            index,
            line: String::new(),
        });
        v.push(ApplyEvent::StepDone {
            index,
            elapsed: Duration::from_millis(120 + 70 * index as u64),
        });
    }
    v
}

/// The summary a successful apply of the sample would return.
pub fn summary() -> ApplySummary {
    let pw = |s: &str| RedactedSecret(Zeroizing::new(s.to_string()));
    ApplySummary {
        shown_passwords: vec![
            ("kibana_system".to_string(), pw("k7Qm2xVb9LpR4tZc8WnY3sHd")),
            ("elastic".to_string(), pw("Ep5vT9qXr2LmZ8cKw4NbY7sJ")),
        ],
        password_file: Some(PathBuf::from("/root/es-secure-passwords.txt")),
        ca_fingerprint: Some(
            "3F:9A:0C:71:5E:22:B4:8D:10:6F:AE:93:47:C2:58:E1:0B:7D:99:34:A6:5C:F0:12:8E:4B:71:D3:26:9F:C8:05"
                .to_string(),
        ),
        next_steps: vec![
            "copy /var/lib/es-secure/bundles/node-2.tar to node-2 and run `es-secure apply --bundle node-2.tar` there".to_string(),
            "copy /var/lib/es-secure/bundles/node-3.tar to node-3 and do the same".to_string(),
            "restart the nodes in this order: node-2, node-3 (full-cluster restart: TLS and plaintext nodes cannot talk)".to_string(),
            "restart Kibana: systemctl restart kibana".to_string(),
        ],
        verify_table: vec![
            ("https".to_string(), true, "TLS 1.3, certificate valid".to_string()),
            ("anonymous".to_string(), true, "401 as expected".to_string()),
            ("users".to_string(), true, "6 of 6 authenticate".to_string()),
        ],
        answers_saved: Some(PathBuf::from("/var/lib/es-secure/answers.yml")),
        transaction: Some("20261123-142501".to_string()),
        timing: None,
    }
}

/// A key press message.
pub fn key(code: crossterm::event::KeyCode) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::new(
        code,
        crossterm::event::KeyModifiers::NONE,
    ))
}

/// Typed text, one key message per character.
pub fn typed(text: &str) -> Vec<Msg> {
    text.chars()
        .map(|c| key(crossterm::event::KeyCode::Char(c)))
        .collect()
}

/// A fresh model for the sample host.
pub fn model() -> Model {
    Model::new(
        &facts(),
        &answers(),
        PathBuf::from("/var/lib/es-secure/answers.yml"),
    )
}

/// Feed a message and carry out a resulting plan request with the real (pure) planner on the
/// sample facts, as the run loop would. Other commands are returned for the caller to check.
pub fn send(model: &mut Model, msg: Msg) -> Command {
    let mut command = model.update(msg);
    loop {
        command = match command {
            Command::BuildPlan(answers) => {
                let plan = crate::domain::planner::build_plan(&facts(), &answers)
                    .map_err(|e| e.to_string());
                model.update(Msg::Planned(plan))
            }
            // The sample host has nothing to check: its answers name no files or variables.
            Command::CheckInputs(_) => model.update(Msg::Checked(Vec::new())),
            other => return other,
        };
    }
}

/// Feed several messages; returns the last command.
pub fn send_all(model: &mut Model, msgs: Vec<Msg>) -> Command {
    let mut last = Command::None;
    for m in msgs {
        last = send(model, m);
    }
    last
}

/// The model on each screen worth a screenshot, by file name, reached by real key presses.
pub fn screens() -> Vec<(&'static str, Model)> {
    use crossterm::event::KeyCode::{Char, Down, Enter};
    let enter = || key(Enter);
    let mut out = Vec::new();
    let at = |keys: Vec<Msg>| {
        let mut m = model();
        send_all(&mut m, keys);
        m
    };
    out.push(("01-welcome", at(vec![])));
    out.push(("02-tier", at(vec![enter()])));
    out.push(("03-nodes", at(vec![enter(), enter()])));
    let mut keys = vec![enter(), enter()];
    keys.extend((0..5).map(|_| key(Down)));
    keys.extend(typed(", 10.0.0.300"));
    keys.push(enter());
    out.push(("03-nodes-invalid-ip", at(keys)));
    out.push(("04-certificates", at(vec![enter(), enter(), enter()])));
    let mut keys = vec![enter(), enter(), enter(), key(Char(' ')), key(Char(' '))];
    keys.push(key(Down));
    keys.extend(typed("/root/our-ca/ca.crt"));
    keys.push(key(Down));
    keys.extend(typed("/root/our-ca/ca.key"));
    out.push(("04-certificates-own-ca", at(keys)));
    out.push(("05-kibana", at(vec![enter(), enter(), enter(), enter()])));
    out.push(("06-passwords", at((0..5).map(|_| enter()).collect())));
    let mut keys: Vec<Msg> = (0..5).map(|_| enter()).collect();
    keys.extend([key(Char(' ')), key(Char(' '))]);
    keys.extend(typed("env:KIBANA_PW"));
    keys.extend((0..5).map(|_| key(Down)));
    keys.push(key(Char(' ')));
    out.push(("06-passwords-own", at(keys)));
    // `ca: existing` without an earlier CA: the real planner refuses, and the review says so.
    let mut keys = vec![enter(), enter(), enter(), key(Char(' '))];
    keys.extend((0..4).map(|_| enter()));
    out.push(("07-review-refused", at(keys)));
    out.push(("06b-hardening", at((0..6).map(|_| enter()).collect())));
    // Every layer on: audit, an HTTP allow list (deny defaults to _all), TLS 1.3+1.2, Kibana
    // sessions with their defaults.
    let mut keys: Vec<Msg> = (0..6).map(|_| enter()).collect();
    keys.extend([
        key(Char(' ')),
        key(Down),
        key(Char(' ')),
        key(Down),
        key(Down),
    ]);
    keys.extend(typed("10.0.0.0/8, 127.0.0.1"));
    keys.extend([
        key(Down),
        key(Down),
        key(Char(' ')),
        key(Down),
        key(Char(' ')),
    ]);
    out.push(("06c-hardening-on", at(keys)));
    let review = || (0..7).map(|_| enter()).collect::<Vec<_>>();
    out.push(("07-review", at(review())));
    let mut keys = review();
    keys.push(key(Char(']')));
    out.push(("07-review-diff", at(keys)));
    let mut keys = review();
    keys.push(key(Char('s')));
    out.push(("07-review-save", at(keys)));
    let mut keys = review();
    keys.push(enter());
    out.push(("07-review-confirm-apply", at(keys)));
    let applying = || {
        let mut m = at(review());
        send(&mut m, key(Char('p')));
        send(&mut m, key(Char('y')));
        for e in apply_events(6) {
            send(&mut m, Msg::Apply(e));
        }
        send(&mut m, Msg::Tick(Duration::from_secs(3)));
        send(
            &mut m,
            Msg::Apply(ApplyEvent::StepStarted {
                index: 6,
                line: String::new(),
            }),
        );
        send(&mut m, Msg::Tick(Duration::from_millis(7400)));
        m
    };
    out.push(("08-apply", applying()));
    let mut m = applying();
    send(
        &mut m,
        Msg::Apply(ApplyEvent::StepFailed {
            index: 6,
            error: "permission denied creating /etc/kibana/certs".to_string(),
        }),
    );
    send(
        &mut m,
        Msg::Apply(ApplyEvent::RolledBack {
            report: "restored /etc/elasticsearch/elasticsearch.yml\nremoved /etc/elasticsearch/certs (created by this run)".to_string(),
        }),
    );
    send(
        &mut m,
        Msg::ApplyFinished(Err(ApplyFailure {
            message: "step 7 failed; every change was rolled back (transaction 20261123-142501)"
                .to_string(),
            unchanged: true,
        })),
    );
    out.push(("08-apply-failed", m));
    // The sample summary is that of a complete run (verification included), so every step,
    // the restart too, is done.
    let mut m = applying();
    let steps = m.apply.lines.len();
    for e in apply_events(steps) {
        send(&mut m, Msg::Apply(e));
    }
    send(&mut m, Msg::ApplyFinished(Ok(summary())));
    out.push(("09-done", m));
    out.push(("help-tier", at(vec![enter(), key(Char('?'))])));
    out.push(("quit-confirm", at(vec![key(Char('q'))])));
    out
}

/// Render a model on a `width`×`height` test terminal and return the screen as text (one
/// line per row, trailing spaces trimmed).
pub fn render_text(model: &Model, width: u16, height: u16) -> anyhow::Result<String> {
    let buffer = render_buffer(model, width, height)?;
    Ok(buffer_text(&buffer))
}

/// Render a model on a test terminal and return the buffer (cells with their styles).
pub fn render_buffer(
    model: &Model,
    width: u16,
    height: u16,
) -> anyhow::Result<ratatui::buffer::Buffer> {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .map_err(|e| anyhow::anyhow!("test terminal: {e}"))?;
    terminal
        .draw(|f| super::view(model, f))
        .map_err(|e| anyhow::anyhow!("drawing: {e}"))?;
    Ok(terminal.backend().buffer().clone())
}

/// A buffer as plain text.
pub fn buffer_text(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            if let Some(cell) = buffer.cell((x, y)) {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
