//! The faults a pod's HTTP edge and its guests meet, through `spinshim up`
//! and the `images/faults` guest: each case asserts what the client (and
//! the log) sees, and that the app still serves afterwards.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use spinshim_tests::{get, sample_app, send, Req, Up};

fn faults() -> std::path::PathBuf {
    sample_app("faults")
}

/// Asserts that a plain request is still answered.
async fn assert_serves(up: &Up, after: &str) -> Result<()> {
    let reply = get(up.addr, "/ok").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "ok"),
        "after {after}; output:\n{}",
        up.output().join("\n")
    );
    Ok(())
}

/// Writes `bytes` on a fresh connection and returns the status line
/// answered, or `closed` if the server closed without one.
fn raw_status(addr: SocketAddr, bytes: &[u8]) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(bytes)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    if answer.is_empty() {
        return Ok("closed".into());
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Waits until the server closes `stream`; how long that took.
fn time_until_closed(mut stream: TcpStream, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit))?;
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(start.elapsed()),
            Ok(_) => continue,
            Err(err) => anyhow::bail!("not closed within {limit:?}: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_or_overflowing_guest_gets_500_and_the_app_serves_on() -> Result<()> {
    let up = Up::start(&faults(), &[], &[])?;
    for fault in ["/trap", "/overflow"] {
        let reply = get(up.addr, fault).await?;
        assert_eq!(reply.status, 500, "{fault}: {reply:?}");
        assert!(reply.body.is_empty(), "{fault}: {reply:?}");
        assert_serves(&up, fault).await?;
    }
    let output = up.output().join("\n");
    assert!(
        output.contains("the guest was asked to trap"),
        "the guest's panic message is not in the log:\n{output}"
    );
    assert!(
        output.contains("request to /overflow failed"),
        "the overflow is not logged:\n{output}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_cut_by_the_request_timeout_and_starves_no_one() -> Result<()> {
    let up = Up::start(&faults(), &["--request-timeout", "1"], &[])?;
    let start = Instant::now();
    let reply = get(up.addr, "/loop").await?;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the timeout took {:?}",
        start.elapsed()
    );
    assert_serves(&up, "a timed-out loop").await?;

    // Without a request timeout the loop runs on, and other requests are
    // still served beside it.
    let up = Up::start(&faults(), &[], &[])?;
    let addr = up.addr;
    let looping = tokio::spawn(async move { get(addr, "/loop").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        assert_serves(&up, "a loop still running").await?;
    }
    looping.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_is_held_to_max_instance_memory_and_to_wasm32_without_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, format!("max_instance_memory = {}\n", 16 << 20))?;
    let capped = Up::start(
        &faults(),
        &["--runtime-config-file", config.to_str().context("utf-8")?],
        &[],
    )?;
    let reply = get(capped.addr, "/memory").await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let held: u64 = reply.text().parse()?;
    assert!(held < 16, "the guest held {held} MiB under a 16 MiB cap");
    assert_serves(&capped, "a capped memory bomb").await?;

    // Without a cap the guest stops at wasm32's 4 GiB, and the memory goes
    // back when the instance ends.
    let up = Up::start(&faults(), &[], &[])?;
    let reply = get(up.addr, "/memory").await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let held: u64 = reply.text().parse()?;
    assert!((3000..4096).contains(&held), "the guest held {held} MiB");
    assert_serves(&up, "an uncapped memory bomb").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_never_read_huge_uploads_and_huge_responses_flow() -> Result<()> {
    let up = Up::start(&faults(), &[], &[("SPIN_HTTP_MAX_BODY_BYTES", "0")])?;
    let body = vec![b'u'; 8 << 20];
    let ignored = send(
        up.addr,
        Req {
            method: "POST",
            target: "/ignore-body",
            headers: &[],
            body: &body,
        },
    )
    .await?;
    assert_eq!((ignored.status, ignored.text().as_str()), (200, "ignored"));
    assert_serves(&up, "an unread body").await?;

    // 1 GiB streamed up, 256 MiB streamed down: neither is held in memory.
    let addr = up.addr;
    let uploaded = tokio::task::spawn_blocking(move || upload_zeros(addr, 1 << 30)).await??;
    assert_eq!(uploaded, (1u64 << 30).to_string());
    let reply = get(up.addr, "/big?n=256").await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 256 << 20);
    assert_serves(&up, "a 1 GiB upload and a 256 MiB response").await?;
    Ok(())
}

/// POSTs `size` zero bytes to /count-body in chunks; the body answered.
fn upload_zeros(addr: SocketAddr, size: u64) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "POST /count-body HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
    )?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() as u64 {
        stream.write_all(&chunk)?;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("no response head")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "answered: {head}");
    // One chunk: its size line, then the data.
    let data = body.split("\r\n").nth(1).context("no chunk")?;
    Ok(data.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn body_limits_answer_413_before_and_while_a_guest_reads() -> Result<()> {
    let up = Up::start(&faults(), &[], &[("SPIN_HTTP_MAX_BODY_BYTES", "1000")])?;
    let declared = raw_status(
        up.addr,
        b"POST /count-body HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n",
    )?;
    assert_eq!(declared, "HTTP/1.1 413 Payload Too Large");
    // hello reads the whole body before its handler runs, so it fails on
    // the limit; the client gets 413, not the guest's 500.
    let hello = Up::start(
        &sample_app("hello"),
        &[],
        &[("SPIN_HTTP_MAX_BODY_BYTES", "1000")],
    )?;
    let chunked = raw_status(
        hello.addr,
        format!(
            "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n800\r\n{}\r\n800\r\n{}\r\n0\r\n\r\n",
            "a".repeat(0x800),
            "b".repeat(0x800)
        )
        .as_bytes(),
    )?;
    assert_eq!(chunked, "HTTP/1.1 413 Payload Too Large");
    let small = send(
        up.addr,
        Req {
            method: "POST",
            target: "/count-body",
            headers: &[],
            body: &[b'x'; 1000],
        },
    )
    .await?;
    assert_eq!((small.status, small.text().as_str()), (200, "1000"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_oversized_requests_get_4xx_and_the_app_serves_on() -> Result<()> {
    let up = Up::start(&sample_app("hello"), &[], &[])?;
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "malformed chunked body",
            b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "not HTTP",
            b"\x16\x03\x01\x00\xa5garbage\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "a 70 kB header",
            format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(70_000))
                .into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            "120 headers",
            format!(
                "GET / HTTP/1.1\r\nhost: x\r\n{}\r\n",
                (0..120).map(|i| format!("x-{i}: a\r\n")).collect::<String>()
            )
            .into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ];
    for (label, bytes, expected) in cases {
        assert_eq!(&raw_status(up.addr, bytes)?, expected, "{label}");
        let reply = get(up.addr, "/").await?;
        assert_eq!(reply.status, 200, "after {label}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_and_idle_connections_are_closed_on_time() -> Result<()> {
    let up = Up::start(
        &faults(),
        &[],
        &[
            ("SPIN_HTTP_HEADER_READ_TIMEOUT", "1"),
            ("SPIN_HTTP_IDLE_TIMEOUT", "2"),
        ],
    )?;
    // A head trickled a byte at a time is cut at the header timeout,
    // however steadily it trickles.
    let slow = TcpStream::connect(up.addr)?;
    let trickle = slow.try_clone()?;
    let writer = std::thread::spawn(move || {
        let mut trickle = trickle;
        for byte in b"GET /ok HTTP/1.1\r\nhost: x\r\nx-slow: "
            .iter()
            .cycle()
            .take(100)
        {
            if trickle.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    slow.set_read_timeout(Some(Duration::from_secs(10)))?;
    let cut = time_until_closed(slow, Duration::from_secs(10))?;
    assert!(cut < Duration::from_secs(3), "slowloris cut after {cut:?}");
    let _ = writer.join();

    // An idle connection, fresh or kept alive, closes at the idle timeout.
    let idle = time_until_closed(TcpStream::connect(up.addr)?, Duration::from_secs(10))?;
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(4)).contains(&idle),
        "idle connection closed after {idle:?}"
    );
    let mut kept = TcpStream::connect(up.addr)?;
    kept.write_all(b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n")?;
    let mut head = [0u8; 12];
    kept.read_exact(&mut head)?;
    assert_eq!(&head, b"HTTP/1.1 200");
    let idle = time_until_closed(kept, Duration::from_secs(10))?;
    assert!(
        idle < Duration::from_secs(4),
        "kept-alive connection closed after {idle:?}"
    );
    assert_serves(&up, "slowloris and idle connections").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_unfinished_heads_are_all_closed_and_the_app_serves() -> Result<()> {
    let up = Up::start(&faults(), &[], &[("SPIN_HTTP_HEADER_READ_TIMEOUT", "1")])?;
    let addr = up.addr;
    let hogs = (0..1000).map(|_| {
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(b"GET /ok HTTP/1.1\r\nhost: x\r\n").await?;
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await;
            anyhow::ensure!(matches!(read, Ok(Ok(0))), "not closed: {read:?}");
            Ok(())
        })
    });
    for (i, hog) in futures::future::join_all(hogs)
        .await
        .into_iter()
        .enumerate()
    {
        hog?.with_context(|| format!("connection {i}"))?;
    }
    assert_serves(&up, "1,000 unfinished heads").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_beyond_the_connection_cap_wait_until_one_closes() -> Result<()> {
    let up = Up::start(&faults(), &[], &[("SPIN_HTTP_MAX_CONNECTIONS", "2")])?;
    let hogs: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(up.addr))
        .collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_millis(200));
    let addr = up.addr;
    let waiting = tokio::spawn(async move { get(addr, "/ok").await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served at a cap of 2"
    );
    drop(hogs);
    let reply = tokio::time::timeout(Duration::from_secs(10), waiting).await???;
    assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_gone_mid_response_leaves_the_app_serving() -> Result<()> {
    let up = Up::start(&faults(), &[], &[])?;
    for _ in 0..3 {
        let mut stream = TcpStream::connect(up.addr)?;
        write!(stream, "GET /big?n=256 HTTP/1.1\r\nhost: x\r\n\r\n")?;
        let mut first = [0u8; 64 << 10];
        stream.read_exact(&mut first)?;
        drop(stream);
    }
    assert_serves(&up, "clients gone mid-response").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_requests_wait_for_a_slot_at_the_cap() -> Result<()> {
    let up = Up::start(&faults(), &[], &[("SPIN_HTTP_MAX_IN_FLIGHT", "1")])?;
    let addr = up.addr;
    let start = Instant::now();
    let sleeps: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { get(addr, "/sleep?n=400").await }))
        .collect();
    for sleep in sleeps {
        let reply = sleep.await??;
        assert_eq!((reply.status, reply.text().as_str()), (200, "slept"));
    }
    // One at a time: three 400 ms sleeps take at least 1.2 s.
    assert!(
        start.elapsed() >= Duration::from_millis(1200),
        "three capped requests took {:?}",
        start.elapsed()
    );
    Ok(())
}

/// What a stop looks like from outside: the exit status and how long after
/// the signal it came.
fn stop_with(up: &mut Up, signals: &[&str]) -> Result<(std::process::ExitStatus, Duration)> {
    let pid = up.pid().to_string();
    let start = Instant::now();
    for signal in signals {
        std::process::Command::new("kill")
            .args([*signal, &pid])
            .status()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    loop {
        if let Some(status) = up.try_wait()? {
            return Ok((status, start.elapsed()));
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "still running 30 s after {signals:?}; output:\n{}",
            up.output().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_within_the_drain_whatever_the_guests_do() -> Result<()> {
    for (label, target) in [
        ("spinning", "/loop"),
        ("sleeping", "/sleep?n=60000"),
        ("streaming", "/big?n=4000"),
    ] {
        let mut up = Up::start(&faults(), &["--shutdown-timeout", "2"], &[])?;
        // A client that reads nothing, so a stream stays in flight.
        let mut client = TcpStream::connect(up.addr)?;
        write!(client, "GET {target} HTTP/1.1\r\nhost: x\r\n\r\n")?;
        std::thread::sleep(Duration::from_millis(300));
        let (status, took) = stop_with(&mut up, &["-TERM"])?;
        assert_eq!(status.code(), Some(0), "{label}: {status}");
        assert!(
            (Duration::from_millis(1800)..Duration::from_secs(5)).contains(&took),
            "{label}: exited {took:?} after SIGTERM with a 2 s drain"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_requests_finish_during_the_drain_and_new_ones_are_refused() -> Result<()> {
    let mut up = Up::start(&faults(), &["--shutdown-timeout", "5"], &[])?;
    let addr = up.addr;
    let in_flight = tokio::spawn(async move { get(addr, "/sleep?n=1000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, took) = stop_with(&mut up, &["-TERM"])?;
    let reply = in_flight.await??;
    assert_eq!((reply.status, reply.text().as_str()), (200, "slept"));
    assert_eq!(status.code(), Some(0));
    assert!(
        took < Duration::from_secs(4),
        "exited {took:?} after SIGTERM"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after the stop"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once() -> Result<()> {
    let mut up = Up::start(&faults(), &["--shutdown-timeout", "30"], &[])?;
    let mut client = TcpStream::connect(up.addr)?;
    write!(client, "GET /loop HTTP/1.1\r\nhost: x\r\n\r\n")?;
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = stop_with(&mut up, &["-TERM", "-INT"])?;
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after two signals"
    );
    Ok(())
}
