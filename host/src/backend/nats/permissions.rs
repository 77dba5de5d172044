//! The least-privilege NATS configuration of a deployment: one nkey user
//! per role in a config-file account (nats-server 2.9 supports these;
//! operator mode cannot be mixed with users in the config file), and what
//! each may publish and subscribe. This is the one place a permission is
//! granted; `tgw nats config` writes it out, and each permission has a
//! test that its absence is refused (`host/tests/nats_permissions.rs`).
//!
//! - The gateway creates the streams, writes approvals, people, OAuth
//!   state and tasks, sends execution requests (and orders to stop them) and appends its own audit chain. It
//!   runs no executor (`tgw up --no-executor`), so it spends no nonces.
//! - An executor of pool P takes only P's requests, answers them (at most
//!   an acknowledgement and an answer each), publishes the signed updates
//!   of the tools it runs on `tgw.updates.P.>` (the gateway hears them
//!   there), hears the gateway's orders to stop one on `tgw.stop.P`, spends
//!   nonces, appends the
//!   audit chains of pool P and reads (never writes) the people records
//!   its approval floor checks. It cannot read or write approvals or OAuth
//!   state, nor join another pool.
//! - Both read skill components from the object store `TGW_SKILLS`; only
//!   the gateway writes there.
//! - The auditor reads the audit stream and its checkpoints, nothing else.
//!
//! Nobody may delete, purge or reconfigure a stream.

use super::connect::inbox_prefix;
use super::objects;
use super::streams::NONCES;
use crate::backend::{BucketName, LogName};

/// One user of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `gateway`, `executor_<pool>`, `auditor`: the file its seed is in.
    pub name: String,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// How many answers it may send to each request it received.
    pub responses: Option<u32>,
}

/// What nobody may do, whatever else is allowed.
pub const DENIED: [&str; 5] = [
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
];

fn kv(bucket: BucketName) -> String {
    format!("KV_{}", bucket.name())
}

/// How a role reads a KV bucket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Gets by key: the bucket's info and direct gets of a key's last
    /// value.
    Keys,
    /// Gets, and listing its keys: an ordered consumer, whose flow control
    /// the reader answers.
    AndList,
}

fn read_bucket(bucket: BucketName, read: Read) -> Vec<String> {
    let stream = kv(bucket);
    let mut allow = vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}.>"),
    ];
    if read == Read::AndList {
        allow.push(format!("$JS.API.CONSUMER.CREATE.{stream}"));
    }
    allow
}

/// The stream of the object store of skills.
fn skills_stream() -> String {
    format!("OBJ_{}", objects::SKILLS)
}

/// Reading objects of the store of skills: the stream's info, an object's
/// metadata by direct get, its chunks through an ordered consumer (a
/// 60 MiB object is read without answering flow control).
fn read_skills() -> Vec<String> {
    let stream = skills_stream();
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}.>"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
    ]
}

/// What every identity `name` needs: the info of the streams it checks at
/// start, and its own inbox for the answers to its requests.
fn common(name: &str) -> (Vec<String>, Vec<String>) {
    let publish = [NONCES.to_owned(), LogName::Audit.name().to_owned()]
        .into_iter()
        .chain(BucketName::ALL.map(kv))
        .map(|stream| format!("$JS.API.STREAM.INFO.{stream}"))
        .collect();
    (publish, vec![format!("{}.>", inbox_prefix(name))])
}

/// Answering the flow control of the ordered consumers that list keys.
const FLOW_CONTROL: &str = "$JS.FC.>";

pub fn gateway() -> Role {
    let (mut publish, subscribe) = common("gateway");
    for stream in [
        NONCES.to_owned(),
        LogName::Audit.name().to_owned(),
        skills_stream(),
    ]
    .into_iter()
    .chain(BucketName::ALL.map(kv))
    {
        publish.push(format!("$JS.API.STREAM.CREATE.{stream}"));
    }
    publish.push(format!("$O.{}.>", objects::SKILLS));
    publish.extend(read_skills());
    for bucket in [BucketName::Approvals, BucketName::People] {
        publish.extend(read_bucket(bucket, Read::AndList));
        publish.push(format!("$KV.{}.>", bucket.name()));
    }
    // Tasks are read by id, never listed.
    publish.extend(read_bucket(BucketName::Tasks, Read::Keys));
    publish.push(format!("$KV.{}.>", BucketName::Tasks.name()));
    publish.extend(read_bucket(BucketName::AuditHeads, Read::AndList));
    publish.push(format!("$KV.{}.gateway.>", BucketName::AuditHeads.name()));
    publish.push(FLOW_CONTROL.into());
    publish.push(format!("$JS.API.STREAM.MSG.GET.{}", LogName::Audit.name()));
    publish.push(LogName::Audit.subject("gateway.>"));
    publish.push("tgw.exec.>".into());
    // Orders to stop the running calls nobody waits for any more.
    publish.push("tgw.stop.>".into());
    let mut subscribe = subscribe;
    // The running tools' signed progress and log lines; it learns that
    // its subscription is in place from a message to itself.
    subscribe.push("tgw.updates.>".into());
    publish.push(format!("{}.>", inbox_prefix("gateway")));
    Role {
        name: "gateway".into(),
        publish,
        subscribe,
        responses: None,
    }
}

pub fn executor(pool: &str) -> Role {
    let name = format!("executor_{pool}");
    let (mut publish, mut subscribe) = common(&name);
    // It learns that its subscription is in place from a message to
    // itself (`round_trip`).
    publish.push(format!("{}.>", inbox_prefix(&name)));
    publish.push("tgw.nonces.*".into());
    publish.push(LogName::Audit.subject(&format!("executor.{pool}.*")));
    publish.push(format!("$JS.API.STREAM.MSG.GET.{}", LogName::Audit.name()));
    publish.extend(read_bucket(BucketName::People, Read::Keys));
    publish.extend(read_bucket(BucketName::AuditHeads, Read::Keys));
    publish.push(format!(
        "$KV.{}.executor.{pool}.*",
        BucketName::AuditHeads.name()
    ));
    publish.extend(read_skills());
    // Its own pool's running tools' updates, signed by its key.
    publish.push(format!("tgw.updates.{pool}.>"));
    subscribe.push(format!("tgw.exec.{pool}"));
    // The gateway's signed orders to stop a running call.
    subscribe.push(format!("tgw.stop.{pool}"));
    Role {
        subscribe,
        name,
        publish,
        responses: Some(2),
    }
}

pub fn auditor() -> Role {
    let (mut publish, subscribe) = common("auditor");
    publish.push(format!("$JS.API.STREAM.MSG.GET.{}", LogName::Audit.name()));
    publish.extend(read_bucket(BucketName::AuditHeads, Read::AndList));
    publish.push(FLOW_CONTROL.into());
    Role {
        name: "auditor".into(),
        publish,
        subscribe,
        responses: None,
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A nats-server configuration: the account `TGW` with one nkey user per
/// role (`users` pairs each role with its public nkey), JetStream, and TLS
/// when `tls` names the certificate, key and CA files.
pub fn server_config(
    listen: &str,
    users: &[(Role, String)],
    tls: Option<(&str, &str, &str)>,
) -> String {
    let mut out = String::new();
    out.push_str("# Written by `tgw nats config`: the least-privilege configuration of a\n");
    out.push_str("# Trust Gateway deployment. Each user is an nkey; its seed is in <name>.nk.\n");
    out.push_str(&format!("listen: \"{listen}\"\n"));
    out.push_str("jetstream: enabled\n");
    if let Some((cert, key, ca)) = tls {
        out.push_str(&format!(
            "tls {{\n  cert_file: \"{cert}\"\n  key_file: \"{key}\"\n  ca_file: \"{ca}\"\n  timeout: 5\n}}\n"
        ));
    }
    out.push_str("accounts {\n");
    out.push_str(&account("TGW", users));
    out.push_str("}\n");
    out
}

/// One account of a configuration (inside `accounts { … }`): JetStream,
/// and its users with what each may publish and subscribe.
pub fn account(name: &str, users: &[(Role, String)]) -> String {
    let mut out = format!("  {name} {{\n    jetstream: enabled\n    users: [\n");
    for (role, public) in users {
        out.push_str(&format!("      # {}\n", role.name));
        out.push_str(&format!(
            "      {{\n        nkey: \"{public}\"\n        permissions: {{\n"
        ));
        out.push_str(&format!(
            "          publish: {{ allow: {}, deny: {} }}\n",
            list(&role.publish),
            list(&DENIED.map(str::to_owned))
        ));
        // An empty allow list means "anything" to nats-server.
        if role.subscribe.is_empty() {
            out.push_str("          subscribe: { deny: [\">\"] }\n");
        } else {
            out.push_str(&format!(
                "          subscribe: {{ allow: {} }}\n",
                list(&role.subscribe)
            ));
        }
        if let Some(max) = role.responses {
            out.push_str(&format!("          allow_responses: {{ max: {max} }}\n"));
        }
        out.push_str("        }\n      }\n");
    }
    out.push_str("    ]\n  }\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executor_may_not_write_people_nor_touch_approvals_nor_other_pools() {
        let role = executor("billing");
        assert!(!role.publish.iter().any(|p| p.starts_with("$KV.TGW_PEOPLE")));
        assert!(
            !role
                .publish
                .iter()
                .any(|p| p.contains("TGW_APPROVALS") && !p.contains("STREAM.INFO"))
        );
        assert_eq!(
            role.subscribe
                .iter()
                .filter(|s| s.starts_with("tgw.exec."))
                .collect::<Vec<_>>(),
            ["tgw.exec.billing"]
        );
    }

    #[test]
    fn only_the_gateway_may_write_skills() {
        assert!(gateway().publish.contains(&"$O.TGW_SKILLS.>".to_owned()));
        for role in [executor("default"), auditor()] {
            assert!(
                !role.publish.iter().any(|p| p.starts_with("$O.")),
                "{}",
                role.name
            );
        }
    }

    #[test]
    fn nobody_may_purge_or_delete() {
        for role in [gateway(), executor("default"), auditor()] {
            assert!(
                !role
                    .publish
                    .iter()
                    .any(|p| p.contains("DELETE") || p.contains("PURGE") || p.contains("UPDATE")),
                "{}",
                role.name
            );
        }
    }
}
