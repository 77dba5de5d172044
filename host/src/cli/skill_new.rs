//! `tgw skill new NAME` and `tgw skill build [DIR]`: a skill crate from a
//! template that builds and tests as it is, and its component built next to
//! its `skill.toml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tgw::registry::Skill;

/// The skill SDK of the checkout this `tgw` was built from; `--sdk`
/// points elsewhere.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/skill-v0-2")
}

/// `tgw skill new NAME [--sdk PATH]`: the crate in `./NAME`.
pub fn new(name: &str, sdk: Option<&Path>) -> anyhow::Result<()> {
    let name: tgw::ids::SkillName = name.parse().map_err(|e| anyhow::anyhow!("{name:?}: {e}"))?;
    let dir = PathBuf::from(name.as_str());
    if dir.exists() {
        anyhow::bail!(
            "{} exists already: pick another name or folder",
            dir.display()
        );
    }
    let sdk = sdk.map_or_else(default_sdk, Path::to_path_buf);
    let sdk = sdk.canonicalize().map_err(|e| {
        anyhow::anyhow!(
            "the skill SDK is not at {} ({e}): pass --sdk PATH to the sdk/skill-v0-2 folder of a Trust Gateway checkout",
            sdk.display()
        )
    })?;
    let crate_name = format!("skill-{name}");
    let component = format!("{}.wasm", crate_name.replace('-', "_"));
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(dir.join("Cargo.toml"), cargo_toml(&crate_name, &sdk))?;
    std::fs::write(
        dir.join("skill.toml"),
        skill_toml(name.as_str(), &component),
    )?;
    std::fs::write(dir.join("src/lib.rs"), LIB_RS)?;
    std::fs::write(dir.join(".gitignore"), "/target\n/*.wasm\n")?;
    println!(
        "Created the skill {name} in {}/: `cargo test` tests its logic, `tgw skill build {name}` builds its \
         component, and `tgw --skills-dir . skill call {name} greet '{{\"name\": \"Ada\"}}'` runs it.",
        dir.display()
    );
    Ok(())
}

/// `tgw skill build [DIR]`: `cargo build` for `wasm32-wasip2`, and the
/// component copied to where `skill.toml` says it is.
pub fn build(dir: &Path) -> anyhow::Result<()> {
    let skill = Skill::load(dir)?;
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| anyhow::anyhow!("{}: no Cargo.toml ({e})", dir.display()))?;
    let package: toml::Table = toml::from_str(&cargo_toml)
        .map_err(|e| anyhow::anyhow!("{}/Cargo.toml: {e}", dir.display()))?;
    let crate_name = package
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("{}/Cargo.toml names no package", dir.display()))?
        .replace('-', "_");
    let target_dir = dir.join("target");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| {
            anyhow::anyhow!(
                "running cargo: {e} (is Rust installed, with `rustup target add wasm32-wasip2`?)"
            )
        })?;
    if !status.success() {
        anyhow::bail!("cargo could not build {} (see above)", dir.display());
    }
    let built = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"));
    std::fs::copy(&built, skill.component_path())
        .map_err(|e| anyhow::anyhow!("copying {}: {e}", built.display()))?;
    let digest = tgw::ids::Digest::of(&std::fs::read(skill.component_path())?);
    println!(
        "Built {} {} into {} ({digest}).",
        skill.name(),
        skill.manifest.version,
        skill.component_path().display()
    );
    // A build of its own loads only signed, or in development mode.
    println!(
        "Publish it with `tgw skill publish {} REF`, or try it unsigned with `tgw --dev up`.",
        dir.display()
    );
    Ok(())
}

fn cargo_toml(crate_name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

# The skill's logic builds and tests natively (`cargo test`); the bindings
# to the gateway exist only in the component (`tgw skill build`).
[target.'cfg(target_arch = "wasm32")'.dependencies]
tgw-skill-sdk-v0-2 = {{ path = {sdk:?} }}

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# A crate of its own, not a member of a workspace around it.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

fn skill_toml(name: &str, component: &str) -> String {
    format!(
        r#"# The skill {name}: what it is, and what its sandbox may touch.
name = "{name}"
version = "0.1.0"
component = "{component}"

[capabilities]
# dirs = [{{ host = "data", guest = "/data", access = "read" }}]
# http = ["api.example.com"]
fuel = 1_000_000_000
memory_mib = 64
timeout_ms = 5000

# The risk of each tool, as operators accept it (read, write or
# destructive); a tool not listed here is destructive.
[tools.greet]
risk = "read"
"#
    )
}

const LIB_RS: &str = r##"//! A Trust Gateway skill (`tgw:skill@0.2.0`): its tools' logic in plain
//! Rust (tested with `cargo test`), and the component's bindings below it.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreetArgs {
    pub name: String,
}

/// The `greet` tool: its answer, as structured content.
pub fn greet(args: &GreetArgs) -> Result<Value, String> {
    if args.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    Ok(json!({ "greeting": format!("Hello, {}!", args.name) }))
}

#[cfg(target_arch = "wasm32")]
mod component {
    use tgw_skill_sdk_v0_2::{Answer, Guest, Risk, Tool, ToolError, ToolResult};

    struct Skill;

    impl Guest for Skill {
        fn tools() -> Vec<Tool> {
            vec![tgw_skill_sdk_v0_2::tool(
                "greet",
                "Greets someone by name.",
                Risk::Read,
                serde_json::json!({
                    "type": "object",
                    "properties": { "name": { "type": "string" } },
                    "required": ["name"],
                    "additionalProperties": false
                }),
                // What its structured content holds: the gateway checks
                // every answer against it.
                Some(serde_json::json!({
                    "type": "object",
                    "properties": { "greeting": { "type": "string" } },
                    "required": ["greeting"]
                })),
            )]
        }

        fn invoke(tool: String, args_json: String) -> Result<Answer, ToolError> {
            match tool.as_str() {
                "greet" => {
                    let args = tgw_skill_sdk_v0_2::parse_args(&args_json)?;
                    let greeting = super::greet(&args).map_err(ToolError::Failed)?;
                    Ok(ToolResult::json(&greeting).into())
                }
                _ => Err(ToolError::UnknownTool(tool)),
            }
        }
    }

    tgw_skill_sdk_v0_2::export!(Skill);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name_and_refuses_an_empty_one() {
        let answer = greet(&GreetArgs { name: "Ada".into() }).unwrap();
        assert_eq!(answer, json!({ "greeting": "Hello, Ada!" }));
        assert!(greet(&GreetArgs { name: " ".into() }).is_err());
    }
}
"##;
