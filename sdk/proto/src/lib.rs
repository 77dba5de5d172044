//! The formats every part of the Trust Gateway agrees on, in one pure-Rust
//! crate that the host and the components (built for `wasm32-wasip2`) both
//! use, so a grant signed by the gateway and verified in the executor's
//! sandbox cannot be read two ways.
//!
//! - [`canonical`]: RFC 8785 canonical JSON and the `input_hash`.
//! - [`jws`]: compact JWS with Ed25519, the one implementation behind every
//!   signed token, with a header policy and size cap per token type.
//! - [`grant`]: execution grants (Ed25519 JWTs): signing and verification.
//! - [`webauthn`]: the relying-party checks of passkey registration and
//!   approval assertions.
//! - [`receipt`]: executor receipts, signed by the executor that ran a call.
//! - [`refusal`]: why a call did not run, as a stable code and a sentence.
//! - [`skill_signature`]: a publisher's signature over a skill's component
//!   and manifest.
//! - [`update`]: a running call's progress and log lines, signed by the
//!   executor that runs it.
//! - [`stop`]: the gateway's order to stop a running call, signed by it.

pub mod canonical;
pub mod grant;
pub mod jws;
pub mod receipt;
pub mod refusal;
pub mod shown;
pub mod skill_signature;
pub mod stop;
pub mod update;
pub mod webauthn;
