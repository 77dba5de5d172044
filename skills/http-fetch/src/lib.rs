//! The `http-fetch` skill: `get` a URL and return status, headers and a
//! size-capped body. Redirects are followed here, one request at a time, so
//! the gateway checks every hop against the skill's allowlist.

use serde::Deserialize;
use serde_json::json;
use tgw_skill_sdk::{Guest, Risk, Tool, ToolError, http, json_result, parse_args, tool};

struct HttpFetch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    url: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
}

fn config_number(key: &str, default: usize) -> usize {
    tgw_skill_sdk::config(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Guest for HttpFetch {
    fn tools() -> Vec<Tool> {
        vec![tool(
            "get",
            "Fetch a URL with GET. Only hosts the gateway allows are reachable.",
            Risk::Read,
            json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}}
                },
                "required": ["url"],
                "additionalProperties": false
            }),
        )]
    }

    fn invoke(tool: String, args_json: String) -> Result<String, ToolError> {
        match tool.as_str() {
            "get" => get(parse_args(&args_json)?),
            _ => Err(ToolError::UnknownTool(tool)),
        }
    }
}

fn get(args: GetArgs) -> Result<String, ToolError> {
    let max_body = config_number("max_body_bytes", 256 * 1024);
    let max_redirects = config_number("max_redirects", 5);
    let headers: Vec<(&str, &str)> = args
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::parse_url(&args.url).map_err(ToolError::InvalidArgs)?;

    let mut url = args.url.clone();
    for _ in 0..=max_redirects {
        let response =
            http::send("GET", &url, &headers, None, max_body).map_err(ToolError::Failed)?;
        if (300..400).contains(&response.status) {
            if let Some(location) = response.header("location") {
                url = join(&url, location);
                continue;
            }
        }
        return json_result(&json!({
            "url": url,
            "status": response.status,
            "headers": response.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&response.body),
            "truncated": response.truncated,
        }));
    }
    Err(ToolError::Failed(format!(
        "more than {max_redirects} redirects"
    )))
}

/// Resolves a `Location` header against the URL that answered it.
fn join(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}{rest}", &base[..scheme_end]);
    }
    if location.starts_with('/') {
        return format!("{}{location}", &base[..authority_end]);
    }
    let dir_end = base
        .rfind('/')
        .filter(|&i| i >= authority_end)
        .map_or(base.len(), |i| i + 1);
    let prefix = if dir_end == base.len() && !base.ends_with('/') {
        format!("{base}/")
    } else {
        base[..dir_end].to_owned()
    };
    format!("{prefix}{location}")
}

tgw_skill_sdk::export!(HttpFetch);
