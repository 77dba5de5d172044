//! `tgw users ...`: people and invitations.

use clap::Subcommand;
use tgw::people::{People, Role};

use super::Context;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Print a single-use enrollment link (valid 15 minutes).
    Invite {
        #[arg(long, value_enum, default_value = "user")]
        role: Role,
        /// The gateway's public URL, for the link.
        #[arg(long, env = "TGW_PUBLIC_URL", default_value = "http://localhost:8400")]
        public_url: String,
        #[arg(long, env = "TGW_NATS")]
        nats: Option<String>,
    },
    /// List users, their roles and passkeys.
    List {
        #[arg(long, env = "TGW_NATS")]
        nats: Option<String>,
    },
    /// Disable a user: their passkeys no longer approve anything.
    Disable {
        name: String,
        #[arg(long, env = "TGW_NATS")]
        nats: Option<String>,
    },
}

pub(super) async fn people(context: &Context, nats: Option<&str>) -> anyhow::Result<People> {
    let bus = match nats {
        Some(url) => tgw::bus::nats::bus(url).await?,
        None => tgw::bus::embedded::bus(&context.data_dir)?,
    };
    Ok(People::new(bus.people))
}

pub async fn run(context: &Context, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Invite {
            role,
            public_url,
            nats,
        } => {
            let invitation = people(context, nats.as_deref()).await?.invite(role).await?;
            println!(
                "{}/enroll#{}",
                public_url.trim_end_matches('/'),
                invitation.token
            );
            eprintln!("Single use, valid 15 minutes, for the role {role:?}.");
        }
        UsersCommand::List { nats } => {
            let people = people(context, nats.as_deref()).await?;
            let users = people.users().await?;
            if users.is_empty() {
                println!("No users yet: `tgw up` prints an enrollment link for the first admin.");
            }
            for user in users {
                let passkeys = people.credentials_of(&user.name).await?.len();
                let state = if user.disabled { "disabled" } else { "active" };
                println!(
                    "{:<24} {:<9} {state:<9} {passkeys} passkey(s)",
                    user.name,
                    format!("{:?}", user.role).to_lowercase()
                );
            }
        }
        UsersCommand::Disable { name, nats } => {
            people(context, nats.as_deref())
                .await?
                .disable(&name)
                .await?;
            println!("{name} is disabled.");
        }
    }
    Ok(())
}
