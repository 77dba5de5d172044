//! Skills on disk: a folder with `skill.toml` and its component.

pub mod install;
mod manifest;
pub mod oci;
pub mod pending;
pub mod provenance;
pub mod served;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use manifest::{DirAccess, Manifest, ManifestError, is_secret_name};
pub use provenance::{Provenance, ProvenanceError, SkillTrust};

use crate::runtime::{Limits, OutboundPolicy, Preopen, SandboxSpec, SecretHeader};
use crate::secrets::SecretStore;

pub const MANIFEST_FILE: &str = "skill.toml";

#[derive(Debug)]
pub struct Skill {
    pub manifest: Manifest,
    /// `sha256:` of the `skill.toml` bytes that were parsed (what a
    /// publisher's signature covers).
    pub manifest_digest: tgw_parse::names::Digest,
    /// The `skill.toml` text itself (what a gateway hands its executors).
    pub manifest_text: std::sync::Arc<str>,
    /// The folder holding `skill.toml` (on an executor that runs what the
    /// gateway serves: the folder of the skill's data).
    pub dir: PathBuf,
}

impl Skill {
    /// Reads `<dir>/skill.toml`.
    pub fn load(dir: &Path) -> Result<Skill, ManifestError> {
        let file = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| ManifestError::whole(&file, format!("cannot read: {e}")))?;
        Skill::parse(dir, &text)
    }

    /// The skill whose `skill.toml` is `text`, in the folder `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<Skill, ManifestError> {
        let manifest = Manifest::parse(&dir.join(MANIFEST_FILE), text)?;
        Ok(Skill {
            manifest,
            manifest_digest: tgw_parse::names::Digest::of(text.as_bytes()),
            manifest_text: text.into(),
            dir: dir.to_owned(),
        })
    }

    /// Makes the folders the manifest declares (relative ones, empty), so
    /// its sandbox can be set up.
    pub fn make_dirs(&self) -> std::io::Result<()> {
        for declared in &self.manifest.capabilities.dirs {
            if !declared.host.is_absolute() {
                std::fs::create_dir_all(self.dir.join(&declared.host))?;
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn component_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.component)
    }

    /// The sandbox of this skill's calls, with its secrets from `secrets`.
    #[expect(
        clippy::expect_used,
        reason = "header names are checked when the manifest is parsed"
    )]
    pub fn sandbox(&self, secrets: &SecretStore) -> SandboxSpec {
        let caps = &self.manifest.capabilities;
        let dirs = caps
            .dirs
            .iter()
            .map(|d| Preopen {
                host: self.dir.join(&d.host),
                guest: d.guest.get_ref().clone(),
                writable: d.access == DirAccess::ReadWrite,
            })
            .collect();
        let secret_headers = self
            .manifest
            .secrets
            .iter()
            .map(|decl| SecretHeader {
                host: decl.inject.host.get_ref().to_ascii_lowercase(),
                header: http::HeaderName::from_bytes(decl.inject.header.as_bytes())
                    .expect("checked when the manifest was parsed"),
                value: secrets.header_value(self.name(), decl.name.get_ref(), &decl.inject.format),
            })
            .collect();
        SandboxSpec {
            dirs,
            outbound: OutboundPolicy {
                allow: self.manifest.http_targets().cloned().collect(),
                secrets: secret_headers,
            }
            .into(),
            config: self
                .manifest
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            limits: Limits {
                fuel: caps.fuel,
                memory_bytes: caps.memory_mib << 20,
                timeout: Duration::from_millis(caps.timeout_ms),
                ..Limits::default()
            },
        }
    }
}

/// Every skill folder under `skills_dir` (each subfolder with a
/// `skill.toml`, but hidden ones), and the manifests that could not be used. Names are
/// unique: of two folders with one name, the one `serving` names (the
/// folder serving it now) keeps it, else the first in order, and the
/// other is refused, naming both.
pub fn load_all(
    skills_dir: &Path,
    serving: &dyn Fn(&str) -> Option<PathBuf>,
) -> std::io::Result<(Vec<Skill>, Vec<ManifestError>)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(skills_dir)?
        .filter_map(|entry| Some(entry.ok()?.path()))
        // Hidden folders are an install's staging area, never a skill.
        .filter(|dir| {
            !dir.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        })
        .filter(|dir| dir.join(MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    let (mut skills, mut errors) = (Vec::new(), Vec::new());
    for dir in dirs {
        match Skill::load(&dir) {
            Ok(skill) => skills.push(skill),
            Err(e) => errors.push(e),
        }
    }
    let mut unique: Vec<Skill> = Vec::with_capacity(skills.len());
    for skill in skills {
        let Some(taken) = unique.iter().position(|s| s.name() == skill.name()) else {
            unique.push(skill);
            continue;
        };
        let serves = serving(skill.name()).as_deref() == Some(skill.dir.as_path());
        let refused = if serves {
            std::mem::replace(&mut unique[taken], skill)
        } else {
            skill
        };
        errors.push(name_taken(&refused, &unique[taken]));
    }
    Ok((unique, errors))
}

fn name_taken(refused: &Skill, keeper: &Skill) -> ManifestError {
    ManifestError::whole(
        &refused.dir.join(MANIFEST_FILE),
        format!(
            "the skill name {:?} is taken by the folder {}, which keeps serving it; this folder {} \
             is refused (rename the skill in one of them)",
            refused.name(),
            keeper.dir.display(),
            refused.dir.display()
        ),
    )
}

/// The skill named `name` under `skills_dir`.
pub fn find(skills_dir: &Path, name: &str) -> anyhow::Result<Skill> {
    let (skills, errors) = load_all(skills_dir, &|_| None).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the skills folder {}: {e}",
            skills_dir.display()
        )
    })?;
    if let Some(skill) = skills.into_iter().find(|s| s.name() == name) {
        return Ok(skill);
    }
    if let Some(error) = errors
        .iter()
        .find(|e| e.file.parent().and_then(|d| d.file_name()) == Some(name.as_ref()))
    {
        anyhow::bail!("skill {name} has a bad manifest: {error}");
    }
    anyhow::bail!("no skill named {name} in {}", skills_dir.display())
}

/// Why one skill folder was left out.
struct LeftOut {
    why: String,
    /// Its component is not believed (rather than broken).
    untrusted: bool,
}

impl LeftOut {
    fn broken(why: impl std::fmt::Display) -> Self {
        LeftOut {
            why: why.to_string(),
            untrusted: false,
        }
    }
}

/// Loads one folder: the component's bytes, checked as they will run
/// (nothing is read twice), compiled, its tools listed in its sandbox and
/// given the manifest's risks.
async fn load_one(
    runtime: &crate::runtime::Runtime,
    skill: Skill,
    secrets: &SecretStore,
    trust: &SkillTrust,
    lock: &Result<provenance::Lock, String>,
) -> Result<LoadedSkill, LeftOut> {
    let path = skill.component_path();
    let bytes = std::fs::read(&path)
        .map_err(|e| LeftOut::broken(format!("reading {}: {e}", path.display())))?;
    let provenance = provenance::check(&skill, &bytes, trust, lock).map_err(|e| LeftOut {
        why: e.to_string(),
        untrusted: true,
    })?;
    compile(runtime, skill, bytes, provenance, secrets)
        .await
        .map_err(LeftOut::broken)
}

/// Compiles `bytes`, the believed component of `skill`, and lists its
/// tools in its sandbox, with the manifest's risks.
async fn compile(
    runtime: &crate::runtime::Runtime,
    skill: Skill,
    bytes: Vec<u8>,
    provenance: Provenance,
    secrets: &SecretStore,
) -> Result<LoadedSkill, String> {
    let what = skill.component_path().display().to_string();
    let component = runtime
        .load_bytes(&what, &bytes)
        .map_err(|e| e.to_string())?;
    let tools = tools_in_sandbox(runtime, &skill, &component, secrets).await?;
    Ok(LoadedSkill {
        skill,
        provenance,
        component,
        component_bytes: bytes.into(),
        tools,
    })
}

/// The tools of `skill`'s compiled `component`, listed in its sandbox,
/// with the manifest's risks.
pub async fn tools_in_sandbox(
    runtime: &crate::runtime::Runtime,
    skill: &Skill,
    component: &crate::runtime::LoadedComponent,
    secrets: &SecretStore,
) -> Result<Vec<crate::runtime::ToolInfo>, String> {
    let tools = runtime
        .tools(component, &skill.sandbox(secrets))
        .await
        .result
        .map_err(|e| format!("listing its tools failed: {e}"))?;
    with_manifest_risks(&skill.manifest, tools).map_err(|e| e.to_string())
}

/// The component's tools with the risks of the manifest, which the
/// operator accepted: the component's own word can make a tool riskier
/// than the manifest says (then the skill is refused), never less.
pub fn with_manifest_risks(
    manifest: &Manifest,
    tools: Vec<crate::runtime::ToolInfo>,
) -> Result<Vec<crate::runtime::ToolInfo>, tgw_parse::manifest::ToolsMismatch> {
    if let Some(unknown) = manifest.unknown_tool(tools.iter().map(|t| t.name.as_str())) {
        return Err(unknown);
    }
    tools
        .into_iter()
        .map(|mut tool| {
            tool.risk = manifest.risk_of(&tool.name, tool.risk)?;
            Ok(tool)
        })
        .collect()
}

/// A skill ready to run: manifest, compiled component and its tools.
mod live;
pub use live::LiveSkills;

pub struct LoadedSkill {
    pub skill: Skill,
    /// Why this host believes its component.
    pub provenance: Provenance,
    pub component: std::sync::Arc<crate::runtime::LoadedComponent>,
    /// The bytes `component` was compiled from (what a gateway hands its
    /// executors).
    pub component_bytes: std::sync::Arc<[u8]>,
    pub tools: Vec<crate::runtime::ToolInfo>,
}

impl LoadedSkill {
    pub fn tool(&self, name: &str) -> Option<&crate::runtime::ToolInfo> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// The skills a gateway or executor serves, by name.
#[derive(Default)]
pub struct SkillSet {
    skills: std::collections::BTreeMap<String, std::sync::Arc<LoadedSkill>>,
    /// Why each folder that is not served was left out.
    refused: Vec<String>,
    /// Loaded in development mode (unsigned folders allowed).
    dev: bool,
}

impl SkillSet {
    /// Loads every skill under `skills_dir`: compiles its component and
    /// reads its tools in its sandbox. A skill that cannot be loaded is
    /// left out with an error in the log (and in [`SkillSet::refused`]),
    /// not served half-working.
    pub async fn load(
        runtime: &crate::runtime::Runtime,
        skills_dir: &Path,
        secrets: &SecretStore,
        trust: &SkillTrust,
    ) -> anyhow::Result<Self> {
        Self::load_after(runtime, skills_dir, secrets, trust, &SkillSet::default()).await
    }

    /// [`load`](Self::load) again, while `serving` serves: of two folders
    /// with one skill name, the one serving it keeps it.
    pub async fn load_after(
        runtime: &crate::runtime::Runtime,
        skills_dir: &Path,
        secrets: &SecretStore,
        trust: &SkillTrust,
        serving: &SkillSet,
    ) -> anyhow::Result<Self> {
        let folder = |name: &str| serving.get(name).map(|s| s.skill.dir.clone());
        let (skills, errors) = load_all(skills_dir, &folder).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the skills folder {}: {e}",
                skills_dir.display()
            )
        })?;
        let mut set = SkillSet {
            dev: trust.dev(),
            ..SkillSet::default()
        };
        for error in errors {
            tracing::error!(target: "tgw::registry", "skill left out: {error}");
            set.refused.push(error.to_string());
        }
        let lock = provenance::Lock::read(skills_dir);
        for skill in skills {
            let name = skill.name().to_owned();
            match load_one(runtime, skill, secrets, trust, &lock).await {
                Ok(loaded) => {
                    set.skills.insert(name, std::sync::Arc::new(loaded));
                }
                Err(left_out) => {
                    let mut why = format!("skill {name} left out: {}", left_out.why);
                    // What served before keeps serving, from memory: a
                    // refused update takes nothing away.
                    if left_out.untrusted
                        && let Some(old) = serving.get(&name)
                    {
                        why.push_str(&format!(
                            "; version {} ({}) keeps serving",
                            old.skill.manifest.version, old.component.digest
                        ));
                        set.skills.insert(name, old);
                    }
                    tracing::error!(target: "tgw::registry", "{why}");
                    set.refused.push(why);
                }
            }
        }
        Ok(set)
    }

    pub fn get(&self, name: &str) -> Option<std::sync::Arc<LoadedSkill>> {
        self.skills.get(name).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &std::sync::Arc<LoadedSkill>> {
        self.skills.values()
    }

    /// Why each skill folder that is not served was left out, in words.
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Whether unsigned folders were allowed (`--dev`).
    pub fn dev(&self) -> bool {
        self.dev
    }
}
