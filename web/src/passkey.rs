//! The WebAuthn calls, through `web/assets/passkey.js` (which converts
//! between the browser's ArrayBuffers and the gateway's base64url JSON).

use serde_json::Value;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = tgwPasskey, js_name = create, catch)]
    async fn js_create(options: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = tgwPasskey, js_name = get, catch)]
    async fn js_get(options: String) -> Result<JsValue, JsValue>;
}

fn parse(result: Result<JsValue, JsValue>) -> Result<Value, String> {
    match result {
        Ok(text) => {
            serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| e.to_string())
        }
        Err(error) => Err(js_sys::Error::from(error).message().into()),
    }
}

/// `navigator.credentials.create` with the gateway's enrollment options.
pub async fn create(options: &Value) -> Result<Value, String> {
    parse(js_create(options.to_string()).await)
}

/// `navigator.credentials.get` for `challenge`.
pub async fn get(options: &Value) -> Result<Value, String> {
    parse(js_get(options.to_string()).await)
}
