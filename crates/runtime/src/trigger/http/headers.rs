//! The `spin-*` request headers a guest receives, as pure functions.
//!
//! Guests built with the Spin SDKs read these to learn which route matched
//! and what it captured. The set is exact: compatibility checks fail on a
//! missing, extra or duplicated `spin-*` header.
//!
//! [`spin_headers`] lists the set as strings (the legacy executor's form);
//! [`set_spin_headers`] puts the same set on a request's header map, with
//! the header names made at compile time and what depends only on the route
//! made once per route ([`RouteHeaders`]).

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use http::{HeaderMap, HeaderName, HeaderValue};
use spinshim_app::routes::{RouteMatch, RoutePattern};

/// The full URL the client asked for.
pub const FULL_URL: &str = "spin-full-url";
/// What a trailing wildcard matched.
pub const PATH_INFO: &str = "spin-path-info";
/// The normalised route that matched.
pub const MATCHED_ROUTE: &str = "spin-matched-route";
/// The app's base path (always `/` since Spin 3).
pub const BASE_PATH: &str = "spin-base-path";
/// The route as written in the manifest.
pub const RAW_COMPONENT_ROUTE: &str = "spin-raw-component-route";
/// The route without its trailing wildcard.
pub const COMPONENT_ROUTE: &str = "spin-component-route";
/// The peer address of the client.
pub const CLIENT_ADDR: &str = "spin-client-addr";
/// Prefix of one header per `:name` capture.
pub const PATH_MATCH_PREFIX: &str = "spin-path-match-";

const FULL_URL_NAME: HeaderName = HeaderName::from_static(FULL_URL);
const PATH_INFO_NAME: HeaderName = HeaderName::from_static(PATH_INFO);
const MATCHED_ROUTE_NAME: HeaderName = HeaderName::from_static(MATCHED_ROUTE);
const BASE_PATH_NAME: HeaderName = HeaderName::from_static(BASE_PATH);
const RAW_COMPONENT_ROUTE_NAME: HeaderName = HeaderName::from_static(RAW_COMPONENT_ROUTE);
const COMPONENT_ROUTE_NAME: HeaderName = HeaderName::from_static(COMPONENT_ROUTE);
const CLIENT_ADDR_NAME: HeaderName = HeaderName::from_static(CLIENT_ADDR);

/// What the headers are computed from, besides the route match.
pub struct RequestFacts<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` header (or URI authority), if any.
    pub host: Option<&'a str>,
    /// Path and query as the client sent them.
    pub path_and_query: &'a str,
    /// The client's address.
    pub client_addr: &'a ClientAddr,
}

/// A client's address with its `spin-client-addr` value, rendered once per
/// connection rather than on every request it carries.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    addr: SocketAddr,
    text: String,
    /// `None` if the text cannot be a header value (not for any address
    /// `SocketAddr` renders, but the request would fail naming it).
    header: Option<HeaderValue>,
}

impl ClientAddr {
    /// Renders `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        let text = addr.to_string();
        let header = HeaderValue::from_str(&text).ok();
        Self { addr, text, header }
    }

    /// The client's IP address (WAGI's `REMOTE_ADDR`).
    pub fn ip(&self) -> std::net::IpAddr {
        self.addr.ip()
    }

    /// The address as `spin-client-addr` carries it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Header names and values as the string pairs the legacy and WAGI ABIs
/// carry (values that are not UTF-8 are converted lossily).
pub fn header_pairs(headers: &http::HeaderMap) -> impl Iterator<Item = (String, String)> + '_ {
    headers.iter().map(|(name, value)| {
        (
            name.as_str().to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    })
}

/// The `spin-*` headers for a request that matched `route`, in Spin's order.
pub fn spin_headers<T>(
    facts: &RequestFacts<'_>,
    route: &RouteMatch<'_, T>,
) -> Vec<(String, String)> {
    let host = facts.host.unwrap_or("localhost");
    let mut headers = vec![
        (
            FULL_URL.to_string(),
            format!("{}://{host}{}", facts.scheme, facts.path_and_query),
        ),
        (PATH_INFO.to_string(), route.path_info().to_string()),
        (
            MATCHED_ROUTE.to_string(),
            route.normalized_route().to_string(),
        ),
        (BASE_PATH.to_string(), "/".to_string()),
        (
            RAW_COMPONENT_ROUTE.to_string(),
            route.raw_route().to_string(),
        ),
        (
            COMPONENT_ROUTE.to_string(),
            route.component_route().to_string(),
        ),
        (
            CLIENT_ADDR.to_string(),
            facts.client_addr.as_str().to_string(),
        ),
    ];
    for (name, value) in route.named_captures() {
        headers.push((capture_header_name(name), value.to_string()));
    }
    headers
}

/// The `spin-*` headers that depend only on the route, made once per route.
///
/// `None` marks a route value or capture name a header cannot carry (a
/// control character in the manifest's route, say): requests to that route
/// then fail in [`set_spin_headers`] with the error naming the header, as
/// they would without this cache.
#[derive(Debug, Clone)]
pub struct RouteHeaders {
    matched_route: Option<HeaderValue>,
    raw_component_route: Option<HeaderValue>,
    component_route: Option<HeaderValue>,
    /// One `spin-path-match-*` name per capture, in capture order.
    capture_names: Vec<Option<HeaderName>>,
}

impl RouteHeaders {
    /// The route-only part of the header set for `pattern`.
    pub fn new(pattern: &RoutePattern) -> Self {
        Self {
            matched_route: HeaderValue::from_str(pattern.normalized()).ok(),
            raw_component_route: HeaderValue::from_str(pattern.raw()).ok(),
            component_route: HeaderValue::from_str(pattern.component_route()).ok(),
            capture_names: pattern
                .param_names()
                .map(|name| HeaderName::try_from(capture_header_name(name)).ok())
                .collect(),
        }
    }
}

/// Sets the `spin-*` headers for a request that matched `route` on the
/// request's `headers`, replacing any a client sent under the same names (so
/// a client cannot spoof them). The set and its order are [`spin_headers`]'s;
/// `fixed` is the [`RouteHeaders`] of the matched route. Fails, naming the
/// header, when a value or name cannot be carried by HTTP.
pub fn set_spin_headers<T>(
    headers: &mut HeaderMap,
    facts: &RequestFacts<'_>,
    route: &RouteMatch<'_, T>,
    fixed: &RouteHeaders,
) -> Result<()> {
    // One growth of the map instead of several.
    headers.reserve(7 + fixed.capture_names.len());
    let host = facts.host.unwrap_or("localhost");
    let full_url = format!("{}://{host}{}", facts.scheme, facts.path_and_query);
    headers.insert(FULL_URL_NAME, header_value(FULL_URL, &full_url)?);
    headers.insert(PATH_INFO_NAME, header_value(PATH_INFO, route.path_info())?);
    headers.insert(
        MATCHED_ROUTE_NAME,
        cached_value(
            &fixed.matched_route,
            MATCHED_ROUTE,
            route.normalized_route(),
        )?,
    );
    headers.insert(BASE_PATH_NAME, HeaderValue::from_static("/"));
    headers.insert(
        RAW_COMPONENT_ROUTE_NAME,
        cached_value(
            &fixed.raw_component_route,
            RAW_COMPONENT_ROUTE,
            route.raw_route(),
        )?,
    );
    headers.insert(
        COMPONENT_ROUTE_NAME,
        cached_value(
            &fixed.component_route,
            COMPONENT_ROUTE,
            route.component_route(),
        )?,
    );
    let client_addr = facts.client_addr;
    headers.insert(
        CLIENT_ADDR_NAME,
        cached_value(&client_addr.header, CLIENT_ADDR, client_addr.as_str())?,
    );
    for ((capture, value), name) in route.named_captures().zip(&fixed.capture_names) {
        let value = HeaderValue::from_str(value).with_context(|| {
            format!(
                "header {} cannot carry {value:?}",
                capture_header_name(capture)
            )
        })?;
        let name = match name {
            Some(name) => name.clone(),
            None => HeaderName::try_from(capture_header_name(capture))?,
        };
        headers.insert(name, value);
    }
    Ok(())
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).with_context(|| format!("header {name} cannot carry {value:?}"))
}

fn cached_value(cached: &Option<HeaderValue>, name: &str, value: &str) -> Result<HeaderValue> {
    match cached {
        Some(cached) => Ok(cached.clone()),
        None => header_value(name, value),
    }
}

/// `:path_segment` becomes `spin-path-match-path-segment`.
pub fn capture_header_name(capture: &str) -> String {
    format!(
        "{PATH_MATCH_PREFIX}{}",
        capture.to_ascii_lowercase().replace('_', "-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinshim_app::routes::Router;

    fn headers_for(route: &str, path_and_query: &str) -> Vec<(String, String)> {
        let (router, _) = Router::build([(route.to_string(), ())]).unwrap();
        let path = path_and_query.split('?').next().unwrap();
        let matched = router.route(path).expect("route matches");
        let facts = RequestFacts {
            scheme: "http",
            host: Some("example.com"),
            path_and_query,
            client_addr: &ClientAddr::new("127.0.0.1:54321".parse().unwrap()),
        };
        spin_headers(&facts, &matched)
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        let found: Vec<_> = headers.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(found.len(), 1, "exactly one {name}");
        &found[0].1
    }

    #[test]
    fn the_worked_example_from_spins_docs_produces_the_exact_header_set() {
        let h = headers_for(
            "/base/:path_segment/:path_end/...",
            "/base/path/end/rest?key=value",
        );
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "spin-full-url",
                "spin-path-info",
                "spin-matched-route",
                "spin-base-path",
                "spin-raw-component-route",
                "spin-component-route",
                "spin-client-addr",
                "spin-path-match-path-segment",
                "spin-path-match-path-end",
            ]
        );
        assert_eq!(
            get(&h, FULL_URL),
            "http://example.com/base/path/end/rest?key=value"
        );
        assert_eq!(get(&h, PATH_INFO), "/rest");
        assert_eq!(get(&h, MATCHED_ROUTE), "/base/:path_segment/:path_end/...");
        assert_eq!(
            get(&h, RAW_COMPONENT_ROUTE),
            "/base/:path_segment/:path_end/..."
        );
        assert_eq!(get(&h, COMPONENT_ROUTE), "/base/:path_segment/:path_end");
        assert_eq!(get(&h, BASE_PATH), "/");
        assert_eq!(get(&h, CLIENT_ADDR), "127.0.0.1:54321");
        assert_eq!(get(&h, "spin-path-match-path-segment"), "path");
        assert_eq!(get(&h, "spin-path-match-path-end"), "end");
    }

    #[test]
    fn an_exact_route_has_empty_path_info_and_no_captures() {
        let h = headers_for("/exact", "/exact");
        assert_eq!(get(&h, PATH_INFO), "");
        assert_eq!(get(&h, COMPONENT_ROUTE), "/exact");
        assert_eq!(h.len(), 7);
    }

    #[test]
    fn the_root_route_normalises_to_an_empty_matched_route() {
        let h = headers_for("/", "/");
        assert_eq!(get(&h, MATCHED_ROUTE), "");
        assert_eq!(get(&h, RAW_COMPONENT_ROUTE), "/");
    }

    #[test]
    fn a_missing_host_falls_back_to_localhost_in_the_full_url() {
        let (router, _) = Router::build([("/...".to_string(), ())]).unwrap();
        let matched = router.route("/a").unwrap();
        let facts = RequestFacts {
            scheme: "http",
            host: None,
            path_and_query: "/a",
            client_addr: &ClientAddr::new("127.0.0.1:1".parse().unwrap()),
        };
        let h = spin_headers(&facts, &matched);
        assert_eq!(get(&h, FULL_URL), "http://localhost/a");
    }

    /// Setting the strings of [`spin_headers`] one by one: what the trigger
    /// did before names and route values were made ahead of time.
    fn set_the_plain_way(headers: &mut HeaderMap, spin: Vec<(String, String)>) -> Result<()> {
        for (name, value) in spin {
            let value = HeaderValue::from_str(&value)
                .with_context(|| format!("header {name} cannot carry {value:?}"))?;
            headers.insert(HeaderName::try_from(name)?, value);
        }
        Ok(())
    }

    #[test]
    fn set_spin_headers_sets_what_spin_headers_lists_and_fails_the_same_way() {
        let cases = [
            (
                "/base/:path_segment/:path_end/...",
                "/base/path/end/rest?key=value",
            ),
            ("/", "/"),
            ("/exact", "/exact/?q"),
            ("/...", "/a/b/"),
            ("/users/:ID_x", "/users/42"),
            ("/a\u{1}b", "/a\u{1}b"),
            ("/users/:x@y", "/users/42"),
            ("/files/:name", "/files/caf\u{7f}"),
        ];
        for (route, path_and_query) in cases {
            let (router, _) = Router::build([(route.to_string(), ())]).unwrap();
            let router = router.map_targets(|pattern, ()| RouteHeaders::new(pattern));
            let path = path_and_query.split('?').next().unwrap();
            let matched = router.route(path).expect("route matches");
            let facts = RequestFacts {
                scheme: "http",
                host: Some("example.com"),
                path_and_query,
                client_addr: &ClientAddr::new("[::1]:54321".parse().unwrap()),
            };
            let mut client = HeaderMap::new();
            client.insert("accept", HeaderValue::from_static("*/*"));
            client.insert(FULL_URL_NAME, HeaderValue::from_static("http://spoofed/"));
            let mut plain = client.clone();
            let plain_result = set_the_plain_way(&mut plain, spin_headers(&facts, &matched));
            let mut fast = client;
            let fast_result = set_spin_headers(&mut fast, &facts, &matched, matched.target());
            assert_eq!(
                fast_result.map_err(|e| format!("{e:#}")),
                plain_result.map_err(|e| format!("{e:#}")),
                "{route}"
            );
            let in_order = |map: &HeaderMap| {
                map.iter()
                    .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(in_order(&fast), in_order(&plain), "{route}");
        }
    }

    #[test]
    fn capture_names_are_lower_cased_with_dashes() {
        assert_eq!(
            capture_header_name("Path_Segment"),
            "spin-path-match-path-segment"
        );
    }
}
