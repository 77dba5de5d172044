//! `tgw keys ...`: the gateway's grant-signing keys.

use clap::Subcommand;
use tgw::keys::{KeyBundle, KeyStore, PublicKeyEntry, parse_entry};

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
    /// executor's machine; with --with-secrets, write the keys that the
    /// gateways of one deployment share (the signing and OAuth keys: keep
    /// the file secret) for `tgw keys import` on another gateway.
    Export {
        #[arg(long, requires = "out")]
        with_secrets: bool,
        /// Where to write (mode 0600).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Take the shared keys of another gateway of this deployment, from a
    /// file made by `tgw keys export --with-secrets`.
    Import { file: std::path::PathBuf },
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
        KeysCommand::Export {
            with_secrets: true,
            out: Some(out),
        } => {
            let bundle = serde_json::to_string_pretty(&store.export()?)?;
            tgw::paths::write_secret(&out, &bundle)?;
            println!(
                "Wrote the deployment's shared keys to {}; import them on another gateway with \
                 `tgw keys import`, then delete the file.",
                out.display()
            );
        }
        KeysCommand::Export { out, .. } => {
            let text = serde_json::to_string_pretty(&store.trusted_entries()?)?;
            match out {
                Some(path) => std::fs::write(path, text)?,
                None => println!("{text}"),
            }
        }
        KeysCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let bundle: KeyBundle = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not a `tgw keys export --with-secrets` file: {e}",
                    file.display()
                )
            })?;
            store.import(&bundle)?;
            println!(
                "Imported the deployment's keys into {}.",
                context.data_dir.join("keys").display()
            );
        }
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
