//! The relying-party checks with real authenticator data from a software
//! authenticator: registration (none and packed self-attestation, ES256
//! and EdDSA), assertions, and one test per refusal.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

use tgw::webauthn::software::SoftAuthenticator;
use tgw::webauthn::{
    Assertion, RelyingParty, StoredCredential, UP, UV, WebAuthnError, approval_challenge,
    verify_assertion, verify_registration,
};

fn rp() -> RelyingParty {
    RelyingParty {
        id: "gateway.example.com".into(),
        origin: "https://gateway.example.com".into(),
    }
}

const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";

fn enrolled(authenticator: &SoftAuthenticator) -> StoredCredential {
    let (client_data, attestation) =
        authenticator.register(&rp().id, &rp().origin, CHALLENGE, false);
    let new = verify_registration(&rp(), CHALLENGE, &client_data, &attestation, true).unwrap();
    StoredCredential {
        id: new.id,
        public_key: new.public_key,
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
    }
}

#[test]
fn registration_with_none_and_packed_self_attestation_for_es256_and_eddsa() {
    for authenticator in [SoftAuthenticator::es256(1), SoftAuthenticator::ed25519(2)] {
        for packed in [false, true] {
            let (client_data, attestation) =
                authenticator.register(&rp().id, &rp().origin, CHALLENGE, packed);
            let new =
                verify_registration(&rp(), CHALLENGE, &client_data, &attestation, true).unwrap();
            assert_eq!(new.id, authenticator.credential_id);
            assert_eq!(new.public_key, authenticator.cose_public_key());
            assert!(new.user_verified);
        }
    }
}

#[test]
fn a_packed_attestation_signed_by_another_key_is_refused() {
    let authenticator = SoftAuthenticator::es256(1);
    let impostor = SoftAuthenticator::es256(9);
    let (client_data, _) = authenticator.register(&rp().id, &rp().origin, CHALLENGE, true);
    // The attestation object of `authenticator`, but signed by `impostor`.
    let auth_data = authenticator.authenticator_data(&rp().id, true);
    let mut signed = auth_data.clone();
    use sha2::Digest;
    signed.extend_from_slice(&sha2::Sha256::digest(&client_data));
    let object = ciborium::Value::Map(vec![
        (
            ciborium::Value::Text("fmt".into()),
            ciborium::Value::Text("packed".into()),
        ),
        (
            ciborium::Value::Text("attStmt".into()),
            ciborium::Value::Map(vec![
                (
                    ciborium::Value::Text("alg".into()),
                    ciborium::Value::from(-7),
                ),
                (
                    ciborium::Value::Text("sig".into()),
                    ciborium::Value::Bytes(impostor.sign(&signed)),
                ),
            ]),
        ),
        (
            ciborium::Value::Text("authData".into()),
            ciborium::Value::Bytes(auth_data),
        ),
    ]);
    let mut attestation = Vec::new();
    ciborium::ser::into_writer(&object, &mut attestation).unwrap();
    assert_eq!(
        verify_registration(&rp(), CHALLENGE, &client_data, &attestation, true),
        Err(WebAuthnError::BadSignature)
    );
}

#[test]
fn an_assertion_verifies_and_counts_up() {
    for mut authenticator in [SoftAuthenticator::es256(3), SoftAuthenticator::ed25519(4)] {
        let mut stored = enrolled(&authenticator);
        for _ in 0..3 {
            let assertion = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
            let verified = verify_assertion(&rp(), CHALLENGE, &assertion, &stored, true).unwrap();
            assert_eq!(verified.sign_count, stored.sign_count + 1);
            stored.sign_count = verified.sign_count;
        }
    }
}

fn refused(
    assertion: &Assertion,
    stored: &StoredCredential,
    challenge: &[u8],
    require_uv: bool,
) -> WebAuthnError {
    verify_assertion(&rp(), challenge, assertion, stored, require_uv).unwrap_err()
}

#[test]
fn the_wrong_origin_and_a_subdomain_origin_are_refused() {
    let mut authenticator = SoftAuthenticator::es256(5);
    let stored = enrolled(&authenticator);
    for origin in [
        "https://evil.example",
        "https://sub.gateway.example.com",
        "http://gateway.example.com",
        "https://gateway.example.com:8443",
    ] {
        let assertion = authenticator.assert(&rp().id, origin, CHALLENGE);
        assert_eq!(
            refused(&assertion, &stored, CHALLENGE, true),
            WebAuthnError::WrongOrigin(origin.into())
        );
    }
}

#[test]
fn a_wrong_rp_id_hash_is_refused() {
    let mut authenticator = SoftAuthenticator::es256(6);
    let stored = enrolled(&authenticator);
    let assertion = authenticator.assert("example.com", &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&assertion, &stored, CHALLENGE, true),
        WebAuthnError::WrongRpId
    );
}

#[test]
fn missing_user_presence_and_verification_are_refused() {
    let mut authenticator = SoftAuthenticator::es256(7);
    let stored = enrolled(&authenticator);
    authenticator.flags = UV;
    let no_presence = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&no_presence, &stored, CHALLENGE, false),
        WebAuthnError::UserNotPresent
    );
    authenticator.flags = UP;
    let no_verification = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&no_verification, &stored, CHALLENGE, true),
        WebAuthnError::UserNotVerified
    );
    // Sign-in without UV is allowed where the RP does not require it.
    assert!(verify_assertion(&rp(), CHALLENGE, &no_verification, &stored, false).is_ok());
}

#[test]
fn inconsistent_backup_flags_are_refused() {
    let mut authenticator = SoftAuthenticator::es256(8);
    let stored = enrolled(&authenticator);
    authenticator.flags = UP | UV | tgw::webauthn::BS;
    let assertion = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&assertion, &stored, CHALLENGE, true),
        WebAuthnError::BackupFlags
    );
    let mut synced = SoftAuthenticator::es256(10).backup_eligible();
    let stored = enrolled(&synced);
    synced.flags = UP | UV; // BE dropped: not the credential it was
    let assertion = synced.assert(&rp().id, &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&assertion, &stored, CHALLENGE, true),
        WebAuthnError::BackupFlags
    );
}

#[test]
fn a_lower_sign_count_is_refused_and_reported() {
    let mut authenticator = SoftAuthenticator::es256(11);
    let mut stored = enrolled(&authenticator);
    stored.sign_count = 10;
    authenticator.sign_count = 4;
    let assertion = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
    assert_eq!(
        refused(&assertion, &stored, CHALLENGE, true),
        WebAuthnError::SignCountRegressed { stored: 10, got: 5 }
    );
}

#[test]
fn the_challenge_of_approval_a_does_not_approve_b() {
    let mut authenticator = SoftAuthenticator::ed25519(12);
    let stored = enrolled(&authenticator);
    let hash = format!("sha256:{}", "1".repeat(64));
    let component = format!("sha256:{}", "2".repeat(64));
    let a = approval_challenge("approval-A", &hash, &component, b"nonce-a");
    let b = approval_challenge("approval-B", &hash, &component, b"nonce-b");
    let for_a = authenticator.assert(&rp().id, &rp().origin, &a);
    assert!(verify_assertion(&rp(), &a, &for_a, &stored, true).is_ok());
    assert_eq!(
        refused(&for_a, &stored, &b, true),
        WebAuthnError::ChallengeMismatch
    );
    // Any change to what was shown changes the challenge.
    assert_ne!(
        a,
        approval_challenge(
            "approval-A",
            &format!("sha256:{}", "3".repeat(64)),
            &component,
            b"nonce-a"
        )
    );
    assert_ne!(
        a,
        approval_challenge(
            "approval-A",
            &hash,
            &format!("sha256:{}", "4".repeat(64)),
            b"nonce-a"
        )
    );
}

#[test]
fn tampering_is_refused() {
    let mut authenticator = SoftAuthenticator::es256(13);
    let stored = enrolled(&authenticator);
    let mut assertion = authenticator.assert(&rp().id, &rp().origin, CHALLENGE);
    assertion.signature[10] ^= 1;
    assert_eq!(
        refused(&assertion, &stored, CHALLENGE, true),
        WebAuthnError::BadSignature
    );
    let other = SoftAuthenticator::es256(14);
    let forged = other.assert_with(
        &rp().id,
        SoftAuthenticator::client_data("webauthn.get", CHALLENGE, &rp().origin),
    );
    let forged = Assertion {
        credential_id: stored.id.clone(),
        ..forged
    };
    assert_eq!(
        refused(&forged, &stored, CHALLENGE, true),
        WebAuthnError::BadSignature
    );
    // A registration's client data cannot be used as an assertion.
    let create = authenticator.assert_with(
        &rp().id,
        SoftAuthenticator::client_data("webauthn.create", CHALLENGE, &rp().origin),
    );
    assert!(matches!(
        refused(&create, &stored, CHALLENGE, true),
        WebAuthnError::WrongType { .. }
    ));
    // Garbage is malformed, never a panic.
    for bytes in [vec![], vec![0u8; 36], vec![0xffu8; 200]] {
        let junk = Assertion {
            authenticator_data: bytes,
            ..assertion.clone()
        };
        assert!(verify_assertion(&rp(), CHALLENGE, &junk, &stored, true).is_err());
    }
    assert!(verify_registration(&rp(), CHALLENGE, b"{}", b"\xa0", true).is_err());
}
