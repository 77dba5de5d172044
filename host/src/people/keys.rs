//! Every key of the people bucket (`TGW_PEOPLE`), in one place. People and
//! OAuth share the bucket; no key is formatted anywhere else, so two
//! kinds of record can never collide.
//!
//! Secrets (invitation tokens, OAuth codes and refresh tokens) are stored
//! under the SHA-256 of the secret: a copy of the bucket holds none of them.

use sha2::{Digest, Sha256};

/// The key of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A person, by name.
    User(&'a str),
    /// A passkey, by its base64url credential id.
    Credential(&'a str),
    /// An invitation, by its token (stored hashed).
    Invitation(&'a str),
    /// A personal access token, by its id.
    Token(&'a str),
    /// A registered OAuth client, by client id.
    OAuthClient(&'a str),
    /// An authorization code (stored hashed).
    OAuthCode(&'a str),
    /// A refresh token (stored hashed).
    OAuthRefresh(&'a str),
    /// A refresh-token family, by its id.
    OAuthFamily(&'a str),
}

/// A kind of record, to list every key of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Credential,
    Token,
    OAuthFamily,
}

impl Kind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::User => "user.",
            Kind::Credential => "cred.",
            Kind::Token => "token.",
            Kind::OAuthFamily => "family.",
        }
    }
}

fn hashed(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Key<'_> {
    pub fn render(&self) -> String {
        match self {
            Key::User(name) => format!("{}{name}", Kind::User.prefix()),
            Key::Credential(id) => format!("{}{id}", Kind::Credential.prefix()),
            Key::Invitation(token) => format!("invite.{}", hashed(token)),
            Key::Token(id) => format!("{}{id}", Kind::Token.prefix()),
            Key::OAuthClient(id) => format!("client.{id}"),
            Key::OAuthCode(code) => format!("code.{}", hashed(code)),
            Key::OAuthRefresh(token) => format!("refresh.{}", hashed(token)),
            Key::OAuthFamily(id) => format!("{}{id}", Kind::OAuthFamily.prefix()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_keyed_by_their_hash_and_kinds_list_their_own() {
        let code = Key::OAuthCode("s3cret").render();
        assert!(code.starts_with("code.") && !code.contains("s3cret"));
        assert!(Key::User("ada").render().starts_with(Kind::User.prefix()));
        assert!(!Key::Token("x").render().starts_with(Kind::User.prefix()));
    }
}
