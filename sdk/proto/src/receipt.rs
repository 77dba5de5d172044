//! Executor receipts: an executor's signed statement of what it did with
//! one grant. The gateway verifies a receipt against the executor keys it
//! trusts before a client sees any result, so a reply forged on the bus
//! (by anyone who can publish there) fails the call instead of reaching
//! the agent.
//!
//! A receipt is a compact JWS (`typ` `tgw-receipt+jws`, [`jws`]) over
//! [`ReceiptClaims`]: the call, the grant's `jti`, the input hash, the
//! outcome and the SHA-256 of what the executor answered (the tool's
//! output, or the reason it refused or failed). It goes into the
//! executor's audit chain too, so anyone can later prove which executor
//! ran what.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::grant::TrustedKey;
use crate::jws::{self, JwsError, JwsSigner, TokenType};

pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "tgw-receipt+jws",
    max_bytes: 4096,
};

/// What happened to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The tool ran and returned its output.
    Done,
    /// The executor refused to run the tool.
    Refused,
    /// The tool ran and failed.
    Failed,
}

/// How the answer's text is to be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// Text, as a `tgw:skill@0.1.0` tool answers.
    #[default]
    Text,
    /// An MCP `CallToolResult` as JSON (content blocks, structured
    /// content), as a `tgw:skill@0.2.0` tool answers.
    Content,
    /// The questions a `tgw:skill@0.2.0` tool asks the calling person
    /// before it answers, as JSON: `[{"key", "message", "requestedSchema"}]`.
    InputRequired,
}

impl OutputFormat {
    pub fn is_text(&self) -> bool {
        *self == OutputFormat::Text
    }
}

/// What an executor signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptClaims {
    /// The call id the gateway sent.
    pub call: String,
    /// The grant's `jti` (empty when the grant could not be read).
    pub jti: String,
    /// `sha256:` of the argument bytes the executor received.
    pub input_hash: String,
    pub outcome: Outcome,
    /// `sha256:` of the answer's text: the output, or the reason.
    pub output_hash: String,
    /// How that text is read (absent: text).
    #[serde(default, skip_serializing_if = "OutputFormat::is_text")]
    pub format: OutputFormat,
    /// How many updates of the running tool (`crate::update`) the executor
    /// sent before this answer: the gateway waits for them all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updates: u32,
    /// Unix seconds.
    pub iat: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `sha256:` and the hex digest of `text`.
pub fn text_hash(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// Signs `claims` with an executor's key.
pub fn sign(signer: &JwsSigner, claims: &ReceiptClaims) -> String {
    signer.sign(&TOKEN_TYPE, claims)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the receipt is not signed by a trusted executor: {0}")]
    Signature(#[from] JwsError),
    #[error("the receipt is unreadable: {0}")]
    Unreadable(String),
    #[error("the receipt is for another {0}")]
    Mismatch(&'static str),
}

/// What the gateway expects a receipt to say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub call: &'a str,
    pub jti: &'a str,
    pub input_hash: &'a str,
    pub outcome: Outcome,
    /// The answer's text as it arrived.
    pub output: &'a str,
    /// How the reply says to read it.
    pub format: OutputFormat,
}

/// Checks `token` against the trusted executor keys and `expected`;
/// returns the claims and the key id of the executor that signed.
pub fn verify(
    token: &str,
    trusted: &[TrustedKey],
    expected: &Expected<'_>,
) -> Result<(ReceiptClaims, String), ReceiptError> {
    let signer = std::cell::RefCell::new(String::new());
    let payload = jws::verify(token, &TOKEN_TYPE, |kid| {
        let key = trusted.iter().find(|k| k.kid == kid).map(|k| &k.key);
        if key.is_some() {
            kid.clone_into(&mut signer.borrow_mut());
        }
        key
    })?;
    let signer = signer.into_inner();
    let claims: ReceiptClaims =
        serde_json::from_slice(&payload).map_err(|e| ReceiptError::Unreadable(e.to_string()))?;
    if claims.call != expected.call {
        return Err(ReceiptError::Mismatch("call"));
    }
    if claims.jti != expected.jti {
        return Err(ReceiptError::Mismatch("grant"));
    }
    if claims.input_hash != expected.input_hash {
        return Err(ReceiptError::Mismatch("input"));
    }
    if claims.outcome != expected.outcome {
        return Err(ReceiptError::Mismatch("outcome"));
    }
    if claims.output_hash != text_hash(expected.output) {
        return Err(ReceiptError::Mismatch("output"));
    }
    if claims.format != expected.format {
        return Err(ReceiptError::Mismatch("output format"));
    }
    Ok((claims, signer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> ReceiptClaims {
        ReceiptClaims {
            call: "c1".into(),
            jti: "j1".into(),
            input_hash: "sha256:00".into(),
            outcome: Outcome::Done,
            output_hash: text_hash("out"),
            format: OutputFormat::Text,
            updates: 0,
            iat: 1,
        }
    }

    fn expected() -> Expected<'static> {
        Expected {
            call: "c1",
            jti: "j1",
            input_hash: "sha256:00",
            outcome: Outcome::Done,
            output: "out",
            format: OutputFormat::Text,
        }
    }

    #[test]
    fn a_receipt_verifies_only_for_what_it_says() {
        let executor = JwsSigner::from_seed(&[3; 32]);
        let trusted = [TrustedKey::new(executor.verifying_key())];
        let token = sign(&executor, &claims());
        let (got, kid) = verify(&token, &trusted, &expected()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((got, kid.as_str()), (claims(), executor.kid()));

        let cases: [(Expected<'_>, &str); 6] = [
            (
                Expected {
                    call: "c2",
                    ..expected()
                },
                "call",
            ),
            (
                Expected {
                    jti: "j2",
                    ..expected()
                },
                "grant",
            ),
            (
                Expected {
                    input_hash: "sha256:01",
                    ..expected()
                },
                "input",
            ),
            (
                Expected {
                    outcome: Outcome::Failed,
                    ..expected()
                },
                "outcome",
            ),
            (
                Expected {
                    output: "{\"hijacked\":true}",
                    ..expected()
                },
                "output",
            ),
            (
                Expected {
                    format: OutputFormat::Content,
                    ..expected()
                },
                "output format",
            ),
        ];
        for (expect, what) in cases {
            assert_eq!(
                verify(&token, &trusted, &expect),
                Err(ReceiptError::Mismatch(what))
            );
        }
    }

    #[test]
    fn a_receipt_from_an_unknown_executor_is_refused() {
        let stranger = JwsSigner::from_seed(&[4; 32]);
        let trusted = [TrustedKey::new(
            JwsSigner::from_seed(&[3; 32]).verifying_key(),
        )];
        let token = sign(&stranger, &claims());
        assert!(matches!(
            verify(&token, &trusted, &expected()),
            Err(ReceiptError::Signature(JwsError::UnknownKey(_)))
        ));
        assert!(verify("not a token", &trusted, &expected()).is_err());
    }
}
