//! Client TLS: which roots and client certificate a guest's connection to
//! a host uses (`[[client_tls]]`), on rustls.
//!
//! Without an entry for the host, a connection trusts the built-in web PKI
//! roots plus the platform's roots, so HTTPS works from a scratch image
//! with no CA bundle. An entry follows Spin's rules: `ca_roots_file`
//! replaces the platform roots unless `ca_use_platform_roots = true`
//! asks for them too, and `ca_use_webpki_roots` adds the built-in ones.
//! "Platform roots" on a system without any (a scratch image) are the
//! built-in ones.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _, Result};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;
use spinshim_app::RuntimeConfig;

/// The runtime-config key.
pub const SECTION: &str = "client_tls";

/// One `[[client_tls]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientTlsSection {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_platform_roots: Option<bool>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

/// Every TLS client configuration of the app, made at start-up (the
/// default one on first use: reading the platform's roots takes time).
#[derive(Default)]
pub struct TlsConfigs {
    entries: Vec<TlsEntry>,
    default: OnceLock<Arc<ClientConfig>>,
}

struct TlsEntry {
    components: HashSet<String>,
    hosts: Vec<(String, Option<u16>)>,
    config: Arc<ClientConfig>,
}

/// The configuration for one connection, with a key that is equal for
/// equal configurations (pooled connections must not cross them).
#[derive(Clone)]
pub struct TlsChoice {
    /// 0 for the default configuration, else the entry's position + 1.
    pub key: usize,
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
}

impl TlsConfigs {
    /// Reads `[[client_tls]]`; a missing or non-PEM file stops start-up,
    /// naming the file.
    pub fn from_runtime_config(runtime_config: &RuntimeConfig) -> Result<Self> {
        let sections: Vec<ClientTlsSection> = runtime_config.section(SECTION)?.unwrap_or_default();
        let entries = sections
            .into_iter()
            .enumerate()
            .map(|(index, section)| {
                TlsEntry::new(section, runtime_config).with_context(|| {
                    format!("{}: [[{SECTION}]] #{}", runtime_config.label, index + 1)
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            entries,
            default: OnceLock::new(),
        })
    }

    /// The configuration `component` uses to reach `host:port`.
    pub fn for_host(&self, component: &str, host: &str, port: u16) -> TlsChoice {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found = self.entries.iter().position(|entry| {
            entry.components.contains(component)
                && entry
                    .hosts
                    .iter()
                    .any(|(h, p)| h.eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port))
        });
        match found {
            Some(index) => TlsChoice {
                key: index + 1,
                config: self.entries[index].config.clone(),
            },
            None => self.default_choice(),
        }
    }

    /// The configuration for hosts no entry names.
    pub fn default_choice(&self) -> TlsChoice {
        TlsChoice {
            key: 0,
            config: self.default().clone(),
        }
    }

    fn default(&self) -> &Arc<ClientConfig> {
        self.default.get_or_init(|| {
            let mut roots = webpki_roots();
            roots.extend(platform_roots().roots.iter().cloned());
            Arc::new(client_config(roots, None).expect("the default TLS configuration is valid"))
        })
    }
}

impl TlsEntry {
    fn new(section: ClientTlsSection, runtime_config: &RuntimeConfig) -> Result<Self> {
        if section.component_ids.is_empty() {
            bail!("component_ids must name at least one component");
        }
        if section.hosts.is_empty() {
            bail!("hosts must name at least one host");
        }
        let hosts = section
            .hosts
            .iter()
            .map(|h| parse_host(h))
            .collect::<Result<_>>()?;
        let resolve = |path: &PathBuf| runtime_config.resolve_path(path);
        let custom = section
            .ca_roots_file
            .as_ref()
            .map(|path| read_certificates(&resolve(path)))
            .transpose()?;
        let (use_platform, use_webpki) =
            match (section.ca_use_platform_roots, section.ca_use_webpki_roots) {
                (Some(platform), Some(webpki)) => (platform, webpki),
                (Some(platform), None) => (platform, false),
                (None, Some(webpki)) => (false, webpki),
                (None, None) => (custom.is_none(), false),
            };
        let mut roots = RootCertStore::empty();
        if use_platform {
            roots.extend(platform_roots().roots.iter().cloned());
        }
        if use_webpki {
            roots.extend(webpki_roots().roots);
        }
        if let (Some(certificates), Some(path)) = (custom, &section.ca_roots_file) {
            for certificate in certificates {
                roots.add(certificate).with_context(|| {
                    format!("{}: not a usable CA certificate", resolve(path).display())
                })?;
            }
        }
        if roots.is_empty() {
            bail!("no CA roots: give ca_roots_file or enable ca_use_platform_roots / ca_use_webpki_roots");
        }
        let identity = match (&section.client_cert_file, &section.client_private_key_file) {
            (Some(cert), Some(key)) => Some(read_identity(&resolve(cert), &resolve(key))?),
            (None, None) => None,
            _ => bail!(
                "client_cert_file and client_private_key_file go together: give both or neither"
            ),
        };
        Ok(Self {
            components: section.component_ids.into_iter().collect(),
            hosts,
            config: Arc::new(client_config(roots, identity)?),
        })
    }
}

/// `host` or `host:port` (IPv6 in brackets).
fn parse_host(entry: &str) -> Result<(String, Option<u16>)> {
    let entry = entry.trim();
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (!host.contains(':') || host.ends_with(']')) =>
        {
            let port = port
                .parse::<u16>()
                .with_context(|| format!("hosts: \"{entry}\": invalid port \"{port}\""))?;
            (host, Some(port))
        }
        _ => (entry, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ']) {
        bail!("hosts: \"{entry}\" is not host[:port]");
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig> {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
    Ok(match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("client certificate and key do not form a usable identity")?,
        None => builder.with_no_client_auth(),
    })
}

/// A TLS client for a database or broker connection: the built-in web PKI
/// roots and the platform's, plus `extra_root_pem` (a guest's
/// `set-ca-root`); an extra root that is not PEM is an error naming why.
pub fn server_client_config(extra_root_pem: Option<&str>) -> Result<Arc<ClientConfig>> {
    let mut roots = webpki_roots();
    roots.roots.extend(platform_roots().roots.iter().cloned());
    if let Some(pem) = extra_root_pem {
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| anyhow::anyhow!("the CA root is not a PEM certificate: {err}"))?;
        if certificates.is_empty() {
            bail!("the CA root holds no PEM certificate");
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|err| anyhow::anyhow!("the CA root is not usable: {err}"))?;
        }
    }
    Ok(Arc::new(client_config(roots, None)?))
}

fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The platform's roots, read once; the built-in roots where the platform
/// has none.
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::debug!("no platform CA roots found; using the built-in web PKI roots");
            return webpki_roots();
        }
        roots
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| anyhow::anyhow!("{}: not PEM certificates: {err}", path.display()))?;
    if certificates.is_empty() {
        bail!("{}: no PEM certificate in the file", path.display());
    }
    Ok(certificates)
}

fn read_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = read_certificates(cert)?;
    let text = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&text)
        .map_err(|err| anyhow::anyhow!("{}: not a PEM private key: {err}", key.display()))?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, dir: &Path) -> Result<TlsConfigs> {
        let mut rc = RuntimeConfig::from_toml_str(text, "runtime-config.toml")?;
        rc.config_dir = Some(dir.to_owned());
        TlsConfigs::from_runtime_config(&rc)
    }

    #[test]
    fn host_entries_parse_with_and_without_ports() {
        assert_eq!(
            parse_host("Example.com").unwrap(),
            ("example.com".into(), None)
        );
        assert_eq!(parse_host("a.b:8443").unwrap(), ("a.b".into(), Some(8443)));
        assert_eq!(parse_host("[::1]:443").unwrap(), ("::1".into(), Some(443)));
        assert!(parse_host("a.b:x").is_err());
    }

    #[test]
    fn a_missing_or_non_pem_roots_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nca_roots_file = \"ca.pem\"\n";
        let err = format!("{:#}", config(text, dir.path()).err().unwrap());
        assert!(
            err.contains("ca.pem") && err.contains("cannot read"),
            "{err}"
        );
        std::fs::write(dir.path().join("ca.pem"), "not pem").unwrap();
        let err = format!("{:#}", config(text, dir.path()).err().unwrap());
        assert!(err.contains("ca.pem") && err.contains("PEM"), "{err}");
    }

    #[test]
    fn half_a_client_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nclient_cert_file = \"c.pem\"\n";
        let err = format!("{:#}", config(text, dir.path()).err().unwrap());
        assert!(
            err.contains("[[client_tls]] #1") && err.contains("give both"),
            "{err}"
        );
    }

    #[test]
    fn entries_apply_to_their_components_and_hosts_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h:8443\"]\nca_use_webpki_roots = true\n";
        let configs = config(text, dir.path()).unwrap();
        assert_eq!(configs.for_host("a", "h", 8443).key, 1);
        assert_eq!(configs.for_host("a", "H", 8443).key, 1);
        assert_eq!(configs.for_host("a", "h", 443).key, 0);
        assert_eq!(configs.for_host("b", "h", 8443).key, 0);
    }
}
