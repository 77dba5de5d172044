//! People: accounts with a role, their passkeys, and single-use
//! invitations.
//!
//! Roles: `admin` (everything), `approver` (approve and deny), `user` (may
//! connect an agent). Groups (`billing`, `support`, …) say which skills a
//! person may use and are what policy rules match on; a person has any
//! number of them. An invitation is a random token shown once (only its
//! hash is stored), valid for 15 minutes and for one enrollment.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tgw_proto::webauthn::{NewCredential, StoredCredential};

use crate::audit::now_millis;
use crate::backend::{Bucket, StoreError};

pub mod keys;
mod tokens;

use keys::{Key, Kind};
pub use tokens::{Caller, Scope, TokenError, TokenRecord, split_token};

pub const INVITATION_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A person is in at most this many groups.
pub const MAX_GROUPS: usize = 64;

pub use crate::ids::{GroupName, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Which skills this person may use, and what policy rules match on.
    #[serde(default)]
    pub groups: Vec<GroupName>,
    pub disabled: bool,
    pub created: i64,
}

/// A passkey of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRecord {
    /// base64url
    pub id: String,
    pub user: String,
    /// COSE_Key, base64url.
    pub public_key: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub created: i64,
    /// Why the passkey may not be used until an admin enables it again
    /// (its signature counter went back: a cloned authenticator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
}

impl CredentialRecord {
    pub fn stored(&self) -> Result<StoredCredential, PeopleError> {
        let decode = |v: &str| {
            B64.decode(v)
                .map_err(|_| PeopleError::Corrupt(format!("credential {}", self.id)))
        };
        Ok(StoredCredential {
            id: decode(&self.id)?,
            public_key: decode(&self.public_key)?,
            sign_count: self.sign_count,
            backup_eligible: self.backup_eligible,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationRecord {
    role: Role,
    expires: i64,
    used_by: Option<String>,
}

/// A new invitation: the token is shown once.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub token: String,
    pub role: Role,
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    #[error("{0:?} is not a user name (lowercase letters, digits, `.`, `_` and `-`, at most 64)")]
    BadName(String),
    #[error("there is already a user {0}")]
    Exists(String),
    #[error("no user {0}")]
    NoUser(String),
    #[error("user {0} is disabled")]
    Disabled(String),
    #[error("{0} is already in {MAX_GROUPS} groups, the most a person may be in")]
    TooManyGroups(String),
    #[error("no access token {0}")]
    NoSuchToken(String),
    #[error("no passkey {0}")]
    NoCredential(String),
    #[error("the invitation is unknown, used or expired")]
    BadInvitation,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[derive(Clone)]
pub struct People {
    kv: Arc<dyn Bucket>,
}

impl People {
    pub fn new(kv: Arc<dyn Bucket>) -> Self {
        People { kv }
    }

    /// The bucket people live in; OAuth clients are kept there too.
    pub fn store(&self) -> &Arc<dyn Bucket> {
        &self.kv
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, u64)>, PeopleError> {
        match self.kv.get(key).await? {
            Some(entry) => serde_json::from_slice(&entry.value)
                .map(|value| Some((value, entry.revision)))
                .map_err(|e| PeopleError::Corrupt(format!("{key}: {e}"))),
            None => Ok(None),
        }
    }

    #[expect(
        clippy::expect_used,
        reason = "our records are plain structs of strings and numbers: they always serialise"
    )]
    fn json<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("records serialise")
    }

    /// Creates an invitation for `role`.
    pub async fn invite(&self, role: Role) -> Result<Invitation, PeopleError> {
        let mut bytes = [0u8; 32];
        crate::ids::fill_random(&mut bytes);
        let token = B64.encode(bytes);
        let expires = now_millis() + INVITATION_LIFETIME.as_millis() as i64;
        let record = InvitationRecord {
            role,
            expires,
            used_by: None,
        };
        self.kv
            .create(&Key::Invitation(&token).render(), &Self::json(&record))
            .await?;
        Ok(Invitation {
            token,
            role,
            expires,
        })
    }

    /// Spends an invitation and creates its user, once.
    pub async fn redeem(&self, token: &str, name: &str) -> Result<User, PeopleError> {
        if !is_user_name(name) {
            return Err(PeopleError::BadName(name.into()));
        }
        let key = Key::Invitation(token).render();
        let (mut invitation, revision) = self
            .read::<InvitationRecord>(&key)
            .await?
            .ok_or(PeopleError::BadInvitation)?;
        if invitation.used_by.is_some() || invitation.expires <= now_millis() {
            return Err(PeopleError::BadInvitation);
        }
        let user = User {
            name: name.into(),
            role: invitation.role,
            groups: Vec::new(),
            disabled: false,
            created: now_millis(),
        };
        match self
            .kv
            .create(&Key::User(name).render(), &Self::json(&user))
            .await
        {
            Err(StoreError::Conflict) => return Err(PeopleError::Exists(name.into())),
            other => other?,
        }
        invitation.used_by = Some(name.into());
        match self
            .kv
            .update(&key, &Self::json(&invitation), revision)
            .await
        {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict) => Err(PeopleError::BadInvitation),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user(&self, name: &str) -> Result<Option<User>, PeopleError> {
        Ok(self
            .read::<User>(&Key::User(name).render())
            .await?
            .map(|(u, _)| u))
    }

    pub async fn users(&self) -> Result<Vec<User>, PeopleError> {
        let mut users = Vec::new();
        for key in self.kv.keys(Kind::User.prefix()).await? {
            if let Some((user, _)) = self.read::<User>(&key).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// Whether an active admin exists (else `tgw up` prints an enrollment
    /// link).
    pub async fn has_admin(&self) -> Result<bool, PeopleError> {
        Ok(self
            .users()
            .await?
            .iter()
            .any(|u| u.role == Role::Admin && !u.disabled))
    }

    pub async fn disable(&self, name: &str) -> Result<User, PeopleError> {
        self.change_user(name, |user| user.disabled = true).await
    }

    /// Puts `name` in `group` (nothing changes if they are in it).
    pub async fn add_group(&self, name: &str, group: &GroupName) -> Result<User, PeopleError> {
        let user = self
            .user(name)
            .await?
            .ok_or_else(|| PeopleError::NoUser(name.into()))?;
        if !user.groups.contains(group) && user.groups.len() >= MAX_GROUPS {
            return Err(PeopleError::TooManyGroups(name.into()));
        }
        self.change_user(name, |user| {
            if !user.groups.contains(group) {
                user.groups.push(group.clone());
                user.groups.sort();
            }
        })
        .await
    }

    /// Sets the groups of `name` to exactly `groups`.
    pub async fn set_groups(
        &self,
        name: &str,
        mut groups: Vec<GroupName>,
    ) -> Result<User, PeopleError> {
        groups.sort();
        groups.dedup();
        if groups.len() > MAX_GROUPS {
            return Err(PeopleError::TooManyGroups(name.into()));
        }
        self.change_user(name, |user| user.groups.clone_from(&groups))
            .await
    }

    /// Takes `name` out of `group` (nothing changes if they are not in it).
    pub async fn remove_group(&self, name: &str, group: &GroupName) -> Result<User, PeopleError> {
        self.change_user(name, |user| user.groups.retain(|g| g != group))
            .await
    }

    /// Applies `change` to the user `name`, compare-and-set, retried when
    /// someone else changed the record first.
    async fn change_user(
        &self,
        name: &str,
        change: impl Fn(&mut User),
    ) -> Result<User, PeopleError> {
        let key = Key::User(name).render();
        loop {
            let (mut user, revision) = self
                .read::<User>(&key)
                .await?
                .ok_or_else(|| PeopleError::NoUser(name.into()))?;
            change(&mut user);
            match self.kv.update(&key, &Self::json(&user), revision).await {
                Ok(()) => return Ok(user),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn add_credential(
        &self,
        user: &str,
        credential: &NewCredential,
    ) -> Result<CredentialRecord, PeopleError> {
        if self.user(user).await?.is_none() {
            return Err(PeopleError::NoUser(user.into()));
        }
        let record = CredentialRecord {
            id: B64.encode(&credential.id),
            user: user.into(),
            public_key: B64.encode(&credential.public_key),
            sign_count: credential.sign_count,
            backup_eligible: credential.backup_eligible,
            created: now_millis(),
            suspended: None,
        };
        match self
            .kv
            .create(&Key::Credential(&record.id).render(), &Self::json(&record))
            .await
        {
            Err(StoreError::Conflict) => {
                Err(PeopleError::Exists(format!("credential {}", record.id)))
            }
            other => other.map(|()| record).map_err(Into::into),
        }
    }

    /// A credential by its base64url id.
    pub async fn credential(
        &self,
        id: &str,
    ) -> Result<Option<(CredentialRecord, u64)>, PeopleError> {
        self.read(&Key::Credential(id).render()).await
    }

    pub async fn credentials_of(&self, user: &str) -> Result<Vec<CredentialRecord>, PeopleError> {
        let mut found = Vec::new();
        for key in self.kv.keys(Kind::Credential.prefix()).await? {
            if let Some((record, _)) = self.read::<CredentialRecord>(&key).await?
                && record.user == user
            {
                found.push(record);
            }
        }
        Ok(found)
    }

    /// After a failed passkey check: a signature counter that went back
    /// (a cloned authenticator) suspends the passkey until an admin enables
    /// it again, and is audited (`passkey.suspended`). True if it did.
    pub async fn suspend_if_cloned(
        &self,
        credential: &CredentialRecord,
        error: &tgw_proto::webauthn::WebAuthnError,
        audit: &crate::audit::Audit,
    ) -> bool {
        let tgw_proto::webauthn::WebAuthnError::SignCountRegressed { stored, got } = error else {
            return false;
        };
        let why = format!(
            "its signature counter went back from {stored} to {got}: the authenticator may have \
             been cloned"
        );
        let suspended = self.set_suspended(&credential.id, Some(why.clone())).await;
        audit
            .record(
                crate::audit::AuditKind::PasskeySuspended,
                "",
                serde_json::json!({
                    "user": credential.user,
                    "credential": credential.id,
                    "reason": why,
                    "stored": suspended.is_ok(),
                }),
            )
            .await;
        if let Err(e) = suspended {
            tracing::error!(target: "tgw::people", "passkey {} of {} was not suspended: {e}", credential.id, credential.user);
        }
        true
    }

    /// Suspends (`Some(why)`) or enables again (`None`) the passkey `id`.
    pub async fn set_suspended(
        &self,
        id: &str,
        why: Option<String>,
    ) -> Result<CredentialRecord, PeopleError> {
        let key = Key::Credential(id).render();
        loop {
            let (mut record, revision) = self
                .read::<CredentialRecord>(&key)
                .await?
                .ok_or_else(|| PeopleError::NoCredential(id.into()))?;
            record.suspended.clone_from(&why);
            match self.kv.update(&key, &Self::json(&record), revision).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Stores a credential's new signature counter, if nobody else did.
    pub async fn record_use(
        &self,
        mut record: CredentialRecord,
        revision: u64,
        sign_count: u32,
    ) -> Result<(), PeopleError> {
        record.sign_count = sign_count;
        self.kv
            .update(
                &Key::Credential(&record.id).render(),
                &Self::json(&record),
                revision,
            )
            .await
            .map_err(Into::into)
    }
}
