//! What an MCP request brings before any JSON-RPC runs: the bearer token
//! (split into id and secret, the id becoming a store key) and the body
//! the guard reads for its methods, then the tool name resolved against
//! `<skill>.<tool>`. None of it may panic on any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((id, secret)) = tgw::people::split_token(text) {
            assert_eq!(id.len(), 16);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!secret.is_empty());
        }
        let skills = tgw::registry::SkillSet::default();
        assert!(tgw::mcp::tools::resolve(&skills, text).is_none());
    }
    let _ = tgw::mcp::methods_in(data);
});
