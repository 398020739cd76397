//! Service-client fixture for WASIp3 (spin-sdk 7): `spin:redis@3.0.0` and
//! `spin:mqtt@3.0.0`, with the routes and answers of `images/services`, and
//! `POST …/pg?addr=A[&ca=PEM]` for `spin:postgres@4.2.0`'s async calls
//! (`open-async`, or `connection-builder` with `set-ca-root` when `ca` is
//! given; `query-async` with its row stream; `execute-async`), answering as
//! `/pg4` does there; and `POST …/mysql?addr=A` for `spin:mysql@3.0.0`
//! (its rows read from the stream one at a time, then the future's outcome),
//! answering as `/mysql` does there.

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
            p if p.ends_with("/pg") => {
                run_pg(param(&params, "addr"), param(&params, "ca"), steps).await
            }
            p if p.ends_with("/mysql") => run_mysql(param(&params, "addr"), steps).await,
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
        _ => "skipped (not a redis step)".into(),
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

async fn run_pg(address: &str, ca: &str, steps: Vec<Step>) -> Vec<String> {
    use spin_sdk::pg;
    let opened = if ca.is_empty() {
        pg::Connection::open(address).await
    } else {
        let options = pg::OpenOptions {
            ca_root: Some(pg::Certificate::Text(ca.to_string())),
        };
        pg::Connection::open_with_options(address, options).await
    };
    let shown = |e: pg::Error| match e {
        pg::Error::PgError(e) => format!("ERR {e:?}"),
        other => format!("ERR {other}"),
    };
    let connection = match opened {
        Ok(c) => c,
        Err(e) => return vec![shown(e)],
    };
    let mut lines = Vec::new();
    for step in steps {
        let (sql, params, is_query) = match step {
            Step::Query(sql, params) => (sql, params, true),
            Step::Exec(sql, params) => (sql, params, false),
            _ => {
                lines.push("skipped (not a pg step)".into());
                continue;
            }
        };
        let params: Vec<pg::ParameterValue> = params.into_iter().filter_map(pg_param).collect();
        let outcome = if is_query {
            match connection.query(sql, params).await {
                Ok(result) => {
                    let columns: Vec<_> = result
                        .columns()
                        .iter()
                        .map(|c| (c.name.clone(), c.data_type.clone()))
                        .collect();
                    let width = columns.len();
                    result.collect().await.map(|rows| {
                        let rows = rows.iter().map(|row| (0..width).map(move |i| &row[i]));
                        script::show_rows(columns, rows)
                    })
                }
                Err(e) => Err(e),
            }
        } else {
            connection
                .execute(sql, params)
                .await
                .map(|n| vec![n.to_string()])
        };
        match outcome {
            Ok(out) => lines.extend(out),
            Err(e) => {
                lines.push(shown(e));
                break;
            }
        }
    }
    lines
}

fn pg_param(p: script::Param) -> Option<spin_sdk::pg::ParameterValue> {
    use script::Param as P;
    use spin_sdk::pg::{Interval, ParameterValue as V, RangeBoundKind as K};
    fn bound<T>(b: script::Bound<T>) -> Option<(T, K)> {
        b.map(|(v, inclusive)| {
            (
                v,
                if inclusive {
                    K::Inclusive
                } else {
                    K::Exclusive
                },
            )
        })
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
}

async fn run_mysql(address: &str, steps: Vec<Step>) -> Vec<String> {
    use spin_sdk::mysql;
    let shown = |e: mysql::Error| match e {
        mysql::Error::MysqlError(e) => format!("ERR {e:?}"),
        other => format!("ERR {other}"),
    };
    let connection = match mysql::Connection::open(address).await {
        Ok(c) => c,
        Err(e) => return vec![shown(e)],
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
        let params: Option<Vec<_>> = params.into_iter().map(mysql_param).collect();
        let Some(params) = params else {
            lines.push("ERR parameter kind not in this version".into());
            break;
        };
        let outcome = if is_query {
            match connection.query(sql, params).await {
                Ok(mut result) => {
                    let columns: Vec<_> = result
                        .columns()
                        .iter()
                        .map(|c| (c.name.clone(), c.data_type.clone()))
                        .collect();
                    let width = columns.len();
                    let mut rows = Vec::new();
                    while let Some(row) = result.next().await {
                        rows.push((0..width).map(|i| row[i].clone()).collect::<Vec<_>>());
                    }
                    result
                        .result()
                        .await
                        .map(|()| script::show_rows(columns, rows))
                }
                Err(e) => Err(e),
            }
        } else {
            connection
                .execute(sql, params)
                .await
                .map(|()| vec!["()".to_string()])
        };
        match outcome {
            Ok(out) => lines.extend(out),
            Err(e) => {
                lines.push(shown(e));
                break;
            }
        }
    }
    lines
}

fn mysql_param(p: script::Param) -> Option<spin_sdk::mysql::ParameterValue> {
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
