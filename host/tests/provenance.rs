//! Which skill folders a host serves: signed by a publisher the trust
//! policy allows for the name and pinned in `skills.lock`, or built from
//! this checkout, or (only with `--dev`) unsigned. Every other folder is
//! left out with a reason that names the skill, and a skill that serves
//! keeps serving while a bad update of it is refused.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tgw::jws::JwsSigner;
use tgw::registry::provenance::{Lock, Locked, TrustPolicy, sign_folder};
use tgw::registry::{LiveSkills, Provenance, Skill, SkillSet, SkillTrust};
use tgw::runtime::Runtime;
use tgw::secrets::SecretStore;

fn runtime() -> Arc<Runtime> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Arc::new(Runtime::new(Some(&cache)).unwrap())
}

/// A copy of the repository's `files` skill in `skills/files`; with
/// `foreign`, its component gets a custom section appended: still a valid
/// component, but not one this checkout built.
fn files_skill(skills: &Path, foreign: bool) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills/files");
    let dir = skills.join("files");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::copy(repo.join("skill.toml"), dir.join("skill.toml")).unwrap();
    let mut wasm = std::fs::read(repo.join("files.wasm")).unwrap();
    if foreign {
        // A custom section (id 0): name "x", payload "foreign".
        wasm.extend_from_slice(&[0, 9, 1, b'x']);
        wasm.extend_from_slice(b"foreign");
    }
    std::fs::write(dir.join("files.wasm"), wasm).unwrap();
    dir
}

fn publisher(seed: u8) -> JwsSigner {
    JwsSigner::from_seed(&[seed; 32])
}

/// A trust policy that lets `publisher` publish `globs`.
fn trusting(publisher: &JwsSigner, globs: &[&str]) -> SkillTrust {
    let mut policy = TrustPolicy::default();
    let globs: Vec<String> = globs.iter().map(|g| (*g).to_owned()).collect();
    policy.allow(
        &tgw::grant::TrustedKey::new(publisher.verifying_key()),
        &globs,
    );
    SkillTrust::from_policy(&policy).unwrap()
}

/// Signs the folder and pins it in the skills dir's lock, as `tgw skill
/// install` does.
fn sign_and_lock(dir: &Path, publisher: &JwsSigner) {
    let skill = Skill::load(dir).unwrap();
    let statement = sign_folder(&skill, publisher).unwrap();
    let skills_dir = dir.parent().unwrap();
    let mut lock = Lock::read(skills_dir).unwrap();
    lock.pin(Locked {
        name: statement.name,
        version: statement.version,
        component: statement.component,
        manifest: statement.manifest,
        publisher: publisher.kid().to_owned(),
        source: None,
        digest: None,
    });
    lock.write(skills_dir).unwrap();
}

async fn load(skills: &Path, trust: &SkillTrust) -> SkillSet {
    let secrets = SecretStore::new(skills);
    SkillSet::load(&runtime(), skills, &secrets, trust)
        .await
        .unwrap()
}

/// The set serves no `files`, and says why in words naming the skill.
fn refused(set: &SkillSet, why: &str) {
    assert!(set.get("files").is_none(), "files was served");
    assert_eq!(set.refused().len(), 1, "{:?}", set.refused());
    let reason = &set.refused()[0];
    assert!(
        reason.starts_with("skill files left out: ") && reason.contains(why),
        "{reason}"
    );
}

#[tokio::test]
async fn a_build_of_this_checkout_loads_unsigned_and_a_foreign_component_does_not() {
    let temp = tempfile::tempdir().unwrap();
    files_skill(temp.path(), false);
    let set = load(temp.path(), &SkillTrust::local_builds()).await;
    assert_eq!(
        set.get("files").unwrap().provenance,
        Provenance::LocalBuild {
            package: "skill-files".into()
        }
    );

    let temp = tempfile::tempdir().unwrap();
    files_skill(temp.path(), true);
    let set = load(temp.path(), &SkillTrust::local_builds()).await;
    refused(&set, "the component is not signed (skill.sig is missing)");
    // Development mode loads it, and says so.
    let set = load(temp.path(), &SkillTrust::local_builds().with_dev(true)).await;
    assert_eq!(set.get("files").unwrap().provenance, Provenance::Dev);
    assert!(set.dev());
}

#[tokio::test]
async fn a_signed_and_pinned_component_loads_and_every_tampering_is_refused_by_name() {
    let acme = publisher(1);
    let temp = tempfile::tempdir().unwrap();
    let dir = files_skill(temp.path(), true);
    sign_and_lock(&dir, &acme);
    let trust = trusting(&acme, &["fil*"]);
    let set = load(temp.path(), &trust).await;
    assert_eq!(
        set.get("files").unwrap().provenance,
        Provenance::Signed {
            publisher: acme.kid().to_owned()
        },
        "{:?}",
        set.refused()
    );

    // A publisher the policy does not know.
    let stranger = publisher(2);
    refused_by(
        temp.path(),
        trusting(&stranger, &["*"]),
        format!(
            "skill.sig is signed by publisher {}, whom trust.toml does not trust",
            acme.kid()
        ),
    )
    .await;
    // A publisher the policy knows, for other names.
    refused_by(
        temp.path(),
        trusting(&acme, &["acme-*"]),
        format!("publisher {} may not publish files", acme.kid()),
    )
    .await;

    // A tampered component: bytes changed after signing.
    let wasm = dir.join("files.wasm");
    let good = std::fs::read(&wasm).unwrap();
    let mut tampered = good.clone();
    *tampered.last_mut().unwrap() ^= 1;
    std::fs::write(&wasm, &tampered).unwrap();
    refused_by(
        temp.path(),
        trust.clone(),
        "skill.sig vouches for another component than the folder holds",
    )
    .await;
    std::fs::write(&wasm, &good).unwrap();

    // A manifest widened after signing.
    let manifest = dir.join("skill.toml");
    let signed = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{signed}\n[tools.extra]\nrisk = \"read\"\n"),
    )
    .unwrap();
    refused_by(
        temp.path(),
        trust.clone(),
        "skill.sig vouches for another skill.toml",
    )
    .await;
    std::fs::write(&manifest, &signed).unwrap();

    // A swapped tag: another build, genuinely signed, that the lock does
    // not pin.
    let lock = std::fs::read_to_string(temp.path().join("skills.lock")).unwrap();
    let mut other = good.clone();
    other.extend_from_slice(&[0, 6, 1, b'y', b'2', b'n', b'd', b'!']);
    std::fs::write(&wasm, &other).unwrap();
    sign_folder(&Skill::load(&dir).unwrap(), &acme).unwrap();
    refused_by(temp.path(), trust.clone(), "its component is sha256:").await;
    let set = load(temp.path(), &trust).await;
    assert!(
        set.refused()[0].contains("but skills.lock pins sha256:"),
        "{:?}",
        set.refused()
    );

    // Signed, but not pinned at all.
    std::fs::remove_file(temp.path().join("skills.lock")).unwrap();
    refused_by(
        temp.path(),
        trust.clone(),
        "it is signed but not pinned in skills.lock",
    )
    .await;

    // Pinned, but the signature is gone.
    std::fs::write(temp.path().join("skills.lock"), &lock).unwrap();
    std::fs::write(&wasm, &good).unwrap();
    std::fs::remove_file(dir.join("skill.sig")).unwrap();
    refused_by(
        temp.path(),
        trust.clone(),
        "skills.lock pins a component signed by",
    )
    .await;

    // A signature that is not one.
    std::fs::write(dir.join("skill.sig"), "not.a.signature").unwrap();
    refused_by(
        temp.path(),
        trust,
        "skill.sig: the signature does not verify",
    )
    .await;
}

/// Loading `skills` with `trust` leaves `files` out, saying `why`.
async fn refused_by(skills: &Path, trust: SkillTrust, why: impl AsRef<str>) {
    refused(&load(skills, &trust).await, why.as_ref());
}

#[tokio::test]
async fn a_bad_update_is_refused_while_the_signed_version_keeps_serving() {
    let acme = publisher(1);
    let temp = tempfile::tempdir().unwrap();
    let dir = files_skill(temp.path(), true);
    sign_and_lock(&dir, &acme);
    let secrets = Arc::new(SecretStore::new(temp.path()));
    let live = LiveSkills::load(runtime(), temp.path(), secrets, trusting(&acme, &["files"]))
        .await
        .unwrap();
    let before = live
        .current()
        .get("files")
        .unwrap()
        .component
        .digest
        .clone();

    // An unsigned build dropped over the signed one.
    let wasm = dir.join("files.wasm");
    let mut unsigned = std::fs::read(&wasm).unwrap();
    unsigned.extend_from_slice(&[0, 4, 1, b'z', b'!', b'!']);
    std::fs::write(&wasm, &unsigned).unwrap();
    live.reload().await.unwrap();
    let now = live.current();
    assert!(
        now.refused()[0]
            .starts_with("skill files left out: skill.sig vouches for another component"),
        "{:?}",
        now.refused()
    );
    // The signed version keeps serving, from memory.
    let serving = now.get("files").unwrap();
    assert_eq!(serving.component.digest, before);
    assert!(
        now.refused()[0].ends_with(&format!("; version 0.1.0 ({before}) keeps serving")),
        "{:?}",
        now.refused()
    );
}

#[test]
fn the_trust_policy_and_the_lock_refuse_what_they_do_not_know() {
    let temp = tempfile::tempdir().unwrap();
    // None yet: no publisher, an empty lock.
    assert!(
        TrustPolicy::read(temp.path())
            .unwrap()
            .publishers
            .is_empty()
    );
    assert!(Lock::read(temp.path()).unwrap().skills.is_empty());
    for (text, why) in [
        (
            "[[publisher]]\nkid = \"k\"\npublic_key = \"p\"\nskills = [\"*\"]\nextra = 1\n",
            "unknown field `extra`",
        ),
        (
            "[[publisher]]\nkid = \"k\"\npublic_key = \"p\"\n",
            "missing field `skills`",
        ),
        ("publisher = 3\n", "invalid type"),
    ] {
        std::fs::write(temp.path().join("trust.toml"), text).unwrap();
        let error = TrustPolicy::read(temp.path()).unwrap_err();
        assert!(error.contains(why), "{error}");
        assert!(SkillTrust::load(temp.path(), false).is_err());
    }
    // A key that is not one, or whose id is not its own.
    let acme = publisher(1);
    let entry = tgw::keys::public_entry(&tgw::grant::TrustedKey::new(acme.verifying_key()));
    for (kid, key) in [
        ("AAAAAAAAAAAAAAAA", entry.public_key.as_str()),
        (entry.kid.as_str(), "short"),
    ] {
        std::fs::write(
            temp.path().join("trust.toml"),
            format!("[[publisher]]\nkid = {kid:?}\npublic_key = {key:?}\nskills = [\"*\"]\n"),
        )
        .unwrap();
        assert!(SkillTrust::load(temp.path(), false).is_err(), "{kid} {key}");
    }
    std::fs::write(
        temp.path().join("skills.lock"),
        "[[skill]]\nname = \"files\"\n",
    )
    .unwrap();
    assert!(
        Lock::read(temp.path())
            .unwrap_err()
            .contains("missing field")
    );
}
