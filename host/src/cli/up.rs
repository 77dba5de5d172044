//! `tgw up` (the whole gateway) and `tgw executor` (an executor on its own,
//! for another machine).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tgw::app::{App, AppParts, ExecutorParts, start_executor};
use tgw::backend::BucketName;
use tgw::gateway::GatewayConfig;
use tgw::ids::Pool;
use tgw::keys::KeyStore;
use tgw::people::Role;
use tgw::registry::LiveSkills;
use tgw::registry::served::FromGateway;
use tgw::secrets::SecretStore;
use tgw::webauthn::RelyingParty;

use super::Context;

#[derive(Args)]
pub struct UpArgs {
    /// The policy file; reloaded when it changes.
    #[arg(long, env = "TGW_POLICY", default_value = "policy/default.toml")]
    policy: PathBuf,
    /// The executor pool grants are issued for.
    #[arg(long, default_value = "default")]
    pool: Pool,
    /// Where the gateway listens: the dashboard, its API, MCP, OAuth and
    /// /healthz.
    #[arg(long, env = "TGW_LISTEN", default_value = "127.0.0.1:8400")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "TGW_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TGW_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not run an executor in this process (executors run elsewhere,
    /// with `tgw executor`).
    #[arg(long)]
    no_executor: bool,
    /// Seconds a call waits for a human approval (an MCP tool call stays
    /// open that long; Claude gives up on a call after 300).
    #[arg(long, default_value_t = 240)]
    approval_expiry_secs: u64,
    /// The URL people reach the gateway at: it sets the passkeys' relying
    /// party (its host) and the one allowed origin. Default
    /// http://localhost:PORT.
    #[arg(long, env = "TGW_PUBLIC_URL")]
    public_url: Option<String>,
    /// Forbid approving one's own proposals.
    #[arg(long)]
    four_eyes: bool,
}

#[derive(Args)]
pub struct ExecutorArgs {
    /// The pool to serve; executors of one pool share its work.
    #[arg(long, default_value = "default")]
    pool: Pool,
    /// The gateway's public URL (as given to `tgw up`): approvals' passkey
    /// assertions are checked against it.
    #[arg(long, env = "TGW_PUBLIC_URL", default_value = "http://localhost:8400")]
    public_url: String,
}

/// The relying party of `url`: its host is the RP ID, its origin the one
/// allowed origin.
pub fn relying_party(url: &str) -> anyhow::Result<RelyingParty> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("--public-url {url:?}: {e}"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        anyhow::bail!(
            "--public-url {url:?} needs a scheme and a host, like https://gateway.example.com"
        );
    };
    if scheme != "https" && authority.host() != "localhost" {
        anyhow::bail!("--public-url {url:?}: passkeys need https (or http://localhost)");
    }
    Ok(RelyingParty {
        id: authority.host().to_owned(),
        origin: format!("{scheme}://{authority}"),
    })
}

pub async fn up(context: &Context, args: UpArgs) -> anyhow::Result<()> {
    let public_url = args.public_url.clone().unwrap_or_else(|| {
        let scheme = if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://localhost:{}", args.listen.port())
    });
    let config = GatewayConfig {
        pool: args.pool.clone(),
        approval_expiry: Duration::from_secs(args.approval_expiry_secs),
        relying_party: relying_party(&public_url)?,
        four_eyes: args.four_eyes,
        ..GatewayConfig::default()
    };
    let disk = context.disk();
    let (parts, loaded) =
        AppParts::load(&disk, args.policy.clone(), config, !args.no_executor).await?;
    if let Some(kid) = loaded.new_signing_key {
        eprintln!("Created the grant signing key {kid} (first start).");
    }
    let mut app = App::build(parts).await?;
    app.watch_files();
    app.watch_keys(&context.data_dir);
    let enrollment = if app.people.has_admin().await? {
        None
    } else {
        let invitation = app.people.invite(Role::Admin).await?;
        Some(format!("{public_url}/enroll#{}", invitation.token))
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let router = app.router();
    let loaded = app.skills.current();
    let names: Vec<&str> = loaded.iter().map(|s| s.skill.name()).collect();
    println!("Trust Gateway is up.");
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("  listening on  {scheme}://{}", args.listen);
    println!("  dashboard     {public_url}/");
    println!(
        "  MCP           {public_url}/v1/mcp  (Streamable HTTP; legacy SSE at /v1/mcp/sse; \
         OAuth for Claude.ai, or a token from `tgw tokens create --user NAME`)"
    );
    println!("  Claude.ai     check with `tgw connect claude-ai --url {public_url}`");
    println!(
        "  skills        {}",
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    );
    for why in loaded.refused() {
        println!("  left out      {why}");
    }
    if loaded.dev() {
        println!(
            "  DEVELOPMENT   --dev: unsigned skill folders load; never run a deployment like this"
        );
    }
    println!(
        "  policy        {} ({})",
        args.policy.display(),
        app.policy.current().digest
    );
    println!("  bus           {}", app.backend.description);
    println!(
        "  executor      {}",
        if args.no_executor {
            "none in this process".to_owned()
        } else {
            format!("in-process, pool {}", args.pool)
        }
    );
    if let Some(link) = enrollment {
        println!("  first admin   no admin yet: enroll with a passkey at {link}");
        println!(
            "                (single use, valid 15 minutes; `tgw users invite --role admin` makes another)"
        );
    }
    println!("Stop with Ctrl-C.");
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = tgw::tls::server_config(cert, key)?;
            // The peer's address reaches the handlers: refusals of anonymous
            // requests are counted per source.
            let service = router.into_make_service_with_connect_info::<tgw::tls::Peer>();
            axum::serve(tgw::tls::TlsListener::new(listener, config)?, service)
                .with_graceful_shutdown(shutdown())
                .await?;
        }
        _ => {
            // Without TCP_NODELAY a streamed answer (SSE) waits ~40 ms for
            // the client's delayed ACK between writes.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown())
                .await?;
        }
    }
    // The anonymous refusals counted since the last summary.
    app.api.doors.summarise().await;
    Ok(())
}

pub async fn executor(context: &Context, args: ExecutorArgs) -> anyhow::Result<()> {
    if context.nats.url.is_none() {
        anyhow::bail!("an executor on its own needs NATS: pass --nats URL (or set TGW_NATS)");
    }
    let disk = context.disk();
    let keys = KeyStore::new(&context.data_dir);
    let trusted = tgw::trust::LiveTrust::fixed(keys.trusted()?);
    let (seed, new) = keys.executor_seed()?;
    let key = Arc::new(tgw::jws::JwsSigner::from_seed(&seed));
    let public = tgw::keys::public_entry(&tgw::grant::TrustedKey::new(key.verifying_key()));
    if new {
        eprintln!("Created this executor's key {} (first start).", public.kid);
    }
    let runtime = disk.runtime()?;
    let secrets = Arc::new(SecretStore::new(&context.data_dir));
    let backend = disk
        .backend(tgw::backend::nats::Opener::Executor(args.pool.to_string()))
        .await?;
    // It runs exactly what the gateway serves, fetched by digest: its
    // skills folder holds only the skills' data.
    let blobs = backend
        .blobs
        .clone()
        .ok_or_else(|| anyhow::anyhow!("this backend has no object store of skills"))?;
    let (sealed, _) = backend
        .clone()
        .seal(&tgw::app::logging_reader(trusted.current()));
    let skills = LiveSkills::from_gateway(
        runtime.clone(),
        FromGateway {
            people: sealed.bucket(BucketName::People),
            blobs,
            data_dir: context.skills_dir.clone(),
        },
        secrets.clone(),
    )
    .await?;
    let _skills_watch = skills.watch(Duration::from_secs(1));
    let description = backend.description.clone();
    let (executor, serving) = start_executor(ExecutorParts {
        pool: args.pool.clone(),
        backend,
        runtime,
        skills: skills.clone(),
        trusted: trusted.clone(),
        key,
        secrets,
        relying_party: relying_party(&args.public_url)?,
    })
    .await?;
    let watched = KeyStore::new(&context.data_dir);
    let _keys_watch = trusted.watch(
        "the trusted gateway keys (keys/trusted.json)",
        Duration::from_secs(1),
        executor.audit().clone(),
        move || watched.trusted(),
    );
    let loaded = skills.current();
    let names: Vec<&str> = loaded.iter().map(|s| s.skill.name()).collect();
    println!(
        "Executor key {} (the gateway must trust it: `tgw executors trust {} {}`).",
        public.kid, public.kid, public.public_key
    );
    let what = if names.is_empty() {
        "no skills yet (it runs what the gateway serves, once the gateway has published it)"
            .to_owned()
    } else {
        names.join(", ")
    };
    println!(
        "Executor of pool {} serving {what} over {description}. Stop with Ctrl-C.",
        args.pool,
    );
    tokio::select! {
        () = shutdown() => {}
        _ = serving => anyhow::bail!("the connection to NATS closed"),
    }
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("Stopping.");
}
