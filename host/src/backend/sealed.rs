//! Sealed buckets: every value is signed by a gateway key when it is
//! written, and checked when it is read. Whoever can write to the bus's
//! store (anyone, on an open NATS server) can change bytes, but cannot make
//! a record this gateway will believe.
//!
//! A sealed value is a compact JWS (`typ` `tgw-record+jws`) over
//! `{"bucket", "key", "version", "value"}`: the bucket and key stop a
//! signed record from being moved to another place, and the version stops
//! an older signed record from being replayed over a newer one (to
//! re-enable a disabled person, say). Each reader keeps the highest version
//! it has seen of every key, and refuses anything lower.
//!
//! A value that fails (unsigned, signed by an unknown key, moved, older)
//! reads as absent, and the reader is told once per stored revision
//! ([`Tampered`]), so the audit log names it.
//!
//! This sits on the byte-level [`Bucket`] and is one itself: the domain
//! modules above (people, OAuth, approvals) read and write plain bytes and
//! never see a seal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tgw_proto::grant::TrustedKey;
use tgw_proto::jws::{self, JwsSigner, TokenType};

use super::{Bucket, BucketName, Entry, StoreError};

pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "tgw-record+jws",
    // An approval quotes arguments of up to 1 MiB; base64 and JSON grow it.
    max_bytes: 4 << 20,
};

/// Past this many keys, a reader forgets the versions it has seen and
/// starts again (a bound on memory; reached only after a million distinct
/// records in one process's life).
const MAX_REMEMBERED: usize = 1_000_000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    bucket: String,
    key: String,
    version: u64,
    /// The record's bytes, base64url.
    value: String,
}

/// A record that failed its check: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    pub bucket: &'static str,
    pub key: String,
    pub reason: String,
}

/// Told of each tampered record (once per stored revision).
pub type OnTampered = Arc<dyn Fn(Tampered) + Send + Sync>;

/// The keys a deployment seals with: the gateway's signing key (absent on
/// an executor, which only reads) and every gateway key it trusts.
#[derive(Clone)]
pub struct Sealer {
    pub signer: Option<Arc<JwsSigner>>,
    pub trusted: Arc<Vec<TrustedKey>>,
    pub on_tampered: OnTampered,
}

impl Sealer {
    /// A sealer that only reads, and tells nobody of tampering.
    pub fn reader(trusted: Vec<TrustedKey>) -> Self {
        Sealer {
            signer: None,
            trusted: Arc::new(trusted),
            on_tampered: Arc::new(|_| {}),
        }
    }
}

/// The highest version of a key seen, and a revision it was stored
/// after: a store's revisions of a key only rise, so a lower version at a
/// revision above `after` was written later (a replay), while one at or
/// below it is only a read that raced a write.
#[derive(Debug, Clone, Copy)]
struct Highest {
    version: u64,
    after: u64,
}

#[derive(Default)]
struct Seen {
    /// The highest version read or written, by key.
    versions: HashMap<String, Highest>,
    /// The revision last reported as tampered, by key.
    reported: HashMap<String, u64>,
}

/// A [`Bucket`] whose values are sealed.
pub struct SealedBucket {
    inner: Arc<dyn Bucket>,
    bucket: BucketName,
    sealer: Sealer,
    seen: Mutex<Seen>,
}

impl SealedBucket {
    pub fn new(inner: Arc<dyn Bucket>, bucket: BucketName, sealer: Sealer) -> Self {
        SealedBucket {
            inner,
            bucket,
            sealer,
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn signer(&self) -> Result<&JwsSigner, StoreError> {
        self.sealer.signer.as_deref().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "this process holds no gateway key, so it may not write to {}",
                self.bucket.name()
            ))
        })
    }

    fn seal(&self, key: &str, version: u64, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let sealed = Sealed {
            bucket: self.bucket.name().to_owned(),
            key: key.to_owned(),
            version,
            value: B64.encode(value),
        };
        Ok(self.signer()?.sign(&TOKEN_TYPE, &sealed).into_bytes())
    }

    /// Checks a stored value (at `revision`): signed by a trusted key, for
    /// this bucket and key, not older than what was seen. Returns the
    /// record and version.
    fn open(&self, key: &str, stored: &[u8], revision: u64) -> Result<(Vec<u8>, u64), String> {
        let token = std::str::from_utf8(stored).map_err(|_| "it is not a sealed record")?;
        let trusted = &self.sealer.trusted;
        let payload = jws::verify(token, &TOKEN_TYPE, |kid| {
            trusted.iter().find(|k| k.kid == kid).map(|k| &k.key)
        })
        .map_err(|e| format!("its seal is refused: {e}"))?;
        let sealed: Sealed =
            serde_json::from_slice(&payload).map_err(|e| format!("its seal is unreadable: {e}"))?;
        if sealed.bucket != self.bucket.name() || sealed.key != key {
            return Err(format!(
                "it was sealed for {}/{}, not here",
                sealed.bucket, sealed.key
            ));
        }
        let value = B64
            .decode(&sealed.value)
            .map_err(|_| "its value is not base64url".to_owned())?;
        let mut seen = self.seen();
        match seen.versions.get(key).copied() {
            Some(highest) if sealed.version < highest.version && revision > highest.after => {
                return Err(format!(
                    "it is version {} but version {} was already seen (an old record replayed)",
                    sealed.version, highest.version
                ));
            }
            Some(highest) if sealed.version < highest.version => {}
            _ => remember(
                &mut seen.versions,
                key,
                Highest {
                    version: sealed.version,
                    after: revision.saturating_sub(1),
                },
            ),
        }
        Ok((value, sealed.version))
    }

    fn report(&self, key: &str, revision: u64, reason: String) {
        {
            let mut seen = self.seen();
            if seen.reported.get(key) == Some(&revision) {
                return;
            }
            remember(&mut seen.reported, key, revision);
        }
        (self.sealer.on_tampered)(Tampered {
            bucket: self.bucket.name(),
            key: key.to_owned(),
            reason,
        });
    }

    /// The version the next write of `key` gets: one above the highest
    /// seen (read, if this process has not seen the key yet).
    async fn next_version(&self, key: &str) -> Result<u64, StoreError> {
        if let Some(highest) = self.seen().versions.get(key) {
            return Ok(highest.version + 1);
        }
        let current = self.inner.get(key).await?;
        let version = current
            .and_then(|entry| self.open(key, &entry.value, entry.revision).ok())
            .map_or(0, |(_, version)| version);
        Ok(version + 1)
    }

    /// The start-up upkeep, in one pass over the bucket. A value sealed by
    /// another trusted key (after `tgw keys rotate`) is sealed again with
    /// the current key, so the old key can be untrusted without losing
    /// records. With `unsealed_too`, a value that is not sealed is sealed:
    /// only for a store nobody else can write (the embedded one, in the
    /// data dir), where an unsigned value is one an older version of tgw
    /// wrote, not a forgery. Returns how many values it wrote.
    pub async fn upkeep(&self, unsealed_too: bool) -> Result<usize, StoreError> {
        let current = self.signer()?.kid().to_owned();
        let mut written = 0;
        for key in self.inner.keys("").await? {
            let Some(entry) = self.inner.get(&key).await? else {
                continue;
            };
            let (value, version) = match self.open(&key, &entry.value, entry.revision) {
                Ok(_) if kid_of(&entry.value).is_some_and(|kid| kid == current) => continue,
                Ok((value, version)) => (value, version + 1),
                Err(_) if unsealed_too => (entry.value, 1),
                Err(_) => continue,
            };
            let bytes = self.seal(&key, version, &value)?;
            match self.inner.update(&key, &bytes, entry.revision).await {
                Ok(()) => {
                    let highest = Highest {
                        version,
                        after: entry.revision,
                    };
                    remember(&mut self.seen().versions, &key, highest);
                    written += 1;
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }
}

/// The `kid` in a sealed value's header, unchecked.
fn kid_of(stored: &[u8]) -> Option<String> {
    let header = stored.split(|b| *b == b'.').next()?;
    let header = B64.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

fn remember<T>(map: &mut HashMap<String, T>, key: &str, value: T) {
    if map.len() >= MAX_REMEMBERED && !map.contains_key(key) {
        map.clear();
    }
    map.insert(key.to_owned(), value);
}

#[async_trait]
impl Bucket for SealedBucket {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let Some(entry) = self.inner.get(key).await? else {
            return Ok(None);
        };
        match self.open(key, &entry.value, entry.revision) {
            Ok((value, _)) => Ok(Some(Entry {
                value,
                revision: entry.revision,
            })),
            Err(reason) => {
                self.report(key, entry.revision, reason);
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let bytes = self.seal(key, 1, value)?;
        self.inner.create(key, &bytes).await?;
        let highest = Highest {
            version: 1,
            after: 0,
        };
        remember(&mut self.seen().versions, key, highest);
        Ok(())
    }

    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError> {
        let version = self.next_version(key).await?;
        let bytes = self.seal(key, version, value)?;
        self.inner.update(key, &bytes, revision).await?;
        let highest = Highest {
            version,
            after: revision,
        };
        remember(&mut self.seen().versions, key, highest);
        Ok(())
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.keys(prefix).await
    }

    async fn stored_revision(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stored_revision(key).await
    }
}
