//! `tgw publisher ...`: the keys that sign skills, and which publishers
//! this gateway believes for which skill names (`trust.toml`).

use clap::Subcommand;
use tgw::keys::{KeyStore, PublicKeyEntry, parse_entry, public_entry};
use tgw::registry::provenance::TrustPolicy;

use super::Context;

#[derive(Subcommand)]
pub enum PublisherCommand {
    /// This machine's publisher key (for `tgw skill publish`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Trust a publisher's key (a file made by `tgw publisher keys export`,
    /// `-` for standard input) to publish the skills whose names match
    /// GLOB (`acme-*`, `files`; give --skills again for more).
    Trust {
        file: String,
        #[arg(long = "skills", required = true)]
        skills: Vec<String>,
    },
    /// List the trusted publishers and what each may publish.
    List,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make the publisher key (once), under the data dir, mode 0600.
    Init,
    /// Print the publisher key's id and public key.
    List,
    /// Print the public key as JSON, for `tgw publisher trust` on a gateway.
    Export,
}

pub fn run(context: &Context, command: PublisherCommand) -> anyhow::Result<()> {
    let store = KeyStore::new(&context.data_dir);
    match command {
        PublisherCommand::Keys(KeysCommand::Init) => {
            let (seed, new) = store.publisher_seed()?;
            let entry = entry_of(&seed);
            if new {
                println!(
                    "Created publisher key {} in {}.",
                    entry.kid,
                    context.data_dir.join("keys").display()
                );
            } else {
                println!("Publisher key {} exists already.", entry.kid);
            }
        }
        PublisherCommand::Keys(KeysCommand::List) => match store.publisher_key()? {
            Some(key) => {
                let entry = public_entry(&tgw::grant::TrustedKey::new(key.verifying_key()));
                println!("{}  {}", entry.kid, entry.public_key);
            }
            None => println!("No publisher key yet: `tgw publisher keys init` makes one."),
        },
        PublisherCommand::Keys(KeysCommand::Export) => {
            let key = store.publisher_key()?.ok_or_else(|| {
                anyhow::anyhow!("no publisher key yet: run `tgw publisher keys init` first")
            })?;
            let entry = public_entry(&tgw::grant::TrustedKey::new(key.verifying_key()));
            println!("{}", serde_json::to_string_pretty(&entry)?);
        }
        PublisherCommand::Trust { file, skills } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("reading {file}: {e}"))?
            };
            let entry: PublicKeyEntry = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{file}: not a `tgw publisher keys export` file: {e}")
            })?;
            let key = parse_entry(&entry).map_err(anyhow::Error::msg)?;
            for glob in &skills {
                if glob.is_empty()
                    || !glob
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_*?".contains(c))
                {
                    anyhow::bail!(
                        "--skills {glob:?}: a glob of skill names uses letters, digits, `-`, `_`, `*` and `?`"
                    );
                }
            }
            let mut policy = TrustPolicy::read(&context.data_dir).map_err(anyhow::Error::msg)?;
            policy.allow(&key, &skills);
            policy.write(&context.data_dir)?;
            println!("Publisher {} may publish {}.", key.kid, skills.join(", "));
        }
        PublisherCommand::List => {
            let policy = TrustPolicy::read(&context.data_dir).map_err(anyhow::Error::msg)?;
            if policy.publishers.is_empty() {
                println!(
                    "No trusted publishers: `tgw publisher trust FILE --skills GLOB` adds one."
                );
            }
            for publisher in policy.publishers {
                println!(
                    "{}  {}  {}",
                    publisher.kid,
                    publisher.public_key,
                    publisher.skills.join(",")
                );
            }
        }
    }
    Ok(())
}

fn entry_of(seed: &[u8; 32]) -> PublicKeyEntry {
    public_entry(&tgw::grant::TrustedKey::new(
        tgw::jws::JwsSigner::from_seed(seed).verifying_key(),
    ))
}
