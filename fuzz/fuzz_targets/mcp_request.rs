//! What an MCP request brings before it is trusted: a bearer token, the
//! methods a POST body names, whether it names a key twice, and a trace
//! context.

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
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(trace) = tgw_parse::mcp::TraceParent::parse(text)
    {
        // What is read writes back as the same ids.
        let again = tgw_parse::mcp::TraceParent::parse(&trace.to_string());
        assert_eq!(again.as_ref(), Some(&trace));
    }
    if let Some((key, at)) = tgw_proto::canonical::duplicate_key(data) {
        assert!(at < data.len());
        // Only JSON has keys: what names one twice is UTF-8.
        assert!(std::str::from_utf8(data).is_ok(), "{key:?}");
    }
});
