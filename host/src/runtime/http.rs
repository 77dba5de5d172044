//! Outgoing HTTP from the sandbox: the `send_request` hook of
//! wasmtime-wasi-http. A request leaves only when
//!
//! 1. its scheme, host and port match an entry of the skill's allowlist
//!    exactly,
//! 2. every address the host resolves to is public, or is named in the
//!    allowlist itself (an IP literal, or `localhost` for loopback), and
//! 3. every secret meant for that host is set.
//!
//! The connection goes to the address that was checked (no second DNS
//! lookup, so DNS rebinding cannot swap it), and secrets are added to the
//! headers here, after the guest has let go of the request. Redirects are
//! never followed by the host: a guest that follows one sends a new request,
//! which is checked again.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use tgw_parse::net::is_internal;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

pub use tgw_parse::http_target::{HttpTarget, port_of};

/// A secret the host adds to requests for one host.
#[derive(Clone)]
pub struct SecretHeader {
    pub host: String,
    pub header: HeaderName,
    /// The header value, or why it is missing (a secret not yet set).
    pub value: Result<HeaderValue, String>,
}

impl fmt::Debug for SecretHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the value.
        f.debug_struct("SecretHeader")
            .field("host", &self.host)
            .field("header", &self.header)
            .finish()
    }
}

/// Everything that decides where a skill's requests may go.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    pub allow: Vec<HttpTarget>,
    pub secrets: Vec<SecretHeader>,
}

/// The hook object living in each call's store.
pub(crate) struct OutboundHttp {
    pub policy: Arc<OutboundPolicy>,
    /// Refusals of this call, reported as the call's error.
    pub refusals: Arc<Mutex<Vec<String>>>,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let refusals = self.refusals.clone();
        Box::new(async move {
            match admit(&policy, request).await {
                Ok((request, addrs, https, host)) => {
                    send(request, &addrs, https, &host, options).await
                }
                Err(refusal) => {
                    tracing::warn!(target: "tgw::sandbox", "{}", refusal.message);
                    refusals
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(refusal.message);
                    Err(refusal.code)
                }
            }
        })
    }
}

/// The most headers one outgoing request may carry (wasi-http bounds
/// their bytes, not their number).
pub const MAX_OUTGOING_HEADERS: usize = 64;

struct Refusal {
    message: String,
    code: HttpError,
}

fn refuse(message: String, code: HttpError) -> Refusal {
    Refusal { message, code }
}

type Admitted = (http::Request<WasiBody>, Vec<SocketAddr>, bool, String);

/// Applies the three checks of the module docs; on success the request
/// carries its secrets and the addresses to connect to.
async fn admit(
    policy: &OutboundPolicy,
    mut request: http::Request<WasiBody>,
) -> Result<Admitted, Refusal> {
    if request.headers().len() > MAX_OUTGOING_HEADERS {
        return Err(refuse(
            format!(
                "http refused: the request has {} headers; a skill may send at most {MAX_OUTGOING_HEADERS}",
                request.headers().len()
            ),
            HttpError::HttpRequestHeaderSectionSize(None),
        ));
    }
    let uri = request.uri();
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => {
            return Err(refuse(
                format!("http to {uri} refused: only http and https are allowed"),
                HttpError::HttpRequestDenied,
            ));
        }
    };
    let Some(authority) = uri.authority() else {
        return Err(refuse(
            "http refused: the request has no host".into(),
            HttpError::HttpRequestUriInvalid,
        ));
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let Some(port) = port_of(authority, https) else {
        return Err(refuse(
            format!("http to {authority} refused: bad port"),
            HttpError::HttpRequestUriInvalid,
        ));
    };
    let wanted = HttpTarget {
        https,
        host: host.clone(),
        port,
    };

    let Some(entry) = policy.allow.iter().find(|entry| **entry == wanted) else {
        let message = match policy.allow.iter().find(|entry| entry.host == host) {
            Some(entry) => {
                format!("http to {wanted} refused: the skill's allowlist has {entry} for this host")
            }
            None => format!("http to {host} refused: not in the skill's allowlist"),
        };
        return Err(refuse(message, HttpError::HttpRequestDenied));
    };

    let addrs = resolve(&host, port).await.map_err(|e| {
        refuse(
            format!("http to {host} failed: cannot resolve it ({e})"),
            HttpError::DnsError {
                rcode: Some(e),
                info_code: None,
            },
        )
    })?;
    if let Some(bad) = addrs
        .iter()
        .find(|a| is_internal(a.ip()) && !entry.permits_internal(a.ip()))
    {
        return Err(refuse(
            format!(
                "http to {host} refused: it resolves to {}, a loopback, private or link-local address; \
                 list that address in the skill's allowlist to allow it",
                bad.ip()
            ),
            HttpError::DestinationIpProhibited,
        ));
    }

    for secret in policy.secrets.iter().filter(|s| s.host == host) {
        match &secret.value {
            Ok(value) => {
                let mut value = value.clone();
                value.set_sensitive(true);
                request.headers_mut().remove(&secret.header);
                request.headers_mut().insert(secret.header.clone(), value);
            }
            Err(why) => {
                return Err(refuse(
                    format!("http to {host} refused: {why}"),
                    HttpError::HttpRequestDenied,
                ));
            }
        }
    }
    Ok((request, addrs, https, host))
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| "DNS timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let addrs: Vec<SocketAddr> = lookup.collect();
    if addrs.is_empty() {
        return Err("no addresses".into());
    }
    Ok(addrs)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(HttpError::Connect(e)),
            Err(_) => last = Some(HttpError::ConnectionTimeout),
        }
    }
    Err(last.unwrap_or(HttpError::ConnectionRefused))
}

/// The TLS client settings (webpki roots, ring), also used by `tgw mcp stdio`.
#[expect(
    clippy::expect_used,
    reason = "ring supports the default protocol versions"
)]
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

async fn send(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    https: bool,
    host: &str,
    options: Option<RequestOptions>,
) -> SendResult {
    let tcp = connect(addrs).await?;
    let stream: Box<dyn Stream> = if https {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(HttpError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::from)?;
    let connection = tokio::spawn(connection);

    // Not talking to a proxy: the request line carries only the path.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(Duration::from_secs(60));
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(HttpError::from)?;
    let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
    let io: IoFuture = Box::new(async move {
        match connection.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(join) => Err(HttpError::InternalError(Some(join.to_string()))),
        }
    });
    Ok((response, io))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_allowlist_entries() {
        let t: HttpTarget = "api.example.com".parse().unwrap();
        assert_eq!(
            t,
            HttpTarget {
                https: true,
                host: "api.example.com".into(),
                port: 443
            }
        );
        let t: HttpTarget = "http://127.0.0.1:8080/".parse().unwrap();
        assert_eq!(
            t,
            HttpTarget {
                https: false,
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        let t: HttpTarget = "https://[::1]:8443".parse().unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.to_string(), "https://[::1]:8443");
        let t: HttpTarget = "API.Example.COM".parse().unwrap();
        assert_eq!(t.host, "api.example.com");
        for bad in [
            "",
            "ftp://x.org",
            "x.org/path",
            "user@x.org",
            "*.x.org",
            "http://",
            "x.org:99999",
            "a b",
        ] {
            assert!(
                bad.parse::<HttpTarget>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn internal_addresses_need_an_explicit_entry() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            "http://127.0.0.1:80"
                .parse::<HttpTarget>()
                .unwrap()
                .permits_internal(loopback)
        );
        assert!(
            "http://localhost:80"
                .parse::<HttpTarget>()
                .unwrap()
                .permits_internal(loopback)
        );
        assert!(
            !"http://127.0.0.2:80"
                .parse::<HttpTarget>()
                .unwrap()
                .permits_internal(loopback)
        );
        assert!(
            !"example.com"
                .parse::<HttpTarget>()
                .unwrap()
                .permits_internal(loopback)
        );
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(
            !"http://localhost"
                .parse::<HttpTarget>()
                .unwrap()
                .permits_internal(metadata)
        );
    }
}
