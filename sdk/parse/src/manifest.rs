//! `skill.toml`: what a skill is and what its sandbox may touch.
//!
//! Parsed with `deny_unknown_fields` everywhere; every error names the file,
//! the line and the key or value at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use toml::Spanned;

use crate::http_target::HttpTarget;
use crate::names::{Audience, GroupName, Role, SkillName, ToolName};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: SkillName,
    #[serde(deserialize_with = "version")]
    pub version: String,
    /// The component file, relative to the manifest's folder.
    #[serde(deserialize_with = "component_file")]
    pub component: String,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    access: Access,
    /// Who may use the skill, from `[access]`.
    #[serde(skip)]
    pub audience: Audience,
    /// Plain values the component reads through `wasi:config/store`.
    #[serde(default, deserialize_with = "config_table")]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<SecretDecl>,
    /// Only `wasm`: `native` is refused, a skill is a WebAssembly component.
    #[serde(default, deserialize_with = "kind")]
    pub kind: SkillKind,
    /// `[tools.<name>]`: what the operator accepts each tool to be. The
    /// risk here is the one that applies; a tool not listed is
    /// destructive.
    #[serde(default)]
    pub tools: BTreeMap<ToolName, ToolDecl>,
}

/// How much harm a tool's call can do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Read,
    Write,
    Destructive,
}

impl Risk {
    pub const fn as_str(self) -> &'static str {
        match self {
            Risk::Read => "read",
            Risk::Write => "write",
            Risk::Destructive => "destructive",
        }
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[tools.<name>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDecl {
    pub risk: Risk,
    /// Whether a call may outlive its request as an MCP task.
    #[serde(default)]
    pub task: TaskSupport,
}

/// Whether a tool's calls run as MCP tasks (the 2026-07-28 extension
/// `io.modelcontextprotocol/tasks`), for a client that declared it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Never: the call always answers within its request.
    Forbidden,
    /// When it waits for a person or runs long (the gateway decides).
    #[default]
    Optional,
    /// Only as a task: a client without the extension is refused.
    Required,
}

/// Why a manifest's `[tools]` and its component's own word disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolsMismatch {
    #[error(
        "tool {tool}: the manifest says {declared}, but the component's publisher says it is {own}; \
         a manifest may make a tool riskier, never less risky"
    )]
    LessRisky {
        tool: String,
        declared: Risk,
        own: Risk,
    },
    #[error("[tools.{0}]: the component has no tool {0}")]
    NoSuchTool(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
    #[serde(default)]
    pub http: Vec<Spanned<HttpEntry>>,
    #[serde(
        default = "default_fuel",
        deserialize_with = "bounded::<_, 1, 1_000_000_000_000>"
    )]
    pub fuel: u64,
    #[serde(
        default = "default_memory_mib",
        deserialize_with = "bounded::<_, 1, 1024>"
    )]
    pub memory_mib: u64,
    #[serde(
        default = "default_timeout_ms",
        deserialize_with = "bounded::<_, 1, 300_000>"
    )]
    pub timeout_ms: u64,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            dirs: Vec::new(),
            http: Vec::new(),
            fuel: default_fuel(),
            memory_mib: default_memory_mib(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

fn default_fuel() -> u64 {
    1_000_000_000
}
fn default_memory_mib() -> u64 {
    64
}
fn default_timeout_ms() -> u64 {
    5000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// A host directory, relative to the manifest's folder or absolute.
    pub host: PathBuf,
    /// Where the component sees it: an absolute guest path.
    #[serde(deserialize_with = "guest_path")]
    pub guest: Spanned<String>,
    pub access: DirAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirAccess {
    Read,
    ReadWrite,
}

/// One `http` allowlist entry; see [`HttpTarget`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpEntry(pub HttpTarget);

impl TryFrom<String> for HttpEntry {
    type Error = String;
    fn try_from(entry: String) -> Result<Self, String> {
        entry.parse().map(HttpEntry)
    }
}

/// `[access]`: who may see and call this skill's tools. Read through
/// [`Manifest::audience`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Groups whose members may use this skill (empty: everyone).
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    /// Deprecated: account role names keep matching roles, any other name
    /// is read as a group.
    #[serde(default)]
    roles: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretDecl {
    #[serde(deserialize_with = "secret_name")]
    pub name: Spanned<String>,
    pub inject: Injection,
}

/// Where the host puts a secret: one header of requests to one host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    pub host: Spanned<String>,
    #[serde(deserialize_with = "header_name")]
    pub header: String,
    /// `{}` stands for the secret, e.g. `Bearer {}`.
    #[serde(default = "default_format", deserialize_with = "format_string")]
    pub format: String,
}

fn default_format() -> String {
    "{}".into()
}

/// A manifest that cannot be used, located in its file.
pub type ManifestError = crate::toml_file::FileError;

impl Manifest {
    /// Parses and checks `text`, read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let source = crate::toml_file::Source { file, text };
        let located = |span, message| source.error(span, message);
        let mut manifest: Manifest = source.parse()?;
        manifest.audience = audience(&manifest.access, file, &located)?;

        let allowed: Vec<&HttpTarget> = manifest
            .capabilities
            .http
            .iter()
            .map(|e| &e.get_ref().0)
            .collect();
        for (i, secret) in manifest.secrets.iter().enumerate() {
            let host = secret.inject.host.get_ref();
            if !allowed
                .iter()
                .any(|target| target.host == host.to_ascii_lowercase())
            {
                return Err(located(
                    Some(secret.inject.host.span()),
                    format!(
                        "secrets[{i}].inject.host: {host:?} is not in capabilities.http, so the secret could never be sent"
                    ),
                ));
            }
            if manifest.secrets[..i]
                .iter()
                .any(|s| s.name.get_ref() == secret.name.get_ref())
            {
                return Err(located(
                    Some(secret.name.span()),
                    format!(
                        "secrets[{i}].name: {} is declared twice",
                        secret.name.get_ref()
                    ),
                ));
            }
        }
        let dirs = &manifest.capabilities.dirs;
        for (i, dir) in dirs.iter().enumerate() {
            if dirs[..i]
                .iter()
                .any(|d| d.guest.get_ref() == dir.guest.get_ref())
            {
                return Err(located(
                    Some(dir.guest.span()),
                    format!(
                        "capabilities.dirs[{i}].guest: {} is given twice",
                        dir.guest.get_ref()
                    ),
                ));
            }
        }
        Ok(manifest)
    }

    pub fn http_targets(&self) -> impl Iterator<Item = &HttpTarget> {
        self.capabilities.http.iter().map(|e| &e.get_ref().0)
    }

    /// The risk that applies to `tool`, which the component says is
    /// `own`: the manifest's, or destructive if it does not list the
    /// tool. A manifest that makes it less risky than `own` is refused.
    pub fn risk_of(&self, tool: &str, own: Risk) -> Result<Risk, ToolsMismatch> {
        let declared = self
            .tools
            .get(tool)
            .map_or(Risk::Destructive, |decl| decl.risk);
        if declared < own {
            return Err(ToolsMismatch::LessRisky {
                tool: tool.to_owned(),
                declared,
                own,
            });
        }
        Ok(declared)
    }

    /// A `[tools]` entry for a tool that is not among `tools` (the
    /// component's): a typo, or a manifest for another build.
    pub fn unknown_tool<'a>(
        &self,
        tools: impl Iterator<Item = &'a str> + Clone,
    ) -> Option<ToolsMismatch> {
        self.tools
            .keys()
            .map(ToolName::as_str)
            .find(|name| !tools.clone().any(|t| t == *name))
            .map(|name| ToolsMismatch::NoSuchTool(name.to_owned()))
    }
}

/// The audience of `[access]`. A group nobody has yet is fine; a
/// malformed name is an error at its line.
fn audience(
    access: &Access,
    file: &Path,
    located: &impl Fn(Option<std::ops::Range<usize>>, String) -> ManifestError,
) -> Result<Audience, ManifestError> {
    let mut audience = Audience::default();
    for (i, name) in access.groups.iter().enumerate() {
        let group = GroupName::new(name.get_ref())
            .map_err(|e| located(Some(name.span()), format!("access.groups[{i}]: {e}")))?;
        if !audience.groups.contains(&group) {
            audience.groups.push(group);
        }
    }
    if let Some(roles) = &access.roles {
        tracing::warn!(
            target: "tgw::registry",
            "{}: [access] roles is deprecated: write `groups = [...]` (admins may use every skill;              other names are groups)",
            file.display()
        );
        for (i, name) in roles.iter().enumerate() {
            if let Some(role) = Role::named(name.get_ref()) {
                if role != Role::Admin && !audience.roles.contains(&role) {
                    audience.roles.push(role);
                }
                continue;
            }
            let group = GroupName::new(name.get_ref())
                .map_err(|e| located(Some(name.span()), format!("access.roles[{i}]: {e}")))?;
            if !audience.groups.contains(&group) {
                audience.groups.push(group);
            }
        }
        // `roles = ["admin"]` alone meant "admins only": keep it so.
        if audience.groups.is_empty() && audience.roles.is_empty() && !roles.is_empty() {
            audience.roles.push(Role::Admin);
        }
    }
    Ok(audience)
}

fn string_matching<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    if ok(&value) {
        Ok(value)
    } else {
        Err(D::Error::custom(format!("{value:?} is not {what}")))
    }
}

/// How a skill runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SkillKind {
    /// A WebAssembly component in the runtime's sandbox.
    #[default]
    Wasm,
}

fn kind<'de, D: Deserializer<'de>>(d: D) -> Result<SkillKind, D::Error> {
    match String::deserialize(d)?.as_str() {
        "wasm" => Ok(SkillKind::Wasm),
        "native" => Err(D::Error::custom(
            "native skills are not supported yet: a skill is a WebAssembly component (kind = \"wasm\")",
        )),
        other => Err(D::Error::custom(format!(
            "unknown kind {other:?}: use \"wasm\""
        ))),
    }
}

fn version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_matching(d, "a version like 1.2.3", |s| {
        let core = s.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    })
}

fn component_file<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_matching(d, "a .wasm file name inside the skill's folder", |s| {
        s.ends_with(".wasm")
            && !s.starts_with('/')
            && !s.split('/').any(|part| part == ".." || part.is_empty())
    })
}

fn spanned_matching<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<Spanned<String>, D::Error> {
    let value = Spanned::<String>::deserialize(d)?;
    if ok(value.get_ref()) {
        Ok(value)
    } else {
        Err(D::Error::custom(format!(
            "{:?} is not {what}",
            value.get_ref()
        )))
    }
}

fn guest_path<'de, D: Deserializer<'de>>(d: D) -> Result<Spanned<String>, D::Error> {
    spanned_matching(d, "an absolute guest path like /data", |s| {
        s.starts_with('/') && s.len() > 1 && !s.split('/').any(|part| part == ".." || part == ".")
    })
}

fn secret_name<'de, D: Deserializer<'de>>(d: D) -> Result<Spanned<String>, D::Error> {
    spanned_matching(
        d,
        "a secret name (A-Z, 0-9 and _, starting with a letter)",
        is_secret_name,
    )
}

/// Secret names: `INVOICE_API_KEY`.
pub fn is_secret_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_matching(d, "an HTTP header name", |s| {
        http::HeaderName::from_bytes(s.as_bytes()).is_ok()
    })
}

fn format_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_matching(
        d,
        "a format with exactly one `{}` where the secret goes",
        |s| s.matches("{}").count() == 1,
    )
}

fn bounded<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<u64, D::Error> {
    let value = i64::deserialize(d)?;
    match u64::try_from(value) {
        Ok(v) if (MIN..=MAX).contains(&v) => Ok(v),
        _ => Err(D::Error::custom(format!(
            "{value} is out of range: use {MIN} to {MAX}"
        ))),
    }
}

/// `[config]` values are strings, integers, floats or booleans; the
/// component reads them all as strings.
fn config_table<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let table = BTreeMap::<String, toml::Value>::deserialize(d)?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(D::Error::custom(format!(
                        "`{key}` is a {}; config values are strings, numbers or booleans",
                        other.type_str()
                    )));
                }
            };
            Ok((key, text))
        })
        .collect()
}
