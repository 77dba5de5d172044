//! `tgw skill ...`: list skills, show their tools, run one call locally;
//! make and build them (`skill_new.rs`); publish, sign, install, verify and
//! update them (`skill_registry.rs`).

use clap::Subcommand;
use tgw::registry::{self, Skill};
use tgw::runtime::{CallOutcome, CallUpdate, Runtime, UpdateSink};
use tgw::secrets::SecretStore;

use super::Context;

#[derive(Subcommand)]
pub enum SkillCommand {
    /// List the skills in the skills folder, and any bad manifests.
    List,
    /// Print a skill's tools with their risk and input schema.
    Tools { skill: String },
    /// Run one tool call in the sandbox, locally, for development.
    ///
    /// This is a skill author's tool: it applies the skill's sandbox
    /// (directories, hosts, secrets, fuel, memory and time limits) but no
    /// policy, no approval and no execution grant. Agents never reach it.
    Call {
        skill: String,
        tool: String,
        /// The arguments, a JSON object.
        #[arg(default_value = "{}")]
        args: String,
    },
    /// Make a skill crate in ./NAME from a template: one tool, its test,
    /// and a skill.toml. It builds and tests as it is.
    New {
        name: String,
        /// The sdk/skill-v0-2 folder of a Trust Gateway checkout (default:
        /// the one this tgw was built from).
        #[arg(long)]
        sdk: Option<std::path::PathBuf>,
    },
    /// Build a skill crate's wasm32-wasip2 component next to its skill.toml.
    Build {
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
    },
    /// Sign a skill folder with this machine's publisher key and push it
    /// to an OCI registry as REF (`host[:port]/repository:version`).
    Publish {
        dir: std::path::PathBuf,
        reference: String,
        /// Talk HTTP, not HTTPS, to the registry (one on loopback).
        #[arg(long)]
        plain_http: bool,
    },
    /// Sign a component someone else pushed (`wkg oci push`) as REF: the
    /// registry's bytes must be the folder DIR's component; its
    /// skill.toml and this machine's publisher signature are attached.
    Sign {
        dir: std::path::PathBuf,
        reference: String,
        #[arg(long)]
        plain_http: bool,
    },
    /// Pull REF (by tag or `@sha256:` digest), check its signature against
    /// trust.toml, pin it in skills.lock and put it in the skills folder.
    Install {
        reference: String,
        #[arg(long)]
        plain_http: bool,
    },
    /// Check every skill folder (or NAME) as the host will: exits non-zero
    /// if any would be left out.
    Verify { name: Option<String> },
    /// Pull the reference NAME was installed from and show what changed;
    /// install it if nothing widens, or with --yes (an admin's yes).
    Update {
        name: String,
        /// Install even if the update widens what the skill may do.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        plain_http: bool,
    },
}

pub async fn run(context: &Context, command: SkillCommand) -> anyhow::Result<()> {
    match command {
        SkillCommand::List => list(context),
        SkillCommand::Tools { skill } => tools(context, &skill).await,
        SkillCommand::Call { skill, tool, args } => call(context, &skill, &tool, &args).await,
        SkillCommand::New { name, sdk } => super::skill_new::new(&name, sdk.as_deref()),
        SkillCommand::Build { dir } => super::skill_new::build(&dir),
        SkillCommand::Publish {
            dir,
            reference,
            plain_http,
        } => super::skill_registry::publish(context, &dir, &reference, plain_http).await,
        SkillCommand::Sign {
            dir,
            reference,
            plain_http,
        } => super::skill_registry::sign(context, &dir, &reference, plain_http).await,
        SkillCommand::Install {
            reference,
            plain_http,
        } => super::skill_registry::install(context, &reference, plain_http).await,
        SkillCommand::Verify { name } => super::skill_registry::verify(context, name.as_deref()),
        SkillCommand::Update {
            name,
            yes,
            plain_http,
        } => super::skill_registry::update(context, &name, yes, plain_http).await,
    }
}

fn list(context: &Context) -> anyhow::Result<()> {
    let (skills, errors) = registry::load_all(&context.skills_dir, &|_| None)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", context.skills_dir.display()))?;
    if skills.is_empty() && errors.is_empty() {
        println!(
            "No skills in {}. A skill is a folder with a skill.toml.",
            context.skills_dir.display()
        );
    }
    for skill in &skills {
        let built = if skill.component_path().exists() {
            ""
        } else {
            "  (component not built)"
        };
        println!(
            "{:<16} {:<8} {}{built}",
            skill.name(),
            skill.manifest.version,
            skill.dir.display()
        );
    }
    for error in &errors {
        eprintln!("bad manifest: {error}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} skill manifest(s) could not be used", errors.len())
    }
}

fn runtime(context: &Context) -> anyhow::Result<Runtime> {
    Runtime::new(Some(&context.data_dir.join("cache").join("components")))
}

fn print_guest_output<T>(outcome: &CallOutcome<T>) {
    for (stream, text) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if !text.is_empty() {
            eprintln!("--- component {stream} ---\n{}", text.trim_end());
        }
    }
}

fn load(context: &Context, name: &str) -> anyhow::Result<(Skill, Runtime)> {
    let skill = registry::find(&context.skills_dir, name)?;
    Ok((skill, runtime(context)?))
}

async fn tools(context: &Context, name: &str) -> anyhow::Result<()> {
    let (skill, runtime) = load(context, name)?;
    let component = runtime.load_file(&skill.component_path())?;
    let spec = skill.sandbox(&SecretStore::new(&context.data_dir));
    let outcome = runtime.tools(&component, &spec).await;
    print_guest_output(&outcome);
    println!(
        "{} {} ({})",
        skill.name(),
        skill.manifest.version,
        component.digest
    );
    let tools = registry::with_manifest_risks(&skill.manifest, outcome.result?)
        .map_err(|e| anyhow::anyhow!("skill {} cannot be served: {e}", skill.name()))?;
    for tool in tools {
        println!(
            "\n{}.{}  [{}]\n  {}",
            skill.name(),
            tool.name,
            tool.risk,
            tool.description
        );
        println!(
            "  input schema: {}",
            serde_json::to_string_pretty(&tool.input_schema)?.replace('\n', "\n  ")
        );
    }
    Ok(())
}

async fn call(context: &Context, name: &str, tool: &str, args: &str) -> anyhow::Result<()> {
    let parsed: serde_json::Value = serde_json::from_str(args)
        .map_err(|e| anyhow::anyhow!("the arguments are not JSON: {e}"))?;
    if !parsed.is_object() {
        anyhow::bail!("the arguments must be a JSON object, like '{{\"path\": \"hello.txt\"}}'");
    }
    let (skill, runtime) = load(context, name)?;
    let component = runtime.load_file(&skill.component_path())?;
    let spec = skill.sandbox(&SecretStore::new(&context.data_dir));
    // A 0.2.0 skill's progress and log lines, on stderr as they come.
    let (sink, mut updates) = UpdateSink::channel();
    let printing = tokio::spawn(async move {
        while let Some(update) = updates.recv().await {
            match update {
                CallUpdate::Progress {
                    done,
                    total,
                    message,
                } => eprintln!(
                    "progress {done}{} {}",
                    total.map(|t| format!("/{t}")).unwrap_or_default(),
                    message.unwrap_or_default()
                ),
                CallUpdate::Log { level, message } => eprintln!("log {level:?}: {message}"),
            }
        }
    });
    let outcome = runtime
        .invoke(&component, &spec, tool, args, Some(sink))
        .await;
    let _ = printing.await;
    print_guest_output(&outcome);
    let output = outcome.result?;
    match serde_json::from_str::<serde_json::Value>(&output.text) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json)?),
        Err(_) => println!("{}", output.text),
    }
    Ok(())
}
