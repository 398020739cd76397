//! Outbound HTTP fixture for WASIp3 (spin-sdk 7, wasi:http/client@0.3.0).
//!
//! * `/http?url=U[&method=M][&body=B][&connect_ms=N][&first_byte_ms=N][&between_bytes_ms=N][&header=name:value...]`:
//!   200 `"{upstream status}\n{upstream body}"`, or 502 `ERR <error-code>`
//!   (e.g. `ERR HttpRequestDenied`). A URL starting with `/` is a self request.
//! * `/echo`: `"{method} {path_with_query}\nhost={host}\n{body}"`

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::wasip3::http::types::{ErrorCode, RequestOptions, RequestOptionsError};
use spin_sdk::wasip3::http_compat::RequestOptionsExtension;

type Params = [(String, String)];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let query = req.uri().query().unwrap_or("");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/http" => match http(&params).await {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => (StatusCode::BAD_GATEWAY, format!("ERR {e}")),
        },
        "/echo" => echo(req).await,
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

fn param<'a>(params: &'a Params, key: &str) -> Result<&'a str, String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("missing {key}"))
}

/// wasi:http `error-code` Debug text without the `ErrorCode::` prefix wit-bindgen adds.
fn code_text(code: &ErrorCode) -> String {
    format!("{code:?}").replacen("ErrorCode::", "", 1)
}

/// Optional timeout parameter in milliseconds, as nanoseconds.
fn nanos(params: &Params, key: &str) -> Result<Option<u64>, String> {
    match param(params, key) {
        Ok(ms) => ms
            .parse::<u64>()
            .map(|ms| Some(ms * 1_000_000))
            .map_err(|e| format!("{key}: {e}")),
        Err(_) => Ok(None),
    }
}

fn options(params: &Params) -> Result<Option<RequestOptions>, String> {
    let connect = nanos(params, "connect_ms")?;
    let first_byte = nanos(params, "first_byte_ms")?;
    let between_bytes = nanos(params, "between_bytes_ms")?;
    if connect.is_none() && first_byte.is_none() && between_bytes.is_none() {
        return Ok(None);
    }
    let options = RequestOptions::new();
    let unsupported = |e: RequestOptionsError| format!("request options: {e:?}");
    if connect.is_some() {
        options.set_connect_timeout(connect).map_err(unsupported)?;
    }
    if first_byte.is_some() {
        options
            .set_first_byte_timeout(first_byte)
            .map_err(unsupported)?;
    }
    if between_bytes.is_some() {
        options
            .set_between_bytes_timeout(between_bytes)
            .map_err(unsupported)?;
    }
    Ok(Some(options))
}

async fn http(params: &Params) -> Result<String, String> {
    let mut builder = Request::<()>::builder()
        .method(param(params, "method").unwrap_or("GET"))
        .uri(param(params, "url")?);
    for (_, header) in params.iter().filter(|(k, _)| k == "header") {
        if let Some((name, value)) = header.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    // wasip3's http_compat turns this extension into the request's options.
    if let Some(options) = options(params)? {
        builder = builder.extension(RequestOptionsExtension(options));
    }
    let body = param(params, "body").unwrap_or("").to_owned();
    let request = builder
        .body(body)
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

async fn echo(req: Request) -> (StatusCode, String) {
    // The Host header if present, else the authority of the request URI.
    let host = match req.headers().get("host").and_then(|v| v.to_str().ok()) {
        Some(host) => host.to_owned(),
        None => req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let head = format!("{} {path}\nhost={host}\n", req.method());
    match req.into_body().bytes().await {
        Ok(body) => (StatusCode::OK, head + &String::from_utf8_lossy(&body)),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ERR {}", code_text(&e)),
        ),
    }
}
