//! Compiled components on disk, so a restart does not recompile.
//!
//! A file is named by the component's sha256 and by the engine's
//! compatibility hash (wasmtime version and settings), so a new wasmtime or
//! a changed config misses instead of loading something stale. Files are
//! written to a temporary name and renamed, so a crash never leaves half an
//! artifact behind.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_hash: String,
}

impl CompileCache {
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        crate::paths::create_private_dir(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            dir: dir.to_owned(),
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest_hex: &str) -> PathBuf {
        self.dir
            .join(format!("{digest_hex}-{}.cwasm", self.engine_hash))
    }

    /// A previously compiled component, if there is a usable one.
    #[expect(
        unsafe_code,
        reason = "wasmtime's deserialize is unsafe by contract: see the SAFETY note"
    )]
    pub fn get(&self, engine: &Engine, digest_hex: &str) -> Option<Component> {
        let path = self.path(digest_hex);
        if !path.exists() {
            return None;
        }
        // SAFETY: `deserialize_file` trusts the file to be wasmtime output.
        // These files live in the gateway's private data directory (mode
        // 0700) and are written only by `put` below from our own
        // compilation; anyone able to replace them could replace the
        // gateway binary too. wasmtime still checks the header and the
        // engine compatibility before use.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(
                    "ignoring unusable compile cache entry {}: {e:#}",
                    path.display()
                );
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    pub fn put(&self, digest_hex: &str, component: &Component) {
        if let Err(e) = self.try_put(digest_hex, component) {
            // A cache that cannot be written only costs a recompile.
            tracing::warn!(
                "cannot write the compile cache in {}: {e:#}",
                self.dir.display()
            );
        }
    }

    fn try_put(&self, digest_hex: &str, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.persist(self.path(digest_hex))?;
        Ok(())
    }
}
