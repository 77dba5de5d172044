//! `tgw keys ...`: the gateway's grant-signing keys.

use clap::Subcommand;
use tgw::keys::{KeyStore, PublicKeyEntry, parse_entry};

use super::Context;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create the signing key (once).
    Init,
    /// Create a new signing key; the old one stays trusted until `untrust`.
    Rotate,
    /// List the trusted public keys and which one signs.
    List,
    /// Print the trusted public keys as JSON, for `tgw keys trust` on an
    /// executor's machine.
    Export,
    /// Trust the public keys in a JSON file made by `tgw keys export`
    /// (`-` for standard input).
    Trust { file: String },
    /// Stop trusting a key.
    Untrust { kid: String },
}

pub fn run(context: &Context, command: KeysCommand) -> anyhow::Result<()> {
    let store = KeyStore::new(&context.data_dir);
    match command {
        KeysCommand::Init => {
            let signer = store.init()?;
            println!(
                "Created signing key {} in {}",
                signer.kid(),
                context.data_dir.join("keys").display()
            );
        }
        KeysCommand::Rotate => {
            let signer = store.rotate()?;
            println!(
                "New signing key {}; the previous keys stay trusted.",
                signer.kid()
            );
        }
        KeysCommand::List => {
            let current = store.signer().ok().map(|s| s.kid().to_owned());
            for entry in store.trusted_entries()? {
                let role = if current.as_deref() == Some(&entry.kid) {
                    "signing"
                } else {
                    "trusted"
                };
                println!("{}  {role}  {}", entry.kid, entry.public_key);
            }
        }
        KeysCommand::Export => println!(
            "{}",
            serde_json::to_string_pretty(&store.trusted_entries()?)?
        ),
        KeysCommand::Trust { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)?
            };
            let entries: Vec<PublicKeyEntry> = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{file}: not a `tgw keys export` file: {e}"))?;
            for entry in &entries {
                let key = parse_entry(entry).map_err(anyhow::Error::msg)?;
                store.trust(key)?;
                println!("Trusted {} ({})", entry.kid, entry.public_key);
            }
        }
        KeysCommand::Untrust { kid } => {
            if store.untrust(&kid)? {
                println!("No longer trusting {kid}.");
            } else {
                println!("{kid} was not trusted.");
            }
        }
    }
    Ok(())
}
