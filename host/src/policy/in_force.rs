//! Which policies the deployment has had in force, and when: one sealed
//! record per policy digest in the people bucket
//! (`deployment.policy.<hex>`: since when, and until when if it was
//! replaced). A gateway writes it when it loads or replaces a policy; an
//! executor, which never sees the policy file, reads it and accepts a grant
//! only for a policy in force at some moment of the grant's lifetime. So a
//! grant signed under a policy the operator has since replaced, or under
//! one this deployment never had, does not run. The records are sealed
//! like every record on the bus: a forged one reads as absent.

use serde::{Deserialize, Serialize};
use tgw_proto::refusal::{Refusal, RefusalCode};

use crate::backend::{Bucket, StoreError};

/// The clock skew allowed between a gateway and an executor, as for grants.
const SKEW_MS: i64 = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InForce {
    pub digest: String,
    /// Unix milliseconds.
    pub since: i64,
    /// When another policy replaced it (unix milliseconds).
    pub replaced: Option<i64>,
}

/// The record's key, for a `sha256:<64 hex>` digest (anything else has
/// none: no grant can name it).
pub fn key(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| format!("deployment.policy.{hex}"))
}

async fn read(bucket: &dyn Bucket, key: &str) -> Result<Option<(InForce, u64)>, StoreError> {
    let Some(entry) = bucket.get(key).await? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&entry.value)
        .map_err(|e| StoreError::Unavailable(format!("the record {key} is unreadable: {e}")))?;
    Ok(Some((record, entry.revision)))
}

/// Changes the record of `digest` with `change` (made from `None` if
/// there is none), compare-and-set.
async fn change(
    bucket: &dyn Bucket,
    digest: &str,
    change: impl Fn(Option<InForce>) -> InForce,
) -> Result<(), StoreError> {
    let Some(key) = key(digest) else {
        return Err(StoreError::Unavailable(format!(
            "{digest:?} is not a policy digest"
        )));
    };
    loop {
        let found = read(bucket, &key).await?;
        let revision = found.as_ref().map(|(_, r)| *r);
        let record = change(found.map(|(r, _)| r));
        let bytes =
            serde_json::to_vec(&record).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let written = match revision {
            Some(revision) => bucket.update(&key, &bytes, revision).await,
            None => bucket.create(&key, &bytes).await,
        };
        match written {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `digest` is in force from `now`, unless it already was: a policy
/// loaded, or put back after another.
pub async fn started(bucket: &dyn Bucket, digest: &str, now: i64) -> Result<(), StoreError> {
    change(bucket, digest, |found| match found {
        Some(record) if record.replaced.is_none() => record,
        _ => InForce {
            digest: digest.to_owned(),
            since: now,
            replaced: None,
        },
    })
    .await
}

/// `digest` has a record, made now if it had none. Unlike [`started`], a
/// policy recorded as replaced stays replaced: a decision it made just
/// before it was replaced does not bring it back.
pub async fn ensure(bucket: &dyn Bucket, digest: &str, now: i64) -> Result<(), StoreError> {
    change(bucket, digest, |found| {
        found.unwrap_or(InForce {
            digest: digest.to_owned(),
            since: now,
            replaced: None,
        })
    })
    .await
}

/// `digest` was replaced at `now`.
pub async fn replaced(bucket: &dyn Bucket, digest: &str, now: i64) -> Result<(), StoreError> {
    change(bucket, digest, |found| InForce {
        replaced: Some(now),
        ..found.unwrap_or(InForce {
            digest: digest.to_owned(),
            since: now,
            replaced: None,
        })
    })
    .await
}

/// A grant naming `digest`, valid from `iat` to `exp` (unix seconds), may
/// run only if that policy was in force at some moment in between.
pub async fn check(bucket: &dyn Bucket, digest: &str, iat: i64, exp: i64) -> Result<(), Refusal> {
    let refuse = |why: String| Err(Refusal::new(RefusalCode::PolicyNotInForce, why));
    let Some(key) = key(digest) else {
        return refuse(format!(
            "the grant names {digest:?}, which is not a policy digest"
        ));
    };
    let record = match read(bucket, &key).await {
        Ok(Some((record, _))) => record,
        Ok(None) => {
            return refuse(format!(
                "the grant was decided by policy {digest}, which this deployment never had in force \
                 (or whose record fails its seal)"
            ));
        }
        Err(e) => {
            return Err(Refusal::new(
                RefusalCode::StateUnavailable,
                format!("the record of the policies in force is unreachable, so nothing runs: {e}"),
            ));
        }
    };
    let (from, until) = (iat.saturating_mul(1000), exp.saturating_mul(1000));
    if record.since > until.saturating_add(SKEW_MS) {
        return refuse(format!(
            "the grant was decided by policy {digest}, which came in force only after the grant expired"
        ));
    }
    if let Some(replaced) = record.replaced
        && replaced.saturating_add(SKEW_MS) < from
    {
        return refuse(format!(
            "the grant was decided by policy {digest}, which had been replaced before the grant was issued"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_digests_have_a_key() {
        let digest = format!("sha256:{}", "a1".repeat(32));
        assert_eq!(
            key(&digest).as_deref(),
            Some(format!("deployment.policy.{}", "a1".repeat(32)).as_str())
        );
        for bad in [
            "sha256:".to_owned(),
            format!("sha256:{}", "A1".repeat(32)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}/x", "a".repeat(62)),
            format!("md5:{}", "a".repeat(64)),
        ] {
            assert_eq!(key(&bad), None, "{bad}");
        }
    }
}
