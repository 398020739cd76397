//! `allowed_outbound_hosts`: the grammar (spec §6.1), matching (§6.2) and the
//! conversion of legacy `allowed_http_hosts` (§6.5).
//!
//! An entry is `<scheme>://<host>[:<port>]`:
//!
//! | entry | allows |
//! |---|---|
//! | `https://example.com` | `https://example.com`, `https://example.com:443` |
//! | `*://*.example.com:*` | any scheme and port on subdomains (not the apex) |
//! | `redis://10.0.0.0/8` | redis on port 6379 of IP literals in 10/8 |
//! | `mysql://[::1]:3300..3310` | ports 3300 to 3309 (end-exclusive) |
//! | `http://self` | relative and self requests only |
//!
//! Templates (`{{ var }}`) are rendered before parsing; see
//! [`crate::variables::ResolvedVariables::allowed_outbound_hosts`].

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;
use url::Url;

/// A hint pointing at the allow-everything entry.
const ALLOW_ALL_HINT: &str = "to allow everything, use \"*://*:*\"";

/// Why an entry does not parse. Each message quotes the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// Something other than `scheme://host[:port]`.
    #[error("\"{entry}\": {reason}")]
    Invalid {
        /// The entry as written.
        entry: String,
        /// What is wrong, with a hint when there is one.
        reason: String,
    },
}

fn invalid(entry: &str, reason: impl Into<String>) -> OutboundError {
    OutboundError::Invalid {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

/// Parsed `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHostsConfig {
    entries: Vec<AllowedHost>,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// The scheme pattern.
    pub scheme: SchemePattern,
    /// The host pattern.
    pub host: HostPattern,
    /// The port pattern.
    pub port: PortPattern,
}

/// The scheme part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemePattern {
    /// `*`.
    Any,
    /// A lower-cased alphabetic scheme.
    Exact(String),
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`.
    Any,
    /// `*.example.com`: hosts ending with `.example.com` (stored without `*.`).
    Subdomains(String),
    /// A lower-cased domain.
    Domain(String),
    /// An IP address.
    Ip(IpAddr),
    /// A CIDR range (truncated); matches IP-literal hosts only.
    Cidr(IpNet),
    /// `self` or `self.alt`: relative and self requests.
    SelfRequest,
}

/// The port part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPattern {
    /// `*`.
    Any,
    /// One port (given, or the scheme's default).
    Exact(u16),
    /// `a..b`, end-exclusive.
    Range(Range<u16>),
}

/// The default port of a scheme, for entries without a port and URLs without one.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "mysql" => 3306,
        "postgres" => 5432,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHostsConfig {
    /// Parses entries strictly (spec §6.1). See [`AllowedHostsConfig::parse_rendered`]
    /// for entries that came out of templates.
    pub fn parse(entries: &[impl AsRef<str>]) -> Result<AllowedHostsConfig, OutboundError> {
        let entries = entries
            .iter()
            .map(|e| AllowedHost::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowedHostsConfig { entries })
    }

    /// Like [`AllowedHostsConfig::parse`], but rendered entries that are empty,
    /// `http://` or `https://` are dropped: that is how optional hosts are written
    /// (spec §6.3).
    pub fn parse_rendered(
        entries: &[impl AsRef<str>],
    ) -> Result<AllowedHostsConfig, OutboundError> {
        let kept: Vec<&str> = entries
            .iter()
            .map(|e| e.as_ref())
            .filter(|e| !is_empty_rendering(e))
            .collect();
        Self::parse(&kept)
    }

    /// A config of already parsed entries.
    pub fn from_entries(entries: Vec<AllowedHost>) -> AllowedHostsConfig {
        AllowedHostsConfig { entries }
    }

    /// The parsed entries.
    pub fn entries(&self) -> &[AllowedHost] {
        &self.entries
    }

    /// True when relative (self) requests are allowed: some entry's host is
    /// `self`, `self.alt` or `*`, with scheme `http`, `https` or `*`.
    pub fn allows_relative(&self) -> bool {
        self.entries.iter().any(|e| {
            matches!(e.host, HostPattern::SelfRequest | HostPattern::Any)
                && match &e.scheme {
                    SchemePattern::Any => true,
                    SchemePattern::Exact(s) => s == "http" || s == "https",
                }
        })
    }

    /// True when some entry matches the URL's scheme, host and port; a URL without a
    /// port uses its scheme's default (spec §6.2 step 2).
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let port = url.port().or_else(|| default_port(url.scheme()));
        self.allows_parts(url.scheme(), host, port)
    }

    /// [`AllowedHostsConfig::allows`] for a scheme, host (domain, IPv4, or IPv6 with
    /// or without brackets) and port taken apart already.
    pub fn allows_parts(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries
            .iter()
            .any(|e| e.matches(&scheme, &host, ip, port))
    }
}

/// Rendered results that mean "no entry" (spec §6.3).
pub fn is_empty_rendering(entry: &str) -> bool {
    matches!(entry.trim(), "" | "http://" | "https://")
}

impl AllowedHost {
    /// Parses one entry.
    pub fn parse(raw: &str) -> Result<AllowedHost, OutboundError> {
        let entry = raw.trim();
        if entry == "insecure:allow-all" {
            return Err(invalid(
                entry,
                format!("\"insecure:allow-all\" is only accepted in the legacy allowed_http_hosts; {ALLOW_ALL_HINT}"),
            ));
        }
        if matches!(entry, "*" | ":" | "?" | "") {
            return Err(invalid(
                entry,
                format!("not a valid entry; {ALLOW_ALL_HINT}"),
            ));
        }
        if entry.contains(['{', '}', ',']) {
            return Err(invalid(
                entry,
                "lists are not allowed: write one entry per host",
            ));
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(invalid(
                entry,
                format!(
                    "missing \"://\": entries look like \"https://example.com\"; {ALLOW_ALL_HINT}"
                ),
            ));
        };
        let scheme = if scheme == "*" {
            SchemePattern::Any
        } else if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
            SchemePattern::Exact(scheme.to_ascii_lowercase())
        } else {
            return Err(invalid(
                entry,
                format!("invalid scheme \"{scheme}\": use letters only, or \"*\""),
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(entry, rest)?;
        let host = parse_host(entry, &host)?;
        let port = match port {
            Some(port) => parse_port(entry, port)?,
            None => match &scheme {
                SchemePattern::Exact(s) => match default_port(s) {
                    Some(p) => PortPattern::Exact(p),
                    None if host == HostPattern::SelfRequest => PortPattern::Any,
                    None => {
                        return Err(invalid(
                            entry,
                            format!("scheme \"{s}\" has no default port: add one, e.g. \"{s}://host:1234\", or \":*\" for any"),
                        ))
                    }
                },
                SchemePattern::Any if host == HostPattern::SelfRequest => PortPattern::Any,
                SchemePattern::Any => {
                    return Err(invalid(entry, "scheme \"*\" needs a port: add \":*\" for any port"))
                }
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, ip: Option<IpAddr>, port: Option<u16>) -> bool {
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(s) => s == scheme,
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Subdomains(suffix) => {
                ip.is_none()
                    && host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            HostPattern::Domain(d) => ip.is_none() && d == host,
            HostPattern::Ip(addr) => ip == Some(*addr),
            HostPattern::Cidr(net) => ip.is_some_and(|ip| net.contains(&ip)),
            HostPattern::SelfRequest => false,
        };
        let port_ok = match (&self.port, port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Exact(p), Some(port)) => *p == port,
            (PortPattern::Range(r), Some(port)) => r.contains(&port),
            (_, None) => false,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Splits `host[:port]`, handling `[ipv6]`, `[ipv6]/len` and `a.b.c.d/len`.
fn split_host_port<'a>(
    entry: &str,
    rest: &'a str,
) -> Result<(String, Option<&'a str>), OutboundError> {
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return Err(invalid(entry, "unclosed \"[\" in IPv6 address"));
        };
        let (prefix, after) = match after.strip_prefix('/') {
            Some(cidr) => {
                let end = cidr.find(':').unwrap_or(cidr.len());
                (Some(&cidr[..end]), &cidr[end..])
            }
            None => (None, after),
        };
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| invalid(entry, "unexpected text after \"]\""))?,
            ),
        };
        let host = match prefix {
            Some(len) => format!("{addr}/{len}"),
            None => addr.to_owned(),
        };
        return Ok((host, port));
    }
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if hostport.matches(':').count() > 1 {
        return Err(invalid(
            entry,
            "IPv6 addresses must be in brackets, e.g. \"[::1]\"",
        ));
    }
    match path {
        None => Ok(match hostport.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }),
        Some(path) => {
            // Only a CIDR prefix length may follow a '/': `10.0.0.0/8[:port]`.
            let (len, port) = match path.split_once(':') {
                Some((l, p)) => (l, Some(p)),
                None => (path, None),
            };
            let is_cidr = !hostport.contains(':')
                && !len.is_empty()
                && len.bytes().all(|b| b.is_ascii_digit())
                && hostport.parse::<IpAddr>().is_ok();
            if is_cidr {
                Ok((format!("{hostport}/{len}"), port))
            } else {
                Err(invalid(
                    entry,
                    "paths are not allowed: give only scheme, host and port",
                ))
            }
        }
    }
}

fn parse_host(entry: &str, host: &str) -> Result<HostPattern, OutboundError> {
    if host.is_empty() {
        return Err(invalid(entry, "missing host; use \"*\" for any host"));
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::SelfRequest);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.is_empty() || suffix.contains('*') {
            return Err(invalid(
                entry,
                "a wildcard host must look like \"*.example.com\"",
            ));
        }
        return match url::Host::parse(suffix) {
            Ok(url::Host::Domain(d)) => Ok(HostPattern::Subdomains(d.to_ascii_lowercase())),
            _ => Err(invalid(entry, format!("invalid domain \"{suffix}\""))),
        };
    }
    if host.contains('*') {
        return Err(invalid(
            entry,
            "\"*\" is only allowed as the whole host or as a leading \"*.\"",
        ));
    }
    if host.contains('/') {
        return host
            .parse::<IpNet>()
            .map(|net| HostPattern::Cidr(net.trunc()))
            .map_err(|_| invalid(entry, format!("invalid CIDR \"{host}\"")));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Ip(ip));
    }
    match url::Host::parse(host) {
        Ok(url::Host::Domain(d)) => Ok(HostPattern::Domain(d.to_ascii_lowercase())),
        Ok(url::Host::Ipv4(ip)) => Ok(HostPattern::Ip(ip.into())),
        Ok(url::Host::Ipv6(ip)) => Ok(HostPattern::Ip(ip.into())),
        Err(_) => Err(invalid(entry, format!("invalid host \"{host}\""))),
    }
}

fn parse_port(entry: &str, port: &str) -> Result<PortPattern, OutboundError> {
    let number = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            invalid(
                entry,
                format!("invalid port \"{p}\": use a number, \"a..b\" or \"*\""),
            )
        })
    };
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if let Some((start, end)) = port.split_once("..") {
        let (start, end) = (number(start)?, number(end)?);
        if start >= end {
            return Err(invalid(
                entry,
                format!("empty port range \"{port}\": ranges are end-exclusive, so the end must be greater than the start"),
            ));
        }
        return Ok(PortPattern::Range(start..end));
    }
    number(port).map(PortPattern::Exact)
}

/// Converts legacy `allowed_http_hosts` to `allowed_outbound_hosts` entries (§6.5):
/// `insecure:allow-all` → `http://*:*`, `https://*:*`, `http://self`; `self` →
/// `http://self`; `host[:port]` → both `http://` and `https://`; schemed entries must
/// be http or https, without a path.
pub fn convert_allowed_http_hosts(
    entries: &[impl AsRef<str>],
) -> Result<Vec<String>, OutboundError> {
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.as_ref().trim();
        match entry {
            "insecure:allow-all" => {
                out.extend(["http://*:*", "https://*:*", "http://self"].map(String::from))
            }
            "self" => out.push("http://self".into()),
            _ => match entry.split_once("://") {
                Some((scheme, rest)) => {
                    if scheme != "http" && scheme != "https" {
                        return Err(invalid(
                            entry,
                            "allowed_http_hosts entries must use http or https",
                        ));
                    }
                    let rest = rest.strip_suffix('/').unwrap_or(rest);
                    if rest.contains('/') {
                        return Err(invalid(
                            entry,
                            "paths are not allowed: give only scheme, host and port",
                        ));
                    }
                    out.push(format!("{scheme}://{rest}"));
                }
                None => {
                    let host = entry.strip_suffix('/').unwrap_or(entry);
                    if host.is_empty() || host.contains('/') {
                        return Err(invalid(entry, "expected \"host\" or \"host:port\""));
                    }
                    out.push(format!("http://{host}"));
                    out.push(format!("https://{host}"));
                }
            },
        }
    }
    Ok(out)
}

/// The database wildcards a v1 manifest component without `allowed_outbound_hosts`
/// receives (the old open-database default, spec §1.3).
pub const V1_DATABASE_WILDCARDS: [&str; 3] = ["redis://*:*", "mysql://*:*", "postgres://*:*"];

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], url: &str) -> bool {
        AllowedHostsConfig::parse(entries)
            .unwrap()
            .allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn entries_match_urls_as_the_spec_says() {
        let cases: &[(&str, &str, bool)] = &[
            ("https://example.com", "https://example.com/path", true),
            ("https://example.com", "https://example.com:443/", true),
            ("https://example.com", "https://example.com:8443/", false),
            ("https://example.com", "http://example.com/", false),
            ("https://example.com", "https://EXAMPLE.com/", true),
            ("https://Example.COM", "https://example.com/", true),
            ("https://example.com/", "https://example.com/", true),
            ("http://example.com:8080", "http://example.com:8080/", true),
            ("http://example.com:8080", "http://example.com/", false),
            ("*://example.com:*", "ftp://example.com/", true),
            ("*://*:*", "anything://host:1/", true),
            ("https://*", "https://anything.org/", true),
            ("https://*", "https://anything.org:444/", false),
            ("https://*.example.com", "https://a.example.com/", true),
            ("https://*.example.com", "https://a.b.example.com/", true),
            ("https://*.example.com", "https://example.com/", false),
            ("https://*.example.com", "https://badexample.com/", false),
            ("redis://redis.local", "redis://redis.local", true),
            ("redis://redis.local", "redis://redis.local:6380", false),
            ("mysql://db", "mysql://db:3306", true),
            ("postgres://db", "postgres://db/dbname", true),
            ("mqtt://broker", "mqtt://broker:1883", true),
            ("tcp://1.2.3.4:80", "tcp://1.2.3.4:80", true),
            ("http://10.0.0.0/8", "http://10.1.2.3/", true),
            ("http://10.1.2.3/8", "http://10.200.0.1/", true),
            ("http://10.0.0.0/8", "http://11.0.0.1/", false),
            ("redis://10.0.0.0/8:*", "redis://10.9.9.9:7000", true),
            ("http://127.0.0.1", "http://127.0.0.1/", true),
            ("http://[::1]:8080", "http://[::1]:8080/", true),
            ("http://[::1]", "http://[::1]/", true),
            ("http://[fd00::]/8:*", "http://[fd12::1]:99/", true),
            (
                "http://localhost:3000..3002",
                "http://localhost:3001/",
                true,
            ),
            (
                "http://localhost:3000..3002",
                "http://localhost:3002/",
                false,
            ),
            (
                "http://localhost:3000..3002",
                "http://localhost:2999/",
                false,
            ),
            ("http://self", "http://self/", false),
            ("http://example.com", "http://1.2.3.4/", false),
        ];
        for (entry, url, expected) in cases {
            assert_eq!(allows(&[entry], url), *expected, "{entry} vs {url}");
        }
    }

    #[test]
    fn self_and_star_entries_allow_relative_requests() {
        for entry in ["http://self", "http://self.alt"] {
            let config = AllowedHostsConfig::parse(&[entry]).unwrap();
            assert!(config.allows_relative(), "{entry}");
        }
        let config = AllowedHostsConfig::parse(&["*://*:*"]).unwrap();
        assert!(config.allows_relative());
        for entry in ["https://example.com", "tcp://*:*", "redis://self"] {
            let config = AllowedHostsConfig::parse(&[entry]).unwrap();
            assert!(!config.allows_relative(), "{entry}");
        }
    }

    #[test]
    fn parts_match_like_urls() {
        let config =
            AllowedHostsConfig::parse(&["postgres://db.local", "redis://[::1]:*"]).unwrap();
        assert!(config.allows_parts("postgres", "db.local", Some(5432)));
        assert!(!config.allows_parts("postgres", "db.local", Some(5433)));
        assert!(config.allows_parts("redis", "[::1]", Some(1)));
        assert!(config.allows_parts("redis", "::1", None));
    }

    #[test]
    fn bad_entries_are_errors_with_hints() {
        let cases = [
            ("*", "\"*\": not a valid entry; to allow everything, use \"*://*:*\""),
            ("", "\"\": not a valid entry; to allow everything, use \"*://*:*\""),
            (
                "insecure:allow-all",
                "\"insecure:allow-all\": \"insecure:allow-all\" is only accepted in the legacy allowed_http_hosts; to allow everything, use \"*://*:*\"",
            ),
            (
                "example.com",
                "\"example.com\": missing \"://\": entries look like \"https://example.com\"; to allow everything, use \"*://*:*\"",
            ),
            ("ht3p://x", "\"ht3p://x\": invalid scheme \"ht3p\": use letters only, or \"*\""),
            (
                "tcp://1.2.3.4",
                "\"tcp://1.2.3.4\": scheme \"tcp\" has no default port: add one, e.g. \"tcp://host:1234\", or \":*\" for any",
            ),
            ("*://example.com", "\"*://example.com\": scheme \"*\" needs a port: add \":*\" for any port"),
            ("https://{a,b}.com", "\"https://{a,b}.com\": lists are not allowed: write one entry per host"),
            ("https://example.com/path", "\"https://example.com/path\": paths are not allowed: give only scheme, host and port"),
            ("https://a.*.com", "\"https://a.*.com\": \"*\" is only allowed as the whole host or as a leading \"*.\""),
            ("https://*.*.com", "\"https://*.*.com\": a wildcard host must look like \"*.example.com\""),
            ("http://::1", "\"http://::1\": IPv6 addresses must be in brackets, e.g. \"[::1]\""),
            ("http://x:port", "\"http://x:port\": invalid port \"port\": use a number, \"a..b\" or \"*\""),
            ("http://x:99999", "\"http://x:99999\": invalid port \"99999\": use a number, \"a..b\" or \"*\""),
            (
                "http://x:5..5",
                "\"http://x:5..5\": empty port range \"5..5\": ranges are end-exclusive, so the end must be greater than the start",
            ),
            ("http://:80", "\"http://:80\": missing host; use \"*\" for any host"),
            ("http://[::1", "\"http://[::1\": unclosed \"[\" in IPv6 address"),
            ("http://1.2.3.4/99", "\"http://1.2.3.4/99\": invalid CIDR \"1.2.3.4/99\""),
        ];
        for (entry, message) in cases {
            let err = AllowedHost::parse(entry).unwrap_err();
            assert_eq!(err.to_string(), message, "{entry}");
        }
    }

    #[test]
    fn whitespace_around_entries_is_trimmed() {
        assert!(allows(&["  https://example.com  "], "https://example.com/"));
    }

    #[test]
    fn rendered_entries_that_are_empty_are_dropped() {
        let config =
            AllowedHostsConfig::parse_rendered(&["", "http://", "https://", "https://a.com"])
                .unwrap();
        assert_eq!(config.entries().len(), 1);
        assert!(AllowedHostsConfig::parse(&["http://"]).is_err());
    }

    #[test]
    fn legacy_http_hosts_convert_as_the_spec_says() {
        let cases: &[(&str, &[&str])] = &[
            (
                "insecure:allow-all",
                &["http://*:*", "https://*:*", "http://self"],
            ),
            ("self", &["http://self"]),
            (
                "example.com",
                &["http://example.com", "https://example.com"],
            ),
            (
                "example.com:8080",
                &["http://example.com:8080", "https://example.com:8080"],
            ),
            ("https://example.com/", &["https://example.com"]),
        ];
        for (entry, expected) in cases {
            assert_eq!(
                convert_allowed_http_hosts(&[entry]).unwrap(),
                *expected,
                "{entry}"
            );
        }
        assert_eq!(
            convert_allowed_http_hosts(&["redis://x"])
                .unwrap_err()
                .to_string(),
            "\"redis://x\": allowed_http_hosts entries must use http or https"
        );
        assert_eq!(
            convert_allowed_http_hosts(&["http://x/p"])
                .unwrap_err()
                .to_string(),
            "\"http://x/p\": paths are not allowed: give only scheme, host and port"
        );
        // Converted entries parse.
        let converted = convert_allowed_http_hosts(&["insecure:allow-all", "a.com:1"]).unwrap();
        assert!(AllowedHostsConfig::parse(&converted).is_ok());
    }
}
