//! `tgw secrets ...`: values the host injects into a skill's requests.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use tgw::registry;
use tgw::secrets::SecretStore;

use super::Context;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Set a secret; the value is read from standard input, never from the
    /// command line (which would keep it in shell history).
    ///
    /// Example: printf %s "$KEY" | tgw secrets set invoices INVOICE_API_KEY
    Set { skill: String, name: String },
    /// List which of a skill's declared secrets are set (never the values).
    List { skill: String },
    /// Remove a secret.
    Rm { skill: String, name: String },
}

pub fn run(context: &Context, command: SecretsCommand) -> anyhow::Result<()> {
    let store = SecretStore::new(&context.data_dir);
    match command {
        SecretsCommand::Set { skill, name } => {
            let skill = registry::find(&context.skills_dir, &skill)?;
            if !skill
                .manifest
                .secrets
                .iter()
                .any(|s| *s.name.get_ref() == name)
            {
                let declared: Vec<&str> = skill
                    .manifest
                    .secrets
                    .iter()
                    .map(|s| s.name.get_ref().as_str())
                    .collect();
                anyhow::bail!(
                    "skill {} declares no secret {name} (it declares: {})",
                    skill.name(),
                    if declared.is_empty() {
                        "none".into()
                    } else {
                        declared.join(", ")
                    }
                );
            }
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Value for {name} (end with Enter):");
            }
            let mut value = String::new();
            stdin.lock().read_line(&mut value)?;
            let value = value.trim_end_matches(['\n', '\r']);
            store.set(skill.name(), &name, value)?;
            eprintln!("Secret {name} of skill {} is set.", skill.name());
            Ok(())
        }
        SecretsCommand::List { skill } => {
            let skill = registry::find(&context.skills_dir, &skill)?;
            let set = store.names(skill.name());
            for decl in &skill.manifest.secrets {
                let state = if set.contains(decl.name.get_ref()) {
                    "set"
                } else {
                    "NOT SET"
                };
                println!(
                    "{:<24} {state:<8} injected into {} requests as {}",
                    decl.name,
                    decl.inject.host.get_ref(),
                    decl.inject.header
                );
            }
            Ok(())
        }
        SecretsCommand::Rm { skill, name } => {
            if store.remove(&skill, &name)? {
                eprintln!("Secret {name} of skill {skill} removed.");
            } else {
                eprintln!("Skill {skill} had no secret {name}.");
            }
            Ok(())
        }
    }
}
