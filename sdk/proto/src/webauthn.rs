//! The relying-party checks of WebAuthn (Level 3, §7.1 registration and
//! §7.2 authentication), in pure Rust so that the executor can check an
//! approver's assertion inside its sandbox with the same code the gateway
//! uses.
//!
//! Written here rather than taken from webauthn-rs: that crate verifies
//! with OpenSSL, which does not build for `wasm32-wasip2`. The parsing of
//! keys is `coset` (COSE) and `ciborium` (CBOR); the signatures are
//! `p256` (ES256) and `ed25519-dalek` (EdDSA).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use coset::{CborSerializable, CoseKey, KeyType, Label, iana};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Flags of the authenticator data.
pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;
pub const AT: u8 = 0x40;
pub const ED: u8 = 0x80;

/// Who the credentials are for: the RP ID (a domain) and the one origin
/// pages may come from (`https://gateway.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub origin: String,
}

/// Why WebAuthn data is refused: one case per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    #[error("malformed WebAuthn data: {0}")]
    Malformed(String),
    #[error("the client data is of type {got:?}, not {expected}")]
    WrongType { expected: &'static str, got: String },
    #[error("the challenge is not the one issued for this ceremony")]
    ChallengeMismatch,
    #[error("the origin {0:?} is not this gateway's")]
    WrongOrigin(String),
    #[error("the ceremony ran in a cross-origin frame")]
    CrossOrigin,
    #[error("the authenticator signed for another relying party")]
    WrongRpId,
    #[error("the user was not present (UP flag not set)")]
    UserNotPresent,
    #[error("the user was not verified (UV flag not set)")]
    UserNotVerified,
    #[error("the backup flags are inconsistent (BS set without BE, or BE changed)")]
    BackupFlags,
    #[error("the signature does not verify")]
    BadSignature,
    #[error(
        "the signature counter went back from {stored} to {got}: the authenticator may have been cloned"
    )]
    SignCountRegressed { stored: u32, got: u32 },
    #[error("COSE algorithm {0} is not supported (ES256 and EdDSA are)")]
    UnsupportedAlgorithm(String),
    #[error("attestation {0:?} is not supported (none and packed self-attestation are)")]
    UnsupportedAttestation(String),
}

fn malformed(what: impl Into<String>) -> WebAuthnError {
    WebAuthnError::Malformed(what.into())
}

/// `collectedClientData`, the fields that are checked.
#[derive(Debug, Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    ty: String,
    challenge: String,
    origin: String,
    #[serde(default, rename = "crossOrigin")]
    cross_origin: bool,
}

/// The authenticator data, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    /// Present at registration: the new credential.
    pub credential: Option<AttestedCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub id: Vec<u8>,
    /// The credential public key, a COSE_Key in CBOR.
    pub public_key: Vec<u8>,
}

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        if bytes.len() < 37 {
            return Err(malformed("authenticator data shorter than 37 bytes"));
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut rest = &bytes[37..];
        let credential = if flags & AT != 0 {
            if rest.len() < 18 {
                return Err(malformed("attested credential data is cut short"));
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let id_len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
            if id_len > 1023 || rest.len() < 18 + id_len {
                return Err(malformed("bad credential id length"));
            }
            let id = rest[18..18 + id_len].to_vec();
            rest = &rest[18 + id_len..];
            // The COSE key is one CBOR item; find where it ends.
            let mut reader = rest;
            let _: ciborium::Value = ciborium::de::from_reader(&mut reader)
                .map_err(|e| malformed(format!("credential public key: {e}")))?;
            let used = rest.len() - reader.len();
            let public_key = rest[..used].to_vec();
            rest = &rest[used..];
            Some(AttestedCredential {
                aaguid,
                id,
                public_key,
            })
        } else {
            None
        };
        if flags & ED != 0 {
            let mut reader = rest;
            let _: ciborium::Value = ciborium::de::from_reader(&mut reader)
                .map_err(|e| malformed(format!("extensions: {e}")))?;
            rest = reader;
        }
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the authenticator data"));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            credential,
        })
    }
}

/// A credential public key the relying party accepts.
enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

fn param(key: &CoseKey, label: i64) -> Option<&ciborium::Value> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

impl PublicKey {
    fn from_cose(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        let key = CoseKey::from_slice(bytes)
            .map_err(|e| malformed(format!("credential public key: {e:?}")))?;
        let alg = key.alg.clone();
        match (&key.kty, alg) {
            (
                KeyType::Assigned(iana::KeyType::EC2),
                Some(coset::Algorithm::Assigned(iana::Algorithm::ES256)),
            ) => {
                let crv = param(&key, iana::Ec2KeyParameter::Crv as i64)
                    .and_then(ciborium::Value::as_integer);
                if crv != Some((iana::EllipticCurve::P_256 as i64).into()) {
                    return Err(WebAuthnError::UnsupportedAlgorithm(
                        "ES256 on a curve other than P-256".into(),
                    ));
                }
                let sec1 = key
                    .to_sec1_octet_string()
                    .map_err(|e| malformed(format!("EC2 key: {e:?}")))?;
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(PublicKey::Es256)
                    .map_err(|_| malformed("not a P-256 point"))
            }
            (
                KeyType::Assigned(iana::KeyType::OKP),
                Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)),
            ) => {
                let crv = param(&key, iana::OkpKeyParameter::Crv as i64)
                    .and_then(ciborium::Value::as_integer);
                if crv != Some((iana::EllipticCurve::Ed25519 as i64).into()) {
                    return Err(WebAuthnError::UnsupportedAlgorithm(
                        "EdDSA on a curve other than Ed25519".into(),
                    ));
                }
                let x = param(&key, iana::OkpKeyParameter::X as i64).and_then(|v| v.as_bytes());
                let x: &[u8; 32] = x
                    .and_then(|x| x.as_slice().try_into().ok())
                    .ok_or_else(|| malformed("Ed25519 key is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(x)
                    .map(PublicKey::EdDsa)
                    .map_err(|_| malformed("not an Ed25519 key"))
            }
            (kty, alg) => Err(WebAuthnError::UnsupportedAlgorithm(format!(
                "{kty:?} with {alg:?}"
            ))),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WebAuthnError> {
        match self {
            PublicKey::Es256(key) => {
                use p256::ecdsa::signature::Verifier;
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| WebAuthnError::BadSignature)?;
                key.verify(message, &signature)
                    .map_err(|_| WebAuthnError::BadSignature)
            }
            PublicKey::EdDsa(key) => {
                let signature: &[u8; 64] = signature
                    .try_into()
                    .map_err(|_| WebAuthnError::BadSignature)?;
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                    .map_err(|_| WebAuthnError::BadSignature)
            }
        }
    }
}

/// Checks the client data: type, challenge, origin, not cross-origin.
fn check_client_data(
    rp: &RelyingParty,
    expected_type: &'static str,
    challenge: &[u8],
    client_data_json: &[u8],
) -> Result<(), WebAuthnError> {
    let client: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|e| malformed(format!("client data: {e}")))?;
    if client.ty != expected_type {
        return Err(WebAuthnError::WrongType {
            expected: expected_type,
            got: client.ty,
        });
    }
    let got = B64
        .decode(&client.challenge)
        .map_err(|_| malformed("the challenge is not base64url"))?;
    // Challenges are public once issued; equality is what matters, and the
    // comparison does not need to be constant-time.
    if got != challenge {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if client.origin != rp.origin {
        return Err(WebAuthnError::WrongOrigin(client.origin));
    }
    if client.cross_origin {
        return Err(WebAuthnError::CrossOrigin);
    }
    Ok(())
}

/// Checks the authenticator data flags and RP ID hash.
fn check_authenticator(
    rp: &RelyingParty,
    data: &AuthenticatorData,
    require_uv: bool,
) -> Result<(), WebAuthnError> {
    if data.rp_id_hash != <[u8; 32]>::from(Sha256::digest(rp.id.as_bytes())) {
        return Err(WebAuthnError::WrongRpId);
    }
    if data.flags & UP == 0 {
        return Err(WebAuthnError::UserNotPresent);
    }
    if require_uv && data.flags & UV == 0 {
        return Err(WebAuthnError::UserNotVerified);
    }
    if data.flags & BS != 0 && data.flags & BE == 0 {
        return Err(WebAuthnError::BackupFlags);
    }
    Ok(())
}

/// A credential registered by [`verify_registration`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub id: Vec<u8>,
    /// COSE_Key, CBOR.
    pub public_key: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub user_verified: bool,
}

/// §7.1: checks a registration (`navigator.credentials.create`) against
/// the challenge that was issued for it.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &[u8],
    client_data_json: &[u8],
    attestation_object: &[u8],
    require_uv: bool,
) -> Result<NewCredential, WebAuthnError> {
    check_client_data(rp, "webauthn.create", challenge, client_data_json)?;
    let object: ciborium::Value = ciborium::de::from_reader(attestation_object)
        .map_err(|e| malformed(format!("attestation object: {e}")))?;
    let map = object
        .as_map()
        .ok_or_else(|| malformed("the attestation object is not a map"))?;
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    };
    let fmt = field("fmt")
        .and_then(|v| v.as_text())
        .ok_or_else(|| malformed("no fmt"))?;
    let auth_data = field("authData")
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| malformed("no authData"))?;
    let statement = field("attStmt")
        .and_then(|v| v.as_map())
        .ok_or_else(|| malformed("no attStmt"))?;
    let data = AuthenticatorData::parse(auth_data)?;
    check_authenticator(rp, &data, require_uv)?;
    let credential = data
        .credential
        .clone()
        .ok_or_else(|| malformed("no attested credential data (AT flag)"))?;
    let key = PublicKey::from_cose(&credential.public_key)?;
    match fmt {
        "none" if statement.is_empty() => {}
        "packed" => {
            let stmt = |name: &str| {
                statement
                    .iter()
                    .find(|(k, _)| k.as_text() == Some(name))
                    .map(|(_, v)| v)
            };
            if stmt("x5c").is_some() {
                return Err(WebAuthnError::UnsupportedAttestation(
                    "packed with a certificate chain".into(),
                ));
            }
            let alg = stmt("alg")
                .and_then(ciborium::Value::as_integer)
                .map(i128::from);
            let expected = match key {
                PublicKey::Es256(_) => iana::Algorithm::ES256 as i128,
                PublicKey::EdDsa(_) => iana::Algorithm::EdDSA as i128,
            };
            if alg != Some(expected) {
                return Err(WebAuthnError::UnsupportedAttestation(
                    "packed self-attestation with another algorithm".into(),
                ));
            }
            let sig = stmt("sig")
                .and_then(|v| v.as_bytes())
                .ok_or_else(|| malformed("packed attestation without sig"))?;
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&Sha256::digest(client_data_json));
            key.verify(&signed, sig)?;
        }
        other => return Err(WebAuthnError::UnsupportedAttestation(other.into())),
    }
    Ok(NewCredential {
        id: credential.id,
        public_key: credential.public_key,
        sign_count: data.sign_count,
        backup_eligible: data.flags & BE != 0,
        user_verified: data.flags & UV != 0,
    })
}

/// What the relying party knows of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
}

/// An assertion (`navigator.credentials.get`), as the browser returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A verified assertion: the counter to store, and what was attested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub sign_count: u32,
    pub user_verified: bool,
}

/// §7.2: checks an assertion against the challenge issued for it and the
/// stored credential.
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &[u8],
    assertion: &Assertion,
    stored: &StoredCredential,
    require_uv: bool,
) -> Result<VerifiedAssertion, WebAuthnError> {
    if assertion.credential_id != stored.id {
        return Err(malformed("the assertion is for another credential"));
    }
    check_client_data(rp, "webauthn.get", challenge, &assertion.client_data_json)?;
    let data = AuthenticatorData::parse(&assertion.authenticator_data)?;
    check_authenticator(rp, &data, require_uv)?;
    if (data.flags & BE != 0) != stored.backup_eligible {
        return Err(WebAuthnError::BackupFlags);
    }
    let mut signed = assertion.authenticator_data.clone();
    signed.extend_from_slice(&Sha256::digest(&assertion.client_data_json));
    PublicKey::from_cose(&stored.public_key)?.verify(&signed, &assertion.signature)?;
    if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count {
        return Err(WebAuthnError::SignCountRegressed {
            stored: stored.sign_count,
            got: data.sign_count,
        });
    }
    Ok(VerifiedAssertion {
        sign_count: data.sign_count,
        user_verified: data.flags & UV != 0,
    })
}

/// The challenge of an approval: it binds what the approver was shown.
/// `sha256(approval_id ‖ 0 ‖ input_hash ‖ 0 ‖ component_digest ‖ 0 ‖ nonce)`
/// (the zero bytes keep the fields apart; none of them contains one).
pub fn approval_challenge(
    approval_id: &str,
    input_hash: &str,
    component: &str,
    nonce: &[u8],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        approval_id.as_bytes(),
        b"\0",
        input_hash.as_bytes(),
        b"\0",
        component.as_bytes(),
        b"\0",
        nonce,
    ] {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Checks a grant's `approval` claim: the assertion it carries verifies,
/// with user verification, against `stored` over the challenge that binds
/// the approval id, `input_hash`, `component` and the claim's nonce. The
/// signature counter is not checked here (the gateway keeps it; the
/// grant's own nonce makes the claim single use).
pub fn verify_approval_claim(
    approval: &crate::grant::Approval,
    input_hash: &str,
    component: &str,
    stored: &StoredCredential,
    rp: &RelyingParty,
) -> Result<(), WebAuthnError> {
    let decode = |v: &str| {
        B64.decode(v)
            .map_err(|_| malformed("the approval's assertion is not base64url"))
    };
    let assertion = Assertion {
        credential_id: decode(&approval.credential_id)?,
        authenticator_data: decode(&approval.authenticator_data)?,
        client_data_json: decode(&approval.client_data_json)?,
        signature: decode(&approval.signature)?,
    };
    let challenge = approval_challenge(
        &approval.id,
        input_hash,
        component,
        &decode(&approval.nonce)?,
    );
    let stored = StoredCredential {
        sign_count: 0,
        ..stored.clone()
    };
    verify_assertion(rp, &challenge, &assertion, &stored, true).map(|_| ())
}

#[cfg(any(test, feature = "testing"))]
pub mod software;
