//! The dashboard's JSON contract: what `/api/...` takes and answers. The
//! host's handlers (`host/src/api/`) build these types and the Leptos
//! dashboard (`web/`) reads them, so a field renamed on one side fails to
//! compile on the other.
//!
//! Requests refuse unknown fields; answers are read leniently only where
//! a field is optional.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every refused request: a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// `GET /api/me`, and the answer of a sign-in or an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: String,
    /// `admin`, `approver` or `user`.
    pub role: String,
    /// Sent back in `X-CSRF-Token` on every state-changing request.
    pub csrf: String,
}

/// A call waiting for a human, as its card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub id: String,
    pub call: String,
    pub skill: String,
    pub tool: String,
    /// `read`, `write` or `destructive`.
    pub risk: String,
    /// `sha256:` digest of the component the call will run.
    pub component: String,
    pub principal: String,
    /// The canonical arguments, in full: the bytes `input_hash` is over.
    pub args: String,
    /// `args` as the card shows it: every invisible, control,
    /// bidirectional or TAG character written as `\u{…}`
    /// (`tgw_proto::shown`).
    #[serde(default)]
    pub shown: String,
    /// What the approver must know about `args`, in words: each kind of
    /// escaped character, hidden TAG text, words that mix writing systems.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub input_hash: String,
    pub policy: String,
    pub rule: Option<String>,
    pub reason: String,
    /// Unix milliseconds.
    pub created: i64,
    pub expires: i64,
}

/// `GET /api/approvals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApprovals {
    pub approvals: Vec<PendingApproval>,
}

/// `POST /api/approvals/{id}/challenge`: what the dashboard passes to
/// `navigator.credentials.get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalChallenge {
    /// base64url
    pub challenge: String,
    /// base64url; sent back with the assertion.
    pub nonce: String,
    pub rp_id: String,
    /// The approver's credential ids (base64url).
    pub allow_credentials: Vec<String>,
}

/// `POST /api/approvals/{id}/approve`: the passkey assertion (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    pub nonce: String,
    pub credential_id: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    pub signature: String,
}

/// `POST /api/approvals/{id}/deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRequest {
    pub reason: String,
}

/// The answer to approve and deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub approval: String,
    /// `approved` or `denied`.
    pub state: String,
}

/// One message of the live feed, `/api/events` (a WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FeedEvent {
    #[serde(rename = "approval.pending")]
    Pending { approval: Box<PendingApproval> },
    #[serde(rename = "approval.decided")]
    Decided {
        id: String,
        /// The decided state, as stored (`{"state": "approved", ...}`).
        state: Value,
    },
    /// The feed fell behind: reload the list.
    #[serde(rename = "resync")]
    Resync,
}

/// The audit chain's state, on the History page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    pub intact: bool,
    /// How many entries it holds, when intact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// The problems found, when not (one per line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The chain (writer) it belongs to: `gateway.<id>`, `executor.<pool>.<key>`.
    #[serde(default)]
    pub writer: String,
    /// Its number within its chain.
    pub seq: u64,
    /// Unix milliseconds.
    pub ts: i64,
    pub kind: String,
    pub call: String,
    pub detail: Value,
    pub prev: String,
    pub hash: String,
}

/// `GET /api/audit?kind=&call=&limit=`: the newest entries first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub chain: ChainStatus,
    pub entries: Vec<AuditEntry>,
}

/// A tool of a skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolView {
    pub name: String,
    pub description: String,
    pub risk: String,
    pub input_schema: Value,
}

/// A directory a skill may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirView {
    pub guest: String,
    /// `read` or `readwrite`.
    pub access: String,
}

/// What a skill's sandbox may touch and use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesView {
    pub dirs: Vec<DirView>,
    pub http: Vec<String>,
    pub fuel: u64,
    pub memory_mib: u64,
    pub timeout_ms: u64,
}

/// A loaded skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillView {
    pub name: String,
    pub version: String,
    pub component: String,
    pub tools: Vec<ToolView>,
    pub capabilities: CapabilitiesView,
    /// Who may use it besides admins (empty: everyone).
    pub groups: Vec<String>,
    /// Account roles kept from the deprecated `[access] roles`.
    pub roles: Vec<String>,
    /// The names of the secrets it declares (never their values).
    pub secrets: Vec<String>,
    /// Why the host believes its component: "signed by publisher …",
    /// "local build of …" or "unsigned (development mode)".
    #[serde(default)]
    pub provenance: String,
    /// The publisher's key id, when it is signed.
    #[serde(default)]
    pub publisher: Option<String>,
}

/// `GET /api/skills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skills {
    pub skills: Vec<SkillView>,
    /// Why each skill folder that is not served was left out (a bad
    /// manifest, a name another folder has, a component that fails).
    #[serde(default)]
    pub refused: Vec<String>,
    /// The host loads unsigned skill folders (`--dev`).
    #[serde(default)]
    pub dev: bool,
    /// Updates that widen what a skill may do, waiting for an admin's yes.
    #[serde(default)]
    pub pending: Vec<PendingUpdate>,
}

/// An update of an installed skill that waits for an admin's yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub name: String,
    pub version: String,
    /// The publisher's key id.
    pub publisher: String,
    /// Where it was pulled from (`host/repo:tag`).
    pub source: Option<String>,
    /// What the admin accepts: the pulled artifact's digest.
    pub digest: String,
    pub changes: Vec<SkillChange>,
}

/// One difference an update makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillChange {
    pub what: String,
    /// It lets the skill do more, or ask less often.
    pub widens: bool,
}

/// `POST /api/skills/pending/{name}/accept` and `…/reject`: the digest
/// the admin was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDecision {
    pub digest: String,
}

/// The answer to accepting or rejecting an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateDecided {
    pub name: String,
    pub version: String,
    pub accepted: bool,
}

/// `GET /api/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub path: String,
    pub digest: String,
    pub rules: Vec<String>,
    pub text: String,
}

/// A passkey of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: String,
    pub created: i64,
    pub sign_count: u32,
    /// Why it may not be used until an admin enables it again.
    #[serde(default)]
    pub suspended: Option<String>,
}

/// The answer to `POST /api/people/{name}/passkeys/{id}/enable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyEnabled {
    pub name: String,
    pub id: String,
}

/// A person, on the People page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub role: String,
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created: i64,
    pub passkeys: Vec<PasskeyView>,
}

/// `GET /api/people`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct People {
    pub people: Vec<Person>,
}

/// `POST /api/people/invite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// `admin`, `approver` or `user`.
    pub role: String,
}

/// The answer to an invitation: the link, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    pub link: String,
    pub role: String,
    pub expires: i64,
}

/// `POST /api/people/{name}/groups`: the person's groups, in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsRequest {
    pub groups: Vec<String>,
}

/// The answer to setting groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsSet {
    pub name: String,
    pub groups: Vec<String>,
}

/// The answer to `POST /api/people/{name}/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub name: String,
    pub disabled: bool,
}

/// The answer to `POST /api/people/{name}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub name: String,
    /// Connected OAuth clients whose grants ended.
    pub oauth_grants: u64,
    pub personal_tokens: u64,
}

/// `GET /api/oauth/requests/{id}`: an app asking for access, on the consent
/// screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub client_id: String,
    pub client_name: Option<String>,
    /// The name is vouched for by the client ID URL's host.
    pub client_id_is_url: bool,
    pub redirect_uri: String,
    pub redirect_host: String,
    pub scopes: Vec<String>,
    /// The MCP endpoint the app's tokens will be for.
    pub resource: String,
    /// Who is signed in and would grant it.
    pub user: String,
}

/// `POST /api/oauth/requests/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentDecision {
    pub allow: bool,
}

/// Where the browser goes after consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub redirect: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_events_are_tagged_as_the_dashboard_reads_them() {
        let event = FeedEvent::Decided {
            id: "a1".into(),
            state: serde_json::json!({"state": "denied"}),
        };
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"type":"approval.decided","id":"a1","state":{"state":"denied"}}"#
        );
        assert_eq!(
            serde_json::from_str::<FeedEvent>(r#"{"type":"resync"}"#).ok(),
            Some(FeedEvent::Resync)
        );
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        assert!(serde_json::from_str::<DenyRequest>(r#"{"reason":"x","also":1}"#).is_err());
        assert!(serde_json::from_str::<GroupsRequest>(r#"{"groups":["billing"]}"#).is_ok());
    }
}
