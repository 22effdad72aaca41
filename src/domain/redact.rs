//! Which settings hold secrets, and masking their values in settings-file text.
//!
//! Every place that shows a settings file to a person or a log — unified diffs, `plan --json`,
//! `Debug` of the plan and the facts — passes the text through [`mask_settings_text`] first, so
//! a plaintext password found in a file is shown as `***`. Pure text in, text out; it must not
//! be used to produce text that is written back to a file.

/// What a masked value is shown as.
pub const MASK: &str = "***";

/// Whether a setting (dotted key, or just its last part) holds a secret: passwords,
/// passphrases, tokens and encryption keys.
pub fn is_secret_key(key: &str) -> bool {
    let last = key
        .rsplit('.')
        .next()
        .unwrap_or(key)
        .trim()
        .trim_matches(['"', '\''])
        .to_ascii_lowercase();
    ["password", "passphrase", "token", "encryptionkey", "secret"]
        .iter()
        .any(|w| last.contains(w))
}

/// `text` with the value of every secret setting replaced by [`MASK`], line by line, commented
/// lines included (an old `#password: x` is as secret as a live one). Line endings and
/// everything else stay as they are.
pub fn mask_settings_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, ending) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        out.push_str(&mask_line(body));
        out.push_str(ending);
    }
    out
}

/// Whether this line of a settings file sets a secret (`password: x`, `#password: x`,
/// `- token: x`), so that removing it must delete it rather than comment it out.
pub fn line_holds_secret(line: &str) -> bool {
    mask_line(line) != line
}

/// One line: `[indent][# ][- ]key: value` with a secret key keeps everything up to the value.
fn mask_line(line: &str) -> String {
    let mut start = 0;
    let bytes = line.as_bytes();
    // Skip indentation, comment markers and a list dash to reach the key.
    while start < bytes.len() && matches!(bytes[start], b' ' | b'\t' | b'#' | b'-') {
        start += 1;
    }
    let rest = &line[start..];
    let Some(colon) = find_key_colon(rest) else {
        return mask_flow(line);
    };
    let key = &rest[..colon];
    let after = &rest[colon + 1..];
    if !is_secret_key(key) || after.trim().is_empty() {
        return mask_flow(line);
    }
    let ws = after.len() - after.trim_start().len();
    format!("{}{}{MASK}", &line[..start + colon + 1], &after[..ws])
}

/// The colon ending a plain or quoted key, or `None` when the line is no `key: value`.
fn find_key_colon(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if i == 0 => quote = Some(c),
            (None, ':') => {
                let next = s[i + 1..].chars().next();
                return (next.is_none() || next.is_some_and(char::is_whitespace)).then_some(i);
            }
            (None, '{' | '[' | '#') => return None,
            _ => {}
        }
    }
    None
}

/// Secret keys inside a flow mapping on one line (`elasticsearch: {password: x}`).
fn mask_flow(line: &str) -> String {
    if !line.contains('{') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find(['{', ',']) {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let seg_end = rest.find([',', '}']).unwrap_or(rest.len());
        let seg = &rest[..seg_end];
        match seg.find(':') {
            Some(c) if is_secret_key(seg[..c].trim()) && !seg[c + 1..].trim().is_empty() => {
                let ws = seg[c + 1..].len() - seg[c + 1..].trim_start().len();
                out.push_str(&seg[..=c]);
                out.push_str(&seg[c + 1..c + 1 + ws]);
                out.push_str(MASK);
            }
            _ => out.push_str(seg),
        }
        rest = &rest[seg_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "elasticsearch.password",
            "elasticsearch.serviceAccountToken",
            "xpack.security.http.ssl.keystore.password",
            "xpack.security.transport.ssl.truststore.password",
            "xpack.security.http.ssl.key_passphrase",
            "xpack.security.encryptionKey",
            "password",
            "\"password\"",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "elasticsearch.username",
            "xpack.security.authc.password_hashing.algorithm",
            "xpack.security.authc.token.enabled",
            "server.ssl.key",
            "elasticsearch.hosts",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn values_are_masked_keys_and_layout_kept() {
        let text = "elasticsearch:\r\n  username: elastic\r\n  password: \"changeme\"\r\n#password: old # note\r\nxpack.security.http.ssl.keystore.password: hunter2\nkibana: {password: s3cret, username: x}\n- token: abc\nelasticsearch.password:\n";
        let masked = mask_settings_text(text);
        assert_eq!(
            masked,
            "elasticsearch:\r\n  username: elastic\r\n  password: ***\r\n#password: ***\r\nxpack.security.http.ssl.keystore.password: ***\nkibana: {password: ***, username: x}\n- token: ***\nelasticsearch.password:\n"
        );
        for secret in ["changeme", "old", "hunter2", "s3cret", "abc"] {
            assert!(!masked.contains(secret), "{secret}");
        }
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let text = "network.host: 10.0.0.1\nurl: \"http://a:9200\"\n# a comment: here\n";
        assert_eq!(mask_settings_text(text), text);
    }
}
