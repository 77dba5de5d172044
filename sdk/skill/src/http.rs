//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! Written by hand because the kept clients for wasip2 (wstd, waki) bring an
//! async runtime or a second set of WASI bindings; a skill needs only one
//! request at a time. The gateway decides which hosts a request may reach;
//! a refused request comes back as an error here.

use ::wasi::http::outgoing_handler;
use ::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use ::wasi::io::streams::StreamError;

/// A response with a size-capped body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than the cap and was cut.
    pub truncated: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The parts of an `http://` or `https://` URL that wasi:http wants.
pub struct Url<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path_and_query: &'a str,
}

pub fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?} has no usable host"));
    }
    let path_and_query = if path.is_empty() { "/" } else { path };
    Ok(Url {
        https,
        authority,
        path_and_query,
    })
}

/// Sends one request and reads at most `max_body` bytes of the response.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    max_body: usize,
) -> Result<Response, String> {
    let url_parts = parse_url(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("header {name}: {e:?}"))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        other => return Err(format!("unsupported method {other}")),
    };
    let scheme = if url_parts.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_method(&method).map_err(|()| "bad method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(url_parts.authority))
        .map_err(|()| format!("bad host in {url:?}"))?;
    request
        .set_path_with_query(Some(url_parts.path_and_query))
        .map_err(|()| format!("bad path in {url:?}"))?;
    let outgoing_body = request.body().map_err(|()| "request body taken")?;

    let pending = outgoing_handler::handle(request, None).map_err(|e| describe(&e))?;
    if let Some(bytes) = body {
        let stream = outgoing_body
            .write()
            .map_err(|()| "request body stream taken")?;
        for chunk in bytes.chunks(4096) {
            // A refused request drops its body; the reason arrives below.
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing_body, None);

    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "response already taken".to_owned())?
        .map_err(|e| describe(&e))?;

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| "response body taken")?;
    let (body, truncated) = read_capped(&incoming, max_body)?;
    drop(incoming);
    Ok(Response {
        status,
        headers,
        body,
        truncated,
    })
}

fn read_capped(incoming: &IncomingBody, max_body: usize) -> Result<(Vec<u8>, bool), String> {
    let stream = incoming.stream().map_err(|()| "response stream taken")?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if body.len() + chunk.len() > max_body {
                    let room = max_body - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((body, true));
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok((body, false)),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "reading the response failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
}

fn describe(error: &ErrorCode) -> String {
    match error {
        ErrorCode::HttpRequestDenied => {
            "the gateway refused this request: the host is not in the skill's allowlist".into()
        }
        ErrorCode::DestinationIpProhibited => {
            "the gateway refused this request: the address is private, loopback or link-local"
                .into()
        }
        ErrorCode::InternalError(Some(message)) => message.clone(),
        other => format!("request failed: {other:?}"),
    }
}
