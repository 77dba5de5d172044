//! `tgw`, the Trust Gateway host: "Agents propose. Gateway decides.
//! Executors verify." One module per stage of a call's life; see the
//! workspace README and `../shared/DESIGN.md`.

pub use tgw_proto::{
    canonical, grant, jws, receipt, refusal, shown, skill_signature, update, webauthn,
};

pub mod api;
pub mod app;
pub mod approval;
pub mod audit;
pub mod backend;
pub mod executor;
pub mod expiring;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod keys;
pub mod mcp;
pub mod oauth;
pub mod paths;
pub mod people;
pub mod policy;
pub mod registry;
pub mod runtime;
pub mod secrets;
pub mod tls;
pub mod trust;

/// Paths of the guest components built by `build.rs` (skills, test guests).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
