//! Canonical tool arguments: RFC 8785 (JCS) bytes and their hash.
//!
//! A grant binds the exact arguments by `input_hash = "sha256:" +
//! hex(sha256(jcs_bytes))`, so the gateway, the approver and the executor
//! must agree on one byte string for one meaning. The parser is strict on
//! purpose: input that two JSON parsers could read differently (duplicate
//! keys, lone surrogates, integers beyond 2^53, NaN) is refused instead of
//! guessed at.
//!
//! Written by hand: serde_json keeps the last of duplicate keys and accepts
//! numbers it cannot represent exactly, and the JCS crates build on it. The
//! number formatting (ECMAScript `Number.prototype.toString`) comes from
//! `ryu-js`.

mod parse;
mod serialize;

use sha2::{Digest, Sha256};

pub use parse::parse_with;
pub use serialize::serialize;

/// A parsed JSON value. Objects keep their members in input order;
/// [`serialize`] sorts them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Bounds on what the parser accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Largest magnitude a number may have (2^53 - 1 for arguments, so
    /// every integer is exact in every JSON implementation).
    pub max_abs_number: f64,
}

/// The largest integer every JSON implementation represents exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

impl Limits {
    /// Tool arguments: 1 MiB, 64 levels, safe integers.
    pub const ARGUMENTS: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
        max_abs_number: MAX_SAFE_INTEGER,
    };

    /// A whole request as it reaches a door (an MCP message): read only
    /// to find keys named twice, so numbers may be as large as JSON
    /// parsers read them and nesting as deep as serde_json allows; the
    /// arguments inside are held to [`Limits::ARGUMENTS`] later.
    pub const MESSAGE: Limits = Limits {
        max_bytes: 4 << 20,
        max_depth: 128,
        max_abs_number: f64::MAX,
    };
}

/// A key named twice in one object of `input`, anywhere in it, or `None`.
/// Input that is not JSON at all has none (the door's own parser answers
/// it); what the parser refuses before reaching a duplicate is refused by
/// serde_json too (NaN, lone surrogates, numbers beyond f64), so nothing
/// with a duplicate gets through that way.
pub fn duplicate_key(input: &[u8]) -> Option<(String, usize)> {
    match parse_with(input, &Limits::MESSAGE) {
        Err(CanonError::DuplicateKey { key, at }) => Some((key, at)),
        _ => None,
    }
}

/// Why input is not canonicalisable. Positions are byte offsets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CanonError {
    #[error("the JSON is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the JSON nests deeper than {limit} levels (at byte {at})")]
    TooDeep { limit: usize, at: usize },
    #[error("duplicate key {key:?} at byte {at}")]
    DuplicateKey { key: String, at: usize },
    #[error(
        "the number {text} at byte {at} is too large to be exact everywhere (the limit is ±2^53)"
    )]
    NumberOutOfRange { text: String, at: usize },
    #[error("{literal} at byte {at} is not JSON (NaN and Infinity have no JSON form)")]
    NotANumber { literal: String, at: usize },
    #[error("lone surrogate \\u{code:04x} at byte {at}: not a Unicode character")]
    LoneSurrogate { code: u16, at: usize },
    #[error("the input is not UTF-8 (at byte {at})")]
    NotUtf8 { at: usize },
    #[error("invalid JSON at byte {at}: {reason}")]
    Syntax { at: usize, reason: &'static str },
}

/// Canonical bytes of a JSON text and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub bytes: Vec<u8>,
    /// `sha256:<lowercase hex>` of `bytes`.
    pub input_hash: String,
}

impl Canonical {
    /// The canonical text (JCS output is UTF-8).
    #[expect(
        clippy::expect_used,
        reason = "the bytes are our own JCS output, which is UTF-8"
    )]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("JCS output is UTF-8")
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn input_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Canonicalises tool arguments under [`Limits::ARGUMENTS`].
pub fn canonicalize(input: &[u8]) -> Result<Canonical, CanonError> {
    canonicalize_with(input, &Limits::ARGUMENTS)
}

pub fn canonicalize_with(input: &[u8], limits: &Limits) -> Result<Canonical, CanonError> {
    let value = parse_with(input, limits)?;
    let bytes = serialize(&value);
    let input_hash = input_hash(&bytes);
    Ok(Canonical { bytes, input_hash })
}
