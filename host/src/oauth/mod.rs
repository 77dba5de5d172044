//! OAuth 2.1 for clients that cannot be handed a token (Claude.ai): step 5.
//!
//! So far: discovery (`metadata.rs`) with the 401 challenges that point to
//! it, dynamic client registration (`clients.rs`), and the guarded fetch
//! of client ID metadata documents (`cimd.rs`). Authorization with a
//! passkey and consent, and tokens, come next; see the README.

pub mod cimd;
mod clients;
mod metadata;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use clients::{Client, check_redirect_uri};
pub use metadata::{Issuer, RESOURCE_PATHS};

use crate::bus::KvStore;

#[derive(Clone)]
pub struct OAuthState {
    pub issuer: Issuer,
    /// Where clients are kept (the people bucket).
    pub kv: Arc<dyn KvStore>,
}

/// The OAuth routes of a gateway at `public_url`. The endpoints answer at
/// the origin root and under `/oauth/`, because Claude.ai sometimes builds
/// those URLs itself instead of reading the metadata.
pub fn routes(public_url: &str, kv: Arc<dyn KvStore>) -> Router {
    let state = OAuthState {
        issuer: Issuer::new(public_url),
        kv,
    };
    let mut endpoints = Router::new();
    for prefix in ["", "/oauth"] {
        endpoints = endpoints
            .route(&format!("{prefix}/register"), post(clients::register))
            .route(
                &format!("{prefix}/register/{{client_id}}"),
                get(clients::read),
            );
    }
    metadata::routes(state.issuer.clone()).merge(endpoints.with_state(state))
}
