//! One entry of a skill's HTTP allowlist: what parses prints back to
//! itself.

#![no_main]

use tgw_parse::http_target::HttpTarget;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(target) = text.parse::<HttpTarget>() {
        let again: HttpTarget = target.to_string().parse().expect("a printed entry parses");
        assert_eq!(again, target);
    }
});
