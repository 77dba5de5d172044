//! `tgw connect claude-desktop`: the `claude_desktop_config.json` entry that
//! starts `tgw mcp stdio`, printed, or merged into the file with `--write`
//! (keeping every other server and setting in it).
//!
//! `tgw connect claude-ai`: the connector URL, and a check of the public
//! URL's discovery endpoints (`super::claude_ai`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Map, Value, json};

#[derive(Subcommand)]
pub enum ConnectCommand {
    /// Connect Claude Desktop through `tgw mcp stdio`.
    ClaudeDesktop {
        /// The gateway's public URL.
        #[arg(long, env = "TGW_PUBLIC_URL", default_value = "http://localhost:8400")]
        url: String,
        /// A file holding the access token (`tgw tokens create ... > FILE`).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// The server's name in Claude Desktop.
        #[arg(long, default_value = "trust-gateway")]
        name: String,
        /// Merge the entry into Claude Desktop's config file.
        #[arg(long)]
        write: bool,
        /// The config file to write (default: Claude Desktop's, for this
        /// platform).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the URL to paste into Claude.ai as a custom connector, and
    /// check that the public URL answers OAuth discovery as Claude.ai
    /// needs.
    ClaudeAi {
        /// The gateway's public URL (what `tgw up --public-url` was given).
        #[arg(long, env = "TGW_PUBLIC_URL", default_value = "http://localhost:8400")]
        url: String,
    },
}

/// Where Claude Desktop keeps its config on this platform.
pub fn claude_desktop_config() -> anyhow::Result<PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("HOME is not set: pass --config PATH"))
    };
    Ok(if cfg!(target_os = "macos") {
        home()?.join("Library/Application Support/Claude/claude_desktop_config.json")
    } else if cfg!(windows) {
        PathBuf::from(
            std::env::var_os("APPDATA")
                .ok_or_else(|| anyhow::anyhow!("APPDATA is not set: pass --config PATH"))?,
        )
        .join("Claude\\claude_desktop_config.json")
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .map_or_else(|| home().map(|h| h.join(".config")), Ok)?
            .join("Claude/claude_desktop_config.json")
    })
}

fn entry(url: &str, token_file: Option<&Path>) -> anyhow::Result<Value> {
    let tgw = std::env::current_exe()?;
    let mut args = vec![
        "mcp".to_owned(),
        "stdio".into(),
        "--url".into(),
        format!("{}/v1/mcp", url.trim_end_matches('/')),
    ];
    let mut server = Map::new();
    server.insert("command".into(), json!(tgw));
    match token_file {
        Some(file) => {
            args.push("--token-file".into());
            args.push(std::path::absolute(file)?.display().to_string());
        }
        None => {
            server.insert(
                "env".into(),
                json!({"TGW_TOKEN": "<paste a token from `tgw tokens create`>"}),
            );
        }
    }
    server.insert("args".into(), json!(args));
    Ok(Value::Object(server))
}

/// Puts `server` under `mcpServers.<name>` of the JSON in `existing`,
/// keeping everything else.
pub fn merge(existing: Option<&str>, name: &str, server: Value) -> anyhow::Result<Value> {
    let mut config = match existing.map(str::trim) {
        None | Some("") => json!({}),
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| {
            anyhow::anyhow!("the config file is not valid JSON ({e}); fix or move it first")
        })?,
    };
    let Some(object) = config.as_object_mut() else {
        anyhow::bail!("the config file holds no JSON object; fix or move it first");
    };
    let servers = object
        .entry("mcpServers")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("\"mcpServers\" in the config file is not an object"))?;
    servers.insert(name.to_owned(), server);
    Ok(config)
}

pub async fn run(command: ConnectCommand) -> anyhow::Result<()> {
    let (url, token_file, name, write, config) = match command {
        ConnectCommand::ClaudeAi { url } => return super::claude_ai::run(&url).await,
        ConnectCommand::ClaudeDesktop {
            url,
            token_file,
            name,
            write,
            config,
        } => (url, token_file, name, write, config),
    };
    let server = entry(&url, token_file.as_deref())?;
    if token_file.is_none() {
        eprintln!("No --token-file: put the token in the entry's TGW_TOKEN, or pass --token-file.");
    }
    if !write {
        let snippet = json!({"mcpServers": {name: server}});
        println!("{}", serde_json::to_string_pretty(&snippet)?);
        return Ok(());
    }
    let path = match config {
        Some(path) => path,
        None => claude_desktop_config()?,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let merged = merge(existing.as_deref(), &name, server)?;
    let dir = path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(dir)?;
    // Written beside and renamed, so a crash leaves the old file whole.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, serde_json::to_string_pretty(&merged)?.as_bytes())?;
    file.persist(&path)?;
    println!(
        "Added {name:?} to {}. Restart Claude Desktop to pick it up.",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_what_is_there() {
        let existing = r#"{"theme": "dark", "mcpServers": {"other": {"command": "x"}}}"#;
        let merged = merge(Some(existing), "tgw", json!({"command": "tgw"})).unwrap();
        assert_eq!(merged["theme"], "dark");
        assert_eq!(merged["mcpServers"]["other"]["command"], "x");
        assert_eq!(merged["mcpServers"]["tgw"]["command"], "tgw");
        assert_eq!(
            merge(None, "tgw", json!({})).unwrap()["mcpServers"]["tgw"],
            json!({})
        );
        assert!(merge(Some("{not json"), "tgw", json!({})).is_err());
        assert!(merge(Some("[1]"), "tgw", json!({})).is_err());
        assert!(merge(Some(r#"{"mcpServers": 3}"#), "tgw", json!({})).is_err());
    }
}
