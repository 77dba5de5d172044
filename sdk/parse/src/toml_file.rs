//! Reading the gateway's TOML files (`skill.toml`, `policy.toml`) so that
//! every error names the file, the line and column, and the key at fault.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A file that cannot be used, located in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl FileError {
    /// An error about the file as a whole (it cannot be read, ...).
    pub fn whole(file: &Path, message: String) -> Self {
        FileError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            message,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// A file's text, for locating errors in it.
pub struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at `span` (a byte range of the text), or about the file.
    pub fn error(&self, span: Option<Range<usize>>, message: String) -> FileError {
        let (line, column) = span.map_or((0, 0), |s| {
            let before = &self.text[..s.start.min(self.text.len())];
            let line = before.matches('\n').count() + 1;
            (
                line,
                before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
            )
        });
        FileError {
            file: self.file.to_owned(),
            line,
            column,
            message,
        }
    }

    /// Deserialises the text; errors carry the key's path
    /// (`capabilities.fuel`), found by serde_path_to_error.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        let deserializer = toml::Deserializer::parse(self.text).map_err(|e| {
            let mut message = e.message().trim().to_owned();
            if let (Some(span), "duplicate key") = (e.span(), message.as_str()) {
                message = format!(
                    "duplicate key `{}`",
                    self.text.get(span).unwrap_or_default().trim()
                );
            }
            self.error(e.span(), message)
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // Spanned values add a private segment to the path.
            let path = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            let message = inner.message().trim();
            match path.as_str() {
                "" | "." => self.error(inner.span(), message.to_owned()),
                _ => self.error(inner.span(), format!("{path}: {message}")),
            }
        })
    }
}
