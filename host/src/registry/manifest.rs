//! `skill.toml`: parsed by `tgw-parse` (a crate of its own, so the parser
//! can be fuzzed without the runtime).

pub use tgw_parse::manifest::*;
