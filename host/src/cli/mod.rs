//! The command line: one subcommand group per concern.

mod audit;
mod claude_ai;
mod connect;
mod executors;
mod http;
mod keys;
mod mcp;
mod nats;
mod publisher;
mod secrets;
mod skill;
mod skill_new;
mod skill_registry;
mod tokens;
mod up;
mod users;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tgw",
    version,
    about = "Trust Gateway: agents propose, the gateway decides, executors verify."
)]
pub struct Cli {
    /// Where the gateway keeps its state (keys, secrets, compile cache).
    #[arg(long, env = "TGW_DATA_DIR", global = true, default_value_os_t = tgw::paths::default_data_dir())]
    data_dir: PathBuf,

    /// The folder of skill folders (each with a skill.toml); for `tgw
    /// executor`, which runs what the gateway serves, only their data.
    #[arg(long, env = "TGW_SKILLS_DIR", global = true, default_value = "skills")]
    skills_dir: PathBuf,

    #[command(flatten)]
    nats: tgw::backend::nats::NatsConfig,

    /// Development mode: load skill folders that are neither signed nor
    /// built from this checkout (the dashboard says so). Never for a
    /// deployment.
    #[arg(long, env = "TGW_DEV", global = true)]
    dev: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: policy, approvals, grants and an executor, on the
    /// embedded bus (or NATS with --nats).
    Up(up::UpArgs),
    /// Run an executor on its own, for another machine (NATS): it runs the
    /// skills the gateway serves, fetched from TGW_SKILLS by digest.
    Executor(up::ExecutorArgs),
    /// People: invitations, users, disabling.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// MCP for clients that speak stdio (Claude Desktop).
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Print (or write) the configuration that connects a client.
    #[command(subcommand)]
    Connect(connect::ConnectCommand),
    /// Personal access tokens for MCP clients.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Inspect and try skills (for skill authors).
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Manage the keys that sign execution grants.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Which executors' signed answers the gateway believes.
    #[command(subcommand)]
    Executors(executors::ExecutorsCommand),
    /// The least-privilege NATS configuration of a deployment.
    #[command(subcommand)]
    Nats(nats::NatsCommand),
    /// Publisher keys, and which publishers may publish which skills.
    #[command(subcommand)]
    Publisher(publisher::PublisherCommand),
    /// Set the secrets that the host injects into a skill's HTTP requests.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
}

/// Paths every command may need.
pub struct Context {
    pub data_dir: PathBuf,
    pub skills_dir: PathBuf,
    /// NATS, when `--nats` is given (embedded without).
    pub nats: tgw::backend::nats::NatsConfig,
    /// `--dev`: unsigned skill folders load.
    pub dev: bool,
}

impl Context {
    /// Where the gateway's configuration is, and its backend.
    pub fn disk(&self) -> tgw::app::DiskConfig {
        tgw::app::DiskConfig {
            data_dir: self.data_dir.clone(),
            skills_dir: self.skills_dir.clone(),
            nats: self.nats.clone(),
            dev: self.dev,
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context {
        data_dir: cli.data_dir,
        skills_dir: cli.skills_dir,
        nats: cli.nats,
        dev: cli.dev,
    };
    match cli.command {
        Command::Skill(command) => skill::run(&context, command).await,
        Command::Secrets(command) => secrets::run(&context, command),
        Command::Keys(command) => keys::run(&context, command),
        Command::Executors(command) => executors::run(&context, command),
        Command::Publisher(command) => publisher::run(&context, command),
        Command::Nats(command) => nats::run(&context, command).await,
        Command::Up(args) => up::up(&context, args).await,
        Command::Executor(args) => up::executor(&context, args).await,
        Command::Audit(command) => audit::run(&context, command).await,
        Command::Tokens(command) => tokens::run(&context, command).await,
        Command::Mcp(command) => mcp::run(command).await,
        Command::Connect(command) => connect::run(command).await,
        Command::Users(command) => users::run(&context, command).await,
    }
}
