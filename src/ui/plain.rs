//! Plain prompts (inquire): the same questions as the TUI, one at a time, for terminals where
//! a full-screen UI is unwanted (`--plain`).
//!
//! It fills the same [`Form`] as the TUI, so defaults and validation (through
//! [`crate::domain::answers::Answers::from_raw`]) are identical; the review prints the same
//! plan text as `es-secure plan`. It never writes system files: on Proceed it returns the
//! answers and plan for the app to apply; "Save answers" uses [`crate::ui::save_answers`].

use std::path::PathBuf;

use inquire::error::InquireError;
use inquire::validator::Validation;
use inquire::{Confirm, Select, Text};

use crate::domain::answers::{AuthMethodKind, SecretRef};
use crate::domain::render;
use crate::domain::tier::Tier;
use crate::error::{Exit, Failure};
use crate::ui::form::{CaChoice, Form, KEY_TYPES, NodeForm, PwMode, offered_tiers};
use crate::ui::screens::{InfoKind, Screen, screen_errors, welcome_lines};
use crate::ui::{WizardInput, WizardOutcome};

/// Why the prompts stopped early.
enum Stop {
    /// Esc: back to the previous question screen (as Esc does in the TUI).
    Back,
    /// Ctrl-C: the operator cancelled.
    Cancelled,
    Failed(anyhow::Error),
}

impl From<InquireError> for Stop {
    fn from(e: InquireError) -> Self {
        match e {
            InquireError::OperationCanceled => Self::Back,
            InquireError::OperationInterrupted => Self::Cancelled,
            // A usage error, not a bug: the exit code says so (2), from here to `main`.
            InquireError::NotTTY => Self::Failed(
                Failure::new(
                    Exit::Config,
                    anyhow::anyhow!(
                        "the wizard needs a terminal to ask on\nhelp: write an answers file and run `es-secure apply --answers FILE`"
                    ),
                )
                .into(),
            ),
            other => Self::Failed(anyhow::Error::new(other).context("asking a question")),
        }
    }
}

type Asked<T> = Result<T, Stop>;

/// Ask every question, show the plan, and return what the operator chose.
pub fn run(input: WizardInput<'_>) -> anyhow::Result<WizardOutcome> {
    match wizard(&input) {
        Ok(outcome) => Ok(outcome),
        Err(Stop::Cancelled | Stop::Back) => Ok(WizardOutcome::Cancelled),
        Err(Stop::Failed(e)) => Err(e),
    }
}

fn wizard(input: &WizardInput<'_>) -> Asked<WizardOutcome> {
    let facts = input.facts;
    eprintln!("es-secure: secure this Elasticsearch node\n");
    for line in welcome_lines(facts) {
        let text = match line.kind {
            InfoKind::Blocking => format!("{} (stops the apply)", line.text),
            _ => line.text,
        };
        eprintln!("{text}");
    }
    if let Some(p) = &input.pending {
        eprintln!(
            "\nAn earlier apply has not finished (restart pending, or it failed). Its answers ({}) are loaded: press Enter through the questions to finish it.",
            p.display()
        );
    }
    eprintln!("\nNothing is written until you approve the plan (Esc goes back, Ctrl-C cancels).\n");
    let mut form = Form::new(&input.initial, facts);
    let default_pw_file = input.default_answers_path.with_file_name("passwords.txt");
    let current = facts.es.tier.tier;
    let hostname = facts.host.hostname.clone();
    const SCREENS: [Screen; 6] = [
        Screen::Tier,
        Screen::Nodes,
        Screen::Certs,
        Screen::Kibana,
        Screen::Passwords,
        Screen::Hardening,
    ];
    let mut start = 0;
    loop {
        let mut i = start;
        while let Some(&screen) = SCREENS.get(i) {
            if screen == Screen::Certs && !form.needs_certs() {
                i += 1;
                continue;
            }
            loop {
                // A signal between two prompts (the terminal is in cooked mode there, so
                // Ctrl-C is SIGINT, not a key) cancels like Ctrl-C at a prompt.
                if input.interrupts.requested() {
                    return Err(Stop::Cancelled);
                }
                let asked = match screen {
                    Screen::Tier => ask_tier(&mut form, current),
                    Screen::Nodes => ask_nodes(&mut form),
                    Screen::Certs => ask_certs(&mut form),
                    Screen::Kibana => ask_kibana(&mut form, hostname.as_deref()),
                    Screen::Hardening => ask_hardening(&mut form),
                    _ => ask_passwords(&mut form, &default_pw_file).inspect(|()| {
                        if let Some(w) = crate::ui::screens::passwords_warning(&form, current) {
                            eprintln!("{w}");
                        }
                    }),
                };
                match asked {
                    Ok(()) => {}
                    // Esc: the previous screen (skipping Certificates when it is not asked),
                    // or this one again on the first.
                    Err(Stop::Back) => {
                        i = i.saturating_sub(1);
                        if SCREENS.get(i) == Some(&Screen::Certs) && !form.needs_certs() {
                            i = i.saturating_sub(1);
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                }
                let mut errors = screen_errors(&form, screen);
                // The host-side checks (own CA files, env:/file: secrets), as the TUI runs
                // them: a screen is left only when `apply` would accept its answers.
                if errors.is_empty()
                    && matches!(screen, Screen::Certs | Screen::Passwords)
                    && let Ok((_, answers)) = form.validate()
                {
                    errors = (input.check)(&answers)
                        .into_iter()
                        .filter(|e| screen.owns(&e.key))
                        .collect();
                }
                if errors.is_empty() {
                    i += 1;
                    break;
                }
                eprintln!("\nPlease fix:");
                for e in errors {
                    eprintln!("  {e}");
                }
                eprintln!();
            }
        }
        let (raw, answers) = match form.validate() {
            Ok(v) => v,
            Err(errors) => {
                eprintln!("\nThe answers are not consistent:");
                for e in errors {
                    eprintln!("  {e}");
                }
                eprintln!("Let's go through them again.\n");
                start = 0;
                continue;
            }
        };
        let plan = (input.planner)(&answers);
        match &plan {
            Ok(plan) => {
                if !plan.is_empty() {
                    eprintln!();
                    for (label, value) in crate::domain::summary::rows(plan) {
                        eprintln!("{label:<22}{value}");
                    }
                }
                println!("\n{}", render::plan_text(plan).trim_end());
            }
            Err(e) => eprintln!("\nThe planner refused these answers:\n{e}"),
        }
        loop {
            let mut choices = Vec::new();
            if plan.as_ref().is_ok_and(|p| !p.is_empty()) {
                choices.push("Proceed: apply this plan");
            }
            choices.extend([
                "Change the answers",
                "Save answers to a file",
                "Cancel (nothing is written)",
            ]);
            let choice = match Select::new("What now?", choices).prompt() {
                Ok(c) => c,
                // Esc on the review: back to the last question screen.
                Err(InquireError::OperationCanceled) => {
                    start = SCREENS.len() - 1;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            if input.interrupts.requested() {
                return Err(Stop::Cancelled);
            }
            if choice.starts_with("Proceed") {
                if let Ok(plan) = plan {
                    return Ok(WizardOutcome::Proceed {
                        raw,
                        answers: Box::new(answers),
                        plan,
                    });
                }
            } else if choice.starts_with("Change") {
                start = 0;
                break;
            } else if choice.starts_with("Save") {
                let default = input.default_answers_path.display().to_string();
                let path = match Text::new("Save answers to:")
                    .with_initial_value(&default)
                    .prompt()
                {
                    Ok(p) => p,
                    Err(InquireError::OperationCanceled) => continue,
                    Err(e) => return Err(e.into()),
                };
                match crate::ui::save_answers(&raw, &PathBuf::from(path.trim()), input.save_file) {
                    Ok(()) => eprintln!("Saved (no secrets in it) to {}", path.trim()),
                    Err(e) => eprintln!("Could not save: {e:#}"),
                }
            } else {
                return Err(Stop::Cancelled);
            }
        }
    }
}

fn ask_tier(form: &mut Form, current: Tier) -> Asked<()> {
    let tiers = offered_tiers(current);
    // The explanations go above the prompt: as option labels they would wrap into a wall.
    eprintln!();
    for t in &tiers {
        eprintln!("{}: {}", t.as_str(), t.explanation());
    }
    let labels: Vec<String> = tiers
        .iter()
        .map(|t| {
            let mark = if *t == current { " (current)" } else { "" };
            format!("{}{mark}", t.as_str())
        })
        .collect();
    let start = tiers.iter().position(|t| *t == form.tier).unwrap_or(0);
    let help = format!("This node is at tier {current}; es-secure only moves up.");
    let choice = Select::new("Security tier:", labels.clone())
        .with_starting_cursor(start)
        .with_help_message(&help)
        .prompt()?;
    let i = labels.iter().position(|l| *l == choice).unwrap_or(0);
    form.tier = tiers.get(i).copied().unwrap_or(Tier::Minimal);
    Ok(())
}

fn print_nodes(form: &Form) {
    eprintln!("\nCluster nodes (* = this host):");
    for (i, n) in form.nodes.iter().enumerate() {
        let this = if i == form.this_node { "*" } else { " " };
        eprintln!(
            " {this} {}. {}  dns: [{}]  ip: [{}]",
            i + 1,
            n.name,
            n.dns,
            n.ip
        );
    }
}

fn ask_nodes(form: &mut Form) -> Asked<()> {
    const USE: &str = "Use these nodes";
    const EDIT: &str = "Edit a node";
    const ADD: &str = "Add a node";
    const REMOVE: &str = "Remove a node";
    const THIS: &str = "Choose which node is this host";
    loop {
        print_nodes(form);
        let mut options = vec![USE, EDIT, ADD];
        if form.nodes.len() > 1 {
            options.extend([REMOVE, THIS]);
        }
        match Select::new("Nodes:", options).prompt()? {
            USE => return Ok(()),
            ADD => {
                let mut node = NodeForm {
                    name: format!("node-{}", form.nodes.len() + 1),
                    ..NodeForm::default()
                };
                edit_node(&mut node)?;
                form.nodes.push(node);
            }
            EDIT => {
                let i = pick_node(form, "Edit which node?")?;
                if let Some(node) = form.nodes.get_mut(i) {
                    edit_node(node)?;
                }
            }
            REMOVE => {
                let i = pick_node(form, "Remove which node?")?;
                if i < form.nodes.len() {
                    form.nodes.remove(i);
                    if form.this_node >= form.nodes.len() || form.this_node > i {
                        form.this_node = form.this_node.saturating_sub(1);
                    }
                }
            }
            _ => form.this_node = pick_node(form, "Which node is this host?")?,
        }
    }
}

fn pick_node(form: &Form, question: &str) -> Asked<usize> {
    let names: Vec<String> = form
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{}. {}", i + 1, n.name))
        .collect();
    let choice = Select::new(question, names.clone()).prompt()?;
    Ok(names.iter().position(|n| *n == choice).unwrap_or(0))
}

fn edit_node(node: &mut NodeForm) -> Asked<()> {
    node.name = Text::new("node.name:")
        .with_initial_value(&node.name)
        .with_validator(|s: &str| {
            Ok(if crate::domain::answers::valid_node_name(s.trim()) {
                Validation::Valid
            } else {
                Validation::Invalid("letters, digits, `-`, `_`, `.`".into())
            })
        })
        .prompt()?;
    node.dns = Text::new("DNS names (comma-separated):")
        .with_initial_value(&node.dns)
        .prompt()?;
    node.ip = Text::new("IP addresses (comma-separated):")
        .with_initial_value(&node.ip)
        .with_validator(|s: &str| {
            let bad = s
                .split([',', ' '])
                .map(str::trim)
                .find(|p| !p.is_empty() && p.parse::<std::net::IpAddr>().is_err());
            Ok(match bad {
                Some(b) => Validation::Invalid(format!("`{b}` is not an IP address").into()),
                None => Validation::Valid,
            })
        })
        .prompt()?;
    Ok(())
}

fn ask_certs(form: &mut Form) -> Asked<()> {
    let labels: Vec<&str> = CaChoice::ALL.iter().map(|c| c.label()).collect();
    let start = CaChoice::ALL
        .iter()
        .position(|c| *c == form.ca)
        .unwrap_or(0);
    let choice = Select::new("Certificate authority:", labels.clone())
        .with_starting_cursor(start)
        .prompt()?;
    form.ca = CaChoice::ALL[labels.iter().position(|l| *l == choice).unwrap_or(0)];
    if form.ca == CaChoice::Files {
        form.ca_cert = Text::new("CA certificate (PEM, absolute path):")
            .with_initial_value(&form.ca_cert)
            .prompt()?;
        form.ca_key = Text::new("CA private key (PEM, absolute path):")
            .with_initial_value(&form.ca_key)
            .prompt()?;
    }
    let keys: Vec<&str> = KEY_TYPES.iter().map(|k| k.as_str()).collect();
    let start = KEY_TYPES
        .iter()
        .position(|k| *k == form.key_type)
        .unwrap_or(0);
    let choice = Select::new("Key type:", keys.clone())
        .with_starting_cursor(start)
        .with_help_message("ECDSA P-256 is fast and small; choose RSA for old clients")
        .prompt()?;
    form.key_type = KEY_TYPES[keys.iter().position(|k| *k == choice).unwrap_or(0)];
    form.validity = Text::new("Certificate validity (days):")
        .with_initial_value(&form.validity)
        .with_validator(|s: &str| {
            Ok(match s.trim().parse::<u32>() {
                Ok(d) if (1..=3650).contains(&d) => Validation::Valid,
                _ => Validation::Invalid("a number of days from 1 to 3650".into()),
            })
        })
        .prompt()?;
    Ok(())
}

fn ask_kibana(form: &mut Form, hostname: Option<&str>) -> Asked<()> {
    form.kibana_on = Confirm::new("Configure Kibana?")
        .with_default(form.kibana_on)
        .prompt()?;
    if !form.kibana_on {
        return Ok(());
    }
    form.kibana_dir = Text::new("Kibana config directory:")
        .with_initial_value(&form.kibana_dir)
        .prompt()?;
    if form.tier == Tier::Https {
        let https = Confirm::new("Serve Kibana to browsers over HTTPS?")
            .with_default(form.browser_https())
            .prompt()?;
        // Only a changed answer rewrites the URL: an empty one stays empty, as in the TUI
        // (the same default in both frontends).
        if https != form.browser_https() {
            form.set_browser_https(https, hostname);
        }
    }
    form.kibana_url = Text::new("Kibana public URL (what browsers use; may be empty):")
        .with_initial_value(&form.kibana_url)
        .prompt()?;
    form.kibana_token = Confirm::new(
        "Kibana logs in with a service account token (elastic/kibana) instead of kibana_system's password?",
    )
    .with_default(form.kibana_token)
    .with_help_message("what Elastic's enrollment sets up; the token goes into kibana.keystore")
    .prompt()?;
    Ok(())
}

fn ask_passwords(form: &mut Form, default_pw_file: &std::path::Path) -> Asked<()> {
    const ALL: &str = "Generate new passwords for every built-in user (recommended)";
    const EACH: &str = "Choose for each user";
    let all_generate = form.passwords.iter().all(|p| p.mode == PwMode::Generate);
    let choice = Select::new("Built-in user passwords:", vec![ALL, EACH])
        .with_starting_cursor(usize::from(!all_generate))
        .prompt()?;
    if choice == ALL {
        for p in &mut form.passwords {
            p.mode = PwMode::Generate;
        }
    } else {
        const GEN: &str = "generate";
        const KEEP: &str = "keep (leave it alone)";
        const OWN: &str = "your own (env:NAME or file:/PATH)";
        for p in &mut form.passwords {
            let start = match p.mode {
                PwMode::Generate => 0,
                PwMode::Keep => 1,
                PwMode::Reference => 2,
            };
            let question = format!("{}:", p.user);
            let choice = Select::new(&question, vec![GEN, KEEP, OWN])
                .with_starting_cursor(start)
                .prompt()?;
            p.mode = match choice {
                GEN => PwMode::Generate,
                KEEP => PwMode::Keep,
                _ => PwMode::Reference,
            };
            if p.mode == PwMode::Reference {
                let key = format!("passwords.{}", p.user);
                p.reference = Text::new("Read the password from:")
                    .with_initial_value(&p.reference)
                    .with_help_message(
                        "env:NAME or file:/PATH; the password itself is never typed here",
                    )
                    .with_validator(move |s: &str| {
                        Ok(match SecretRef::parse(&key, s.trim()) {
                            Ok(SecretRef::Env(_) | SecretRef::File(_)) => Validation::Valid,
                            Ok(_) => Validation::Invalid("use env:NAME or file:/PATH".into()),
                            Err(m) => Validation::Invalid(m.into()),
                        })
                    })
                    .prompt()?;
            }
        }
    }
    form.pw_show = Confirm::new("Show generated passwords once at the end?")
        .with_default(form.pw_show)
        .prompt()?;
    // Empty is not "no file": the apply then writes them to the state directory.
    let question = format!(
        "Save generated passwords to (absolute path; empty: {}):",
        default_pw_file.display()
    );
    form.pw_file = Text::new(&question)
        .with_initial_value(&form.pw_file)
        .prompt()?;
    const TEMP: &str = "a temporary file-realm superuser (default)";
    const ELASTIC: &str = "the current elastic password";
    const BOOT: &str = "bootstrap.password (before the first secured start)";
    let start = match form.auth {
        AuthMethodKind::TemporarySuperuser => 0,
        AuthMethodKind::ElasticPassword => 1,
        AuthMethodKind::BootstrapPassword => 2,
    };
    let choice = Select::new(
        "How es-secure logs in to set them:",
        vec![TEMP, ELASTIC, BOOT],
    )
    .with_starting_cursor(start)
    .prompt()?;
    form.auth = match choice {
        ELASTIC => AuthMethodKind::ElasticPassword,
        BOOT => AuthMethodKind::BootstrapPassword,
        _ => AuthMethodKind::TemporarySuperuser,
    };
    if form.auth == AuthMethodKind::ElasticPassword {
        form.auth_ref = Text::new("Current elastic password from (env:NAME or file:/PATH):")
            .with_initial_value(&form.auth_ref)
            .prompt()?;
    }
    Ok(())
}

/// The Hardening screen's questions: one "any of it?" first, so the defaults cost one Enter.
fn ask_hardening(form: &mut Form) -> Asked<()> {
    use crate::ui::form::TLS_CHOICES;
    use crate::ui::screens::{HARDENING_LICENSE_NOTE, transport_allow_default};
    let h = &form.hardening;
    let any = h.audit || h.ip_filter || !h.tls_protocols.is_empty() || h.session;
    let wanted = Confirm::new(
        "Hardening (optional): audit logging, IP filtering, TLS versions, Kibana sessions?",
    )
    .with_default(any)
    .with_help_message("no: leave those layers as they are")
    .prompt()?;
    let h = &mut form.hardening;
    if !wanted {
        h.audit = false;
        h.ip_filter = false;
        h.tls_protocols.clear();
        h.session = false;
        return Ok(());
    }
    eprintln!("{HARDENING_LICENSE_NOTE}");
    let events = format!("records: {}", h.audit_events.join(", "));
    h.audit = Confirm::new("Audit logging (Gold license or trial)?")
        .with_default(h.audit)
        .with_help_message(&events)
        .prompt()?;
    h.ip_filter = Confirm::new("IP filtering (Gold license or trial)?")
        .with_default(h.ip_filter)
        .prompt()?;
    if h.ip_filter {
        let default = transport_allow_default(form);
        let h = &mut form.hardening;
        h.transport_allow = Text::new("Transport allow list (comma-separated; empty: every node):")
            .with_initial_value(&h.transport_allow)
            .with_help_message(&default)
            .prompt()?;
        h.http_allow = Text::new("HTTP allow list (comma-separated; empty: HTTP not filtered):")
            .with_initial_value(&h.http_allow)
            .prompt()?;
        h.http_deny = Text::new("HTTP deny list (empty: _all when an allow list is given):")
            .with_initial_value(&h.http_deny)
            .with_help_message("an allow rule wins over a deny rule")
            .prompt()?;
    }
    let h = &mut form.hardening;
    let labels: Vec<String> = TLS_CHOICES
        .iter()
        .map(|c| {
            if c.is_empty() {
                "leave as is".to_string()
            } else {
                c.join(", ")
            }
        })
        .collect();
    let start = labels.iter().position(|l| *l == h.tls_label()).unwrap_or(0);
    let choice = Select::new(
        "TLS versions (transport, HTTP, Kibana HTTPS):",
        labels.clone(),
    )
    .with_starting_cursor(start)
    .prompt()?;
    let i = labels.iter().position(|l| *l == choice).unwrap_or(0);
    h.tls_protocols = TLS_CHOICES[i].iter().map(|p| p.to_string()).collect();
    if form.kibana_on {
        let h = &mut form.hardening;
        h.session = Confirm::new("Kibana session timeouts?")
            .with_default(h.session)
            .prompt()?;
        if h.session {
            h.idle_timeout = Text::new("Kibana idle timeout (e.g. 1h; 0 = never):")
                .with_initial_value(&h.idle_timeout)
                .prompt()?;
            h.lifespan = Text::new("Kibana session lifespan (e.g. 8h; 0 = never):")
                .with_initial_value(&h.lifespan)
                .prompt()?;
        }
    }
    Ok(())
}
