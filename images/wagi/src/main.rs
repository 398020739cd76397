//! WAGI fixture: a CGI program. Its arguments (the executor's argv: the
//! path, then the query split at `&`) pick the answer:
//!
//! * `status`: `Status: 418`, a header `X-Wagi: yes`, body `teapot`
//! * `redirect`: only `Location: /elsewhere` (a 302)
//! * `nothing`: writes nothing (a 500)
//! * `fail`: writes a response, then exits with an error (a 500)
//!
//! Otherwise `200 text/plain` with one `NAME=value` line per CGI variable
//! it was given, `args=...`, and `body=<stdin>`.

use std::io::{Read, Write};

const VARIABLES: &[&str] = &[
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "X_RAW_PATH_INFO",
    "QUERY_STRING",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_ADDR",
    "HTTP_X_CUSTOM",
    "HTTP_AUTHORIZATION",
    "X_FULL_URL",
    "X_MATCHED_ROUTE",
    "X_COMPONENT_ROUTE",
    "GREETING",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |word: &str| args.iter().skip(1).any(|a| a == word);
    let mut out = std::io::stdout();
    if has("nothing") {
        return;
    }
    if has("status") {
        print!("Status: 418 I'm a teapot\nX-Wagi: yes\nContent-Type: text/plain\n\nteapot");
        return;
    }
    if has("redirect") {
        print!("Location: /elsewhere\n\n");
        return;
    }
    let mut body = String::new();
    let _ = std::io::stdin().read_to_string(&mut body);
    let mut answer = String::from("Content-Type: text/plain\r\n\r\n");
    for name in VARIABLES {
        if let Ok(value) = std::env::var(name) {
            answer.push_str(&format!("{name}={value}\n"));
        }
    }
    answer.push_str(&format!("args={}\nbody={body}\n", args.join(" ")));
    let _ = out.write_all(answer.as_bytes());
    let _ = out.flush();
    if has("fail") {
        std::process::exit(1);
    }
}
