//! `TGW_SKILLS`: the JetStream object store that carries skill components
//! and manifests from the gateway to executors on other machines, each
//! under its digest ([`crate::backend::Blobs`] checks every read).
//!
//! Its stream `OBJ_TGW_SKILLS` is made here rather than by async-nats'
//! `create_object_store`, which sends fields nats-server 2.9 does not know
//! and cannot deny deletes. Purging cannot be denied on the stream (the
//! server refuses roll-ups then, and an object's metadata is a roll-up);
//! `tgw nats config` denies the purge API to every user instead.

use async_nats::jetstream::{self, object_store, stream};
use async_trait::async_trait;
use tokio::io::AsyncReadExt as _;

use super::{Opener, streams, unavailable};
use crate::backend::{Objects, StoreError};

/// The object store's name.
pub const SKILLS: &str = "TGW_SKILLS";

/// Past this size an object is refused, on write and on read: no skill
/// component is near it, and a reader allocates no more.
pub const MAX_OBJECT_BYTES: usize = 64 << 20;

/// The stream behind the object store, with the settings an object store
/// has.
pub fn config() -> stream::Config {
    stream::Config {
        name: format!("OBJ_{SKILLS}"),
        subjects: vec![format!("$O.{SKILLS}.C.>"), format!("$O.{SKILLS}.M.>")],
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        deny_delete: true,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

pub struct NatsObjects {
    store: object_store::ObjectStore,
}

impl NatsObjects {
    /// Opens `TGW_SKILLS` (a gateway creates it).
    pub async fn open(js: &jetstream::Context, opener: &Opener) -> anyhow::Result<Self> {
        streams::open(js, config(), opener).await?;
        let store = js
            .get_object_store(SKILLS)
            .await
            .map_err(|e| anyhow::anyhow!("opening the {SKILLS} object store: {e}"))?;
        Ok(NatsObjects { store })
    }
}

#[async_trait]
impl Objects for NatsObjects {
    async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.len() > MAX_OBJECT_BYTES {
            return Err(StoreError::Unavailable(format!(
                "{name} is {} bytes, past the {MAX_OBJECT_BYTES} an object may hold",
                bytes.len()
            )));
        }
        match self.store.put(name, &mut &bytes[..]).await {
            Ok(_) => Ok(()),
            // The new object is in place; the chunks of the one it
            // replaced stay, as nobody may purge.
            Err(e) if e.kind() == object_store::PutErrorKind::PurgeOldChunks => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut object = match self.store.get(name).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        if object.info().size > MAX_OBJECT_BYTES {
            return Err(StoreError::Unavailable(format!(
                "{name} is {} bytes, past the {MAX_OBJECT_BYTES} an object may hold",
                object.info().size
            )));
        }
        let mut bytes = Vec::with_capacity(object.info().size);
        (&mut object)
            .take(MAX_OBJECT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(unavailable)?;
        if bytes.len() > MAX_OBJECT_BYTES {
            return Err(StoreError::Unavailable(format!(
                "{name} holds more than the {MAX_OBJECT_BYTES} bytes an object may"
            )));
        }
        Ok(Some(bytes))
    }
}
