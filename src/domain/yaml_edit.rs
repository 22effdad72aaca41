//! Change settings in `elasticsearch.yml` / `kibana.yml` text without destroying it.
//!
//! Pure text in, text out: every line we do not need to change stays byte-identical (comments,
//! blank lines, order, quoting, line endings). A changed value is rewritten where it is written;
//! a new setting goes into one block of our own, marked by [`MANAGED_BEGIN`]/[`MANAGED_END`]; a
//! removed setting is commented out with a short note, except a line holding a secret
//! (password, passphrase, token: see [`crate::domain::redact`]), which is deleted so the value
//! does not stay in the file. The result is parsed again and compared
//! with the intended settings: this module must never return text whose effective settings
//! differ from what was asked for, and must not touch the file system.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use thiserror::Error;

use crate::domain::redact;
use crate::domain::settings::{
    self, Entry, MANAGED_BEGIN, MANAGED_END, Node, NodeKind, SettingValue, Settings, Tree,
};

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

// ---------------------------------------------------------------------------------------------
// Lines of the text.

struct Text<'a> {
    body: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// The newline to use for lines we add: the file's own.
    nl: &'static str,
}

impl<'a> Text<'a> {
    fn new(body: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(body.match_indices('\n').map(|(i, _)| i + 1));
        if starts.last() == Some(&body.len()) && starts.len() > 1 {
            // A final newline ends the last line; it does not start an empty one.
            starts.pop();
        }
        let nl = match body.find('\n') {
            Some(i) if i > 0 && body.as_bytes().get(i - 1) == Some(&b'\r') => "\r\n",
            _ => "\n",
        };
        Self { body, starts, nl }
    }

    fn count(&self) -> usize {
        if self.body.is_empty() {
            0
        } else {
            self.starts.len()
        }
    }

    /// 0-based index of the line holding byte `b`.
    fn line_of(&self, b: usize) -> usize {
        self.starts.partition_point(|&s| s <= b).saturating_sub(1)
    }

    /// The line's text without its line ending, and the ending.
    fn line(&self, i: usize) -> (&'a str, &'a str) {
        let start = self.starts.get(i).copied().unwrap_or(self.body.len());
        let end = self.starts.get(i + 1).copied().unwrap_or(self.body.len());
        let full = self.body.get(start..end).unwrap_or("");
        let content = full
            .strip_suffix('\n')
            .map(|c| c.strip_suffix('\r').unwrap_or(c))
            .unwrap_or(full);
        (content, &full[content.len()..])
    }

    /// Byte where line `i`'s content ends (before its line ending).
    fn content_end(&self, i: usize) -> usize {
        let start = self.starts.get(i).copied().unwrap_or(self.body.len());
        start + self.line(i).0.len()
    }

    /// The 0-based lines an entry occupies, when nothing else shares them: its key starts its
    /// line and its value ends its line (a trailing comment is fine).
    fn exclusive_lines(&self, entry: &Entry) -> Option<Range<usize>> {
        let first = self.line_of(entry.key_start.byte);
        let line_start = self.starts.get(first).copied().unwrap_or(0);
        let before = self.body.get(line_start..entry.key_start.byte)?;
        if !before.chars().all(|c| c == ' ' || c == '\t') {
            return None;
        }
        let end = node_end(&entry.value).max(entry.key_start.byte);
        let last = self.line_of(end.saturating_sub(1).max(entry.key_start.byte));
        let content_end = self.content_end(last);
        let after = self.body.get(end.min(content_end)..content_end)?;
        let mut after = after.trim_start_matches([' ', '\t']);
        if entry.value.start.byte == entry.value.end.byte {
            // An empty value (`key:`) is placed before its `:`.
            after = after.strip_prefix(':').unwrap_or(after);
            after = after.trim_start_matches([' ', '\t']);
        }
        if !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        Some(first..last + 1)
    }
}

/// Where a node's text really ends. Block collections end with their last child.
fn node_end(node: &Node) -> usize {
    let own = node.end.byte;
    match &node.kind {
        NodeKind::Scalar(_) => own,
        NodeKind::Seq(items) => items.iter().map(node_end).fold(own, usize::max),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|e| node_end(&e.value).max(e.key_start.byte))
            .fold(own, usize::max),
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: what happens to each line.

#[derive(Clone, Copy, Debug, PartialEq)]
enum LineOp {
    Keep,
    /// Comment out, putting `#` after this many bytes of the line's indentation.
    Comment(usize),
    Delete,
}

/// One leaf setting and the chain of entries (outermost first) that spell its key.
struct Leaf<'t> {
    key: String,
    path: Vec<&'t Entry>,
}

/// One mapping entry in document order, with what the plan needs to know about it.
struct Item<'t> {
    entry: &'t Entry,
    /// The dotted key up to and including this entry.
    key: String,
    parent: Option<usize>,
    children: Vec<usize>,
    /// A setting (its value is not a mapping).
    leaf: bool,
    /// The lines it alone occupies, if it can be commented out on its own.
    exclusive: Option<Range<usize>>,
}

fn index_entries<'t>(
    text: &Text<'_>,
    entry: &'t Entry,
    key: String,
    parent: Option<usize>,
    out: &mut Vec<Item<'t>>,
) {
    let me = out.len();
    if let Some(p) = parent.and_then(|p| out.get_mut(p)) {
        p.children.push(me);
    }
    let children = match &entry.value.kind {
        NodeKind::Map(children) => Some(children),
        _ => None,
    };
    out.push(Item {
        entry,
        key: key.clone(),
        parent,
        children: Vec::new(),
        leaf: children.is_none(),
        exclusive: text.exclusive_lines(entry),
    });
    for child in children.into_iter().flatten() {
        index_entries(text, child, format!("{key}.{}", child.key), Some(me), out);
    }
}

struct Plan<'a> {
    text: &'a Text<'a>,
    ops: Vec<LineOp>,
    /// Note lines to write above a line.
    notes: BTreeMap<usize, String>,
    /// In-line replacements: absolute byte range and new text.
    replace: Vec<(Range<usize>, String)>,
    /// Settings whose old lines are commented out and which are written again in our block.
    moved: BTreeSet<String>,
}

impl<'a> Plan<'a> {
    fn new(text: &'a Text<'a>) -> Self {
        Self {
            text,
            ops: vec![LineOp::Keep; text.count()],
            notes: BTreeMap::new(),
            replace: Vec::new(),
            moved: BTreeSet::new(),
        }
    }

    fn build(
        &mut self,
        file: &str,
        tree: &Tree,
        current: &Settings,
        intended: &BTreeMap<String, SettingValue>,
        region: Option<&settings::MarkedBlock>,
    ) -> Result<(), EditError> {
        // A file of comments only has no root, but may still hold a block to replace.
        let top: &[Entry] = match &tree.root {
            Some(Node {
                kind: NodeKind::Map(top),
                ..
            }) => top,
            _ => &[],
        };
        let unsupported = |key: &str, reason: &str| EditError::Unsupported {
            file: file.to_string(),
            key: key.to_string(),
            reason: reason.to_string(),
        };

        // The auto-configuration block goes as a whole; every entry must lie wholly in or out.
        let region_lines = region.map(|b| b.start_line - 1..b.end_line);
        let mut region_entries: BTreeSet<usize> = BTreeSet::new();
        if let Some(r) = &region_lines {
            for entry in top {
                let Some(lines) = self.text.exclusive_lines(entry) else {
                    let first = self.text.line_of(entry.key_start.byte);
                    if r.contains(&first) {
                        return Err(unsupported(
                            &entry.key,
                            "the auto-configuration block shares a line with other settings",
                        ));
                    }
                    continue;
                };
                let inside = r.contains(&lines.start) && r.contains(&(lines.end - 1));
                let outside = lines.end <= r.start || lines.start >= r.end;
                if inside {
                    region_entries.insert(entry.key_start.byte);
                } else if !outside {
                    return Err(unsupported(
                        &entry.key,
                        "a setting starts outside Elastic's auto-configuration block and ends inside it",
                    ));
                }
            }
            for i in r.clone() {
                if let Some(op) = self.ops.get_mut(i) {
                    *op = LineOp::Delete;
                }
            }
        }

        // Every entry outside the replaced block, parents before their children.
        let mut items: Vec<Item<'_>> = Vec::new();
        for entry in top {
            if !region_entries.contains(&entry.key_start.byte) {
                index_entries(self.text, entry, entry.key.clone(), None, &mut items);
            }
        }
        let n = items.len();
        let mut dead = vec![false; n];
        let mut relocate = vec![false; n];
        let mut inline: Vec<(usize, &SettingValue)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if !item.leaf {
                continue;
            }
            let was = current.value(&item.key);
            match intended.get(&item.key) {
                None => dead[i] = true,
                Some(v) if was.is_some_and(|w| w.same_as(v)) => {}
                Some(v) if item.entry.value.replaceable => inline.push((i, v)),
                Some(_) => {
                    dead[i] = true;
                    relocate[i] = true;
                }
            }
        }

        // Make the dead set consistent: an entry that shares its lines is replaced by its
        // nearest parent that does not, and a mapping whose children all die dies too
        // (otherwise `parent:` would be left with an empty, null value). Both rules only reach
        // upwards, so one pass from the last entry to the first settles them.
        for i in (0..n).rev() {
            let Some(item) = items.get(i) else {
                continue;
            };
            if !item.children.is_empty() && item.children.iter().all(|&c| dead[c]) {
                dead[i] = true;
            }
            if dead[i] && item.exclusive.is_none() {
                match item.parent {
                    Some(p) => dead[p] = true,
                    None => {
                        return Err(unsupported(
                            &item.key,
                            "the setting shares its line with others at the top level",
                        ));
                    }
                }
            }
        }

        // Every setting under a dead entry that must stay is written again in our block.
        let mut under_dead = vec![false; n];
        for (i, item) in items.iter().enumerate() {
            under_dead[i] = dead[i] || item.parent.is_some_and(|p| under_dead[p]);
            if item.leaf && under_dead[i] && intended.contains_key(&item.key) {
                relocate[i] = true;
            }
        }
        let mut moved_below = relocate.clone();
        for i in (0..n).rev() {
            if moved_below[i]
                && let Some(p) = items.get(i).and_then(|item| item.parent)
            {
                moved_below[p] = true;
            }
        }
        for (i, value) in inline {
            if relocate[i] {
                continue;
            }
            if let Some(item) = items.get(i) {
                let node = &item.entry.value;
                self.replace
                    .push((node.start.byte..node.end.byte, render(value)));
            }
        }

        // Comment out (or, inside our own block, delete) the dead entries' lines. Parents come
        // first, so a parent's note is the one written.
        for (i, item) in items.iter().enumerate() {
            if dead[i]
                && let Some(lines) = item.exclusive.clone()
            {
                self.kill(lines, moved_below[i]);
            }
        }
        self.moved = items
            .iter()
            .zip(&relocate)
            .filter(|(_, r)| **r)
            .map(|(item, _)| item.key.clone())
            .collect();
        Ok(())
    }

    fn kill(&mut self, lines: Range<usize>, moved: bool) {
        // `#` goes at the entry's own indentation, so the commented lines keep their shape.
        let (first_line, _) = self.text.line(lines.start);
        let indent = first_line.len() - first_line.trim_start().len();
        let mut noted = false;
        for i in lines {
            let (content, _) = self.text.line(i);
            let Some(op) = self.ops.get_mut(i) else {
                continue;
            };
            if *op != LineOp::Keep {
                continue;
            }
            let t = content.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let own = content.len() - t.len();
            let at = if content.get(..indent).is_some_and(|w| w.trim().is_empty()) {
                indent.min(own)
            } else {
                own
            };
            if settings::mentions_marker(content) {
                // Commented out, it would read as a block marker next time: drop it instead.
                *op = LineOp::Delete;
                continue;
            }
            if redact::line_holds_secret(content) {
                // A commented-out password is still a password in a group-readable file.
                *op = LineOp::Delete;
                continue;
            }
            *op = LineOp::Comment(at);
            if !noted {
                noted = true;
                let note = if moved { NOTE_MOVED } else { NOTE_REMOVED };
                self.notes
                    .entry(i)
                    .or_insert(format!("{}{note}", content.get(..at).unwrap_or("")));
            }
        }
    }

    /// The new text. `managed` is our existing block, `region` the auto-configuration block
    /// being replaced, `lines` the settings lines our block must gain.
    fn render(
        &mut self,
        managed: Option<&settings::MarkedBlock>,
        region: Option<&settings::MarkedBlock>,
        lines: &[String],
    ) -> String {
        let nl = self.text.nl;
        let mut block: Vec<String> = Vec::new();
        let mut insert_at: Option<usize> = None;
        if !lines.is_empty() {
            if let Some(m) =
                managed.filter(|m| region.is_none_or(|r| !r.contains_line(m.start_line)))
            {
                // New lines go just above our END marker.
                block = lines.to_vec();
                insert_at = Some(m.end_line - 1);
            } else {
                block.push(MANAGED_BEGIN.to_string());
                block.push(MANAGED_HELP.to_string());
                block.extend(lines.iter().cloned());
                block.push(MANAGED_END.to_string());
                insert_at = region.map(|r| r.start_line - 1);
            }
        }
        // Our own block's lines are ours to delete rather than comment out.
        if let Some(m) = managed {
            for i in m.start_line - 1..m.end_line {
                if let Some(op) = self.ops.get_mut(i)
                    && matches!(*op, LineOp::Comment(_))
                {
                    *op = LineOp::Delete;
                    self.notes.remove(&i);
                }
            }
        }

        self.replace
            .sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = String::with_capacity(self.text.body.len() + 256);
        for i in 0..self.text.count() {
            if insert_at == Some(i) {
                for l in &block {
                    out.push_str(l);
                    out.push_str(nl);
                }
            }
            let (content, ending) = self.text.line(i);
            match self.ops.get(i).copied().unwrap_or(LineOp::Keep) {
                LineOp::Delete => continue,
                LineOp::Comment(at) => {
                    if let Some(note) = self.notes.get(&i) {
                        out.push_str(note);
                        out.push_str(nl);
                    }
                    let (indent, rest) = match (content.get(..at), content.get(at..)) {
                        (Some(indent), Some(rest)) => (indent, rest),
                        _ => ("", content),
                    };
                    out.push_str(indent);
                    out.push('#');
                    out.push_str(rest);
                }
                LineOp::Keep => {
                    let start = self.text.starts.get(i).copied().unwrap_or(0);
                    let mut line = content.to_string();
                    for (range, new) in &self.replace {
                        let (Some(a), Some(b)) =
                            (range.start.checked_sub(start), range.end.checked_sub(start))
                        else {
                            continue;
                        };
                        if b <= line.len() && line.is_char_boundary(a) && line.is_char_boundary(b) {
                            line.replace_range(a..b, new);
                        }
                    }
                    out.push_str(&line);
                }
            }
            out.push_str(ending);
        }
        if !block.is_empty() && insert_at.is_none_or(|i| i >= self.text.count()) {
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push_str(nl);
                }
                // A blank line between the file's last setting and our block.
                let without_nl = out.strip_suffix('\n').unwrap_or(&out);
                let last_line = without_nl.rsplit('\n').next().unwrap_or("");
                if !last_line.trim().is_empty() {
                    out.push_str(nl);
                }
            }
            for l in &block {
                out.push_str(l);
                out.push_str(nl);
            }
        }
        // A file without a final newline keeps lacking one.
        if !self.text.body.is_empty()
            && !self.text.body.ends_with('\n')
            && let Some(stripped) = out.strip_suffix(nl)
        {
            out.truncate(stripped.len());
        }
        out
    }
}

fn collect_leaves<'t>(
    entries: &'t [Entry],
    prefix: &str,
    path: &mut Vec<&'t Entry>,
    out: &mut Vec<Leaf<'t>>,
) {
    for entry in entries {
        let key = if prefix.is_empty() {
            entry.key.clone()
        } else {
            format!("{prefix}.{}", entry.key)
        };
        path.push(entry);
        match &entry.value.kind {
            NodeKind::Map(children) => collect_leaves(children, &key, path, out),
            _ => out.push(Leaf {
                key,
                path: path.clone(),
            }),
        }
        path.pop();
    }
}

// ---------------------------------------------------------------------------------------------
// Writing values. Elasticsearch reads YAML with a YAML 1.1 reader, where `no`, `on`, `0755` and
// friends are not strings; anything that is not obviously a plain word or path is quoted.

/// A key for our block: plain when it is a dotted name, quoted otherwise.
fn render_key(key: &str) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::settings::{AUTOCONFIG_BEGIN, AUTOCONFIG_END};

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
