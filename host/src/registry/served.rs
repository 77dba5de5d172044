//! The skills a gateway serves, as executors on other machines learn
//! them: the record `skills.served` in the sealed people bucket names each
//! skill's version, component and manifest by digest, and why the gateway
//! believes it; the bytes are in the object store `TGW_SKILLS` under those
//! digests. An executor runs exactly this set: it needs no skills folder
//! of its own, and it believes nothing the gateway's key did not seal
//! (a forged record reads as absent; replaced bytes fail their digest).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tgw_parse::names::Digest;

use super::{LoadedSkill, Provenance, Skill, SkillSet};
use crate::backend::{Blobs, Bucket};
use crate::runtime::Runtime;
use crate::secrets::SecretStore;

/// The record's key in the people bucket.
pub const KEY: &str = "skills.served";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServedSet {
    pub skills: Vec<ServedSkill>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServedSkill {
    pub name: String,
    pub version: String,
    /// The component's bytes, in `TGW_SKILLS`.
    pub component: Digest,
    /// The `skill.toml` bytes, in `TGW_SKILLS`.
    pub manifest: Digest,
    /// Why the gateway believes it.
    pub provenance: Provenance,
}

impl ServedSet {
    pub fn of(set: &SkillSet) -> ServedSet {
        ServedSet {
            skills: set
                .iter()
                .map(|s| ServedSkill {
                    name: s.skill.name().to_owned(),
                    version: s.skill.manifest.version.clone(),
                    component: s.component.digest.clone(),
                    manifest: s.skill.manifest_digest.clone(),
                    provenance: s.provenance.clone(),
                })
                .collect(),
        }
    }
}

/// Stores every skill's bytes in `blobs`, then the record that names
/// them: an executor that reads the record finds the bytes.
pub async fn publish(set: &SkillSet, blobs: &Blobs, people: &dyn Bucket) -> anyhow::Result<()> {
    for skill in set.iter() {
        blobs.put(&skill.component_bytes).await?;
        blobs.put(skill.skill.manifest_text.as_bytes()).await?;
    }
    let record = serde_json::to_vec(&ServedSet::of(set))?;
    crate::backend::put(people, KEY, &record).await?;
    Ok(())
}

/// The record as the gateway sealed it; `None` when there is none, or it
/// failed its seal (the sealed bucket has told of that).
pub async fn read(people: &dyn Bucket) -> anyhow::Result<Option<ServedSet>> {
    let Some(entry) = people.get(KEY).await? else {
        return Ok(None);
    };
    let set = serde_json::from_slice(&entry.value)
        .map_err(|e| anyhow::anyhow!("the gateway's record {KEY} cannot be read: {e}"))?;
    Ok(Some(set))
}

/// Where an executor finds the skills the gateway serves.
pub struct FromGateway {
    pub people: Arc<dyn Bucket>,
    pub blobs: Blobs,
    /// The data folders of the skills, one per skill name.
    pub data_dir: std::path::PathBuf,
}

impl FromGateway {
    /// The skills `served` names, fetched by digest; a skill `serving`
    /// already runs with the same bytes is kept as it is. A skill whose
    /// bytes are missing, or not the ones named, is left out, saying why.
    pub async fn load(
        &self,
        served: &ServedSet,
        runtime: &Runtime,
        secrets: &SecretStore,
        serving: &SkillSet,
    ) -> SkillSet {
        let mut set = SkillSet::default();
        for wanted in &served.skills {
            let same = serving.get(&wanted.name).filter(|s| {
                s.component.digest == wanted.component && s.skill.manifest_digest == wanted.manifest
            });
            let loaded = match same {
                Some(loaded) => Ok(loaded),
                None => self.fetch(wanted, runtime, secrets).await.map(Arc::new),
            };
            match loaded {
                Ok(loaded) => {
                    set.skills.insert(wanted.name.clone(), loaded);
                }
                Err(why) => {
                    let why = format!("skill {} left out: {why}", wanted.name);
                    tracing::error!(target: "tgw::registry", "{why}");
                    set.refused.push(why);
                }
            }
        }
        set
    }

    /// The bytes of `digest`, the skill's `what`, checked.
    async fn blob(&self, digest: &Digest, what: &str) -> Result<Vec<u8>, String> {
        self.blobs
            .get(digest)
            .await
            .map_err(|e| format!("its {what} cannot be fetched: {e}"))
    }

    async fn fetch(
        &self,
        wanted: &ServedSkill,
        runtime: &Runtime,
        secrets: &SecretStore,
    ) -> Result<LoadedSkill, String> {
        // Sealed by the gateway, and still never a path of its own.
        tgw_parse::names::SkillName::new(&wanted.name).map_err(|e| e.to_string())?;
        let text = self.blob(&wanted.manifest, "skill.toml").await?;
        let text = String::from_utf8(text).map_err(|_| "its skill.toml is not UTF-8")?;
        let dir = self.data_dir.join(&wanted.name);
        let skill = Skill::parse(&dir, &text).map_err(|e| e.to_string())?;
        if skill.name() != wanted.name || skill.manifest.version != wanted.version {
            return Err(format!(
                "its skill.toml is {} {}, not what the record names",
                skill.name(),
                skill.manifest.version
            ));
        }
        skill
            .make_dirs()
            .map_err(|e| format!("its folders cannot be made in {}: {e}", dir.display()))?;
        let bytes = self.blob(&wanted.component, "component").await?;
        super::compile(runtime, skill, bytes, wanted.provenance.clone(), secrets).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::backend::{Objects, StoreError};

    /// Objects in memory: the store's contract is the backend's, tested
    /// on both backends in `host/tests/backend.rs`.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait]
    impl Objects for Memory {
        async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.to_owned(), bytes.to_vec());
            Ok(())
        }

        async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(name)
                .cloned())
        }
    }

    /// A people bucket with nothing in it (`fetch` reads none).
    struct NoRecords;

    #[async_trait]
    impl Bucket for NoRecords {
        async fn get(&self, _: &str) -> Result<Option<crate::backend::Entry>, StoreError> {
            Ok(None)
        }
        async fn create(&self, _: &str, _: &[u8]) -> Result<(), StoreError> {
            Err(StoreError::Conflict)
        }
        async fn update(&self, _: &str, _: &[u8], _: u64) -> Result<(), StoreError> {
            Err(StoreError::Conflict)
        }
        async fn keys(&self, _: &str) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn wanted(name: &str, manifest: &Digest) -> ServedSkill {
        ServedSkill {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            component: Digest::of(b"component"),
            manifest: manifest.clone(),
            provenance: Provenance::Dev,
        }
    }

    #[tokio::test]
    async fn a_record_naming_a_path_a_missing_blob_or_another_skill_is_refused() {
        let memory: Arc<dyn Objects> = Arc::new(Memory::default());
        let blobs = Blobs::new(memory);
        let text = "name = \"files\"\nversion = \"0.1.0\"\ncomponent = \"files.wasm\"\n";
        let manifest = blobs
            .put(text.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let gateway = FromGateway {
            people: Arc::new(NoRecords),
            blobs,
            data_dir: dir.path().to_owned(),
        };
        let runtime = Runtime::new(None).unwrap_or_else(|e| panic!("{e}"));
        let secrets = SecretStore::new(dir.path());
        for (served, refusal) in [
            (wanted("../escape", &manifest), "skill name"),
            (wanted("files", &Digest::of(b"absent")), "cannot be fetched"),
            (wanted("other", &manifest), "not what the record names"),
            (wanted("files", &manifest), "component cannot be fetched"),
        ] {
            let Err(why) = gateway.fetch(&served, &runtime, &secrets).await else {
                panic!("{} loaded", served.name)
            };
            assert!(why.contains(refusal), "{why}");
        }
        assert!(
            !dir.path().join("../escape").exists() && !dir.path().join("other").exists(),
            "nothing was made outside the skill's own folder"
        );
    }
}
