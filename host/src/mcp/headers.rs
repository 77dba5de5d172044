//! `Mcp-Param-*` headers (2026-07-28, SEP-2243): a client mirrors each
//! argument whose schema property carries `"x-mcp-header": "<Name>"` into
//! the header `Mcp-Param-<Name>`, so that proxies and load balancers can
//! route on it. A gateway that let the two differ would let a proxy decide
//! on one value while the tool ran with another, so a `tools/call` whose
//! headers and body disagree is refused before anything reads it.
//!
//! A header value is the argument as text, or `=?base64?<standard base64
//! with padding>?=` of its UTF-8 bytes; whitespace around it is not part
//! of it (RFC 9110 §5.5). rmcp checks `Mcp-Method` and `Mcp-Name`; this
//! checks the rest.

use base64::Engine as _;
use http::HeaderMap;
use serde_json::Value;

/// Why a request's `Mcp-Param-*` headers do not say what its body says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderMismatch {
    #[error(
        "the argument {argument:?} is in the body, and its header Mcp-Param-{header} is missing"
    )]
    Missing { argument: String, header: String },
    #[error("the header Mcp-Param-{header} is not valid {why}")]
    Malformed { header: String, why: &'static str },
    #[error("the header Mcp-Param-{header} says other than the argument {argument:?} in the body")]
    Differs { argument: String, header: String },
    #[error(
        "the header Mcp-Param-{header} is sent, and the argument {argument:?} is not in the body"
    )]
    Unmatched { argument: String, header: String },
}

/// The header value's meaning: the text it carries.
fn decode(raw: &[u8], header: &str) -> Result<String, HeaderMismatch> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| HeaderMismatch::Malformed {
            header: header.to_owned(),
            why: "text",
        })?
        .trim_matches([' ', '\t']);
    let Some(encoded) = text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(text.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| HeaderMismatch::Malformed {
            header: header.to_owned(),
            why: "base64",
        })?;
    String::from_utf8(bytes).map_err(|_| HeaderMismatch::Malformed {
        header: header.to_owned(),
        why: "UTF-8 once decoded",
    })
}

/// An argument as a header carries it.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` with `arguments`
/// against the tool's `input_schema`.
pub fn check(
    headers: &HeaderMap,
    input_schema: &Value,
    arguments: Option<&serde_json::Map<String, Value>>,
) -> Result<(), HeaderMismatch> {
    let Some(properties) = input_schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (argument, property) in properties {
        let Some(header) = property.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let sent = headers.get(format!("mcp-param-{header}").as_str());
        let value = arguments
            .and_then(|a| a.get(argument))
            .filter(|v| !v.is_null());
        match (value, sent) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(HeaderMismatch::Missing {
                    argument: argument.clone(),
                    header: header.to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(HeaderMismatch::Unmatched {
                    argument: argument.clone(),
                    header: header.to_owned(),
                });
            }
            (Some(value), Some(sent)) => {
                if decode(sent.as_bytes(), header)? != as_text(value) {
                    return Err(HeaderMismatch::Differs {
                        argument: argument.clone(),
                        header: header.to_owned(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "note": {"type": "string"}
        }})
    }

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(
                "mcp-param-region",
                value.parse().unwrap_or_else(|_| unreachable!()),
            );
        }
        headers
    }

    fn args(region: &str) -> serde_json::Map<String, Value> {
        json!({"region": region})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn headers_must_say_what_the_body_says() {
        let ok = |h: Option<&str>, v: &str| check(&headers(h), &schema(), Some(&args(v)));
        assert_eq!(ok(Some("Hello"), "Hello"), Ok(()));
        assert_eq!(ok(Some("  Hello\t"), "Hello"), Ok(()));
        assert_eq!(ok(Some("=?base64?SGVsbG8=?="), "Hello"), Ok(()));
        // Without the wrapper it is the text itself.
        assert_eq!(ok(Some("SGVsbG8="), "SGVsbG8="), Ok(()));
        assert!(matches!(
            ok(Some("=?base64?SGVsbG8?="), "Hello"),
            Err(HeaderMismatch::Malformed { .. })
        ));
        assert!(matches!(
            ok(Some("=?base64?SGVs!!!bG8=?="), "Hello"),
            Err(HeaderMismatch::Malformed { .. })
        ));
        assert!(matches!(
            ok(Some("Bye"), "Hello"),
            Err(HeaderMismatch::Differs { .. })
        ));
        assert!(matches!(
            ok(None, "Hello"),
            Err(HeaderMismatch::Missing { .. })
        ));
        assert!(matches!(
            check(&headers(Some("Hello")), &schema(), None),
            Err(HeaderMismatch::Unmatched { .. })
        ));
        assert_eq!(check(&headers(None), &schema(), None), Ok(()));
    }
}
