//! Skill components, in either `tgw:skill` world:
//!
//! - `0.1.0`: a tool answers with text;
//! - `0.2.0`: a tool answers with MCP content blocks and structured
//!   content, and may report progress and log lines while it runs.
//!
//! Which world a component is in is read from its exports when it loads.
//! Either way its answer leaves here as a [`ToolOutput`]: the text the
//! executor's receipt hashes, and how to read it.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tgw_parse::names::Digest;
pub use tgw_proto::receipt::OutputFormat;

use super::bindings::skill as v0_1;
use super::bindings::skill_v0_2 as v0_2;
use super::updates::UpdateSink;
use super::{CallError, CallOutcome, LoadError, Loaded, Risk, Runtime, SandboxSpec, ToolFailure};

/// The largest answer a tool may give, as the text that travels back
/// (base64 for bytes included): it must fit one message on the bus.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// The export that makes a component a 0.2.0 skill.
const TOOL_PROVIDER_V0_2: &str = "tgw:skill/tool-provider@0.2.0";

/// One tool as its component describes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    /// The schema its structured content fits (0.2.0 skills only).
    pub output_schema: Option<Value>,
    /// `output_schema`, compiled once when the tool is read.
    #[serde(skip)]
    pub output_check: Option<OutputCheck>,
    pub risk: Risk,
}

/// A tool's output schema, compiled: what each answer is checked against.
#[derive(Clone)]
pub struct OutputCheck(std::sync::Arc<jsonschema::Validator>);

impl OutputCheck {
    pub fn compile(schema: &Value) -> Result<OutputCheck, String> {
        jsonschema::validator_for(schema)
            .map(|validator| OutputCheck(std::sync::Arc::new(validator)))
            .map_err(|e| e.to_string())
    }
}

/// Two checks are the same when they come from one compilation (the
/// schemas beside them say whether they mean the same).
impl PartialEq for OutputCheck {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for OutputCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputCheck")
    }
}

/// What a tool answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub format: OutputFormat,
    /// Text, or (for [`OutputFormat::Content`]) an MCP `CallToolResult`
    /// as JSON: `content`, and `structuredContent` and `isError` when set.
    pub text: String,
}

enum World {
    V0_1(Loaded<v0_1::Skill>),
    V0_2(Loaded<v0_2::Skill>),
}

/// A compiled skill component, ready to instantiate.
pub struct LoadedComponent {
    /// `sha256:<hex>` of the component bytes.
    pub digest: Digest,
    /// Whether this load came from the on-disk compile cache.
    pub from_cache: bool,
    world: World,
}

impl LoadedComponent {
    /// Whether its calls may send progress and log lines (0.2.0 only).
    pub fn sends_updates(&self) -> bool {
        matches!(self.world, World::V0_2(_))
    }
}

impl Runtime {
    /// Loads a skill component from a file.
    pub fn load_file(&self, path: &std::path::Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// Loads a skill component of either world; `name` is only for error
    /// messages.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Arc<LoadedComponent>, LoadError> {
        let compiled = self.compile(name, bytes)?;
        let v0_2 = compiled
            .component
            .component_type()
            .exports(self.engine())
            .any(|(export, _)| export == TOOL_PROVIDER_V0_2);
        let (digest, from_cache) = (compiled.digest.clone(), compiled.from_cache);
        let world = if v0_2 {
            World::V0_2(self.prepare(name, compiled)?)
        } else {
            World::V0_1(self.prepare(name, compiled)?)
        };
        Ok(Arc::new(LoadedComponent {
            digest,
            from_cache,
            world,
        }))
    }

    /// The tools a component offers, read in its sandbox.
    pub async fn tools(
        &self,
        component: &LoadedComponent,
        spec: &SandboxSpec,
    ) -> CallOutcome<Vec<ToolInfo>> {
        let outcome = match &component.world {
            World::V0_1(loaded) => self
                .run(loaded, spec, async |skill: &v0_1::Skill, store| {
                    skill.tgw_skill0_1_0_tool_provider().call_tools(store).await
                })
                .await
                .and_then(|tools| Ok(tools.into_iter().map(ToolSpec::from).collect())),
            World::V0_2(loaded) => self
                .run(loaded, spec, async |skill: &v0_2::Skill, store| {
                    skill.tgw_skill0_2_0_tool_provider().call_tools(store).await
                })
                .await
                .and_then(|tools| Ok(tools.into_iter().map(ToolSpec::from).collect())),
        };
        outcome.and_then(|tools: Vec<ToolSpec>| {
            tools
                .into_iter()
                .map(ToolSpec::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CallError::Tool(ToolFailure::Failed(e)))
        })
    }

    /// Runs `tool` with `args_json` in a fresh sandbox; a 0.2.0 skill's
    /// progress and log lines go to `updates`.
    pub async fn invoke(
        &self,
        component: &LoadedComponent,
        spec: &SandboxSpec,
        tool: &str,
        args_json: &str,
        updates: Option<UpdateSink>,
    ) -> CallOutcome<ToolOutput> {
        let outcome = match &component.world {
            World::V0_1(loaded) => self
                .run(loaded, spec, async |skill: &v0_1::Skill, store| {
                    skill
                        .tgw_skill0_1_0_tool_provider()
                        .call_invoke(store, tool, args_json)
                        .await
                })
                .await
                .and_then(|result| {
                    result
                        .map(|text| ToolOutput {
                            format: OutputFormat::Text,
                            text,
                        })
                        .map_err(|e| CallError::Tool(failure_v0_1(e)))
                }),
            World::V0_2(loaded) => self
                .run_with(loaded, spec, updates, async |skill: &v0_2::Skill, store| {
                    skill
                        .tgw_skill0_2_0_tool_provider()
                        .call_invoke(store, tool, args_json)
                        .await
                })
                .await
                .and_then(|result| {
                    let answer = result.map_err(|e| CallError::Tool(failure_v0_2(e)))?;
                    let (format, text) = match answer {
                        v0_2::tgw::skill0_2_0::types::Answer::Done(result) => {
                            (OutputFormat::Content, content_json(result))
                        }
                        v0_2::tgw::skill0_2_0::types::Answer::InputRequired(requests) => {
                            (OutputFormat::InputRequired, questions_json(requests))
                        }
                    };
                    text.map(|text| ToolOutput { format, text })
                        .map_err(|e| CallError::Tool(ToolFailure::Failed(e)))
                }),
        };
        outcome.and_then(|output| {
            if output.text.len() > MAX_OUTPUT_BYTES {
                return Err(CallError::Tool(ToolFailure::Failed(format!(
                    "the tool's answer is {} KiB, more than the {} KiB an answer may be",
                    output.text.len() / 1024,
                    MAX_OUTPUT_BYTES / 1024
                ))));
            }
            Ok(output)
        })
    }
}

/// A tool as either world describes it, before its schemas are parsed.
struct ToolSpec {
    name: String,
    description: String,
    input_schema: String,
    output_schema: Option<String>,
    risk: Risk,
}

impl From<v0_1::tgw::skill0_1_0::types::Tool> for ToolSpec {
    fn from(tool: v0_1::tgw::skill0_1_0::types::Tool) -> Self {
        use v0_1::tgw::skill0_1_0::types::Risk as R;
        ToolSpec {
            name: tool.name,
            description: tool.description,
            input_schema: tool.input_schema,
            output_schema: None,
            risk: match tool.risk {
                R::Read => Risk::Read,
                R::Write => Risk::Write,
                R::Destructive => Risk::Destructive,
            },
        }
    }
}

impl From<v0_2::tgw::skill0_2_0::types::Tool> for ToolSpec {
    fn from(tool: v0_2::tgw::skill0_2_0::types::Tool) -> Self {
        use v0_2::tgw::skill0_2_0::types::Risk as R;
        ToolSpec {
            name: tool.name,
            description: tool.description,
            input_schema: tool.input_schema,
            output_schema: tool.output_schema,
            risk: match tool.risk {
                R::Read => Risk::Read,
                R::Write => Risk::Write,
                R::Destructive => Risk::Destructive,
            },
        }
    }
}

impl ToolSpec {
    fn parse(self) -> Result<ToolInfo, String> {
        let schema = |text: &str, which: &str| {
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    format!(
                        "tool {}: its {which} schema is not a JSON object",
                        self.name
                    )
                })
        };
        let input_schema = schema(&self.input_schema, "input")?;
        let (output_schema, output_check) = match &self.output_schema {
            Some(text) => {
                let parsed = schema(text, "output")?;
                let check = OutputCheck::compile(&parsed).map_err(|e| {
                    format!(
                        "tool {}: its output schema is not a JSON Schema: {e}",
                        self.name
                    )
                })?;
                (Some(parsed), Some(check))
            }
            None => (None, None),
        };
        Ok(ToolInfo {
            name: self.name,
            description: self.description,
            input_schema,
            output_schema,
            output_check,
            risk: self.risk,
        })
    }
}

fn failure_v0_1(e: v0_1::tgw::skill0_1_0::types::ToolError) -> ToolFailure {
    use v0_1::tgw::skill0_1_0::types::ToolError as E;
    match e {
        E::UnknownTool(m) => ToolFailure::UnknownTool(m),
        E::InvalidArgs(m) => ToolFailure::InvalidArgs(m),
        E::Failed(m) => ToolFailure::Failed(m),
    }
}

fn failure_v0_2(e: v0_2::tgw::skill0_2_0::types::ToolError) -> ToolFailure {
    use v0_2::tgw::skill0_2_0::types::ToolError as E;
    match e {
        E::UnknownTool(m) => ToolFailure::UnknownTool(m),
        E::InvalidArgs(m) => ToolFailure::InvalidArgs(m),
        E::Failed(m) => ToolFailure::Failed(m),
    }
}

/// A 0.2.0 result as an MCP `CallToolResult` in JSON text.
fn content_json(result: v0_2::tgw::skill0_2_0::types::ToolResult) -> Result<String, String> {
    use v0_2::tgw::skill0_2_0::types::{ContentBlock as B, ResourceBody};
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let optional = |object: &mut Map<String, Value>, key: &str, value: Option<String>| {
        if let Some(value) = value {
            object.insert(key.into(), Value::String(value));
        }
    };
    let content: Vec<Value> = result
        .content
        .into_iter()
        .map(|block| match block {
            B::Text(text) => json!({"type": "text", "text": text}),
            B::Image(media) => {
                json!({"type": "image", "data": base64(&media.data), "mimeType": media.mime_type})
            }
            B::Audio(media) => {
                json!({"type": "audio", "data": base64(&media.data), "mimeType": media.mime_type})
            }
            B::ResourceLink(link) => {
                let mut object = Map::new();
                object.insert("type".into(), json!("resource_link"));
                object.insert("uri".into(), json!(link.uri));
                object.insert("name".into(), json!(link.name));
                optional(&mut object, "description", link.description);
                optional(&mut object, "mimeType", link.mime_type);
                Value::Object(object)
            }
            B::EmbeddedResource(resource) => {
                let mut object = Map::new();
                object.insert("uri".into(), json!(resource.uri));
                optional(&mut object, "mimeType", resource.mime_type);
                match resource.body {
                    ResourceBody::Text(text) => object.insert("text".into(), json!(text)),
                    ResourceBody::Blob(bytes) => {
                        object.insert("blob".into(), json!(base64(&bytes)))
                    }
                };
                json!({"type": "resource", "resource": object})
            }
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("content".into(), Value::Array(content));
    if let Some(text) = result.structured_content {
        let structured = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .ok_or("the tool's structured content is not a JSON object")?;
        answer.insert("structuredContent".into(), structured);
    }
    if result.is_error {
        answer.insert("isError".into(), Value::Bool(true));
    }
    Ok(Value::Object(answer).to_string())
}

/// How many questions one round may ask.
pub const MAX_QUESTIONS: usize = 8;

/// A 0.2.0 tool's questions as JSON text: `[{"key", "message",
/// "requestedSchema"}]`, each checked (a key of 1 to 64 lowercase letters,
/// digits and `_`, once each; a schema that is a JSON object).
fn questions_json(
    requests: Vec<v0_2::tgw::skill0_2_0::types::InputRequest>,
) -> Result<String, String> {
    if requests.is_empty() || requests.len() > MAX_QUESTIONS {
        return Err(format!(
            "the tool asked {} questions; a round asks 1 to {MAX_QUESTIONS}",
            requests.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut questions = Vec::new();
    for request in requests {
        let key_ok = (1..=64).contains(&request.key.len())
            && request
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok || !seen.insert(request.key.clone()) {
            return Err(format!(
                "the tool asked a question under the key {:?}: a key is 1 to 64 lowercase \
                 letters, digits and `_`, once per round",
                request.key
            ));
        }
        let schema = serde_json::from_str::<Value>(&request.requested_schema)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("question {}: its schema is not a JSON object", request.key))?;
        questions.push(json!({
            "key": request.key,
            "message": request.message,
            "requestedSchema": schema,
        }));
    }
    Ok(Value::Array(questions).to_string())
}

/// Checks a tool's structured content against its output schema: a
/// successful 0.2.0 answer of a tool with an output schema must carry
/// structured content that fits it.
pub fn check_output(tool: &ToolInfo, output: &ToolOutput) -> Result<(), String> {
    let Some(check) = &tool.output_check else {
        return Ok(());
    };
    if output.format != OutputFormat::Content {
        return Ok(());
    }
    let answer: Value = serde_json::from_str(&output.text).map_err(|e| e.to_string())?;
    if answer["isError"] == Value::Bool(true) {
        return Ok(());
    }
    let Some(structured) = answer.get("structuredContent") else {
        return Err(format!(
            "tool {} has an output schema, and its answer carries no structured content",
            tool.name
        ));
    };
    let errors: Vec<String> = check
        .0
        .iter_errors(structured)
        .take(3)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tool {}'s structured content does not fit its output schema: {}",
            tool.name,
            errors.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::v0_2::tgw::skill0_2_0::types::{ContentBlock, InputRequest, ToolResult};
    use super::*;

    fn question(key: &str, schema: &str) -> InputRequest {
        InputRequest {
            key: key.into(),
            message: "?".into(),
            requested_schema: schema.into(),
        }
    }

    #[test]
    fn a_tools_questions_are_checked_before_anyone_is_asked() {
        let form = r#"{"type":"object"}"#;
        let asked = questions_json(vec![question("name", form)]).unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Value>(&asked).unwrap_or_default(),
            json!([{"key": "name", "message": "?", "requestedSchema": {"type": "object"}}])
        );
        for (questions, why) in [
            (vec![], "asked 0 questions"),
            (vec![question("Name", form)], "under the key"),
            (vec![question("", form)], "under the key"),
            (vec![question("a.b", form)], "under the key"),
            (
                vec![question("a", form), question("a", form)],
                "under the key",
            ),
            (vec![question("a", "[]")], "not a JSON object"),
            (vec![question("a", "{")], "not a JSON object"),
            (
                (0..=MAX_QUESTIONS)
                    .map(|i| question(&format!("q{i}"), form))
                    .collect(),
                "asked 9 questions",
            ),
        ] {
            let refused = questions_json(questions).err().unwrap_or_default();
            assert!(refused.contains(why), "{refused}");
        }
    }

    #[test]
    fn structured_content_must_be_an_object_that_fits_the_output_schema() {
        let result = |structured: Option<&str>| ToolResult {
            content: vec![ContentBlock::Text("t".into())],
            structured_content: structured.map(str::to_owned),
            is_error: false,
        };
        assert!(content_json(result(Some("[1]"))).is_err());
        assert!(content_json(result(Some("not json"))).is_err());
        let tool = ToolInfo {
            name: "weather".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
            output_schema: Some(json!({"type": "object", "required": ["celsius"]})),
            output_check: OutputCheck::compile(&json!({"type": "object", "required": ["celsius"]}))
                .ok(),
            risk: Risk::Read,
        };
        let output = |result: ToolResult| ToolOutput {
            format: OutputFormat::Content,
            text: content_json(result).unwrap_or_default(),
        };
        assert_eq!(
            check_output(&tool, &output(result(Some(r#"{"celsius":1}"#)))),
            Ok(())
        );
        assert!(check_output(&tool, &output(result(Some(r#"{"sky":"clear"}"#)))).is_err());
        assert!(check_output(&tool, &output(result(None))).is_err());
        // A tool error carries no structured content.
        let error = ToolResult {
            is_error: true,
            ..result(None)
        };
        assert_eq!(check_output(&tool, &output(error)), Ok(()));
    }
}
