//! The error codes OAuth answers with (RFC 6749 §4.1.2.1 and §5.2, RFC 7591
//! §3.2.2, RFC 6750 §3.1, RFC 8707 §2), as one type: a code is never
//! spelled twice.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    /// The `resource` is not this gateway's MCP endpoint (RFC 8707).
    InvalidTarget,
    /// The person declined.
    AccessDenied,
    /// Dynamic registration: the metadata is refused (RFC 7591).
    InvalidClientMetadata,
    /// Dynamic registration: a redirect URI is refused (RFC 7591).
    InvalidRedirectUri,
    /// A bearer token is refused (RFC 6750).
    InvalidToken,
    /// A bearer token lacks a scope (RFC 6750).
    InsufficientScope,
    /// The gateway's state cannot be reached: try again (RFC 6749).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for OAuthErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
