//! The streams and buckets of a deployment, and the settings their safety
//! rests on. A gateway creates what is missing; every process checks what
//! it finds and refuses to start, naming the wrong setting and how to fix
//! it, rather than trust a nonce ledger that can forget or an audit stream
//! that can be purged.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::super::{BucketName, LogName};

pub const NONCES: &str = "TGW_NONCES";
pub const NONCE_SUBJECTS: &str = "tgw.nonces.>";

/// A grant lives at most 30 s and an executor allows 2 s of clock skew:
/// a spent nonce must be kept longer than that, or the grant could run
/// again once its nonce is forgotten.
pub const MIN_NONCE_AGE: Duration = Duration::from_secs(32);
/// What the gateway creates: a day, far past any grant.
const NONCE_AGE: Duration = Duration::from_secs(24 * 3600);

/// Who is opening the deployment: only a gateway creates streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opener {
    Gateway,
    /// An executor of a pool: the streams must exist already.
    Executor(String),
    /// A command that reads (`tgw audit`): the streams must exist already.
    Other,
}

impl Opener {
    /// The identity's name, as `tgw nats config` names its user and inbox.
    pub fn identity(&self) -> String {
        match self {
            Opener::Gateway => "gateway".into(),
            Opener::Executor(pool) => format!("executor_{pool}"),
            Opener::Other => "auditor".into(),
        }
    }
}

pub fn nonces_config() -> stream::Config {
    stream::Config {
        name: NONCES.into(),
        subjects: vec![NONCE_SUBJECTS.into()],
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        deny_delete: true,
        deny_purge: true,
        max_age: NONCE_AGE,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

pub fn audit_config() -> stream::Config {
    let audit = LogName::Audit;
    stream::Config {
        name: audit.name().into(),
        subjects: vec![audit.subjects().into()],
        deny_delete: true,
        deny_purge: true,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// The stream behind a KV bucket, with the settings a KV bucket has.
/// Created by hand: async-nats' `create_key_value` sends fields that the
/// nats-server of Debian stable (2.9) does not know.
pub fn bucket_config(bucket: BucketName) -> stream::Config {
    let name = bucket.name();
    stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: bucket.ttl().unwrap_or_default(),
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// Opens the stream of `config`, creating it if this is a gateway.
pub async fn open(
    js: &jetstream::Context,
    config: stream::Config,
    opener: &Opener,
) -> anyhow::Result<stream::Stream> {
    let name = config.name.clone();
    let stream = match opener {
        Opener::Gateway => js
            .get_or_create_stream(config)
            .await
            .map_err(|e| anyhow::anyhow!("creating or opening the {name} stream: {e}"))?,
        Opener::Executor(_) | Opener::Other => js.get_stream(&name).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot open the {name} stream: {e} (start a gateway, `tgw up --nats`, first; \
                 it creates the streams)"
            )
        })?,
    };
    Ok(stream)
}

/// What is wrong with a stream's settings, for the operator: one line per
/// setting, each saying how to fix it.
pub fn problems(config: &stream::Config) -> Vec<String> {
    let mut problems = Vec::new();
    let name = config.name.as_str();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("stream {name}: {what}"));
        }
    };
    if name == NONCES {
        need(
            config.subjects == [NONCE_SUBJECTS],
            &format!("must take exactly the subjects {NONCE_SUBJECTS}"),
        );
        need(
            config.max_messages_per_subject == 1,
            "must keep one message per subject (max_msgs_per_subject = 1), or a nonce could be spent twice",
        );
        need(
            config.discard == stream::DiscardPolicy::New && config.discard_new_per_subject,
            "must discard new messages per subject (discard = new, discard_new_per_subject), or a second spend would replace the first",
        );
        need(
            config.deny_delete,
            "must deny deleting messages (deny_delete), or a spent nonce could be removed and the grant run again",
        );
        need(
            config.deny_purge,
            "must deny purging (deny_purge), or every spent nonce could be removed at once",
        );
        need(
            config.max_age.is_zero() || config.max_age > MIN_NONCE_AGE,
            &format!(
                "keeps nonces for {} s, which is not longer than a grant's life plus leeway ({} s): set max_age above it",
                config.max_age.as_secs(),
                MIN_NONCE_AGE.as_secs()
            ),
        );
    }
    if name == LogName::Audit.name() {
        need(
            config.subjects == [LogName::Audit.subjects()],
            &format!(
                "must take exactly the subjects {} (one chain per writer)",
                LogName::Audit.subjects()
            ),
        );
        need(
            config.deny_delete,
            "must deny deleting messages (deny_delete), or entries could vanish",
        );
        need(
            config.deny_purge,
            "must deny purging (deny_purge), or the whole log could vanish",
        );
    }
    problems
}

/// Refuses a stream whose settings are unsafe, with what to change.
pub fn check(config: &stream::Config) -> anyhow::Result<()> {
    let problems = problems(config);
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to start: {}.\nFix the stream with `nats stream edit` (or delete it and let `tgw up` \
         create it, when nothing in it is needed), then start again.",
        problems.join(";\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_gateway_creates_passes_its_own_checks() {
        assert!(problems(&nonces_config()).is_empty());
        assert!(problems(&audit_config()).is_empty());
    }

    #[test]
    fn an_unsafe_nonce_stream_is_refused_naming_each_setting() {
        let config = stream::Config {
            deny_purge: false,
            max_age: Duration::from_secs(10),
            ..nonces_config()
        };
        let found = problems(&config);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("deny_purge"));
        assert!(found[1].contains("10 s"));
    }
}
