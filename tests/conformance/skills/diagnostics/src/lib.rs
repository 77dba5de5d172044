//! The `diagnostics` skill: the tools the MCP conformance suite calls, each
//! answering exactly as the suite's scenario describes. It is a
//! `tgw:skill@0.2.0` skill: content blocks, structured content, progress
//! and log lines. The tools of the tasks scenarios take longer than the
//! gateway's half second before a call becomes a task, so that they do.

use std::time::Duration;

use serde_json::{Value, json};
use tgw_skill_sdk_v0_2::{
    Answer, ContentBlock, EmbeddedResource, Guest, LogLevel, Media, ResourceBody, Risk, Tool,
    ToolError, ToolResult, ask, input, log, progress, tool,
};

/// A 1×1 red PNG.
const RED_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A WAV file of `samples` samples of silence (8 kHz, 8-bit mono).
fn silent_wav(samples: u32) -> Vec<u8> {
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&samples.to_le_bytes());
    wav.extend(std::iter::repeat_n(0x80u8, samples as usize));
    wav
}

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

/// The input schema of the JSON Schema 2020-12 scenario, keyword for keyword.
fn schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
            }
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })
}

/// A form asking for one string property, required.
fn one_string(property: &str) -> Value {
    json!({
        "type": "object",
        "properties": {property: {"type": "string"}},
        "required": [property]
    })
}

/// Sends the three log lines of the logging scenarios, 50 ms apart.
fn three_log_lines() -> ToolResult {
    for (i, line) in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        log(LogLevel::Info, line);
    }
    ToolResult::text("Logged three lines.")
}

/// Asks for a name under `key` until the person gives one, then greets.
fn greet_by_name(args: &Value, key: &str, question: &str) -> Answer {
    match input(args, key).and_then(|answer| answer["name"].as_str()) {
        Some(name) => ToolResult::text(format!("Hello, {name}!")).into(),
        None => Answer::InputRequired(vec![ask(key, question, one_string("name"))]),
    }
}

/// Asks `form` under `key`, then says how the person answered.
fn ask_and_tell(args: &Value, key: &str, message: &str, form: Value, said: &str) -> Answer {
    match args.get("$input").and_then(|answers| answers.get(key)) {
        Some(answer) => ToolResult::text(format!(
            "{said}: action={}, content={}",
            answer["action"].as_str().unwrap_or("none"),
            answer.get("content").cloned().unwrap_or(Value::Null)
        ))
        .into(),
        None => Answer::InputRequired(vec![ask(key, message, form)]),
    }
}

/// How long the tasks scenarios' jobs take before they answer or ask.
const JOB: Duration = Duration::from_secs(2);

/// One boolean field, as a form.
fn one_boolean(property: &str) -> Value {
    json!({
        "type": "object",
        "properties": {property: {"type": "boolean"}},
        "required": [property]
    })
}

/// Asks for a name and a colour at once; answers once both are answered,
/// saying what each answer held.
fn name_and_colour(args: &Value) -> Answer {
    let answer = |key: &str| args.get("$input").and_then(|a| a.get(key)).cloned();
    match (answer("name"), answer("color")) {
        (Some(name), Some(colour)) => {
            ToolResult::text(format!("Answers: name {name}, colour {colour}.")).into()
        }
        _ => {
            std::thread::sleep(JOB);
            Answer::InputRequired(vec![
                ask("name", "What is your name?", one_string("name")),
                ask(
                    "color",
                    "What is your favourite colour?",
                    one_string("color"),
                ),
            ])
        }
    }
}

/// The form of the defaults scenario (SEP-1034): a default for each type.
fn form_with_defaults() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "default": true}
        }
    })
}

/// The form of the enums scenario (SEP-1330): each kind of choice.
fn form_with_choices() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"}
            ]},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"},
                {"const": "value2", "title": "Second Choice"},
                {"const": "value3", "title": "Third Choice"}
            ]}}
        }
    })
}

fn text(text: &str) -> ContentBlock {
    ContentBlock::Text(text.to_owned())
}

fn image() -> ContentBlock {
    ContentBlock::Image(Media {
        data: RED_PIXEL_PNG.to_vec(),
        mime_type: "image/png".into(),
    })
}

fn resource(uri: &str, mime_type: &str, body: &str) -> ContentBlock {
    ContentBlock::EmbeddedResource(EmbeddedResource {
        uri: uri.into(),
        mime_type: Some(mime_type.into()),
        body: ResourceBody::Text(body.into()),
    })
}

struct Diagnostics;

impl Guest for Diagnostics {
    fn tools() -> Vec<Tool> {
        let plain = |name: &str, description: &str| {
            tool(name, description, Risk::Read, no_arguments(), None)
        };
        vec![
            plain("simple_text", "Answers with one text block."),
            plain("image", "Answers with a PNG image."),
            plain("audio", "Answers with a WAV sound."),
            plain(
                "embedded_resource",
                "Answers with an embedded text resource.",
            ),
            plain(
                "mixed_content",
                "Answers with text, an image and a resource.",
            ),
            plain("error", "Always answers with a tool error."),
            plain("logging", "Sends three log lines while it runs."),
            plain("progress", "Reports progress three times while it runs."),
            plain("log_lines", "Sends three log lines while it runs."),
            plain("ask_name", "Asks the caller's name, then greets them."),
            plain("ask_again", "Asks the caller's name, then greets them."),
            plain(
                "needs_a_person",
                "Asks the caller's name: it needs a client that can ask.",
            ),
            plain(
                "streams_a_question",
                "Asks the caller's name, while the request is open.",
            ),
            plain(
                "confirm",
                "Asks the caller to confirm, then says the state held.",
            ),
            plain(
                "two_questions",
                "Asks a name, then a favourite colour, then answers.",
            ),
            tool(
                "ask_contact",
                "Asks the caller for a user name and an email address, with a message.",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }),
                None,
            ),
            plain(
                "ask_with_defaults",
                "Asks a form whose fields have defaults.",
            ),
            tool(
                "regional",
                "Says which region it was asked for; the region travels in a header too.",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
                    "required": ["region"]
                }),
                None,
            ),
            plain(
                "ask_with_choices",
                "Asks a form of single and multiple choices.",
            ),
            tool(
                "json_schema_2020_12",
                "Takes arguments described with JSON Schema 2020-12 keywords.",
                Risk::Read,
                schema_2020_12(),
                None,
            ),
            tool(
                "greet",
                "Greets someone by name, at once.",
                Risk::Read,
                one_string("name"),
                None,
            ),
            tool(
                "slow_compute",
                "Sleeps `seconds` seconds (at most 120), then says so.",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {
                        "seconds": {"type": "integer", "minimum": 0},
                        "label": {"type": "string"}
                    },
                    "required": ["seconds"]
                }),
                None,
            ),
            plain(
                "failing_job",
                "Works two seconds, then answers with a tool error.",
            ),
            plain(
                "protocol_error_job",
                "Works two seconds, then fails outright.",
            ),
            tool(
                "confirm_delete",
                "Asks the caller to confirm deleting a file (it deletes nothing).",
                Risk::Read,
                one_string("filename"),
                None,
            ),
            plain(
                "multi_input",
                "Asks a name and a favourite colour at once, then answers.",
            ),
            plain(
                "task_with_question",
                "Asks the caller's name, then works two seconds and greets them.",
            ),
            tool(
                "weather",
                "The weather in a city, as structured content.",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {"city": {"type": "string", "minLength": 1}},
                    "required": ["city"],
                    "additionalProperties": false
                }),
                Some(json!({
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "celsius": {"type": "number"},
                        "sky": {"type": "string"}
                    },
                    "required": ["city", "celsius", "sky"]
                })),
            ),
        ]
    }

    fn invoke(tool: String, args_json: String) -> Result<Answer, ToolError> {
        let args: Value = tgw_skill_sdk_v0_2::parse_args(&args_json)?;
        let answer: ToolResult = match tool.as_str() {
            "greet" => ToolResult::text(format!(
                "Hello, {}!",
                args["name"].as_str().unwrap_or("there")
            )),
            "slow_compute" => {
                let seconds = args["seconds"].as_u64().unwrap_or(0).min(120);
                std::thread::sleep(Duration::from_secs(seconds));
                ToolResult::text(format!(
                    "Computed {} in {seconds} s.",
                    args["label"].as_str().unwrap_or("the job")
                ))
            }
            "failing_job" => {
                std::thread::sleep(JOB);
                ToolResult::error("The job failed, as this one always does.")
            }
            "protocol_error_job" => {
                std::thread::sleep(JOB);
                return Err(ToolError::Failed(
                    "the job broke down, as this one always does".into(),
                ));
            }
            "confirm_delete" => {
                let filename = args["filename"].as_str().unwrap_or_default();
                let answered = args.get("$input").and_then(|a| a.get("confirm")).is_some();
                match input(&args, "confirm").and_then(|a| a["confirm"].as_bool()) {
                    Some(true) => ToolResult::text(format!("Deleted {filename} (not really).")),
                    // Declined, or not confirmed.
                    Some(false) => ToolResult::text(format!("Kept {filename}.")),
                    None if answered => ToolResult::text(format!("Kept {filename}.")),
                    None => {
                        std::thread::sleep(JOB);
                        return Ok(Answer::InputRequired(vec![ask(
                            "confirm",
                            &format!("Delete {filename}?"),
                            one_boolean("confirm"),
                        )]));
                    }
                }
            }
            "multi_input" => return Ok(name_and_colour(&args)),
            "task_with_question" => {
                match input(&args, "user_name").and_then(|a| a["name"].as_str()) {
                    Some(name) => {
                        std::thread::sleep(JOB);
                        ToolResult::text(format!("Hello, {name}! The job is done."))
                    }
                    None => {
                        return Ok(Answer::InputRequired(vec![ask(
                            "user_name",
                            "What is your name?",
                            one_string("name"),
                        )]));
                    }
                }
            }
            "ask_name" => return Ok(greet_by_name(&args, "user_name", "What is your name?")),
            "ask_again" | "needs_a_person" | "streams_a_question" => {
                return Ok(greet_by_name(&args, "name", "What is your name?"));
            }
            "regional" => ToolResult::text(format!(
                "Region: {}",
                args["region"].as_str().unwrap_or_default()
            )),
            "ask_contact" => {
                let message = args["message"]
                    .as_str()
                    .unwrap_or("Please tell me who you are");
                let form = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                });
                return Ok(ask_and_tell(
                    &args,
                    "contact",
                    message,
                    form,
                    "User response",
                ));
            }
            "ask_with_defaults" | "ask_with_choices" => {
                let (message, form) = if tool == "ask_with_defaults" {
                    (
                        "Please review and update the form fields with defaults",
                        form_with_defaults(),
                    )
                } else {
                    (
                        "Please select options from the enum fields",
                        form_with_choices(),
                    )
                };
                return Ok(ask_and_tell(
                    &args,
                    "form",
                    message,
                    form,
                    "Elicitation completed",
                ));
            }
            "confirm" => match input(&args, "confirm").and_then(|a| a["ok"].as_bool()) {
                Some(ok) => ToolResult::text(format!("state-ok: confirmed {ok}")),
                None => {
                    let form = json!({
                        "type": "object",
                        "properties": {"ok": {"type": "boolean"}},
                        "required": ["ok"]
                    });
                    return Ok(Answer::InputRequired(vec![ask(
                        "confirm",
                        "Please confirm",
                        form,
                    )]));
                }
            },
            "two_questions" => {
                let name = input(&args, "step1").and_then(|a| a["name"].as_str());
                let color = input(&args, "step2").and_then(|a| a["color"].as_str());
                match (name, color) {
                    (None, _) => {
                        return Ok(Answer::InputRequired(vec![ask(
                            "step1",
                            "First, what is your name?",
                            one_string("name"),
                        )]));
                    }
                    (Some(_), None) => {
                        return Ok(Answer::InputRequired(vec![ask(
                            "step2",
                            "And what is your favourite colour?",
                            one_string("color"),
                        )]));
                    }
                    (Some(name), Some(color)) => {
                        ToolResult::text(format!("Hello, {name}! You like {color}."))
                    }
                }
            }
            "simple_text" => ToolResult::text("This is a simple text response for testing."),
            "image" => ToolResult::blocks(vec![image()]),
            "audio" => ToolResult::blocks(vec![ContentBlock::Audio(Media {
                data: silent_wav(800),
                mime_type: "audio/wav".into(),
            })]),
            "embedded_resource" => ToolResult::blocks(vec![resource(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            )]),
            "mixed_content" => ToolResult::blocks(vec![
                text("Multiple content types test:"),
                image(),
                resource(
                    "test://mixed-content-resource",
                    "application/json",
                    r#"{"test":"data","value":123}"#,
                ),
            ]),
            "error" => ToolResult::error("This tool intentionally returns an error for testing"),
            "logging" | "log_lines" => three_log_lines(),
            "progress" => {
                for done in [0.0, 50.0, 100.0] {
                    progress(done, Some(100.0), Some(&format!("{done}% done")));
                    std::thread::sleep(Duration::from_millis(50));
                }
                ToolResult::text("Progress reported three times.")
            }
            "json_schema_2020_12" => ToolResult::text(format!("Received: {args_json}")),
            "weather" => {
                let city = args["city"].as_str().unwrap_or_default();
                let weather = json!({"city": city, "celsius": 21.5, "sky": "clear"});
                ToolResult::json(&weather)
            }
            _ => return Err(ToolError::UnknownTool(tool)),
        };
        Ok(answer.into())
    }
}

tgw_skill_sdk_v0_2::export!(Diagnostics);
