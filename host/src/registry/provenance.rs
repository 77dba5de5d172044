//! Whether this host believes a skill folder's component, and why.
//!
//! A component is served only if one of these holds:
//!
//! - **Signed:** `skill.sig` in the folder is a publisher's signature
//!   ([`tgw_proto::skill_signature`]) over exactly these component bytes
//!   and this `skill.toml`, by a key the operator's trust policy
//!   (`<data dir>/trust.toml`) allows for this skill name, and
//!   `<skills dir>/skills.lock` pins the same digests and publisher.
//! - **A local build:** its digest is one that `host/build.rs` built from
//!   this checkout and embedded in the `tgw` binary
//!   ([`crate::guests::LOCAL_BUILDS`]), so `cargo run -p tgw -- up` serves
//!   the repository's own skills and a foreign `.wasm` dropped into a
//!   folder still does not load.
//! - **Development mode:** `tgw up --dev` loads unsigned folders, and says
//!   so on the dashboard. It is never the default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tgw_parse::names::Digest;
use tgw_proto::grant::TrustedKey;
use tgw_proto::skill_signature::{self, SignatureError};

use super::Skill;

/// The operator's trust policy, in the data dir.
pub const TRUST_FILE: &str = "trust.toml";
/// The pinned digests of installed skills, in the skills dir.
pub const LOCK_FILE: &str = "skills.lock";
/// A publisher's signature, in a skill's folder.
pub const SIGNATURE_FILE: &str = "skill.sig";

/// `trust.toml`: which publisher keys may publish which skill names.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    #[serde(default, rename = "publisher")]
    pub publishers: Vec<TrustedPublisher>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedPublisher {
    /// The key id, derived from the key (`tgw publisher keys list`).
    pub kid: String,
    /// The base64url Ed25519 public key.
    pub public_key: String,
    /// Globs of the skill names it may publish (`acme-*`, `files`).
    pub skills: Vec<String>,
}

/// `skills.lock`: what `tgw skill install` pinned.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default, rename = "skill")]
    pub skills: Vec<Locked>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// `sha256:` of the component bytes.
    pub component: String,
    /// `sha256:` of the `skill.toml` bytes.
    pub manifest: String,
    /// The key id of the publisher that signed it.
    pub publisher: String,
    /// The reference it was installed from, as given (`host/repo:tag`):
    /// what `tgw skill update` follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The digest of the OCI manifest that was pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Lock {
    /// The lock of `skills_dir`; none yet is an empty lock, one that does
    /// not parse is an error (nothing signed loads then).
    pub fn read(skills_dir: &Path) -> Result<Lock, String> {
        read_toml(&skills_dir.join(LOCK_FILE))
    }

    pub fn write(&self, skills_dir: &Path) -> std::io::Result<()> {
        let text = format!(
            "# Written by `tgw skill install`: the pinned digests of installed skills.\n{}",
            toml::to_string(self).map_err(std::io::Error::other)?
        );
        std::fs::write(skills_dir.join(LOCK_FILE), text)
    }

    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.skills.iter().find(|s| s.name == name)
    }

    /// Pins `entry`, replacing the entry of the same name.
    pub fn pin(&mut self, entry: Locked) {
        self.skills.retain(|s| s.name != entry.name);
        self.skills.push(entry);
        self.skills.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

fn read_toml<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl TrustPolicy {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(TRUST_FILE)
    }

    /// The policy of `data_dir`; none yet trusts no publisher.
    pub fn read(data_dir: &Path) -> Result<TrustPolicy, String> {
        read_toml(&Self::path(data_dir))
    }

    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let text = format!(
            "# Which publisher keys may publish which skill names (`tgw publisher trust`).\n{}",
            toml::to_string(self).map_err(std::io::Error::other)?
        );
        std::fs::write(Self::path(data_dir), text)
    }

    /// Adds `skills` to what `key` may publish.
    pub fn allow(&mut self, key: &TrustedKey, skills: &[String]) {
        let entry = crate::keys::public_entry(key);
        match self.publishers.iter_mut().find(|p| p.kid == entry.kid) {
            Some(publisher) => {
                for glob in skills {
                    if !publisher.skills.contains(glob) {
                        publisher.skills.push(glob.clone());
                    }
                }
            }
            None => self.publishers.push(TrustedPublisher {
                kid: entry.kid,
                public_key: entry.public_key,
                skills: skills.to_vec(),
            }),
        }
    }
}

/// What a host believes of skill folders: the trust policy, parsed, and
/// whether unsigned folders load (development mode).
#[derive(Debug, Clone, Default)]
pub struct SkillTrust {
    publishers: Vec<(TrustedKey, Vec<wildmatch::WildMatch>)>,
    dev: bool,
}

impl SkillTrust {
    /// The trust policy of `data_dir`. One that does not parse, or names a
    /// key that is not one, is an error: the host does not start on a
    /// policy it cannot read.
    pub fn load(data_dir: &Path, dev: bool) -> anyhow::Result<SkillTrust> {
        let policy = TrustPolicy::read(data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut trust = SkillTrust::from_policy(&policy)
            .map_err(|e| anyhow::anyhow!("{}: {e}", TrustPolicy::path(data_dir).display()))?;
        trust.dev = dev;
        Ok(trust)
    }

    pub fn from_policy(policy: &TrustPolicy) -> Result<SkillTrust, String> {
        let mut publishers = Vec::new();
        for entry in &policy.publishers {
            let key = crate::keys::parse_entry(&crate::keys::PublicKeyEntry {
                kid: entry.kid.clone(),
                public_key: entry.public_key.clone(),
            })?;
            let globs = entry
                .skills
                .iter()
                .map(|g| wildmatch::WildMatch::new(g))
                .collect();
            publishers.push((key, globs));
        }
        Ok(SkillTrust {
            publishers,
            dev: false,
        })
    }

    /// Only the local builds of this binary (what the tests use).
    pub fn local_builds() -> SkillTrust {
        SkillTrust::default()
    }

    /// Development mode: unsigned folders load too.
    #[must_use]
    pub fn with_dev(mut self, dev: bool) -> SkillTrust {
        self.dev = dev;
        self
    }

    pub fn dev(&self) -> bool {
        self.dev
    }

    fn keys(&self) -> Vec<TrustedKey> {
        self.publishers.iter().map(|(k, _)| k.clone()).collect()
    }

    fn allows(&self, kid: &str, name: &str) -> bool {
        self.publishers
            .iter()
            .any(|(key, globs)| key.kid == kid && globs.iter().any(|g| g.matches(name)))
    }
}

/// Why the host believes a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Provenance {
    /// Signed by `publisher` (a key id) and pinned in the lock.
    Signed { publisher: String },
    /// Built from this checkout (the guest crate `package`).
    LocalBuild { package: String },
    /// Unsigned, loaded because the host runs with `--dev`.
    Dev,
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Signed { publisher } => write!(f, "signed by publisher {publisher}"),
            Provenance::LocalBuild { package } => write!(f, "local build of {package}"),
            Provenance::Dev => f.write_str("unsigned (development mode)"),
        }
    }
}

/// Why a component is not believed; the skill is left out, with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    #[error(
        "the component is not signed ({SIGNATURE_FILE} is missing) and is not a build of this \
         checkout: install it with `tgw skill install`, or run `tgw up --dev` to load unsigned \
         folders"
    )]
    Unsigned,
    #[error("{SIGNATURE_FILE}: {0}")]
    BadSignature(String),
    #[error("{SIGNATURE_FILE} is signed by publisher {kid}, whom {TRUST_FILE} does not trust")]
    UnknownPublisher { kid: String },
    #[error("publisher {kid} may not publish {name}: no glob of its in {TRUST_FILE} matches")]
    NotAllowed { kid: String, name: String },
    #[error("{SIGNATURE_FILE} vouches for another {what} than the folder holds")]
    SignedOther { what: &'static str },
    #[error("it is signed but not pinned in {LOCK_FILE}: install it with `tgw skill install`")]
    NotLocked,
    #[error("its {what} is {found}, but {LOCK_FILE} pins {locked}")]
    LockMismatch {
        what: &'static str,
        locked: String,
        found: String,
    },
    #[error("{LOCK_FILE} cannot be read: {0}")]
    LockUnreadable(String),
}

/// What a publisher signs for `skill`, whose component is `component`.
pub fn statement_of(skill: &Skill, component: &[u8]) -> skill_signature::Statement {
    skill_signature::Statement {
        name: skill.name().to_owned(),
        version: skill.manifest.version.clone(),
        component: Digest::of(component).to_string(),
        manifest: skill.manifest_digest.to_string(),
    }
}

/// Signs the skill folder `skill` with `publisher`: writes `skill.sig`
/// beside its `skill.toml`, and returns what it signed.
pub fn sign_folder(
    skill: &Skill,
    publisher: &tgw_proto::jws::JwsSigner,
) -> std::io::Result<skill_signature::Statement> {
    let component = std::fs::read(skill.component_path())?;
    let statement = statement_of(skill, &component);
    std::fs::write(
        skill.dir.join(SIGNATURE_FILE),
        skill_signature::sign(publisher, &statement),
    )?;
    Ok(statement)
}

/// Decides whether `skill`, whose component is `component` (the bytes
/// that will run), may be served.
pub fn check(
    skill: &Skill,
    component: &[u8],
    trust: &SkillTrust,
    lock: &Result<Lock, String>,
) -> Result<Provenance, ProvenanceError> {
    let digest = Digest::of(component);
    let signature = match std::fs::read_to_string(skill.dir.join(SIGNATURE_FILE)) {
        Ok(token) => Some(token),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ProvenanceError::BadSignature(e.to_string())),
    };
    let lock = lock
        .as_ref()
        .map_err(|e| ProvenanceError::LockUnreadable(e.clone()))?;
    let locked = lock.get(skill.name());
    let Some(token) = signature else {
        if let Some(locked) = locked {
            return Err(ProvenanceError::LockMismatch {
                what: "signature",
                locked: format!("a component signed by {}", locked.publisher),
                found: format!("no {SIGNATURE_FILE}"),
            });
        }
        if let Some((package, _)) = crate::guests::LOCAL_BUILDS
            .iter()
            .find(|(_, built)| *built == digest.as_str())
        {
            return Ok(Provenance::LocalBuild {
                package: (*package).to_owned(),
            });
        }
        return if trust.dev {
            Ok(Provenance::Dev)
        } else {
            Err(ProvenanceError::Unsigned)
        };
    };
    let (statement, kid) = skill_signature::verify(&token, &trust.keys()).map_err(|e| match e {
        SignatureError::Signature(tgw_proto::jws::JwsError::UnknownKey(kid)) => {
            ProvenanceError::UnknownPublisher { kid }
        }
        other => ProvenanceError::BadSignature(other.to_string()),
    })?;
    if !trust.allows(&kid, skill.name()) {
        return Err(ProvenanceError::NotAllowed {
            kid,
            name: skill.name().to_owned(),
        });
    }
    if statement.name != skill.name() {
        return Err(ProvenanceError::SignedOther { what: "skill name" });
    }
    if statement.version != skill.manifest.version {
        return Err(ProvenanceError::SignedOther { what: "version" });
    }
    if statement.component != digest.as_str() {
        return Err(ProvenanceError::SignedOther { what: "component" });
    }
    if statement.manifest != skill.manifest_digest.as_str() {
        return Err(ProvenanceError::SignedOther { what: "skill.toml" });
    }
    let locked = locked.ok_or(ProvenanceError::NotLocked)?;
    for (what, pinned, found) in [
        ("component", &locked.component, digest.as_str()),
        (
            "skill.toml",
            &locked.manifest,
            skill.manifest_digest.as_str(),
        ),
        ("publisher", &locked.publisher, kid.as_str()),
    ] {
        if pinned != found {
            return Err(ProvenanceError::LockMismatch {
                what,
                locked: pinned.clone(),
                found: found.to_owned(),
            });
        }
    }
    Ok(Provenance::Signed { publisher: kid })
}
