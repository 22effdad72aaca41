//! The short summary an operator reads before the step list (like rustup-init's "current
//! installation options"): tier from → to, whether a full-cluster restart is needed, which
//! services restart, which passwords are rotated, whether a CA is created.
//!
//! Pure: it reads the [`Plan`] only. It must not describe anything the plan does not hold,
//! and it never names a secret.

use crate::domain::plan::{Plan, Product, Step};
use crate::domain::tier::Tier;

/// The summary as `(label, value)` rows, in a fixed order.
pub fn rows(plan: &Plan) -> Vec<(&'static str, String)> {
    let mut rows = vec![("tier", format!("{} -> {}", plan.from, plan.to))];
    // Turning transport TLS on means TLS and plaintext nodes cannot talk: every node restarts
    // together.
    let full = plan.from < Tier::Basic && plan.to >= Tier::Basic;
    rows.push((
        "full-cluster restart",
        if full { "yes" } else { "no" }.to_string(),
    ));
    let mut services = Vec::new();
    if plan.steps.iter().any(|s| matches!(s, Step::Restart { .. })) {
        services.push("Elasticsearch");
    }
    let kibana_changed = plan.steps.iter().any(|s| match s {
        Step::EditSettings { product, .. }
        | Step::KeystoreSet { product, .. }
        | Step::KeystoreRemove { product, .. } => *product == Product::Kibana,
        Step::ServiceToken { .. } => true,
        _ => false,
    });
    if kibana_changed {
        services.push("Kibana");
    }
    rows.push((
        "services restarted",
        if services.is_empty() {
            "none".to_string()
        } else {
            services.join(", ")
        },
    ));
    let users: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::ResetPassword { user, .. } => Some(user.as_str()),
            _ => None,
        })
        .collect();
    rows.push((
        "passwords rotated",
        match users.len() {
            0 => "none".to_string(),
            // The step list names each user; the summary stays one line.
            1..=3 => format!("{} (not undone by rollback)", users.join(", ")),
            n => format!("{n} built-in users (not undone by rollback)"),
        },
    ));
    let ca = if plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::CreateCa { .. }))
    {
        "yes, a new CA"
    } else if plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::ImportCa { .. }))
    {
        "no, yours is imported"
    } else {
        "no"
    };
    rows.push(("CA created", ca.to_string()));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers::Restart;

    #[test]
    fn names_the_restart_the_passwords_and_the_tiers() {
        let plan = Plan {
            from: Tier::None,
            to: Tier::Basic,
            restart: crate::domain::plan::RestartKind::Full,
            steps: vec![
                Step::Restart {
                    how: Restart::Manual,
                    reason: "r".to_string(),
                },
                Step::ResetPassword {
                    user: "elastic".to_string(),
                    secret: crate::domain::answers::SecretRef::Generate,
                },
            ],
            notes: Vec::new(),
        };
        let rows = rows(&plan);
        let get = |k: &str| rows.iter().find(|(l, _)| *l == k).map(|(_, v)| v.clone());
        assert_eq!(get("tier").as_deref(), Some("none -> basic"));
        assert_eq!(get("full-cluster restart").as_deref(), Some("yes"));
        assert_eq!(get("services restarted").as_deref(), Some("Elasticsearch"));
        assert!(get("passwords rotated").unwrap().starts_with("elastic"));
        assert_eq!(get("CA created").as_deref(), Some("no"));
    }
}
