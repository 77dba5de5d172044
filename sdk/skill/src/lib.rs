//! The guest side of a Trust Gateway skill.
//!
//! The `tgw:skill` bindings are generated here once, from the workspace's
//! `wit/`, and every skill reuses them (wit-bindgen's `pub_export_macro`
//! pattern), so all skills bind exactly the contract the host binds.
//!
//! This crate binds `tgw:skill@0.1.0`: a tool answers with text.
//! `tgw-skill-sdk-v0-2` (sdk/skill-v0-2) binds `tgw:skill@0.2.0`, whose
//! tools answer with MCP content blocks and structured content and may
//! report progress and log lines. The host loads both.
//!
//! ```ignore
//! struct Echo;
//! impl tgw_skill_sdk::Guest for Echo { /* tools(), invoke() */ }
//! tgw_skill_sdk::export!(Echo);
//! ```

wit_bindgen::generate!({
    path: "../../wit",
    world: "tgw:skill/skill@0.1.0",
    pub_export_macro: true,
    default_bindings_module: "tgw_skill_sdk",
    generate_all,
});

pub mod http;

pub use exports::tgw::skill0_1_0::tool_provider::Guest;
pub use tgw::skill0_1_0::types::{Risk, Tool, ToolError};

/// A value of the skill's `[config]` table (the host serves it through
/// `wasi:config/store`). Secrets are never here: the host injects them into
/// outgoing requests itself.
pub fn config(key: &str) -> Option<String> {
    crate::wasi::config::store::get(key).ok().flatten()
}

/// Parses a tool's JSON arguments, mapping errors to `invalid-args`.
pub fn parse_args<T: serde::de::DeserializeOwned>(args_json: &str) -> Result<T, ToolError> {
    serde_json::from_str(args_json).map_err(|e| ToolError::InvalidArgs(e.to_string()))
}

/// Serialises a tool result as JSON text.
pub fn json_result(value: &serde_json::Value) -> Result<String, ToolError> {
    serde_json::to_string(value).map_err(|e| ToolError::Failed(e.to_string()))
}

/// Builds a [`Tool`] whose schema is given as a `serde_json::Value`.
pub fn tool(name: &str, description: &str, risk: Risk, schema: serde_json::Value) -> Tool {
    Tool {
        name: name.to_owned(),
        description: description.to_owned(),
        input_schema: schema.to_string(),
        risk,
    }
}
