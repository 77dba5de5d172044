//! What an OAuth client sends before anyone has authenticated it: the
//! `/authorize` query, redirect URIs, client ID URLs and client ID
//! metadata documents (which the gateway fetches, but a stranger wrote).

use std::collections::HashMap;

use serde::Deserialize;

/// Redirect URIs a client may register, and the length of each: enough
/// for any real client, and a bound on what an anonymous registration
/// stores and what waits in memory for consent.
pub const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_REDIRECT_URI: usize = 2048;

/// Why a redirect URI is refused (in the words of the error response).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI {
        return Err(format!(
            "a redirect URI is longer than {MAX_REDIRECT_URI} bytes"
        ));
    }
    let parsed: http::Uri = uri
        .parse()
        .map_err(|_| format!("{uri:?} is not an absolute URI"))?;
    let host = parsed
        .host()
        .ok_or_else(|| format!("{uri:?} has no host"))?;
    if uri.contains('#') {
        return Err(format!("{uri:?} has a fragment"));
    }
    if parsed.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("{uri:?} carries user information"));
    }
    match parsed.scheme_str() {
        Some("https") => Ok(()),
        // Native clients listen on loopback, on any port (RFC 8252 §7.3).
        Some("http") if ["127.0.0.1", "[::1]", "localhost"].contains(&host) => Ok(()),
        _ => Err(format!(
            "{uri:?}: a redirect URI must be https, or http on loopback"
        )),
    }
}

pub const MAX_DOCUMENT: usize = 64 * 1024;
/// The longest client name shown on the consent screen (as for a
/// registration).
pub const MAX_CLIENT_NAME: usize = 200;

/// A client described by its metadata document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDocument {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
}

/// Whether `client_id` is a URL naming a metadata document (rather than a
/// registered id), and acceptable as one.
pub fn check_client_id_url(client_id: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = client_id
        .parse()
        .map_err(|_| format!("{client_id:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("{client_id:?}: a client ID URL must be https"));
    }
    let authority = uri.authority().ok_or("a client ID URL needs a host")?;
    if authority.as_str().contains('@') {
        return Err("a client ID URL may not carry user information".into());
    }
    if authority.port_u16().is_some_and(|p| p != 443) {
        return Err("a client ID URL must use the default https port".into());
    }
    let path = uri.path();
    if path.is_empty() || path == "/" {
        return Err("a client ID URL must have a path".into());
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("a client ID URL may not contain . or .. segments".into());
    }
    if client_id.contains('#') {
        return Err("a client ID URL may not have a fragment".into());
    }
    Ok(uri)
}

/// The query's parameters; a parameter given twice is refused (RFC 6749
/// §3.1).
pub fn parameters(query: Option<&str>) -> Result<HashMap<String, String>, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| format!("the request's parameters cannot be read: {e}"))?;
    let mut map = HashMap::new();
    for (key, value) in pairs {
        if map.contains_key(&key) {
            return Err(format!("the parameter {key} is given more than once"));
        }
        map.insert(key, value);
    }
    Ok(map)
}

/// Reads a fetched document (untrusted bytes): it must be JSON naming
/// exactly `client_id`, with 1 to 10 redirect URIs that each follow the
/// redirect rules, and a name of at most 200 characters.
pub fn check_document(client_id: &str, bytes: &[u8]) -> Result<ClientDocument, String> {
    let document: Document = serde_json::from_slice(bytes)
        .map_err(|e| format!("the client metadata document is not valid: {e}"))?;
    if document.client_id != client_id {
        return Err(format!(
            "the document names client_id {:?}, not {client_id:?}",
            document.client_id
        ));
    }
    if document.redirect_uris.is_empty() {
        return Err("the client metadata document lists no redirect URIs".into());
    }
    if document.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err("the client metadata document lists too many redirect URIs".into());
    }
    for redirect in &document.redirect_uris {
        check_redirect_uri(redirect)?;
    }
    if document
        .client_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_CLIENT_NAME)
    {
        return Err(format!(
            "the client's name is longer than {MAX_CLIENT_NAME} characters"
        ));
    }
    Ok(ClientDocument {
        client_id: document.client_id,
        client_name: document.client_name,
        redirect_uris: document.redirect_uris,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls() {
        assert!(check_client_id_url("https://claude.ai/oauth/mcp-client.json").is_ok());
        for bad in [
            "http://claude.ai/client.json",
            "https://claude.ai",
            "https://claude.ai/",
            "https://claude.ai/a/../client.json",
            "https://claude.ai/client.json#x",
            "https://user@claude.ai/client.json",
            "https://claude.ai:8443/client.json",
            "claude",
        ] {
            assert!(check_client_id_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn documents_must_name_themselves_and_follow_the_redirect_rules() {
        let id = "https://app.example/client.json";
        let good = br#"{"client_id": "https://app.example/client.json", "client_name": "App",
                        "redirect_uris": ["https://app.example/cb"], "logo_uri": "ignored"}"#;
        let document = check_document(id, good).unwrap();
        assert_eq!(document.client_name.as_deref(), Some("App"));
        let many: Vec<String> = (0..11)
            .map(|i| format!("https://app.example/cb{i}"))
            .collect();
        let long_name = "n".repeat(201);
        for (bad, words) in [
            (b"not json".to_vec(), "not valid"),
            (br#"{"client_id": "https://app.example/client.json/", "redirect_uris": ["https://app.example/cb"]}"#.to_vec(), "names client_id"),
            (br#"{"client_id": "https://APP.example/client.json", "redirect_uris": ["https://app.example/cb"]}"#.to_vec(), "names client_id"),
            (br#"{"redirect_uris": ["https://app.example/cb"]}"#.to_vec(), "not valid"),
            (br#"{"client_id": "https://app.example/client.json", "redirect_uris": []}"#.to_vec(), "no redirect URIs"),
            (br#"{"client_id": "https://app.example/client.json", "redirect_uris": ["http://evil.example/cb"]}"#.to_vec(), "https, or http on loopback"),
            (serde_json::to_vec(&serde_json::json!({"client_id": id, "redirect_uris": many})).unwrap(), "too many"),
            (serde_json::to_vec(&serde_json::json!({"client_id": id, "client_name": long_name, "redirect_uris": ["https://app.example/cb"]})).unwrap(), "longer than"),
        ] {
            let refused = check_document(id, &bad).unwrap_err();
            assert!(refused.contains(words), "{refused}");
        }
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        assert!(parameters(Some("a=1&b=2")).is_ok());
        assert!(parameters(Some("a=1&a=2")).is_err());
        assert_eq!(parameters(None).map(|p| p.len()), Ok(0));
    }
}
