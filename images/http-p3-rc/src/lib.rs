//! A Spin 4.0 guest (spin-sdk 6): exports
//! `wasi:http/handler@0.3.0-rc-2026-03-15` and imports the same candidate's
//! client and clocks.
//!
//! * `/hello`: 200 `hello from spin-sdk 6`
//! * `/http?url=U`: 200 `"{upstream status}\n{upstream body}"`, or 502
//!   `ERR <error-code>`; a URL starting with `/` is a self request.
//! * `/sleep?ms=N`: waits N ms on the monotonic clock, then 200 `slept N ms`.
//! * `/variable?name=N`: 200 with the variable's value, or 500 `ERR <error>`.

use std::time::Duration;

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let query = req.uri().query().unwrap_or("");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    match req.uri().path() {
        "/hello" => (StatusCode::OK, "hello from spin-sdk 6".to_owned()),
        "/http" => match outbound(&param("url")).await {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => (StatusCode::BAD_GATEWAY, format!("ERR {e}")),
        },
        "/sleep" => {
            let ms: u64 = param("ms").parse().unwrap_or(0);
            spin_sdk::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, format!("slept {ms} ms"))
        }
        "/variable" => match spin_sdk::variables::get(&param("name")).await {
            Ok(value) => (StatusCode::OK, value),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("ERR {e:?}")),
        },
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

async fn outbound(url: &str) -> Result<String, String> {
    let code_text = |e: &dyn std::fmt::Debug| format!("{e:?}").replacen("ErrorCode::", "", 1);
    let request = Request::get(url)
        .body(String::new())
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = spin_sdk::http::send(request)
        .await
        .map_err(|e| code_text(&e))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .bytes()
        .await
        .map_err(|e| code_text(&e))?;
    Ok(format!("{status}\n{}", String::from_utf8_lossy(&body)))
}
