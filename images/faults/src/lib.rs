//! A guest that misbehaves on request, for the fault suite and the soak.
//!
//! The first path segment picks the behaviour; `n` in the query is its size:
//!
//! * `/ok`: answers `ok`.
//! * `/trap`: panics before answering.
//! * `/overflow`: recurses until the guest's stack is exhausted.
//! * `/loop`: spins forever without calling the host.
//! * `/sleep?n=MS`: sleeps `n` milliseconds, then answers `slept`.
//! * `/memory?n=MIB`: allocates and touches `n` MiB, then answers the count;
//!   without `n` it allocates until the allocator fails.
//! * `/ignore-body`: answers `ignored` without reading the request body.
//! * `/count-body`: streams the request body and answers its length.
//! * `/big?n=MIB`: streams an `n` MiB response body in 64 KiB chunks.
//! * `/env`: what the guest knows of where it runs: `env NAME=VALUE` lines,
//!   then `arg ...` lines and `cwd ...`.
//! * `/read?p=PATH`: the file's content, or 404 with the error.
//! * `/list?p=PATH`: the directory's entry names, one a line, or 404.

use futures::{SinkExt as _, StreamExt as _};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

const CHUNK: usize = 64 << 10;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path_with_query = req.path_with_query().unwrap_or_default();
    let (path, query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query.as_str(), ""));
    let n: Option<u64> = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("n="))
        .and_then(|n| n.parse().ok());
    let p = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("p="))
        .unwrap_or("/")
        .to_owned();
    match path {
        "/ok" => answer(out, 200, b"ok".to_vec()).await,
        "/trap" => panic!("the guest was asked to trap"),
        "/overflow" => {
            let depth = recurse(std::hint::black_box(1));
            answer(out, 200, depth.to_string().into_bytes()).await
        }
        "/loop" => spin_forever(),
        "/sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(n.unwrap_or(1000)));
            answer(out, 200, b"slept".to_vec()).await
        }
        "/memory" => {
            let mib = allocate(n);
            answer(out, 200, mib.to_string().into_bytes()).await
        }
        "/ignore-body" => answer(out, 200, b"ignored".to_vec()).await,
        "/count-body" => {
            let mut body = req.into_body_stream();
            let mut length = 0usize;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(chunk) => length += chunk.len(),
                    Err(err) => {
                        return answer(out, 400, format!("body: {err:?}").into_bytes()).await
                    }
                }
            }
            answer(out, 200, length.to_string().into_bytes()).await
        }
        "/big" => stream_big(out, n.unwrap_or(1)).await,
        "/env" => answer(out, 200, surroundings().into_bytes()).await,
        "/read" => match std::fs::read(&p) {
            Ok(content) => answer(out, 200, content).await,
            Err(err) => answer(out, 404, format!("{p}: {err}").into_bytes()).await,
        },
        "/list" => match list(&p) {
            Ok(names) => answer(out, 200, names.into_bytes()).await,
            Err(err) => answer(out, 404, format!("{p}: {err}").into_bytes()).await,
        },
        _ => answer(out, 404, b"no such fault".to_vec()).await,
    }
}

async fn answer(out: ResponseOutparam, status: u16, body: Vec<u8>) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let mut sink = response.take_body();
    out.set(response);
    let _ = sink.send(body).await;
}

async fn stream_big(out: ResponseOutparam, mib: u64) {
    let response = OutgoingResponse::new(Fields::new());
    let mut sink = response.take_body();
    out.set(response);
    let chunk = vec![b'x'; CHUNK];
    for _ in 0..(mib << 20) / CHUNK as u64 {
        if sink.send(chunk.clone()).await.is_err() {
            return;
        }
    }
}

/// Not tail-recursive, so every level keeps a frame.
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    std::hint::black_box(&mut frame);
    recurse(depth + 1) + frame[depth as usize % 64]
}

fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates and touches `mib` MiB (or until allocation fails), returning
/// how many MiB it holds.
fn allocate(mib: Option<u64>) -> u64 {
    let mut held: Vec<Vec<u8>> = Vec::new();
    while mib.is_none_or(|mib| (held.len() as u64) < mib) {
        let mut block = Vec::new();
        if block.try_reserve_exact(1 << 20).is_err() {
            break;
        }
        block.resize(1 << 20, 1);
        held.push(block);
    }
    std::hint::black_box(&held);
    held.len() as u64
}

fn surroundings() -> String {
    let mut out = String::new();
    for (name, value) in std::env::vars() {
        out.push_str(&format!("env {name}={value}\n"));
    }
    for arg in std::env::args() {
        out.push_str(&format!("arg {arg}\n"));
    }
    match std::env::current_dir() {
        Ok(dir) => out.push_str(&format!("cwd {}\n", dir.display())),
        Err(err) => out.push_str(&format!("cwd none ({err})\n")),
    }
    out
}

fn list(dir: &str) -> std::io::Result<String> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names.join("\n"))
}
