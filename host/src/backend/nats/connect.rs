//! How a process connects to NATS: the server's URL, one way to prove who
//! it is (an nkey seed, a credentials file for operator mode, a user and
//! password, or a token), and TLS. Every command that connects takes the
//! same flags, each with an environment variable in the style of
//! `TGW_NATS`.

use std::path::PathBuf;
use std::time::Duration;

/// Where NATS is and who we are there.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct NatsConfig {
    /// Put state, audit and executor traffic on NATS (JetStream) at this
    /// URL instead of the embedded backend (`nats://host:4222`, or
    /// `tls://host:4222` to require TLS).
    #[arg(long = "nats", env = "TGW_NATS", global = true)]
    pub url: Option<String>,
    /// An nkey seed file (`SU…`): the user of a config-file account, as
    /// `tgw nats config` makes them.
    #[arg(long = "nats-nkey", env = "TGW_NATS_NKEY", global = true)]
    pub nkey: Option<PathBuf>,
    /// A credentials file (user JWT and seed), for servers in operator mode.
    #[arg(long = "nats-creds", env = "TGW_NATS_CREDS", global = true)]
    pub creds: Option<PathBuf>,
    #[arg(long = "nats-user", env = "TGW_NATS_USER", global = true)]
    pub user: Option<String>,
    #[arg(
        long = "nats-password",
        env = "TGW_NATS_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub password: Option<String>,
    #[arg(
        long = "nats-token",
        env = "TGW_NATS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The CA that signed the server's certificate (PEM); implies TLS.
    #[arg(long = "nats-ca", env = "TGW_NATS_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM), with `--nats-key`, for servers that
    /// verify clients.
    #[arg(long = "nats-cert", env = "TGW_NATS_CERT", global = true)]
    pub cert: Option<PathBuf>,
    #[arg(long = "nats-key", env = "TGW_NATS_KEY", global = true)]
    pub key: Option<PathBuf>,
}

impl NatsConfig {
    /// An unauthenticated connection to `url` (tests, open servers).
    pub fn url(url: impl Into<String>) -> Self {
        NatsConfig {
            url: Some(url.into()),
            ..NatsConfig::default()
        }
    }

    /// Connects as the configured identity; `name` is how the server's
    /// monitoring shows the connection, and names its inbox prefix
    /// (`_INBOX_<name>`), so that the least-privilege configuration of
    /// `tgw nats config` can let each identity read only its own replies.
    pub async fn connect(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        crate::tls::install_crypto_provider();
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no NATS URL: pass --nats or set TGW_NATS"))?;
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .custom_inbox_prefix(inbox_prefix(name))
            .name(name);
        let ways = [
            self.nkey.is_some(),
            self.creds.is_some(),
            self.user.is_some(),
            self.token.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            anyhow::bail!(
                "give one of --nats-nkey, --nats-creds, --nats-user or --nats-token, not several"
            );
        }
        if let Some(path) = &self.nkey {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading the nkey seed {}: {e}", path.display()))?;
            let seed = seed.trim().to_owned();
            nkeys::KeyPair::from_seed(&seed)
                .map_err(|e| anyhow::anyhow!("{} is not an nkey seed: {e}", path.display()))?;
            options = options.nkey(seed);
        }
        if let Some(path) = &self.creds {
            options = options.credentials_file(path).await.map_err(|e| {
                anyhow::anyhow!("reading the credentials file {}: {e}", path.display())
            })?;
        }
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                options = options.user_and_password(user.clone(), password.clone());
            }
            (Some(_), None) => anyhow::bail!("--nats-user needs --nats-password"),
            (None, Some(_)) => anyhow::bail!("--nats-password needs --nats-user"),
            (None, None) => {}
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &self.ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                options = options
                    .add_client_certificate(cert.clone(), key.clone())
                    .require_tls(true);
            }
            (None, None) => {}
            _ => anyhow::bail!("--nats-cert and --nats-key go together"),
        }
        if url.starts_with("tls://") {
            options = options.require_tls(true);
        }
        options
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))
    }
}

/// The inbox prefix of the identity `name` (`gateway`, `executor_<pool>`,
/// `auditor`).
pub fn inbox_prefix(name: &str) -> String {
    format!("_INBOX_{name}")
}
