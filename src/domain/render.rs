//! Turn a [`Plan`] into text an operator reads: one line per step and a unified diff per
//! changed file. Shared by `plan`, `apply`'s review, `--dry-run` and the TUI's review screen,
//! so they can never disagree. Pure; adds no colour (frontends style the lines).

use similar::TextDiff;

use crate::domain::answers::Restart;
use crate::domain::certspec::CertSpec;
use crate::domain::plan::{Plan, SecretSource, Step};
use crate::domain::redact;

/// A short, one-line description of a step. Never contains a secret: keystore values and
/// passwords are named by where they come from, not what they are.
pub fn step_line(step: &Step) -> String {
    match step {
        Step::CreateDir { path, mode, .. } => {
            format!("create directory {} (mode {mode:04o})", path.display())
        }
        Step::CreateCa {
            spec,
            cert_path,
            key_path,
        } => format!(
            "create CA \"{}\" ({}, {} days) -> {} (key {}, 0600)",
            spec.common_name,
            spec.key_type.as_str(),
            spec.validity_days,
            cert_path.display(),
            key_path.display()
        ),
        Step::ImportCa {
            from_cert,
            from_key,
            cert_path,
            ..
        } => format!(
            "check and import your CA {} + {} -> {}",
            from_cert.display(),
            from_key.display(),
            cert_path.display()
        ),
        Step::IssueCert {
            spec,
            cert_path,
            reason,
            ..
        } => {
            let mut sans: Vec<String> = spec.dns.iter().map(|d| format!("DNS:{d}")).collect();
            sans.extend(spec.ip.iter().map(|i| format!("IP:{i}")));
            let purpose = match spec.purpose {
                Some(p) => format!("{p:?}").to_lowercase(),
                None => "ca".to_string(),
            };
            format!(
                "issue {purpose} certificate CN={} [{}] ({}, {} days) -> {} ({reason})",
                spec.common_name,
                sans.join(", "),
                spec.key_type.as_str(),
                spec.validity_days,
                cert_path.display()
            )
        }
        Step::InstallBundleCert {
            purpose,
            cert_path,
            key_path,
            dns,
            ip,
            reason,
            ..
        } => {
            let mut sans: Vec<String> = dns.iter().map(|d| format!("DNS:{d}")).collect();
            sans.extend(ip.iter().map(|i| format!("IP:{i}")));
            format!(
                "install {} certificate from the bundle [{}] -> {} (key {}) ({reason})",
                format!("{purpose:?}").to_lowercase(),
                sans.join(", "),
                cert_path.display(),
                key_path.display()
            )
        }
        Step::InstallOwnCert {
            purpose,
            from_cert,
            cert_path,
            key_path,
            reason,
            ..
        } => format!(
            "install own {} certificate {} -> {} (key {}) ({reason})",
            format!("{purpose:?}").to_lowercase(),
            from_cert.display(),
            cert_path.display(),
            key_path.display()
        ),
        Step::InstallCaCert { path, .. } => format!("install CA certificate {}", path.display()),
        Step::EditSettings { product, path, .. } => {
            format!("edit {} settings {}", product.as_str(), path.display())
        }
        Step::KeystoreSet {
            product,
            path,
            entry,
            value,
            ..
        } => {
            let source = match value {
                SecretSource::UserPassword(u) => format!("{u}'s password"),
                SecretSource::Random(n) => format!("new random {n}-character key"),
                SecretSource::Ref(r) => r.to_string(),
                SecretSource::PlaintextSetting { path, key } => {
                    format!("moved from `{key}` in {}", path.display())
                }
            };
            format!(
                "set {} keystore entry `{entry}` in {} (value: {source})",
                product.as_str(),
                path.display()
            )
        }
        Step::KeystoreRemove {
            product,
            path,
            entry,
        } => format!(
            "remove {} keystore entry `{entry}` from {}",
            product.as_str(),
            path.display()
        ),
        Step::RemoveFile { path, reason } => {
            format!("remove {} ({reason})", path.display())
        }
        Step::WriteBundle {
            node,
            path,
            contents,
        } => {
            let certs: Vec<String> = contents.certs.iter().map(spec_summary).collect();
            format!(
                "write bundle for node {node} -> {} (0600): {}",
                path.display(),
                certs.join("; ")
            )
        }
        Step::Restart { how, reason } => match how {
            Restart::Manual => format!("STOP: restart Elasticsearch yourself ({reason})"),
            Restart::Systemd => format!("systemctl restart elasticsearch ({reason})"),
            Restart::Command(cmd) => format!("run restart command `{cmd}` ({reason})"),
        },
        Step::WaitHealthy { url, timeout_secs } => {
            format!("wait for {url} to report yellow or green (up to {timeout_secs}s)")
        }
        Step::PrepareRestart { url } => format!(
            "before the full-cluster restart, on {url}: PUT _cluster/settings cluster.routing.allocation.enable=primaries, then POST /_flush"
        ),
        Step::WaitCluster {
            url,
            nodes,
            timeout_secs,
        } => format!(
            "wait for the cluster at {url} to have {nodes} nodes and be yellow or green (up to {timeout_secs}s)"
        ),
        Step::FinishRestart { url } => format!(
            "after the full-cluster restart, on {url}: PUT _cluster/settings cluster.routing.allocation.enable=null"
        ),
        Step::ResetPassword { user, secret } => {
            format!("POST /_security/user/{user}/_password (password: {secret})")
        }
        Step::ServiceToken {
            url,
            name,
            keystore,
            ..
        } => format!(
            "on {url}: unless the token in {} authenticates, POST /_security/service/elastic/kibana/credential/token/{name}; its value into that keystore as `elasticsearch.serviceAccountToken` (never shown)",
            keystore.display()
        ),
        Step::Verify { url } => format!(
            "verify {url}: TLS, anonymous 401, each reset user authenticates, certificates, health"
        ),
    }
}

/// `transport CN=node-2 [DNS:…, IP:…] (ecdsa-p256, 1095 days)`: a certificate to issue.
fn spec_summary(spec: &CertSpec) -> String {
    let mut sans: Vec<String> = spec.dns.iter().map(|d| format!("DNS:{d}")).collect();
    sans.extend(spec.ip.iter().map(|i| format!("IP:{i}")));
    let purpose = match spec.purpose {
        Some(p) => format!("{p:?}").to_lowercase(),
        None => "ca".to_string(),
    };
    format!(
        "{purpose} CN={} [{}] ({}, {} days)",
        spec.common_name,
        sans.join(", "),
        spec.key_type.as_str(),
        spec.validity_days
    )
}

/// A unified diff of one file, with `a/` and `b/` headers naming the path. Secret values are
/// masked on both sides first, so a plaintext password the edit removes shows as `***`.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    let before = redact::mask_settings_text(before);
    let after = redact::mask_settings_text(after);
    TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string()
}

/// What a line of the rendered plan is, so a frontend can style it without re-parsing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum LineKind {
    Heading,
    Step,
    Note,
    /// Blank separator or unchanged diff context.
    Context,
    FileHeader,
    Hunk,
    Added,
    Removed,
}

/// One line of the rendered plan.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PlanLine {
    pub kind: LineKind,
    pub text: String,
}

/// The whole plan as lines: header, numbered steps, notes, then one diff per edited file.
/// The second value holds the index of each diff's first line (for "next file" jumps).
/// [`plan_text`] is these lines joined, so every frontend shows the same words.
pub fn plan_lines(plan: &Plan) -> (Vec<PlanLine>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut files = Vec::new();
    let push = |lines: &mut Vec<PlanLine>, kind, text: String| {
        lines.push(PlanLine { kind, text });
    };
    if plan.is_empty() {
        push(
            &mut lines,
            LineKind::Heading,
            format!(
                "Nothing to do: this node is already at tier {} as the answers ask.",
                plan.to
            ),
        );
        for note in &plan.notes {
            push(&mut lines, LineKind::Note, format!("note: {}", note.text));
        }
        return (lines, files);
    }
    push(
        &mut lines,
        LineKind::Heading,
        format!(
            "Plan: tier {} -> {} ({} steps)",
            plan.from,
            plan.to,
            plan.steps.len()
        ),
    );
    for (i, step) in plan.steps.iter().enumerate() {
        push(
            &mut lines,
            LineKind::Step,
            format!("{:>3}. {}", i + 1, step_line(step)),
        );
    }
    if !plan.notes.is_empty() {
        push(&mut lines, LineKind::Context, String::new());
        for note in &plan.notes {
            push(&mut lines, LineKind::Note, format!("note: {}", note.text));
        }
    }
    for (path, before, after) in plan.edits() {
        push(&mut lines, LineKind::Context, String::new());
        files.push(lines.len());
        let diff = unified_diff(&path.display().to_string(), before, after);
        // split_terminator, not lines(): a CRLF file's diff keeps its \r, as plan_text did.
        for l in diff.split_terminator('\n') {
            let kind = if l.starts_with("---") || l.starts_with("+++") {
                LineKind::FileHeader
            } else if l.starts_with("@@") {
                LineKind::Hunk
            } else if l.starts_with('+') {
                LineKind::Added
            } else if l.starts_with('-') {
                LineKind::Removed
            } else {
                LineKind::Context
            };
            push(&mut lines, kind, l.to_string());
        }
    }
    (lines, files)
}

/// The whole plan as text: [`plan_lines`], one per line.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    for line in plan_lines(plan).0 {
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}
