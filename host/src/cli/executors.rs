//! `tgw executors ...`: which executors the gateway believes. An executor
//! signs every answer with its own key (made on its first start); the
//! gateway accepts only answers signed by a key trusted here.

use clap::Subcommand;
use tgw::keys::{KeyStore, PublicKeyEntry, parse_entry, public_entry};

use super::Context;

#[derive(Subcommand)]
pub enum ExecutorsCommand {
    /// List the trusted executor keys.
    List,
    /// Print this machine's executor key (made if missing), for `tgw
    /// executors trust` on the gateway.
    Identity,
    /// Trust an executor key: its id and base64url public key, as
    /// `tgw executors identity` prints them.
    Trust { kid: String, public_key: String },
    /// Stop trusting an executor key.
    Untrust { kid: String },
}

pub fn run(context: &Context, command: ExecutorsCommand) -> anyhow::Result<()> {
    let store = KeyStore::new(&context.data_dir);
    match command {
        ExecutorsCommand::List => {
            for entry in store.trusted_executor_entries()? {
                println!("{}  {}", entry.kid, entry.public_key);
            }
        }
        ExecutorsCommand::Identity => {
            let key = store.executor_key()?;
            let entry = public_entry(&tgw::grant::TrustedKey::new(key.verifying_key()));
            println!("{} {}", entry.kid, entry.public_key);
        }
        ExecutorsCommand::Trust { kid, public_key } => {
            let key =
                parse_entry(&PublicKeyEntry { kid, public_key }).map_err(anyhow::Error::msg)?;
            if store.trust_executor(&key)? {
                println!("Trusting executor key {}.", key.kid);
            } else {
                println!("Executor key {} was trusted already.", key.kid);
            }
        }
        ExecutorsCommand::Untrust { kid } => {
            if store.untrust_executor(&kid)? {
                println!("No longer trusting executor key {kid}.");
            } else {
                println!("{kid} was not trusted.");
            }
        }
    }
    Ok(())
}
