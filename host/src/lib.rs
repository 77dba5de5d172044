//! `tgw`, the Trust Gateway host: "Agents propose. Gateway decides.
//! Executors verify." One module per stage of a call's life; see the
//! workspace README and `../shared/DESIGN.md`.

pub mod canonical;
pub mod paths;
pub mod registry;
pub mod runtime;
pub mod secrets;

/// Paths of the guest components built by `build.rs` (skills, test guests).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
