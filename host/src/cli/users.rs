//! `tgw users ...`: people and invitations.

use clap::Subcommand;
use serde_json::json;
use tgw::audit::{Audit, AuditKind};
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

/// People as a command sees them, and the audit log its changes go to.
pub(super) struct Admin {
    pub people: People,
    audit: Audit,
}

impl Admin {
    pub(super) async fn open(context: &Context) -> anyhow::Result<Admin> {
        let (backend, audit) = context.disk().gateway_command().await?;
        Ok(Admin {
            people: People::new(backend.bucket(BucketName::People)),
            audit,
        })
    }

    /// Audits a change made from the command line (`admin.action`, as the
    /// dashboard's are, `"by": "cli"` with the account that ran it). The
    /// change is made by then, so an entry that cannot be written is an
    /// error the person hears of, and the command fails.
    pub(super) async fn record(&self, mut detail: serde_json::Value) -> anyhow::Result<()> {
        detail["by"] = json!("cli");
        detail["os_user"] = json!(std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
        self.audit
            .append(AuditKind::AdminAction, "", detail)
            .await
            .map_err(|e| {
                anyhow::anyhow!("the change is made, but its audit entry could not be written: {e}")
            })?;
        self.audit.checkpoint().await?;
        Ok(())
    }
}

pub async fn run(context: &Context, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Invite { role, public_url } => {
            let admin = Admin::open(context).await?;
            let invitation = admin.people.invite(role).await?;
            admin
                .record(json!({"action": "invite", "role": role}))
                .await?;
            println!(
                "{}/enroll#{}",
                public_url.trim_end_matches('/'),
                invitation.token
            );
            eprintln!("Single use, valid 15 minutes, for the role {role:?}.");
        }
        UsersCommand::List => {
            let people = Admin::open(context).await?.people;
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
            let admin = Admin::open(context).await?;
            admin.people.disable(&name).await?;
            admin
                .record(json!({"action": "disable", "person": name}))
                .await?;
            println!("{name} is disabled.");
        }
        UsersCommand::AddGroup { name, group } => {
            let admin = Admin::open(context).await?;
            let user = admin.people.add_group(&name, &group).await?;
            admin
                .record(json!({"action": "set-groups", "person": name, "groups": user.groups}))
                .await?;
            println!("{name} is in the groups {}.", groups_of(&user.groups));
        }
        UsersCommand::RemoveGroup { name, group } => {
            let admin = Admin::open(context).await?;
            let user = admin.people.remove_group(&name, &group).await?;
            admin
                .record(json!({"action": "set-groups", "person": name, "groups": user.groups}))
                .await?;
            println!("{name} is in the groups {}.", groups_of(&user.groups));
        }
    }
    Ok(())
}
