//! Spin routing on a 200-route app: what `Router::route` costs per request.
//!
//! The app mixes exact routes, literals that must beat a `:param` beside
//! them, one- and two-capture routes and trailing wildcards, in 40 groups of
//! five (two API versions × 20 resources). Paths hit a route registered at
//! the front, in the middle and at the end, plus a miss that shares a prefix
//! with many routes. `routing/build` is the start-up side.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use spinshim_app::routes::Router;

const RESOURCES: [&str; 20] = [
    "users",
    "orders",
    "products",
    "carts",
    "payments",
    "invoices",
    "shipments",
    "reviews",
    "categories",
    "inventory",
    "customers",
    "accounts",
    "sessions",
    "tokens",
    "webhooks",
    "events",
    "reports",
    "settings",
    "notifications",
    "files",
];

/// 200 routes, in manifest order, each with its index as the target.
fn app_routes() -> Vec<(String, usize)> {
    let mut routes = Vec::new();
    for version in ["v1", "v2"] {
        for resource in RESOURCES {
            routes.push(format!("/api/{version}/{resource}"));
            routes.push(format!("/api/{version}/{resource}/search"));
            routes.push(format!("/api/{version}/{resource}/:id"));
            routes.push(format!("/api/{version}/{resource}/:id/items/:item_id"));
            routes.push(format!("/assets/{version}/{resource}/..."));
        }
    }
    assert_eq!(routes.len(), 200);
    routes
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, i))
        .collect()
}

/// (bench name, path, the route that must serve it).
const CASES: [(&str, &str, Option<&str>); 4] = [
    ("front", "/api/v1/users/42", Some("/api/v1/users/:id")),
    (
        "middle",
        "/api/v2/users/42/items/7",
        Some("/api/v2/users/:id/items/:item_id"),
    ),
    (
        "end",
        "/assets/v2/files/css/site.css",
        Some("/assets/v2/files/..."),
    ),
    ("miss", "/api/v3/users/42", None),
];

fn routing(c: &mut Criterion) {
    let (router, duplicates) = Router::build(app_routes()).expect("routes parse");
    assert!(duplicates.is_empty());
    let mut group = c.benchmark_group("routing");
    for (name, path, expected) in CASES {
        assert_eq!(
            router.route(path).map(|m| m.raw_route()),
            expected,
            "{path}"
        );
        group.bench_function(name, |b| {
            b.iter(|| router.route(black_box(path)).map(|m| *m.target()))
        });
    }
    group.bench_function("build", |b| {
        b.iter_batched(
            app_routes,
            |routes| Router::build(routes).expect("routes parse"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
