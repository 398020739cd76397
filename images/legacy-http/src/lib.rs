//! Legacy Spin HTTP component: exports the unversioned `fermyon:spin/inbound-http`.
//!
//! Responds 200, `content-type: text/plain`, body `Hello from legacy: <METHOD> <uri>`,
//! and echoes each `spin-*` request header back as `x-echo-<name>` (name lower-cased).

wit_bindgen::generate!({
    world: "legacy-http",
    path: "wit",
});

use exports::fermyon::spin::inbound_http::Guest;
use fermyon::spin::http_types::{Method, Request, Response};

struct Legacy;

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
    }
}

impl Guest for Legacy {
    fn handle_request(req: Request) -> Response {
        let mut headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
        for (name, value) in &req.headers {
            let name = name.to_ascii_lowercase();
            if name.starts_with("spin-") {
                headers.push((format!("x-echo-{name}"), value.clone()));
            }
        }
        let body = format!("Hello from legacy: {} {}", method_name(req.method), req.uri);
        Response {
            status: 200,
            headers: Some(headers),
            body: Some(body.into_bytes()),
        }
    }
}

export!(Legacy);
