//! Names that mean something, as types: a person's account role, the
//! groups they belong to, who may use a skill, executor pools, skill and
//! tool names, `sha256:` digests, and the ids of calls and approvals.
//!
//! Each name type is checked once, where it is made or read, and then
//! reads as a `&str` (`Deref`) wherever a string is wanted.
//!
//! A role says what a person may do in the gateway; groups say which skills
//! they may use (`[access] groups` in `skill.toml`) and are what policy
//! rules match on.

use serde::{Deserialize, Serialize};

/// An account role: what a person may do in the gateway.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, and every skill.
    Admin,
    /// Approves and denies calls.
    Approver,
    /// Connects an agent.
    User,
    /// Reads the whole audit log; decides and changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Approver, Role::User, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::User => "user",
            Role::Auditor => "auditor",
        }
    }

    pub fn may_approve(self) -> bool {
        matches!(self, Role::Admin | Role::Approver)
    }

    /// Sees every entry of the audit log (others see the calls that are
    /// theirs to make or to decide).
    pub fn reads_all_audit(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor)
    }

    /// The role named exactly `name`.
    pub fn named(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group name: `billing`, `support`, `eu-ops`. Lowercase ASCII letters,
/// digits, `-` and `_`, starting with a letter, at most 64 bytes, and not
/// the name of an account role (so `admin` always means the role).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupNameError {
    #[error(
        "{0:?} is not a group name (lowercase letters, digits, `-` and `_`, starting with a letter, at most 64)"
    )]
    Malformed(String),
    #[error("{0:?} is an account role, not a group: give the group another name")]
    IsRole(String),
}

impl GroupName {
    pub fn new(name: &str) -> Result<Self, GroupNameError> {
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(GroupNameError::Malformed(name.to_owned()));
        }
        if Role::named(name).is_some() {
            return Err(GroupNameError::IsRole(name.to_owned()));
        }
        Ok(GroupName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GroupName {
    type Error = GroupNameError;
    fn try_from(name: String) -> Result<Self, GroupNameError> {
        GroupName::new(&name)
    }
}

impl From<GroupName> for String {
    fn from(name: GroupName) -> String {
        name.0
    }
}

impl std::str::FromStr for GroupName {
    type Err = GroupNameError;
    fn from_str(name: &str) -> Result<Self, GroupNameError> {
        GroupName::new(name)
    }
}

impl std::fmt::Display for GroupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may use a skill: its `[access]` table.
///
/// Admins may use every skill. Anyone else needs one of `groups`, or one of
/// `roles` (kept from the deprecated `[access] roles` key). With neither,
/// the skill is for everyone with a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub groups: Vec<GroupName>,
    pub roles: Vec<Role>,
}

impl Audience {
    pub fn admits(&self, role: Role, groups: &[GroupName]) -> bool {
        role == Role::Admin
            || (self.groups.is_empty() && self.roles.is_empty())
            || self.roles.contains(&role)
            || groups.iter().any(|g| self.groups.contains(g))
    }

    /// `the groups billing, support` or `everyone`, for messages.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = self.groups.iter().map(ToString::to_string).collect();
        names.extend(self.roles.iter().map(|r| format!("role {r}")));
        if names.is_empty() {
            "everyone".into()
        } else {
            names.join(", ")
        }
    }
}

/// A string that was checked once: `Deref<Target = str>`, `Display`,
/// serde as a plain string (checked again when read).
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// `text` if it is one, else why not.
            pub fn new(text: &str) -> Result<Self, NameError> {
                let check: fn(&str) -> bool = $check;
                if check(text) {
                    Ok($name(text.to_owned()))
                } else {
                    Err(NameError {
                        text: text.to_owned(),
                        what: $what,
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(text: String) -> Result<Self, NameError> {
                $name::new(&text)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(text: &str) -> Result<Self, NameError> {
                $name::new(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A string that is not the name it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {what}")]
pub struct NameError {
    text: String,
    what: &'static str,
}

fn is_base64url_id(text: &str) -> bool {
    text.len() == 22
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

checked_string!(
    /// An executor pool: its name goes into subjects (`tgw.exec.<pool>`),
    /// nonce keys and the grant's `aud`. Lowercase letters, digits and `-`,
    /// at most 64.
    Pool,
    "a pool name (lowercase letters, digits and -, at most 64)",
    |s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
);

impl Default for Pool {
    fn default() -> Self {
        Pool("default".into())
    }
}

checked_string!(
    /// A skill's name: `files`, `http-fetch`. Lowercase letters, digits and
    /// `-`, starting with a letter, at most 63.
    SkillName,
    "a skill name (lowercase letters, digits and `-`, starting with a letter, at most 63)",
    |s| {
        !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
);

checked_string!(
    /// A tool's name within its skill: `read_file`. ASCII letters, digits,
    /// `_` and `-`, at most 128.
    ToolName,
    "a tool name (ASCII letters, digits, `_` and `-`, at most 128)",
    |s| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
);

checked_string!(
    /// A `sha256:` digest in lowercase hex: of a component, of canonical
    /// arguments (`input_hash`), of a policy set.
    Digest,
    "a sha256: digest (sha256: and 64 lowercase hex digits)",
    |s| {
        s.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }
);

checked_string!(
    /// The id of one call: 128 random bits, base64url.
    CallId,
    "a call id (22 base64url characters)",
    is_base64url_id
);

checked_string!(
    /// The id of one approval: 128 random bits, base64url.
    ApprovalId,
    "an approval id (22 base64url characters)",
    is_base64url_id
);

checked_string!(
    /// The id of one MCP task: 128 random bits, base64url.
    TaskId,
    "a task id (22 base64url characters)",
    is_base64url_id
);

impl TaskId {
    /// The id made of 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        TaskId(base64url(&bytes))
    }
}

impl Digest {
    /// `sha256:` of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Digest(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        self.0.trim_start_matches("sha256:")
    }
}

impl CallId {
    /// The id made of 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        CallId(base64url(&bytes))
    }
}

impl ApprovalId {
    /// The id made of 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        ApprovalId(base64url(&bytes))
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_checked() {
        for good in ["billing", "support", "eu-ops", "team_2"] {
            assert!(GroupName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Billing",
            "2fa",
            "-x",
            "a b",
            "bill\u{200b}ing",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(GroupName::new(bad), Err(GroupNameError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            GroupName::new("admin"),
            Err(GroupNameError::IsRole("admin".into()))
        );
    }

    #[test]
    fn checked_strings_refuse_what_they_are_not() {
        assert!(SkillName::new("http-fetch").is_ok());
        assert!(SkillName::new("Files").is_err());
        assert!(ToolName::new("read_file").is_ok());
        assert!(ToolName::new("read.file").is_err());
        assert!(ToolName::new("read_f\u{0456}le").is_err());
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(Digest::new(&digest).is_ok());
        assert!(Digest::new(&digest.to_uppercase()).is_err());
        assert!(CallId::new("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
        assert!(ApprovalId::new("../../etc/passwd").is_err());
        let parsed: Result<SkillName, _> = serde_json::from_str("\"UPPER\"");
        assert!(parsed.is_err(), "reading checks too");
    }

    #[test]
    fn pool_names_are_checked() {
        assert!(Pool::new("default").is_ok());
        assert!(Pool::new("eu-west-2").is_ok());
        for bad in ["", "Default", "a.b", "a_b", "a>", &"p".repeat(65)] {
            assert!(Pool::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_audience_admits_admins_members_and_listed_roles() {
        let billing = GroupName::new("billing")
            .ok()
            .into_iter()
            .collect::<Vec<_>>();
        let audience = Audience {
            groups: billing.clone(),
            roles: vec![Role::Approver],
        };
        assert!(audience.admits(Role::Admin, &[]));
        assert!(audience.admits(Role::User, &billing));
        assert!(audience.admits(Role::Approver, &[]));
        assert!(!audience.admits(Role::User, &[]));
        assert!(Audience::default().admits(Role::User, &[]));
    }
}
