//! Key-value and SQLite fixture (spin-sdk 5, synchronous interfaces).
//!
//! Every failure answers 500 with the SDK error's `{:?}` as the body (e.g.
//! `AccessDenied`, `Other("...")`, `Io("...")`), so tests see the exact
//! variant the host returned.
//!
//! `fermyon:spin/key-value@2.0.0`, store label first:
//! * `GET /kv/<store>/<key>`: 200 + value, 404 when unset
//! * `PUT /kv/<store>/<key>` (body = value), `DELETE /kv/<store>/<key>`
//! * `GET /kv-exists/<store>/<key>`: `true` / `false`
//! * `GET /kv-keys/<store>`: the keys, sorted, one per line
//! * `GET /kv-open/<store>/<n>`: opens the store n times in one instance
//!
//! `wasi:keyvalue@0.2.0-draft2` (spin-sdk's wit-bindgen bindings):
//! * `GET|PUT|DELETE /wasi/<store>/<key>`, `GET /wasi-list/<store>[?cursor=c]`
//! * `POST /wasi-incr/<store>/<key>?delta=N`: the new value
//! * `POST /wasi-cas/<store>/<key>` (body = value to append): read, append,
//!   swap, retrying on `cas-failed`; answers the attempts it took
//! * `POST /wasi-batch/<store>` (body = `k=v` lines): set-many, then
//!   get-many of those keys plus `missing`, then delete-many; answers the
//!   get-many result as JSON
//!
//! SQLite: `POST /sql/<v2|v3>/<database>` with JSON
//! `{"statement": "...", "params": [value...]}` where a value is
//! `{"integer": 1}`, `{"real": 1.5}`, `{"text": "x"}`, `{"blob": [0, 1]}` or
//! `null`; answers `{"columns": [...], "rows": [[value...]...]}` plus, for
//! v3, `"last_insert_rowid"` and `"changes"`.

use serde_json::{json, Value as Json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_store};

fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn failed(err: impl std::fmt::Debug) -> Response {
    text(500, format!("{err:?}"))
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().trim_start_matches('/').to_string();
    let parts: Vec<&str> = path.splitn(3, '/').collect();
    match (req.method(), parts.as_slice()) {
        (_, ["kv", store, key]) => spin_kv(req.method(), store, key, req.body()),
        (Method::Get, ["kv-exists", store, key]) => match Store::open(store) {
            Ok(s) => match s.exists(key) {
                Ok(found) => text(200, found.to_string()),
                Err(e) => failed(e),
            },
            Err(e) => failed(e),
        },
        (Method::Get, ["kv-keys", store]) => match Store::open(store).and_then(|s| s.get_keys()) {
            Ok(mut keys) => {
                keys.sort();
                text(200, keys.join("\n"))
            }
            Err(e) => failed(e),
        },
        (Method::Get, ["kv-open", store, n]) => {
            let mut open = Vec::new();
            for _ in 0..n.parse::<usize>().unwrap_or(0) {
                match Store::open(store) {
                    Ok(s) => open.push(s),
                    Err(e) => return text(500, format!("after {}: {e:?}", open.len())),
                }
            }
            text(200, open.len().to_string())
        }
        (_, ["wasi", store, key]) => wasi_kv(req.method(), store, key, req.body()),
        (Method::Get, ["wasi-list", store]) => {
            let cursor = query_param(req.query(), "cursor").map(str::to_string);
            match wasi_store::open(store).and_then(|b| b.list_keys(cursor.as_deref())) {
                Ok(mut response) => {
                    response.keys.sort();
                    text(200, response.keys.join("\n"))
                }
                Err(e) => failed(e),
            }
        }
        (Method::Post, ["wasi-incr", store, key]) => {
            let delta = query_param(req.query(), "delta")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            match wasi_store::open(store).and_then(|b| atomics::increment(&b, key, delta)) {
                Ok(value) => text(200, value.to_string()),
                Err(e) => failed(e),
            }
        }
        (Method::Post, ["wasi-cas", store, key]) => wasi_cas(store, key, req.body()),
        (Method::Post, ["wasi-batch", store]) => wasi_batch(store, req.body()),
        (Method::Post, ["sql", version, database]) => sql(version, database, req.body()),
        _ => text(404, ""),
    }
}

fn spin_kv(method: &Method, store: &str, key: &str, body: &[u8]) -> Response {
    let store = match Store::open(store) {
        Ok(store) => store,
        Err(e) => return failed(e),
    };
    match method {
        Method::Get => match store.get(key) {
            Ok(Some(value)) => text(200, value),
            Ok(None) => text(404, "None"),
            Err(e) => failed(e),
        },
        Method::Put => match store.set(key, body) {
            Ok(()) => text(200, "stored"),
            Err(e) => failed(e),
        },
        Method::Delete => match store.delete(key) {
            Ok(()) => text(200, "deleted"),
            Err(e) => failed(e),
        },
        _ => text(405, ""),
    }
}

fn wasi_kv(method: &Method, store: &str, key: &str, body: &[u8]) -> Response {
    let bucket = match wasi_store::open(store) {
        Ok(bucket) => bucket,
        Err(e) => return failed(e),
    };
    match method {
        Method::Get => match bucket.get(key) {
            Ok(Some(value)) => text(200, value),
            Ok(None) => text(404, "None"),
            Err(e) => failed(e),
        },
        Method::Put => match bucket.set(key, body) {
            Ok(()) => text(200, "stored"),
            Err(e) => failed(e),
        },
        Method::Delete => match bucket.delete(key) {
            Ok(()) => text(200, "deleted"),
            Err(e) => failed(e),
        },
        _ => text(405, ""),
    }
}

fn wasi_cas(store: &str, key: &str, suffix: &[u8]) -> Response {
    let bucket = match wasi_store::open(store) {
        Ok(bucket) => bucket,
        Err(e) => return failed(e),
    };
    let mut cas = match atomics::Cas::new(&bucket, key) {
        Ok(cas) => cas,
        Err(e) => return failed(e),
    };
    for attempt in 1..=1000 {
        let mut value = match cas.current() {
            Ok(value) => value.unwrap_or_default(),
            Err(e) => return failed(e),
        };
        value.extend_from_slice(suffix);
        match atomics::swap(cas, &value) {
            Ok(()) => return text(200, attempt.to_string()),
            Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
            Err(atomics::CasError::StoreError(e)) => return failed(e),
        }
    }
    text(500, "gave up after 1000 attempts")
}

fn wasi_batch(store: &str, body: &[u8]) -> Response {
    let bucket = match wasi_store::open(store) {
        Ok(bucket) => bucket,
        Err(e) => return failed(e),
    };
    let pairs: Vec<(String, Vec<u8>)> = String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let mut keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    if let Err(e) = batch::set_many(&bucket, &pairs) {
        return failed(e);
    }
    keys.push("missing".to_string());
    let got = match batch::get_many(&bucket, &keys) {
        Ok(got) => got,
        Err(e) => return failed(e),
    };
    if let Err(e) = batch::delete_many(&bucket, &keys) {
        return failed(e);
    }
    let got: Vec<Json> = got
        .into_iter()
        .map(|(k, v)| json!([k, v.map(|v| String::from_utf8_lossy(&v).into_owned())]))
        .collect();
    text(200, Json::from(got).to_string())
}

/// SQL through either SDK module; both have the same value and result
/// shapes, so one macro serves both.
macro_rules! run_sql {
    ($module:path, $database:expr, $statement:expr, $params:expr, $extra:expr) => {{
        use $module as m;
        let params: Vec<m::Value> = $params
            .iter()
            .map(|p| match p {
                Json::Object(o) if o.contains_key("integer") => {
                    m::Value::Integer(o["integer"].as_i64().unwrap_or_default())
                }
                Json::Object(o) if o.contains_key("real") => {
                    m::Value::Real(o["real"].as_f64().unwrap_or_default())
                }
                Json::Object(o) if o.contains_key("text") => {
                    m::Value::Text(o["text"].as_str().unwrap_or_default().to_string())
                }
                Json::Object(o) if o.contains_key("blob") => m::Value::Blob(
                    o["blob"]
                        .as_array()
                        .map(|b| b.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
                        .unwrap_or_default(),
                ),
                _ => m::Value::Null,
            })
            .collect();
        let connection = match m::Connection::open($database) {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        match connection.execute($statement, &params) {
            Ok(result) => {
                let rows: Vec<Json> = result
                    .rows
                    .iter()
                    .map(|row| {
                        row.values
                            .iter()
                            .map(|v| match v {
                                m::Value::Integer(i) => json!({ "integer": i }),
                                m::Value::Real(r) => json!({ "real": r }),
                                m::Value::Text(t) => json!({ "text": t }),
                                m::Value::Blob(b) => json!({ "blob": b }),
                                m::Value::Null => Json::Null,
                            })
                            .collect()
                    })
                    .collect();
                let mut answer = json!({ "columns": result.columns, "rows": rows });
                let extra: &dyn Fn(&m::Connection, &mut Json) = &$extra;
                extra(&connection, &mut answer);
                text(200, answer.to_string())
            }
            Err(e) => failed(e),
        }
    }};
}

fn sql(version: &str, database: &str, body: &[u8]) -> Response {
    let request: Json = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return text(400, format!("bad request JSON: {e}")),
    };
    let statement = request["statement"].as_str().unwrap_or_default();
    let params = request["params"].as_array().cloned().unwrap_or_default();
    match version {
        "v2" => run_sql!(spin_sdk::sqlite, database, statement, params, |_, _| {}),
        "v3" => run_sql!(spin_sdk::sqlite3, database, statement, params, |c, a| {
            a["last_insert_rowid"] = json!(c.last_insert_rowid());
            a["changes"] = json!(c.changes());
        }),
        _ => text(404, "unknown SQLite interface version"),
    }
}
