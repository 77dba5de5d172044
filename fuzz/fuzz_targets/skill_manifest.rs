//! `skill.toml`: parsing never panics, and neither does locating an error.

#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = tgw_parse::manifest::Manifest::parse(Path::new("skill.toml"), text) {
        let _ = error.to_string();
    }
});
