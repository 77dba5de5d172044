//! Skill secrets: set with `tgw secrets set <skill> <NAME>`, kept in
//! `<data>/secrets/<skill>/<NAME>` with mode 0600, and only ever read by the
//! host to put into an outgoing request's header. They never enter a
//! sandbox, a tool result or a log line.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use tgw_parse::manifest::is_secret_name;

pub struct SecretStore {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0:?} is not a skill name")]
    BadSkill(String),
    #[error("{0:?} is not a secret name: use A-Z, 0-9 and _, starting with a letter")]
    BadName(String),
    #[error(
        "the value is empty, or has a line break or a control character (it goes into an HTTP header)"
    )]
    BadValue,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A secret value; its `Debug` and `Display` never show it.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretStore {
    pub fn new(data_dir: &Path) -> Self {
        SecretStore {
            dir: data_dir.join("secrets"),
        }
    }

    fn path(&self, skill: &str, name: &str) -> Result<PathBuf, SecretError> {
        let skill_ok = !skill.is_empty()
            && skill
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !skill_ok {
            return Err(SecretError::BadSkill(skill.into()));
        }
        if !is_secret_name(name) {
            return Err(SecretError::BadName(name.into()));
        }
        Ok(self.dir.join(skill).join(name))
    }

    #[expect(
        clippy::expect_used,
        reason = "a secret's path is <dir>/<skill>/<name>: it has a folder"
    )]
    pub fn set(&self, skill: &str, name: &str, value: &str) -> Result<(), SecretError> {
        if value.is_empty() || value.chars().any(char::is_control) {
            return Err(SecretError::BadValue);
        }
        let path = self.path(skill, name)?;
        let dir = path.parent().expect("a secret path has a folder");
        let io = |source| SecretError::Io {
            path: path.clone(),
            source,
        };
        crate::paths::create_private_dir(&self.dir).map_err(io)?;
        crate::paths::create_private_dir(dir).map_err(io)?;
        // tempfile creates files with mode 0600; rename makes it atomic.
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        temp.write_all(value.as_bytes()).map_err(io)?;
        temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    pub fn get(&self, skill: &str, name: &str) -> Result<Option<Secret>, SecretError> {
        let path = self.path(skill, name)?;
        match std::fs::read_to_string(&path) {
            Ok(value) => Ok(Some(Secret(value))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SecretError::Io { path, source }),
        }
    }

    /// Names of the secrets set for `skill`.
    pub fn names(&self, skill: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join(skill))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| is_secret_name(n))
            .collect();
        names.sort();
        names
    }

    pub fn remove(&self, skill: &str, name: &str) -> Result<bool, SecretError> {
        let path = self.path(skill, name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(SecretError::Io { path, source }),
        }
    }

    /// The header value for a secret (`format` with `{}` replaced), or why
    /// there is none. The reason never contains the value.
    pub fn header_value(
        &self,
        skill: &str,
        name: &str,
        format: &str,
    ) -> Result<http::HeaderValue, String> {
        match self.get(skill, name) {
            Ok(Some(secret)) => {
                let mut value =
                    http::HeaderValue::from_str(&format.replacen("{}", secret.expose(), 1))
                        .map_err(|_| format!("the secret {name} cannot go into an HTTP header"))?;
                value.set_sensitive(true);
                Ok(value)
            }
            Ok(None) => Err(format!(
                "the secret {name} is not set: run `tgw secrets set {skill} {name}`"
            )),
            Err(e) => Err(format!("the secret {name} cannot be read: {e}")),
        }
    }
}
