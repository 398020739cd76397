//! Guest-filesystem fixture.
//!
//! * `GET /files/<path>` → 200 + contents of `/<path>`; 404 + io error text if it can't be read.
//! * `GET /list?dir=/x`  → 200 + sorted, newline-joined entry names of directory `/x`
//!   (directories get a trailing `/`); 404 + io error text if it can't be read.
//! * `GET /write`        → tries to create `/newfile`: 200 `wrote` on success, otherwise
//!   500 + the io error (the mount is expected to be read-only).

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

fn reply(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.into())
        .build()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

fn list(dir: &str) -> std::io::Result<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names.join("\n"))
}

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path();
    if let Some(rest) = path.strip_prefix("/files/") {
        let file = format!("/{rest}");
        return match std::fs::read(&file) {
            Ok(bytes) => reply(200, "application/octet-stream", bytes),
            Err(e) => reply(404, "text/plain", format!("{file}: {e}")),
        };
    }
    match path {
        "/list" => {
            let dir = query_param(req.query(), "dir").unwrap_or("/");
            match list(dir) {
                Ok(listing) => reply(200, "text/plain", listing),
                Err(e) => reply(404, "text/plain", format!("{dir}: {e}")),
            }
        }
        "/write" => match std::fs::write("/newfile", b"should not be writable\n") {
            Ok(()) => reply(200, "text/plain", "wrote"),
            Err(e) => reply(500, "text/plain", e.to_string()),
        },
        _ => reply(404, "text/plain", ""),
    }
}
