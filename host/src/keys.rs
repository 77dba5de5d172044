//! The gateway's grant keys under `<data>/keys/`:
//!
//! - `signing.key` (mode 0600): the current Ed25519 seed, base64url;
//! - `trusted.json`: every public key executors accept, by key id.
//!
//! Rotation adds a new signing key and keeps the old public key trusted,
//! so grants already in flight still verify; `untrust` retires it later.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tgw_proto::grant::{GrantSigner, TrustedKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key in {0}: run `tgw keys init`")]
    NoSigningKey(PathBuf),
    #[error("a signing key already exists in {0}: use `tgw keys rotate` to replace it")]
    AlreadyExists(PathBuf),
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadKey(String),
}

/// One entry of `trusted.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyEntry {
    pub kid: String,
    /// Raw 32-byte Ed25519 public key, base64url.
    pub public_key: String,
}

pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn new(data_dir: &Path) -> Self {
        KeyStore {
            dir: data_dir.join("keys"),
        }
    }

    fn signing_path(&self) -> PathBuf {
        self.dir.join("signing.key")
    }

    fn trusted_path(&self) -> PathBuf {
        self.dir.join("trusted.json")
    }

    /// Creates the first signing key.
    pub fn init(&self) -> Result<GrantSigner, KeyError> {
        if self.signing_path().exists() {
            return Err(KeyError::AlreadyExists(self.dir.clone()));
        }
        self.new_signing_key()
    }

    /// Replaces the signing key; the old public key stays trusted.
    pub fn rotate(&self) -> Result<GrantSigner, KeyError> {
        self.signer()?;
        self.new_signing_key()
    }

    fn new_signing_key(&self) -> Result<GrantSigner, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::BadKey(format!("no randomness: {e}")))?;
        let signer = GrantSigner::from_seed(&seed);
        self.trust(signer.trusted_key())?;
        write_private(&self.dir, &self.signing_path(), B64.encode(seed).as_bytes())?;
        Ok(signer)
    }

    /// The current signing key.
    pub fn signer(&self) -> Result<GrantSigner, KeyError> {
        let path = self.signing_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::NoSigningKey(self.dir.clone()));
            }
            Err(source) => return Err(KeyError::Io { path, source }),
        };
        let seed = B64
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        let seed = seed.ok_or_else(|| KeyError::Corrupt {
            path,
            reason: "not a base64url Ed25519 seed".into(),
        })?;
        Ok(GrantSigner::from_seed(&seed))
    }

    pub fn trusted_entries(&self) -> Result<Vec<PublicKeyEntry>, KeyError> {
        let path = self.trusted_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    /// Every trusted public key, each checked against its key id.
    pub fn trusted(&self) -> Result<Vec<TrustedKey>, KeyError> {
        self.trusted_entries()?
            .iter()
            .map(|entry| parse_entry(entry).map_err(KeyError::BadKey))
            .collect()
    }

    pub fn trust(&self, key: TrustedKey) -> Result<(), KeyError> {
        let mut entries = self.trusted_entries()?;
        if !entries.iter().any(|e| e.kid == key.kid) {
            entries.push(PublicKeyEntry {
                kid: key.kid.clone(),
                public_key: B64.encode(key.key.as_bytes()),
            });
        }
        self.write_trusted(&entries)
    }

    /// Stops trusting `kid`; refuses to drop the current signing key.
    pub fn untrust(&self, kid: &str) -> Result<bool, KeyError> {
        if self.signer().is_ok_and(|s| s.kid() == kid) {
            return Err(KeyError::BadKey(format!(
                "{kid} is the current signing key: rotate first"
            )));
        }
        let mut entries = self.trusted_entries()?;
        let before = entries.len();
        entries.retain(|e| e.kid != kid);
        self.write_trusted(&entries)?;
        Ok(entries.len() != before)
    }

    #[expect(
        clippy::expect_used,
        reason = "a list of key ids and base64url keys always serialises"
    )]
    fn write_trusted(&self, entries: &[PublicKeyEntry]) -> Result<(), KeyError> {
        let json = serde_json::to_vec_pretty(entries).expect("entries serialise");
        write_private(&self.dir, &self.trusted_path(), &json)
    }
}

/// Checks a `trusted.json` entry: a valid key whose id matches.
pub fn parse_entry(entry: &PublicKeyEntry) -> Result<TrustedKey, String> {
    let bytes = B64
        .decode(&entry.public_key)
        .map_err(|_| format!("key {}: not base64url", entry.kid))?;
    let key = TrustedKey::from_bytes(&bytes).map_err(|e| format!("key {}: {e}", entry.kid))?;
    if key.kid != entry.kid {
        return Err(format!("key {}: its id should be {}", entry.kid, key.kid));
    }
    Ok(key)
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    crate::paths::create_private_dir(dir).map_err(io)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
