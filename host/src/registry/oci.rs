//! Skills in an OCI registry (GHCR, Harbor, ECR, the CNCF distribution
//! registry), pushed and pulled with `oci-client` and `oci-wasm`.
//!
//! A published skill is two artifacts in one repository:
//!
//! - the component, in the Wasm OCI layout of wasm-pkg-tools and
//!   `oci-wasm` (config `application/vnd.wasm.config.v0+json`, one
//!   `application/wasm` layer), under the tag of `REF`, so `wkg oci pull`
//!   fetches it as it fetches any component;
//! - beside it, an attachment with two layers: `skill.toml`
//!   ([`MANIFEST_MEDIA_TYPE`]) and the publisher's signature
//!   ([`SIGNATURE_MEDIA_TYPE`]). Its `subject` is the component's
//!   manifest (an OCI 1.1 referrer), and it is tagged
//!   `sha256-<hex of that manifest's digest>.tgw`, the tag fallback for
//!   registries without the referrers API (Debian's `docker-registry` 2.8
//!   has none), found from the component's digest alone. It is also
//!   listed in the OCI referrers tag schema's index (tag `sha256-<hex>`),
//!   as the distribution spec asks of clients where the registry has no
//!   referrers API. A pull asks the referrers API first (or that index,
//!   where there is no API), and takes our tag when neither lists one.
//!
//! `skill.toml` is not a second layer of the component's artifact:
//! `oci-wasm`, and so `wkg`, refuses an artifact with more than one layer.
//!
//! Nothing pulled is believed here: [`Fetched`] is bytes, and
//! `tgw skill install` checks them against the signature and the trust
//! policy before a file is written.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    ImageIndexEntry, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
    OciImageIndex, OciImageManifest, OciManifest,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WasmClient, WasmConfig};

/// The media type of the `skill.toml` layer.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.tgw.skill.manifest.v1+toml";
/// The media type of the signature layer (a `tgw-skill+jws`).
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.tgw.skill.signature.v1+jws";
/// The config (and artifact type) of the attachment.
pub const ATTACHMENT_MEDIA_TYPE: &str = "application/vnd.tgw.skill.attachment.v1+json";

/// The largest component or `skill.toml` accepted from a registry.
const MAX_COMPONENT_BYTES: usize = 64 << 20;
const MAX_ATTACHMENT_BYTES: usize = 256 << 10;

/// A client of one registry host.
pub struct Registry {
    client: WasmClient,
}

/// What a registry holds for one reference: bytes, not yet believed.
#[derive(Debug)]
pub struct Fetched {
    /// The reference as given.
    pub reference: String,
    /// `host/repository@sha256:…`: exactly what was pulled.
    pub pinned: String,
    /// The digest of the component's OCI manifest.
    pub digest: String,
    pub component: Vec<u8>,
    /// `skill.toml` and the signature, if an attachment was found.
    pub manifest: Option<Vec<u8>>,
    pub signature: Option<String>,
}

/// `REF` (`host[:port]/repo:version` or `…@sha256:…`), parsed.
pub fn parse_reference(text: &str) -> anyhow::Result<Reference> {
    let reference: Reference = text.parse().map_err(|e| {
        anyhow::anyhow!(
            "{text:?} is not an OCI reference like registry.example.com/skills/files:1.0.0: {e}"
        )
    })?;
    if !text.contains('/') {
        anyhow::bail!("{text:?} names no registry: write host[:port]/repository:version");
    }
    Ok(reference)
}

/// The tag of the attachment of the manifest `digest`.
pub fn attachment_tag(digest: &str) -> String {
    format!("{}.tgw", digest.replace(':', "-"))
}

impl Registry {
    /// A client; `plain_http` talks HTTP instead of HTTPS (a registry on
    /// loopback, in tests).
    pub fn new(plain_http: bool) -> Registry {
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        };
        Registry {
            client: WasmClient::new(Client::new(config)),
        }
    }

    /// Pushes the component, then its attachment ([`Registry::attach`]);
    /// returns the component manifest's digest.
    pub async fn publish(
        &self,
        reference: &Reference,
        component: Vec<u8>,
        manifest: Vec<u8>,
        signature: String,
        publisher: &str,
    ) -> anyhow::Result<String> {
        let auth = auth();
        let (config, layer) = WasmConfig::from_raw_component(component, Some(publisher.to_owned()))
            .map_err(|e| anyhow::anyhow!("the component cannot be described for OCI: {e}"))?;
        self.client
            .push(reference, &auth, layer, config, None)
            .await
            .map_err(|e| anyhow::anyhow!("pushing {reference}: {e}"))?;
        self.attach(reference, manifest, signature).await
    }

    /// Attaches `skill.toml` and the publisher's signature to the
    /// component manifest `reference` names (pushed by us or by anyone,
    /// `wkg oci push` say); returns that manifest's digest.
    pub async fn attach(
        &self,
        reference: &Reference,
        manifest: Vec<u8>,
        signature: String,
    ) -> anyhow::Result<String> {
        let auth = auth();
        let (wasm_manifest, digest) = self
            .client
            .pull_image_manifest(reference, &auth)
            .await
            .map_err(|e| anyhow::anyhow!("reading the manifest of {reference}: {e}"))?;
        let layers = vec![
            ImageLayer::new(manifest, MANIFEST_MEDIA_TYPE.into(), None),
            ImageLayer::new(signature.into_bytes(), SIGNATURE_MEDIA_TYPE.into(), None),
        ];
        let config = Config {
            data: b"{}".to_vec().into(),
            media_type: ATTACHMENT_MEDIA_TYPE.into(),
            annotations: None,
        };
        let mut attachment = OciImageManifest::build(&layers, &config, None);
        attachment.artifact_type = Some(ATTACHMENT_MEDIA_TYPE.into());
        attachment.subject = Some(OciDescriptor {
            media_type: wasm_manifest
                .media_type
                .clone()
                .unwrap_or_else(|| oci_wasm::WASM_MANIFEST_MEDIA_TYPE.into()),
            digest: digest.clone(),
            size: i64::try_from(serde_json::to_vec(&wasm_manifest)?.len())?,
            ..OciDescriptor::default()
        });
        let target = Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            attachment_tag(&digest),
        );
        self.client
            .as_ref()
            .push(&target, &layers, config, &auth, Some(attachment))
            .await
            .map_err(|e| anyhow::anyhow!("pushing the signature of {reference}: {e}"))?;
        self.index_referrer(&digest, &target, &auth)
            .await
            .map_err(|e| anyhow::anyhow!("listing the signature of {reference}: {e}"))?;
        Ok(digest)
    }

    /// Lists the attachment at `attachment` in the OCI referrers tag
    /// schema index of the manifest `subject` (the tag `sha256-<hex>`),
    /// which a client keeps where a registry has no referrers API, as the
    /// OCI distribution spec asks: `oras discover` and our own pull find
    /// it there. Other referrers already listed stay.
    async fn index_referrer(
        &self,
        subject: &str,
        attachment: &Reference,
        auth: &RegistryAuth,
    ) -> anyhow::Result<()> {
        let client = self.client.as_ref();
        let (bytes, attachment_digest) = client
            .pull_manifest_raw(attachment, auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await?;
        let index_ref = Reference::with_tag(
            attachment.registry().to_owned(),
            attachment.repository().to_owned(),
            subject.replace(':', "-"),
        );
        let mut index = match client.pull_manifest(&index_ref, auth).await {
            Ok((OciManifest::ImageIndex(index), _)) => index,
            Ok((OciManifest::Image(_), _)) => {
                anyhow::bail!("{index_ref} is an image, not a referrers index")
            }
            Err(e) if is_missing(&e) => OciImageIndex {
                schema_version: 2,
                media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.into()),
                manifests: Vec::new(),
                artifact_type: None,
                annotations: None,
            },
            Err(e) => return Err(e.into()),
        };
        index.manifests.retain(|m| m.digest != attachment_digest);
        index.manifests.push(ImageIndexEntry {
            media_type: OCI_IMAGE_MEDIA_TYPE.into(),
            digest: attachment_digest,
            size: i64::try_from(bytes.len())?,
            platform: None,
            annotations: None,
            artifact_type: Some(ATTACHMENT_MEDIA_TYPE.into()),
        });
        client
            .push_manifest(&index_ref, &OciManifest::ImageIndex(index))
            .await?;
        Ok(())
    }

    /// Pulls `reference` and its attachment. The registry client checks
    /// every blob against its digest; a reference by digest must resolve
    /// to that digest.
    pub async fn fetch(&self, reference: &Reference) -> anyhow::Result<Fetched> {
        let auth = auth();
        let image = self
            .client
            .pull(reference, &auth)
            .await
            .map_err(|e| anyhow::anyhow!("pulling {reference}: {e}"))?;
        let digest = image
            .digest
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{reference}: the registry gave no digest"))?;
        if let Some(wanted) = reference.digest()
            && wanted != digest
        {
            anyhow::bail!("{reference}: the registry answered with {digest}");
        }
        let component = image
            .layers
            .into_iter()
            .next()
            .filter(|l| l.media_type == WASM_LAYER_MEDIA_TYPE)
            .ok_or_else(|| anyhow::anyhow!("{reference}: no {WASM_LAYER_MEDIA_TYPE} layer"))?
            .data
            .to_vec();
        if component.len() > MAX_COMPONENT_BYTES {
            anyhow::bail!("{reference}: the component is over {MAX_COMPONENT_BYTES} bytes");
        }
        let pinned = format!(
            "{}/{}@{digest}",
            reference.registry(),
            reference.repository()
        );
        let attachment = self.attachment_of(reference, &digest).await;
        let (manifest, signature) = match self
            .client
            .as_ref()
            .pull(
                &attachment,
                &auth,
                vec![MANIFEST_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE],
            )
            .await
        {
            Ok(pulled) => {
                let layer = |media_type: &str| {
                    pulled
                        .layers
                        .iter()
                        .find(|l| {
                            l.media_type == media_type && l.data.len() <= MAX_ATTACHMENT_BYTES
                        })
                        .map(|l| l.data.to_vec())
                };
                let signature = layer(SIGNATURE_MEDIA_TYPE)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                (layer(MANIFEST_MEDIA_TYPE), signature)
            }
            Err(e) if is_missing(&e) => (None, None),
            Err(e) => anyhow::bail!("pulling the signature of {reference}: {e}"),
        };
        Ok(Fetched {
            reference: reference.whole(),
            pinned,
            digest,
            component,
            manifest,
            signature,
        })
    }
}

impl Registry {
    /// Where the attachment of the component manifest `digest` is: the
    /// referrer of ours that the registry's referrers API lists (or the
    /// OCI referrers tag schema, which `oci-client` falls back to), else
    /// our tag fallback, `sha256-<hex>.tgw`. Whatever is found there is
    /// only bytes: the signature in it is checked before anything is used.
    async fn attachment_of(&self, reference: &Reference, digest: &str) -> Reference {
        let subject = Reference::with_digest(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            digest.to_owned(),
        );
        let by_tag = Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            attachment_tag(digest),
        );
        match self
            .client
            .as_ref()
            .pull_referrers(&subject, Some(ATTACHMENT_MEDIA_TYPE))
            .await
        {
            Ok(index) => index
                .manifests
                .into_iter()
                .find(|m| m.artifact_type.as_deref() == Some(ATTACHMENT_MEDIA_TYPE))
                .map_or(by_tag, |m| {
                    Reference::with_digest(
                        reference.registry().to_owned(),
                        reference.repository().to_owned(),
                        m.digest,
                    )
                }),
            Err(_) => by_tag,
        }
    }
}

/// Whether the registry said it has no such manifest.
fn is_missing(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

/// Anonymous, or basic auth from `TGW_REGISTRY_USER` and
/// `TGW_REGISTRY_PASSWORD` (a token for GHCR, Harbor or ECR).
fn auth() -> RegistryAuth {
    match (
        std::env::var("TGW_REGISTRY_USER"),
        std::env::var("TGW_REGISTRY_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => RegistryAuth::Basic(user, password),
        _ => RegistryAuth::Anonymous,
    }
}
