//! Writing values. Elasticsearch reads YAML with a YAML 1.1 reader, where `no`, `on`, `0755`
//! and friends are not strings; anything that is not obviously a plain word or path is
//! quoted. It must not produce text that reads back as another value.

use crate::domain::settings::SettingValue;

/// A key for our block: plain when it is a dotted name, quoted otherwise.
pub(super) fn render_key(key: &str) -> String {
    if plain_ok(key) {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A value as YAML text, valid both in block and in flow (`[...]`, `{...}`) context.
pub(crate) fn render(value: &SettingValue) -> String {
    match value {
        SettingValue::Null => "null".to_string(),
        SettingValue::Bool(b) => b.to_string(),
        SettingValue::Number(n) if plain_number(n) => n.clone(),
        SettingValue::Number(n) | SettingValue::String(n) => {
            if plain_ok(n) {
                n.clone()
            } else {
                quote(n)
            }
        }
        SettingValue::List(items) => {
            let inner: Vec<String> = items
                .iter()
                .map(|item| match item {
                    // List items are always quoted, the way Elastic's docs write them.
                    SettingValue::String(s) => quote(s),
                    other => render(other),
                })
                .collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// A number both YAML 1.1 and 1.2 read the same way.
fn plain_number(n: &str) -> bool {
    let unsigned = n.strip_prefix('-').unwrap_or(n);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(digits)
}

/// Whether a string can be written without quotes and still be read back as the same string
/// by YAML 1.1 and 1.2 readers.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // The allowed characters are never indicators, in flow or block context.
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'));
    let first_ok = first.is_ascii_alphabetic() || matches!(first, '_' | '/');
    let lower = s.to_ascii_lowercase();
    let special = matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null"
    );
    chars_ok && first_ok && !special
}

/// A double-quoted YAML string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
