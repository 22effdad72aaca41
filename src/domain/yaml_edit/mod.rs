//! Change settings in `elasticsearch.yml` / `kibana.yml` text without destroying it.
//!
//! Pure text in, text out: every line we do not need to change stays byte-identical (comments,
//! blank lines, order, quoting, line endings). A changed value is rewritten where it is written;
//! a new setting goes into one block of our own, marked by
//! [`MANAGED_BEGIN`](settings::MANAGED_BEGIN)/[`MANAGED_END`](settings::MANAGED_END); a
//! removed setting is commented out with a short note, except a line holding a secret
//! (password, passphrase, token: see [`crate::domain::redact`]), which is deleted so the value
//! does not stay in the file. The result is parsed again and compared
//! with the intended settings: this module must never return text whose effective settings
//! differ from what was asked for, and must not touch the file system.
//!
//! This file decides what the file must say and checks the result; `plan` decides what
//! happens to each line, `text` knows the lines, `render` writes values.

mod plan;
mod render;
mod text;

use std::collections::BTreeMap;

use thiserror::Error;

use self::plan::{Plan, collect_leaves};
pub(crate) use self::render::render;
use self::render::render_key;
use self::text::Text;

use crate::domain::settings::{self, Node, NodeKind, SettingValue, Settings, Tree};

/// One change to a settings file.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Make `key` have `value` (in place where it exists, else in our managed block).
    Set { key: String, value: SettingValue },
    /// Make `key` absent (commented out with a short note; lines holding a secret value are
    /// deleted instead). Settings below it (`key.*`) go too.
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

/// Note written above lines we comment out.
const NOTE_REMOVED: &str = "# es-secure: removed";
/// Note written above lines whose setting now lives in the managed block.
const NOTE_MOVED: &str = "# es-secure: replaced, see the managed block";
/// Second line of a new managed block, so a reader knows who writes it.
const MANAGED_HELP: &str = "# Written by es-secure; it changes these lines on its next run.";

/// Apply `edits` to `original`. Returns the original text unchanged when every edit is already
/// in effect (and there is no auto-configuration block to replace), so applying the same edits
/// twice gives the same text.
pub fn apply_edits(
    file: &str,
    original: &str,
    edits: &[Edit],
    opts: &EditOptions,
) -> Result<String, EditError> {
    let (bom, body) = match original.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", original),
    };
    let (parsed, tree) = settings::parse_tree(file, body)?;
    let region = if opts.replace_autoconfig {
        parsed.autoconfig.as_ref()
    } else {
        None
    };

    // What the file must say afterwards, as effective settings.
    let mut intended: BTreeMap<String, SettingValue> = parsed
        .settings
        .iter()
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect();
    // Keys whose lines disappear with the auto-configuration block, in file order.
    let mut in_region: Vec<(usize, String)> = Vec::new();
    if let Some(block) = region {
        for key in &block.keys {
            let line = parsed.settings.get(key).map_or(0, |s| s.line);
            in_region.push((line, key.clone()));
            // Its security settings go; the rest (initial master nodes, bind hosts) are still
            // needed by the node and are carried into our block.
            if key.starts_with("xpack.security.") {
                intended.remove(key);
            }
        }
        in_region.sort();
    }
    let mut new_order: Vec<String> = Vec::new();
    for edit in edits {
        match edit {
            Edit::Set { key, value } => {
                intended.insert(key.clone(), value.clone());
                if !new_order.contains(key) {
                    new_order.push(key.clone());
                }
            }
            Edit::Remove { key } => {
                let below = format!("{key}.");
                intended.retain(|k, _| k != key && !k.starts_with(&below));
            }
        }
    }

    if region.is_none() && same_settings(&parsed.settings, &intended) {
        return Ok(original.to_string());
    }

    let text = Text::new(body);
    let mut plan = Plan::new(&text);
    plan.build(file, &tree, &parsed.settings, &intended, region)?;

    // Where each setting's new line goes: carried auto-configuration keys first (file order),
    // then settings moved out of their old place (file order), then new ones (edit order).
    let mut managed: Vec<String> = Vec::new();
    let push = |key: &String, managed: &mut Vec<String>| {
        if intended.contains_key(key) && !managed.contains(key) {
            managed.push(key.clone());
        }
    };
    for (_, key) in &in_region {
        push(key, &mut managed);
    }
    let mut moved: Vec<(usize, &String)> = plan
        .moved
        .iter()
        .map(|k| (parsed.settings.get(k).map_or(0, |s| s.line), k))
        .collect();
    moved.sort();
    for (_, key) in moved {
        push(key, &mut managed);
    }
    for key in &new_order {
        if parsed.settings.get(key).is_none() {
            push(key, &mut managed);
        }
    }
    // A setting carried over unchanged keeps its value exactly as it was written.
    let written = written_values(&tree, body);
    let managed_lines: Vec<String> = managed
        .iter()
        .filter_map(|k| {
            let v = intended.get(k)?;
            let unchanged = parsed.settings.value(k).is_some_and(|was| was == v);
            let text = match written.get(k) {
                Some(t) if unchanged => (*t).to_string(),
                _ => render(v),
            };
            Some(format!("{}: {text}", render_key(k)))
        })
        .collect();

    let out = plan.render(parsed.managed.as_ref(), region, &managed_lines);
    let out = format!("{bom}{out}");
    verify(file, &out, &intended)?;
    Ok(out)
}

/// The source text of every single-line value that can be copied as it is.
fn written_values<'t>(tree: &Tree, body: &'t str) -> BTreeMap<String, &'t str> {
    let mut out = BTreeMap::new();
    if let Some(Node {
        kind: NodeKind::Map(top),
        ..
    }) = &tree.root
    {
        let mut leaves = Vec::new();
        collect_leaves(top, "", &mut Vec::new(), &mut leaves);
        for leaf in leaves {
            if let Some(entry) = leaf.path.last()
                && entry.value.replaceable
                && let Some(t) = body.get(entry.value.start.byte..entry.value.end.byte)
            {
                out.insert(leaf.key, t);
            }
        }
    }
    out
}

/// Same keys, and each value the same the way Elasticsearch reads it.
fn same_settings(actual: &Settings, intended: &BTreeMap<String, SettingValue>) -> bool {
    actual.len() == intended.len()
        && actual
            .iter()
            .all(|(k, s)| intended.get(k).is_some_and(|v| v.same_as(&s.value)))
}

/// Parse the result again; refuse it unless it says exactly what was intended.
fn verify(
    file: &str,
    out: &str,
    intended: &BTreeMap<String, SettingValue>,
) -> Result<(), EditError> {
    let reparsed = settings::parse(file, out).map_err(|e| EditError::Unsupported {
        file: file.to_string(),
        // Usually a new flat key meeting a mapping of the same name (`a.b:` block and `a.b: x`).
        key: match &e {
            settings::SettingsError::Duplicate { key, .. } => key.clone(),
            _ => intended.keys().next().cloned().unwrap_or_default(),
        },
        reason: format!("the edited text would not be valid ({e}); nothing was changed"),
    })?;
    if same_settings(&reparsed.settings, intended) {
        return Ok(());
    }
    let key = intended
        .iter()
        .find(|(k, v)| reparsed.settings.value(k).is_none_or(|got| !got.same_as(v)))
        .map(|(k, _)| k.clone())
        .or_else(|| {
            reparsed
                .settings
                .iter()
                .find(|(k, _)| !intended.contains_key(*k))
                .map(|(k, _)| k.clone())
        })
        .unwrap_or_default();
    Err(EditError::Unsupported {
        file: file.to_string(),
        key,
        reason: "the file is written in a way the editor cannot change safely (the result \
                 would not have the intended settings); nothing was changed, edit it by hand"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::settings::{AUTOCONFIG_BEGIN, AUTOCONFIG_END, MANAGED_BEGIN, MANAGED_END};

    fn set(key: &str, value: SettingValue) -> Edit {
        Edit::Set {
            key: key.into(),
            value,
        }
    }

    fn remove(key: &str) -> Edit {
        Edit::Remove { key: key.into() }
    }

    fn apply(text: &str, edits: &[Edit]) -> String {
        let out = apply_edits("es.yml", text, edits, &EditOptions::default()).unwrap();
        let again = apply_edits("es.yml", &out, edits, &EditOptions::default()).unwrap();
        assert_eq!(out, again, "not idempotent");
        out
    }

    #[test]
    fn nothing_to_do_returns_the_text_unchanged() {
        let text = "# c\nxpack.security.enabled: 'true'  # on\nhttp.port: 9200";
        let out = apply(
            text,
            &[
                set("xpack.security.enabled", SettingValue::Bool(true)),
                set("http.port", SettingValue::str("9200")),
                remove("absent.key"),
            ],
        );
        assert_eq!(out, text);
    }

    #[test]
    fn in_place_keeps_indentation_and_comments() {
        let text =
            "# top\nxpack:\n  security:\n    enabled: false   # off for now\nhttp.port: 9200\n";
        let out = apply(
            text,
            &[set("xpack.security.enabled", SettingValue::Bool(true))],
        );
        assert_eq!(
            out,
            "# top\nxpack:\n  security:\n    enabled: true   # off for now\nhttp.port: 9200\n"
        );
        let out = apply(
            "a: [x, y] # hosts\n",
            &[set("a", SettingValue::list(["z"]))],
        );
        assert_eq!(out, "a: [\"z\"] # hosts\n");
        let out = apply("s: {a: 1, b: 2}\n", &[set("s.b", SettingValue::str("no"))]);
        assert_eq!(out, "s: {a: 1, b: \"no\"}\n");
    }

    #[test]
    fn new_keys_go_into_one_managed_block() {
        let out = apply("cluster.name: c", &[set("a.b", SettingValue::Bool(true))]);
        assert_eq!(
            out,
            format!("cluster.name: c\n\n{MANAGED_BEGIN}\n{MANAGED_HELP}\na.b: true\n{MANAGED_END}")
        );
        let out2 = apply(&out, &[set("c", SettingValue::str("on"))]);
        assert_eq!(
            out2,
            format!(
                "cluster.name: c\n\n{MANAGED_BEGIN}\n{MANAGED_HELP}\na.b: true\nc: \"on\"\n{MANAGED_END}"
            )
        );
        let out3 = apply("", &[set("a", SettingValue::Number("1".into()))]);
        assert_eq!(
            out3,
            format!("{MANAGED_BEGIN}\n{MANAGED_HELP}\na: 1\n{MANAGED_END}\n")
        );
    }

    #[test]
    fn crlf_is_kept_for_new_lines() {
        let out = apply(
            "a: 1\r\nb: 2\r\n",
            &[set("c", SettingValue::str("x")), remove("a")],
        );
        assert_eq!(
            out,
            format!(
                "{NOTE_REMOVED}\r\n#a: 1\r\nb: 2\r\n\r\n{MANAGED_BEGIN}\r\n{MANAGED_HELP}\r\nc: x\r\n{MANAGED_END}\r\n"
            )
        );
    }

    #[test]
    fn remove_in_nested_comments_out_emptied_parents() {
        let text =
            "xpack:\n  security:\n    http.ssl:\n      keystore.path: x.p12\n    enabled: true\n";
        let out = apply(text, &[remove("xpack.security.http.ssl.keystore.path")]);
        assert_eq!(
            out,
            "xpack:\n  security:\n    # es-secure: removed\n    #http.ssl:\n    #  keystore.path: x.p12\n    enabled: true\n"
        );
        let out = apply(text, &[remove("xpack")]);
        assert_eq!(
            out,
            "# es-secure: removed\n#xpack:\n#  security:\n#    http.ssl:\n#      keystore.path: x.p12\n#    enabled: true\n"
        );
    }

    #[test]
    fn multi_line_values_move_to_the_managed_block() {
        let text = "roles:\n  - master\n  - data\nz: 1\n";
        let out = apply(text, &[set("roles", SettingValue::list(["data"]))]);
        assert_eq!(
            out,
            format!(
                "{NOTE_MOVED}\n#roles:\n#  - master\n#  - data\nz: 1\n\n{MANAGED_BEGIN}\n{MANAGED_HELP}\nroles: [\"data\"]\n{MANAGED_END}\n"
            )
        );
        // A flow mapping cannot lose one member in place: the whole entry moves.
        let out = apply("s: {a: 1, b: 2}\n", &[remove("s.a")]);
        assert!(out.contains("#s: {a: 1, b: 2}\n"), "{out}");
        assert!(out.contains("\ns.b: 2\n"), "{out}");
    }

    #[test]
    fn values_a_yaml_1_1_reader_would_misread_are_quoted() {
        for (v, want) in [
            ("no", "\"no\""),
            ("On", "\"On\""),
            ("y", "\"y\""),
            ("0755", "\"0755\""),
            ("1e3", "\"1e3\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("x #y", "\"x #y\""),
            ("0.0.0.0", "\"0.0.0.0\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
            ("certs/http.p12", "certs/http.p12"),
            ("_site_", "_site_"),
            ("-x", "\"-x\""),
        ] {
            assert_eq!(render(&SettingValue::str(v)), want, "{v}");
        }
        assert_eq!(render(&SettingValue::Number("0755".into())), "\"0755\"");
        assert_eq!(render(&SettingValue::Number("9200".into())), "9200");
    }

    #[test]
    fn autoconfig_block_is_replaced_in_place() {
        let text = format!(
            "cluster.name: c\n{AUTOCONFIG_BEGIN}\n# Enable security features\nxpack.security.enabled: true\nxpack.security.http.ssl:\n  enabled: true\n  keystore.path: certs/http.p12\ncluster.initial_master_nodes: [\"node-1\"]\nhttp.host: 0.0.0.0\n#transport.host: 0.0.0.0\n{AUTOCONFIG_END}\n# after\n"
        );
        let opts = EditOptions {
            replace_autoconfig: true,
        };
        let edits = [
            set("xpack.security.enabled", SettingValue::Bool(true)),
            remove("http.host"),
        ];
        let out = apply_edits("es.yml", &text, &edits, &opts).unwrap();
        assert_eq!(
            out,
            format!(
                "cluster.name: c\n{MANAGED_BEGIN}\n{MANAGED_HELP}\nxpack.security.enabled: true\ncluster.initial_master_nodes: [\"node-1\"]\n{MANAGED_END}\n# after\n"
            )
        );
        assert_eq!(apply_edits("es.yml", &out, &edits, &opts).unwrap(), out);
    }

    #[test]
    fn lines_in_our_own_block_are_deleted_not_commented() {
        let text = format!("a: 1\n\n{MANAGED_BEGIN}\n{MANAGED_HELP}\nb: 2\nc: 3\n{MANAGED_END}\n");
        let out = apply(&text, &[remove("b")]);
        assert_eq!(
            out,
            format!("a: 1\n\n{MANAGED_BEGIN}\n{MANAGED_HELP}\nc: 3\n{MANAGED_END}\n")
        );
    }

    #[test]
    fn aliased_mappings_are_moved_as_a_whole() {
        let text = "base: &b {x: 1, y: 2}\ncopy: *b\n";
        let out = apply(text, &[remove("copy.x")]);
        assert!(
            out.starts_with(
                "base: &b {x: 1, y: 2}\n# es-secure: replaced, see the managed block\n#copy: *b\n"
            ),
            "{out}"
        );
        assert!(out.contains("\ncopy.y: 2\n"), "{out}");
    }

    #[test]
    fn set_of_a_null_value_moves_it() {
        let out = apply("a:\nb: 1\n", &[set("a", SettingValue::str("x"))]);
        assert!(
            out.starts_with(&format!("{NOTE_MOVED}\n#a:\nb: 1\n")),
            "{out}"
        );
        assert!(out.contains("\na: x\n"), "{out}");
    }

    #[test]
    fn a_new_flat_key_meeting_a_mapping_of_that_name_is_refused() {
        let err = apply_edits(
            "es.yml",
            "xpack.security.enabled:\n  value: true\n",
            &[set("xpack.security.enabled", SettingValue::Bool(true))],
            &EditOptions::default(),
        )
        .unwrap_err();
        let EditError::Unsupported { key, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key, "xpack.security.enabled");
    }

    #[test]
    fn an_autoconfig_block_of_comments_only_is_replaced_too() {
        // Found by the config_editor fuzz target: with no settings at all the block's lines
        // were kept next to the new managed block, so a second run changed the file again.
        let text = format!("# head\n{AUTOCONFIG_BEGIN}\n# nothing here\n{AUTOCONFIG_END}");
        let opts = EditOptions {
            replace_autoconfig: true,
        };
        let edits = [set("a", SettingValue::Bool(true))];
        let out = apply_edits("es.yml", &text, &edits, &opts).unwrap();
        assert_eq!(
            out,
            format!("# head\n{MANAGED_BEGIN}\n{MANAGED_HELP}\na: true\n{MANAGED_END}")
        );
        assert_eq!(apply_edits("es.yml", &out, &edits, &opts).unwrap(), out);
    }

    #[test]
    fn a_removed_line_holding_marker_text_is_dropped_not_commented() {
        // Found by the config_editor fuzz target: commenting this line out created a BEGIN
        // marker, so the next run saw a new auto-configuration block.
        let text = "a: 1\nb: x BEGIN SECURITY AUTO CONFIGURATION y\nc: 2\n";
        let out = apply(text, &[remove("b")]);
        assert_eq!(out, "a: 1\nc: 2\n");
    }

    #[test]
    fn errors_leave_nothing_half_done() {
        let err = apply_edits(
            "es.yml",
            "a: 1\na: 2\n",
            &[set("b", SettingValue::Bool(true))],
            &EditOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Read(_)));
        // A top-level flow mapping shares one line among all settings.
        let err = apply_edits(
            "es.yml",
            "{a: 1, b: 2}\n",
            &[remove("a")],
            &EditOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Unsupported { .. }), "{err:?}");
    }
}
