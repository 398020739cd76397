//! spin-sdk 2.2 (Spin 2.0's wasi:http 0.2.0-rc-2023-10-18): a handler that
//! answers, echoes a request body through the candidate's streams, sends
//! an outgoing request and reads a variable.
//!
//! - `/hello`: `hello from spin-sdk 2.2`
//! - `POST /echo`: the body back, its length in `x-echo-length`
//! - `/http?url=U`: `GET U`, answered with `<status>\n<body>`, or 502 with
//!   `ERR <error>`
//! - `/variable?name=N`: the variable's value
#![cfg(target_env = "p1")]

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::{http_component, variables};

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.path_and_query().unwrap_or("/").to_string();
    let (path, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
    let response = match path {
        "/hello" => Response::new(200, "hello from spin-sdk 2.2"),
        "/echo" if *req.method() == Method::Post => {
            let body = req.body().to_vec();
            Response::builder()
                .status(200)
                .header("x-echo-length", body.len().to_string())
                .body(body)
                .build()
        }
        "/http" => {
            let url = query_value(query, "url").unwrap_or_default();
            match spin_sdk::http::send::<_, Response>(Request::get(url)).await {
                Ok(answer) => {
                    let text = String::from_utf8_lossy(answer.body()).into_owned();
                    Response::new(200, format!("{}\n{text}", answer.status()))
                }
                Err(err) => Response::new(502, format!("ERR {err}")),
            }
        }
        "/variable" => {
            let name = query_value(query, "name").unwrap_or_default();
            match variables::get(name) {
                Ok(value) => Response::new(200, value),
                Err(err) => Response::new(500, format!("ERR {err}")),
            }
        }
        _ => Response::new(404, "not found"),
    };
    Ok(response)
}
