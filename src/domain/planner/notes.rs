//! Plan notes, in words, for every setting an edit drops or changes: the operator reads the
//! plan to learn what happens, and a diff alone does not say why a line goes. Pure: compares
//! the settings before and after an edit; it must not decide what to edit.

use crate::domain::redact::{self, MASK};
use crate::domain::settings::{SettingValue, Settings};

/// Why a setting that the edit removes goes, by key (or `None` for the generic wording).
pub(super) type Why<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One note per removed setting (with its reason) and one listing changed values.
pub(super) fn setting_change_notes(
    file: &str,
    before: &Settings,
    after: &Settings,
    why: Why<'_>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut changed = Vec::new();
    for (key, old) in before.iter() {
        match after.value(key) {
            None => notes.push(match why(key) {
                Some(reason) => format!("{file}: removes `{key}`: {reason}"),
                None => format!("{file}: removes `{key}`"),
            }),
            Some(new) if *new != old.value => changed.push(format!(
                "`{key}` ({} -> {})",
                shown(key, &old.value),
                shown(key, new)
            )),
            Some(_) => {}
        }
    }
    if !changed.is_empty() {
        notes.push(format!("{file}: changes {}", changed.join(", ")));
    }
    notes
}

/// A value as a note may show it: secrets masked, long lists shortened.
fn shown(key: &str, value: &SettingValue) -> String {
    if redact::is_secret_key(key) {
        return MASK.to_string();
    }
    let plain = match value {
        SettingValue::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(SettingValue::as_plain)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.as_plain(),
    };
    if plain.chars().count() > 80 {
        format!("{}…", plain.chars().take(77).collect::<String>())
    } else {
        plain
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::settings;

    #[test]
    fn removed_and_changed_settings_are_named_and_secrets_masked() {
        let before = settings::parse(
            "a.yml",
            "x.password: hunter2\nkeep: 1\nchange: old\ngone: 2\n",
        )
        .unwrap()
        .settings;
        let after = settings::parse("a.yml", "keep: 1\nchange: new\n")
            .unwrap()
            .settings;
        let why = |k: &str| (k == "x.password").then(|| "moved".to_string());
        let notes = setting_change_notes("a.yml", &before, &after, &why);
        assert_eq!(
            notes,
            vec![
                "a.yml: removes `gone`".to_string(),
                "a.yml: removes `x.password`: moved".to_string(),
                "a.yml: changes `change` (old -> new)".to_string(),
            ]
        );
        assert!(!notes.concat().contains("hunter2"));
    }
}
