//! RFC 8785 canonicalisation of untrusted JSON: never panics, and its
//! output is a fixed point; the approval card's escaping of that output
//! undoes exactly.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(canonical) = tgw_proto::canonical::canonicalize(data) {
        let again = tgw_proto::canonical::canonicalize(&canonical.bytes)
            .expect("canonical JSON canonicalises");
        assert_eq!(again, canonical);
        let shown = tgw_proto::shown::show(canonical.as_str());
        assert!(!tgw_proto::shown::contains_hidden(&shown.text));
        assert_eq!(
            tgw_proto::shown::unshow(&shown.text).as_deref(),
            Some(canonical.as_str())
        );
    }
});
