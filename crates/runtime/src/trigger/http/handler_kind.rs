//! Which HTTP handler a component exports, read from its export names.
//!
//! Spin picks the executor from what the component exports rather than
//! from the manifest, so this must find exactly one supported handler.

use anyhow::{bail, Result};

/// `wasi:http/incoming-handler@0.2.x`, served by a fresh instance per request.
pub const WASI_HTTP_P2_PREFIX: &str = "wasi:http/incoming-handler@0.2.";
/// `wasi:http/handler@0.3.0` (WASIp3).
pub const WASI_HTTP_P3: &str = "wasi:http/handler@0.3.0";
/// Spin 1.x's unversioned handler.
pub const SPIN_LEGACY: &str = "fermyon:spin/inbound-http";

/// The guest ABI an HTTP component speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    /// `wasi:http/incoming-handler@0.2.x`.
    WasiHttpP2,
    /// `wasi:http/handler@0.3.0`.
    WasiHttpP3,
    /// `fermyon:spin/inbound-http`.
    SpinLegacy,
}

impl HandlerKind {
    fn of_export(name: &str) -> Option<Self> {
        if name.starts_with(WASI_HTTP_P2_PREFIX) && !name.contains("-rc-") {
            Some(Self::WasiHttpP2)
        } else if name == WASI_HTTP_P3 {
            Some(Self::WasiHttpP3)
        } else if name == SPIN_LEGACY {
            Some(Self::SpinLegacy)
        } else {
            None
        }
    }
}

/// Finds the one supported handler among `exports` of `component_id`.
pub fn detect<'a>(
    component_id: &str,
    exports: impl IntoIterator<Item = &'a str>,
) -> Result<HandlerKind> {
    let found: Vec<(&str, HandlerKind)> = exports
        .into_iter()
        .filter_map(|name| HandlerKind::of_export(name).map(|kind| (name, kind)))
        .collect();
    match found.as_slice() {
        [(_, kind)] => Ok(*kind),
        [] => bail!(
            "component \"{component_id}\" exports no supported HTTP handler; expected one of \
             {WASI_HTTP_P2_PREFIX}x, {WASI_HTTP_P3}, {SPIN_LEGACY}"
        ),
        several => {
            let names: Vec<&str> = several.iter().map(|(name, _)| *name).collect();
            bail!(
                "component \"{component_id}\" exports multiple different handlers: {}",
                names.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_wasi_http_0_2_patch_is_the_p2_handler() {
        let kind = detect("a", ["wasi:http/incoming-handler@0.2.6", "other"]).unwrap();
        assert_eq!(kind, HandlerKind::WasiHttpP2);
    }

    #[test]
    fn wasi_http_0_3_0_is_the_p3_handler() {
        assert_eq!(
            detect("a", ["wasi:http/handler@0.3.0"]).unwrap(),
            HandlerKind::WasiHttpP3
        );
    }

    #[test]
    fn the_legacy_spin_export_is_recognised() {
        assert_eq!(
            detect("a", ["fermyon:spin/inbound-http"]).unwrap(),
            HandlerKind::SpinLegacy
        );
    }

    #[test]
    fn no_handler_is_an_error_naming_the_component_and_what_is_supported() {
        let err = detect("api", ["wasi:cli/run@0.2.0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "component \"api\" exports no supported HTTP handler; expected one of \
             wasi:http/incoming-handler@0.2.x, wasi:http/handler@0.3.0, fermyon:spin/inbound-http"
        );
    }

    #[test]
    fn release_candidates_are_not_taken_for_the_final_version() {
        assert!(detect("a", ["wasi:http/incoming-handler@0.2.0-rc-2023-11-10"]).is_err());
        assert!(detect("a", ["wasi:http/handler@0.3.0-rc-2026-03-15"]).is_err());
    }

    #[test]
    fn several_handlers_are_an_error_listing_them() {
        let err = detect(
            "api",
            [
                "wasi:http/incoming-handler@0.2.0",
                "fermyon:spin/inbound-http",
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "component \"api\" exports multiple different handlers: \
             wasi:http/incoming-handler@0.2.0, fermyon:spin/inbound-http"
        );
    }
}
