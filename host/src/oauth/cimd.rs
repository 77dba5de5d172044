//! Client ID metadata documents: a client may use an HTTPS URL as its
//! `client_id`, and the document at that URL describes it (its name and
//! redirect URIs). The document must name exactly that URL as its
//! `client_id`.
//!
//! Fetching a URL an unauthenticated stranger chose is a server-side
//! request forgery risk, so the fetch is guarded: https only, on port 443;
//! the name is resolved once, every address it resolves to must be public
//! (no loopback, private, link-local, CGNAT, … — `tgw_parse::net`), and the
//! connection goes to the address that was checked (no second lookup for
//! DNS rebinding to exploit); no redirects; 5 seconds and 64 KiB at most.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use tgw_parse::net::is_internal;

pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);
pub use tgw_parse::oauth::{
    ClientDocument, MAX_CLIENT_NAME, MAX_DOCUMENT, check_client_id_url, check_document,
};

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
        .map(http_body_util::Collected::to_bytes)
        .map_err(|_| format!("the document at {uri} is larger than 64 KiB or cut off"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
