//! Talking to an OCI registry for `push` and `inspect`: which protocol, which
//! credentials, and the few blob and manifest calls we need, each error naming
//! the reference and the blob.
//!
//! - Plain HTTP for `localhost`, `127.0.0.0/8` and `[::1]` registries, or for any
//!   registry with `--insecure`; HTTPS otherwise.
//! - Credentials come from the Docker config (`$DOCKER_CONFIG/config.json` or
//!   `~/.docker/config.json`, credential helpers included); anonymous otherwise.

use anyhow::{Context as _, Result};
use bytes::Bytes;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use spinshim_oci::digest::sha256_digest;
use spinshim_oci::manifest::Descriptor;
use spinshim_oci::media_types;

/// Blobs are streamed in pieces of this size, so progress can be shown.
const PUSH_PIECE: usize = 1 << 20;

/// One registry repository, as named by a reference.
pub struct Registry {
    client: oci_client::Client,
    reference: Reference,
    auth: RegistryAuth,
    /// The reference as the user wrote it, for messages.
    shown: String,
}

impl Registry {
    /// Parses `reference` and prepares a client with the right protocol and
    /// credentials for its registry.
    pub async fn connect(reference: &str, insecure: bool) -> Result<Self> {
        install_crypto_provider();
        let parsed: Reference = reference
            .parse()
            .with_context(|| format!("{reference:?} is not a valid OCI reference"))?;
        let plain_http = insecure || is_loopback_registry(parsed.registry());
        let client = oci_client::Client::new(ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..Default::default()
        });
        let auth = credentials(parsed.resolve_registry());
        client
            .store_auth_if_needed(parsed.resolve_registry(), &auth)
            .await;
        Ok(Registry {
            client,
            reference: parsed,
            auth,
            shown: reference.to_owned(),
        })
    }

    /// Whether the repository already has a blob.
    pub async fn has_blob(&self, digest: &str) -> Result<bool> {
        self.client
            .blob_exists(&self.reference, digest)
            .await
            .with_context(|| format!("{}: checking for blob {digest}", self.shown))
    }

    /// Uploads a blob, calling `progress` with the number of bytes handed over so
    /// far as each piece is sent.
    pub async fn push_blob(
        &self,
        digest: &str,
        data: Bytes,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<()> {
        let size = data.len() as u64;
        let pieces: Vec<Bytes> = (0..data.len())
            .step_by(PUSH_PIECE)
            .map(|start| data.slice(start..data.len().min(start + PUSH_PIECE)))
            .collect();
        let mut sent = 0u64;
        let stream = futures::stream::iter(pieces.into_iter().map(move |piece| {
            sent += piece.len() as u64;
            progress(sent);
            Ok(piece)
        }));
        let pushed = self
            .client
            .push_blob_stream(&self.reference, stream, digest, Some(size))
            .await;
        let pushed = match pushed {
            // Some registries refuse chunked uploads; push_blob falls back to one PUT.
            Err(OciDistributionError::SpecViolationError(_)) => {
                self.client.push_blob(&self.reference, data, digest).await
            }
            other => other,
        };
        pushed
            .map(drop)
            .with_context(|| format!("{}: pushing blob {digest}", self.shown))
    }

    /// Uploads an image manifest under the reference's tag (or digest) and returns
    /// its digest.
    pub async fn push_manifest(&self, manifest: Vec<u8>) -> Result<String> {
        let digest = sha256_digest(&manifest);
        let content_type = http::HeaderValue::from_static(media_types::OCI_IMAGE_MANIFEST);
        self.client
            .push_manifest_raw(&self.reference, manifest, content_type)
            .await
            .with_context(|| format!("{}: pushing the manifest", self.shown))?;
        Ok(digest)
    }

    /// Fetches the manifest (OCI or Docker v2 image manifest) and its digest.
    pub async fn pull_manifest(&self) -> Result<(Vec<u8>, String)> {
        let accepted = [
            media_types::OCI_IMAGE_MANIFEST,
            media_types::DOCKER_IMAGE_MANIFEST,
            "application/vnd.oci.image.index.v1+json",
        ];
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&self.reference, &self.auth, &accepted)
            .await
            .with_context(|| format!("{}: fetching the manifest", self.shown))?;
        Ok((bytes.to_vec(), digest))
    }

    /// Fetches a blob; the client checks it against the descriptor's digest.
    pub async fn pull_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let oci = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let mut out = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        self.client
            .pull_blob(&self.reference, &oci, &mut out)
            .await
            .with_context(|| format!("{}: fetching blob {}", self.shown, descriptor.digest))?;
        Ok(out)
    }
}

/// rustls needs one process-wide crypto provider; we build it with `ring` only.
fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// True for registries on this machine, which get plain HTTP like Spin's local
/// development registries: `localhost`, `127.x.y.z` and `[::1]`, with any port.
fn is_loopback_registry(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Docker credentials for `server`, else anonymous. A broken credential set-up is
/// reported (then ignored) rather than silently turning into a 401 later.
fn credentials(server: &str) -> RegistryAuth {
    match docker_credential::get_credential(server) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(DockerCredential::IdentityToken(_)) => {
            tracing::warn!(
                "{server}: the Docker config holds an identity token, which is not supported; using anonymous access"
            );
            RegistryAuth::Anonymous
        }
        Err(
            CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::ConfigReadError
            | CredentialRetrievalError::NoCredentialConfigured,
        ) => RegistryAuth::Anonymous,
        Err(e) => {
            tracing::warn!(
                "{server}: cannot use the Docker credentials ({e}); using anonymous access"
            );
            RegistryAuth::Anonymous
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registries_on_this_machine_get_plain_http() {
        for local in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:41234",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback_registry(local), "{local}");
        }
        for remote in [
            "ghcr.io",
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_registry(remote), "{remote}");
        }
    }
}
