//! Text plus a list of edits. Segments after the first NUL byte are edits: `key=value` sets,
//! `-key` removes, `!` turns on auto-configuration replacement; a key written `#N` means the
//! N-th setting already in the file, so existing keys (flat, nested, flow) are hit often.
//! Whatever the editor returns must parse, hold exactly the intended settings, keep a missing
//! final newline missing, and be a fixed point of the same edits.
#![no_main]

use std::collections::BTreeMap;

use es_secure_fuzz::domain::settings::{self, SettingValue};
use es_secure_fuzz::domain::yaml_edit::{Edit, EditOptions, apply_edits};
use libfuzzer_sys::fuzz_target;

fn value(v: &str) -> SettingValue {
    if let Some(list) = v.strip_prefix('[') {
        return SettingValue::list(list.split(',').filter(|s| !s.is_empty()));
    }
    match v {
        "true" => SettingValue::Bool(true),
        "false" => SettingValue::Bool(false),
        "null" => SettingValue::Null,
        v if v.starts_with('+') => SettingValue::Number(v[1..].to_string()),
        v => SettingValue::str(v),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = input.split('\0');
    let text = parts.next().unwrap_or("");
    let Ok(before) = settings::parse("fuzz.yml", text) else {
        return;
    };
    let existing: Vec<&String> = before.settings.iter().map(|(k, _)| k).collect();
    let key_of = |k: &str| -> String {
        match k.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if !existing.is_empty() => existing[n % existing.len()].clone(),
            _ => k.to_string(),
        }
    };
    let mut opts = EditOptions::default();
    let mut edits = Vec::new();
    for part in parts {
        if part == "!" {
            opts.replace_autoconfig = true;
        } else if let Some(k) = part.strip_prefix('-') {
            edits.push(Edit::Remove { key: key_of(k) });
        } else if let Some((k, v)) = part.split_once('=') {
            edits.push(Edit::Set {
                key: key_of(k),
                value: value(v),
            });
        }
    }

    let Ok(out) = apply_edits("fuzz.yml", text, &edits, &opts) else {
        return;
    };
    let after = settings::parse("fuzz.yml", &out).expect("the editor returned unparsable text");

    // The intended settings, computed independently of the editor.
    let mut intended: BTreeMap<String, SettingValue> = before
        .settings
        .iter()
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect();
    if opts.replace_autoconfig {
        if let Some(block) = &before.autoconfig {
            for k in &block.keys {
                if k.starts_with("xpack.security.") {
                    intended.remove(k);
                }
            }
        }
    }
    for e in &edits {
        match e {
            Edit::Set { key, value } => {
                intended.insert(key.clone(), value.clone());
            }
            Edit::Remove { key } => {
                let below = format!("{key}.");
                intended.retain(|k, _| k != key && !k.starts_with(&below));
            }
        }
    }
    assert_eq!(after.settings.len(), intended.len(), "{out:?}");
    for (k, v) in &intended {
        let got = after.settings.value(k).expect("an intended setting is missing");
        assert!(got.same_as(v), "{k}: got {got:?}, wanted {v:?} in {out:?}");
    }
    // A file that is only a byte-order mark is an empty file.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !body.is_empty() && !body.ends_with('\n') {
        assert!(!out.ends_with('\n'), "a missing final newline was added");
    }
    if out != text {
        assert!(!edits.is_empty() || opts.replace_autoconfig, "changed without edits");
    }
    let again = apply_edits("fuzz.yml", &out, &edits, &opts).expect("second apply failed");
    assert_eq!(again, out, "not idempotent");
});
