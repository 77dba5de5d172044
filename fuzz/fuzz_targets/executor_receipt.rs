//! An executor's answer as it comes off the bus: any bytes as a receipt
//! token. Never panics, and nothing but a receipt signed by the trusted
//! executor key for exactly the expected call verifies.

#![no_main]

use tgw_proto::grant::TrustedKey;
use tgw_proto::jws::JwsSigner;
use tgw_proto::receipt::{self, Expected, Outcome, OutputFormat, ReceiptClaims};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let executor = JwsSigner::from_seed(&[3; 32]);
    let trusted = [TrustedKey::new(executor.verifying_key())];
    let expected = Expected {
        call: "c1",
        jti: "j1",
        input_hash: "sha256:00",
        outcome: Outcome::Done,
        output: "out",
        format: OutputFormat::Text,
    };
    let token = String::from_utf8_lossy(data);
    if let Ok((claims, kid)) = receipt::verify(&token, &trusted, &expected) {
        assert_eq!(kid, executor.kid());
        assert_eq!(claims.call, "c1");
        assert_eq!(claims.output_hash, receipt::text_hash("out"));
    }
    // The bytes as the answer's text: a genuine receipt binds them.
    let text = String::from_utf8_lossy(data);
    let genuine = receipt::sign(
        &executor,
        &ReceiptClaims {
            call: "c1".into(),
            jti: "j1".into(),
            input_hash: "sha256:00".into(),
            outcome: Outcome::Done,
            output_hash: receipt::text_hash(&text),
            format: OutputFormat::Content,
            updates: 0,
            iat: 0,
        },
    );
    let content = Expected {
        output: &text,
        format: OutputFormat::Content,
        ..expected
    };
    assert!(receipt::verify(&genuine, &trusted, &content).is_ok());
    // Read as text instead, it does not verify.
    assert!(receipt::verify(&genuine, &trusted, &Expected { output: &text, ..expected }).is_err());
    if text != "out" {
        assert!(receipt::verify(&genuine, &trusted, &expected).is_err());
    }
});
