//! `tgw skill publish|sign|install|verify|update`: skills through an OCI
//! registry, signed by their publisher and pinned by the operator.

use std::path::Path;

use serde_json::json;

use tgw::keys::KeyStore;
use tgw::registry::install::{self, Change};
use tgw::registry::oci::{self, Registry};
use tgw::registry::pending;
use tgw::registry::provenance::{self, Lock};
use tgw::registry::{self, Skill, SkillTrust};
use tgw::runtime::Runtime;
use tgw::secrets::SecretStore;

use super::Context;

/// A skill folder as its publisher signs it: the skill (with the
/// `skill.toml` text it was parsed from, the bytes signed and pushed), its
/// component's bytes, and the publisher key.
struct ToSign {
    skill: Skill,
    component: Vec<u8>,
    publisher: tgw::jws::JwsSigner,
}

impl ToSign {
    fn read(context: &Context, dir: &Path) -> anyhow::Result<ToSign> {
        let skill = Skill::load(dir)?;
        let publisher = KeyStore::new(&context.data_dir)
            .publisher_key()?
            .ok_or_else(|| {
                anyhow::anyhow!("no publisher key yet: run `tgw publisher keys init` first")
            })?;
        let component = std::fs::read(skill.component_path()).map_err(|e| {
            anyhow::anyhow!(
                "reading {}: {e} (build it first: `cargo build` builds the skills of this checkout)",
                skill.component_path().display()
            )
        })?;
        Ok(ToSign {
            skill,
            component,
            publisher,
        })
    }

    /// The `skill.toml` bytes: the very text that was parsed and signed.
    fn manifest(&self) -> Vec<u8> {
        self.skill.manifest_text.as_bytes().to_vec()
    }

    fn signature(&self) -> (tgw::skill_signature::Statement, String) {
        let statement = provenance::statement_of(&self.skill, &self.component);
        let signature = tgw::skill_signature::sign(&self.publisher, &statement);
        (statement, signature)
    }
}

/// `tgw skill sign DIR REF`: signs a component that is in the registry
/// already (pushed with `wkg oci push`, say), if it is the folder's.
pub async fn sign(
    context: &Context,
    dir: &Path,
    reference: &str,
    plain_http: bool,
) -> anyhow::Result<()> {
    let reference = oci::parse_reference(reference)?;
    let folder = ToSign::read(context, dir)?;
    let registry = Registry::new(plain_http);
    let fetched = registry.fetch(&reference).await?;
    if fetched.component != folder.component {
        anyhow::bail!(
            "{reference} holds another component than {} (it is {}): only the bytes you built \
             are signed",
            folder.skill.component_path().display(),
            tgw::ids::Digest::of(&fetched.component)
        );
    }
    let (statement, signature) = folder.signature();
    registry
        .attach(&reference, folder.manifest(), signature)
        .await?;
    println!(
        "Signed {} {} at {reference} ({}) as publisher {}.",
        statement.name,
        statement.version,
        fetched.digest,
        folder.publisher.kid()
    );
    Ok(())
}

/// `tgw skill publish DIR REF`: signs the folder with this machine's
/// publisher key and pushes it.
pub async fn publish(
    context: &Context,
    dir: &Path,
    reference: &str,
    plain_http: bool,
) -> anyhow::Result<()> {
    let reference = oci::parse_reference(reference)?;
    let folder = ToSign::read(context, dir)?;
    let (statement, signature) = folder.signature();
    let manifest = folder.manifest();
    let ToSign {
        component,
        publisher,
        ..
    } = folder;
    let digest = Registry::new(plain_http)
        .publish(&reference, component, manifest, signature, publisher.kid())
        .await?;
    println!(
        "Published {} {} as {reference} ({digest}), signed by publisher {}.",
        statement.name,
        statement.version,
        publisher.kid()
    );
    Ok(())
}

/// `tgw skill install REF`: pulls, checks against `trust.toml`, pins and
/// puts the skill in the skills dir.
pub async fn install(context: &Context, reference: &str, plain_http: bool) -> anyhow::Result<()> {
    let reference = oci::parse_reference(reference)?;
    let trust = SkillTrust::load(&context.data_dir, false)?;
    std::fs::create_dir_all(&context.skills_dir)?;
    let fetched = Registry::new(plain_http).fetch(&reference).await?;
    let staged = install::stage(&context.skills_dir, &fetched, &trust)?;
    let name = staged.entry.name.clone();
    if context.skills_dir.join(&name).exists() {
        anyhow::bail!(
            "skill {name} is installed already, in {}: `tgw skill update {name}` shows what a new \
             version changes",
            context.skills_dir.join(&name).display()
        );
    }
    // The log must be writable before anything is put in place.
    let admin = super::users::Admin::open(context).await?;
    let entry = install::put_in_place(&context.skills_dir, staged)?;
    admin
        .record(json!({"action": "skill-install", "skill": entry.name, "version": entry.version,
                       "source": entry.source, "digest": entry.digest, "publisher": entry.publisher}))
        .await?;
    println!(
        "Installed {} {} from {} (publisher {}); pinned in {}.",
        entry.name,
        entry.version,
        entry.source.as_deref().unwrap_or_default(),
        entry.publisher,
        context.skills_dir.join(provenance::LOCK_FILE).display()
    );
    Ok(())
}

/// `tgw skill verify [NAME]`: the check the host makes, for each folder;
/// non-zero if any is refused.
pub fn verify(context: &Context, name: Option<&str>) -> anyhow::Result<()> {
    let trust = SkillTrust::load(&context.data_dir, context.dev)?;
    let lock = Lock::read(&context.skills_dir);
    let (skills, errors) = registry::load_all(&context.skills_dir, &|_| None)?;
    let mut refused = errors.len();
    for error in &errors {
        println!("bad manifest: {error}");
    }
    let mut seen = false;
    for skill in skills.iter().filter(|s| name.is_none_or(|n| s.name() == n)) {
        seen = true;
        let outcome = std::fs::read(skill.component_path())
            .map_err(|e| format!("reading {}: {e}", skill.component_path().display()))
            .and_then(|bytes| {
                provenance::check(skill, &bytes, &trust, &lock).map_err(|e| e.to_string())
            });
        match outcome {
            Ok(provenance) => println!(
                "{:<16} {:<8} ok: {provenance}",
                skill.name(),
                skill.manifest.version
            ),
            Err(why) => {
                refused += 1;
                println!(
                    "{:<16} {:<8} REFUSED: {why}",
                    skill.name(),
                    skill.manifest.version
                );
            }
        }
    }
    if let Some(name) = name
        && !seen
    {
        anyhow::bail!("no skill named {name} in {}", context.skills_dir.display());
    }
    if refused > 0 {
        anyhow::bail!("{refused} skill folder(s) would not load");
    }
    Ok(())
}

/// `tgw skill update NAME`: pulls the tag it was installed from, shows
/// what changes, and installs it when nothing widens or `yes` says so.
pub async fn update(
    context: &Context,
    name: &str,
    yes: bool,
    plain_http: bool,
) -> anyhow::Result<()> {
    let lock = Lock::read(&context.skills_dir).map_err(anyhow::Error::msg)?;
    let locked = lock.get(name).ok_or_else(|| {
        anyhow::anyhow!("skill {name} was not installed from a registry (it is not in skills.lock)")
    })?;
    let source = locked
        .source
        .clone()
        .ok_or_else(|| anyhow::anyhow!("skills.lock names no source for {name}"))?;
    let reference = oci::parse_reference(&source)?;
    let trust = SkillTrust::load(&context.data_dir, false)?;
    let fetched = Registry::new(plain_http).fetch(&reference).await?;
    if locked.digest.as_deref() == Some(fetched.digest.as_str()) {
        println!("{name} is up to date ({source}, {}).", fetched.digest);
        return Ok(());
    }
    let staged = install::stage(&context.skills_dir, &fetched, &trust)?;
    if staged.entry.name != name {
        anyhow::bail!("{reference} is the skill {}, not {name}", staged.entry.name);
    }
    let installed = Skill::load(&context.skills_dir.join(name))?;
    let runtime = Runtime::new(Some(&context.data_dir.join("cache").join("components")))?;
    let secrets = SecretStore::new(&context.data_dir);
    let changes = install::changes(&runtime, &secrets, &installed, &staged.skill).await?;
    println!(
        "{name}: {source} now is {} (installed: {})",
        fetched.digest,
        locked.digest.as_deref().unwrap_or("unknown")
    );
    for Change { what, widens } in &changes {
        println!("  {what}{}", if *widens { "   (widens)" } else { "" });
    }
    if changes.iter().any(|c| c.widens) && !yes {
        let pending = pending::park(&context.skills_dir, staged, changes)?;
        println!(
            "This update widens what {name} may do, so it waits for an admin's yes: accept {} on \
             the dashboard's Skills page, or run `tgw skill update {name} --yes`. Version {} keeps \
             serving until then.",
            pending.shown_digest(),
            installed.manifest.version
        );
        return Ok(());
    }
    let admin = super::users::Admin::open(context).await?;
    let entry = install::put_in_place(&context.skills_dir, staged)?;
    pending::drop_pending(&context.skills_dir, name)?;
    admin
        .record(install::update_audited(&entry, &changes, yes))
        .await?;
    println!(
        "Updated {name} to {} ({}).",
        entry.version,
        entry.source.as_deref().unwrap_or_default()
    );
    Ok(())
}
