//! `skill.toml` comes from skill publishers: any bytes must give a manifest
//! or a located error, never a panic.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(error) = tgw::registry::Manifest::parse(Path::new("skill.toml"), text) {
        // Locating the error must not panic either.
        let _ = error.to_string();
    }
});
