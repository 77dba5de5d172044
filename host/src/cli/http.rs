//! A small HTTP/1.1 client for the commands that talk to a gateway
//! (`tgw mcp stdio`, `tgw connect claude-ai`): hyper over TCP, or rustls
//! with the web's roots for https. A full client crate would bring a
//! second HTTP stack for two requests' worth of needs.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

pub struct Endpoint {
    pub uri: http::Uri,
    host: String,
    port: u16,
    https: bool,
}

impl Endpoint {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("{url:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => anyhow::bail!("{url:?}: the URL must start with http:// or https://"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("{url:?} names no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Endpoint {
            uri,
            host,
            port,
            https,
        })
    }

    pub async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Io> = if self.https {
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())?;
            Box::new(
                tokio_rustls::TlsConnector::from(tgw::runtime::http::tls_config())
                    .connect(name, tcp)
                    .await?,
            )
        } else {
            Box::new(tcp)
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender.send_request(request).await?)
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A whole answer: status, headers and body (at most `limit` bytes).
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Endpoint {
    /// One request to this endpoint's URL, read whole, within 10 seconds.
    pub async fn fetch(
        &self,
        method: http::Method,
        headers: &[(&str, &str)],
        body: &str,
    ) -> anyhow::Result<Answer> {
        let authority = self
            .uri
            .authority()
            .map_or(String::new(), std::string::ToString::to_string);
        let mut request = http::Request::builder()
            .method(method)
            .uri(self.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body.to_owned())))?;
        let exchange = async {
            let response = self.send(request).await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, 1 << 20)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within 10 seconds"))?
    }
}
