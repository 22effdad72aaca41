//! Read `elasticsearch.yml` / `kibana.yml` text into effective dotted settings.
//!
//! Elasticsearch accepts both flat (`xpack.security.enabled: true`) and nested
//! (`xpack: {security: {enabled: true}}`) forms and refuses a setting given twice; this module
//! does the same and reports where. It must not write anything and must not guess: an
//! ambiguous file is an error naming the file, line and key.

use std::collections::BTreeMap;
use std::fmt;

use serde_saphyr::granit_parser::{
    Event, Marker, Options, Parser, ScalarStyle, Span, StrInput, StructureStyle,
};
use thiserror::Error;

pub(crate) use blocks::mentions_marker;
pub use blocks::{AUTOCONFIG_BEGIN, AUTOCONFIG_END, MANAGED_BEGIN, MANAGED_END, MarkedBlock};
use blocks::{AUTOCONFIG_MARKERS, MANAGED_MARKERS, find_block};

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
    parse_tree(file, text).map(|(parsed, _)| parsed)
}

// ---------------------------------------------------------------------------------------------
// The syntax tree with source positions. The editor needs to know exactly where each key and
// value is written, which a serde deserializer cannot tell it, so we walk the parser's events.

/// A position in the text given to [`parse_tree`] (after a leading BOM is removed).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct Pos {
    /// 1-based line.
    pub line: usize,
    /// Byte offset from the start of the text.
    pub byte: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    Scalar(SettingValue),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Where the node's text starts and ends (exclusive). For block collections this is from
    /// their first to the end of their last child, never the following token.
    pub start: Pos,
    pub end: Pos,
    /// Inside a flow collection (`[...]`, `{...}`), where more characters need quoting.
    pub in_flow: bool,
    /// The text at `start..end` can be replaced by a new rendering of the value: no anchor,
    /// tag or alias is involved and the value is on one line.
    pub replaceable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_start: Pos,
    pub value: Node,
}

/// The document's root node, if it has one.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tree {
    pub root: Option<Node>,
}

/// Aliases are expanded by copying; past this many nodes a file is refused so that a small
/// "billion laughs" file cannot exhaust memory.
const MAX_NODES: usize = 100_000;

/// Parse settings text into the effective settings and the positioned tree the editor uses.
pub(crate) fn parse_tree(file: &str, text: &str) -> Result<(ParsedFile, Tree), SettingsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_line_breaks(file, text)?;
    let mut reader = Reader {
        file,
        text,
        events: Parser::new_from_str_with_options(text, quiet_options()),
        anchors: BTreeMap::new(),
        nodes: 0,
    };
    let root = reader.document()?;
    let mut settings = Settings::default();
    if let Some(node) = &root {
        match &node.kind {
            NodeKind::Map(entries) => flatten_map(file, "", entries, &mut settings)?,
            NodeKind::Scalar(SettingValue::Null) => {}
            NodeKind::Scalar(v) => {
                return Err(SettingsError::NotAMapping {
                    file: file.to_string(),
                    found: format!("the value `{v}`"),
                });
            }
            NodeKind::Seq(_) => {
                return Err(SettingsError::NotAMapping {
                    file: file.to_string(),
                    found: "a list".to_string(),
                });
            }
        }
    }
    let autoconfig = find_block(text, &AUTOCONFIG_MARKERS, &settings);
    let managed = find_block(text, &MANAGED_MARKERS, &settings);
    Ok((
        ParsedFile {
            settings,
            autoconfig,
            managed,
        },
        Tree { root },
    ))
}

fn quiet_options() -> Options {
    let mut options = Options::default();
    // Comments are found by line scanning; as events they would only be skipped.
    options.set_emit_comments(false);
    options
}

/// YAML also breaks lines at a lone `\r`; line-based editing would then disagree with the
/// parser about line numbers. No real settings file has one, so refuse it.
fn check_line_breaks(file: &str, text: &str) -> Result<(), SettingsError> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            let before = &text[..i];
            let line = before.matches('\n').count() + 1;
            let column = before
                .rfind('\n')
                .map_or(before, |nl| &before[nl + 1..])
                .chars()
                .count()
                + 1;
            return Err(SettingsError::Syntax {
                file: file.to_string(),
                line,
                column,
                message: "carriage return without a line feed".to_string(),
            });
        }
    }
    Ok(())
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    events: Parser<'a, StrInput<'a>>,
    anchors: BTreeMap<usize, Node>,
    nodes: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<Option<(Event<'a>, Span)>, SettingsError> {
        match self.events.next_event() {
            None => Ok(None),
            Some(Ok(ev)) => Ok(Some(ev)),
            Some(Err(e)) => Err(SettingsError::Syntax {
                file: self.file.to_string(),
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info(),
            }),
        }
    }

    fn error_at(&self, pos: Pos, message: &str) -> SettingsError {
        let before = self.text.get(..pos.byte).unwrap_or("");
        let column = before
            .rfind('\n')
            .map_or(before, |nl| &before[nl + 1..])
            .chars()
            .count()
            + 1;
        SettingsError::Syntax {
            file: self.file.to_string(),
            line: pos.line,
            column,
            message: message.to_string(),
        }
    }

    fn pos(&self, m: &Marker) -> Pos {
        let byte = match m.byte_offset() {
            Some(b) => b,
            // Only inputs other than &str lack byte offsets; fall back to counting chars.
            None => self
                .text
                .char_indices()
                .nth(m.index())
                .map_or(self.text.len(), |(b, _)| b),
        };
        Pos {
            line: m.line(),
            byte,
        }
    }

    /// The single document of the stream, or `None` when there is none (empty or comments).
    fn document(&mut self) -> Result<Option<Node>, SettingsError> {
        let mut root = None;
        let mut seen_doc = false;
        while let Some((ev, span)) = self.next()? {
            match ev {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(..) => {
                    if seen_doc {
                        return Err(self.error_at(
                            self.pos(&span.start),
                            "more than one YAML document; a settings file holds one",
                        ));
                    }
                    seen_doc = true;
                }
                ev if ev.is_node() => {
                    root = Some(self.node(ev, &span, false)?);
                }
                _ => {}
            }
        }
        Ok(root)
    }

    fn count(&mut self, span: &Span) -> Result<(), SettingsError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error_at(
                self.pos(&span.start),
                "too many values (aliases expand to more than 100000)",
            ));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: &Span, in_flow: bool) -> Result<Node, SettingsError> {
        self.count(span)?;
        let start = self.pos(&span.start);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let end = self.pos(&span.end);
                let value = resolve_scalar(&text, style, tag.is_some());
                let node = Node {
                    kind: NodeKind::Scalar(value),
                    start,
                    end,
                    in_flow,
                    replaceable: anchor == 0
                        && tag.is_none()
                        && span.start.line() == span.end.line()
                        && end.byte > start.byte,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::Alias(id) => {
                let end = self.pos(&span.end);
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(self.error_at(start, "alias to an unknown anchor"));
                };
                let mut copy = target;
                let copied = count_nodes(&copy);
                self.nodes += copied;
                if self.nodes > MAX_NODES {
                    return Err(self.error_at(
                        start,
                        "too many values (aliases expand to more than 100000)",
                    ));
                }
                // The copy's positions must point at the alias, never at the anchor's lines,
                // or an edit of the copy would change the original.
                pin_to(&mut copy, start, end, in_flow);
                Ok(copy)
            }
            Event::SequenceStart(style, anchor, tag) => {
                let flow = in_flow || style == StructureStyle::Flow;
                let mut items = Vec::new();
                let mut end = start;
                loop {
                    let Some((ev, span)) = self.next()? else {
                        return Err(self.error_at(start, "unterminated list"));
                    };
                    match ev {
                        Event::SequenceEnd => {
                            if style == StructureStyle::Flow {
                                end = self.pos(&span.end);
                            }
                            break;
                        }
                        ev if ev.is_node() => {
                            let item = self.node(ev, &span, flow)?;
                            end = item.end;
                            items.push(item);
                        }
                        _ => {}
                    }
                }
                let single_line = self
                    .text
                    .get(start.byte..end.byte)
                    .is_some_and(|s| !s.contains('\n'));
                let node = Node {
                    kind: NodeKind::Seq(items),
                    start,
                    end,
                    in_flow,
                    replaceable: anchor == 0
                        && style == StructureStyle::Flow
                        && single_line
                        && tag.is_none(),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::MappingStart(style, anchor, _) => {
                let flow = in_flow || style == StructureStyle::Flow;
                let mut entries = Vec::new();
                let mut end = start;
                loop {
                    let Some((ev, span)) = self.next()? else {
                        return Err(self.error_at(start, "unterminated mapping"));
                    };
                    match ev {
                        Event::MappingEnd => {
                            if style == StructureStyle::Flow {
                                end = self.pos(&span.end);
                            }
                            break;
                        }
                        ev if ev.is_node() => {
                            let key_node = self.node(ev, &span, flow)?;
                            let key = match &key_node.kind {
                                NodeKind::Scalar(v) => v.as_plain(),
                                _ => {
                                    return Err(self.error_at(
                                        key_node.start,
                                        "a setting name must be a plain string, not a list or mapping",
                                    ));
                                }
                            };
                            let value = self.value_node(flow, key_node.end)?;
                            end = value.end.max_by_byte(key_node.end);
                            entries.push(Entry {
                                key,
                                key_start: key_node.start,
                                value,
                            });
                        }
                        _ => {}
                    }
                }
                let node = Node {
                    kind: NodeKind::Map(entries),
                    start,
                    end,
                    in_flow,
                    replaceable: false,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            _ => Err(self.error_at(start, "unexpected YAML event")),
        }
    }

    /// The value after a key; skips metadata events.
    fn value_node(&mut self, flow: bool, after: Pos) -> Result<Node, SettingsError> {
        loop {
            let Some((ev, span)) = self.next()? else {
                return Err(self.error_at(after, "a setting has no value"));
            };
            if ev.is_node() {
                return self.node(ev, &span, flow);
            }
        }
    }
}

impl Pos {
    fn max_by_byte(self, other: Self) -> Self {
        if other.byte > self.byte { other } else { self }
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Scalar(_) => 0,
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(entries) => entries.iter().map(|e| 1 + count_nodes(&e.value)).sum(),
    }
}

fn pin_to(node: &mut Node, start: Pos, end: Pos, in_flow: bool) {
    node.start = start;
    node.end = end;
    node.in_flow = in_flow;
    node.replaceable = false;
    match &mut node.kind {
        NodeKind::Scalar(_) => {}
        NodeKind::Seq(items) => items
            .iter_mut()
            .for_each(|n| pin_to(n, start, end, in_flow)),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|e| {
            e.key_start = start;
            pin_to(&mut e.value, start, end, in_flow);
        }),
    }
}

/// The YAML 1.2 core schema, which is what the parser implements. Plain scalars keep their
/// text; only the kind is decided here.
fn resolve_scalar(text: &str, style: ScalarStyle, tagged: bool) -> SettingValue {
    if style != ScalarStyle::Plain || tagged {
        return SettingValue::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => SettingValue::Null,
        "true" | "True" | "TRUE" => SettingValue::Bool(true),
        "false" | "False" | "FALSE" => SettingValue::Bool(false),
        t if is_core_number(t) => SettingValue::Number(t.to_string()),
        t => SettingValue::String(t.to_string()),
    }
}

/// Whether a plain scalar is a number in the YAML 1.2 core schema.
pub(crate) fn is_core_number(t: &str) -> bool {
    let digits = |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(ok);
    if let Some(hex) = t.strip_prefix("0x") {
        return digits(hex, |c| c.is_ascii_hexdigit());
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return digits(oct, |c| ('0'..='7').contains(&c));
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(t, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // [0-9]+ | [0-9]*\.[0-9]* with at least one digit, then an optional exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let is_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = is_digits(int)
        && frac.is_none_or(is_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && is_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Turn the mapping tree into dotted settings, refusing what Elasticsearch refuses: the same
/// key twice in one mapping, or one setting reached twice (flat and nested).
fn flatten_map(
    file: &str,
    prefix: &str,
    entries: &[Entry],
    out: &mut Settings,
) -> Result<(), SettingsError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in entries {
        let key = if prefix.is_empty() {
            entry.key.clone()
        } else {
            format!("{prefix}.{}", entry.key)
        };
        if let Some(first) = seen.insert(&entry.key, entry.key_start.line) {
            return Err(SettingsError::Duplicate {
                file: file.to_string(),
                key,
                first_line: first,
                second_line: entry.key_start.line,
            });
        }
        match &entry.value.kind {
            NodeKind::Map(children) => flatten_map(file, &key, children, out)?,
            _ => {
                let value = to_value(file, &entry.value)?;
                if let Some(first) = out.get(&key) {
                    return Err(SettingsError::Duplicate {
                        file: file.to_string(),
                        key,
                        first_line: first.line,
                        second_line: entry.key_start.line,
                    });
                }
                let form = if prefix.is_empty() {
                    KeyForm::Flat
                } else {
                    KeyForm::Nested
                };
                out.insert(
                    key,
                    Setting {
                        value,
                        line: entry.key_start.line,
                        form,
                    },
                );
            }
        }
    }
    Ok(())
}

fn to_value(file: &str, node: &Node) -> Result<SettingValue, SettingsError> {
    match &node.kind {
        NodeKind::Scalar(v) => Ok(v.clone()),
        NodeKind::Seq(items) => items
            .iter()
            .map(|item| match &item.kind {
                NodeKind::Map(_) => Err(SettingsError::Syntax {
                    file: file.to_string(),
                    line: item.start.line,
                    column: 0,
                    message: "a list of settings may only hold values, not mappings".to_string(),
                }),
                _ => to_value(file, item),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(SettingValue::List),
        NodeKind::Map(_) => Ok(SettingValue::Null),
    }
}

mod blocks;
#[cfg(test)]
mod tests;
