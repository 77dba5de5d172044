//! The smallest skill: `echo` returns its arguments. Used by the runtime
//! benchmarks and as the "good call" after each hostile one.

use tgw_skill_sdk::{Guest, Risk, Tool, ToolError};

struct Echo;

impl Guest for Echo {
    fn tools() -> Vec<Tool> {
        vec![tgw_skill_sdk::tool(
            "echo",
            "Returns its arguments unchanged.",
            Risk::Read,
            serde_json::json!({"type": "object"}),
        )]
    }

    fn invoke(tool: String, args_json: String) -> Result<String, ToolError> {
        match tool.as_str() {
            "echo" => Ok(args_json),
            _ => Err(ToolError::UnknownTool(tool)),
        }
    }
}

tgw_skill_sdk::export!(Echo);
