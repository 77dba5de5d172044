//! A `skill.sig` as it arrives from a registry or a folder: any bytes as a
//! publisher's signature. Never panics, and nothing verifies but a
//! statement signed by the trusted publisher key.

#![no_main]

use tgw_proto::grant::TrustedKey;
use tgw_proto::jws::JwsSigner;
use tgw_proto::skill_signature::{self, Statement};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let publisher = JwsSigner::from_seed(&[5; 32]);
    let trusted = [TrustedKey::new(publisher.verifying_key())];
    let token = String::from_utf8_lossy(data);
    let _ = skill_signature::signer_of(&token);
    if let Ok((_, kid)) = skill_signature::verify(&token, &trusted) {
        assert_eq!(kid, publisher.kid());
    }
    // The bytes as a skill name: a genuine signature binds exactly them.
    let statement = Statement {
        name: token.clone().into_owned(),
        version: "1.0.0".into(),
        component: "sha256:00".into(),
        manifest: "sha256:11".into(),
    };
    let genuine = skill_signature::sign(&publisher, &statement);
    if genuine.len() <= skill_signature::TOKEN_TYPE.max_bytes {
        let (got, _) = skill_signature::verify(&genuine, &trusted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, statement);
    }
});
