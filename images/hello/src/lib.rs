//! Minimal spin-sdk 5 HTTP component (exports wasi:http/incoming-handler@0.2.x).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> impl IntoResponse {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello, Spin!\n")
        .build()
}
