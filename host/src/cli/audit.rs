//! `tgw audit ...`: read and check the audit chain.

use clap::Subcommand;
use tgw::audit::Audit;

use super::Context;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash and its link to the one before.
    Verify {
        #[arg(long, env = "TGW_NATS")]
        nats: Option<String>,
    },
    /// Print the last entries.
    Tail {
        #[arg(short = 'n', long, default_value_t = 20)]
        count: u64,
        #[arg(long, env = "TGW_NATS")]
        nats: Option<String>,
    },
}

async fn open(context: &Context, nats: Option<&str>) -> anyhow::Result<Audit> {
    let backend = context.disk(nats).backend().await?;
    Ok(Audit::new(backend.log(tgw::backend::LogName::Audit)))
}

pub async fn run(context: &Context, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { nats } => {
            let audit = open(context, nats.as_deref()).await?;
            let count = audit
                .verify()
                .await
                .map_err(|e| anyhow::anyhow!("the audit chain is broken: {e}"))?;
            println!("The audit chain is intact: {count} entries.");
        }
        AuditCommand::Tail { count, nats } => {
            let audit = open(context, nats.as_deref()).await?;
            let last = audit.last().await?.map_or(0, |e| e.seq);
            let from = last.saturating_sub(count.saturating_sub(1)).max(1);
            for entry in audit.read(from, count as usize).await? {
                println!(
                    "{:>6}  {}  {:<18} {}  {}",
                    entry.seq, entry.ts, entry.kind, entry.call, entry.detail
                );
            }
        }
    }
    Ok(())
}
