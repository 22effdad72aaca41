//! The marked blocks of a settings file: Elastic's security auto-configuration block and
//! es-secure's own managed block, found by their marker comments, with the keys written inside.
//! It reads text only; it must not decide what to do with a block (that is the editor's job).

use super::Settings;

/// The first line of our own managed block. Matched by its text, so keep it stable.
pub const MANAGED_BEGIN: &str = "# ---------- BEGIN es-secure managed settings ----------";
/// The last line of our own managed block.
pub const MANAGED_END: &str = "# ---------- END es-secure managed settings ----------";
/// Elastic's GA marker that opens its security auto-configuration block.
pub const AUTOCONFIG_BEGIN: &str =
    "#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------";
/// Elastic's GA marker that closes its security auto-configuration block.
pub const AUTOCONFIG_END: &str =
    "#----------------------- END SECURITY AUTO CONFIGURATION -------------------------";

/// Marker texts we look for inside comment lines. Elastic's pre-GA builds used a different
/// wording, and a block written by them must still be recognised.
pub(super) const AUTOCONFIG_MARKERS: [(&str, &str); 2] = [
    (
        "BEGIN SECURITY AUTO CONFIGURATION",
        "END SECURITY AUTO CONFIGURATION",
    ),
    (
        "Security auto configuration start",
        "Security auto configuration end",
    ),
];
pub(super) const MANAGED_MARKERS: [(&str, &str); 1] = [(
    "BEGIN es-secure managed settings",
    "END es-secure managed settings",
)];

/// Whether a line holds the text of one of the block markers. Such a line must never become a
/// comment, or it would start or end a block on the next read.
pub(crate) fn mentions_marker(line: &str) -> bool {
    AUTOCONFIG_MARKERS
        .iter()
        .chain(MANAGED_MARKERS.iter())
        .any(|(begin, end)| line.contains(begin) || line.contains(end))
}

/// A block of lines between two marker comments.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MarkedBlock {
    /// 1-based line of the BEGIN marker.
    pub start_line: usize,
    /// 1-based line of the END marker.
    pub end_line: usize,
    /// Effective settings whose key is written inside the block, in key order.
    pub keys: Vec<String>,
}

impl MarkedBlock {
    /// Whether a 1-based line lies between the markers (inclusive).
    pub fn contains_line(&self, line: usize) -> bool {
        (self.start_line..=self.end_line).contains(&line)
    }
}

/// The first block between one of `markers`' BEGIN and its END comment, with the keys of
/// `settings` written inside it.
pub(super) fn find_block(
    text: &str,
    markers: &[(&str, &str)],
    settings: &Settings,
) -> Option<MarkedBlock> {
    let mut start = None;
    for (i, line) in text.split('\n').enumerate() {
        let t = line.trim_start();
        if !t.starts_with('#') {
            continue;
        }
        match start {
            None => {
                if markers.iter().any(|(begin, _)| t.contains(begin)) {
                    start = Some((i + 1, markers.iter().position(|(b, _)| t.contains(b))));
                }
            }
            Some((s, which)) => {
                let end = which.and_then(|w| markers.get(w)).map(|(_, e)| *e);
                if end.is_some_and(|e| t.contains(e)) {
                    let mut block = MarkedBlock {
                        start_line: s,
                        end_line: i + 1,
                        keys: Vec::new(),
                    };
                    block.keys = settings
                        .iter()
                        .filter(|(_, s)| block.contains_line(s.line))
                        .map(|(k, _)| k.clone())
                        .collect();
                    return Some(block);
                }
            }
        }
    }
    None
}
