//! Legacy Spin HTTP component: exports the unversioned `fermyon:spin/inbound-http`.
//!
//! Responds 200, `content-type: text/plain`, body `Hello from legacy: <METHOD> <uri>`,
//! and echoes each `spin-*` request header back as `x-echo-<name>` (name lower-cased).
//!
//! `GET /outbound?url=URL` sends a GET through the unversioned `fermyon:spin/http`
//! import: 200 `"{status}\n{body}"`, or 502 `ERR <http-error>` (e.g.
//! `ERR DestinationNotAllowed`).

wit_bindgen::generate!({
    world: "legacy-http",
    path: "wit",
});

use exports::fermyon::spin::inbound_http::Guest;
use fermyon::spin::http::send_request;
use fermyon::spin::http_types::{HttpError, Method, Request, Response};

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

fn error_name(e: HttpError) -> &'static str {
    match e {
        HttpError::Success => "Success",
        HttpError::DestinationNotAllowed => "DestinationNotAllowed",
        HttpError::InvalidUrl => "InvalidUrl",
        HttpError::RequestError => "RequestError",
        HttpError::RuntimeError => "RuntimeError",
        HttpError::TooManyRequests => "TooManyRequests",
    }
}

fn text(status: u16, body: String) -> Response {
    Response {
        status,
        headers: Some(vec![("content-type".to_owned(), "text/plain".to_owned())]),
        body: Some(body.into_bytes()),
    }
}

/// `/outbound?url=URL`: a GET to URL through `fermyon:spin/http.send-request`.
fn outbound(query: &str) -> Response {
    let Some((_, url)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "url") else {
        return text(400, "missing url".to_owned());
    };
    let request = Request {
        method: Method::Get,
        uri: url.into_owned(),
        headers: vec![],
        params: vec![],
        body: None,
    };
    match send_request(&request) {
        Ok(resp) => {
            let body = String::from_utf8_lossy(resp.body.as_deref().unwrap_or_default());
            text(200, format!("{}\n{body}", resp.status))
        }
        Err(e) => text(502, format!("ERR {}", error_name(e))),
    }
}

impl Guest for Legacy {
    fn handle_request(req: Request) -> Response {
        let (path, query) = req.uri.split_once('?').unwrap_or((req.uri.as_str(), ""));
        if path == "/outbound" {
            return outbound(query);
        }
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
