//! An execution grant from the bus: made-up tokens never verify, and
//! nothing panics on the way to saying so.

#![no_main]

use tgw_proto::grant::{Expectations, GrantSigner, UnverifiedGrant};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let trusted = [GrantSigner::from_seed(&[1; 32]).trusted_key()];
    let expect = Expectations {
        trusted: &trusted,
        audience: "default",
        now: 1_800_000_000,
        input_hash: "sha256:00",
    };
    assert!(
        UnverifiedGrant::from_token(token).verify(&expect).is_err(),
        "a grant the fuzzer made up verified"
    );
});
