//! The benchmark's state app (spin-sdk 5): per request, one read.
//!
//! * `GET /kv`: the value of `greeting` in the default key-value store
//! * `GET /sql`: `SELECT value FROM greetings WHERE id = 1` on the default
//!   database
//!
//! `scripts/bench/run.py` seeds both with `spinshim up --key-value` and
//! `--sqlite`. A missing value answers 500, so a broken seed shows up as
//! wrk errors rather than as fast requests.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};

fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn key_value() -> Result<Vec<u8>, String> {
    let store = Store::open_default().map_err(|e| format!("{e:?}"))?;
    store
        .get("greeting")
        .map_err(|e| format!("{e:?}"))?
        .ok_or_else(|| "greeting is not set".to_string())
}

fn sqlite() -> Result<Vec<u8>, String> {
    let connection = Connection::open_default().map_err(|e| format!("{e:?}"))?;
    let result = connection
        .execute(
            "SELECT value FROM greetings WHERE id = ?",
            &[Value::Integer(1)],
        )
        .map_err(|e| format!("{e:?}"))?;
    match result.rows.first().and_then(|row| row.values.first()) {
        Some(Value::Text(value)) => Ok(value.clone().into_bytes()),
        other => Err(format!("unexpected row: {other:?}")),
    }
}

#[http_component]
fn handle(req: Request) -> Response {
    let answer = match req.path() {
        "/kv" => key_value(),
        "/sql" => sqlite(),
        _ => return text(404, ""),
    };
    match answer {
        Ok(body) => text(200, body),
        Err(message) => text(500, message),
    }
}
