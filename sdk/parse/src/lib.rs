//! The host's parsers of untrusted input that need no runtime, in a crate
//! of their own: each can be fuzzed (`fuzz/`) without building wasmtime.
//!
//! - [`manifest`]: `skill.toml`, every error located in its file;
//! - [`http_target`]: one entry of a skill's HTTP allowlist;
//! - [`toml_file`]: reading the gateway's TOML files with located errors;
//! - [`names`]: roles, groups, a skill's audience, executor pools;
//! - [`net`]: which addresses are internal;
//! - [`oauth`]: the `/authorize` query, redirect URIs, client ID URLs and
//!   client ID metadata documents;
//! - [`mcp`]: a bearer token's shape, the methods a POST body names;
//! - [`scripts`]: words that mix writing systems (UTS #39), for the
//!   approval card.

pub mod http_target;
pub mod manifest;
pub mod mcp;
pub mod names;
pub mod net;
pub mod oauth;
pub mod scripts;
pub mod toml_file;
