//! The `files` skill: list, read, search, write and delete files inside the
//! one directory its manifest preopens (`/data`). The sandbox enforces the
//! boundary; this component also refuses `..` and absolute paths so that an
//! agent gets a clear error instead of a sandbox refusal.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use tgw_skill_sdk::{Guest, Risk, Tool, ToolError, json_result, parse_args, tool};

const MAX_READ_BYTES: u64 = 1024 * 1024;
const MAX_SEARCH_HITS: usize = 200;

struct Files;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    max_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

fn path_schema(required: bool, extra: Value) -> Value {
    let mut properties = json!({
        "path": {"type": "string", "description": "Path relative to the skill's folder."}
    });
    properties
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let required: Vec<&str> = if required { vec!["path"] } else { vec![] };
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

impl Guest for Files {
    fn tools() -> Vec<Tool> {
        vec![
            tool(
                "list_dir",
                "List a directory's entries.",
                Risk::Read,
                path_schema(false, json!({})),
            ),
            tool(
                "read_file",
                "Read a text file (up to 1 MiB).",
                Risk::Read,
                path_schema(
                    true,
                    json!({"max_bytes": {"type": "integer", "minimum": 1}}),
                ),
            ),
            tool(
                "search",
                "Find lines containing a text, in every file under a directory.",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "minLength": 1},
                        "path": {"type": "string"}
                    },
                    "required": ["query"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "write_file",
                "Create or replace a text file.",
                Risk::Write,
                path_schema(true, json!({"content": {"type": "string"}})),
            ),
            tool(
                "delete_file",
                "Delete a file.",
                Risk::Destructive,
                path_schema(true, json!({})),
            ),
        ]
    }

    fn invoke(tool: String, args_json: String) -> Result<String, ToolError> {
        match tool.as_str() {
            "list_dir" => list_dir(parse_args(&args_json)?),
            "read_file" => read_file(parse_args(&args_json)?),
            "search" => search(parse_args(&args_json)?),
            "write_file" => write_file(parse_args(&args_json)?),
            "delete_file" => delete_file(parse_args(&args_json)?),
            _ => Err(ToolError::UnknownTool(tool)),
        }
    }
}

/// Maps an agent's relative path into the preopened root.
fn resolve(relative: &str) -> Result<PathBuf, ToolError> {
    let root = tgw_skill_sdk::config("root").unwrap_or_else(|| "/data".into());
    let mut path = PathBuf::from(root);
    for part in Path::new(relative).components() {
        match part {
            Component::Normal(name) => path.push(name),
            Component::CurDir => {}
            _ => {
                return Err(ToolError::InvalidArgs(format!(
                    "{relative:?}: use a path inside the folder, without `..` or a leading `/`"
                )));
            }
        }
    }
    Ok(path)
}

fn io_error(path: &str, e: std::io::Error) -> ToolError {
    ToolError::Failed(format!("{path}: {e}"))
}

fn list_dir(args: PathArgs) -> Result<String, ToolError> {
    let dir = resolve(&args.path)?;
    let mut entries = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| io_error(&args.path, e))? {
        let entry = entry.map_err(|e| io_error(&args.path, e))?;
        let meta = entry.metadata().map_err(|e| io_error(&args.path, e))?;
        let kind = if meta.is_dir() {
            "dir"
        } else if meta.is_symlink() {
            "symlink"
        } else {
            "file"
        };
        entries.push(json!({
            "name": entry.file_name().to_string_lossy(),
            "kind": kind,
            "size": meta.len(),
        }));
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json_result(&json!({"path": args.path, "entries": entries}))
}

fn read_file(args: ReadArgs) -> Result<String, ToolError> {
    use std::io::Read;
    let limit = args.max_bytes.unwrap_or(MAX_READ_BYTES).min(MAX_READ_BYTES);
    let file = fs::File::open(resolve(&args.path)?).map_err(|e| io_error(&args.path, e))?;
    let size = file.metadata().map_err(|e| io_error(&args.path, e))?.len();
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&args.path, e))?;
    json_result(&json!({
        "path": args.path,
        "content": String::from_utf8_lossy(&bytes),
        "size": size,
        "truncated": size > limit,
    }))
}

fn search(args: SearchArgs) -> Result<String, ToolError> {
    if args.query.is_empty() {
        return Err(ToolError::InvalidArgs("query must not be empty".into()));
    }
    let root = resolve(&args.path)?;
    let mut hits = Vec::new();
    let mut pending = vec![(root, args.path.clone())];
    while let Some((dir, shown)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let shown = if shown.is_empty() {
                name
            } else {
                format!("{shown}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push((entry.path(), shown));
            } else if kind.is_file() {
                let Ok(text) = fs::read_to_string(entry.path()) else {
                    continue;
                };
                for (number, line) in text.lines().enumerate() {
                    if line.contains(&args.query) {
                        hits.push(json!({"path": shown, "line": number + 1, "text": line}));
                        if hits.len() == MAX_SEARCH_HITS {
                            return json_result(&json!({"matches": hits, "truncated": true}));
                        }
                    }
                }
            }
        }
    }
    json_result(&json!({"matches": hits, "truncated": false}))
}

fn write_file(args: WriteArgs) -> Result<String, ToolError> {
    fs::write(resolve(&args.path)?, args.content.as_bytes())
        .map_err(|e| io_error(&args.path, e))?;
    json_result(&json!({"path": args.path, "bytes": args.content.len()}))
}

fn delete_file(args: PathArgs) -> Result<String, ToolError> {
    if args.path.is_empty() {
        return Err(ToolError::InvalidArgs("path is required".into()));
    }
    fs::remove_file(resolve(&args.path)?).map_err(|e| io_error(&args.path, e))?;
    json_result(&json!({"path": args.path, "deleted": true}))
}

tgw_skill_sdk::export!(Files);
