//! The dashboard's files, embedded in `tgw`: the page, its style and icon, the two
//! small scripts, and the Leptos app (wasm-bindgen's glue and the wasm)
//! that `build.rs` built.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::ApiState;

const INDEX: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/assets/index.html"
));
const STYLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/assets/style.css"
));
const ICON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/assets/icon.svg"
));
const BOOT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/assets/boot.js"
));
const PASSKEY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/assets/passkey.js"
));

fn file(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/",
            get(|| async { file("text/html; charset=utf-8", INDEX.as_bytes()) }),
        )
        .route(
            "/enroll",
            get(|| async { file("text/html; charset=utf-8", INDEX.as_bytes()) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { file("text/css; charset=utf-8", STYLE.as_bytes()) }),
        )
        // Browsers ask for /favicon.ico whatever the page links; both answer
        // with the SVG icon so no request ends in a 404.
        .route(
            "/assets/icon.svg",
            get(|| async { file("image/svg+xml", ICON.as_bytes()) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { file("image/svg+xml", ICON.as_bytes()) }),
        )
        .route(
            "/assets/boot.js",
            get(|| async { file("text/javascript; charset=utf-8", BOOT.as_bytes()) }),
        )
        .route(
            "/assets/passkey.js",
            get(|| async { file("text/javascript; charset=utf-8", PASSKEY.as_bytes()) }),
        )
        .route(
            "/assets/tgw_web.js",
            get(|| async {
                file(
                    "text/javascript; charset=utf-8",
                    crate::guests::WEB_JS.as_bytes(),
                )
            }),
        )
        .route(
            "/assets/tgw_web_bg.wasm",
            get(|| async { file("application/wasm", crate::guests::WEB_WASM) }),
        )
}
