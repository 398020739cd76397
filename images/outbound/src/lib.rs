//! Outbound networking fixture (spin-sdk 5): wasi:http@0.2.0 outgoing-handler
//! and wasi:sockets through `std::net`. Parameters come from the query string.
//!
//! Success answers 200; any failure answers 502 with `ERR <error>`.
//! * `/http?url=U[&method=M][&body=B][&connect_ms=N][&first_byte_ms=N][&between_bytes_ms=N][&header=name:value...]`:
//!   body `"{upstream status}\n{upstream body}"`; errors are the wasi:http
//!   `error-code` case (e.g. `ERR HttpRequestDenied`). A URL starting with `/`
//!   is a self request (no scheme, no authority).
//! * `/tcp?addr=IP:PORT&msg=T`: connect, write, shut down writing, read to end
//! * `/tcp-listen`: bind `127.0.0.1:0`, answers `listening`
//! * `/udp?addr=IP:PORT&msg=T`: send one datagram, answer the first reply
//! * `/dns?name=HOST`: the resolved IPs, comma-separated
//! * `/echo`: `"{method} {path_with_query}\nhost={host}\n{body}"`
//!
//! std::io errors read `ERR {kind:?}: {error}`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

type Params = [(String, String)];

fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn param<'a>(params: &'a Params, key: &str) -> Result<&'a str, String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("missing {key}"))
}

#[http_component]
fn handle(req: Request) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
        .into_owned()
        .collect();
    let result = match req.path() {
        "/http" => http(&params),
        "/tcp" => tcp(&params),
        "/tcp-listen" => TcpListener::bind("127.0.0.1:0")
            .map(|_| b"listening".to_vec())
            .map_err(io_text),
        "/udp" => udp(&params),
        "/dns" => dns(&params),
        "/echo" => return echo(&req),
        _ => return text(404, "not found"),
    };
    match result {
        Ok(body) => text(200, body),
        Err(e) => text(502, format!("ERR {e}")),
    }
}

/// wasi:http `error-code` Debug text without the `ErrorCode::` prefix wit-bindgen adds.
fn code_text(code: &ErrorCode) -> String {
    format!("{code:?}").replacen("ErrorCode::", "", 1)
}

fn stream_text(err: StreamError) -> String {
    match err {
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => code_text(&code),
            None => e.to_debug_string(),
        },
        StreamError::Closed => "stream closed".to_owned(),
    }
}

fn io_text(err: std::io::Error) -> String {
    format!("{:?}: {err}", err.kind())
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
    if connect.is_some() {
        options
            .set_connect_timeout(connect)
            .map_err(|()| "connect timeout not supported")?;
    }
    if first_byte.is_some() {
        options
            .set_first_byte_timeout(first_byte)
            .map_err(|()| "first-byte timeout not supported")?;
    }
    if between_bytes.is_some() {
        options
            .set_between_bytes_timeout(between_bytes)
            .map_err(|()| "between-bytes timeout not supported")?;
    }
    Ok(Some(options))
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(name.to_owned()),
    }
}

/// Splits `scheme://authority/path?query`; anything without `://` is only a path.
fn split_url(url: &str) -> (Option<Scheme>, Option<&str>, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (None, None, url.to_owned());
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => Scheme::Other(scheme.to_owned()),
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    (Some(scheme), Some(authority), path)
}

fn http(params: &Params) -> Result<Vec<u8>, String> {
    let (scheme, authority, path) = split_url(param(params, "url")?);
    let headers: Vec<(String, Vec<u8>)> = params
        .iter()
        .filter(|(k, _)| k == "header")
        .filter_map(|(_, v)| v.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&headers).map_err(|e| format!("header: {e:?}"))?;

    let request = OutgoingRequest::new(headers);
    request
        .set_method(&method(param(params, "method").unwrap_or("GET")))
        .map_err(|()| "invalid method")?;
    request
        .set_scheme(scheme.as_ref())
        .map_err(|()| "invalid scheme")?;
    request
        .set_authority(authority)
        .map_err(|()| "invalid authority")?;
    request
        .set_path_with_query(Some(path.as_str()))
        .map_err(|()| "invalid path")?;
    let body = request.body().map_err(|()| "request body already taken")?;

    let future = outgoing_handler::handle(request, options(params)?).map_err(|e| code_text(&e))?;
    write_body(body, param(params, "body").unwrap_or("").as_bytes())?;

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(code_text(&code)),
        Some(Err(())) | None => return Err("response already taken".to_owned()),
    };
    let mut out = format!("{}\n", response.status()).into_bytes();
    let body = response
        .consume()
        .map_err(|()| "response body already taken")?;
    {
        // The stream is a child of the body: drop it before `finish`.
        let stream = body
            .stream()
            .map_err(|()| "response stream already taken")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => out.extend(chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_text(e)),
            }
        }
    }
    // Errors after the last byte are reported through the trailers.
    let trailers = IncomingBody::finish(body);
    trailers.subscribe().block();
    if let Some(Ok(Err(code))) = trailers.get() {
        return Err(code_text(&code));
    }
    Ok(out)
}

fn write_body(body: OutgoingBody, data: &[u8]) -> Result<(), String> {
    {
        let stream = body.write().map_err(|()| "body stream already taken")?;
        // blocking-write-and-flush accepts at most 4096 bytes per call.
        for chunk in data.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(stream_text)?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| code_text(&e))
}

fn tcp(params: &Params) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(param(params, "addr")?).map_err(io_text)?;
    stream
        .write_all(param(params, "msg").unwrap_or("").as_bytes())
        .map_err(io_text)?;
    stream.shutdown(Shutdown::Write).map_err(io_text)?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).map_err(io_text)?;
    Ok(out)
}

fn udp(params: &Params) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(io_text)?;
    socket
        .send_to(
            param(params, "msg").unwrap_or("").as_bytes(),
            param(params, "addr")?,
        )
        .map_err(io_text)?;
    let mut buf = vec![0; 65536];
    let (n, _) = socket.recv_from(&mut buf).map_err(io_text)?;
    buf.truncate(n);
    Ok(buf)
}

fn dns(params: &Params) -> Result<Vec<u8>, String> {
    let addrs = (param(params, "name")?, 0u16)
        .to_socket_addrs()
        .map_err(io_text)?;
    let ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
    Ok(ips.join(",").into_bytes())
}

fn echo(req: &Request) -> Response {
    // The Host header if present, else the authority of the request URI.
    let host = match req.header("host").and_then(|h| h.as_str()) {
        Some(host) => host.to_owned(),
        None => req
            .uri()
            .split_once("://")
            .and_then(|(_, rest)| rest.split(['/', '?']).next())
            .unwrap_or("")
            .to_owned(),
    };
    let path = req.path_and_query().unwrap_or("/");
    let mut body = format!("{} {path}\nhost={host}\n", req.method()).into_bytes();
    body.extend_from_slice(req.body());
    text(200, body)
}
