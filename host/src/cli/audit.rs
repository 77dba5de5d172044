//! `tgw audit ...`: read, export and check the audit log (every chain).

use std::path::PathBuf;

use clap::Subcommand;
use tgw::audit::{Audit, AuditReport, AuditTrust};
use tgw::backend::nats::Opener;
use tgw::backend::{BucketName, LogName};
use tgw::keys::KeyStore;

use super::Context;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every chain: each entry's hash, signature and link to the one
    /// before, and each chain against its writer's signed checkpoint.
    /// Exits non-zero on any problem.
    Verify {
        /// Check a `tgw audit export` file instead, offline.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Write every entry and checkpoint as JSONL (to standard output, or
    /// `--out`), for `tgw audit verify --file`.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the last entries, across chains.
    Tail {
        #[arg(short = 'n', long, default_value_t = 20)]
        count: usize,
    },
}

/// The keys the log's entries may be signed with: this data dir's trusted
/// gateway keys and executor keys (its own executor key included).
fn trust(context: &Context) -> anyhow::Result<AuditTrust> {
    let keys = KeyStore::new(&context.data_dir);
    let mut executors = keys.trusted_executors()?;
    if context.data_dir.join("keys").join("executor.key").exists() {
        executors.push(tgw::grant::TrustedKey::new(
            keys.executor_key()?.verifying_key(),
        ));
    }
    Ok(AuditTrust {
        gateways: keys.trusted()?,
        executors,
    })
}

async fn open(context: &Context) -> anyhow::Result<Audit> {
    let backend = context.disk().backend(Opener::Other).await?;
    Ok(Audit::reader(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        trust(context)?,
    ))
}

fn report(report: &AuditReport) -> anyhow::Result<()> {
    for chain in &report.chains {
        println!("  {:<48} {} entries", chain.writer, chain.entries);
    }
    if report.intact() {
        println!(
            "The audit log is intact: {} entries in {} chains.",
            report.entries(),
            report.chains.len()
        );
        return Ok(());
    }
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    anyhow::bail!(
        "the audit log does not verify: {} problems",
        report.problems.len()
    )
}

pub async fn run(context: &Context, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { file: Some(file) } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let (entries, checkpoints, mut unreadable) = tgw::audit::read_export(&text);
            let mut found = tgw::audit::check(&entries, &checkpoints, &trust(context)?);
            unreadable.append(&mut found.problems);
            found.problems = unreadable;
            report(&found)
        }
        AuditCommand::Verify { file: None } => report(&open(context).await?.verify().await?),
        AuditCommand::Export { out } => {
            let audit = open(context).await?;
            let count = match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    let count = audit.export(&mut file).await?;
                    std::io::Write::flush(&mut file)?;
                    count
                }
                None => audit.export(&mut std::io::stdout().lock()).await?,
            };
            eprintln!("Exported {count} entries.");
            Ok(())
        }
        AuditCommand::Tail { count } => {
            let entries = open(context).await?.entries().await?;
            for entry in entries.iter().skip(entries.len().saturating_sub(count)) {
                println!(
                    "{:<32} {:>6}  {}  {:<18} {}  {}",
                    entry.writer, entry.seq, entry.ts, entry.kind, entry.call, entry.detail
                );
            }
            Ok(())
        }
    }
}
