//! The `spin-*` request headers for one request: `headers/compute` lists
//! them as strings (the legacy executor's form); `headers/compute_and_set`
//! puts them on the request's header map, as the HTTP trigger does before
//! handing a request to a wasi:http guest.
//!
//! The route is Spin's worked example (two captures and a wildcard, so nine
//! headers); the request already carries a browser's usual headers.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::HeaderMap;
use spinshim_app::routes::Router;
use spinshim_runtime::trigger::http::headers::{
    set_spin_headers, spin_headers, ClientAddr, RequestFacts, RouteHeaders,
};

const ROUTE: &str = "/base/:path_segment/:path_end/...";
const PATH_AND_QUERY: &str = "/base/path/end/rest?key=value";

fn client_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "example.com"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0)"),
        ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-GB,en;q=0.5"),
    ] {
        headers.insert(name, value.parse().expect("header value"));
    }
    headers
}

fn headers(c: &mut Criterion) {
    let (router, _) = Router::build([(ROUTE.to_string(), ())]).expect("route parses");
    // Made once per route when the trigger is built.
    let router = router.map_targets(|pattern, ()| RouteHeaders::new(pattern));
    let path = PATH_AND_QUERY.split('?').next().expect("path");
    let matched = router.route(path).expect("route matches");
    let facts = RequestFacts {
        scheme: "http",
        host: Some("example.com"),
        path_and_query: PATH_AND_QUERY,
        // Rendered once per connection.
        client_addr: &ClientAddr::new("127.0.0.1:54321".parse().expect("address")),
    };
    let base = client_headers();

    let mut group = c.benchmark_group("headers");
    group.bench_function("compute", |b| {
        b.iter(|| spin_headers(black_box(&facts), black_box(&matched)))
    });
    group.bench_function("compute_and_set", |b| {
        b.iter_batched(
            || base.clone(),
            |mut map| {
                set_spin_headers(&mut map, black_box(&facts), &matched, matched.target())
                    .expect("valid headers");
                map
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, headers);
criterion_main!(benches);
