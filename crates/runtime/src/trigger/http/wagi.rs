//! The WAGI executor (`executor = { type = "wagi" }`): a WASI command
//! called CGI-style, one fresh instance per request.
//!
//! The request becomes the command's world: CGI variables and
//! `HTTP_<NAME>` headers in its environment (over the component's own),
//! the body on stdin, argv from the executor's template. The command
//! writes a CGI response on stdout: header lines, an empty line, the body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi_http::WasiBody;

use super::body;
use crate::host::MAX_HOST_BUFFERED_BYTES;
use crate::store::{ComponentInstancer, InstanceState};

/// The CGI version WAGI speaks.
const GATEWAY_INTERFACE: &str = "CGI/1.1";
/// What WAGI hosts call themselves.
const SERVER_SOFTWARE: &str = "WAGI/1";

/// What the executor needs to know about one request.
pub struct WagiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: String,
    /// Host and port as the client addressed them.
    pub host: &'a str,
    pub client_ip: String,
    /// The client's headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The `spin-*` set, as [`super::headers::spin_headers`] makes it.
    pub spin_headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// `${SCRIPT_NAME}` and `${ARGS}` replaced, split at spaces.
pub fn argv(template: &str, path: &str, query: &str) -> Vec<String> {
    template
        .replace("${SCRIPT_NAME}", path)
        .replace("${ARGS}", &query.replace('&', " "))
        .split(' ')
        .map(str::to_string)
        .collect()
}

/// The CGI environment of one request.
pub fn cgi_env(request: &WagiRequest<'_>) -> Vec<(String, String)> {
    let (server_name, server_port) = split_host(request.host);
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let path_info = request
        .spin_headers
        .iter()
        .find(|(name, _)| name == super::headers::PATH_INFO)
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let decoded_path_info = percent_decode(&path_info);
    let mut env = vec![
        ("AUTH_TYPE".into(), String::new()),
        ("CONTENT_LENGTH".into(), request.body.len().to_string()),
        ("CONTENT_TYPE".into(), header("content-type")),
        ("GATEWAY_INTERFACE".into(), GATEWAY_INTERFACE.into()),
        ("QUERY_STRING".into(), request.query.to_string()),
        ("REMOTE_ADDR".into(), request.client_ip.clone()),
        ("REMOTE_HOST".into(), request.client_ip.clone()),
        ("REMOTE_USER".into(), String::new()),
        ("REQUEST_METHOD".into(), request.method.to_string()),
        ("SCRIPT_NAME".into(), script_name(&request.spin_headers)),
        ("PATH_TRANSLATED".into(), decoded_path_info.clone()),
        ("X_RAW_PATH_INFO".into(), path_info),
        ("SERVER_NAME".into(), server_name),
        ("SERVER_PORT".into(), server_port),
        ("SERVER_PROTOCOL".into(), request.protocol.clone()),
        ("SERVER_SOFTWARE".into(), SERVER_SOFTWARE.into()),
    ];
    for (name, value) in &request.headers {
        if name == "authorization" || name == "connection" {
            continue;
        }
        env.push((
            format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_")),
            value.clone(),
        ));
    }
    // The spin-* facts under their WAGI names; PATH_INFO is decoded.
    for (name, value) in &request.spin_headers {
        if name == super::headers::PATH_INFO {
            env.push(("PATH_INFO".into(), decoded_path_info.clone()));
        } else if let Some(rest) = name.strip_prefix("spin-") {
            env.push((
                format!("X_{}", rest.to_ascii_uppercase().replace('-', "_")),
                value.clone(),
            ));
        }
    }
    env
}

/// `example.com:8080` → (`example.com`, `8080`); the port defaults to 80.
fn split_host(host: &str) -> (String, String) {
    if let Some((name, port)) = host.rsplit_once(':') {
        let numeric = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if numeric && (!name.contains('[') || name.ends_with(']')) {
            return (name.to_string(), port.to_string());
        }
    }
    (host.to_string(), "80".to_string())
}

/// `SCRIPT_NAME`: the route without its wildcard (`/` for the root).
fn script_name(spin_headers: &[(String, String)]) -> String {
    let route = spin_headers
        .iter()
        .find(|(name, _)| name == super::headers::COMPONENT_ROUTE)
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    if route.is_empty() {
        "/".into()
    } else {
        route.into()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A command's answer, read from its stdout.
#[derive(Debug)]
pub struct CgiResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// Reads a CGI response: headers up to the first empty line (carriage
/// returns ignored there), then the body. It needs a `Content-Type`, a
/// `Status` or a `Location`; `Location` alone means 302.
pub fn cgi_response(stdout: &[u8]) -> Result<CgiResponse> {
    if stdout.is_empty() {
        bail!("wrote nothing to stdout (is `executor` in spin.toml right?)");
    }
    let (head, body) = split_head(stdout);
    let head = std::str::from_utf8(&head).context("CGI headers are not UTF-8")?;
    let mut status = None;
    let mut location = false;
    let mut content_type = false;
    let mut headers = Vec::new();
    for line in head.split('\n').filter(|line| !line.trim().is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            tracing::warn!("WAGI response: ignoring a header line without ':': {line:?}");
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "status" => {
                let code = value.split(' ').next().unwrap_or(value);
                status = Some(
                    code.parse::<StatusCode>()
                        .unwrap_or(StatusCode::BAD_GATEWAY),
                );
                continue;
            }
            "location" => location = true,
            "content-type" => content_type = true,
            _ => {}
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("CGI header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .with_context(|| format!("CGI header {name} value {value:?}"))?;
        headers.push((name, value));
    }
    let status = match (status, location, content_type) {
        (Some(status), _, _) => status,
        (None, true, _) => StatusCode::FOUND,
        (None, false, true) => StatusCode::OK,
        (None, false, false) => {
            bail!("the CGI response has none of Content-Type, Status or Location")
        }
    };
    Ok(CgiResponse {
        status,
        headers,
        body,
    })
}

/// Splits at the first empty line; carriage returns in the head are
/// dropped. Without an empty line everything is head.
fn split_head(stdout: &[u8]) -> (Vec<u8>, Bytes) {
    let mut head = Vec::new();
    let mut previous = 0u8;
    for (index, &byte) in stdout.iter().enumerate() {
        if byte == b'\r' {
            continue;
        }
        if byte == b'\n' && previous == b'\n' {
            return (head, Bytes::copy_from_slice(&stdout[index + 1..]));
        }
        previous = byte;
        head.push(byte);
    }
    (head, Bytes::new())
}

/// Runs one WAGI component.
pub struct WagiExecutor {
    instancer: Arc<ComponentInstancer>,
    pre: CommandPre<InstanceState>,
    argv: String,
    request_timeout: Option<Duration>,
}

impl WagiExecutor {
    /// Prepares a component that must export `wasi:cli/run`.
    pub fn new(
        instancer: Arc<ComponentInstancer>,
        argv: String,
        request_timeout: Option<Duration>,
    ) -> Result<Self> {
        let id = instancer.id().to_string();
        let pre = CommandPre::new(instancer.pre().clone())
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component \"{id}\" uses the wagi executor but is not a WASI command \
                     (it must export wasi:cli/run)"
                )
            })?;
        Ok(Self {
            instancer,
            pre,
            argv,
            request_timeout,
        })
    }

    /// The body a WAGI request may carry: it is all buffered for stdin.
    pub const MAX_BODY_BYTES: usize = MAX_HOST_BUFFERED_BYTES;

    /// Handles one request in a fresh instance.
    pub async fn execute(&self, request: WagiRequest<'_>) -> Result<Response<WasiBody>> {
        let args = argv(&self.argv, request.path, request.query);
        let env = cgi_env(&request);
        let stdout = MemoryOutputPipe::new(MAX_HOST_BUFFERED_BYTES);
        let mut store = self.instancer.new_store_with(&env, |wasi| {
            wasi.args(&args)
                .stdin(MemoryInputPipe::new(request.body.clone()))
                .stdout(stdout.clone());
        })?;
        if let Some(timeout) = self.request_timeout {
            store.data_mut().deadline = Some(Instant::now() + timeout);
        }
        let command = self.pre.instantiate_async(&mut store).await?;
        match command.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => {}
            Ok(Err(())) => tracing::warn!(
                component = %self.instancer.id(),
                "the WAGI command's main returned an error; sending what it wrote"
            ),
            Err(trap) => match trap.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => {}
                _ => return Err(anyhow::Error::from(trap)),
            },
        }
        drop(store);
        let answer = cgi_response(&stdout.contents())?;
        let mut response = Response::new(body::full(answer.body));
        *response.status_mut() = answer.status;
        let headers = answer.headers.into_iter().map(|(n, v)| (Some(n), v));
        response.headers_mut().extend(headers);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_takes_the_path_and_the_query_split_at_ampersands() {
        assert_eq!(
            argv("${SCRIPT_NAME} ${ARGS}", "/hello", "a=1&b=2"),
            ["/hello", "a=1", "b=2"]
        );
        assert_eq!(argv("prog --flag", "/x", ""), ["prog", "--flag"]);
    }

    #[test]
    fn a_cgi_response_has_status_headers_and_body() {
        let answer =
            cgi_response(b"Content-Type: text/plain\r\nStatus: 201 Created\r\nX-A: b\r\n\r\nhi\n")
                .unwrap();
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(answer.headers.len(), 2);
        assert_eq!(answer.headers[1].0, "x-a");
        assert_eq!(answer.body, "hi\n");
    }

    #[test]
    fn location_alone_redirects_and_nothing_sufficient_fails() {
        let answer = cgi_response(b"Location: /elsewhere\n\n").unwrap();
        assert_eq!(
            (answer.status, answer.body),
            (StatusCode::FOUND, Bytes::new())
        );
        let answer = cgi_response(b"Status: nonsense\n\n").unwrap();
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        let err = cgi_response(b"X-Only: this\n\nbody").unwrap_err();
        assert!(err.to_string().contains("Content-Type, Status or Location"));
        assert!(cgi_response(b"")
            .unwrap_err()
            .to_string()
            .contains("nothing"));
    }

    #[test]
    fn the_environment_has_cgi_variables_headers_and_spin_facts() {
        let request = WagiRequest {
            method: "POST",
            path: "/wagi/a%20b",
            query: "x=1",
            protocol: "HTTP/1.1".into(),
            host: "example.com:8080",
            client_ip: "127.0.0.1".into(),
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("x-custom".into(), "v".into()),
                ("authorization".into(), "secret".into()),
            ],
            spin_headers: vec![
                ("spin-path-info".into(), "/a%20b".into()),
                ("spin-component-route".into(), "/wagi".into()),
                (
                    "spin-full-url".into(),
                    "http://example.com:8080/wagi/a%20b?x=1".into(),
                ),
            ],
            body: Bytes::from_static(b"12345"),
        };
        let env = cgi_env(&request);
        let get = |name: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("CONTENT_LENGTH"), Some("5"));
        assert_eq!(get("CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get("SERVER_NAME"), Some("example.com"));
        assert_eq!(get("SERVER_PORT"), Some("8080"));
        assert_eq!(get("SCRIPT_NAME"), Some("/wagi"));
        assert_eq!(get("PATH_INFO"), Some("/a b"));
        assert_eq!(get("X_RAW_PATH_INFO"), Some("/a%20b"));
        assert_eq!(get("HTTP_X_CUSTOM"), Some("v"));
        assert_eq!(get("HTTP_AUTHORIZATION"), None);
        assert_eq!(
            get("X_FULL_URL"),
            Some("http://example.com:8080/wagi/a%20b?x=1")
        );
        assert_eq!(get("GATEWAY_INTERFACE"), Some("CGI/1.1"));
    }
}
