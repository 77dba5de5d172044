//! RFC 8785 canonicalisation: the published test vectors, the RFC's own
//! examples, and hostile input.

#![expect(
    clippy::expect_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

use std::fs;
use std::path::Path;

use tgw::canonical::{CanonError, Limits, canonicalize, canonicalize_with};

/// The vectors include 1E30, which arguments refuse; the serialiser is
/// tested with the bound lifted.
const VECTORS: Limits = Limits {
    max_bytes: 1 << 20,
    max_depth: 64,
    max_abs_number: f64::MAX,
};

#[test]
fn published_jcs_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jcs");
    let mut names: Vec<_> = fs::read_dir(dir.join("input"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for name in names {
        let input = fs::read(dir.join("input").join(&name)).unwrap();
        let expected = fs::read(dir.join("output").join(&name)).unwrap();
        let hex_name = Path::new(&name).with_extension("txt");
        let expected_hex: String = fs::read_to_string(dir.join("outhex").join(hex_name))
            .unwrap()
            .split_whitespace()
            .collect();
        let canonical =
            canonicalize_with(&input, &VECTORS).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(
            canonical.as_str(),
            String::from_utf8(expected.clone())
                .unwrap()
                .trim_end_matches('\n'),
            "{name:?}"
        );
        assert_eq!(
            hex::encode(&canonical.bytes),
            expected_hex.to_lowercase(),
            "{name:?}"
        );
    }
}

#[test]
fn rfc_8785_number_examples() {
    // RFC 8785 appendix B: IEEE 754 value -> canonical text.
    for (bits, text) in [
        (0x0000000000000000u64, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ] {
        let value = f64::from_bits(bits);
        let input = format!("[{value:e}]");
        let canonical = canonicalize_with(input.as_bytes(), &VECTORS).unwrap();
        assert_eq!(canonical.as_str(), format!("[{text}]"), "{bits:016x}");
    }
}

#[test]
fn keys_sort_by_utf16_code_units_and_the_hash_is_of_the_canonical_bytes() {
    // U+1F602 (a surrogate pair, D83D DE02) sorts before U+FB33 in UTF-16,
    // though not in UTF-8 or by code point.
    let canonical = canonicalize("{\"\u{fb33}\":1,\"\u{1f602}\":2,\"a\":3}".as_bytes()).unwrap();
    assert_eq!(
        canonical.as_str(),
        "{\"a\":3,\"\u{1f602}\":2,\"\u{fb33}\":1}"
    );
    let same = canonicalize(b"{ \"a\" : 3 , \"\\ud83d\\ude02\" : 2.0, \"\\ufb33\": 1e0 }").unwrap();
    assert_eq!(same, canonical);
    assert_eq!(
        canonicalize(b"{}").unwrap().input_hash,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
}

fn refused(input: &[u8]) -> CanonError {
    canonicalize(input).expect_err(&String::from_utf8_lossy(input))
}

#[test]
fn hostile_input_is_refused_with_a_reason() {
    assert_eq!(
        refused(br#"{"amount":1,"amount":1000000}"#),
        CanonError::DuplicateKey {
            key: "amount".into(),
            at: 12
        }
    );
    // The same key spelled with an escape is still the same key.
    assert!(matches!(
        refused(br#"{"a":1,"\u0061":2}"#),
        CanonError::DuplicateKey { .. }
    ));
    assert!(
        matches!(refused(b"[NaN]"), CanonError::NotANumber { literal, .. } if literal == "NaN")
    );
    assert!(matches!(
        refused(b"[-Infinity]"),
        CanonError::NotANumber { .. }
    ));
    assert!(matches!(
        refused(b"[1e400]"),
        CanonError::NumberOutOfRange { .. }
    ));
    assert!(matches!(
        refused(b"[9007199254740993]"),
        CanonError::NumberOutOfRange { .. }
    ));
    assert!(matches!(
        refused(b"[-9007199254740992]"),
        CanonError::NumberOutOfRange { .. }
    ));
    assert!(canonicalize(b"[9007199254740991, -9007199254740991]").is_ok());
    assert_eq!(
        refused(br#"["\ud800"]"#),
        CanonError::LoneSurrogate {
            code: 0xd800,
            at: 2
        }
    );
    assert!(matches!(
        refused(br#"["\udc00\ud800"]"#),
        CanonError::LoneSurrogate { code: 0xdc00, .. }
    ));
    assert!(matches!(
        refused(br#"["\ud800\u0041"]"#),
        CanonError::LoneSurrogate { .. }
    ));
    assert!(matches!(
        refused(b"\"\xff\""),
        CanonError::NotUtf8 { at: 1 }
    ));
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    assert!(matches!(
        refused(deep.as_bytes()),
        CanonError::TooDeep { limit: 64, .. }
    ));
    assert!(canonicalize(format!("{}{}", "[".repeat(64), "]".repeat(64)).as_bytes()).is_ok());
    let big = format!("\"{}\"", "a".repeat(1 << 20));
    assert!(matches!(
        refused(big.as_bytes()),
        CanonError::TooLarge { .. }
    ));
    for bad in [
        &b""[..],
        b"{",
        b"[1,]",
        b"{\"a\":1,}",
        b"[01]",
        b"[1.]",
        b"[.5]",
        b"[1e]",
        b"[+1]",
        b"{a:1}",
        b"['a']",
        b"[\"\t\"]",
        b"[\"\\x\"]",
        b"[\"\\u12\"]",
        b"[tru]",
        b"[1] [2]",
        b"/* */ 1",
        b"\xef\xbb\xbf{}",
    ] {
        assert!(
            matches!(
                refused(bad),
                CanonError::Syntax { .. } | CanonError::NotUtf8 { .. }
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let message = refused(br#"{"a":1,"a":2}"#).to_string();
    assert_eq!(message, "duplicate key \"a\" at byte 7");
}

#[test]
fn a_message_names_a_key_twice_at_any_depth_or_not() {
    use tgw::canonical::duplicate_key;
    let message = |arguments: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{{"name":"files.delete_file","arguments":{arguments}}}}}"#
        )
    };
    // An id beyond 2^53 is not an argument: the scan is not held to their
    // limits, so only the duplicate counts.
    assert_eq!(duplicate_key(message(r#"{"cmd":"ls"}"#).as_bytes()), None);
    let (key, at) = duplicate_key(message(r#"{"cmd":"ls","cmd":"rm -rf /"}"#).as_bytes()).unwrap();
    assert_eq!(key, "cmd");
    assert!(at > 80, "{at}");
    // Deep inside, in an array of objects, spelled with an escape.
    assert_eq!(
        duplicate_key(message(r#"{"a":[{"b":{"c":1,"\u0063":2}}]}"#).as_bytes()).map(|d| d.0),
        Some("c".into())
    );
    // In the envelope: a second `method`, a second `params`.
    assert_eq!(
        duplicate_key(br#"{"method":"ping","method":"tools/call","id":1}"#).map(|d| d.0),
        Some("method".into())
    );
    // In a batch.
    assert_eq!(
        duplicate_key(br#"[{"id":1},{"id":2,"id":3}]"#).map(|d| d.0),
        Some("id".into())
    );
    // The same key in two objects is no duplicate; neither is text that
    // is not JSON (the door's own parser answers it).
    assert_eq!(duplicate_key(br#"[{"a":1},{"a":2}]"#), None);
    assert_eq!(duplicate_key(b"not json"), None);
    assert_eq!(duplicate_key(b""), None);
}
