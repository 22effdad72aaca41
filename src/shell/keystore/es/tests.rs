//! Unit tests of `es.rs`: round trips per format, the Lucene header and endianness, the seed,
//! tampered, truncated and unknown files, passwords and names, `Debug` without values. Test
//! code only; it must not be compiled into the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn sample(format: u32) -> EsKeystore {
    let mut ks = EsKeystore::new(format).unwrap();
    ks.set("bootstrap.password", b"s3cret!").unwrap();
    ks.set("xpack.file", &[0, 1, 2, 255]).unwrap();
    ks
}

#[test]
fn round_trip_every_write_format_with_and_without_password() {
    // Formats 6 and 7 cost 210 000 PBKDF2 rounds per operation (seconds in a debug
    // build), so they get one password case each.
    let cases = [
        (4, ""),
        (4, "pässword"),
        (5, ""),
        (5, "pässword"),
        (6, ""),
        (7, "pässword"),
    ];
    for (format, pw) in cases {
        {
            let ks = sample(format);
            let bytes = ks.to_bytes(pw).unwrap();
            let header = EsKeystore::peek(&bytes).unwrap();
            assert_eq!(header.format, format);
            assert_eq!(header.has_password, !pw.is_empty());
            let back = EsKeystore::parse(&bytes, pw).unwrap();
            assert_eq!(back.names(), ks.names());
            assert_eq!(back.get("bootstrap.password").unwrap(), b"s3cret!");
            assert_eq!(back.get("xpack.file").unwrap(), &[0, 1, 2, 255]);
            assert_eq!(back.get(SEED_SETTING).unwrap().len(), SEED_LEN);
        }
    }
}

#[test]
fn layout_matches_lucene_header_and_endianness() {
    let bytes = sample(5).to_bytes("").unwrap();
    assert_eq!(&bytes[..4], &[0x3f, 0xd7, 0x6c, 0x17]);
    assert_eq!(bytes[4], 22);
    assert_eq!(&bytes[5..27], b"elasticsearch.keystore");
    assert_eq!(&bytes[27..31], &5u32.to_be_bytes());
    assert_eq!(bytes[31], 0);
    let data_len = u32::from_le_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
    assert_eq!(data_len as usize, bytes.len() - 36 - FOOTER_LEN);
    assert_eq!(&bytes[36..40], &64u32.to_le_bytes());
    let be = sample(4).to_bytes("").unwrap();
    assert_eq!(&be[36..40], &64u32.to_be_bytes());
}

#[test]
fn new_adds_a_seed_like_es() {
    let ks = EsKeystore::new(7).unwrap();
    assert_eq!(ks.names(), vec![SEED_SETTING.to_string()]);
    let seed = ks.get(SEED_SETTING).unwrap();
    assert!(seed.iter().all(|c| SEED_CHARS.contains(c)));
    assert!(EsKeystore::new(3).is_err());
    assert!(EsKeystore::new(8).is_err());
}

#[test]
fn format_mapping() {
    assert_eq!(format_for_version(7, 17), 4);
    assert_eq!(format_for_version(8, 0), 5);
    assert_eq!(format_for_version(8, 13), 5);
    assert_eq!(format_for_version(8, 14), 6);
    assert_eq!(format_for_version(8, 17), 6);
    assert_eq!(format_for_version(8, 18), 7);
    assert_eq!(format_for_version(9, 0), 7);
}

#[test]
fn invalid_names_are_refused() {
    let mut ks = EsKeystore::new(7).unwrap();
    for bad in ["", "a b", "ä", "x/y", "a=b"] {
        assert!(matches!(
            ks.set(bad, b"v"),
            Err(KeystoreError::InvalidName { .. })
        ));
    }
    assert!(ks.remove(SEED_SETTING));
    assert!(!ks.remove(SEED_SETTING));
}

#[test]
fn bad_header_is_not_a_keystore() {
    let err = EsKeystore::parse(b"hello world, not a keystore at all......", "").unwrap_err();
    assert!(matches!(err, KeystoreError::NotAKeystore { .. }), "{err}");
    assert!(err.to_string().contains("elasticsearch-keystore create"));
    let mut bytes = sample(6).to_bytes("").unwrap();
    bytes[6] = b'X';
    let err = EsKeystore::parse(&bytes, "").unwrap_err();
    assert!(matches!(err, KeystoreError::NotAKeystore { .. }), "{err}");
}

#[test]
fn flipped_byte_is_a_checksum_mismatch() {
    let mut bytes = sample(6).to_bytes("").unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let err = EsKeystore::parse(&bytes, "").unwrap_err();
    assert!(
        matches!(err, KeystoreError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("restore it from a backup"));
}

#[test]
fn truncated_file_is_corrupt() {
    let bytes = sample(6).to_bytes("").unwrap();
    let err = EsKeystore::parse(&bytes[..bytes.len() - 3], "").unwrap_err();
    assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err}");
    let err = EsKeystore::parse(&bytes[..30], "").unwrap_err();
    assert!(
        matches!(
            err,
            KeystoreError::NotAKeystore { .. } | KeystoreError::Corrupt { .. }
        ),
        "{err}"
    );
}

/// Rewrites the format number and fixes the checksum, as a newer ES would have written it.
fn with_format(mut bytes: Vec<u8>, format: u32) -> Vec<u8> {
    bytes[27..31].copy_from_slice(&format.to_be_bytes());
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 8]);
    bytes[n - 8..].copy_from_slice(&u64::from(crc).to_be_bytes());
    bytes
}

#[test]
fn unknown_formats_are_named() {
    let bytes = sample(7).to_bytes("").unwrap();
    let err = EsKeystore::parse(&with_format(bytes.clone(), 8), "").unwrap_err();
    assert!(matches!(err, KeystoreError::FormatTooNew { .. }), "{err}");
    let err = EsKeystore::parse(&with_format(bytes, 2), "").unwrap_err();
    assert!(matches!(err, KeystoreError::FormatTooOld { .. }), "{err}");
}

#[test]
fn password_errors() {
    let bytes = sample(5).to_bytes("right").unwrap();
    let err = EsKeystore::parse(&bytes, "").unwrap_err();
    assert!(
        matches!(err, KeystoreError::PasswordRequired { .. }),
        "{err}"
    );
    let err = EsKeystore::parse(&bytes, "wrong").unwrap_err();
    assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    // No-password keystore: the given password is irrelevant.
    let open = sample(5).to_bytes("").unwrap();
    assert!(EsKeystore::parse(&open, "anything").is_ok());
    // Header says "no password" but data was encrypted with one.
    let mut lying = bytes.clone();
    lying[31] = 0;
    let lying = with_format(lying, 5);
    let err = EsKeystore::parse(&lying, "").unwrap_err();
    assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err}");
}

/// A format-3 file as ES 6.3–6.7 wrote it: big-endian lengths and a type string after
/// each name. Built by hand because no CLI that writes it is available to the tests.
fn v3_file(password: &str) -> Vec<u8> {
    let mut plain = Vec::new();
    plain.extend_from_slice(&1u32.to_be_bytes());
    plain.extend_from_slice(&(b"a.b".len() as u16).to_be_bytes());
    plain.extend_from_slice(b"a.b");
    plain.extend_from_slice(&(b"STRING".len() as u16).to_be_bytes());
    plain.extend_from_slice(b"STRING");
    plain.extend_from_slice(&3u32.to_be_bytes());
    plain.extend_from_slice(b"xyz");
    let salt = [7u8; SALT_LEN];
    let iv = [9u8; IV_LEN];
    let ct = encrypt(3, password, &salt, &iv, &plain).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&CODEC_MAGIC.to_be_bytes());
    out.push(22);
    out.extend_from_slice(CODEC_NAME);
    out.extend_from_slice(&3u32.to_be_bytes());
    out.push(u8::from(!password.is_empty()));
    let data_len = 4 + SALT_LEN + 4 + IV_LEN + 4 + ct.len();
    push_len(&mut out, data_len, false).unwrap();
    push_len(&mut out, SALT_LEN, false).unwrap();
    out.extend_from_slice(&salt);
    push_len(&mut out, IV_LEN, false).unwrap();
    out.extend_from_slice(&iv);
    push_len(&mut out, ct.len(), false).unwrap();
    out.extend_from_slice(&ct);
    out.extend_from_slice(&FOOTER_MAGIC.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&u64::from(crc).to_be_bytes());
    out
}

#[test]
fn format_3_is_read_and_rewritten_as_4() {
    let ks = EsKeystore::parse(&v3_file("pw"), "pw").unwrap();
    assert_eq!(ks.names(), vec!["a.b".to_string()]);
    assert_eq!(ks.get("a.b").unwrap(), b"xyz");
    assert_eq!(ks.format(), 4);
    let again = ks.to_bytes("").unwrap();
    assert_eq!(EsKeystore::peek(&again).unwrap().format, 4);
    assert_eq!(
        EsKeystore::parse(&again, "").unwrap().get("a.b").unwrap(),
        b"xyz"
    );
}

#[test]
fn too_long_password_is_refused() {
    let long = "x".repeat(MAX_PASSPHRASE_CHARS + 1);
    assert!(sample(7).to_bytes(&long).is_err());
}

#[test]
fn debug_does_not_show_values() {
    let s = format!("{:?}", sample(7));
    assert!(!s.contains("s3cret"));
    assert!(s.contains("bootstrap.password"));
}
