//! Outbound networking: the rules every client a guest uses shares —
//! `[outbound_networking]` (blocked networks, a connection cap),
//! `[[client_tls]]` — and `wasi:sockets`, whose every address use is
//! checked here against the component's `allowed_outbound_hosts`.
//!
//! The three tiers:
//! - app: [`NetworkPolicy`], made before every other capability's app
//!   state because the HTTP client (and later the database clients) build
//!   on it;
//! - component: its allowed hosts (templates resolved at start-up);
//! - instance: nothing; the socket check is installed into each
//!   instance's WASI context.
//!
//! Sockets: TCP connect and UDP connect and send need an entry with scheme `tcp` /
//! `udp` (or `*`) matching the address; an entry naming a host also admits
//! the addresses that host resolves to. Binding is allowed only to an
//! unspecified address with port 0 (the implicit bind of a client
//! socket); listening and accepting are always refused. A refused use is
//! `access-denied`. Name lookup is enabled only for components with such a
//! named entry.

pub mod blocked;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use spinshim_app::outbound::{AllowedHostsConfig, HostPattern, SchemePattern};
use spinshim_app::RuntimeConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Linker;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
pub use blocked::BlockedNetworks;
pub use tls::{TlsChoice, TlsConfigs};

/// The runtime-config key of the network rules.
const SECTION: &str = "outbound_networking";

/// `[outbound_networking]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkingSection {
    #[serde(default)]
    block_networks: Vec<String>,
    max_total_connections: Option<usize>,
    /// Accepted as in Spin; sockets are not counted by this host.
    #[allow(dead_code)]
    max_socket_connections: Option<usize>,
}

/// The app's network rules.
pub struct NetworkPolicy {
    /// Networks no destination may lie in.
    pub blocked: BlockedNetworks,
    /// TLS client configurations.
    pub tls: TlsConfigs,
    /// Caps the outbound connections open at once, when set.
    pub connections: Option<Arc<Semaphore>>,
}

impl NetworkPolicy {
    /// Reads `[outbound_networking]` and `[[client_tls]]`; errors name the
    /// file, section and field.
    pub fn from_runtime_config(runtime_config: &RuntimeConfig) -> Result<Self> {
        let section: NetworkingSection = runtime_config.section(SECTION)?.unwrap_or_default();
        let field = |name: &str| format!("{}: [{SECTION}] {name}", runtime_config.label);
        Ok(Self {
            blocked: BlockedNetworks::parse(&section.block_networks, &field("block_networks"))?,
            tls: TlsConfigs::from_runtime_config(runtime_config)?,
            connections: connection_cap(
                section.max_total_connections,
                &field("max_total_connections"),
            )?,
        })
    }
}

/// Why a destination could not be resolved to a usable address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name lookup failed.
    #[error("DNS lookup of {host} failed: {source}")]
    Dns {
        host: String,
        source: std::io::Error,
    },
    /// The name has no addresses.
    #[error("{0} has no addresses")]
    NotFound(String),
    /// Every address lies in a blocked network.
    #[error("{0} resolves only into blocked networks")]
    Blocked(String),
}

impl NetworkPolicy {
    /// The addresses of `host` (a name or an IP literal, IPv6 with or
    /// without brackets) that are not in a blocked network. Every client
    /// connects through this, so a name resolving into a blocked network is
    /// refused whatever the client.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|source| ResolveError::Dns {
                    host: host.to_string(),
                    source,
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(ResolveError::NotFound(host.to_string()));
        }
        addrs.retain(|addr| !self.blocked.is_blocked(addr.ip()));
        if addrs.is_empty() {
            tracing::info!("connection to {host} denied: it resolves only into blocked networks");
            return Err(ResolveError::Blocked(host.to_string()));
        }
        Ok(addrs)
    }

    /// A permit from `max_total_connections` and from the client's own
    /// cap, each where set; `None` when one is not free within `wait`.
    pub async fn permits(
        &self,
        client_cap: Option<&Arc<Semaphore>>,
        wait: Duration,
    ) -> Option<Vec<OwnedSemaphorePermit>> {
        let mut permits = Vec::new();
        for cap in [self.connections.as_ref(), client_cap]
            .into_iter()
            .flatten()
        {
            let permit = tokio::time::timeout(wait, Arc::clone(cap).acquire_owned()).await;
            permits.push(permit.ok()?.expect("connection caps are never closed"));
        }
        Some(permits)
    }
}

/// Whether `allowed` admits a client's `address` (a URL, or a bare
/// `host[:port]` read with `default_scheme`), as Spin's database and
/// broker clients check it.
pub fn allows_address(allowed: &AllowedHostsConfig, address: &str, default_scheme: &str) -> bool {
    let parsed = url::Url::parse(address)
        .ok()
        .filter(|url| url.host_str().is_some_and(|host| !host.is_empty()))
        .or_else(|| url::Url::parse(&format!("{default_scheme}://{address}")).ok());
    parsed.is_some_and(|url| allowed.allows(&url))
}

/// `url` with its password replaced by `***`, for logs and errors.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A semaphore for a connection cap; `field` names the setting when the
/// value is 0 or too large.
pub fn connection_cap(max: Option<usize>, field: &str) -> Result<Option<Arc<Semaphore>>> {
    match max {
        None => Ok(None),
        Some(max) if max == 0 || max > Semaphore::MAX_PERMITS => {
            anyhow::bail!(
                "{field}: {max} is not a usable cap (1 to {})",
                Semaphore::MAX_PERMITS
            )
        }
        Some(max) => Ok(Some(Arc::new(Semaphore::new(max)))),
    }
}

/// The capability.
pub struct OutboundNetworking;

/// What one component may reach by socket.
pub struct ComponentNetwork {
    allowed: Arc<AllowedHostsConfig>,
    policy: Arc<NetworkPolicy>,
    /// Some entry names a host for sockets, so lookups may be useful.
    name_lookup: bool,
}

impl Capability for OutboundNetworking {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION, tls::SECTION];
    type AppState = Arc<NetworkPolicy>;
    type ComponentState = ComponentNetwork;
    type InstanceState = ();

    /// `wasi:sockets` is linked with the rest of WASI.
    fn add_to_linker(_linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<Arc<NetworkPolicy>> {
        Ok(ctx.network.clone())
    }

    fn component_state(
        app: &Arc<Arc<NetworkPolicy>>,
        ctx: &ComponentContext<'_>,
    ) -> Result<ComponentNetwork> {
        let allowed = Arc::clone(ctx.allowed_hosts);
        let name_lookup = allowed.entries().iter().any(|entry| {
            is_socket_scheme(&entry.scheme)
                && matches!(
                    entry.host,
                    HostPattern::Domain(_) | HostPattern::Subdomains(_) | HostPattern::Any
                )
        });
        Ok(ComponentNetwork {
            allowed,
            policy: Arc::clone(app),
            name_lookup,
        })
    }

    fn instance_state(_component: &Arc<ComponentNetwork>) {}

    fn configure_wasi(component: &Arc<ComponentNetwork>, wasi: &mut WasiCtxBuilder) {
        let component = Arc::clone(component);
        wasi.allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(component.name_lookup)
            .socket_addr_check(move |addr, addr_use| {
                let component = Arc::clone(&component);
                Box::pin(async move { component.permits(addr, addr_use).await })
                    as Pin<Box<dyn std::future::Future<Output = bool> + Send + Sync>>
            });
    }
}

fn is_socket_scheme(scheme: &SchemePattern) -> bool {
    match scheme {
        SchemePattern::Any => true,
        SchemePattern::Exact(s) => s == "tcp" || s == "udp",
    }
}

impl ComponentNetwork {
    /// Whether the guest may use `addr` for `addr_use` (see the module
    /// documentation).
    async fn permits(&self, addr: SocketAddr, addr_use: SocketAddrUse) -> bool {
        let scheme = match addr_use {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                return addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => return false,
            // Datagrams can only arrive on a socket that was allowed to
            // send; as in Spin, their sources are not checked (beyond the
            // blocked networks), and never by name lookup.
            SocketAddrUse::UdpReceive => return !self.policy.blocked.is_blocked(addr.ip()),
            SocketAddrUse::TcpConnect => "tcp",
            SocketAddrUse::UdpSend => "udp",
        };
        if self.policy.blocked.is_blocked(addr.ip()) {
            tracing::info!("socket use of {addr} denied: the address is in a blocked network");
            return false;
        }
        let ip = addr.ip().to_canonical().to_string();
        if self.allowed.allows_parts(scheme, &ip, Some(addr.port()))
            || self.named_host_resolves_to(scheme, addr).await
        {
            return true;
        }
        tracing::info!("socket use of {scheme}://{addr} denied: not in allowed_outbound_hosts");
        false
    }

    /// True when an entry naming a domain (for this scheme and port)
    /// resolves to `addr`'s IP.
    async fn named_host_resolves_to(&self, scheme: &str, addr: SocketAddr) -> bool {
        if !self.name_lookup {
            return false;
        }
        for entry in self.allowed.entries() {
            let HostPattern::Domain(domain) = &entry.host else {
                continue;
            };
            let single = AllowedHostsConfig::from_entries(vec![entry.clone()]);
            if !single.allows_parts(scheme, domain, Some(addr.port())) {
                continue;
            }
            if let Ok(resolved) = tokio::net::lookup_host((domain.as_str(), addr.port())).await {
                if resolved
                    .into_iter()
                    .any(|r| r.ip().to_canonical() == addr.ip().to_canonical())
                {
                    return true;
                }
            }
        }
        false
    }
}
