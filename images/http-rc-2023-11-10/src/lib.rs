//! A guest of wasi:http at the 2023-11-10 release candidate (Spin 2.1's
//! era), bound from that candidate's WIT; every WASI name it imports and
//! exports carries `@0.2.0-rc-2023-11-10`.
//!
//! * `/hello`: 200 `hello from wasi:http 0.2.0-rc-2023-11-10`
//! * `/echo`: 200 with the request body, read to its end, and an
//!   `x-trailers` header saying what its trailers were (`none`)
//! * `/http?url=http://host:port/path`: an outgoing GET with a 5 s connect
//!   timeout; 200 `"{status}\n{body}"`, or 502 `ERR <error-code>`

wit_bindgen::generate!({
    path: "wit",
    world: "handler",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingRequest,
    OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Handler;

export!(Handler);

/// Status, headers and body of a response.
type Reply = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

impl Guest for Handler {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (status, headers, body) = route(&target, request);
        respond(response_out, status, &headers, &body);
    }
}

fn route(target: &str, request: IncomingRequest) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/hello" => (200, vec![], b"hello from wasi:http 0.2.0-rc-2023-11-10".to_vec()),
        "/echo" => match request.consume().map_err(|()| "no body".to_string()).and_then(read_body) {
            Ok((body, trailers)) => (200, vec![("x-trailers".into(), trailers.into_bytes())], body),
            Err(e) => (500, vec![], e.into_bytes()),
        },
        "/http" => match outbound(query.strip_prefix("url=").unwrap_or("")) {
            Ok(body) => (200, vec![], body),
            Err(e) => (502, vec![], format!("ERR {e}").into_bytes()),
        },
        _ => (404, vec![], Vec::new()),
    }
}

/// The body read to its end, and its trailers: `none`, or their names.
fn read_body(body: IncomingBody) -> Result<(Vec<u8>, String), String> {
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream".to_string())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend(chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
    }
    let trailers = IncomingBody::finish(body);
    trailers.subscribe().block();
    let described = match trailers.get() {
        Some(Ok(None)) => "none".to_string(),
        Some(Ok(Some(fields))) => {
            let names: Vec<String> = fields.entries().into_iter().map(|(name, _)| name).collect();
            names.join(",")
        }
        Some(Err(e)) => format!("error {}", code_text(&e)),
        None => "not ready".to_string(),
    };
    Ok((bytes, described))
}

fn outbound(url: &str) -> Result<Vec<u8>, String> {
    let (scheme, rest) = url.split_once("://").ok_or("the url needs a scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme refused")?;
    request.set_authority(Some(authority)).map_err(|()| "authority refused")?;
    request.set_path_with_query(Some(path)).map_err(|()| "path refused")?;
    let options = RequestOptions::new();
    options
        .set_connect_timeout_ms(Some(5_000_000_000))
        .map_err(|()| "connect timeout refused")?;
    let body = request.body().map_err(|()| "no request body")?;
    OutgoingBody::finish(body, None).map_err(|e| code_text(&e))?;
    let future =
        wasi::http::outgoing_handler::handle(request, Some(options)).map_err(|e| code_text(&e))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(code_text(&e)),
        Some(Err(())) => return Err("the response was taken already".into()),
        None => return Err("the response is not ready".into()),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "no response body")?;
    let (body, _) = read_body(body)?;
    let mut out = format!("{status}\n").into_bytes();
    out.extend(body);
    Ok(out)
}

fn respond(out: ResponseOutparam, status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) {
    let response = OutgoingResponse::new(Fields::from_list(headers).expect("valid headers"));
    response.set_status_code(status).expect("a valid status");
    let outgoing = response.body().expect("a response body");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("a body stream");
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("writing the body");
        }
    }
    OutgoingBody::finish(outgoing, None).expect("finishing the body");
}

/// `ErrorCode::HttpRequestDenied` → `HttpRequestDenied`.
fn code_text(code: &ErrorCode) -> String {
    format!("{code:?}").replacen("ErrorCode::", "", 1)
}
