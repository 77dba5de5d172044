//! What an OAuth client sends before anyone signed in: the `/authorize`
//! query, a redirect URI, a client ID metadata document URL and the
//! document fetched from it, and an access token presented to the MCP
//! endpoint. None of it may panic on
//! any bytes, and no forged token may verify.
#![no_main]

use std::sync::LazyLock;

use tgw::oauth::jwt::AccessSigner;

static SIGNER: LazyLock<AccessSigner> = LazyLock::new(|| AccessSigner::from_seed(&[7; 32]));

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A client ID metadata document, as fetched.
    let _ = tgw::oauth::cimd::check_document("https://app.example/client.json", data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tgw::oauth::authorize::parameters(Some(text));
    let _ = tgw::oauth::check_redirect_uri(text);
    let _ = tgw::oauth::cimd::check_client_id_url(text);
    assert!(
        SIGNER
            .verify(text, "https://gw.example", "https://gw.example/v1/mcp", 0)
            .is_err(),
        "a token the fuzzer made up verified"
    );
});
