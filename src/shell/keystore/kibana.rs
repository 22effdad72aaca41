//! Native reader and writer for Kibana's `kibana.keystore`.
//!
//! Its job: turn the text of a Kibana keystore into named entries and back, in the format
//! Kibana's `src/cli/keystore/keystore.js` (`Keystore.encrypt`/`decrypt`, format `1`) reads.
//! It must not touch the file system, prompt, log, or print secret values (`Debug` shows
//! names only); callers own the path and mode (Kibana writes the file without a mode, so
//! the caller should set one).
//!
//! Format: `1:` + base64(salt 64 ‖ IV 12 ‖ GCM tag 16 ‖ ciphertext), AES-256-GCM without
//! additional data, key = PBKDF2-HMAC-SHA512(UTF-8 password, salt, 10 000 iterations, 32
//! bytes). The plaintext is `JSON.stringify` of a flat object; the default password is "".

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::es::{KeystoreError, derive_key, fill_random, gcm_decrypt, gcm_encrypt, rounds};
use std::num::NonZeroU32;

const KS: &str = "kibana.keystore";
const VERSION: &str = "1";
const ITERATIONS: NonZeroU32 = rounds(10_000);
const SALT_LEN: usize = 64;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Node's base64 decoder accepts missing padding, so ours does too.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn corrupt(detail: impl Into<String>) -> KeystoreError {
    KeystoreError::Corrupt {
        keystore: KS,
        detail: detail.into(),
    }
}

/// One value. Kibana's CLI stores strings, but the file is plain JSON, so a value of another
/// JSON type (written by hand or a future Kibana) is kept verbatim rather than dropped.
enum Value {
    Text(Zeroizing<String>),
    /// Serialized JSON of a non-string value.
    Json(Zeroizing<String>),
}

/// A decrypted `kibana.keystore`. Values are wiped from memory when replaced, removed or
/// dropped.
#[derive(Default)]
pub struct KibanaKeystore {
    entries: BTreeMap<String, Value>,
}

impl fmt::Debug for KibanaKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a Debug print must never leak a secret into logs.
        f.debug_struct("KibanaKeystore")
            .field("names", &self.names())
            .finish()
    }
}

impl KibanaKeystore {
    /// An empty keystore (what `kibana-keystore create` makes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Decrypts a keystore file's text. Decryption failure with the empty password is
    /// `PasswordRequired` (Kibana itself calls a keystore password-protected exactly when
    /// the empty password fails); with another password it is `WrongPassword`.
    pub fn parse(text: &str, password: &str) -> Result<Self, KeystoreError> {
        let text = text.trim();
        let (version, data) = text
            .split_once(':')
            .ok_or_else(|| KeystoreError::NotAKeystore {
                keystore: KS,
                detail: "no `<version>:` prefix".to_string(),
            })?;
        if version != VERSION {
            if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                return Err(KeystoreError::NotAKeystore {
                    keystore: KS,
                    detail: "the text before `:` is not a version number".to_string(),
                });
            }
            return Err(KeystoreError::FormatTooNew {
                keystore: KS,
                found: version.to_string(),
                max: 1,
            });
        }
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let raw = Zeroizing::new(
            B64.decode(compact.as_bytes())
                .map_err(|e| corrupt(format!("the data is not valid base64: {e}")))?,
        );
        if raw.len() < SALT_LEN + IV_LEN + TAG_LEN {
            return Err(corrupt(format!("the data is only {} bytes", raw.len())));
        }
        let salt = &raw[..SALT_LEN];
        let iv = &raw[SALT_LEN..SALT_LEN + IV_LEN];
        let tag = &raw[SALT_LEN + IV_LEN..SALT_LEN + IV_LEN + TAG_LEN];
        let ciphertext = &raw[SALT_LEN + IV_LEN + TAG_LEN..];
        // The file puts the tag before the ciphertext; AES-GCM wants it after.
        let mut sealed = Vec::with_capacity(ciphertext.len() + TAG_LEN);
        sealed.extend_from_slice(ciphertext);
        sealed.extend_from_slice(tag);
        let key = derive_key(password, salt, ITERATIONS, KEY_LEN);
        let plain = gcm_decrypt(&key, iv, &sealed, &[]).map_err(|()| {
            if password.is_empty() {
                KeystoreError::PasswordRequired { keystore: KS }
            } else {
                KeystoreError::WrongPassword { keystore: KS }
            }
        })?;
        let json: serde_json::Value = serde_json::from_slice(&plain)
            .map_err(|e| corrupt(format!("decrypted contents are not JSON: {e}")))?;
        let serde_json::Value::Object(map) = json else {
            return Err(corrupt("decrypted contents are not a JSON object"));
        };
        let mut entries = BTreeMap::new();
        for (name, value) in map {
            let value = match value {
                // Moving the String in means its buffer is the one wiped later.
                serde_json::Value::String(s) => Value::Text(Zeroizing::new(s)),
                other => Value::Json(Zeroizing::new(other.to_string())),
            };
            entries.insert(name, value);
        }
        Ok(Self { entries })
    }

    /// Encrypts the keystore with `password` ("" = Kibana's default) into the file's text
    /// (no trailing newline, like Kibana).
    pub fn to_string(&self, password: &str) -> anyhow::Result<String> {
        let mut json = Zeroizing::new(String::with_capacity(self.json_len_hint()));
        json.push('{');
        for (i, (name, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&serde_json::to_string(name)?);
            json.push(':');
            match value {
                Value::Text(s) => {
                    let quoted = Zeroizing::new(serde_json::to_string(s.as_str())?);
                    json.push_str(&quoted);
                }
                Value::Json(raw) => json.push_str(raw),
            }
        }
        json.push('}');

        let mut salt = [0u8; SALT_LEN];
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut salt)?;
        fill_random(&mut iv)?;
        let key = derive_key(password, &salt, ITERATIONS, KEY_LEN);
        let sealed = gcm_encrypt(&key, &iv, json.as_bytes(), &[])?;
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut raw = Vec::with_capacity(SALT_LEN + IV_LEN + sealed.len());
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(tag);
        raw.extend_from_slice(ciphertext);
        Ok(format!("{VERSION}:{}", B64.encode(&raw)))
    }

    /// Adds or replaces a string entry. Kibana accepts any key, so there is nothing to refuse.
    pub fn set(&mut self, name: &str, value: &str) {
        self.entries.insert(
            name.to_string(),
            Value::Text(Zeroizing::new(value.to_string())),
        );
    }

    /// Removes an entry; `true` if it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Entry names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// A string entry's value; `None` if absent or not a JSON string.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.entries.get(name)? {
            Value::Text(s) => Some(s.as_str()),
            Value::Json(_) => None,
        }
    }

    fn json_len_hint(&self) -> usize {
        // Generous, so the buffer holding secrets is not reallocated (leaving copies behind)
        // unless values need heavy escaping.
        2 + self
            .entries
            .iter()
            .map(|(k, v)| {
                let n = match v {
                    Value::Text(s) | Value::Json(s) => s.len(),
                };
                k.len() + 2 * n + 8
            })
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn round_trip_with_and_without_password() {
        for pw in ["", "kibana-pässword"] {
            let mut ks = KibanaKeystore::new();
            ks.set("elasticsearch.password", "p\"a\\ss\nwörd");
            ks.set("elasticsearch.username", "kibana_system");
            let text = ks.to_string(pw).unwrap();
            assert!(text.starts_with("1:"));
            let back = KibanaKeystore::parse(&text, pw).unwrap();
            assert_eq!(back.names(), ks.names());
            assert_eq!(back.get("elasticsearch.password"), Some("p\"a\\ss\nwörd"));
        }
    }

    #[test]
    fn non_string_values_survive() {
        let mut ks = KibanaKeystore::new();
        ks.entries.insert(
            "list".to_string(),
            Value::Json(Zeroizing::new("[1,\"a\"]".to_string())),
        );
        let mut back = KibanaKeystore::parse(&ks.to_string("").unwrap(), "").unwrap();
        assert_eq!(back.names(), vec!["list".to_string()]);
        assert_eq!(back.get("list"), None);
        assert!(back.remove("list"));
    }

    #[test]
    fn password_errors() {
        let mut ks = KibanaKeystore::new();
        ks.set("a", "b");
        let text = ks.to_string("right").unwrap();
        let err = KibanaKeystore::parse(&text, "").unwrap_err();
        assert!(
            matches!(err, KeystoreError::PasswordRequired { .. }),
            "{err}"
        );
        let err = KibanaKeystore::parse(&text, "wrong").unwrap_err();
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn corrupted_files() {
        let err = KibanaKeystore::parse("hello", "").unwrap_err();
        assert!(matches!(err, KeystoreError::NotAKeystore { .. }), "{err}");
        let err = KibanaKeystore::parse("2:AAAA", "").unwrap_err();
        assert!(matches!(err, KeystoreError::FormatTooNew { .. }), "{err}");
        let err = KibanaKeystore::parse("1:!!notbase64!!", "").unwrap_err();
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("kibana-keystore create"));
        let err = KibanaKeystore::parse("1:AAAA", "").unwrap_err();
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn trailing_newline_is_accepted() {
        let mut ks = KibanaKeystore::new();
        ks.set("a", "b");
        let text = format!("{}\n", ks.to_string("").unwrap());
        assert_eq!(
            KibanaKeystore::parse(&text, "").unwrap().get("a"),
            Some("b")
        );
    }

    #[test]
    fn debug_does_not_show_values() {
        let mut ks = KibanaKeystore::new();
        ks.set("elasticsearch.password", "topsecret");
        assert!(!format!("{ks:?}").contains("topsecret"));
    }
}
