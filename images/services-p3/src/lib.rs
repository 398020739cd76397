//! Service-client fixture for WASIp3 (spin-sdk 7): `spin:redis@3.0.0` and
//! `spin:mqtt@3.0.0`, with the routes and answers of `images/services`.

use script::{Arg, Step, param, show, show_set};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::{mqtt, redis};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let params = script::params(req.uri().query().unwrap_or(""));
    let path = req.uri().path().to_owned();
    let body = req.into_body().bytes().await.unwrap_or_default();
    let lines = match script::parse(&body) {
        Ok(steps) => match path.as_str() {
            p if p.ends_with("/redis") => run_redis(param(&params, "addr"), steps).await,
            p if p.ends_with("/mqtt") => run_mqtt(&params, steps).await,
            _ => return (StatusCode::NOT_FOUND, String::new()),
        },
        Err(e) => vec![format!("ERR {e}")],
    };
    (StatusCode::OK, lines.join("\n"))
}

async fn run_redis(address: &str, steps: Vec<Step>) -> Vec<String> {
    let connection = match redis::Connection::open(address).await {
        Ok(c) => c,
        Err(e) => return vec![format!("ERR {e:?}")],
    };
    let mut lines = Vec::new();
    for step in steps {
        match redis_step(&connection, step).await {
            Ok(line) => lines.push(line),
            Err(e) => {
                lines.push(format!("ERR {e:?}"));
                break;
            }
        }
    }
    lines
}

async fn redis_step(c: &redis::Connection, step: Step) -> Result<String, redis::Error> {
    Ok(match step {
        Step::Set(key, value) => c.set(&key, &value).await.map(|()| "ok".into())?,
        Step::Get(key) => match c.get(&key).await? {
            Some(value) => format!("some({})", show(&value)),
            None => "none".into(),
        },
        Step::Incr(key) => c.incr(&key).await?.to_string(),
        Step::Del(keys) => c.del(&keys).await?.to_string(),
        Step::Sadd(key, values) => c.sadd(&key, &values).await?.to_string(),
        Step::Smembers(key) => show_set(c.smembers(&key).await?),
        Step::Srem(key, values) => c.srem(&key, &values).await?.to_string(),
        Step::Publish(channel, payload) => {
            c.publish(&channel, &payload).await.map(|()| "ok".into())?
        }
        Step::Execute(command, args) => {
            let args = args.into_iter().map(|a| match a {
                Arg::Int(n) => redis::RedisParameter::Int64(n),
                Arg::Bin(b) => redis::RedisParameter::Binary(b),
            });
            let results = c.execute(&command, args).await?;
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

async fn run_mqtt(params: &[(String, String)], steps: Vec<Step>) -> Vec<String> {
    let keep_alive = param(params, "keepalive").parse().unwrap_or(30);
    let opened = mqtt::Connection::open(
        param(params, "addr"),
        param(params, "user"),
        param(params, "pass"),
        keep_alive,
    )
    .await;
    let connection = match opened {
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
        match connection.publish(&topic, payload, qos).await {
            Ok(()) => lines.push("ok".into()),
            Err(e) => {
                lines.push(format!("ERR {e:?}"));
                break;
            }
        }
    }
    lines
}
