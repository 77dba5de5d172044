//! Client ID metadata documents: a client may use an HTTPS URL as its
//! `client_id`, and the document at that URL describes it (its name and
//! redirect URIs). The document must name exactly that URL as its
//! `client_id`.
//!
//! Fetching a URL an unauthenticated stranger chose is a server-side
//! request forgery risk, so the fetch is guarded: https only, on port 443;
//! the name is resolved once, every address it resolves to must be public
//! (no loopback, private, link-local, CGNAT, … — `runtime::net`), and the
//! connection goes to the address that was checked (no second lookup for
//! DNS rebinding to exploit); no redirects; 5 seconds and 64 KiB at most.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use super::clients::check_redirect_uri;
use crate::runtime::net::is_internal;

pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);
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

/// The one public address to fetch from, or why there is none.
async fn public_address(host: &str) -> Result<SocketAddr, String> {
    let host = host.trim_matches(['[', ']']);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 443))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    // Every address must be public: a name with one internal address among
    // public ones is refused whole.
    if let Some(internal) = addresses.iter().find(|a| is_internal(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, an internal address: not fetched",
            internal.ip()
        ));
    }
    Ok(addresses[0])
}

/// Fetches and checks the document of `client_id`.
pub async fn fetch(client_id: &str) -> Result<ClientDocument, String> {
    let uri = check_client_id_url(client_id)?;
    let host = uri.host().unwrap_or_default().to_owned();
    let address = public_address(&host).await?;
    let document = tokio::time::timeout(FETCH_DEADLINE, get(&uri, &host, address))
        .await
        .map_err(|_| format!("{client_id} did not answer within 5 seconds"))??;
    check_document(client_id, &document)
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
    if document.redirect_uris.len() > super::clients::MAX_REDIRECT_URIS {
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

async fn get(uri: &http::Uri, host: &str, address: SocketAddr) -> Result<Bytes, String> {
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(crate::runtime::http::tls_config())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host} failed: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    // Redirects are not followed: the document is at the URL or nowhere.
    if response.status() != http::StatusCode::OK {
        return Err(format!("{uri} answered {}", response.status()));
    }
    Limited::new(response.into_body(), MAX_DOCUMENT)
        .collect()
        .await
        .map(|body| body.to_bytes())
        .map_err(|_| format!("the document at {uri} is larger than 64 KiB or cut off"))
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

    #[tokio::test]
    async fn internal_targets_are_not_fetched() {
        for id in [
            "https://127.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "https://10.0.0.8/client.json",
            "https://localhost/client.json",
        ] {
            let refused = fetch(id).await.unwrap_err();
            assert!(
                refused.contains("internal address: not fetched"),
                "{id}: {refused}"
            );
        }
    }
}
