//! `tgw tokens ...`: personal access tokens for MCP clients.

use clap::Subcommand;
use serde_json::json;
use tgw::people::Scope;

use super::Context;
use super::users::Admin;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Issue a token for a user; it is printed once and stored hashed.
    Create {
        #[arg(long)]
        user: String,
        /// Comma-separated: mcp:execute, tools:list, tools:call.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "mcp:execute,tools:list,tools:call"
        )]
        scopes: Vec<Scope>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id (the hex part after `tgw_pat_`).
    Revoke { id: String },
}

fn scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn run(context: &Context, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            user,
            scopes: wanted,
        } => {
            let admin = Admin::open(context).await?;
            let (token, record) = admin.people.create_token(&user, &wanted).await?;
            admin
                .record(json!({"action": "create-token", "person": user, "token": record.id, "scopes": scopes(&record.scopes)}))
                .await?;
            println!("{token}");
            eprintln!(
                "Token {} for {user} with scopes {}. It is shown only this once; \
                 send it as `Authorization: Bearer <token>`.",
                record.id,
                scopes(&record.scopes)
            );
        }
        TokensCommand::List => {
            let tokens = Admin::open(context).await?.people.tokens().await?;
            if tokens.is_empty() {
                println!("No tokens yet: `tgw tokens create --user NAME` makes one.");
            }
            for token in tokens {
                let state = if token.revoked.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}  {:<24} {state:<8} {}",
                    token.id,
                    token.user,
                    scopes(&token.scopes)
                );
            }
        }
        TokensCommand::Revoke { id } => {
            let admin = Admin::open(context).await?;
            admin.people.revoke_token(&id).await?;
            admin
                .record(json!({"action": "revoke-token", "token": id}))
                .await?;
            println!("Token {id} is revoked.");
        }
    }
    Ok(())
}
