//! Personal access tokens: how an agent's MCP client says who it acts for.
//!
//! A token reads `tgw_pat_<id>_<secret>`. It is shown once; the store keeps
//! only `sha256(secret)` under `token.<id>`, with its user, scopes and
//! whether it was revoked. Every use looks the user up again, so disabling
//! a person stops their tokens at once. OAuth access tokens for Claude.ai end
//! up as the same [`Caller`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{People, PeopleError};
use crate::audit::now_millis;
use crate::backend::StoreError;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Use the MCP endpoint at all.
    #[serde(rename = "mcp:execute")]
    McpExecute,
    /// See the tools (`tools/list`).
    #[serde(rename = "tools:list")]
    ToolsList,
    /// Propose calls (`tools/call`).
    #[serde(rename = "tools:call")]
    ToolsCall,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::McpExecute, Scope::ToolsList, Scope::ToolsCall];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::McpExecute => "mcp:execute",
            Scope::ToolsList => "tools:list",
            Scope::ToolsCall => "tools:call",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope {s:?} (the scopes are mcp:execute, tools:list, tools:call)")
            })
    }
}

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub id: String,
    pub user: String,
    pub scopes: Vec<Scope>,
    pub created: i64,
    pub revoked: Option<i64>,
    /// hex sha256 of the secret part.
    secret_hash: String,
}

/// Who is calling, once a token checked out: the proposal's principal, the
/// person's role and groups, and what the token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: super::Role,
    pub groups: Vec<super::GroupName>,
    pub scopes: Vec<Scope>,
}

impl Caller {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why a token was not accepted. The words go back to the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("this is not a Trust Gateway access token")]
    Malformed,
    #[error("the access token is not known")]
    Unknown,
    #[error("the access token was revoked")]
    Revoked,
    #[error("the access token's user {0} is disabled or gone")]
    UserDisabled(String),
    #[error("the token store is unavailable: {0}")]
    Unavailable(String),
    /// An OAuth access token that does not check out, and why.
    #[error("{0}")]
    Invalid(String),
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two hex digests without an early exit, so the time taken says
/// nothing about how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub use tgw_parse::mcp::{PREFIX, split_token};

impl People {
    /// Issues a token for an active user. Returns the token (shown once)
    /// and its record.
    pub async fn create_token(
        &self,
        user: &str,
        scopes: &[Scope],
    ) -> Result<(String, TokenRecord), PeopleError> {
        match self.user(user).await? {
            Some(u) if !u.disabled => {}
            Some(_) => return Err(PeopleError::Disabled(user.into())),
            None => return Err(PeopleError::NoUser(user.into())),
        }
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        crate::ids::fill_random(&mut id);
        crate::ids::fill_random(&mut secret);
        let (id, secret) = (hex::encode(id), B64.encode(secret));
        let mut scopes = scopes.to_vec();
        scopes.sort_by_key(|s| s.as_str());
        scopes.dedup();
        let record = TokenRecord {
            id: id.clone(),
            user: user.into(),
            scopes,
            created: now_millis(),
            revoked: None,
            secret_hash: secret_hash(&secret),
        };
        self.kv
            .create(&super::Key::Token(&id).render(), &Self::json(&record))
            .await?;
        Ok((format!("{PREFIX}{id}_{secret}"), record))
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, PeopleError> {
        let mut tokens = Vec::new();
        for key in self.kv.keys(super::Kind::Token.prefix()).await? {
            if let Some((token, _)) = self.read::<TokenRecord>(&key).await? {
                tokens.push(token);
            }
        }
        Ok(tokens)
    }

    /// Revokes a token by its id; revoking twice is not an error.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenRecord, PeopleError> {
        let key = super::Key::Token(id).render();
        loop {
            let (mut token, revision) = self
                .read::<TokenRecord>(&key)
                .await?
                .ok_or_else(|| PeopleError::NoSuchToken(id.into()))?;
            if token.revoked.is_some() {
                return Ok(token);
            }
            token.revoked = Some(now_millis());
            match self.kv.update(&key, &Self::json(&token), revision).await {
                Ok(()) => return Ok(token),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks a presented token: known, not revoked, its user active.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, TokenError> {
        let unavailable = |e: PeopleError| TokenError::Unavailable(e.to_string());
        let (id, secret) = split_token(token).ok_or(TokenError::Malformed)?;
        let (record, _) = self
            .read::<TokenRecord>(&super::Key::Token(id).render())
            .await
            .map_err(unavailable)?
            .ok_or(TokenError::Unknown)?;
        if !same(&record.secret_hash, &secret_hash(secret)) {
            return Err(TokenError::Unknown);
        }
        if record.revoked.is_some() {
            return Err(TokenError::Revoked);
        }
        match self.user(&record.user).await.map_err(unavailable)? {
            Some(user) if !user.disabled => Ok(Caller {
                role: user.role,
                groups: user.groups,
                user: user.name,
                scopes: record.scopes,
            }),
            _ => Err(TokenError::UserDisabled(record.user)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_refuse_unknown_words() {
        assert_eq!("tools:call".parse::<Scope>(), Ok(Scope::ToolsCall));
        assert!("tools:*".parse::<Scope>().is_err());
        assert!("TOOLS:CALL".parse::<Scope>().is_err());
    }
}
