//! What an OAuth client sends before it is authenticated: the /authorize
//! query, redirect URIs, client ID URLs, a fetched client document, and
//! access tokens.

#![no_main]

use std::sync::LazyLock;

use tgw_proto::jws::{JwsSigner, TokenType};

/// The access tokens' header policy, as the host sets it.
const ACCESS_TOKEN: TokenType = TokenType {
    typ: "at+jwt",
    max_bytes: 8 * 1024,
};

static SIGNER: LazyLock<JwsSigner> = LazyLock::new(|| JwsSigner::from_seed(&[7; 32]));

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tgw_parse::oauth::check_document("https://app.example/client.json", data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tgw_parse::oauth::parameters(Some(text));
    let _ = tgw_parse::oauth::check_redirect_uri(text);
    let _ = tgw_parse::oauth::check_client_id_url(text);
    let key = SIGNER.verifying_key();
    assert!(
        tgw_proto::jws::verify(text, &ACCESS_TOKEN, |kid| (kid == SIGNER.kid()).then_some(&key))
            .is_err(),
        "a token the fuzzer made up verified"
    );
});
