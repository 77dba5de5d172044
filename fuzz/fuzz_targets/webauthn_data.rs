//! WebAuthn data from a browser: authenticator data, client data and
//! attestation objects.

#![no_main]

use tgw_proto::webauthn::{AuthenticatorData, RelyingParty, verify_registration};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = AuthenticatorData::parse(data);
    let rp = RelyingParty {
        id: "localhost".into(),
        origin: "http://localhost:8400".into(),
    };
    let (client_data, attestation) = data.split_at(data.len() / 2);
    let _ = verify_registration(&rp, b"0123456789abcdef", client_data, attestation, true);
});
