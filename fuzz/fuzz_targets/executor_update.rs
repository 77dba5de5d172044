//! A running tool's update as it comes off the bus: any bytes as an update
//! token. Never panics, and nothing but an update signed by the trusted
//! executor key for exactly the expected call and grant verifies.

#![no_main]

use tgw_proto::grant::TrustedKey;
use tgw_proto::jws::JwsSigner;
use tgw_proto::update::{self, CallUpdate, UpdateClaims};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let executor = JwsSigner::from_seed(&[3; 32]);
    let trusted = [TrustedKey::new(executor.verifying_key())];
    let token = String::from_utf8_lossy(data);
    if let Ok(claims) = update::verify(&token, &trusted, "c1", "j1") {
        assert_eq!((claims.call.as_str(), claims.jti.as_str()), ("c1", "j1"));
    }
    // The bytes as a log line: a genuine update carries them, for its call only.
    let text = String::from_utf8_lossy(data).into_owned();
    let genuine = update::sign(
        &executor,
        &UpdateClaims {
            call: "c1".into(),
            jti: "j1".into(),
            seq: 0,
            update: CallUpdate::Log {
                level: update::LogLevel::Info,
                message: text.clone(),
            },
        },
    );
    match update::verify(&genuine, &trusted, "c1", "j1") {
        Ok(claims) => assert_eq!(
            claims.update,
            CallUpdate::Log {
                level: update::LogLevel::Info,
                message: text
            }
        ),
        // Only a line too long for the token's cap may fail.
        Err(_) => assert!(genuine.len() > update::TOKEN_TYPE.max_bytes),
    }
    assert!(update::verify(&genuine, &trusted, "c2", "j1").is_err());
});
