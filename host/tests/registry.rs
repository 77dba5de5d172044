//! Skills through a real OCI registry (Debian's `docker-registry`), with
//! the `tgw` binary as publishers and operators run it: publish, install,
//! serve; and every way an artifact can be wrong, refused by name while
//! what is installed keeps serving.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/oci_registry.rs"]
mod oci_registry;
#[path = "common/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::Output;

use process::ok;

use oci_registry::DockerRegistry;
use serde_json::json;
use tgw::registry::provenance::Lock;
use tgw::registry::{Provenance, SkillSet, SkillTrust};

/// `tgw` with `data` and `skills` as its folders.
fn tgw(data: &Path, skills: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    process::run(data, skills, args, stdin)
}

fn refused(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "it was not refused: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A publisher: a data dir with a publisher key, and its exported key.
struct Publisher {
    data: tempfile::TempDir,
    entry: String,
}

fn publisher() -> Publisher {
    let data = tempfile::tempdir().unwrap();
    let none = data.path().join("none");
    ok(&tgw(
        data.path(),
        &none,
        &["publisher", "keys", "init"],
        None,
    ));
    let entry = ok(&tgw(
        data.path(),
        &none,
        &["publisher", "keys", "export"],
        None,
    ));
    Publisher { data, entry }
}

impl Publisher {
    /// Publishes the skill folder `dir` as `reference`.
    fn publish(&self, dir: &Path, reference: &str) -> String {
        let none = self.data.path().join("none");
        ok(&tgw(
            self.data.path(),
            &none,
            &[
                "skill",
                "publish",
                dir.to_str().unwrap(),
                reference,
                "--plain-http",
            ],
            None,
        ))
    }
}

/// A gateway's data dir and skills dir, trusting `publisher` for `globs`.
struct Gateway {
    data: tempfile::TempDir,
    skills: PathBuf,
}

fn gateway(publisher: &Publisher, globs: &str) -> Gateway {
    let data = tempfile::tempdir().unwrap();
    let skills = data.path().join("skills");
    ok(&tgw(
        data.path(),
        &skills,
        &["publisher", "trust", "-", "--skills", globs],
        Some(&publisher.entry),
    ));
    Gateway { data, skills }
}

impl Gateway {
    fn run(&self, args: &[&str]) -> Output {
        tgw(self.data.path(), &self.skills, args, None)
    }

    fn install(&self, reference: &str) -> Output {
        self.run(&["skill", "install", reference, "--plain-http"])
    }

    /// The skills it serves, loaded as `tgw up` loads them.
    async fn served(&self) -> SkillSet {
        self.served_by(&chain::shared_runtime()).await
    }

    async fn served_by(&self, runtime: &tgw::runtime::Runtime) -> SkillSet {
        let trust = SkillTrust::load(self.data.path(), false).unwrap();
        let secrets = tgw::secrets::SecretStore::new(self.data.path());
        SkillSet::load(runtime, &self.skills, &secrets, &trust)
            .await
            .unwrap()
    }

    /// Nothing of a refused install was left: no folder, no lock entry.
    fn holds_nothing(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.skills)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "a refused install left {left:?}");
    }
}

/// The `files` manifest of version 0.2.0: it reads over HTTP too, and
/// calls `search` destructive.
fn widened(manifest: String) -> String {
    manifest
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
        .replace(
            "[capabilities]\n",
            "[capabilities]\nhttp = [\"api.example.com\"]\n",
        )
        .replace(
            "[tools.search]\nrisk = \"read\"",
            "[tools.search]\nrisk = \"destructive\"",
        )
}

/// A registry where `files` 0.1.0 is published as
/// `…/skills/files:stable` by `acme`, and a gateway that installed it.
struct Installed {
    _registry: DockerRegistry,
    acme: Publisher,
    stable: String,
    gw: Gateway,
}

fn installed_stable() -> Installed {
    let registry = DockerRegistry::start();
    let acme = publisher();
    let stable = format!("{}/skills/files:stable", registry.host);
    let (_v1, files) = files_folder(|m| m);
    acme.publish(&files, &stable);
    let gw = gateway(&acme, "files");
    ok(&gw.install(&stable));
    Installed {
        _registry: registry,
        acme,
        stable,
        gw,
    }
}

/// A copy of the repository's `files` skill, with `edit` applied to its
/// manifest.
fn files_folder(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills/files");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(repo.join("files.wasm"), dir.join("files.wasm")).unwrap();
    let manifest = std::fs::read_to_string(repo.join("skill.toml")).unwrap();
    std::fs::write(dir.join("skill.toml"), edit(manifest)).unwrap();
    (temp, dir)
}

/// Pushes the `files` component with `oci-wasm` alone, as `wkg oci push`
/// does: no signature beside it.
async fn push_unsigned(reference: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills/files/files.wasm");
    let (config, layer) = oci_wasm::WasmConfig::from_component(&repo, None)
        .await
        .unwrap();
    let client =
        oci_wasm::WasmClient::new(oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        }));
    client
        .push(
            &reference.parse().unwrap(),
            &oci_client::secrets::RegistryAuth::Anonymous,
            layer,
            config,
            None,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_install_and_serve_a_signed_skill() {
    let registry = DockerRegistry::start();
    let acme = publisher();
    let (_folder, files) = files_folder(|m| m);
    let reference = format!("{}/skills/files:0.1.0", registry.host);
    let published = acme.publish(&files, &reference);
    assert!(
        published.starts_with("Published files 0.1.0 as "),
        "{published}"
    );

    let gw = gateway(&acme, "files");
    let installed = ok(&gw.install(&reference));
    assert!(
        installed.starts_with("Installed files 0.1.0 from "),
        "{installed}"
    );
    let lock = Lock::read(&gw.skills).unwrap();
    let entry = lock.get("files").unwrap();
    assert_eq!(entry.source.as_deref(), Some(reference.as_str()));
    assert!(entry.digest.as_deref().unwrap().starts_with("sha256:"));
    let verified = ok(&gw.run(&["skill", "verify"]));
    assert!(verified.contains("ok: signed by publisher"), "{verified}");

    // The gateway serves it, signed, and a call runs in it.
    let runtime = chain::shared_runtime();
    let set = gw.served_by(&runtime).await;
    let skill = set.get("files").unwrap();
    assert!(
        matches!(skill.provenance, Provenance::Signed { .. }),
        "{:?}",
        set.refused()
    );
    std::fs::write(
        gw.skills.join("files/data/hello.txt"),
        "from the registry\n",
    )
    .unwrap();
    let app = chain::app(
        tgw::backend::embedded::backend(gw.data.path()).unwrap(),
        runtime.clone(),
        tgw::registry::LiveSkills::fixed(std::sync::Arc::new(set)),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/default.toml"),
        tgw::gateway::GatewayConfig::default(),
        true,
        gw.data.path(),
    )
    .await;
    let result = app
        .gateway
        .propose(chain::request("read_file", json!({"path": "hello.txt"})))
        .await;
    assert_eq!(chain::done(result)["content"], "from the registry\n");

    // Installed twice: refused, the first stays.
    let again = refused(&gw.install(&reference));
    assert!(
        again.contains("skill files is installed already"),
        "{again}"
    );

    // The artifact is in the Wasm OCI layout that wkg pulls: one
    // `application/wasm` layer under a wasm config, pulled here with the
    // same oci-wasm client wkg uses.
    let client =
        oci_wasm::WasmClient::new(oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        }));
    let image = client
        .pull(
            &reference.parse().unwrap(),
            &oci_client::secrets::RegistryAuth::Anonymous,
        )
        .await
        .unwrap();
    assert_eq!(
        image.config.media_type,
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].media_type, "application/wasm");
    assert_eq!(
        &image.layers[0].data[..],
        &std::fs::read(files.join("files.wasm")).unwrap()[..]
    );

    // The manifests as the registry holds them: the component in the Wasm
    // OCI layout, and the signature a referrer of it, listed in the OCI
    // referrers tag schema's index (this registry has no referrers API).
    let raw = client.as_ref();
    let anonymous = oci_client::secrets::RegistryAuth::Anonymous;
    let (manifest, digest) = raw
        .pull_manifest(&reference.parse().unwrap(), &anonymous)
        .await
        .unwrap();
    let oci_client::manifest::OciManifest::Image(manifest) = manifest else {
        panic!("the component is not an image manifest");
    };
    assert_eq!(
        manifest.media_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert_eq!(
        manifest.config.media_type,
        "application/vnd.wasm.config.v0+json"
    );
    let layers: Vec<&str> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(layers, ["application/wasm"]);
    let subject: oci_client::Reference = format!("{}/skills/files@{digest}", registry.host)
        .parse()
        .unwrap();
    let referrers = raw
        .pull_referrers(&subject, Some(tgw::registry::oci::ATTACHMENT_MEDIA_TYPE))
        .await
        .unwrap();
    assert_eq!(referrers.manifests.len(), 1, "{referrers:?}");
    let attachment: oci_client::Reference = format!(
        "{}/skills/files@{}",
        registry.host, referrers.manifests[0].digest
    )
    .parse()
    .unwrap();
    let (attachment, _) = raw.pull_manifest(&attachment, &anonymous).await.unwrap();
    let oci_client::manifest::OciManifest::Image(attachment) = attachment else {
        panic!("the attachment is not an image manifest");
    };
    assert_eq!(
        attachment.artifact_type.as_deref(),
        Some(tgw::registry::oci::ATTACHMENT_MEDIA_TYPE)
    );
    assert_eq!(attachment.subject.unwrap().digest, digest);
    let layers: Vec<&str> = attachment
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(
        layers,
        [
            tgw::registry::oci::MANIFEST_MEDIA_TYPE,
            tgw::registry::oci::SIGNATURE_MEDIA_TYPE
        ]
    );

    // With the referrers index emptied, the tag fallback still finds it.
    let index_tag: oci_client::Reference = format!(
        "{}/skills/files:{}",
        registry.host,
        digest.replace(':', "-")
    )
    .parse()
    .unwrap();
    let empty = oci_client::manifest::OciImageIndex {
        schema_version: 2,
        media_type: Some(oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE.into()),
        manifests: Vec::new(),
        artifact_type: None,
        annotations: None,
    };
    raw.push_manifest(
        &index_tag,
        &oci_client::manifest::OciManifest::ImageIndex(empty),
    )
    .await
    .unwrap();
    let other = gateway(&acme, "files");
    let installed = ok(&other.install(&reference));
    assert!(
        installed.starts_with("Installed files 0.1.0"),
        "{installed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_foreign_and_tampered_artifacts_are_refused_and_nothing_is_written() {
    let registry = DockerRegistry::start();
    let acme = publisher();
    let (_folder, files) = files_folder(|m| m);

    // Unsigned: pushed as `wkg oci push` would.
    let unsigned = format!("{}/skills/files:unsigned", registry.host);
    push_unsigned(&unsigned).await;
    let gw = gateway(&acme, "files");
    let why = refused(&gw.install(&unsigned));
    assert!(
        why.contains("is not signed: the registry has no signature beside it"),
        "{why}"
    );
    gw.holds_nothing();

    // Signed by a publisher the gateway does not trust.
    let stranger = publisher();
    let theirs = format!("{}/skills/files:stranger", registry.host);
    stranger.publish(&files, &theirs);
    let why = refused(&gw.install(&theirs));
    assert!(why.contains("whom trust.toml does not trust"), "{why}");
    gw.holds_nothing();

    // Signed by a trusted publisher, for a name it may not publish.
    let other = gateway(&acme, "acme-*");
    let ours = format!("{}/skills/files:0.1.0", registry.host);
    let published = acme.publish(&files, &ours);
    let why = refused(&other.install(&ours));
    assert!(why.contains("may not publish files"), "{why}");
    other.holds_nothing();

    // A tampered blob: the component's bytes changed in the registry's
    // storage after it was published.
    let component = format!("sha256:{}", {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(files.join("files.wasm")).unwrap(),
        ))
    });
    let blob = registry.blob(&component);
    let mut bytes = std::fs::read(&blob).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let why = refused(&gw.install(&ours));
    assert!(
        why.contains("pulling ") && why.to_lowercase().contains("digest"),
        "{why}\n{published}"
    );
    gw.holds_nothing();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_widens_waits_for_a_yes_and_a_swapped_tag_is_refused() {
    let Installed {
        _registry,
        acme,
        stable,
        gw,
    } = installed_stable();
    std::fs::write(gw.skills.join("files/data/notes.txt"), "kept\n").unwrap();
    let installed = Lock::read(&gw.skills)
        .unwrap()
        .get("files")
        .unwrap()
        .clone();
    let up_to_date = ok(&gw.run(&["skill", "update", "files", "--plain-http"]));
    assert!(
        up_to_date.starts_with("files is up to date"),
        "{up_to_date}"
    );

    let (_v2, wider) = files_folder(widened);
    acme.publish(&wider, &stable);
    let why = ok(&gw.run(&["skill", "update", "files", "--plain-http"]));
    assert!(
        why.contains("+ HTTP host https://api.example.com:443   (widens)"),
        "{why}"
    );
    assert!(
        why.contains("~ tool search: risk read → destructive   (widens)"),
        "{why}"
    );
    assert!(why.contains("waits for an admin's yes"), "{why}");
    // Nothing changed: the installed version is what the lock pins, and
    // the update waits, with what it changes.
    assert_eq!(
        Lock::read(&gw.skills).unwrap().get("files"),
        Some(&installed)
    );
    let waiting = tgw::registry::pending::list(&gw.skills);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].entry.version, "0.2.0");
    assert_eq!(
        waiting[0].changes.iter().filter(|c| c.widens).count(),
        2,
        "{waiting:?}"
    );
    assert_eq!(
        gw.served()
            .await
            .get("files")
            .unwrap()
            .skill
            .manifest
            .version,
        "0.1.0"
    );
    let verified = ok(&gw.run(&["skill", "verify", "files"]));
    assert!(
        verified.contains("0.1.0    ok: signed by publisher"),
        "{verified}"
    );

    // What the dashboard's Accept does, refused: for a digest other than
    // the one waiting (the admin saw another update), and for a parked
    // component whose bytes changed since it was checked.
    let live = tgw::registry::LiveSkills::load(
        chain::shared_runtime(),
        &gw.skills,
        std::sync::Arc::new(tgw::secrets::SecretStore::new(gw.data.path())),
        SkillTrust::load(gw.data.path(), false).unwrap(),
    )
    .await
    .unwrap();
    let shown = waiting[0].shown_digest().to_owned();
    let other = format!("sha256:{}", "1".repeat(64));
    let why = live.accept_pending("files", &other).await.unwrap_err();
    assert!(why.to_string().contains("not the"), "{why}");
    let parked = gw.skills.join(".pending/files/files.wasm");
    let bytes = std::fs::read(&parked).unwrap();
    std::fs::write(&parked, [&bytes[..], b"\0"].concat()).unwrap();
    let why = live.accept_pending("files", &shown).await.unwrap_err();
    assert!(why.to_string().contains("holds other bytes"), "{why}");
    std::fs::write(&parked, &bytes).unwrap();
    assert_eq!(
        live.current().get("files").unwrap().skill.manifest.version,
        "0.1.0"
    );
    assert_eq!(
        tgw::registry::pending::list(&gw.skills).len(),
        1,
        "it still waits"
    );
    // Rejected, it is gone, and 0.1.0 serves on.
    live.reject_pending("files", &shown).unwrap();
    assert!(tgw::registry::pending::list(&gw.skills).is_empty());
    assert!(!gw.skills.join(".pending").exists());
    assert_eq!(
        Lock::read(&gw.skills).unwrap().get("files"),
        Some(&installed)
    );

    let updated = ok(&gw.run(&["skill", "update", "files", "--yes", "--plain-http"]));
    assert!(updated.contains("Updated files to 0.2.0"), "{updated}");
    assert!(
        tgw::registry::pending::list(&gw.skills).is_empty(),
        "the yes took the update that waited"
    );
    // The install and the admin's yes are in the audit log.
    let actions = admin_actions(&gw);
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(
        (&actions[0]["action"], &actions[0]["version"]),
        (&json!("skill-install"), &json!("0.1.0"))
    );
    assert_eq!(
        (&actions[1]["action"], &actions[1]["yes"]),
        (&json!("skill-update"), &json!(true))
    );
    assert_eq!(
        actions[1]["widens"].as_array().unwrap().len(),
        2,
        "{actions:?}"
    );
    let set = gw.served().await;
    let skill = set.get("files").unwrap();
    assert_eq!(skill.skill.manifest.version, "0.2.0");
    assert_eq!(
        skill.tool("search").unwrap().risk,
        tgw::runtime::Risk::Destructive
    );
    assert_eq!(
        std::fs::read_to_string(gw.skills.join("files/data/notes.txt")).unwrap(),
        "kept\n",
        "the skill's data moved with it"
    );

    // The tag swapped to an artifact nobody signed: refused, and 0.2.0
    // keeps serving.
    push_unsigned(&stable).await;
    let why = refused(&gw.run(&["skill", "update", "files", "--yes", "--plain-http"]));
    assert!(why.contains("is not signed"), "{why}");
    let set = gw.served().await;
    assert_eq!(set.get("files").unwrap().skill.manifest.version, "0.2.0");
    let leftovers: Vec<_> = std::fs::read_dir(&gw.skills)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `admin.action` entries of the gateway's audit log, in order.
fn admin_actions(gw: &Gateway) -> Vec<serde_json::Value> {
    ok(&gw.run(&["audit", "export"]))
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["entry"]["kind"] == "admin.action")
        .map(|l| l["entry"]["detail"].clone())
        .collect()
}

/// The whole path, as people run it: a skill published to the registry
/// and installed serves through a `tgw up` process to the Python `mcp`
/// client; an update that widens waits, the Skills page in Chromium shows
/// what it changes, and the admin's yes there puts it in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_skill_serves_the_python_client_and_its_update_is_accepted_in_chromium() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let python = repo().join("tests/mcp/.venv/bin/python");
    let e2e = repo().join("tests/e2e");
    assert!(
        python.exists() && e2e.join("node_modules/playwright-core").exists(),
        "this test needs the Python `mcp` client and playwright-core: .ci/run installs them"
    );
    let Installed {
        _registry,
        acme,
        stable,
        gw,
    } = installed_stable();
    std::fs::write(
        gw.skills.join("files/data/report.txt"),
        "installed from a registry\n",
    )
    .unwrap();
    let (_v2, wider) = files_folder(widened);
    acme.publish(&wider, &stable);
    let parked = ok(&gw.run(&["skill", "update", "files", "--plain-http"]));
    assert!(parked.contains("waits for an admin's yes"), "{parked}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://localhost:{port}");
    let policy = repo().join("policy/default.toml");
    let (_up, lines) = process::start(
        &[
            "up",
            "--listen",
            &listen,
            "--public-url",
            &public,
            "--policy",
            policy.to_str().unwrap(),
        ],
        gw.data.path(),
        &gw.skills,
        "Stop with Ctrl-C.",
    );
    let text = lines.join("\n");
    assert!(text.contains("skills        files"), "{text}");
    let link = lines
        .iter()
        .find_map(|l| l.split("enroll with a passkey at ").nth(1))
        .expect(&text)
        .trim()
        .to_owned();

    let shots = repo().join("target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = tokio::process::Command::new("node")
        .arg("skills.mjs")
        .arg(&link)
        .arg(&shots)
        .current_dir(&e2e)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed");
    let mut to_browser = browser.stdin.take().unwrap();
    let mut from_browser = tokio::io::BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(90), from_browser.next_line())
            .await
            .expect("the browser answered in time")
            .unwrap()
            .expect("the browser script ended early (its error is above)")
    };
    assert_eq!(next().await, "ENROLLED");

    // The Python client calls the installed version's tool.
    let token = ok(&gw.run(&["tokens", "create", "--user", "ada"]))
        .trim()
        .to_owned();
    let called = std::process::Command::new(&python)
        .arg("py_call.py")
        .args([
            &format!("http://127.0.0.1:{port}/v1/mcp"),
            &token,
            "files.read_file",
            r#"{"path": "report.txt"}"#,
        ])
        .current_dir(repo().join("tests/mcp/scripts"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&called.stdout).into_owned();
    assert!(
        called.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let events: Vec<serde_json::Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events[0]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("files.read_file")),
        "{said}"
    );
    assert_eq!(events[1]["is_error"], false, "{said}");
    assert!(
        events[1]["text"][0]
            .as_str()
            .unwrap()
            .contains("installed from a registry"),
        "{said}"
    );

    // The Skills page shows the update that waits; until the yes, 0.1.0
    // is what the lock pins.
    assert_eq!(next().await, "PENDING");
    assert_eq!(
        Lock::read(&gw.skills)
            .unwrap()
            .get("files")
            .unwrap()
            .version,
        "0.1.0"
    );
    to_browser.write_all(b"ACCEPT\n").await.unwrap();
    assert_eq!(next().await, "ACCEPTED");
    drop(to_browser);
    assert!(browser.wait().await.unwrap().success());
    assert_eq!(
        Lock::read(&gw.skills)
            .unwrap()
            .get("files")
            .unwrap()
            .version,
        "0.2.0"
    );
    assert!(tgw::registry::pending::list(&gw.skills).is_empty());
    assert_eq!(
        std::fs::read_to_string(gw.skills.join("files/data/report.txt")).unwrap(),
        "installed from a registry\n",
        "the skill's data moved with it"
    );
    let actions = admin_actions(&gw);
    let accepted = actions.last().unwrap();
    assert_eq!(
        (&accepted["action"], &accepted["by"], &accepted["yes"]),
        (&json!("skill-update"), &json!("ada"), &json!(true)),
        "{actions:?}"
    );
    assert_eq!(accepted["widens"].as_array().unwrap().len(), 2);
    for shot in ["skills-pending.png", "skills.png"] {
        assert!(shots.join(shot).exists(), "{shot} was not saved");
    }
}

/// `wkg`, the wasm-pkg-tools CLI (`.ci/run` installs it).
fn wkg(args: &[&str]) -> Output {
    std::process::Command::new("wkg")
        .args(args)
        .output()
        .expect("wkg is installed: `cargo install wkg --version 0.16.1 --locked` (.ci/run does)")
}

/// Interop with wasm-pkg-tools: `wkg` pulls what `tgw skill publish`
/// pushed, and a component pushed with `wkg oci push` installs once its
/// publisher has signed it with `tgw skill sign` (and not before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wkg_pulls_what_tgw_publishes_and_tgw_installs_what_wkg_pushed_and_someone_signed() {
    let registry = DockerRegistry::start();
    let acme = publisher();
    let (_folder, files) = files_folder(|m| m);
    let component = std::fs::read(files.join("files.wasm")).unwrap();
    let published = format!("{}/skills/files:0.1.0", registry.host);
    acme.publish(&files, &published);
    let out = tempfile::tempdir().unwrap();
    let pulled = out.path().join("pulled.wasm");
    ok(&wkg(&[
        "oci",
        "pull",
        &published,
        "--insecure",
        &registry.host,
        "-o",
        pulled.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&pulled).unwrap(), component);

    let pushed = format!("{}/skills/wkg-files:0.1.0", registry.host);
    ok(&wkg(&[
        "oci",
        "push",
        &pushed,
        files.join("files.wasm").to_str().unwrap(),
        "--insecure",
        &registry.host,
    ]));
    let gw = gateway(&acme, "files");
    let why = refused(&gw.install(&pushed));
    assert!(why.contains("is not signed"), "{why}");
    gw.holds_nothing();

    // Only the bytes the publisher built are signed.
    let (_other, other) = files_folder(|m| m);
    let http_fetch =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills/http-fetch/http_fetch.wasm");
    std::fs::copy(http_fetch, other.join("files.wasm")).unwrap();
    let sign = |dir: &Path| {
        tgw(
            acme.data.path(),
            &acme.data.path().join("none"),
            &[
                "skill",
                "sign",
                dir.to_str().unwrap(),
                &pushed,
                "--plain-http",
            ],
            None,
        )
    };
    let why = refused(&sign(&other));
    assert!(why.contains("holds another component"), "{why}");
    let why = refused(&gw.install(&pushed));
    assert!(why.contains("is not signed"), "{why}");

    let signed = ok(&sign(&files));
    assert!(signed.starts_with("Signed files 0.1.0 at "), "{signed}");
    let installed = ok(&gw.install(&pushed));
    assert!(
        installed.starts_with("Installed files 0.1.0 from "),
        "{installed}"
    );
    let set = gw.served().await;
    assert!(
        matches!(
            set.get("files").unwrap().provenance,
            Provenance::Signed { .. }
        ),
        "{:?}",
        set.refused()
    );
}
