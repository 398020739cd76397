//! spin-sdk 7 HTTP service (WASIp3: exports wasi:http/handler@0.3.0).

use spin_sdk::http::{HeaderMap, HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    // Touch the request path so the request is actually read; it is not echoed.
    let _path = req.uri().path().to_owned();

    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    (StatusCode::OK, headers, String::from("Hello, Spin!\n"))
}
