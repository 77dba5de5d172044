//! The formats every part of the Trust Gateway agrees on, in one pure-Rust
//! crate that the host and the components (built for `wasm32-wasip2`) both
//! use, so a grant signed by the gateway and verified in the executor's
//! sandbox cannot be read two ways.
//!
//! - [`canonical`]: RFC 8785 canonical JSON and the `input_hash`.
//! - [`grant`]: execution grants (Ed25519 JWTs): signing and verification.
//! - [`webauthn`]: the relying-party checks of passkey registration and
//!   approval assertions.

pub mod canonical;
pub mod grant;
pub mod webauthn;
