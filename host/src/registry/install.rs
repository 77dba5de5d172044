//! Installing a skill from a registry, and updating it.
//!
//! Pulled bytes are staged in a hidden folder of the skills dir (which no
//! loader reads) and checked there exactly as the host will check them
//! ([`super::provenance::check`]): a signature by a publisher the trust
//! policy allows for the name, over these very bytes. Only then is the
//! digest pinned in `skills.lock` and the folder moved into place, so a
//! refused artifact leaves no file behind and changes nothing that serves.

use std::path::{Path, PathBuf};

use tgw_parse::names::Digest;

use super::oci::Fetched;
use super::provenance::{self, Lock, Locked, SIGNATURE_FILE, SkillTrust};
use super::{MANIFEST_FILE, Manifest, Skill};
use crate::runtime::ToolInfo;

/// A skill that passed the checks, staged and not yet in place.
pub struct Staged {
    pub skill: Skill,
    pub entry: Locked,
    staging: Staging,
}

/// The hidden folder a skill is staged in; removed unless it was moved
/// into place.
struct Staging(PathBuf);

impl Staging {
    /// A new hidden folder name in `skills_dir` for the skill `name`.
    fn new(skills_dir: &Path, name: &str) -> anyhow::Result<Staging> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Staging(
            skills_dir.join(format!(".staging-{name}-{}", hex::encode(random))),
        ))
    }
}

impl Staged {
    /// Moves the staged folder to `to` (where an update waits).
    pub fn move_to(self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.staging.0, to)
    }

    /// Stages the checked folder of `skill` again (an update that waited),
    /// to be put in place as `entry`.
    pub fn adopt(skills_dir: &Path, mut skill: Skill, entry: Locked) -> anyhow::Result<Staged> {
        let staging = Staging::new(skills_dir, skill.name())?;
        std::fs::rename(&skill.dir, &staging.0)?;
        skill.dir = staging.0.clone();
        Ok(Staged {
            skill,
            entry,
            staging,
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stages `fetched` in `skills_dir` and checks it against `trust`. Any
/// refusal names the reference and the reason.
pub fn stage(skills_dir: &Path, fetched: &Fetched, trust: &SkillTrust) -> anyhow::Result<Staged> {
    let what = &fetched.pinned;
    let (Some(manifest_bytes), Some(signature)) = (&fetched.manifest, &fetched.signature) else {
        anyhow::bail!(
            "{what} is not signed: the registry has no signature beside it (tag {}); \
             publish it with `tgw skill publish`",
            super::oci::attachment_tag(&fetched.digest)
        );
    };
    let text = std::str::from_utf8(manifest_bytes)
        .map_err(|_| anyhow::anyhow!("{what}: its skill.toml is not UTF-8"))?;
    let manifest = Manifest::parse(Path::new(MANIFEST_FILE), text)
        .map_err(|e| anyhow::anyhow!("{what}: its {e}"))?;
    let staging = Staging::new(skills_dir, &manifest.name)?;
    let write = |dir: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(MANIFEST_FILE), manifest_bytes)?;
        std::fs::write(dir.join(&manifest.component), &fetched.component)?;
        std::fs::write(dir.join(SIGNATURE_FILE), signature)?;
        Ok(())
    };
    write(&staging.0).map_err(|e| anyhow::anyhow!("staging {what}: {e}"))?;
    // The manifest parsed above is the one written: not read back.
    let skill = Skill {
        manifest,
        manifest_digest: Digest::of(manifest_bytes),
        manifest_text: text.into(),
        dir: staging.0.clone(),
    };
    skill
        .make_dirs()
        .map_err(|e| anyhow::anyhow!("staging {what}: {e}"))?;
    let entry = Locked {
        name: skill.name().to_owned(),
        version: skill.manifest.version.clone(),
        component: Digest::of(&fetched.component).to_string(),
        manifest: skill.manifest_digest.to_string(),
        publisher: tgw_proto::skill_signature::signer_of(signature).unwrap_or_default(),
        source: Some(fetched.reference.clone()),
        digest: Some(fetched.digest.clone()),
    };
    let staged = Staged {
        skill,
        entry,
        staging,
    };
    // The lock as it will be: the check then rests on the signature and
    // the trust policy alone.
    let would_be = Lock {
        skills: vec![staged.entry.clone()],
    };
    provenance::check(&staged.skill, &fetched.component, trust, &Ok(would_be))
        .map_err(|e| anyhow::anyhow!("{what} is refused: {e}"))?;
    Ok(staged)
}

/// Moves `staged` into `skills_dir/<name>` and pins it. The lock is
/// written first: until the folder is in place, whatever served keeps
/// serving.
pub fn put_in_place(skills_dir: &Path, staged: Staged) -> anyhow::Result<Locked> {
    let name = staged.entry.name.clone();
    let target = skills_dir.join(&name);
    let mut lock = Lock::read(skills_dir).map_err(anyhow::Error::msg)?;
    lock.pin(staged.entry.clone());
    lock.write(skills_dir)?;
    let old = skills_dir.join(format!(".old-{name}"));
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    // The data a tool wrote stays with the skill across versions (the
    // staged folders are empty).
    for dir in &staged.skill.manifest.capabilities.dirs {
        let kept = old.join(&dir.host);
        if dir.host.is_absolute() || !kept.is_dir() {
            continue;
        }
        let wanted = staged.staging.0.join(&dir.host);
        std::fs::remove_dir(&wanted)?;
        std::fs::rename(&kept, &wanted)?;
    }
    std::fs::rename(&staged.staging.0, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(staged.entry.clone())
}

/// What changes from the `installed` skill to its `update` (both
/// folders): their tools listed in their sandboxes, then [`diff`].
pub async fn changes(
    runtime: &crate::runtime::Runtime,
    secrets: &crate::secrets::SecretStore,
    installed: &Skill,
    update: &Skill,
) -> anyhow::Result<Vec<Change>> {
    let mut tools = Vec::new();
    for skill in [installed, update] {
        let component = runtime.load_file(&skill.component_path())?;
        let listed = super::tools_in_sandbox(runtime, skill, &component, secrets)
            .await
            .map_err(|e| anyhow::anyhow!("skill {} cannot be served: {e}", skill.name()))?;
        tools.push(listed);
    }
    Ok(diff(
        &installed.manifest,
        &tools[0],
        &update.manifest,
        &tools[1],
    ))
}

/// What the audit log says of an update put in place (`admin.action`
/// `skill-update`): what it pins, what widened, and whether an admin said
/// yes. `by` is added by whoever records it.
pub fn update_audited(entry: &Locked, changes: &[Change], yes: bool) -> serde_json::Value {
    let widened: Vec<&str> = changes
        .iter()
        .filter(|c| c.widens)
        .map(|c| c.what.as_str())
        .collect();
    serde_json::json!({"action": "skill-update", "skill": entry.name, "version": entry.version,
                       "source": entry.source, "digest": entry.digest, "publisher": entry.publisher,
                       "widens": widened, "yes": yes})
}

/// One difference between an installed skill and an update of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub what: String,
    /// It lets the skill do more, or ask less often: an admin must say yes.
    pub widens: bool,
}

fn change(widens: bool, what: String) -> Change {
    Change { what, widens }
}

/// What changes from `old` (with its tools, risks as they apply) to `new`.
pub fn diff(
    old: &Manifest,
    old_tools: &[ToolInfo],
    new: &Manifest,
    new_tools: &[ToolInfo],
) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.version != new.version {
        changes.push(change(
            false,
            format!("version {} → {}", old.version, new.version),
        ));
    }
    for tool in new_tools {
        match old_tools.iter().find(|t| t.name == tool.name) {
            None => changes.push(change(
                true,
                format!("+ tool {} ({})", tool.name, tool.risk),
            )),
            Some(was) => {
                if was.risk != tool.risk {
                    changes.push(change(
                        true,
                        format!("~ tool {}: risk {} → {}", tool.name, was.risk, tool.risk),
                    ));
                }
                if was.input_schema != tool.input_schema {
                    changes.push(change(
                        true,
                        format!(
                            "~ tool {}: input schema {} → {}",
                            tool.name, was.input_schema, tool.input_schema
                        ),
                    ));
                }
                if was.description != tool.description {
                    changes.push(change(
                        false,
                        format!(
                            "~ tool {}: description {:?} → {:?}",
                            tool.name, was.description, tool.description
                        ),
                    ));
                }
            }
        }
    }
    for tool in old_tools {
        if !new_tools.iter().any(|t| t.name == tool.name) {
            changes.push(change(false, format!("- tool {}", tool.name)));
        }
    }
    let hosts = |m: &Manifest| {
        m.http_targets()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let (was, now) = (hosts(old), hosts(new));
    for host in now.iter().filter(|h| !was.contains(h)) {
        changes.push(change(true, format!("+ HTTP host {host}")));
    }
    for host in was.iter().filter(|h| !now.contains(h)) {
        changes.push(change(false, format!("- HTTP host {host}")));
    }
    let dirs = |m: &Manifest| {
        m.capabilities
            .dirs
            .iter()
            .map(|d| {
                (
                    d.guest.get_ref().clone(),
                    d.access == super::DirAccess::ReadWrite,
                    d.host.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (was, now) = (dirs(old), dirs(new));
    for (guest, writable, host) in &now {
        let access = if *writable { "read-write" } else { "read" };
        match was.iter().find(|(g, _, _)| g == guest) {
            None => changes.push(change(
                true,
                format!("+ directory {guest} ({access}, {})", host.display()),
            )),
            Some((_, was_writable, was_host)) => {
                if writable != was_writable || host != was_host {
                    changes.push(change(
                        *writable && !was_writable || host != was_host,
                        format!("~ directory {guest}: now {access}, {}", host.display()),
                    ));
                }
            }
        }
    }
    for (guest, _, _) in &was {
        if !now.iter().any(|(g, _, _)| g == guest) {
            changes.push(change(false, format!("- directory {guest}")));
        }
    }
    let (a, b) = (&old.capabilities, &new.capabilities);
    for (what, was, now) in [
        ("fuel", a.fuel, b.fuel),
        ("memory MiB", a.memory_mib, b.memory_mib),
        ("timeout ms", a.timeout_ms, b.timeout_ms),
    ] {
        if was != now {
            changes.push(change(now > was, format!("~ {what} {was} → {now}")));
        }
    }
    let secrets = |m: &Manifest| {
        m.secrets
            .iter()
            .map(|s| {
                (
                    s.name.get_ref().clone(),
                    s.inject.host.get_ref().to_ascii_lowercase(),
                )
            })
            .collect::<Vec<_>>()
    };
    for (name, host) in secrets(new).iter().filter(|s| !secrets(old).contains(s)) {
        changes.push(change(true, format!("+ secret {name} for {host}")));
    }
    let audience = |m: &Manifest| {
        m.audience
            .groups
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let (was, now) = (audience(old), audience(new));
    if was != now {
        let wider = now.is_empty() && !was.is_empty() || now.iter().any(|g| !was.contains(g));
        let shown = |g: &[String]| {
            if g.is_empty() {
                "everyone".to_owned()
            } else {
                g.join(", ")
            }
        };
        changes.push(change(
            wider,
            format!("~ who may use it: {} → {}", shown(&was), shown(&now)),
        ));
    }
    if old.config != new.config {
        changes.push(change(false, "~ config".to_owned()));
    }
    changes
}
