//! `spinshim up` running guests built for other ABIs than the current
//! one: Spin 4.0's WASIp3 release candidate (spin-sdk 6).

use anyhow::Result;
use spinshim_tests::assertions::*;
use spinshim_tests::{get, sample_app, Up};

/// spin-sdk 6 guests name every WASIp3 interface at
/// `0.3.0-rc-2026-03-15`: the handler they export, the client and clocks
/// they import. All of it must work, not just the export.
#[tokio::test(flavor = "multi_thread")]
async fn a_spin_4_guest_on_the_wasip3_release_candidate_serves_with_outbound_clocks_and_variables(
) -> Result<()> {
    let code = std::fs::read(wasm("http_p3_rc.wasm"))?;
    for name in [
        "wasi:http/handler@0.3.0-rc-2026-03-15",
        "wasi:http/client@0.3.0-rc-2026-03-15",
        "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15",
    ] {
        assert!(
            code.windows(name.len()).any(|w| w == name.as_bytes()),
            "the fixture no longer names {name}: it tests nothing"
        );
    }
    let up = Up::start(&sample_app("http-p3-rc"), &[], &[])?;
    let cases = [
        ("/hello", 200, "hello from spin-sdk 6".to_string()),
        (
            "/http?url=/hello",
            200,
            "200\nhello from spin-sdk 6".to_string(),
        ),
        (
            "/http?url=http://127.0.0.1:1/",
            502,
            "ERR HttpRequestDenied".to_string(),
        ),
        ("/sleep?ms=30", 200, "slept 30 ms".to_string()),
        (
            "/variable?name=greeting",
            200,
            "hi from a variable".to_string(),
        ),
    ];
    for (target, status, body) in cases {
        let reply = get(up.addr, target).await?;
        assert_eq!(
            (reply.status, reply.text()),
            (status, body),
            "GET {target}\n{}",
            up.output().join("\n")
        );
    }
    Ok(())
}
