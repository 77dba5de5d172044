//! Grants reach executors over the bus: any token must verify or be
//! refused, never panic.
#![no_main]

use tgw::grant::{Expectations, GrantSigner, UnverifiedGrant};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let trusted = [GrantSigner::from_seed(&[1; 32]).trusted_key()];
    let expect = Expectations { trusted: &trusted, audience: "default", now: 1_800_000_000, input_hash: "sha256:00" };
    let _ = UnverifiedGrant::from_token(token).verify(&expect);
});
