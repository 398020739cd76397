//! Variables fixture.
//!
//! * `GET /`                  → 200, body = component variable `message`
//! * `GET /get?name=X`        → 200 + value of component variable X via
//!   `fermyon:spin/variables@2.0.0`, or 500 + `{:?}` of the SDK error
//!   (e.g. `Undefined("...")`, `InvalidName("...")`)
//! * `GET /wasi-config?name=X` → the same through `wasi:config/store@0.2.0-draft-2024-09-27`:
//!   200 + value, 404 + `None` when the key is absent, 500 + `{:?}` of the error.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

fn text(status: u16, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Minimal application/x-www-form-urlencoded value decoding.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

#[http_component]
fn handle(req: Request) -> Response {
    let name = query_param(req.query(), "name");
    match req.path() {
        "/" => match spin_sdk::variables::get("message") {
            Ok(v) => text(200, v),
            Err(e) => text(500, format!("{e:?}")),
        },
        "/get" => {
            let Some(name) = name else {
                return text(400, "missing ?name=");
            };
            match spin_sdk::variables::get(&name) {
                Ok(v) => text(200, v),
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "/wasi-config" => {
            let Some(name) = name else {
                return text(400, "missing ?name=");
            };
            match spin_sdk::wit::wasi::config::store::get(&name) {
                Ok(Some(v)) => text(200, v),
                Ok(None) => text(404, "None"),
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        _ => text(404, ""),
    }
}
