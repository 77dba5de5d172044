//! An `http` allowlist entry is parsed from a manifest string; a parsed
//! entry must print back to something that parses to the same entry.
#![no_main]

use tgw::runtime::HttpTarget;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = text.parse::<HttpTarget>() {
        let again: HttpTarget = target.to_string().parse().expect("a printed entry parses");
        assert_eq!(again, target);
    }
});
