//! What an MCP request brings before it is trusted: a bearer token, and
//! the methods a POST body names.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some((id, secret)) = tgw_parse::mcp::split_token(text)
    {
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!secret.is_empty());
    }
    let _ = tgw_parse::mcp::methods_in(data);
});
