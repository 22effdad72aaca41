#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of the YAML editor over generated settings files (flat, nested and mixed forms,
//! flow and block lists, quoted values, comments, blank lines, CRLF, missing final newline)
//! and generated edits: the result parses, has exactly the intended settings, leaves every
//! untouched line byte-identical, and applying the same edits again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use es_secure::domain::settings::{self, SettingValue};
use es_secure::domain::yaml_edit::{Edit, EditOptions, apply_edits};
use proptest::prelude::*;

/// A value and how the generated file writes it (`None` = as a block list).
#[derive(Clone, Debug)]
struct Val {
    value: SettingValue,
    inline: Option<String>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn val() -> impl Strategy<Value = Val> {
    let words = prop::sample::select(vec!["x", "certs/a.p12", "localhost", "_site_", "full"]);
    let tricky = prop::sample::select(vec!["no", "on", "0755", "a: b", "x # y", "", "it's"]);
    prop_oneof![
        any::<bool>().prop_map(|b| Val {
            value: SettingValue::Bool(b),
            inline: Some(b.to_string()),
        }),
        prop::sample::select(vec!["9200", "1.5", "0"]).prop_map(|n| Val {
            value: SettingValue::Number(n.to_string()),
            inline: Some(n.to_string()),
        }),
        words.prop_map(|w| Val {
            value: SettingValue::str(w),
            inline: Some(w.to_string()),
        }),
        tricky.prop_map(|w| Val {
            value: SettingValue::str(w),
            inline: Some(quote(w)),
        }),
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "10.0.0.1"]), 0..3),
            any::<bool>()
        )
            .prop_map(|(items, block)| Val {
                value: SettingValue::list(items.clone()),
                inline: if block && !items.is_empty() {
                    None
                } else {
                    Some(format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|i| quote(i))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                },
            }),
    ]
}

fn edit_value() -> impl Strategy<Value = SettingValue> {
    prop_oneof![
        any::<bool>().prop_map(SettingValue::Bool),
        Just(SettingValue::Number("9200".into())),
        prop::sample::select(vec![
            "no",
            "on",
            "yes",
            "off",
            "y",
            "0755",
            "1e3",
            "",
            "a: b",
            "x #y",
            "plain",
            "${HOSTNAME}",
            "it's \"q\"",
            "certs/http.p12",
            "- x",
            "[a]",
            "{b}",
            "*c",
            "&d",
            "!e",
            "%f",
            "@g",
            "`h",
        ])
        .prop_map(SettingValue::str),
        prop::collection::vec(prop::sample::select(vec!["a", "b c", "no"]), 0..3)
            .prop_map(SettingValue::list),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "xpack", "ssl", "enabled"]),
        1..4,
    )
    .prop_map(|segs| segs.join("."))
}

/// One generated file: its text, its settings, and which line (0-based) belongs to which keys.
#[derive(Clone, Debug)]
struct File {
    text: String,
    settings: BTreeMap<String, SettingValue>,
    owners: Vec<BTreeSet<String>>,
}

#[derive(Clone, Debug)]
struct Spec {
    keys: Vec<(String, Val, bool, bool)>,
    crlf: bool,
    final_newline: bool,
    comments: Vec<bool>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec((key(), val(), any::<bool>(), any::<bool>()), 0..8),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 8),
    )
        .prop_map(|(keys, crlf, final_newline, comments)| Spec {
            keys,
            crlf,
            final_newline,
            comments,
        })
}

fn build(spec: &Spec) -> File {
    // Distinct keys, none below another (`a` and `a.b` would need care a generator can skip).
    let mut chosen: Vec<(String, Val, bool, bool)> = Vec::new();
    for (k, v, nested, comment) in &spec.keys {
        let clash = chosen.iter().any(|(c, ..)| {
            c == k || c.starts_with(&format!("{k}.")) || k.starts_with(&format!("{c}."))
        });
        if !clash {
            chosen.push((k.clone(), v.clone(), *nested && k.contains('.'), *comment));
        }
    }
    let mut lines: Vec<(String, BTreeSet<String>)> = Vec::new();
    let value_lines = |v: &Val, indent: &str, head: String, owner: &BTreeSet<String>| {
        let mut out = Vec::new();
        match &v.inline {
            Some(t) => out.push((format!("{head} {t}"), owner.clone())),
            None => {
                out.push((head, owner.clone()));
                if let SettingValue::List(items) = &v.value {
                    for i in items {
                        out.push((format!("{indent}  - {}", i.as_plain()), owner.clone()));
                    }
                }
            }
        }
        out
    };
    // Nested keys are grouped under their first segment, written once.
    let mut groups: BTreeMap<String, Vec<(String, Val, bool)>> = BTreeMap::new();
    let mut i = 0;
    for (k, v, nested, comment) in &chosen {
        if *nested {
            let (first, rest) = k.split_once('.').unwrap();
            groups.entry(first.to_string()).or_default().push((
                rest.to_string(),
                v.clone(),
                *comment,
            ));
            continue;
        }
        if spec.comments.get(i % 8).copied().unwrap_or(false) {
            lines.push(("# a comment".to_string(), BTreeSet::new()));
            lines.push((String::new(), BTreeSet::new()));
        }
        i += 1;
        let owner = BTreeSet::from([k.clone()]);
        let mut vl = value_lines(v, "", format!("{k}:"), &owner);
        if *comment && let Some(first) = vl.first_mut() {
            first.0.push_str("   # why");
        }
        lines.extend(vl);
    }
    for (first, children) in &groups {
        // A group whose top-level name is also a flat key's first segment is fine in YAML.
        let all: BTreeSet<String> = children
            .iter()
            .map(|(r, ..)| format!("{first}.{r}"))
            .collect();
        lines.push((format!("{first}:"), all));
        for (rest, v, comment) in children {
            let owner = BTreeSet::from([format!("{first}.{rest}")]);
            if *comment {
                lines.push(("  # about the next one".to_string(), BTreeSet::new()));
            }
            lines.extend(value_lines(v, "  ", format!("  {rest}:"), &owner));
        }
    }
    let nl = if spec.crlf { "\r\n" } else { "\n" };
    let mut text = lines
        .iter()
        .map(|(l, _)| l.as_str())
        .collect::<Vec<_>>()
        .join(nl);
    if spec.final_newline && !text.is_empty() {
        text.push_str(nl);
    }
    File {
        text,
        settings: chosen
            .iter()
            .map(|(k, v, ..)| (k.clone(), v.value.clone()))
            .collect(),
        owners: lines.into_iter().map(|(_, o)| o).collect(),
    }
}

fn edits(file: &File) -> impl Strategy<Value = Vec<Edit>> + use<> {
    let existing: Vec<String> = file.settings.keys().cloned().collect();
    let any_key = if existing.is_empty() {
        key().boxed()
    } else {
        prop_oneof![prop::sample::select(existing), key()].boxed()
    };
    prop::collection::vec(
        (any_key, edit_value(), prop::bool::weighted(0.3)).prop_map(|(key, value, rm)| {
            if rm {
                Edit::Remove { key }
            } else {
                Edit::Set { key, value }
            }
        }),
        0..5,
    )
}

fn intended(file: &File, edits: &[Edit]) -> BTreeMap<String, SettingValue> {
    let mut m = file.settings.clone();
    for e in edits {
        match e {
            Edit::Set { key, value } => {
                m.insert(key.clone(), value.clone());
            }
            Edit::Remove { key } => {
                let below = format!("{key}.");
                m.retain(|k, _| k != key && !k.starts_with(&below));
            }
        }
    }
    m
}

fn case() -> impl Strategy<Value = (File, Vec<Edit>)> {
    spec().prop_map(|s| build(&s)).prop_flat_map(|f| {
        let e = edits(&f);
        (Just(f), e)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_generated_file_reads_as_generated((file, _) in case()) {
        let parsed = settings::parse("p.yml", &file.text).unwrap();
        prop_assert_eq!(parsed.settings.len(), file.settings.len());
        for (k, v) in &file.settings {
            prop_assert!(parsed.settings.value(k).unwrap().same_as(v), "{}", k);
        }
    }

    #[test]
    fn result_parses_and_has_exactly_the_intended_settings((file, edits) in case()) {
        let out = apply_edits("p.yml", &file.text, &edits, &EditOptions::default());
        // The generator cannot produce a file the editor must refuse, except one: a new key
        // equal to a nested group's top-level name (`a` next to `a:` mapping) is a YAML
        // duplicate, which the editor correctly declines to write.
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let group_clash = edits.iter().any(|ed| matches!(ed, Edit::Set { key, .. }
                    if file.text.split(['\n', '\r']).any(|l| l == format!("{key}:"))));
                prop_assert!(group_clash, "{}", e);
                return Ok(());
            }
        };
        let after = settings::parse("p.yml", &out).unwrap();
        let want = intended(&file, &edits);
        prop_assert_eq!(after.settings.len(), want.len(), "{}", out);
        for (k, v) in &want {
            let got = after.settings.value(k);
            prop_assert!(got.is_some_and(|g| g.same_as(v)), "{}: {:?} vs {:?}\n{}", k, got, v, out);
        }
    }

    #[test]
    fn untouched_lines_stay_byte_identical((file, edits) in case()) {
        let Ok(out) = apply_edits("p.yml", &file.text, &edits, &EditOptions::default()) else {
            return Ok(());
        };
        let want = intended(&file, &edits);
        let touched = |k: &String| match (file.settings.get(k), want.get(k)) {
            (Some(a), Some(b)) => !a.same_as(b),
            _ => true,
        };
        let original: Vec<&str> = file.text.split('\n').collect();
        let mut result = out.split('\n');
        for (i, line) in original.iter().enumerate() {
            // The piece after a final newline belongs to no line.
            let Some(owners) = file.owners.get(i) else {
                continue;
            };
            if owners.iter().any(touched) {
                continue;
            }
            // In order: every untouched line must come next, after any inserted lines.
            // A last line without a newline gains one (its own kind) when lines follow it.
            let last = i + 1 == original.len();
            let same = |r: &str| r == *line || (last && r.strip_suffix('\r') == Some(*line));
            prop_assert!(result.any(same), "line {} {:?} lost:\n{}", i + 1, line, out);
        }
    }

    #[test]
    fn applying_twice_equals_applying_once((file, edits) in case()) {
        let Ok(once) = apply_edits("p.yml", &file.text, &edits, &EditOptions::default()) else {
            return Ok(());
        };
        let twice = apply_edits("p.yml", &once, &edits, &EditOptions::default()).unwrap();
        prop_assert_eq!(&twice, &once);
        if !file.text.is_empty() && !file.text.ends_with('\n') {
            prop_assert!(!once.ends_with('\n'));
        }
    }
}
