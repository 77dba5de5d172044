//! A software authenticator for tests: it makes real WebAuthn data (client
//! data, authenticator data, attestation objects, signatures) that the
//! relying-party checks can accept or refuse.

#![expect(
    clippy::expect_used,
    reason = "a software authenticator for tests: a failure to make test data stops the test"
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use coset::{CborSerializable, CoseKeyBuilder, iana};
use sha2::{Digest, Sha256};

use super::{AT, Assertion, BE, UP, UV};

pub enum SoftKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

pub struct SoftAuthenticator {
    pub key: SoftKey,
    pub credential_id: Vec<u8>,
    pub sign_count: u32,
    /// Flags it sets (UP|UV by default).
    pub flags: u8,
}

impl SoftAuthenticator {
    pub fn es256(seed: u8) -> Self {
        let key = p256::ecdsa::SigningKey::from_slice(&[seed.max(1); 32]).expect("a valid scalar");
        SoftAuthenticator {
            key: SoftKey::Es256(key),
            credential_id: vec![seed; 16],
            sign_count: 0,
            flags: UP | UV,
        }
    }

    pub fn ed25519(seed: u8) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        SoftAuthenticator {
            key: SoftKey::EdDsa(key),
            credential_id: vec![seed; 20],
            sign_count: 0,
            flags: UP | UV,
        }
    }

    pub fn backup_eligible(mut self) -> Self {
        self.flags |= BE;
        self
    }

    /// The credential public key as a COSE_Key.
    pub fn cose_public_key(&self) -> Vec<u8> {
        let key = match &self.key {
            SoftKey::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                CoseKeyBuilder::new_ec2_pub_key(
                    iana::EllipticCurve::P_256,
                    bytes[1..33].to_vec(),
                    bytes[33..65].to_vec(),
                )
                .algorithm(iana::Algorithm::ES256)
                .build()
            }
            SoftKey::EdDsa(key) => CoseKeyBuilder::new_okp_key()
                .param(
                    iana::OkpKeyParameter::Crv as i64,
                    ciborium::Value::from(iana::EllipticCurve::Ed25519 as i64),
                )
                .param(
                    iana::OkpKeyParameter::X as i64,
                    ciborium::Value::Bytes(key.verifying_key().to_bytes().to_vec()),
                )
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
        };
        key.to_vec().expect("a COSE key encodes")
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            SoftKey::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            SoftKey::EdDsa(key) => {
                use ed25519_dalek::Signer;
                key.sign(message).to_bytes().to_vec()
            }
        }
    }

    pub fn client_data(ty: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        serde_json::json!({"type": ty, "challenge": B64.encode(challenge), "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// Authenticator data for `rp_id`, with the credential when `attested`.
    pub fn authenticator_data(&self, rp_id: &str, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(if attested {
            self.flags | AT
        } else {
            self.flags
        });
        data.extend_from_slice(&self.sign_count.to_be_bytes());
        if attested {
            data.extend_from_slice(&[0u8; 16]);
            data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(&self.cose_public_key());
        }
        data
    }

    /// `navigator.credentials.create`: (clientDataJSON, attestationObject)
    /// with attestation `none` or `packed` (self).
    pub fn register(
        &self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
        packed: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let client_data = Self::client_data("webauthn.create", challenge, origin);
        let auth_data = self.authenticator_data(rp_id, true);
        let statement = if packed {
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&Sha256::digest(&client_data));
            let alg = match self.key {
                SoftKey::Es256(_) => iana::Algorithm::ES256 as i64,
                SoftKey::EdDsa(_) => iana::Algorithm::EdDSA as i64,
            };
            vec![
                (
                    ciborium::Value::Text("alg".into()),
                    ciborium::Value::from(alg),
                ),
                (
                    ciborium::Value::Text("sig".into()),
                    ciborium::Value::Bytes(self.sign(&signed)),
                ),
            ]
        } else {
            vec![]
        };
        let object = ciborium::Value::Map(vec![
            (
                ciborium::Value::Text("fmt".into()),
                ciborium::Value::Text(if packed { "packed" } else { "none" }.into()),
            ),
            (
                ciborium::Value::Text("attStmt".into()),
                ciborium::Value::Map(statement),
            ),
            (
                ciborium::Value::Text("authData".into()),
                ciborium::Value::Bytes(auth_data),
            ),
        ]);
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&object, &mut bytes).expect("CBOR encodes");
        (client_data, bytes)
    }

    /// `navigator.credentials.get`: counts up, then signs.
    pub fn assert(&mut self, rp_id: &str, origin: &str, challenge: &[u8]) -> Assertion {
        self.sign_count += 1;
        let client_data_json = Self::client_data("webauthn.get", challenge, origin);
        self.assert_with(rp_id, client_data_json)
    }

    /// Signs an assertion over any client data (for hostile cases).
    pub fn assert_with(&self, rp_id: &str, client_data_json: Vec<u8>) -> Assertion {
        let authenticator_data = self.authenticator_data(rp_id, false);
        let mut signed = authenticator_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        Assertion {
            credential_id: self.credential_id.clone(),
            signature: self.sign(&signed),
            authenticator_data,
            client_data_json,
        }
    }
}
