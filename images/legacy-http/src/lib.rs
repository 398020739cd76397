//! Legacy Spin HTTP component: exports the unversioned `fermyon:spin/inbound-http`.
//!
//! Responds 200, `content-type: text/plain`, body `Hello from legacy: <METHOD> <uri>`,
//! and echoes each `spin-*` request header back as `x-echo-<name>` (name lower-cased).
//!
//! `GET /outbound?url=URL` sends a GET through the unversioned `fermyon:spin/http`
//! import: 200 `"{status}\n{body}"`, or 502 `ERR <http-error>` (e.g.
//! `ERR DestinationNotAllowed`).
//!
//! `POST …/redis?addr=A` runs the body's steps (the `script` crate) through
//! the unversioned `fermyon:spin/redis`, each call naming `A`: one line per
//! step, the first error ending the answer with `ERR Error`.

wit_bindgen::generate!({
    world: "legacy-http",
    path: "wit",
});

use exports::fermyon::spin::inbound_http::Guest;
use fermyon::spin::http::send_request;
use fermyon::spin::http_types::{HttpError, Method, Request, Response};
use fermyon::spin::redis;
use fermyon::spin::redis_types::{RedisParameter, RedisResult};
use script::{Arg, Step};

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

/// `/redis?addr=A`: the body's steps, each a call naming `A`.
fn redis_steps(query: &str, body: &[u8]) -> Response {
    let params = script::params(query);
    let address = script::param(&params, "addr");
    let steps = match script::parse(body) {
        Ok(steps) => steps,
        Err(e) => return text(200, format!("ERR {e}")),
    };
    let mut lines = Vec::new();
    for step in steps {
        match redis_step(address, step) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let name = match e {
                    fermyon::spin::redis_types::Error::Success => "Success",
                    fermyon::spin::redis_types::Error::Error => "Error",
                };
                lines.push(format!("ERR Error::{name}"));
                break;
            }
        }
    }
    text(200, lines.join("\n"))
}

fn redis_step(a: &str, step: Step) -> Result<String, fermyon::spin::redis_types::Error> {
    Ok(match step {
        Step::Set(key, value) => redis::set(a, &key, &value).map(|()| "ok".into())?,
        Step::Get(key) => format!("bytes({})", script::show(&redis::get(a, &key)?)),
        Step::Incr(key) => redis::incr(a, &key)?.to_string(),
        Step::Del(keys) => redis::del(a, &keys)?.to_string(),
        Step::Sadd(key, values) => redis::sadd(a, &key, &values)?.to_string(),
        Step::Smembers(key) => script::show_set(redis::smembers(a, &key)?),
        Step::Srem(key, values) => redis::srem(a, &key, &values)?.to_string(),
        Step::Publish(channel, payload) => {
            redis::publish(a, &channel, &payload).map(|()| "ok".into())?
        }
        Step::Execute(command, args) => {
            let args: Vec<RedisParameter> = args
                .into_iter()
                .map(|a| match a {
                    Arg::Int(n) => RedisParameter::Int64(n),
                    Arg::Bin(b) => RedisParameter::Binary(b),
                })
                .collect();
            let shown: Vec<String> = redis::execute(a, &command, &args)?
                .into_iter()
                .map(|r| match r {
                    RedisResult::Nil => "nil".into(),
                    RedisResult::Status(s) => format!("status({s})"),
                    RedisResult::Int64(n) => format!("int({n})"),
                    RedisResult::Binary(b) => format!("bin({})", script::show(&b)),
                })
                .collect();
            format!("[{}]", shown.join(","))
        }
        _ => "skipped (not a redis step)".into(),
    })
}

impl Guest for Legacy {
    fn handle_request(req: Request) -> Response {
        let (path, query) = req.uri.split_once('?').unwrap_or((req.uri.as_str(), ""));
        if path == "/outbound" {
            return outbound(query);
        }
        if path.ends_with("/redis") {
            return redis_steps(query, req.body.as_deref().unwrap_or_default());
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
