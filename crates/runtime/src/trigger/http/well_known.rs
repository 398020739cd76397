//! `/.well-known/spin/*`: answered by the host before routing, so app
//! routes under it are unreachable, as in Spin.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use serde_json::json;
use wasmtime_wasi_http::WasiBody;

use super::body;

/// The path prefix the host owns.
pub const PREFIX: &str = "/.well-known/spin/";

/// What `info` reports about the app.
#[derive(Clone, Debug, Default)]
pub struct AppInfo {
    /// Application name.
    pub name: String,
    /// Application version.
    pub version: Option<String>,
    /// Digest of the OCI image the app came from.
    pub oci_image_digest: Option<String>,
}

/// Answers `/.well-known/spin/<name>`.
pub fn respond(name: &str, info: &AppInfo) -> Response<WasiBody> {
    match name {
        "health" => text_response(StatusCode::OK, "OK"),
        "info" => {
            let mut doc = json!({ "name": info.name });
            if let Some(version) = &info.version {
                doc["version"] = json!(version);
            }
            if let Some(digest) = &info.oci_image_digest {
                doc["oci_image_digest"] = json!(digest);
            }
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            let mut response = Response::new(body::full(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => body::status_only(StatusCode::NOT_FOUND),
    }
}

fn text_response(status: StatusCode, text: &'static str) -> Response<WasiBody> {
    let mut response = Response::new(body::full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
