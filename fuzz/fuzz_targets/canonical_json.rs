//! Tool arguments come from agents: any bytes must canonicalise or be
//! refused with a reason, and canonical output must be a fixed point.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(canonical) = tgw::canonical::canonicalize(data) {
        let again = tgw::canonical::canonicalize(&canonical.bytes).expect("canonical JSON canonicalises");
        assert_eq!(again, canonical);
    }
});
