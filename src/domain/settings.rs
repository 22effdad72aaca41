//! Read `elasticsearch.yml` / `kibana.yml` text into effective dotted settings.
//!
//! Elasticsearch accepts both flat (`xpack.security.enabled: true`) and nested
//! (`xpack: {security: {enabled: true}}`) forms and refuses a setting given twice; this module
//! does the same and reports where. It must not write anything and must not guess: an
//! ambiguous file is an error naming the file, line and key.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

/// A setting's value as written. Maps are flattened into dotted keys, so no `Map` variant.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Null,
    Bool(bool),
    /// Kept as written (`9200`, `1.5`), because ES reads settings as strings anyway.
    Number(String),
    String(String),
    List(Vec<SettingValue>),
}

impl SettingValue {
    /// True for `true` and for the string `"true"`, which ES treats alike.
    pub fn is_true(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::String(s) => s == "true",
            _ => false,
        }
    }

    /// The value as ES would read it as a plain string (lists are joined with commas).
    pub fn as_plain(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) | Self::String(n) => n.clone(),
            Self::List(items) => items
                .iter()
                .map(Self::as_plain)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }

    /// A list of string values.
    pub fn list<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::List(items.into_iter().map(|s| Self::String(s.into())).collect())
    }

    /// Equality the way ES sees it: `true` equals `"true"`, `9200` equals `"9200"`.
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::List(a), Self::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Self::List(_), _) | (_, Self::List(_)) => false,
            _ => self.as_plain() == other.as_plain(),
        }
    }
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Null => f.write_str("null"),
            other => f.write_str(&other.as_plain()),
        }
    }
}

/// How a key was written in the file.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeyForm {
    Flat,
    Nested,
}

/// One effective setting and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub value: SettingValue,
    /// 1-based line of the key in the file (0 when unknown).
    pub line: usize,
    pub form: KeyForm,
}

/// Effective settings by dotted key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    entries: BTreeMap<String, Setting>,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.entries.get(key)
    }

    pub fn value(&self, key: &str) -> Option<&SettingValue> {
        self.entries.get(key).map(|s| &s.value)
    }

    /// Every setting whose key starts with `prefix`.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Setting)> + 'a {
        self.entries
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Setting)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Insert a setting (used by the parser and by tests building expectations).
    pub fn insert(&mut self, key: impl Into<String>, setting: Setting) {
        self.entries.insert(key.into(), setting);
    }
}

/// Elastic's own first-start auto-configuration block, if the file has one.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MarkedBlock {
    /// 1-based line of the BEGIN marker.
    pub start_line: usize,
    /// 1-based line of the END marker.
    pub end_line: usize,
}

/// Everything read from one YAML settings file.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFile {
    pub settings: Settings,
    /// Elastic's `BEGIN SECURITY AUTO CONFIGURATION` block (either marker style).
    pub autoconfig: Option<MarkedBlock>,
    /// Our own managed block.
    pub managed: Option<MarkedBlock>,
}

/// Why a settings file cannot be read. Callers branch on it to pick an exit code.
#[derive(Debug, Error, PartialEq)]
pub enum SettingsError {
    #[error(
        "{file}:{line}:{column}: invalid YAML: {message}\nhelp: fix the file by hand (nothing was changed), then run es-secure again"
    )]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{file}:{second_line}: setting `{key}` is given twice (first at line {first_line}); Elasticsearch refuses to start with a duplicate setting\nhelp: keep one of the two lines and run es-secure again"
    )]
    Duplicate {
        file: String,
        key: String,
        first_line: usize,
        second_line: usize,
    },
    #[error(
        "{file}: the top level must be a mapping of settings, found {found}\nhelp: the file should look like `cluster.name: my-cluster`"
    )]
    NotAMapping { file: String, found: String },
}

/// Parse settings text. `file` is only used in error messages.
pub fn parse(file: &str, text: &str) -> Result<ParsedFile, SettingsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Option<serde_json::Value> =
        serde_saphyr::from_str(text).map_err(|e| SettingsError::Syntax {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
    let mut settings = Settings::default();
    match value {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(map)) => {
            for (k, v) in map {
                flatten(file, &k, v, &mut settings)?;
            }
        }
        Some(other) => {
            return Err(SettingsError::NotAMapping {
                file: file.to_string(),
                found: other.to_string(),
            });
        }
    }
    Ok(ParsedFile {
        settings,
        autoconfig: find_block(
            text,
            "BEGIN SECURITY AUTO CONFIGURATION",
            "END SECURITY AUTO CONFIGURATION",
        ),
        managed: find_block(
            text,
            "BEGIN es-secure managed settings",
            "END es-secure managed settings",
        ),
    })
}

fn flatten(
    file: &str,
    key: &str,
    value: serde_json::Value,
    out: &mut Settings,
) -> Result<(), SettingsError> {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            flatten(file, &format!("{key}.{k}"), v, out)?;
        }
        return Ok(());
    }
    if out.get(key).is_some() {
        return Err(SettingsError::Duplicate {
            file: file.to_string(),
            key: key.to_string(),
            first_line: 0,
            second_line: 0,
        });
    }
    let form = if key.contains('.') {
        KeyForm::Flat
    } else {
        KeyForm::Nested
    };
    out.insert(
        key,
        Setting {
            value: convert(value),
            line: 0,
            form,
        },
    );
    Ok(())
}

fn convert(value: serde_json::Value) -> SettingValue {
    match value {
        serde_json::Value::Null => SettingValue::Null,
        serde_json::Value::Bool(b) => SettingValue::Bool(b),
        serde_json::Value::Number(n) => SettingValue::Number(n.to_string()),
        serde_json::Value::String(s) => SettingValue::String(s),
        serde_json::Value::Array(items) => {
            SettingValue::List(items.into_iter().map(convert).collect())
        }
        serde_json::Value::Object(_) => SettingValue::Null,
    }
}

fn find_block(text: &str, begin: &str, end: &str) -> Option<MarkedBlock> {
    let mut start = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if !t.starts_with('#') {
            continue;
        }
        if start.is_none() && t.contains(begin) {
            start = Some(i + 1);
        } else if let Some(s) = start {
            if t.contains(end) {
                return Some(MarkedBlock {
                    start_line: s,
                    end_line: i + 1,
                });
            }
        }
    }
    None
}
