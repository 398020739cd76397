//! HTTP routing (spec §3.1) and the route facts guests see as headers (§3.2).
//!
//! A route is a literal path (`/cart`), may end in a wildcard (`/static/...`, or the
//! synonym `/static/*`) and may capture single segments (`/users/:id`). Matching
//! compares segments left to right: a literal beats a `:param`, which beats the end of
//! an exact route, which beats a wildcard. So `/one/two/...` beats `/one/...`, exact
//! `/one` beats `/...`, and registration order does not matter. Identical raw routes
//! are duplicates: the last wins and the earlier ones are reported.
//!
//! A request path with a trailing slash matches an exact route without one
//! (`/cart/` matches `/cart`); the query string is not part of the path.

/// Why a route does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A wildcard (`...` or `*`) that is not the last segment.
    #[error(
        "route \"{route}\": a wildcard (\"...\" or \"*\") is only allowed as the last segment"
    )]
    WildcardNotLast {
        /// The raw route.
        route: String,
    },
    /// `:` without a name.
    #[error("route \"{route}\": a \":\" segment needs a name, e.g. \"/users/:id\"")]
    EmptyParam {
        /// The raw route.
        route: String,
    },
    /// The same `:name` twice.
    #[error("route \"{route}\": \":{name}\" is used more than once")]
    DuplicateParam {
        /// The raw route.
        route: String,
        /// The repeated name.
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    raw: String,
    normalized: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    /// Parses a raw route string as written in the manifest.
    pub fn parse(raw: &str) -> Result<RoutePattern, RouteError> {
        let mut normalized = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        while normalized.ends_with('/') {
            normalized.pop();
        }
        let mut parts: Vec<&str> = normalized.split('/').skip(1).collect();
        let wildcard = matches!(parts.last(), Some(&"...") | Some(&"*"));
        if wildcard {
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        for part in parts {
            if part == "..." || part == "*" {
                return Err(RouteError::WildcardNotLast {
                    route: raw.to_owned(),
                });
            }
            match part.strip_prefix(':') {
                Some("") => {
                    return Err(RouteError::EmptyParam {
                        route: raw.to_owned(),
                    })
                }
                Some(name) => {
                    if segments.contains(&Segment::Param(name.to_owned())) {
                        return Err(RouteError::DuplicateParam {
                            route: raw.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                    segments.push(Segment::Param(name.to_owned()))
                }
                None => segments.push(Segment::Literal(part.to_owned())),
            }
        }
        Ok(RoutePattern {
            raw: raw.to_owned(),
            normalized,
            segments,
            wildcard,
        })
    }

    /// The route as written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Leading `/` added, trailing `/` stripped; `/` becomes `""`.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The `:name` captures, in route order (the order of
    /// [`RouteMatch::named_captures`]).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// True for routes ending in `/...` or `/*`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The raw route minus a trailing `/...` or `/*` (`spin-component-route`).
    pub fn component_route(&self) -> &str {
        let raw = self.raw.as_str();
        if !self.wildcard {
            return raw;
        }
        let trimmed = raw.trim_end_matches('/');
        trimmed
            .strip_suffix("...")
            .or_else(|| trimmed.strip_suffix('*'))
            .map_or(trimmed, |r| r.strip_suffix('/').unwrap_or(r))
    }
}

/// A raw route that appeared more than once; the entry at `index` is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRoute {
    /// The raw route.
    pub raw_route: String,
    /// Position (in the input to [`Router::build`]) of the unreachable entry.
    pub index: usize,
    /// Position of the entry that wins.
    pub winner: usize,
}

/// Routes request paths to targets.
///
/// The routes are kept in a trie of segments built once. Walking it depth
/// first, trying at each node a literal next segment, then a `:param`, then
/// the end of an exact route, then a wildcard, visits routes from the most
/// specific to the least, so the first route found is the one Spin's
/// precedence picks; a node remembers only the last route registered for it,
/// which is the one that wins among equally specific routes.
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
}

/// The result of routing a path.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a, T> {
    pattern: &'a RoutePattern,
    target: &'a T,
    captures: Vec<(&'a str, String)>,
    path_info: String,
}

impl<T> Router<T> {
    /// Builds a router from `(raw_route, target)` pairs. Identical raw routes: the last
    /// wins, and the earlier ones are returned so the caller can warn.
    pub fn build(
        routes: impl IntoIterator<Item = (String, T)>,
    ) -> Result<(Router<T>, Vec<DuplicateRoute>), RouteError> {
        let mut parsed: Vec<(usize, RoutePattern, T)> = Vec::new();
        let mut duplicates = Vec::new();
        for (index, (raw, target)) in routes.into_iter().enumerate() {
            let pattern = RoutePattern::parse(&raw)?;
            if let Some(pos) = parsed.iter().position(|(_, p, _)| p.raw == raw) {
                let (old_index, _, _) = parsed.remove(pos);
                duplicates.push(DuplicateRoute {
                    raw_route: raw,
                    index: old_index,
                    winner: index,
                });
            }
            parsed.push((index, pattern, target));
        }
        parsed.sort_by_key(|(index, _, _)| *index);
        let routes: Vec<(RoutePattern, T)> = parsed.into_iter().map(|(_, p, t)| (p, t)).collect();
        let mut nodes = vec![Node::default()];
        // In registration order, so a later route replaces an earlier one
        // that ends at the same node.
        for (position, (pattern, _)) in routes.iter().enumerate() {
            let mut node = 0;
            for segment in &pattern.segments {
                node = match segment {
                    Segment::Literal(literal) => {
                        let literals = &nodes[node].literals;
                        match literals.binary_search_by(|(l, _)| l.as_str().cmp(literal)) {
                            Ok(i) => literals[i].1,
                            Err(i) => {
                                let child = nodes.len();
                                nodes.push(Node::default());
                                nodes[node].literals.insert(i, (literal.clone(), child));
                                child
                            }
                        }
                    }
                    Segment::Param(_) => match nodes[node].param {
                        Some(child) => child,
                        None => {
                            let child = nodes.len();
                            nodes.push(Node::default());
                            nodes[node].param = Some(child);
                            child
                        }
                    },
                };
            }
            if pattern.wildcard {
                nodes[node].wildcard = Some(position);
            } else {
                nodes[node].exact = Some(position);
            }
        }
        Ok((Router { routes, nodes }, duplicates))
    }

    /// Routes a path (without query string). Among several matches the most specific
    /// wins; between equally specific ones, the later registered.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        let path = SplitPath::new(path);
        let position = self.find(0, &path.parts, 0)?;
        let (pattern, target) = &self.routes[position];
        let captures = pattern
            .segments
            .iter()
            .zip(&path.parts)
            .filter_map(|(segment, part)| match segment {
                Segment::Param(name) => Some((name.as_str(), (*part).to_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        let path_info = if pattern.wildcard {
            path.path_info(pattern.segments.len())
        } else {
            String::new()
        };
        Some(RouteMatch {
            pattern,
            target,
            captures,
            path_info,
        })
    }

    /// The most specific route under `node` for `parts[depth..]`.
    fn find(&self, node: usize, parts: &[&str], depth: usize) -> Option<usize> {
        let node = &self.nodes[node];
        match parts.get(depth) {
            Some(part) => {
                if let Ok(i) = node
                    .literals
                    .binary_search_by(|(l, _)| l.as_str().cmp(part))
                {
                    if let Some(found) = self.find(node.literals[i].1, parts, depth + 1) {
                        return Some(found);
                    }
                }
                if let Some(child) = node.param.filter(|_| !part.is_empty()) {
                    if let Some(found) = self.find(child, parts, depth + 1) {
                        return Some(found);
                    }
                }
            }
            None => {
                if node.exact.is_some() {
                    return node.exact;
                }
            }
        }
        node.wildcard
    }

    /// The same routes with each target replaced by `f(pattern, target)`, e.g. to
    /// keep per-route facts worked out once next to the target.
    pub fn map_targets<U>(self, mut f: impl FnMut(&RoutePattern, T) -> U) -> Router<U> {
        let routes = self
            .routes
            .into_iter()
            .map(|(pattern, target)| {
                let target = f(&pattern, target);
                (pattern, target)
            })
            .collect();
        Router {
            routes,
            nodes: self.nodes,
        }
    }

    /// All routes and targets, in registration order (duplicates removed).
    pub fn routes(&self) -> impl Iterator<Item = (&RoutePattern, &T)> {
        self.routes.iter().map(|(p, t)| (p, t))
    }
}

impl<'a, T> RouteMatch<'a, T> {
    /// The target registered for the route.
    pub fn target(&self) -> &'a T {
        self.target
    }

    /// The route as written (`spin-raw-component-route`).
    pub fn raw_route(&self) -> &'a str {
        self.pattern.raw()
    }

    /// The normalised route (`spin-matched-route`): `""` for `/`.
    pub fn normalized_route(&self) -> &'a str {
        self.pattern.normalized()
    }

    /// The raw route minus a trailing wildcard (`spin-component-route`).
    pub fn component_route(&self) -> &'a str {
        self.pattern.component_route()
    }

    /// What the wildcard matched (`spin-path-info`): empty for exact routes and when
    /// the wildcard matched nothing; `/` when it matched only a trailing slash;
    /// otherwise `/` + the rest, keeping a trailing `/`.
    pub fn path_info(&self) -> &str {
        &self.path_info
    }

    /// `:name` captures, in route order.
    pub fn named_captures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.captures.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

/// A request path split into segments once per lookup.
struct SplitPath<'p> {
    /// The path without its leading `/` and one trailing `/`.
    trimmed: &'p str,
    parts: Vec<&'p str>,
    trailing_slash: bool,
}

impl<'p> SplitPath<'p> {
    fn new(path: &'p str) -> Self {
        let trailing_slash = path.ends_with('/');
        let path = path.strip_prefix('/').unwrap_or(path);
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let parts = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        SplitPath {
            trimmed,
            parts,
            trailing_slash,
        }
    }

    /// What a wildcard after the first `consumed` segments matched
    /// (`spin-path-info`).
    fn path_info(&self, consumed: usize) -> String {
        let rest = match self.parts.get(consumed..) {
            Some(rest) if !rest.is_empty() => {
                // The parts came from splitting `trimmed` on '/', so the rest
                // is the tail of `trimmed` after the consumed parts and their
                // separators.
                let offset: usize = self.parts[..consumed].iter().map(|p| p.len() + 1).sum();
                &self.trimmed[offset..]
            }
            _ => "",
        };
        match (rest.is_empty(), self.trailing_slash) {
            (true, false) => String::new(),
            (true, true) => "/".to_owned(),
            (false, false) => format!("/{rest}"),
            (false, true) => format!("/{rest}/"),
        }
    }
}

/// One node of the routing trie: the routes whose first segments lead here.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Literal next segments, sorted for binary search.
    literals: Vec<(String, usize)>,
    /// The node after a `:param` (whatever its name).
    param: Option<usize>,
    /// The route (index into `Router::routes`) that ends exactly here.
    exact: Option<usize>,
    /// The route that ends here in a wildcard.
    wildcard: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<usize> {
        let (router, dups) =
            Router::build(routes.iter().enumerate().map(|(i, r)| (r.to_string(), i))).unwrap();
        assert!(dups.is_empty());
        router
    }

    #[test]
    fn paths_route_to_the_most_specific_pattern() {
        let routes = [
            "/...",
            "/one",
            "/one/...",
            "/one/two/...",
            "/users/:id",
            "/users/me",
            "/cart",
            "/",
            "/a/:x/c",
            "/a/b/...",
        ];
        let r = router(&routes);
        let cases: &[(&str, Option<&str>)] = &[
            ("/", Some("/")),
            ("/one", Some("/one")),
            ("/one/", Some("/one")),
            ("/one/x", Some("/one/...")),
            ("/one/two", Some("/one/two/...")),
            ("/one/two/three", Some("/one/two/...")),
            ("/users/42", Some("/users/:id")),
            ("/users/me", Some("/users/me")),
            ("/users/42/x", Some("/...")),
            ("/cart", Some("/cart")),
            ("/cart/x", Some("/...")),
            ("/a/b/c", Some("/a/b/...")),
            ("/a/z/c", Some("/a/:x/c")),
            ("/elsewhere", Some("/...")),
        ];
        for (path, expected) in cases {
            let got = r.route(path).map(|m| m.raw_route());
            assert_eq!(got, *expected, "{path}");
        }
    }

    #[test]
    fn registration_order_does_not_matter() {
        let a = router(&["/one/...", "/one/two/..."]);
        let b = router(&["/one/two/...", "/one/..."]);
        for r in [a, b] {
            assert_eq!(r.route("/one/two/x").unwrap().raw_route(), "/one/two/...");
        }
    }

    #[test]
    fn exact_routes_do_not_match_longer_paths_and_no_match_is_none() {
        let r = router(&["/cart"]);
        assert!(r.route("/cart/x").is_none());
        assert!(r.route("/car").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn path_info_follows_the_spin_rules() {
        let cases = [
            ("/foo/...", "/foo", ""),
            ("/foo/...", "/foo/", "/"),
            ("/foo/...", "/foo/bar", "/bar"),
            ("/foo/...", "/foo/bar/", "/bar/"),
            ("/foo/...", "/foo/bar/baz", "/bar/baz"),
            ("/foo/*", "/foo/bar", "/bar"),
            ("/...", "/", "/"),
            ("/...", "/x/y", "/x/y"),
            ("/foo", "/foo", ""),
            ("/foo", "/foo/", ""),
            ("/", "/", ""),
        ];
        for (route, path, info) in cases {
            let r = router(&[route]);
            assert_eq!(r.route(path).unwrap().path_info(), info, "{route} {path}");
        }
    }

    #[test]
    fn route_facts_match_the_headers_table() {
        let cases = [
            // raw, normalized, component route
            ("/", "", "/"),
            ("/foo/", "/foo", "/foo/"),
            ("foo", "/foo", "foo"),
            ("/foo/...", "/foo/...", "/foo"),
            ("/foo/*", "/foo/*", "/foo"),
            ("/...", "/...", ""),
        ];
        for (raw, normalized, component) in cases {
            let p = RoutePattern::parse(raw).unwrap();
            assert_eq!(p.normalized(), normalized, "{raw}");
            assert_eq!(p.component_route(), component, "{raw}");
        }
    }

    #[test]
    fn the_spec_worked_example_gives_the_documented_values() {
        let r = router(&["/base/:path_segment/:path_end/..."]);
        let m = r.route("/base/path/end/rest").unwrap();
        assert_eq!(m.path_info(), "/rest");
        assert_eq!(m.raw_route(), "/base/:path_segment/:path_end/...");
        assert_eq!(m.normalized_route(), "/base/:path_segment/:path_end/...");
        assert_eq!(m.component_route(), "/base/:path_segment/:path_end");
        assert_eq!(
            m.named_captures().collect::<Vec<_>>(),
            [("path_segment", "path"), ("path_end", "end")]
        );
        assert_eq!(*m.target(), 0);
    }

    #[test]
    fn mapped_targets_keep_their_routes_and_capture_names_follow_route_order() {
        let r = router(&["/...", "/users/:id", "/users/:id/items/:item_id"]);
        let r =
            r.map_targets(|pattern, i| (i, pattern.param_names().collect::<Vec<_>>().join(",")));
        assert_eq!(r.route("/x").unwrap().target(), &(0, String::new()));
        assert_eq!(
            r.route("/users/1").unwrap().target(),
            &(1, "id".to_string())
        );
        assert_eq!(
            r.route("/users/1/items/2").unwrap().target(),
            &(2, "id,item_id".to_string())
        );
    }

    #[test]
    fn identical_raw_routes_keep_the_last_and_report_the_earlier() {
        let (r, dups) = Router::build([
            ("/a".to_string(), "first"),
            ("/b".to_string(), "b"),
            ("/a".to_string(), "second"),
        ])
        .unwrap();
        assert_eq!(*r.route("/a").unwrap().target(), "second");
        assert_eq!(
            dups,
            [DuplicateRoute {
                raw_route: "/a".into(),
                index: 0,
                winner: 2
            }]
        );
    }

    /// What a route lookup found: raw route, target, captures, path info.
    type Found<'a> = (&'a str, usize, Vec<(String, String)>, String);

    /// The precedence rule written out plainly: every route that matches gets
    /// a rank (per segment 0 literal, 1 param, then 2 for the end of an exact
    /// route or 3 for a wildcard); the lowest rank wins, and the later
    /// registered among equal ranks.
    fn route_by_rank<'a>(routes: &'a [(RoutePattern, usize)], path: &str) -> Option<Found<'a>> {
        let trailing_slash = path.ends_with('/');
        let path = path.strip_prefix('/').unwrap_or(path);
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut best: Option<(Vec<u8>, Found<'a>)> = None;
        'routes: for (pattern, target) in routes {
            if parts.len() < pattern.segments.len()
                || (!pattern.wildcard && parts.len() != pattern.segments.len())
            {
                continue;
            }
            let mut captures = Vec::new();
            let mut rank = Vec::new();
            for (segment, part) in pattern.segments.iter().zip(&parts) {
                match segment {
                    Segment::Literal(l) if l == part => rank.push(0),
                    Segment::Param(name) if !part.is_empty() => {
                        captures.push((name.clone(), (*part).to_owned()));
                        rank.push(1);
                    }
                    _ => continue 'routes,
                }
            }
            let path_info = if pattern.wildcard {
                rank.push(3);
                let rest = parts[pattern.segments.len()..].join("/");
                match (rest.is_empty(), trailing_slash) {
                    (true, false) => String::new(),
                    (true, true) => "/".to_owned(),
                    (false, false) => format!("/{rest}"),
                    (false, true) => format!("/{rest}/"),
                }
            } else {
                rank.push(2);
                String::new()
            };
            if best.as_ref().is_none_or(|(b, _)| rank <= *b) {
                best = Some((rank, (pattern.raw(), *target, captures, path_info)));
            }
        }
        best.map(|(_, found)| found)
    }

    /// A small deterministic pseudo-random source (xorshift64).
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    #[test]
    fn the_trie_picks_what_ranking_every_matching_route_picks() {
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let mut routes = Vec::new();
            for _ in 0..1 + dice.below(12) {
                let mut route = String::from(dice.pick(&["/", "/", "/", ""]));
                let mut segments = Vec::new();
                for _ in 0..dice.below(4) {
                    segments.push(dice.pick(&["a", "a", "b", "c", ":x", ":y", ":z", ""]));
                }
                route.push_str(&segments.join("/"));
                route.push_str(dice.pick(&["", "", "", "/", "/...", "/*"]));
                if RoutePattern::parse(&route).is_ok() {
                    routes.push(route);
                }
            }
            let Ok((router, _)) =
                Router::build(routes.iter().enumerate().map(|(i, r)| (r.clone(), i)))
            else {
                continue;
            };
            let kept: Vec<(RoutePattern, usize)> =
                router.routes().map(|(p, t)| (p.clone(), *t)).collect();
            for _ in 0..40 {
                let mut path = String::from("/");
                let parts: Vec<&str> = (0..dice.below(5))
                    .map(|_| dice.pick(&["a", "a", "b", "c", "d", ""]))
                    .collect();
                path.push_str(&parts.join("/"));
                path.push_str(dice.pick(&["", "", "/"]));
                let expected = route_by_rank(&kept, &path);
                let got = router.route(&path).map(|m| {
                    (
                        m.raw_route(),
                        *m.target(),
                        m.named_captures()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect::<Vec<_>>(),
                        m.path_info().to_string(),
                    )
                });
                assert_eq!(
                    got, expected,
                    "round {round}: routes {routes:?}, path {path:?}"
                );
            }
        }
    }

    #[test]
    fn bad_routes_are_errors() {
        let cases = [
            ("/a/.../b", "route \"/a/.../b\": a wildcard (\"...\" or \"*\") is only allowed as the last segment"),
            ("/a/:/b", "route \"/a/:/b\": a \":\" segment needs a name, e.g. \"/users/:id\""),
            ("/:x/:x", "route \"/:x/:x\": \":x\" is used more than once"),
        ];
        for (route, message) in cases {
            assert_eq!(RoutePattern::parse(route).unwrap_err().to_string(), message);
        }
    }
}
