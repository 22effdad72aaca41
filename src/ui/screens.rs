//! What the wizard's screens are and what they show, shared by both frontends (the TUI and
//! the plain prompts): the screen list, which answer keys each screen owns, the Welcome
//! screen's lines from the facts, and the errors a screen must show before moving on.
//!
//! Pure: no terminal, no files. It must not hold TUI state (focus, scroll, overlays): that is
//! `tui::model`'s job.

use crate::domain::answers::AnswerError;
use crate::domain::facts::{Facts, Layout, Severity};
use crate::domain::tier::Tier;
use crate::ui::form::{Form, PwMode};

/// The wizard's screens, in order.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Screen {
    Welcome,
    Tier,
    Nodes,
    Certs,
    Kibana,
    Passwords,
    Hardening,
    Review,
    Apply,
    Done,
}

impl Screen {
    pub const ALL: [Self; 10] = [
        Self::Welcome,
        Self::Tier,
        Self::Nodes,
        Self::Certs,
        Self::Kibana,
        Self::Passwords,
        Self::Hardening,
        Self::Review,
        Self::Apply,
        Self::Done,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::Welcome => "Detected installation",
            Self::Tier => "Security tier",
            Self::Nodes => "Cluster nodes",
            Self::Certs => "Certificates",
            Self::Kibana => "Kibana",
            Self::Passwords => "Built-in user passwords",
            Self::Hardening => "Hardening (optional)",
            Self::Review => "Review the plan",
            Self::Apply => "Applying",
            Self::Done => "Done",
        }
    }

    /// Short name for the breadcrumb line.
    pub fn short(self) -> &'static str {
        match self {
            Self::Welcome => "Welcome",
            Self::Tier => "Tier",
            Self::Nodes => "Nodes",
            Self::Certs => "Certs",
            Self::Kibana => "Kibana",
            Self::Passwords => "Passwords",
            Self::Hardening => "Hardening",
            Self::Review => "Review",
            Self::Apply => "Apply",
            Self::Done => "Done",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The answer keys whose errors this screen shows (prefixes of [`AnswerError::key`]).
    pub fn owns(self, key: &str) -> bool {
        let prefixes: &[&str] = match self {
            Self::Tier => &["tier", "version", "elasticsearch"],
            Self::Nodes => &["nodes", "this_node"],
            Self::Certs => &["certificates"],
            Self::Kibana => &["kibana"],
            Self::Passwords => &["passwords", "auth"],
            Self::Hardening => &["hardening"],
            _ => &[],
        };
        prefixes.iter().any(|p| key.starts_with(p))
    }
}

/// How a line of the detection summary is shown.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum InfoKind {
    Heading,
    Normal,
    Dim,
    Blocking,
    Overridable,
    Warning,
    Info,
}

/// One line of the Welcome screen, computed once from the facts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InfoLine {
    pub kind: InfoKind,
    pub text: String,
}

/// The problems with a form's answers that `screen` asks about (shared with plain mode).
pub fn screen_errors(form: &Form, screen: Screen) -> Vec<AnswerError> {
    match form.validate() {
        Ok(_) => Vec::new(),
        Err(errs) => errs.into_iter().filter(|e| screen.owns(&e.key)).collect(),
    }
}

/// One line saying what detection found about this node, so the operator can check the
/// prefilled Nodes screen against it.
pub fn detected_node(facts: &Facts) -> String {
    let s = &facts.es.parsed.settings;
    let mut parts = Vec::new();
    for key in ["node.name", "network.host"] {
        if let Some(v) = s.value(key) {
            parts.push(format!("{key} {}", v.as_plain()));
        }
    }
    if let Some(h) = &facts.host.hostname {
        parts.push(format!("hostname {h}"));
    }
    if parts.is_empty() {
        "Detected: nothing about this node (no node.name, network.host or hostname)".to_string()
    } else {
        format!("Detected: {}", parts.join(" · "))
    }
}

/// The Welcome screen's lines.
pub fn welcome_lines(facts: &Facts) -> Vec<InfoLine> {
    let mut v = Vec::new();
    let mut push = |kind, text: String| v.push(InfoLine { kind, text });
    let es = &facts.es;
    let layout = match es.layout {
        Layout::Package => "deb/rpm package",
        Layout::Archive => "tar.gz archive",
        Layout::Explicit => "paths given on the command line",
        Layout::Sandbox => "sandbox copy of a sample install; nothing real is changed",
    };
    if es.layout == Layout::Sandbox {
        // Said first and loudly: the operator must never mistake the try-out for the real
        // install (the explanation printed before the full screen is hidden by it).
        let root = es
            .config_dir
            .parent()
            .and_then(std::path::Path::parent)
            .unwrap_or(&es.config_dir);
        push(
            InfoKind::Warning,
            format!(
                "SANDBOX: a copy of a sample install in {}; nothing outside it is changed",
                root.display()
            ),
        );
    }
    push(InfoKind::Heading, "Elasticsearch".to_string());
    push(
        InfoKind::Normal,
        format!(
            "  version {}  ({layout})",
            es.version
                .map_or_else(|| "unknown".to_string(), |v| v.to_string())
        ),
    );
    push(
        InfoKind::Normal,
        format!("  settings  {}", es.yml_path.display()),
    );
    if let Some(home) = &es.home {
        push(InfoKind::Normal, format!("  home      {}", home.display()));
    }
    let user = match &facts.host.service_user {
        Some(u) if facts.host.service_user_exists => u.clone(),
        Some(u) => format!("{u} (no such account on this host)"),
        None => "unknown".to_string(),
    };
    push(InfoKind::Normal, format!("  runs as   {user}"));
    push(InfoKind::Heading, format!("Current tier: {}", es.tier.tier));
    for e in &es.tier.evidence {
        push(InfoKind::Dim, format!("  {e}"));
    }
    push(InfoKind::Heading, "Kibana".to_string());
    match &facts.kibana {
        Some(k) => push(
            InfoKind::Normal,
            format!(
                "  settings  {} (version not detected)",
                k.yml_path.display()
            ),
        ),
        None => push(InfoKind::Normal, "  not found on this host".to_string()),
    }
    if let Some(ca) = &facts.ca {
        push(
            InfoKind::Normal,
            format!("CA from an earlier run: {}", ca.fingerprint),
        );
    }
    if !facts.host.findings.is_empty() {
        push(InfoKind::Heading, "Findings".to_string());
    }
    let mut findings: Vec<_> = facts.host.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings {
        let (kind, label) = match f.severity {
            Severity::Blocking => (InfoKind::Blocking, "BLOCKING".to_string()),
            Severity::Overridable => (
                InfoKind::Overridable,
                match &f.override_flag {
                    Some(flag) => format!("blocking, overridable with {flag}"),
                    None => "blocking (overridable)".to_string(),
                },
            ),
            Severity::Warning => (InfoKind::Warning, "warning".to_string()),
            Severity::Info => (InfoKind::Info, "info".to_string()),
        };
        push(kind, format!("  [{label}] {}", f.text));
        if let Some(fix) = &f.fix {
            push(InfoKind::Dim, format!("      fix: {fix}"));
        }
    }
    v
}

/// A warning for the Passwords screen: `elastic: keep` on a node that never had security
/// leaves the superuser with no password anyone knows (the apply turns security on).
pub fn passwords_warning(form: &Form, current: Tier) -> Option<String> {
    let keeps_elastic = form
        .passwords
        .iter()
        .any(|p| p.user == "elastic" && p.mode == PwMode::Keep);
    (current == Tier::None && keeps_elastic).then(|| {
        "warning: `elastic: keep` on a node that never had security leaves the superuser without a password you know; choose generate or your own".to_string()
    })
}

/// What the Hardening screen says about the license (both frontends).
pub const HARDENING_LICENSE_NOTE: &str = "Audit logging and IP filtering need a Gold license or higher (or a trial): on Basic, Elasticsearch silently ignores them, so apply reads the license first and refuses on Basic. TLS versions and Kibana sessions work on every license.";

/// The transport allow list the Hardening screen shows when the form leaves it empty.
pub fn transport_allow_default(form: &Form) -> String {
    let nodes = form.node_addresses();
    if nodes.is_empty() {
        "(every node's addresses: none given on the Nodes screen)".to_string()
    } else {
        format!("(every node: {})", nodes.join(", "))
    }
}
