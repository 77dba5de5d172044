//! RFC 8785 canonicalisation of untrusted JSON: never panics, and its
//! output is a fixed point.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(canonical) = tgw_proto::canonical::canonicalize(data) {
        let again = tgw_proto::canonical::canonicalize(&canonical.bytes)
            .expect("canonical JSON canonicalises");
        assert_eq!(again, canonical);
    }
});
