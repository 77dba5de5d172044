//! What an MCP request brings before the gateway trusts it: the bearer
//! token's shape, and the methods a POST body names (to check scopes
//! before the body goes on).

use serde_json::Value;

/// How a personal access token starts.
pub const PREFIX: &str = "tgw_pat_";

fn is_token_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `tgw_pat_<id>_<secret>` → `(id, secret)`, or `None` for anything else
/// (the id must be 16 lowercase hex digits: it becomes a store key).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    token
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| is_token_id(id) && !secret.is_empty())
}

fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

/// The methods named in a POST body (one message or a batch); nothing for
/// bytes that are not JSON (rmcp answers those).
pub fn methods_in(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .map(|value| methods(&value).into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn methods(body: &Value) -> Vec<&str> {
    let one = method;
    match body {
        Value::Array(batch) => batch.iter().filter_map(one).collect(),
        message => one(message).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_into_id_and_secret_or_not_at_all() {
        assert_eq!(
            split_token("tgw_pat_0123456789abcdef_s3cr_et"),
            Some(("0123456789abcdef", "s3cr_et"))
        );
        for bad in [
            "",
            "tgw_pat_",
            "tgw_pat_0123456789abcdef_",
            "tgw_pat_0123456789abcdef",
            "Tgw_pat_0123456789abcdef_x",
            "tgw_pat_../../../../etc_x",
            "tgw_pat_0123456789abcdeé_x",
            "Bearer tgw_pat_0123456789abcdef_x",
        ] {
            assert_eq!(split_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn token_ids_are_lowercase_hex_of_sixteen() {
        assert!(is_token_id("0123456789abcdef"));
        assert!(!is_token_id("0123456789ABCDEF"));
        assert!(!is_token_id("0123456789abcde"));
        assert!(!is_token_id("../../etc/passwd"));
    }
}
