//! `tgw connect claude-ai`: the URL to paste into Claude.ai as a custom
//! connector, and a check from the outside in that the public URL answers
//! discovery the way Claude.ai needs: the 401 that points to the protected
//! resource metadata, that metadata, the authorization server's metadata
//! and its endpoints. Each failed check says what to fix.

use serde_json::Value;

use super::http::{Answer, Endpoint};

/// One check's outcome, printed as it comes.
struct Report {
    failures: usize,
}

impl Report {
    fn pass(&mut self, what: &str) {
        println!("  ok    {what}");
    }
    fn warn(&mut self, what: &str) {
        println!("  warn  {what}");
    }
    fn fail(&mut self, what: &str) {
        println!("  FAIL  {what}");
        self.failures += 1;
    }
}

async fn get(url: &str) -> anyhow::Result<Answer> {
    Endpoint::parse(url)?
        .fetch(http::Method::GET, &[("accept", "application/json")], "")
        .await
}

fn json_of(answer: &Answer) -> Option<Value> {
    serde_json::from_slice(&answer.body).ok()
}

/// A metadata document at `url`, or `None` with the failure reported.
async fn metadata(report: &mut Report, url: &str) -> Option<Value> {
    match get(url).await.map(|a| (a.status, json_of(&a))) {
        Ok((status, Some(doc))) if status.is_success() => Some(doc),
        Ok((status, _)) => {
            report.fail(&format!("{url} answered {status} without JSON metadata"));
            None
        }
        Err(e) => {
            report.fail(&format!("{url} does not answer: {e}"));
            None
        }
    }
}

/// Whether an endpoint answered as tgw does (`good`), rather than a proxy
/// or nothing; `expected` says what was expected when it did not.
fn reached(
    report: &mut Report,
    url: &str,
    answer: anyhow::Result<Answer>,
    good: impl Fn(&Answer) -> bool,
    expected: &str,
) {
    match answer {
        Ok(answer) if good(&answer) => report.pass(&format!("{url} answers")),
        Ok(answer) => report.fail(&format!(
            "{url} answered {} {expected}: does the proxy forward it to tgw?",
            answer.status
        )),
        Err(e) => report.fail(&format!("{url} does not answer: {e}")),
    }
}

/// `resource_metadata="..."` from a `WWW-Authenticate: Bearer ...` value.
fn resource_metadata(challenge: &str) -> Option<&str> {
    let rest = challenge.split("resource_metadata=\"").nth(1)?;
    rest.split('"').next()
}

pub async fn run(url: &str) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let mcp = format!("{base}/v1/mcp");
    println!(
        "Paste this URL into Claude.ai (Settings → Connectors → Add custom connector):\n\n    {mcp}\n"
    );
    println!("Checking {base} from the outside in:");
    let mut report = Report { failures: 0 };
    let endpoint = Endpoint::parse(&mcp)?;
    let host = endpoint.uri.host().unwrap_or_default().to_owned();
    match endpoint.uri.scheme_str() {
        Some("https") => report.pass("the URL is https"),
        _ if ["localhost", "127.0.0.1", "[::1]"].contains(&host.as_str()) => report.warn(
            "the URL is on this machine only: Claude.ai connects from the internet and needs a public https URL (README, \"Public deployment\")",
        ),
        _ => report.fail(
            "the URL is not https: Claude.ai connects only to https URLs (start tgw with --tls-cert/--tls-key, or put it behind a reverse proxy)",
        ),
    }

    // 1. An MCP request without a token: 401 pointing to the metadata.
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tgw connect","version":"1"}}}"#;
    let answer = endpoint
        .fetch(
            http::Method::POST,
            &[
                ("accept", "application/json, text/event-stream"),
                ("content-type", "application/json"),
            ],
            initialize,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{mcp} does not answer: {e}"))?;
    let challenge = answer
        .headers
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let metadata_url = match answer.status.as_u16() {
        401 => match resource_metadata(&challenge) {
            Some(url) if url.starts_with(base) => {
                report.pass(&format!("{mcp} asks for a token and points to {url}"));
                Some(url.to_owned())
            }
            Some(url) => {
                report.fail(&format!(
                    "the 401 points to {url}, not under {base}: start tgw with --public-url {base}"
                ));
                None
            }
            None => {
                report.fail(&format!(
                    "the 401 has no resource_metadata in WWW-Authenticate (got {challenge:?}): is this a Trust Gateway?"
                ));
                None
            }
        },
        403 => {
            report.fail(&format!(
                "{mcp} refuses this host (403): start tgw with --public-url {base}, and have the proxy pass the Host header on"
            ));
            None
        }
        404 => {
            report.fail(&format!(
                "{mcp} is not found (404): does the proxy forward /v1/mcp to tgw?"
            ));
            None
        }
        status => {
            report.fail(&format!(
                "{mcp} answered {status} without a token; it should answer 401"
            ));
            None
        }
    };

    // 2. The protected resource metadata names the resource and its
    //    authorization server.
    let mut issuer = None;
    if let Some(metadata_url) = metadata_url
        && let Some(doc) = metadata(&mut report, &metadata_url).await
    {
        if doc["resource"] == mcp.as_str() {
            report.pass(&format!("the resource is {mcp}"));
        } else {
            report.fail(&format!(
                "the metadata names the resource {}, not {mcp}: start tgw with --public-url {base}",
                doc["resource"]
            ));
        }
        match doc["authorization_servers"][0].as_str() {
            Some(server) => issuer = Some(server.to_owned()),
            None => report.fail("the metadata names no authorization server"),
        }
    }

    // 3. The authorization server's metadata, and its endpoints answer.
    if let Some(issuer) = issuer {
        let well_known = format!("{issuer}/.well-known/oauth-authorization-server");
        if let Some(doc) = metadata(&mut report, &well_known).await {
            check_authorization_server(&mut report, &issuer, &doc).await;
        }
    }

    if report.failures > 0 {
        anyhow::bail!(
            "{} check(s) failed: Claude.ai will not connect until they pass",
            report.failures
        );
    }
    println!(
        "\nAll checks passed. In Claude.ai, click Connect: you will sign in here with your passkey and consent."
    );
    Ok(())
}

async fn check_authorization_server(report: &mut Report, issuer: &str, doc: &Value) {
    if doc["issuer"] == issuer {
        report.pass(&format!("the authorization server is {issuer}"));
    } else {
        report.fail(&format!(
            "the authorization server metadata names the issuer {}, not {issuer}",
            doc["issuer"]
        ));
    }
    let lists = |key: &str, value: &str| {
        doc[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    if lists("code_challenge_methods_supported", "S256") {
        report.pass("PKCE S256 is supported");
    } else {
        report.fail("code_challenge_methods_supported lacks S256: Claude.ai requires PKCE");
    }
    if lists("token_endpoint_auth_methods_supported", "none") {
        report.pass("public clients (no secret) are supported");
    } else {
        report.fail("token_endpoint_auth_methods_supported lacks none");
    }
    if doc["registration_endpoint"].is_string() {
        report.pass("dynamic client registration is offered");
    } else {
        report.fail("no registration_endpoint: Claude.ai registers itself");
    }
    // The authorization endpoint, called without parameters, must answer
    // with its own refusal (400), not a 404 from a proxy.
    if let Some(authorize) = doc["authorization_endpoint"].as_str() {
        reached(
            report,
            authorize,
            get(authorize).await,
            |a| a.status == http::StatusCode::BAD_REQUEST,
            "(expected 400 for a request without parameters)",
        );
    } else {
        report.fail("no authorization_endpoint");
    }
    // The token endpoint must be reached: an empty request is refused
    // with an OAuth error, as JSON.
    if let Some(token) = doc["token_endpoint"].as_str() {
        let answer = async {
            Endpoint::parse(token)?
                .fetch(
                    http::Method::POST,
                    &[("content-type", "application/x-www-form-urlencoded")],
                    "",
                )
                .await
        };
        reached(
            report,
            token,
            answer.await,
            |a| json_of(a).is_some_and(|d| d["error"].is_string()),
            "without an OAuth error",
        );
    } else {
        report.fail("no token_endpoint");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_metadata_is_read_from_the_challenge() {
        assert_eq!(
            super::resource_metadata(
                r#"Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/v1/mcp", scope="a b""#
            ),
            Some("https://gw.example/.well-known/oauth-protected-resource/v1/mcp")
        );
        assert_eq!(super::resource_metadata("Bearer"), None);
    }
}
