//! One entry of a skill's `http` allowlist, parsed from `skill.toml`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One entry of a skill's `http` allowlist: `api.example.com` (https, 443)
/// or a URL with scheme and port, `http://127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub https: bool,
    /// Lowercase; IPv6 literals without brackets.
    pub host: String,
    pub port: u16,
}

impl FromStr for HttpTarget {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (https, rest) = match entry.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some((scheme, _)) => {
                return Err(format!("{entry:?}: scheme {scheme:?} is not http or https"));
            }
            None => (true, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*', ' ']) {
            return Err(format!(
                "{entry:?}: give a host (`api.example.com`) or scheme://host:port, without path, user or wildcard"
            ));
        }
        let authority: http::uri::Authority = rest
            .parse()
            .map_err(|_| format!("{entry:?} is not a valid host"))?;
        let host = host_of(&authority).ok_or_else(|| {
            format!(
                "{entry:?}: {} is not a host name or an IP address",
                authority.host()
            )
        })?;
        let port = port_of(&authority, https)
            .ok_or_else(|| format!("{entry:?}: the port is not 1 to 65535"))?;
        Ok(HttpTarget { https, host, port })
    }
}

/// The authority's host, lowercase, IPv6 literals without brackets; `None`
/// for anything that is neither a DNS name nor an IP literal (`http`
/// accepts `ht[::1]` as a host).
fn host_of(authority: &http::uri::Authority) -> Option<String> {
    let raw = authority.host();
    if let Some(inner) = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|_| inner.to_ascii_lowercase());
    }
    let name = !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    name.then(|| raw.to_ascii_lowercase())
}

/// The authority's port, the scheme's default when it has none, or `None`
/// when it has one that is not a valid port (`http` silently drops those).
pub fn port_of(authority: &http::uri::Authority, https: bool) -> Option<u16> {
    let has_port_text = authority.as_str().len() > authority.host().len();
    match authority.port_u16() {
        Some(0) => None,
        Some(port) => Some(port),
        None if has_port_text => None,
        None => Some(if https { 443 } else { 80 }),
    }
}

impl fmt::Display for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl HttpTarget {
    /// Internal addresses are allowed only when the allowlist names them.
    pub fn permits_internal(&self, ip: IpAddr) -> bool {
        match self.host.parse::<IpAddr>() {
            Ok(listed) => listed == ip,
            Err(_) => self.host == "localhost" && ip.is_loopback(),
        }
    }
}
