//! The plan of an edit: what happens to each line (kept, commented out, deleted), the in-line
//! replacements and the notes, and the text it renders to. It must not decide what the file
//! should say (that is `apply_edits`) and must not touch the file system.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::domain::redact;
use crate::domain::settings::{
    self, Entry, MANAGED_BEGIN, MANAGED_END, Node, NodeKind, SettingValue, Settings, Tree,
};

use super::render::render;
use super::text::Text;
use super::{EditError, MANAGED_HELP, NOTE_MOVED, NOTE_REMOVED};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum LineOp {
    Keep,
    /// Comment out, putting `#` after this many bytes of the line's indentation.
    Comment(usize),
    Delete,
}

/// One leaf setting and the chain of entries (outermost first) that spell its key.
pub(super) struct Leaf<'t> {
    pub(super) key: String,
    pub(super) path: Vec<&'t Entry>,
}

/// One mapping entry in document order, with what the plan needs to know about it.
pub(super) struct Item<'t> {
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

pub(super) fn index_entries<'t>(
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

pub(super) struct Plan<'a> {
    text: &'a Text<'a>,
    ops: Vec<LineOp>,
    /// Note lines to write above a line.
    notes: BTreeMap<usize, String>,
    /// In-line replacements: absolute byte range and new text.
    replace: Vec<(Range<usize>, String)>,
    /// Settings whose old lines are commented out and which are written again in our block.
    pub(super) moved: BTreeSet<String>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(text: &'a Text<'a>) -> Self {
        Self {
            text,
            ops: vec![LineOp::Keep; text.count()],
            notes: BTreeMap::new(),
            replace: Vec::new(),
            moved: BTreeSet::new(),
        }
    }

    pub(super) fn build(
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

    pub(super) fn kill(&mut self, lines: Range<usize>, moved: bool) {
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
    pub(super) fn render(
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

pub(super) fn collect_leaves<'t>(
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
