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

    /// Matches a path; returns captures, the path info and the precedence key.
    fn matches(&self, path: &str) -> Option<Matched> {
        let trailing_slash = path.ends_with('/');
        let path = path.strip_prefix('/').unwrap_or(path);
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut captures = Vec::new();
        let mut rank = Vec::with_capacity(self.segments.len() + 1);
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(l) if l == part => rank.push(0),
                Segment::Param(name) if !part.is_empty() => {
                    captures.push((name.clone(), (*part).to_owned()));
                    rank.push(1);
                }
                _ => return None,
            }
        }
        let path_info = if self.wildcard {
            rank.push(3);
            let rest = parts[self.segments.len()..].join("/");
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
        Some(Matched {
            captures,
            path_info,
            rank,
        })
    }
}

/// A successful match of one pattern.
struct Matched {
    captures: Vec<(String, String)>,
    path_info: String,
    /// Per segment: 0 literal, 1 param, 2 end of exact route, 3 wildcard; lower wins.
    rank: Vec<u8>,
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
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

/// The result of routing a path.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a, T> {
    pattern: &'a RoutePattern,
    target: &'a T,
    captures: Vec<(String, String)>,
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
        let routes = parsed.into_iter().map(|(_, p, t)| (p, t)).collect();
        Ok((Router { routes }, duplicates))
    }

    /// Routes a path (without query string). Among several matches the most specific
    /// wins; between equally specific ones, the later registered.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        let mut best: Option<(Vec<u8>, RouteMatch<'_, T>)> = None;
        for (pattern, target) in &self.routes {
            let Some(Matched {
                captures,
                path_info,
                rank,
            }) = pattern.matches(path)
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| rank <= *b) {
                best = Some((
                    rank,
                    RouteMatch {
                        pattern,
                        target,
                        captures,
                        path_info,
                    },
                ));
            }
        }
        best.map(|(_, m)| m)
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
        self.captures.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
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
