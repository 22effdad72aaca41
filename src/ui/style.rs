//! Colour for the command-line output: PASS/FAIL labels and plan diffs. It only adds ANSI
//! styles to text; whether they reach the terminal is decided where the text is written
//! (through `anstream`, which drops them for NO_COLOR, `CLICOLOR=0` and non-terminals).
//! It must NOT decide what is printed or write anything itself.

use anstyle::{AnsiColor, Style};

const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const PASS: Style = AnsiColor::Green.on_default().bold();
const FAIL: Style = AnsiColor::Red.on_default().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// `PASS` in green or `FAIL` in red.
pub fn pass_fail(ok: bool) -> String {
    if ok {
        paint(PASS, "PASS")
    } else {
        paint(FAIL, "FAIL")
    }
}

/// The plan text with the lines of its unified diffs coloured: added green, removed red,
/// hunk headers cyan. Other lines (steps, notes, file headers) are left as they are.
pub fn plan(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let style = if body.starts_with("+++") || body.starts_with("---") {
            None
        } else if body.starts_with('+') {
            Some(ADDED)
        } else if body.starts_with('-') {
            Some(REMOVED)
        } else if body.starts_with("@@") {
            Some(HUNK)
        } else {
            None
        };
        match style {
            Some(s) => {
                out.push_str(&paint(s, body));
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_coloured_and_nothing_else_changes() {
        let text =
            "Plan: tier none -> https (3 steps)\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n ctx\n";
        let painted = plan(text);
        assert!(painted.contains("\u{1b}[32m+new\u{1b}[0m\n"), "{painted:?}");
        assert!(painted.contains("\u{1b}[31m-old\u{1b}[0m\n"), "{painted:?}");
        assert!(painted.contains("--- a/x\n+++ b/x\n"), "{painted:?}");
        // Stripping the styles gives back the text byte for byte.
        assert_eq!(anstream::adapter::strip_str(&painted).to_string(), text);
    }

    #[test]
    fn pass_and_fail_keep_their_words() {
        assert_eq!(
            anstream::adapter::strip_str(&pass_fail(true)).to_string(),
            "PASS"
        );
        assert_eq!(
            anstream::adapter::strip_str(&pass_fail(false)).to_string(),
            "FAIL"
        );
    }
}
