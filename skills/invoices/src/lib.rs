//! The `invoices` skill: a small client of an invoice API at the configured
//! `base_url`. The API key is never seen here: the gateway adds it to the
//! request headers for the API's host only.

use serde::Deserialize;
use serde_json::{Value, json};
use tgw_skill_sdk::{Guest, Risk, Tool, ToolError, http, json_result, parse_args, tool};

const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

struct Invoices;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    status: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    customer: String,
    amount_cents: u64,
    currency: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundArgs {
    invoice_id: String,
    amount_cents: Option<u64>,
    reason: String,
}

impl Guest for Invoices {
    fn tools() -> Vec<Tool> {
        vec![
            tool(
                "list_invoices",
                "List invoices, optionally only those with a status (open, paid, refunded).",
                Risk::Read,
                json!({
                    "type": "object",
                    "properties": {"status": {"type": "string", "enum": ["open", "paid", "refunded"]}},
                    "additionalProperties": false
                }),
            ),
            tool(
                "create_invoice",
                "Create an invoice for a customer.",
                Risk::Write,
                json!({
                    "type": "object",
                    "properties": {
                        "customer": {"type": "string", "minLength": 1},
                        "amount_cents": {"type": "integer", "minimum": 1},
                        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        "description": {"type": "string"}
                    },
                    "required": ["customer", "amount_cents", "currency"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "refund_invoice",
                "Refund an invoice, in full or in part. Money leaves the company.",
                Risk::Destructive,
                json!({
                    "type": "object",
                    "properties": {
                        "invoice_id": {"type": "string", "minLength": 1},
                        "amount_cents": {"type": "integer", "minimum": 1},
                        "reason": {"type": "string", "minLength": 1}
                    },
                    "required": ["invoice_id", "reason"],
                    "additionalProperties": false
                }),
            ),
        ]
    }

    fn invoke(tool: String, args_json: String) -> Result<String, ToolError> {
        match tool.as_str() {
            "list_invoices" => {
                let args: ListArgs = parse_args(&args_json)?;
                let query = match args.status {
                    Some(status) if status.chars().all(|c| c.is_ascii_alphabetic()) => {
                        format!("?status={status}")
                    }
                    Some(status) => {
                        return Err(ToolError::InvalidArgs(format!("bad status {status:?}")));
                    }
                    None => String::new(),
                };
                call("GET", &format!("/invoices{query}"), None)
            }
            "create_invoice" => {
                let args: CreateArgs = parse_args(&args_json)?;
                call("POST", "/invoices", Some(json!(args)))
            }
            "refund_invoice" => {
                let args: RefundArgs = parse_args(&args_json)?;
                if args.invoice_id.contains(['/', '?', '#']) || args.invoice_id.contains("..") {
                    return Err(ToolError::InvalidArgs(format!(
                        "bad invoice id {:?}",
                        args.invoice_id
                    )));
                }
                let body = json!({"amount_cents": args.amount_cents, "reason": args.reason});
                call(
                    "POST",
                    &format!("/invoices/{}/refund", args.invoice_id),
                    Some(body),
                )
            }
            _ => Err(ToolError::UnknownTool(tool)),
        }
    }
}

fn call(method: &str, path: &str, body: Option<Value>) -> Result<String, ToolError> {
    let base = tgw_skill_sdk::config("base_url")
        .ok_or_else(|| ToolError::Failed("the skill's config has no base_url".into()))?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let body = body.map(|b| b.to_string());
    let mut headers = vec![("accept", "application/json")];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let response = http::send(
        method,
        &url,
        &headers,
        body.as_deref().map(str::as_bytes),
        MAX_RESPONSE_BYTES,
    )
    .map_err(ToolError::Failed)?;
    let text = String::from_utf8_lossy(&response.body);
    if !(200..300).contains(&response.status) {
        return Err(ToolError::Failed(format!(
            "the invoice API answered {}: {text}",
            response.status
        )));
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| ToolError::Failed(format!("the invoice API sent invalid JSON: {e}")))?;
    json_result(&value)
}

tgw_skill_sdk::export!(Invoices);
