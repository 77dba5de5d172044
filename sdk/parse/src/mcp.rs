//! What an MCP request brings before the gateway trusts it: the bearer
//! token's shape, the methods a POST body names (to check scopes before
//! the body goes on), and the W3C trace context a request's `_meta` may
//! carry.

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

/// A W3C trace context (`traceparent`, version `00`): the trace a call
/// belongs to, as a client names it in `_meta`. Written by hand: it is one
/// fixed-width line, and no kept crate parses it without a tracing stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: u8,
}

impl TraceParent {
    /// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, ids not all zero; a later
    /// version may add fields after the flags, which are ignored.
    pub fn parse(text: &str) -> Option<TraceParent> {
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let mut parts = text.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let more = parts.next().is_some();
        let known = version == "00";
        if !hex(version, 2) || version == "ff" || (known && more) {
            return None;
        }
        if !hex(trace_id, 32) || !hex(parent_id, 16) || !hex(flags, 2) {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceParent {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn a_trace_context_is_read_exactly_as_w3c_writes_it() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(good).unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.flags, 1);
        assert_eq!(parsed.to_string(), good);
        // A later version may say more after the flags.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")
                .is_some()
        );
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e47\u{e9}6-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

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
