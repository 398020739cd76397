//! Service-client fixture (spin-sdk 5): `fermyon:spin/redis@2.0.0` and
//! `fermyon:spin/mqtt@2.0.0`. The request body is a list of steps (see the
//! `script` crate); the query names the server.
//!
//! * `POST …/redis?addr=A`: opens one connection, runs the steps on it
//! * `POST …/mqtt?addr=A[&user=U&pass=P&keepalive=N]`: opens one
//!   connection, runs its `mqtt` steps
//!
//! (Any path ending so, whatever the route.) Without a body, the steps are
//! the query's `steps` parameter.
//!
//! The answer is 200 with one line per step; the first error ends it
//! with `ERR {error:?}` (also for `open`).

use script::{param, show, show_set, Arg, Step};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::{mqtt, redis};

#[http_component]
fn handle(req: Request) -> Response {
    let params = script::params(req.query());
    // A GET (make bench's wrk) carries its steps in the query.
    let body = match req.body() {
        [] => param(&params, "steps").as_bytes(),
        body => body,
    };
    let lines = match script::parse(body) {
        Ok(steps) => match req.path() {
            p if p.ends_with("/redis") => run_redis(param(&params, "addr"), steps),
            p if p.ends_with("/mqtt") => run_mqtt(&params, steps),
            _ => return Response::new(404, "not found"),
        },
        Err(e) => vec![format!("ERR {e}")],
    };
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(lines.join("\n"))
        .build()
}

fn run_redis(address: &str, steps: Vec<Step>) -> Vec<String> {
    let connection = match redis::Connection::open(address) {
        Ok(c) => c,
        Err(e) => return vec![format!("ERR {e:?}")],
    };
    let mut lines = Vec::new();
    for step in steps {
        match redis_step(&connection, step) {
            Ok(line) => lines.push(line),
            Err(e) => {
                lines.push(format!("ERR {e:?}"));
                break;
            }
        }
    }
    lines
}

fn redis_step(c: &redis::Connection, step: Step) -> Result<String, redis::Error> {
    Ok(match step {
        Step::Set(key, value) => c.set(&key, &value).map(|()| "ok".into())?,
        Step::Get(key) => match c.get(&key)? {
            Some(value) => format!("some({})", show(&value)),
            None => "none".into(),
        },
        Step::Incr(key) => c.incr(&key)?.to_string(),
        Step::Del(keys) => c.del(&keys)?.to_string(),
        Step::Sadd(key, values) => c.sadd(&key, &values)?.to_string(),
        Step::Smembers(key) => show_set(c.smembers(&key)?),
        Step::Srem(key, values) => c.srem(&key, &values)?.to_string(),
        Step::Publish(channel, payload) => c.publish(&channel, &payload).map(|()| "ok".into())?,
        Step::Execute(command, args) => {
            let args: Vec<redis::RedisParameter> = args
                .into_iter()
                .map(|a| match a {
                    Arg::Int(n) => redis::RedisParameter::Int64(n),
                    Arg::Bin(b) => redis::RedisParameter::Binary(b),
                })
                .collect();
            let results = c.execute(&command, &args)?;
            let shown: Vec<String> = results
                .into_iter()
                .map(|r| match r {
                    redis::RedisResult::Nil => "nil".into(),
                    redis::RedisResult::Status(s) => format!("status({s})"),
                    redis::RedisResult::Int64(n) => format!("int({n})"),
                    redis::RedisResult::Binary(b) => format!("bin({})", show(&b)),
                })
                .collect();
            format!("[{}]", shown.join(","))
        }
        Step::Mqtt(..) => "skipped (not a redis step)".into(),
    })
}

fn run_mqtt(params: &[(String, String)], steps: Vec<Step>) -> Vec<String> {
    let keep_alive = param(params, "keepalive").parse().unwrap_or(30);
    let connection = match mqtt::Connection::open(
        param(params, "addr"),
        param(params, "user"),
        param(params, "pass"),
        keep_alive,
    ) {
        Ok(c) => c,
        Err(e) => return vec![format!("ERR {e:?}")],
    };
    let mut lines = Vec::new();
    for step in steps {
        let Step::Mqtt(topic, qos, payload) = step else {
            lines.push("skipped (not an mqtt step)".into());
            continue;
        };
        let qos = match qos {
            0 => mqtt::Qos::AtMostOnce,
            1 => mqtt::Qos::AtLeastOnce,
            _ => mqtt::Qos::ExactlyOnce,
        };
        match connection.publish(&topic, &payload, qos) {
            Ok(()) => lines.push("ok".into()),
            Err(e) => {
                lines.push(format!("ERR {e:?}"));
                break;
            }
        }
    }
    lines
}
