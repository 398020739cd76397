//! Async key-value, SQLite and variables fixture (spin-sdk 7, WASIp3).
//!
//! Failures answer 500 with the SDK error's `{:?}`.
//! * `GET|PUT|DELETE /kv/<store>/<key>` (`spin:key-value@3.0.0`); `GET` of an
//!   unset key is 404
//! * `GET /kv-exists/<store>/<key>`, `GET /kv-keys/<store>` (the key stream,
//!   sorted, one per line)
//! * `POST /sql/<database>` (body = one statement, no parameters): each
//!   streamed row as a JSON array on its own line, after a first line with
//!   the columns; then `last_insert_rowid` and `changes`
//! * `GET /var/<name>` (`spin:variables@3.0.0`)

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};

fn failed(err: impl std::fmt::Debug) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{err:?}"))
}

fn ok(body: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::OK, body.into())
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches('/').to_string();
    let body = match req.into_body().bytes().await {
        Ok(body) => body.to_vec(),
        Err(e) => return failed(e),
    };
    let parts: Vec<&str> = path.splitn(3, '/').collect();
    match (&method, parts.as_slice()) {
        (m, ["kv", store, key]) => kv(m, store, key, body).await,
        (&Method::GET, ["kv-exists", store, key]) => match Store::open(store).await {
            Ok(s) => match s.exists(key).await {
                Ok(found) => ok(found.to_string()),
                Err(e) => failed(e),
            },
            Err(e) => failed(e),
        },
        (&Method::GET, ["kv-keys", store]) => match Store::open(store).await {
            Ok(s) => match s.get_keys().await.collect().await {
                Ok(mut keys) => {
                    keys.sort();
                    ok(keys.join("\n"))
                }
                Err(e) => failed(e),
            },
            Err(e) => failed(e),
        },
        (&Method::POST, ["sql", database]) => sql(database, &String::from_utf8_lossy(&body)).await,
        (&Method::GET, ["var", name]) => match spin_sdk::variables::get(name).await {
            Ok(value) => ok(value),
            Err(e) => failed(e),
        },
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

async fn kv(method: &Method, store: &str, key: &str, body: Vec<u8>) -> (StatusCode, String) {
    let store = match Store::open(store).await {
        Ok(store) => store,
        Err(e) => return failed(e),
    };
    match *method {
        Method::GET => match store.get(key).await {
            Ok(Some(value)) => ok(String::from_utf8_lossy(&value)),
            Ok(None) => (StatusCode::NOT_FOUND, "None".to_string()),
            Err(e) => failed(e),
        },
        Method::PUT => match store.set(key, body).await {
            Ok(()) => ok("stored"),
            Err(e) => failed(e),
        },
        Method::DELETE => match store.delete(key).await {
            Ok(()) => ok("deleted"),
            Err(e) => failed(e),
        },
        _ => (StatusCode::METHOD_NOT_ALLOWED, String::new()),
    }
}

fn json(value: &Value) -> serde_json::Value {
    match value {
        Value::Integer(i) => serde_json::json!({ "integer": i }),
        Value::Real(r) => serde_json::json!({ "real": r }),
        Value::Text(t) => serde_json::json!({ "text": t }),
        Value::Blob(b) => serde_json::json!({ "blob": b }),
        Value::Null => serde_json::Value::Null,
    }
}

async fn sql(database: &str, statement: &str) -> (StatusCode, String) {
    let connection = match Connection::open(database).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let mut result = match connection.execute(statement, []).await {
        Ok(result) => result,
        Err(e) => return failed(e),
    };
    let mut lines = vec![serde_json::json!(result.columns()).to_string()];
    while let Some(row) = result.next().await {
        let values: Vec<serde_json::Value> = row.values.iter().map(json).collect();
        lines.push(serde_json::Value::from(values).to_string());
    }
    if let Err(e) = result.result().await {
        return failed(e);
    }
    lines.push(format!(
        "last_insert_rowid={} changes={}",
        connection.last_insert_rowid().await,
        connection.changes().await
    ));
    ok(lines.join("\n"))
}
