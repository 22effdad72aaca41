//! The question screens of the wizard: Welcome, Tier, Nodes, Certificates, Kibana, Passwords
//! and Hardening, each drawn from the model's form. They must not change state or do I/O.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::answers::AuthMethodKind;
use crate::domain::tier::Tier;

use crate::ui::form::PwMode;
use crate::ui::tui::model::{Field, InfoKind, Model};

use super::{
    Theme, choice, choice_row, clip, default_password_file, field_has_error, row, scroll_info,
    scrolled, text_row, with_errors, wrap, wrapped,
};

pub(super) fn welcome(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let mut lines: Vec<Line<'static>> = Vec::new();
    for l in &model.welcome {
        let style = match l.kind {
            InfoKind::Heading => t.accent(),
            InfoKind::Normal => Style::new(),
            InfoKind::Dim | InfoKind::Info => t.dim(),
            InfoKind::Blocking => t.bad(),
            InfoKind::Overridable | InfoKind::Warning => t.warn(),
        };
        lines.extend(wrapped(&l.text, style, area.width, 6));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Nothing is written until you approve the plan on the Review screen.",
    ));
    let (lines, info) = scrolled(lines, model.scroll, area.height);
    frame.render_widget(Paragraph::new(lines), area);
    scroll_info(frame, area, &info, t);
}

pub(super) fn tier(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let mut lines = wrapped(
        &format!(
            "This node is at tier {}. es-secure only moves up; lower tiers are not offered.",
            model.current_tier
        ),
        Style::new(),
        area.width,
        0,
    );
    lines.push(Line::raw(""));
    let width = usize::from(area.width.saturating_sub(6)).max(20);
    // Where the selected tier's explanation ends: on a short terminal (60×16) the view
    // scrolls so that it stays visible.
    let mut selected_end = 0;
    for tr in model.tiers() {
        let selected = model.form.tier == tr;
        let mark = if selected { "(•)" } else { "( )" };
        let mut head = vec![
            Span::styled(if selected { "› " } else { "  " }, t.accent()),
            Span::styled(
                format!("{mark} {}", tr.as_str()),
                if selected {
                    t.focus()
                } else {
                    Style::new().add_modifier(Modifier::BOLD)
                },
            ),
        ];
        if tr == model.current_tier {
            head.push(Span::styled("  (current)", t.dim()));
        }
        lines.push(Line::from(head));
        for l in wrap(tr.explanation(), width) {
            lines.push(Line::from(Span::styled(format!("      {l}"), t.dim())));
        }
        if selected {
            selected_end = lines.len();
        }
        lines.push(Line::raw(""));
    }
    if model.form.tier == Tier::Minimal {
        lines.push(Line::from(Span::styled(
            "Minimal issues no certificates, so the Certificates screen is skipped.",
            t.dim(),
        )));
    }
    let skip = selected_end.saturating_sub(usize::from(area.height));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
        area,
    );
}

pub(super) fn nodes(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let focused = model.focused();
    let f = &model.form;
    let mut lines = wrapped(&model.detected_node, t.dim(), area.width, 2);
    lines.push(Line::from(Span::styled(
        format!(
            "  {:<3}{:<18}{:<30}{}",
            "", "node.name", "DNS names", "IP addresses"
        ),
        Style::new().add_modifier(Modifier::BOLD),
    )));
    let header = lines.len();
    for (i, n) in f.nodes.iter().enumerate() {
        let is_focus = focused == Some(Field::NodeRow(i));
        let sel = model.node_sel == i;
        let this = if f.this_node == i { "★" } else { " " };
        let text = format!(
            "{this}  {:<18}{:<30}{}",
            clip(&n.name, 17),
            clip(&n.dns, 29),
            clip(&n.ip, 24)
        );
        let style = if is_focus {
            t.focus()
        } else if sel {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let err = model
            .errors
            .iter()
            .any(|e| e.key.starts_with(&format!("nodes[{i}]")));
        let mut spans = vec![
            Span::styled(if is_focus { "› " } else { "  " }, t.accent()),
            Span::styled(text, style),
        ];
        if err {
            spans.push(Span::styled(" !", t.bad()));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(Span::styled(
        "  ★ = the node on this host (t on a row changes it)",
        t.dim(),
    )));
    lines.push(Line::raw(""));
    if let Some(n) = f.nodes.get(model.node_sel) {
        let i = model.node_sel;
        lines.push(Line::from(Span::styled(
            format!("Edit node {}:", i + 1),
            Style::new().add_modifier(Modifier::BOLD),
        )));
        for (field, label, value, key) in [
            (
                Field::NodeName,
                "node.name",
                &n.name,
                format!("nodes[{i}].name"),
            ),
            (
                Field::NodeDns,
                "DNS names",
                &n.dns,
                format!("nodes[{i}].dns"),
            ),
            (
                Field::NodeIp,
                "IP addresses",
                &n.ip,
                format!("nodes[{i}].ip"),
            ),
        ] {
            lines.push(text_row(
                model,
                label,
                value,
                focused == Some(field),
                &key,
                t,
            ));
        }
        lines.push(Line::from(Span::styled(
            "  lists: separate with commas; e.g. node-1.example.internal, localhost",
            t.dim(),
        )));
    }
    // Keep the focused row visible when there are more nodes than lines.
    let focus_line = match focused {
        Some(Field::NodeRow(i)) => i + header,
        _ => lines.len(),
    };
    let h = usize::from(area.height);
    let start = (focus_line + 1).saturating_sub(h);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(start).collect::<Vec<_>>()),
        area,
    );
}

pub(super) fn certs(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    use crate::ui::form::CaChoice;
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let mut lines = vec![
        Line::from(Span::styled(
            "One CA signs every node's transport (and, for https, HTTP) certificate.",
            t.dim(),
        )),
        Line::raw(""),
        choice_row("CA", f.ca.label(), focused == Some(Field::CaSource), t),
    ];
    if f.ca == CaChoice::Files {
        lines.push(text_row(
            model,
            "  CA certificate",
            &f.ca_cert,
            focused == Some(Field::CaCert),
            "certificates.ca.cert",
            t,
        ));
        lines.push(text_row(
            model,
            "  CA private key",
            &f.ca_key,
            focused == Some(Field::CaKey),
            "certificates.ca.key",
            t,
        ));
    }
    lines.push(choice_row(
        "Key type",
        f.key_type.as_str(),
        focused == Some(Field::KeyType),
        t,
    ));
    lines.push(text_row(
        model,
        "Validity (days)",
        &f.validity,
        focused == Some(Field::Validity),
        "certificates.validity_days",
        t,
    ));
    lines.push(Line::raw(""));
    if let Some(fp) = &model.existing_ca {
        lines.extend(wrapped(
            &format!("  CA from an earlier run (SHA-256): {fp}"),
            t.dim(),
            area.width,
            4,
        ));
    }
    let help = match focused {
        Some(Field::CaSource | Field::CaCert | Field::CaKey) => match f.ca {
            CaChoice::Generate => {
                "A new CA is created in es-secure's state directory (key 0600, root only). Later runs reuse it, so nodes keep trusting each other."
            }
            CaChoice::Existing => {
                "Use the CA an earlier es-secure run created; the plan is refused if there is none."
            }
            CaChoice::Files => {
                "Your own CA: PEM certificate and unencrypted PEM key, absolute paths. es-secure checks they match and copies them to its state directory."
            }
        },
        Some(Field::KeyType) => {
            "ECDSA P-256 is fast and small; choose RSA if old clients must connect."
        }
        _ => {
            "How long node certificates are valid: 1 to 3650 days (Elastic's certutil default is 3 years, 1095 days)."
        }
    };
    lines.extend(help_lines(help, area, t));
    frame.render_widget(Paragraph::new(lines), area);
}

pub(super) fn kibana(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let detected = match &model.kibana_detected {
        Some(dir) => format!("Kibana was detected in {dir}."),
        None => "Kibana was not detected on this host.".to_string(),
    };
    let mut lines = vec![Line::from(detected), Line::raw("")];
    lines.push(choice_row(
        "Configure Kibana",
        if f.kibana_on { "yes" } else { "no" },
        focused == Some(Field::KibanaOn),
        t,
    ));
    if f.kibana_on {
        lines.push(text_row(
            model,
            "Config directory",
            &f.kibana_dir,
            focused == Some(Field::KibanaDir),
            "kibana.config_dir",
            t,
        ));
        lines.push(text_row(
            model,
            "Public URL",
            &f.kibana_url,
            focused == Some(Field::KibanaUrl),
            "kibana.public_url",
            t,
        ));
        if f.tier == Tier::Https {
            lines.push(choice_row(
                "Browser HTTPS",
                if f.browser_https() { "on" } else { "off" },
                focused == Some(Field::KibanaHttps),
                t,
            ));
        } else {
            lines.push(Line::from(Span::styled(
                "  Browser HTTPS          off (only the https tier serves HTTPS to browsers)",
                t.dim(),
            )));
        }
        lines.push(choice_row(
            "Logs in with",
            if f.kibana_token {
                "service token"
            } else {
                "password"
            },
            focused == Some(Field::KibanaToken),
            t,
        ));
    }
    lines.push(Line::raw(""));
    let help = if f.kibana_on && f.kibana_token {
        "Kibana logs in to Elasticsearch with a token of the service account elastic/kibana (what Elastic's enrollment sets up): es-secure creates it through the API and puts it into Kibana's keystore, never kibana.yml. The public URL is what browsers use; with the https tier an https:// URL makes Kibana serve HTTPS with a certificate from the CA."
    } else if f.kibana_on {
        "Kibana logs in to Elasticsearch as kibana_system (its password goes into Kibana's keystore, not kibana.yml); or switch \"Logs in with\" to a service account token. The public URL is what browsers use; with the https tier an https:// URL makes Kibana serve HTTPS with a certificate from the CA."
    } else {
        "Kibana is left alone. Configure it later by running es-secure again."
    };
    lines.extend(help_lines(help, area, t));
    frame.render_widget(Paragraph::new(lines), area);
}

pub(super) fn passwords(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let focused = model.focused();
    let mut lines = wrapped(
        "Space cycles: generate / keep (leave alone) / your own (env:NAME or file:/PATH).",
        t.dim(),
        area.width,
        0,
    );
    if let Some(w) = crate::ui::screens::passwords_warning(f, model.current_tier) {
        lines.extend(wrapped(&w, t.warn(), area.width, 9));
    }
    for (i, p) in f.passwords.iter().enumerate() {
        let value = match p.mode {
            PwMode::Generate => "generate".to_string(),
            PwMode::Keep => "keep".to_string(),
            PwMode::Reference if p.reference.is_empty() => "your own: ".to_string(),
            PwMode::Reference => format!("your own: {}", p.reference),
        };
        lines.push(row(
            p.user,
            value,
            focused == Some(Field::Password(i)),
            p.mode == PwMode::Reference,
            field_has_error(model, &format!("passwords.{}", p.user)),
            t,
        ));
    }
    lines.push(choice_row(
        "Show once at end",
        if f.pw_show { "yes" } else { "no" },
        focused == Some(Field::PwShow),
        t,
    ));
    lines.push(row(
        "Save to file",
        if f.pw_file.is_empty() && focused != Some(Field::PwFile) {
            // Empty is not "not saved": the apply writes generated passwords to the state
            // directory then; say where.
            format!("(default: {})", default_password_file(model).display())
        } else {
            f.pw_file.clone()
        },
        focused == Some(Field::PwFile),
        true,
        field_has_error(model, "passwords.output_file"),
        t,
    ));
    let auth = match f.auth {
        AuthMethodKind::TemporarySuperuser => "temporary file-realm superuser",
        AuthMethodKind::ElasticPassword => "current elastic password",
        AuthMethodKind::BootstrapPassword => "bootstrap.password (first start)",
    };
    lines.push(row(
        "Log in to set them",
        choice(auth),
        focused == Some(Field::Auth),
        false,
        field_has_error(model, "auth.elastic_password"),
        t,
    ));
    if f.auth == AuthMethodKind::ElasticPassword {
        lines.push(text_row(
            model,
            "  elastic password",
            &f.auth_ref,
            focused == Some(Field::AuthRef),
            "auth.elastic_password",
            t,
        ));
    }
    lines.push(Line::raw(""));
    lines.extend(wrapped(
        "  Generated passwords are 24 random characters. Answers files never hold a password, only where to find it.",
        t.dim(),
        area.width,
        2,
    ));
    frame.render_widget(Paragraph::new(lines), area);
}

pub(super) fn hardening(model: &Model, frame: &mut Frame, area: Rect, t: Theme) {
    use crate::ui::screens::{HARDENING_LICENSE_NOTE, transport_allow_default};
    let area = with_errors(model, frame, area, t);
    let f = &model.form;
    let h = &f.hardening;
    let focused = model.focused();
    let on_off = |on: bool| if on { "on" } else { "off (leave as is)" };
    let mut lines = wrapped(
        "Optional layers beyond the tier; Enter with everything off changes nothing here.",
        t.dim(),
        area.width,
        0,
    );
    lines.push(choice_row(
        "Audit logging",
        on_off(h.audit),
        focused == Some(Field::HardAudit),
        t,
    ));
    if h.audit {
        lines.extend(wrapped(
            &format!("    records: {}", h.audit_events.join(", ")),
            t.dim(),
            area.width,
            13,
        ));
    }
    lines.push(choice_row(
        "IP filtering",
        on_off(h.ip_filter),
        focused == Some(Field::HardIp),
        t,
    ));
    if h.ip_filter {
        let shown = |value: &str, field: Field, placeholder: String| {
            if value.is_empty() && focused != Some(field) {
                placeholder
            } else {
                value.to_string()
            }
        };
        for (field, label, value, key, placeholder) in [
            (
                Field::HardTransportAllow,
                "  transport allow",
                &h.transport_allow,
                "hardening.ip_filter.transport_allow",
                transport_allow_default(f),
            ),
            (
                Field::HardHttpAllow,
                "  HTTP allow",
                &h.http_allow,
                "hardening.ip_filter.http_allow",
                "(not filtered)".to_string(),
            ),
            (
                Field::HardHttpDeny,
                "  HTTP deny",
                &h.http_deny,
                "hardening.ip_filter.http_deny",
                if h.http_allow.trim().is_empty() {
                    "(nothing)".to_string()
                } else {
                    "(_all: everything not allowed)".to_string()
                },
            ),
        ] {
            lines.push(row(
                label,
                shown(value.as_str(), field, placeholder),
                focused == Some(field),
                true,
                field_has_error(model, key),
                t,
            ));
        }
    }
    lines.push(choice_row(
        "TLS versions",
        &h.tls_label(),
        focused == Some(Field::HardTls),
        t,
    ));
    if f.kibana_on {
        lines.push(choice_row(
            "Kibana sessions",
            on_off(h.session),
            focused == Some(Field::HardSession),
            t,
        ));
        if h.session {
            lines.push(text_row(
                model,
                "  idle timeout",
                &h.idle_timeout,
                focused == Some(Field::HardIdle),
                "hardening.kibana_session.idle_timeout",
                t,
            ));
            lines.push(text_row(
                model,
                "  lifespan",
                &h.lifespan,
                focused == Some(Field::HardLifespan),
                "hardening.kibana_session.lifespan",
                t,
            ));
        }
    }
    lines.push(Line::raw(""));
    let help = match focused {
        Some(Field::HardAudit) => {
            "Security events (failed logins, denied requests, security changes) go to <cluster>_audit.json in the logs directory (and Kibana's to audit.log in its logs directory). Takes effect at the restart."
        }
        Some(Field::HardIp | Field::HardTransportAllow) => {
            "Transport: only the listed addresses may join (default: every node's). Lists are comma-separated IPs, CIDR ranges or host names."
        }
        Some(Field::HardHttpAllow | Field::HardHttpDeny) => {
            "HTTP: an allow rule wins over a deny rule. A list that shuts out this host is refused before apply."
        }
        Some(Field::HardTls) => {
            "Only these TLS versions for transport and HTTP (and Kibana's HTTPS); older clients are refused."
        }
        Some(Field::HardSession | Field::HardIdle | Field::HardLifespan) => {
            "Kibana logs a browser out after the idle timeout, and after the lifespan in any case: a count and a unit (ms, s, m, h, d, w, M, Y), 0 for never."
        }
        _ => "",
    };
    if !help.is_empty() {
        lines.extend(help_lines(help, area, t));
    }
    // The license trap is said whenever a Gold feature is on, whatever the focus.
    if h.audit || h.ip_filter || matches!(focused, Some(Field::HardAudit | Field::HardIp)) {
        lines.extend(help_lines(HARDENING_LICENSE_NOTE, area, t));
    }
    // Keep the focused row visible on a short terminal.
    let focus_line = lines
        .iter()
        .position(|l| l.spans.first().is_some_and(|s| s.content == "› "))
        .unwrap_or(0);
    let skip = (focus_line + 2).saturating_sub(usize::from(area.height));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
        area,
    );
}

/// The dimmed help under a form, wrapped to the screen and indented by two.
fn help_lines(help: &str, area: Rect, t: Theme) -> impl Iterator<Item = Line<'static>> {
    wrap(help, usize::from(area.width.saturating_sub(4)).max(20))
        .into_iter()
        .map(move |l| Line::from(Span::styled(format!("  {l}"), t.dim())))
}
