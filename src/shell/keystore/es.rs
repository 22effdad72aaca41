//! Native reader and writer for Elasticsearch's `config/elasticsearch.keystore`.
//!
//! Its job: turn the bytes of a keystore file into named secret entries and back, in the
//! exact on-disk format that `KeyStoreWrapper` (and so `bin/elasticsearch-keystore` and the
//! node at start-up) reads, for formats 3–7. It must not touch the file system, prompt, log,
//! or print secret values (`Debug` shows names only); callers own paths, owners and modes.
//!
//! File layout (from `server/.../common/settings/KeyStoreWrapper.java`, checked against the
//! real tool of 8.13.4, 8.19.21 and 9.5.4):
//! - Lucene `CodecUtil` header: big-endian magic `0x3FD76C17`, codec name
//!   `elasticsearch.keystore` as VInt length + UTF-8, big-endian format version.
//! - 1 byte `hasPassword` (0 or 1).
//! - int data length, then the data block: int salt length + salt (64), int IV length + IV
//!   (12), int ciphertext length + ciphertext (GCM tag appended). These ints are big-endian
//!   for formats 3–4 and little-endian from format 5 (Lucene 9 made `DataOutput` LE).
//! - Lucene footer: big-endian `!magic`, big-endian 0, big-endian u64 CRC32 of all bytes
//!   before the checksum.
//!
//! Crypto: key = PBKDF2-HMAC-SHA512(UTF-8 password, salt) with 10 000 iterations for
//! formats ≤5 and 210 000 from format 6; AES-128-GCM for formats ≤6 and AES-256-GCM from
//! format 7; the salt is the GCM additional data. The plaintext is Java `DataOutputStream`
//! (always big-endian): int count, then per entry `writeUTF(name)` (format 3 adds a type
//! string), int length, value bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

/// Oldest format this module reads (ES 6.3). ES 8/9 read formats 3–7 as well.
pub const MIN_FORMAT: u32 = 3;
/// Newest format this module knows (ES 8.18+ and 9.x write it).
pub const MAX_FORMAT: u32 = 7;
/// Oldest format this module writes. Format 3 carried a per-entry type string whose meaning
/// for file entries we have not verified, so a format-3 keystore is re-saved as format 4
/// (readable by ES 6.8 and later, which is every version this tool supports).
pub const MIN_WRITE_FORMAT: u32 = 4;

/// The codec name in the Lucene header; also the file name.
const CODEC_NAME: &[u8] = b"elasticsearch.keystore";
const CODEC_MAGIC: u32 = 0x3FD7_6C17;
const FOOTER_MAGIC: u32 = !CODEC_MAGIC;
const FOOTER_LEN: usize = 16;
/// Format 5 switched the Lucene directory API, and so our length ints, to little-endian.
const LE_FORMAT: u32 = 5;
/// Format 6 raised the PBKDF2 iteration count.
const HIGH_KDF_FORMAT: u32 = 6;
/// Format 7 moved from AES-128 to AES-256.
const AES256_FORMAT: u32 = 7;
const SALT_LEN: usize = 64;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// `KeyStoreWrapper.MAX_PASSPHRASE_LENGTH`; the CLI refuses longer passwords, so a longer one
/// here would produce a keystore the admin could never type in.
const MAX_PASSPHRASE_CHARS: usize = 128;
/// Characters and length ES uses for the `keystore.seed` entry it adds to every keystore.
const SEED_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~!@#$%^&*-_=+?";
const SEED_LEN: usize = 20;
pub const SEED_SETTING: &str = "keystore.seed";

/// Why a keystore could not be read or changed. Callers branch on the variant (for example
/// `PasswordRequired` → ask for a password); the messages say what is wrong and what to do.
/// They never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error(
        "{keystore} is not a keystore file ({detail}); restore it from a backup, or move it away and recreate it with `{tool} create`",
        tool = tool_for(keystore)
    )]
    NotAKeystore {
        keystore: &'static str,
        detail: String,
    },
    #[error(
        "{keystore} uses format {found}, older than the oldest this tool reads ({min}); run `{tool} upgrade` with the installed version first",
        tool = tool_for(keystore)
    )]
    FormatTooOld {
        keystore: &'static str,
        found: u32,
        min: u32,
    },
    #[error(
        "{keystore} uses format {found}, newer than this tool understands (up to {max}); it was written by a newer release — update es-secure, or manage it with that release's `{tool}`",
        tool = tool_for(keystore)
    )]
    FormatTooNew {
        keystore: &'static str,
        found: String,
        max: u32,
    },
    #[error(
        "elasticsearch.keystore checksum mismatch (stored {stored:#x}, computed {computed:#010x}): the file is damaged or truncated; restore it from a backup, or recreate it with `elasticsearch-keystore create` and re-add its entries"
    )]
    ChecksumMismatch { stored: u64, computed: u32 },
    #[error(
        "{keystore} is corrupted ({detail}); restore it from a backup, or recreate it with `{tool} create` and re-add its entries",
        tool = tool_for(keystore)
    )]
    Corrupt {
        keystore: &'static str,
        detail: String,
    },
    #[error(
        "{keystore} is password-protected (or cannot be decrypted with the empty password); give its password to read or change it"
    )]
    PasswordRequired { keystore: &'static str },
    #[error(
        "wrong password for {keystore}: decryption failed; check the password (if it is right, the encrypted data was altered — restore the file from a backup)"
    )]
    WrongPassword { keystore: &'static str },
    #[error(
        "invalid keystore setting name `{name}`: Elasticsearch allows only letters, digits, `_`, `-` and `.`"
    )]
    InvalidName { name: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

fn tool_for(keystore: &str) -> &'static str {
    if keystore.starts_with("kibana") {
        "bin/kibana-keystore"
    } else {
        "bin/elasticsearch-keystore"
    }
}

const KS: &str = "elasticsearch.keystore";

fn corrupt(detail: impl Into<String>) -> KeystoreError {
    KeystoreError::Corrupt {
        keystore: KS,
        detail: detail.into(),
    }
}

/// The keystore format Elasticsearch `major.minor` itself writes, so a keystore we create
/// is one that version (and any later one) reads without re-saving it at start-up.
/// 6.8–7.x → 4, 8.0–8.13 → 5, 8.14–8.17 → 6, 8.18+ and 9.x → 7. Releases before 6.8 get 4
/// too (see [`MIN_WRITE_FORMAT`]), which they cannot read; this tool does not support them.
pub fn format_for_version(major: u32, minor: u32) -> u32 {
    match (major, minor) {
        (0..=7, _) => 4,
        (8, 0..=13) => 5,
        (8, 14..=17) => 6,
        _ => 7,
    }
}

/// What the unencrypted part of a keystore says, read without deriving any key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EsKeystoreHeader {
    pub format: u32,
    pub has_password: bool,
}

/// A decrypted `elasticsearch.keystore`: its format version and its entries. Values are
/// wiped from memory when replaced, removed or dropped.
pub struct EsKeystore {
    format: u32,
    entries: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for EsKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a Debug print must never leak a secret into logs.
        f.debug_struct("EsKeystore")
            .field("format", &self.format)
            .field("names", &self.names())
            .finish()
    }
}

impl EsKeystore {
    /// A new keystore in `format` holding a fresh random `keystore.seed`, as
    /// `elasticsearch-keystore create` makes it (a keystore without a seed is re-saved by the
    /// node at start-up, which needs write access to the config directory).
    pub fn new(format: u32) -> anyhow::Result<Self> {
        if !(MIN_WRITE_FORMAT..=MAX_FORMAT).contains(&format) {
            anyhow::bail!(
                "cannot create an elasticsearch.keystore in format {format}: this tool writes formats {MIN_WRITE_FORMAT}–{MAX_FORMAT}"
            );
        }
        let mut ks = Self {
            format,
            entries: BTreeMap::new(),
        };
        ks.entries
            .insert(SEED_SETTING.to_string(), Zeroizing::new(random_seed()?));
        Ok(ks)
    }

    /// Reads the header and footer only: format and whether a password is needed. Checks
    /// the magic, codec name, checksum and format range, so a file that passes is one
    /// [`EsKeystore::parse`] can at least try to decrypt.
    pub fn peek(bytes: &[u8]) -> Result<EsKeystoreHeader, KeystoreError> {
        let parsed = Envelope::read(bytes)?;
        Ok(EsKeystoreHeader {
            format: parsed.format,
            has_password: parsed.has_password,
        })
    }

    /// Decrypts a keystore file. A keystore written without a password is decrypted with the
    /// empty password whatever `password` is (that is what its `hasPassword` byte says).
    pub fn parse(bytes: &[u8], password: &str) -> Result<Self, KeystoreError> {
        let env = Envelope::read(bytes)?;
        let password = if env.has_password {
            if password.is_empty() {
                return Err(KeystoreError::PasswordRequired { keystore: KS });
            }
            password
        } else {
            ""
        };
        let mut data = Reader::new(env.data, env.format >= LE_FORMAT);
        let salt = data.bytes_with_len("salt")?;
        let iv = data.bytes_with_len("IV")?;
        let ciphertext = data.bytes_with_len("encrypted data")?;
        if !data.at_end() {
            return Err(corrupt("trailing bytes after the encrypted data"));
        }
        if salt.is_empty() {
            return Err(corrupt("empty salt"));
        }
        // ES always writes a 96-bit IV; our AES-GCM only takes that size.
        if iv.len() != IV_LEN {
            return Err(corrupt(format!(
                "IV is {} bytes, expected {IV_LEN}",
                iv.len()
            )));
        }
        if ciphertext.len() < TAG_LEN {
            return Err(corrupt(
                "encrypted data shorter than its authentication tag",
            ));
        }
        let plain = decrypt(env.format, password, salt, iv, ciphertext).map_err(|()| {
            if env.has_password {
                KeystoreError::WrongPassword { keystore: KS }
            } else {
                // The checksum matched, so this is not random damage: the data was written
                // with a password but marked as having none, or was altered on purpose.
                corrupt("the encrypted data does not decrypt with the empty password its header promises")
            }
        })?;
        let entries = parse_plaintext(&plain, env.format)?;
        Ok(Self {
            format: env.format,
            entries,
        })
    }

    /// Encrypts the keystore with `password` (empty = no password, the ES default) in its
    /// format (see [`EsKeystore::format`]), with a fresh salt and IV.
    pub fn to_bytes(&self, password: &str) -> anyhow::Result<Vec<u8>> {
        if password.chars().count() > MAX_PASSPHRASE_CHARS {
            anyhow::bail!(
                "the elasticsearch.keystore password is longer than {MAX_PASSPHRASE_CHARS} characters, which Elasticsearch refuses"
            );
        }
        let format = self.format.max(MIN_WRITE_FORMAT);
        let mut plain = Zeroizing::new(Vec::with_capacity(self.plaintext_len()));
        push_be_len(&mut plain, self.entries.len())?;
        for (name, value) in &self.entries {
            // Names are validated ASCII, so Java's modified UTF-8 equals plain UTF-8 here.
            let name_len = u16::try_from(name.len())
                .map_err(|_| anyhow::anyhow!("keystore setting name `{name}` is too long"))?;
            plain.extend_from_slice(&name_len.to_be_bytes());
            plain.extend_from_slice(name.as_bytes());
            push_be_len(&mut plain, value.len())?;
            plain.extend_from_slice(value);
        }

        let mut salt = [0u8; SALT_LEN];
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut salt)?;
        fill_random(&mut iv)?;
        let ciphertext = encrypt(format, password, &salt, &iv, &plain)?;

        let le = format >= LE_FORMAT;
        let data_len = 4 + SALT_LEN + 4 + IV_LEN + 4 + ciphertext.len();
        let mut out = Vec::with_capacity(64 + data_len + FOOTER_LEN);
        out.extend_from_slice(&CODEC_MAGIC.to_be_bytes());
        out.push(u8::try_from(CODEC_NAME.len())?); // VInt: one byte below 128
        out.extend_from_slice(CODEC_NAME);
        out.extend_from_slice(&format.to_be_bytes());
        out.push(u8::from(!password.is_empty()));
        push_len(&mut out, data_len, le)?;
        push_len(&mut out, SALT_LEN, le)?;
        out.extend_from_slice(&salt);
        push_len(&mut out, IV_LEN, le)?;
        out.extend_from_slice(&iv);
        push_len(&mut out, ciphertext.len(), le)?;
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&FOOTER_MAGIC.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&u64::from(crc).to_be_bytes());
        Ok(out)
    }

    /// Adds or replaces an entry. String settings are their UTF-8 bytes; file settings are
    /// the file's bytes (ES makes no distinction since format 4).
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), KeystoreError> {
        validate_name(name)?;
        // Replacing drops (and so wipes) the old value.
        self.entries
            .insert(name.to_string(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    /// Removes an entry; `true` if it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Entry names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// An entry's value bytes.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|v| v.as_slice())
    }

    /// The format [`EsKeystore::to_bytes`] writes: the one it was created with or read in
    /// (format 3 is written as 4).
    pub fn format(&self) -> u32 {
        self.format.max(MIN_WRITE_FORMAT)
    }

    fn plaintext_len(&self) -> usize {
        4 + self
            .entries
            .iter()
            .map(|(k, v)| 2 + k.len() + 4 + v.len())
            .sum::<usize>()
    }
}

/// ES's `ALLOWED_SETTING_NAME`: `[A-Za-z0-9_\-.]+`.
fn validate_name(name: &str) -> Result<(), KeystoreError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The unencrypted parts of a keystore file, checked.
struct Envelope<'a> {
    format: u32,
    has_password: bool,
    data: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, KeystoreError> {
        let not_ks = |detail: &str| KeystoreError::NotAKeystore {
            keystore: KS,
            detail: detail.to_string(),
        };
        if bytes.len() < 4 || be_u32(&bytes[..4]) != CODEC_MAGIC {
            return Err(not_ks("no Lucene codec header"));
        }
        let name_len = usize::from(*bytes.get(4).ok_or_else(|| not_ks("file too short"))?);
        let name = bytes
            .get(5..5 + name_len)
            .ok_or_else(|| not_ks("file too short"))?;
        if name != CODEC_NAME {
            return Err(not_ks(&format!(
                "codec is `{}`, expected `elasticsearch.keystore`",
                String::from_utf8_lossy(name)
            )));
        }
        let header_end = 5 + name_len + 4;
        // Header, hasPassword byte, data length and footer are the minimum.
        if bytes.len() < header_end + 1 + 4 + FOOTER_LEN {
            return Err(corrupt(format!(
                "file is truncated ({} bytes)",
                bytes.len()
            )));
        }
        let footer_at = bytes.len() - FOOTER_LEN;
        let footer = &bytes[footer_at..];
        if be_u32(&footer[..4]) != FOOTER_MAGIC || be_u32(&footer[4..8]) != 0 {
            return Err(corrupt(
                "no valid Lucene footer at the end (file truncated?)",
            ));
        }
        let stored = be_u64(&footer[8..]);
        let computed = crc32fast::hash(&bytes[..bytes.len() - 8]);
        if stored != u64::from(computed) {
            return Err(KeystoreError::ChecksumMismatch { stored, computed });
        }

        let format = be_u32(&bytes[header_end - 4..header_end]);
        if format < MIN_FORMAT {
            return Err(KeystoreError::FormatTooOld {
                keystore: KS,
                found: format,
                min: MIN_FORMAT,
            });
        }
        if format > MAX_FORMAT {
            return Err(KeystoreError::FormatTooNew {
                keystore: KS,
                found: format.to_string(),
                max: MAX_FORMAT,
            });
        }
        let has_password = match bytes[header_end] {
            0 => false,
            1 => true,
            b => return Err(corrupt(format!("hasPassword byte is {b:#04x}"))),
        };
        let mut body = Reader::new(&bytes[header_end + 1..footer_at], format >= LE_FORMAT);
        let data = body.bytes_with_len("data block")?;
        if !body.at_end() {
            return Err(corrupt("bytes between the data block and the footer"));
        }
        Ok(Self {
            format,
            has_password,
            data,
        })
    }
}

/// Bounds-checked reader of length-prefixed fields.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    little_endian: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], little_endian: bool) -> Self {
        Self {
            buf,
            pos: 0,
            little_endian,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], KeystoreError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt(format!("{what} runs past the end")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn int(&mut self, what: &str) -> Result<usize, KeystoreError> {
        let b = self.take(4, what)?;
        let arr = [b[0], b[1], b[2], b[3]];
        let v = if self.little_endian {
            i32::from_le_bytes(arr)
        } else {
            i32::from_be_bytes(arr)
        };
        usize::try_from(v).map_err(|_| corrupt(format!("{what} has negative length {v}")))
    }

    fn bytes_with_len(&mut self, what: &str) -> Result<&'a [u8], KeystoreError> {
        let n = self.int(what)?;
        self.take(n, what)
    }

    /// Java `readUTF`: u16 big-endian length + modified UTF-8.
    fn java_utf(&mut self, what: &str) -> Result<String, KeystoreError> {
        let b = self.take(2, what)?;
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let s = self.take(n, what)?;
        // Setting names are ASCII, where modified UTF-8 and UTF-8 agree.
        String::from_utf8(s.to_vec()).map_err(|_| corrupt(format!("{what} is not valid UTF-8")))
    }

    fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

fn parse_plaintext(
    plain: &[u8],
    format: u32,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, KeystoreError> {
    // The plaintext is a Java DataOutputStream: big-endian whatever the format.
    let mut r = Reader::new(plain, false);
    let count = r.int("entry count")?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let name = r.java_utf("entry name")?;
        if format == 3 {
            // Format 3 stored the entry type (STRING/FILE); ES itself ignores it now.
            r.java_utf("entry type")?;
        }
        let value = r.bytes_with_len("entry value")?;
        entries.insert(name, Zeroizing::new(value.to_vec()));
    }
    if !r.at_end() {
        return Err(corrupt("trailing bytes after the last entry"));
    }
    Ok(entries)
}

fn kdf_iterations(format: u32) -> NonZeroU32 {
    if format >= HIGH_KDF_FORMAT {
        rounds(210_000)
    } else {
        rounds(10_000)
    }
}

fn key_len(format: u32) -> usize {
    if format >= AES256_FORMAT { 32 } else { 16 }
}

/// PBKDF2-HMAC-SHA512 of the UTF-8 password (what Java's `PBEKeySpec` over chars and Node's
/// `pbkdf2Sync` over a string both feed in), by aws-lc. aws-lc is compiled C, optimised in
/// every build: a generic Rust PBKDF2 is compiled in this crate, unoptimised in a debug build,
/// where the 2 × 210,000 rounds of a format-7 keystore took 1.4 s of every command that reads
/// one (the test suite's binary).
pub(super) fn derive_key(
    password: &str,
    salt: &[u8],
    iterations: NonZeroU32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
        iterations,
        salt,
        password.as_bytes(),
        &mut key,
    );
    key
}

/// `n` as a round count; zero is not one (used for constants only).
pub(super) const fn rounds(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(r) => r,
        None => NonZeroU32::MIN,
    }
}

/// AES-GCM decrypt of `ciphertext ‖ tag` with `aad`; `Err(())` when it does not
/// authenticate (wrong key or altered data — GCM cannot tell which).
pub(super) fn gcm_decrypt(
    key: &[u8],
    iv: &[u8],
    ciphertext_and_tag: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let payload = Payload {
        msg: ciphertext_and_tag,
        aad,
    };
    let nonce = Nonce::from_slice(iv);
    let plain = match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .map_err(|_| ())?
            .decrypt(nonce, payload),
        _ => Aes256Gcm::new_from_slice(key)
            .map_err(|_| ())?
            .decrypt(nonce, payload),
    };
    plain.map(Zeroizing::new).map_err(|_| ())
}

/// AES-GCM encrypt; returns `ciphertext ‖ tag` (Java's and the `aes-gcm` crate's layout).
pub(super) fn gcm_encrypt(
    key: &[u8],
    iv: &[u8],
    plain: &[u8],
    aad: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let payload = Payload { msg: plain, aad };
    let nonce = Nonce::from_slice(iv);
    let bad_key = |_| anyhow::anyhow!("AES-GCM: a key of {} bytes", key.len());
    let out = match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .map_err(bad_key)?
            .encrypt(nonce, payload),
        _ => Aes256Gcm::new_from_slice(key)
            .map_err(bad_key)?
            .encrypt(nonce, payload),
    };
    out.map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))
}

fn decrypt(
    format: u32,
    password: &str,
    salt: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let key = derive_key(password, salt, kdf_iterations(format), key_len(format));
    gcm_decrypt(&key, iv, ciphertext, salt)
}

fn encrypt(
    format: u32,
    password: &str,
    salt: &[u8],
    iv: &[u8],
    plain: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let key = derive_key(password, salt, kdf_iterations(format), key_len(format));
    gcm_encrypt(&key, iv, plain, salt)
}

pub(super) fn fill_random(buf: &mut [u8]) -> Result<(), KeystoreError> {
    getrandom::fill(buf).map_err(|e| KeystoreError::Random(e.to_string()))
}

/// 20 characters from ES's seed alphabet, unbiased (rejection sampling).
fn random_seed() -> Result<Vec<u8>, KeystoreError> {
    let n = SEED_CHARS.len(); // 76
    let limit = 256 - 256 % n; // largest multiple of n that fits a byte
    let mut seed = Vec::with_capacity(SEED_LEN);
    let mut buf = Zeroizing::new([0u8; 64]);
    while seed.len() < SEED_LEN {
        fill_random(buf.as_mut())?;
        for &b in buf.iter() {
            if usize::from(b) < limit && seed.len() < SEED_LEN {
                seed.push(SEED_CHARS[usize::from(b) % n]);
            }
        }
    }
    Ok(seed)
}

fn push_len(out: &mut Vec<u8>, len: usize, little_endian: bool) -> anyhow::Result<()> {
    let v = i32::try_from(len)
        .map_err(|_| anyhow::anyhow!("keystore field of {len} bytes is too large"))?;
    out.extend_from_slice(&if little_endian {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    });
    Ok(())
}

fn push_be_len(out: &mut Vec<u8>, len: usize) -> anyhow::Result<()> {
    push_len(out, len, false)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests;
