//! Service-client fixture (spin-sdk 5): `fermyon:spin/redis@2.0.0` and
//! `fermyon:spin/mqtt@2.0.0`. The request body is a list of steps (see the
//! `script` crate); the query names the server.
//!
//! * `POST …/redis?addr=A`: opens one connection, runs the steps on it
//! * `POST …/mqtt?addr=A[&user=U&pass=P&keepalive=N]`: opens one
//!   connection, runs its `mqtt` steps
//! * `POST …/pg2`, `…/pg3`, `…/pg4` `?addr=A`: PostgreSQL through
//!   `fermyon:spin/postgres@2.0.0`, `spin:postgres@3.0.0`, `@4.0.0`; runs the
//!   `query` / `exec` steps on one connection. A query answers a line
//!   `columns: name:Type, ...` and a line per row (values' Debug text joined
//!   by ` | `); an exec answers the affected row count.
//! * `POST …/mysql?addr=A`: MySQL through `fermyon:spin/mysql@2.0.0`, the
//!   same steps and answers (an exec answers `()`).
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
            p if p.ends_with("/pg2") => pg2::run(param(&params, "addr"), steps),
            p if p.ends_with("/pg3") => pg3::run(param(&params, "addr"), steps),
            p if p.ends_with("/pg4") => pg4::run(param(&params, "addr"), steps),
            p if p.ends_with("/mysql") => mysql2::run(param(&params, "addr"), steps),
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
        _ => "skipped (not a redis step)".into(),
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

/// One SQL client's runner (a PostgreSQL version, or MySQL): the SDK
/// module and how a step's parameter becomes that version's value
/// (`None`: it has no such case).
macro_rules! sql_runner {
    ($name:ident, $sdk:path, $convert:expr) => {
        mod $name {
            use super::Step;
            use $sdk as pg;

            pub fn run(address: &str, steps: Vec<Step>) -> Vec<String> {
                let connection = match pg::Connection::open(address) {
                    Ok(c) => c,
                    Err(e) => return vec![format!("ERR {e:?}")],
                };
                let mut lines = Vec::new();
                for step in steps {
                    let (sql, params, is_query) = match step {
                        Step::Query(sql, params) => (sql, params, true),
                        Step::Exec(sql, params) => (sql, params, false),
                        _ => {
                            lines.push("skipped (not an sql step)".into());
                            continue;
                        }
                    };
                    let convert: fn(script::Param) -> Option<pg::ParameterValue> = $convert;
                    let params: Option<Vec<_>> = params.into_iter().map(convert).collect();
                    let Some(params) = params else {
                        lines.push("ERR parameter kind not in this version".into());
                        break;
                    };
                    let outcome = if is_query {
                        connection.query(&sql, &params).map(|rows| {
                            let columns = rows.columns.into_iter().map(|c| (c.name, c.data_type));
                            script::show_rows(columns, rows.rows)
                        })
                    } else {
                        connection
                            .execute(&sql, &params)
                            .map(|n| vec![format!("{n:?}")])
                    };
                    match outcome {
                        Ok(out) => lines.extend(out),
                        Err(e) => {
                            lines.push(format!("ERR {e:?}"));
                            break;
                        }
                    }
                }
                lines
            }
        }
    };
}

sql_runner!(pg2, spin_sdk::pg, super::rdbms_parameter);
sql_runner!(mysql2, spin_sdk::mysql, super::rdbms_parameter);

/// A parameter as `fermyon:spin/rdbms-types@2.0.0` (PostgreSQL and MySQL
/// 2.0) has it.
fn rdbms_parameter(p: script::Param) -> Option<spin_sdk::mysql::ParameterValue> {
    use script::Param as P;
    use spin_sdk::mysql::ParameterValue as V;
    Some(match p {
        P::Bool(v) => V::Boolean(v),
        P::I8(v) => V::Int8(v),
        P::I16(v) => V::Int16(v),
        P::I32(v) => V::Int32(v),
        P::I64(v) => V::Int64(v),
        P::U8(v) => V::Uint8(v),
        P::U16(v) => V::Uint16(v),
        P::U32(v) => V::Uint32(v),
        P::U64(v) => V::Uint64(v),
        P::F32(v) => V::Floating32(v),
        P::F64(v) => V::Floating64(v),
        P::Str(v) => V::Str(v),
        P::Bin(v) => V::Binary(v),
        P::Null => V::DbNull,
        _ => return None,
    })
}

sql_runner!(pg3, spin_sdk::pg3, |p| {
    use script::Param as P;
    use spin_sdk::pg3::ParameterValue as V;
    Some(match p {
        P::Bool(v) => V::Boolean(v),
        P::I8(v) => V::Int8(v),
        P::I16(v) => V::Int16(v),
        P::I32(v) => V::Int32(v),
        P::I64(v) => V::Int64(v),
        P::F32(v) => V::Floating32(v),
        P::F64(v) => V::Floating64(v),
        P::Str(v) => V::Str(v),
        P::Bin(v) => V::Binary(v),
        P::Date(y, m, d) => V::Date((y, m, d)),
        P::Time(h, m, s, ns) => V::Time((h, m, s, ns)),
        P::Datetime(y, mo, d, h, mi, s, ns) => V::Datetime((y, mo, d, h, mi, s, ns)),
        P::Ts(v) => V::Timestamp(v),
        P::Null => V::DbNull,
        _ => return None,
    })
});

sql_runner!(pg4, spin_sdk::pg4, |p| {
    use script::Param as P;
    use spin_sdk::pg4::{Interval, ParameterValue as V, RangeBoundKind as K};
    fn kind(inclusive: bool) -> K {
        if inclusive {
            K::Inclusive
        } else {
            K::Exclusive
        }
    }
    fn bound<T>(b: script::Bound<T>) -> Option<(T, K)> {
        b.map(|(v, i)| (v, kind(i)))
    }
    Some(match p {
        P::Bool(v) => V::Boolean(v),
        P::I8(v) => V::Int8(v),
        P::I16(v) => V::Int16(v),
        P::I32(v) => V::Int32(v),
        P::I64(v) => V::Int64(v),
        P::F32(v) => V::Floating32(v),
        P::F64(v) => V::Floating64(v),
        P::Str(v) => V::Str(v),
        P::Bin(v) => V::Binary(v),
        P::Date(y, m, d) => V::Date((y, m, d)),
        P::Time(h, m, s, ns) => V::Time((h, m, s, ns)),
        P::Datetime(y, mo, d, h, mi, s, ns) => V::Datetime((y, mo, d, h, mi, s, ns)),
        P::Ts(v) => V::Timestamp(v),
        P::Uuid(v) => V::Uuid(v),
        P::Json(v) => V::Jsonb(v),
        P::Dec(v) => V::Decimal(v),
        P::R32(l, u) => V::RangeInt32((bound(l), bound(u))),
        P::R64(l, u) => V::RangeInt64((bound(l), bound(u))),
        P::RDec(l, u) => V::RangeDecimal((bound(l), bound(u))),
        P::A32(v) => V::ArrayInt32(v),
        P::A64(v) => V::ArrayInt64(v),
        P::ADec(v) => V::ArrayDecimal(v),
        P::AStr(v) => V::ArrayStr(v),
        P::Interval(micros, days, months) => V::Interval(Interval {
            micros,
            days,
            months,
        }),
        P::Null => V::DbNull,
        _ => return None,
    })
});
