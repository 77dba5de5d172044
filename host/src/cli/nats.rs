//! `tgw nats ...`: the least-privilege NATS configuration of a deployment,
//! and the operator's word after recreating `TGW_NONCES` on purpose.

use std::path::PathBuf;

use clap::Subcommand;
use tgw::backend::nats::permissions::{self, Role};
use tgw::ids::Pool;

use super::Context;

#[derive(Subcommand)]
pub enum NatsCommand {
    /// Write a nats-server configuration with one nkey user per role (the
    /// gateway, each executor pool, a read-only auditor), their seeds
    /// (mode 0600), and with --tls-host a CA and server certificate.
    Config {
        /// The folder to write into (created; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// An executor pool to make a user for (repeat for several).
        #[arg(long = "pool", default_value = "default")]
        pools: Vec<Pool>,
        /// Where the server listens.
        #[arg(long, default_value = "127.0.0.1:4222")]
        listen: String,
        /// Make a TLS CA and a server certificate for these names or
        /// addresses (repeat for several); clients then need `tls://` and
        /// `--nats-ca <out>/ca.pem`.
        #[arg(long = "tls-host")]
        tls_hosts: Vec<String>,
    },
    /// Record the current TGW_NONCES as this deployment's, after it was
    /// deleted and made again on purpose (wait 60 s first: every grant
    /// issued before must have expired).
    AcceptNonces,
}

/// A CA, and a server certificate for `hosts` signed by it (PEM): the
/// CA's, the server's and the server key's.
fn tls_files(hosts: &[String]) -> anyhow::Result<(String, String, String)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Trust Gateway NATS CA");
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let mut server_params = rcgen::CertificateParams::new(hosts.to_vec())?;
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Trust Gateway NATS");
    let server_key = rcgen::KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca, &ca_key)?;
    Ok((ca.pem(), server.pem(), server_key.serialize_pem()))
}

pub async fn run(context: &Context, command: NatsCommand) -> anyhow::Result<()> {
    match command {
        NatsCommand::Config {
            out,
            pools,
            listen,
            tls_hosts,
        } => {
            tgw::paths::create_private_dir(&out)?;
            let mut roles: Vec<Role> = vec![permissions::gateway(), permissions::auditor()];
            roles.extend(pools.iter().map(|p| permissions::executor(p.as_str())));
            let mut users = Vec::new();
            for role in roles {
                let key = nkeys::KeyPair::new_user();
                let seed = key
                    .seed()
                    .map_err(|e| anyhow::anyhow!("cannot make an nkey: {e}"))?;
                tgw::paths::write_secret(&out.join(format!("{}.nk", role.name)), &seed)?;
                users.push((role, key.public_key()));
            }
            let tls = if tls_hosts.is_empty() {
                None
            } else {
                let (ca, cert, key) = tls_files(&tls_hosts)?;
                std::fs::write(out.join("ca.pem"), ca)?;
                std::fs::write(out.join("server.pem"), cert)?;
                tgw::paths::write_secret(&out.join("server-key.pem"), &key)?;
                Some(())
            };
            let abs = |name: &str| out.join(name).display().to_string();
            let (cert, key, ca) = (abs("server.pem"), abs("server-key.pem"), abs("ca.pem"));
            let config = permissions::server_config(
                &listen,
                &users,
                tls.map(|()| (cert.as_str(), key.as_str(), ca.as_str())),
            );
            std::fs::write(out.join("nats-server.conf"), config)?;
            println!("Wrote {}:", out.display());
            println!(
                "  nats-server.conf   start with `nats-server -c {}/nats-server.conf -sd <store dir>`",
                out.display()
            );
            for (role, public) in &users {
                println!("  {:<18} {public}", format!("{}.nk", role.name));
            }
            if !tls_hosts.is_empty() {
                println!(
                    "  ca.pem, server.pem, server-key.pem (TLS for {})",
                    tls_hosts.join(", ")
                );
            }
            println!(
                "Give each process its seed: `tgw up --no-executor --nats-nkey gateway.nk`, \
                 `tgw executor --pool P --nats-nkey executor_P.nk`, `tgw audit verify --nats-nkey auditor.nk`."
            );
        }
        NatsCommand::AcceptNonces => {
            let backend = context.disk().gateway_backend().await?;
            tgw::app::accept_nonce_ledger(&backend).await?;
            println!("TGW_NONCES is recorded as this deployment's nonce ledger.");
        }
    }
    Ok(())
}
