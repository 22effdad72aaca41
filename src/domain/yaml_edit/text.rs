//! The lines of a settings file: where each starts, the file's own newline, and which lines
//! an entry alone occupies. It must not change the text.

use std::ops::Range;

use crate::domain::settings::{Entry, Node, NodeKind};

pub(super) struct Text<'a> {
    pub(super) body: &'a str,
    /// Byte offset where each line starts.
    pub(super) starts: Vec<usize>,
    /// The newline to use for lines we add: the file's own.
    pub(super) nl: &'static str,
}

impl<'a> Text<'a> {
    pub(super) fn new(body: &'a str) -> Self {
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

    pub(super) fn count(&self) -> usize {
        if self.body.is_empty() {
            0
        } else {
            self.starts.len()
        }
    }

    /// 0-based index of the line holding byte `b`.
    pub(super) fn line_of(&self, b: usize) -> usize {
        self.starts.partition_point(|&s| s <= b).saturating_sub(1)
    }

    /// The line's text without its line ending, and the ending.
    pub(super) fn line(&self, i: usize) -> (&'a str, &'a str) {
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
    pub(super) fn content_end(&self, i: usize) -> usize {
        let start = self.starts.get(i).copied().unwrap_or(self.body.len());
        start + self.line(i).0.len()
    }

    /// The 0-based lines an entry occupies, when nothing else shares them: its key starts its
    /// line and its value ends its line (a trailing comment is fine).
    pub(super) fn exclusive_lines(&self, entry: &Entry) -> Option<Range<usize>> {
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
pub(super) fn node_end(node: &Node) -> usize {
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
