//! The `spin-*` request headers a guest receives, as pure functions.
//!
//! Guests built with the Spin SDKs read these to learn which route matched
//! and what it captured. The set is exact: compatibility checks fail on a
//! missing, extra or duplicated `spin-*` header.

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use http::{HeaderMap, HeaderName, HeaderValue};
use spinshim_app::routes::RouteMatch;

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

/// What the headers are computed from, besides the route match.
pub struct RequestFacts<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` header (or URI authority), if any.
    pub host: Option<&'a str>,
    /// Path and query as the client sent them.
    pub path_and_query: &'a str,
    /// The client's address.
    pub client_addr: SocketAddr,
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
        (CLIENT_ADDR.to_string(), facts.client_addr.to_string()),
    ];
    for (name, value) in route.named_captures() {
        headers.push((capture_header_name(name), value.to_string()));
    }
    headers
}

/// Sets `spin_headers` on a request's `headers`, replacing any a client sent
/// under the same names (so a client cannot spoof them).
pub fn set_spin_headers(
    headers: &mut HeaderMap,
    spin_headers: Vec<(String, String)>,
) -> Result<()> {
    for (name, value) in spin_headers {
        let value = HeaderValue::from_str(&value)
            .with_context(|| format!("header {name} cannot carry {value:?}"))?;
        headers.insert(HeaderName::try_from(name)?, value);
    }
    Ok(())
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
            client_addr: "127.0.0.1:54321".parse().unwrap(),
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
            client_addr: "127.0.0.1:1".parse().unwrap(),
        };
        let h = spin_headers(&facts, &matched);
        assert_eq!(get(&h, FULL_URL), "http://localhost/a");
    }

    #[test]
    fn capture_names_are_lower_cased_with_dashes() {
        assert_eq!(
            capture_header_name("Path_Segment"),
            "spin-path-match-path-segment"
        );
    }
}
