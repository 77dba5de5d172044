//! The guest side of a `tgw:skill@0.2.0` skill: results as MCP content
//! blocks with structured content, and progress and log lines from a
//! running call. (`tgw-skill-sdk` binds 0.1.0; the world names differ only
//! in version, so each has a crate of its own: wit-bindgen names a world's
//! export macro after the world.)
//!
//! The bindings are generated once, from the workspace's `wit/`, so every
//! skill binds exactly the contract the host binds.
//!
//! ```ignore
//! struct Shapes;
//! impl tgw_skill_sdk_v0_2::Guest for Shapes { /* tools(), invoke() */ }
//! tgw_skill_sdk_v0_2::export!(Shapes);
//! ```

wit_bindgen::generate!({
    path: "../../wit",
    world: "tgw:skill/skill@0.2.0",
    pub_export_macro: true,
    default_bindings_module: "tgw_skill_sdk_v0_2",
    generate_all,
});

pub use exports::tgw::skill0_2_0::tool_provider::Guest;

/// A value of the skill's `[config]` table (the host serves it through
/// `wasi:config/store`).
pub fn config(key: &str) -> Option<String> {
    crate::wasi::config::store::get(key).ok().flatten()
}
pub use tgw::skill0_2_0::call_context::{LogLevel, log, progress};
pub use tgw::skill0_2_0::types::{
    Answer, ContentBlock, EmbeddedResource, InputRequest, Media, ResourceBody, ResourceLink, Risk,
    Tool, ToolError, ToolResult,
};

impl From<ToolResult> for Answer {
    fn from(result: ToolResult) -> Self {
        Answer::Done(result)
    }
}

/// Asks the calling person one question: the answer comes with the next
/// round's arguments (see [`input`]).
pub fn ask(key: &str, message: &str, requested_schema: serde_json::Value) -> InputRequest {
    InputRequest {
        key: key.to_owned(),
        message: message.to_owned(),
        requested_schema: requested_schema.to_string(),
    }
}

/// The answer to the question `key` in `args`, if the person accepted it:
/// its content (`"$input"`, as the gateway adds it).
pub fn input<'a>(args: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    let answer = args.get("$input")?.get(key)?;
    if answer.get("action")? == "accept" {
        answer.get("content")
    } else {
        None
    }
}

/// Parses a tool's JSON arguments, mapping errors to `invalid-args`.
pub fn parse_args<T: serde::de::DeserializeOwned>(args_json: &str) -> Result<T, ToolError> {
    serde_json::from_str(args_json).map_err(|e| ToolError::InvalidArgs(e.to_string()))
}

/// Builds a [`Tool`] whose schemas are given as `serde_json::Value`s.
pub fn tool(
    name: &str,
    description: &str,
    risk: Risk,
    input_schema: serde_json::Value,
    output_schema: Option<serde_json::Value>,
) -> Tool {
    Tool {
        name: name.to_owned(),
        description: description.to_owned(),
        input_schema: input_schema.to_string(),
        output_schema: output_schema.map(|s| s.to_string()),
        risk,
    }
}

impl ToolResult {
    /// A result of one text block.
    pub fn text(text: impl Into<String>) -> Self {
        ToolResult {
            content: vec![ContentBlock::Text(text.into())],
            structured_content: None,
            is_error: false,
        }
    }

    /// A result of these blocks.
    pub fn blocks(content: Vec<ContentBlock>) -> Self {
        ToolResult {
            content,
            structured_content: None,
            is_error: false,
        }
    }

    /// A JSON object as structured content, and as a text block for
    /// clients that read only text.
    pub fn json(value: &serde_json::Value) -> Self {
        let text = value.to_string();
        ToolResult {
            content: vec![ContentBlock::Text(text.clone())],
            structured_content: Some(text),
            is_error: false,
        }
    }

    /// An error the agent reads (`isError`): the tool ran and says why it
    /// could not do what was asked.
    pub fn error(text: impl Into<String>) -> Self {
        ToolResult {
            is_error: true,
            ..ToolResult::text(text)
        }
    }
}
