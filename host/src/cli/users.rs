//! `tgw users ...`: people and invitations.

use clap::Subcommand;
use tgw::backend::BucketName;
use tgw::people::{GroupName, People, Role};

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
    },
    /// List users, their roles, groups and passkeys.
    List,
    /// Disable a user: their passkeys no longer approve anything.
    Disable { name: String },
    /// Put a user in a group: they may use the skills of that group.
    AddGroup { name: String, group: GroupName },
    /// Take a user out of a group.
    RemoveGroup { name: String, group: GroupName },
}

fn groups_of(groups: &[GroupName]) -> String {
    if groups.is_empty() {
        "-".into()
    } else {
        groups
            .iter()
            .map(GroupName::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub(super) async fn people(context: &Context) -> anyhow::Result<People> {
    let backend = context.disk().gateway_backend().await?;
    Ok(People::new(backend.bucket(BucketName::People)))
}

pub async fn run(context: &Context, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Invite { role, public_url } => {
            let invitation = people(context).await?.invite(role).await?;
            println!(
                "{}/enroll#{}",
                public_url.trim_end_matches('/'),
                invitation.token
            );
            eprintln!("Single use, valid 15 minutes, for the role {role:?}.");
        }
        UsersCommand::List => {
            let people = people(context).await?;
            let users = people.users().await?;
            if users.is_empty() {
                println!("No users yet: `tgw up` prints an enrollment link for the first admin.");
            }
            for user in users {
                let passkeys = people.credentials_of(&user.name).await?.len();
                let state = if user.disabled { "disabled" } else { "active" };
                println!(
                    "{:<24} {:<9} {state:<9} {passkeys} passkey(s)  groups {}",
                    user.name,
                    user.role.as_str(),
                    groups_of(&user.groups)
                );
            }
        }
        UsersCommand::Disable { name } => {
            people(context).await?.disable(&name).await?;
            println!("{name} is disabled.");
        }
        UsersCommand::AddGroup { name, group } => {
            let user = people(context).await?.add_group(&name, &group).await?;
            println!("{name} is in the groups {}.", groups_of(&user.groups));
        }
        UsersCommand::RemoveGroup { name, group } => {
            let user = people(context).await?.remove_group(&name, &group).await?;
            println!("{name} is in the groups {}.", groups_of(&user.groups));
        }
    }
    Ok(())
}
