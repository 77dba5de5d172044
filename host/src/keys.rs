//! The keys of a gateway and its executors, under `<data>/keys/` (the
//! folder is mode 0700, every file 0600). None of them is ever written to
//! the bus's store.
//!
//! - `signing.key`: the gateway's current Ed25519 seed, base64url. It signs
//!   grants, the records that carry authority (people, approvals, OAuth
//!   state) and the gateway's audit chain.
//! - `trusted.json`: every gateway public key that is accepted, by key id.
//! - `oauth.key`: the seed of the OAuth access-token signing key.
//! - `executor.key`: this machine's executor identity; it signs receipts
//!   and the executor's audit chain. Made on an executor's first start.
//! - `executors.json`: the executor public keys the gateway accepts
//!   receipts from (`tgw executors trust`).
//! - `instance`: a random id naming this gateway's audit chain.
//!
//! Rotation adds a new signing key and keeps the old public key trusted,
//! so grants already in flight still verify; `untrust` retires it later.
//! Gateways that serve one deployment share `signing.key`, `trusted.json`
//! and `oauth.key`, by `tgw keys export` and `tgw keys import`.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tgw_proto::grant::{GrantSigner, TrustedKey};
use tgw_proto::jws::JwsSigner;

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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
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
        Ok(GrantSigner::from_seed(&self.signing_seed()?))
    }

    /// The current signing key's seed.
    pub fn signing_seed(&self) -> Result<[u8; 32], KeyError> {
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
        seed.ok_or_else(|| KeyError::Corrupt {
            path,
            reason: "not a base64url Ed25519 seed".into(),
        })
    }

    pub fn trusted_entries(&self) -> Result<Vec<PublicKeyEntry>, KeyError> {
        read_entries(self.trusted_path())
    }

    /// Every trusted public key, each checked against its key id.
    pub fn trusted(&self) -> Result<Vec<TrustedKey>, KeyError> {
        parse_entries(&self.trusted_entries()?)
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

    /// A seed kept in `name`, made (and written, mode 0600) if missing.
    fn seed_or_new(&self, name: &str) -> Result<([u8; 32], bool), KeyError> {
        let path = self.path(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let seed = B64
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| KeyError::Corrupt {
                        path,
                        reason: "not a base64url Ed25519 seed".into(),
                    })?;
                Ok((seed, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| KeyError::BadKey(format!("no randomness: {e}")))?;
                write_private(&self.dir, &path, B64.encode(seed).as_bytes())?;
                Ok((seed, true))
            }
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    /// The seed of the OAuth access-token key (made on first use).
    pub fn oauth_seed(&self) -> Result<[u8; 32], KeyError> {
        Ok(self.seed_or_new("oauth.key")?.0)
    }

    /// This machine's executor key's seed, and whether it was just made.
    pub fn executor_seed(&self) -> Result<([u8; 32], bool), KeyError> {
        self.seed_or_new("executor.key")
    }

    /// This machine's publisher key (skills it signs), and whether it was
    /// just made.
    pub fn publisher_seed(&self) -> Result<([u8; 32], bool), KeyError> {
        self.seed_or_new("publisher.key")
    }

    /// This machine's publisher key, if one was made.
    pub fn publisher_key(&self) -> Result<Option<JwsSigner>, KeyError> {
        if !self.path("publisher.key").exists() {
            return Ok(None);
        }
        Ok(Some(JwsSigner::from_seed(&self.publisher_seed()?.0)))
    }

    /// This machine's executor key.
    pub fn executor_key(&self) -> Result<JwsSigner, KeyError> {
        Ok(JwsSigner::from_seed(&self.executor_seed()?.0))
    }

    /// The id naming this gateway's audit chain (made on first use).
    pub fn instance(&self) -> Result<String, KeyError> {
        let path = self.path("instance");
        match std::fs::read_to_string(&path) {
            Ok(text) if crate::backend::is_chain_name(text.trim()) => Ok(text.trim().to_owned()),
            Ok(_) => Err(KeyError::Corrupt {
                path,
                reason: "not an instance id (letters, digits, - and _)".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = crate::ids::random_b64(9);
                write_private(&self.dir, &path, id.as_bytes())?;
                Ok(id)
            }
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    fn executors_path(&self) -> PathBuf {
        self.path("executors.json")
    }

    /// The executor keys whose receipts are accepted.
    pub fn trusted_executor_entries(&self) -> Result<Vec<PublicKeyEntry>, KeyError> {
        read_entries(self.executors_path())
    }

    pub fn trusted_executors(&self) -> Result<Vec<TrustedKey>, KeyError> {
        parse_entries(&self.trusted_executor_entries()?)
    }

    #[expect(
        clippy::expect_used,
        reason = "a list of key ids and base64url keys always serialises"
    )]
    fn write_executors(&self, entries: &[PublicKeyEntry]) -> Result<(), KeyError> {
        let json = serde_json::to_vec_pretty(entries).expect("entries serialise");
        write_private(&self.dir, &self.executors_path(), &json)
    }

    /// Accepts receipts signed by `key` from now on.
    pub fn trust_executor(&self, key: &TrustedKey) -> Result<bool, KeyError> {
        let mut entries = self.trusted_executor_entries()?;
        if entries.iter().any(|e| e.kid == key.kid) {
            return Ok(false);
        }
        entries.push(public_entry(key));
        self.write_executors(&entries)?;
        Ok(true)
    }

    pub fn untrust_executor(&self, kid: &str) -> Result<bool, KeyError> {
        let mut entries = self.trusted_executor_entries()?;
        let before = entries.len();
        entries.retain(|e| e.kid != kid);
        self.write_executors(&entries)?;
        Ok(entries.len() != before)
    }

    /// What gateways of one deployment share: the signing key, the trusted
    /// keys and the OAuth key, as one JSON document (secret: mode 0600).
    pub fn export(&self) -> Result<KeyBundle, KeyError> {
        let read = |name: &str| {
            let path = self.path(name);
            std::fs::read_to_string(&path)
                .map(|text| text.trim().to_owned())
                .map_err(|source| KeyError::Io { path, source })
        };
        Ok(KeyBundle {
            signing_key: read("signing.key")?,
            oauth_key: {
                self.oauth_seed()?;
                read("oauth.key")?
            },
            trusted: self.trusted_entries()?,
        })
    }

    /// Takes the keys of another gateway of the deployment. Refuses to
    /// replace a different signing key that is already here.
    pub fn import(&self, bundle: &KeyBundle) -> Result<(), KeyError> {
        for (name, seed) in [
            ("signing.key", &bundle.signing_key),
            ("oauth.key", &bundle.oauth_key),
        ] {
            let ok = B64.decode(seed).ok().is_some_and(|b| b.len() == 32);
            if !ok {
                return Err(KeyError::BadKey(format!(
                    "{name} in the bundle is not a seed"
                )));
            }
            let path = self.path(name);
            if let Ok(existing) = std::fs::read_to_string(&path)
                && existing.trim() != seed
            {
                return Err(KeyError::BadKey(format!(
                    "{} already holds another key: remove it first if it is to be replaced",
                    path.display()
                )));
            }
        }
        for entry in &bundle.trusted {
            parse_entry(entry).map_err(KeyError::BadKey)?;
        }
        write_private(
            &self.dir,
            &self.path("signing.key"),
            bundle.signing_key.as_bytes(),
        )?;
        write_private(
            &self.dir,
            &self.path("oauth.key"),
            bundle.oauth_key.as_bytes(),
        )?;
        for entry in &bundle.trusted {
            self.trust(parse_entry(entry).map_err(KeyError::BadKey)?)?;
        }
        Ok(())
    }
}

/// `tgw keys export`: the shared keys of a deployment's gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBundle {
    pub signing_key: String,
    pub oauth_key: String,
    pub trusted: Vec<PublicKeyEntry>,
}

/// The `trusted.json` / `executors.json` entry of `key`.
pub fn public_entry(key: &TrustedKey) -> PublicKeyEntry {
    PublicKeyEntry {
        kid: key.kid.clone(),
        public_key: B64.encode(key.key.as_bytes()),
    }
}

/// The entries of a `trusted.json` / `executors.json` (none if missing).
fn read_entries(path: PathBuf) -> Result<Vec<PublicKeyEntry>, KeyError> {
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

/// Every entry's key, each checked against its key id.
fn parse_entries(entries: &[PublicKeyEntry]) -> Result<Vec<TrustedKey>, KeyError> {
    entries
        .iter()
        .map(|entry| parse_entry(entry).map_err(KeyError::BadKey))
        .collect()
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
