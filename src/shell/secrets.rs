//! Secrets at the last moment: resolve `env:`/`file:` references, generate passwords and keys
//! from the OS random source, read back the passwords file an apply wrote, and tell whether a
//! stored hash still matches what the answers ask for. Values live in `Zeroizing` buffers and never reach logs or error messages: errors
//! name the reference (`env:ES_PW`), never the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use crate::domain::answers::{Answers, MIN_PASSWORD_LEN, SecretRef};
use crate::shell::state::State;

/// Characters for generated passwords: letters and digits only, so the password needs no
/// quoting in YAML, shells, curl or Kibana's keystore CLI.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string of `len` characters from [`ALPHABET`], without modulo bias.
pub fn random_string(len: usize) -> anyhow::Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(&mut buf[..]).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        for &b in buf.iter() {
            // 248 = 4 * 62: values at or above it would bias the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Resolve a reference to its value. `Generate` makes a new password.
pub fn resolve(key: &str, secret: &SecretRef) -> anyhow::Result<Zeroizing<String>> {
    let value = match secret {
        SecretRef::Generate => {
            return random_string(crate::domain::answers::GENERATED_PASSWORD_LEN);
        }
        SecretRef::Keep => bail!("`{key}`: `keep` has no value to resolve"),
        SecretRef::Env(name) => match std::env::var(name) {
            Ok(v) => Zeroizing::new(v),
            Err(_) => bail!(
                "`{key}` is `env:{name}`, but the environment variable {name} is not set\nhelp: export {name} before running es-secure (nothing was changed)"
            ),
        },
        SecretRef::File(path) => {
            let text = crate::shell::safe_fs::read_input_text(
                path,
                crate::shell::safe_fs::SMALL_CAP,
                "secrets",
            )
            .map(Zeroizing::new)
            .with_context(|| {
                format!(
                    "`{key}` is `file:{}`, which cannot be read\nhelp: create it (mode 0600) with the password on the first line (nothing was changed)",
                    path.display()
                )
            })?;
            let first = text.lines().next().unwrap_or_default().to_string();
            Zeroizing::new(first)
        }
    };
    if value.chars().count() < MIN_PASSWORD_LEN {
        bail!(
            "`{key}` ({secret}) holds a password shorter than {MIN_PASSWORD_LEN} characters\nhelp: use a longer password, or `generate` (nothing was changed)"
        );
    }
    if value.chars().any(char::is_control) {
        bail!("`{key}` ({secret}) holds a control character; use printable characters only");
    }
    Ok(value)
}

/// For each built-in user in the answers: whether es-secure already set the password the
/// answers ask for. `generate` counts as current once any generated password was set (a
/// re-run must not rotate it); `env:`/`file:` count as current when the value matches the
/// stored hash. A reference that cannot be read is "not current" (apply will then say why).
pub fn passwords_current(answers: &Answers, state: &State) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for (user, secret) in &answers.passwords.users {
        let current = match (secret, state.passwords.get(user)) {
            (SecretRef::Keep, _) => true,
            (_, None) => false,
            (SecretRef::Generate, Some(rec)) => rec.source == "generate",
            (SecretRef::Env(_) | SecretRef::File(_), Some(rec)) => {
                match resolve(&format!("passwords.{user}"), secret) {
                    Ok(value) => bcrypt::verify(value.as_bytes(), &rec.hash).unwrap_or(false),
                    Err(_) => false,
                }
            }
        };
        out.insert(user.clone(), current);
    }
    out
}

/// The passwords file es-secure writes: the answers' `passwords.output_file`, else
/// `passwords.txt` in the state directory.
pub fn passwords_file_path(answers: Option<&Answers>, state_dir: &Path) -> PathBuf {
    answers
        .and_then(|a| a.passwords.output_file.clone())
        .unwrap_or_else(|| state_dir.join("passwords.txt"))
}

/// The passwords file is a few lines; anything bigger is not one es-secure wrote.
const PASSWORDS_FILE_CAP: u64 = 64 * 1024;

/// The `user: password` lines of the passwords file an apply wrote (see
/// [`passwords_file_path`]), comments skipped; empty when there is none or it cannot be read.
/// Read through the trust rule: a planted symlink is refused, not followed.
pub fn read_passwords_file(
    answers: Option<&Answers>,
    state_dir: &Path,
) -> Vec<(String, Zeroizing<String>)> {
    let path = passwords_file_path(answers, state_dir);
    let Ok(text) = crate::shell::safe_fs::read_file_text(&path, PASSWORDS_FILE_CAP) else {
        return Vec::new();
    };
    let text = Zeroizing::new(text);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (u, p) = l.split_once(": ")?;
            Some((u.to_string(), Zeroizing::new(p.to_string())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_are_long_and_distinct() {
        let a = random_string(24).unwrap();
        let b = random_string(24).unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(*a, *b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn missing_env_names_the_variable_not_a_value() {
        let e = resolve(
            "passwords.elastic",
            &SecretRef::Env("ES_SECURE_NOPE_XYZ".into()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ES_SECURE_NOPE_XYZ is not set"), "{e}");
    }

    #[test]
    fn short_file_password_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "short\n").unwrap();
        let e = format!(
            "{:#}",
            resolve("passwords.elastic", &SecretRef::File(p)).unwrap_err()
        );
        assert!(e.contains("shorter than 12"), "{e}");
        assert!(!e.contains("short\n"), "{e}");
    }
}
