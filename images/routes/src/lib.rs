//! Echoes what the host told the component about the request, as JSON:
//!
//! ```json
//! {"component": "...", "method": "GET", "path": "/p?q", "headers": {"spin-path-info": "/x", ...}}
//! ```
//!
//! * `component` comes from the `COMPONENT` environment variable (set per component in
//!   spin.toml), so one wasm file can serve several components.
//! * `path` is the path-with-query of the request as the guest received it.
//! * `instance_requests` counts the requests this instance has handled, this one included,
//!   in a static; `instance_history` is how many paths a heap-allocated static list
//!   holds. A fresh instance per request (with its memory restored) answers 1 and 1.
//! * `headers` holds every request header whose name starts with `spin-` (lower-cased).
//!   A header that occurs more than once becomes a JSON array of its values, in order,
//!   so tests can detect duplicates.
//!
//! * `?panic` (a query parameter named `panic`) makes the handler panic before
//!   responding, so the host must answer 500 with an empty body.
//! * `?sleep=<ms>` makes the handler sleep that many milliseconds
//!   (`std::thread::sleep`, i.e. a wasi:clocks poll) before responding.
//!
//! The raw `IncomingRequest` is used (not `spin_sdk::http::Request`) because the latter
//! folds headers into a map and would hide duplicates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{Map, Value};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

static INSTANCE_REQUESTS: AtomicU64 = AtomicU64::new(0);
static INSTANCE_HISTORY: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn method_name(m: &Method) -> String {
    m.to_string()
}

fn spin_headers(req: &IncomingRequest) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in req.headers().entries() {
        let name = name.to_ascii_lowercase();
        if !name.starts_with("spin-") {
            continue;
        }
        let value = Value::String(String::from_utf8_lossy(&value).into_owned());
        match out.get_mut(&name) {
            None => {
                out.insert(name, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    out
}

/// The query parameters of `path_with_query`, undecoded, as (key, value) pairs.
fn query_params(path_with_query: &str) -> Vec<(&str, &str)> {
    let Some((_, query)) = path_with_query.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    let path_with_query = req.path_with_query().unwrap_or_default();
    let instance_requests = INSTANCE_REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    let instance_history = {
        let mut history = INSTANCE_HISTORY.lock().unwrap();
        history.push(path_with_query.clone());
        history.len()
    };
    for (key, value) in query_params(&path_with_query) {
        match key {
            "panic" => panic!("requested panic"),
            "sleep" => {
                let ms: u64 = value.parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            _ => {}
        }
    }

    let component = std::env::var("COMPONENT").unwrap_or_else(|_| "unknown".to_owned());

    let mut body = Map::new();
    body.insert("component".into(), Value::String(component));
    body.insert("method".into(), Value::String(method_name(&req.method())));
    body.insert("path".into(), Value::String(path_with_query));
    body.insert("instance_requests".into(), instance_requests.into());
    body.insert("instance_history".into(), instance_history.into());
    body.insert("headers".into(), Value::Object(spin_headers(&req)));

    let mut json = serde_json::to_string(&Value::Object(body)).expect("serialise json");
    json.push('\n');

    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(json)
        .build()
}
