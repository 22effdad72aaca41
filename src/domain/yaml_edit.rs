//! Change settings in `elasticsearch.yml` / `kibana.yml` text without destroying it.
//!
//! Pure text in, text out: every line we do not need to change stays byte-identical. It must
//! never return text whose effective settings differ from what was asked for.
//! (Placeholder implementation; the owner replaces it, keeping this API.)

use thiserror::Error;

use crate::domain::settings::SettingValue;

/// One change to a settings file.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Make `key` have `value` (in place where it exists, else in our managed block).
    Set { key: String, value: SettingValue },
    /// Make `key` absent (commented out with a short note).
    Remove { key: String },
}

/// Options for [`apply_edits`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EditOptions {
    /// Replace Elastic's security auto-configuration block: its settings are removed and the
    /// block is replaced by our managed block at the same place.
    pub replace_autoconfig: bool,
}

/// Why an edit could not be made. Nothing is written when this happens.
#[derive(Debug, Error, PartialEq)]
pub enum EditError {
    #[error(transparent)]
    Read(#[from] crate::domain::settings::SettingsError),
    #[error("{file}: could not apply the change to `{key}`: {reason}")]
    Unsupported {
        file: String,
        key: String,
        reason: String,
    },
}

/// Apply `edits` to `original`. Returns the original text unchanged when every edit is already
/// in effect.
pub fn apply_edits(
    file: &str,
    original: &str,
    edits: &[Edit],
    _opts: &EditOptions,
) -> Result<String, EditError> {
    let parsed = crate::domain::settings::parse(file, original)?;
    let mut out = original.to_string();
    for edit in edits {
        if let Edit::Set { key, value } = edit {
            if parsed.settings.value(key).is_some_and(|v| v.same_as(value)) {
                continue;
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{key}: {value}\n"));
        }
    }
    Ok(out)
}
