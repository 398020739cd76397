//! The Redis command behind each interface function, and what `execute`'s
//! replies become.

use redis::Value;

use super::{ClientError, Session};
use crate::host::MAX_HOST_BUFFERED_BYTES;

/// An argument of `execute`.
pub enum RedisParameter {
    Int64(i64),
    Binary(Vec<u8>),
}

/// One value of `execute`'s result (nested arrays are flattened).
#[derive(Debug, PartialEq)]
pub enum RedisValue {
    Nil,
    Status(String),
    Int64(i64),
    Binary(Vec<u8>),
}

/// Commands that change the state of the connection they run on (its
/// database, identity, transaction, subscriptions, protocol) or hold it
/// while they wait. On a shared connection they would reach, or stall,
/// every other request, so they run on a connection of their own.
const OWN_CONNECTION_COMMANDS: &[&str] = &[
    "ASKING",
    "AUTH",
    "BLMOVE",
    "BLMPOP",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BZMPOP",
    "BZPOPMAX",
    "BZPOPMIN",
    "CLIENT",
    "DISCARD",
    "EXEC",
    "HELLO",
    "MONITOR",
    "MULTI",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "QUIT",
    "READONLY",
    "READWRITE",
    "RESET",
    "SELECT",
    "SSUBSCRIBE",
    "SUBSCRIBE",
    "SUNSUBSCRIBE",
    "UNSUBSCRIBE",
    "UNWATCH",
    "WAIT",
    "WAITAOF",
    "WATCH",
    "XREAD",
    "XREADGROUP",
];

/// Whether `command` (its first word, any case) must run on a connection
/// of its own.
pub fn needs_own_connection(command: &str) -> bool {
    let name = command.split_whitespace().next().unwrap_or_default();
    OWN_CONNECTION_COMMANDS
        .iter()
        .any(|own| own.eq_ignore_ascii_case(name))
}

pub async fn publish(session: &Session, channel: &str, payload: &[u8]) -> Result<(), ClientError> {
    let _receivers: i64 = session
        .query(redis::cmd("PUBLISH").arg(channel).arg(payload))
        .await?;
    Ok(())
}

pub async fn get(session: &Session, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
    let value: Option<Vec<u8>> = session.query(redis::cmd("GET").arg(key)).await?;
    within_limit(value.as_ref().map_or(0, Vec::len))?;
    Ok(value)
}

pub async fn set(session: &Session, key: &str, value: &[u8]) -> Result<(), ClientError> {
    session.query(redis::cmd("SET").arg(key).arg(value)).await
}

pub async fn incr(session: &Session, key: &str) -> Result<i64, ClientError> {
    session.query(redis::cmd("INCRBY").arg(key).arg(1)).await
}

pub async fn del(session: &Session, keys: &[String]) -> Result<u32, ClientError> {
    session.query(redis::cmd("DEL").arg(keys)).await
}

pub async fn sadd(session: &Session, key: &str, values: &[String]) -> Result<u32, ClientError> {
    session.query(redis::cmd("SADD").arg(key).arg(values)).await
}

pub async fn smembers(session: &Session, key: &str) -> Result<Vec<String>, ClientError> {
    session.query(redis::cmd("SMEMBERS").arg(key)).await
}

pub async fn srem(session: &Session, key: &str, values: &[String]) -> Result<u32, ClientError> {
    session.query(redis::cmd("SREM").arg(key).arg(values)).await
}

/// Any command, its replies flattened into [`RedisValue`]s.
pub async fn execute(
    session: &Session,
    command: &str,
    arguments: Vec<RedisParameter>,
) -> Result<Vec<RedisValue>, ClientError> {
    let mut cmd = redis::cmd(command);
    for argument in arguments {
        match argument {
            RedisParameter::Int64(n) => cmd.arg(n),
            RedisParameter::Binary(bytes) => cmd.arg(bytes),
        };
    }
    let reply: Value = session.query(&cmd).await?;
    let mut values = Vec::new();
    flatten(reply, &mut values)?;
    within_limit(values.iter().map(size_of_value).sum())?;
    Ok(values)
}

fn flatten(reply: Value, into: &mut Vec<RedisValue>) -> Result<(), ClientError> {
    let value = match reply {
        Value::Nil => RedisValue::Nil,
        Value::Int(n) => RedisValue::Int64(n),
        Value::BulkString(bytes) => RedisValue::Binary(bytes),
        Value::SimpleString(status) => RedisValue::Status(status),
        Value::Okay => RedisValue::Status("OK".to_string()),
        Value::Double(n) => RedisValue::Binary(n.to_string().into_bytes()),
        Value::Boolean(b) => RedisValue::Int64(i64::from(b)),
        Value::BigNumber(n) => RedisValue::Binary(n),
        Value::Array(items) | Value::Set(items) => {
            return items.into_iter().try_for_each(|item| flatten(item, into));
        }
        Value::ServerError(err) => {
            return Err(ClientError::Other(redis::RedisError::from(err).to_string()));
        }
        // Maps, attributes, formatted strings and pushes (RESP3 only)
        // have no form in `redis-result`.
        _ => return Err(ClientError::TypeError),
    };
    into.push(value);
    Ok(())
}

fn size_of_value(value: &RedisValue) -> usize {
    std::mem::size_of::<RedisValue>()
        + match value {
            RedisValue::Status(s) => s.len(),
            RedisValue::Binary(b) => b.len(),
            RedisValue::Nil | RedisValue::Int64(_) => 0,
        }
}

fn within_limit(size: usize) -> Result<(), ClientError> {
    if size > MAX_HOST_BUFFERED_BYTES {
        return Err(ClientError::Other(format!(
            "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changing_and_blocking_commands_need_their_own_connection() {
        for command in [
            "SELECT",
            "select",
            "Multi",
            "BLPOP",
            "subscribe",
            "CLIENT SETNAME",
        ] {
            assert!(needs_own_connection(command), "{command}");
        }
        for command in ["GET", "SET", "EVAL", "PUBLISH", "XADD", "CLIENTS"] {
            assert!(!needs_own_connection(command), "{command}");
        }
    }

    #[test]
    fn replies_flatten_into_redis_values() {
        let reply = Value::Array(vec![
            Value::Int(3),
            Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Nil]),
            Value::Okay,
            Value::SimpleString("QUEUED".into()),
            Value::Boolean(true),
        ]);
        let mut values = Vec::new();
        flatten(reply, &mut values).unwrap();
        assert_eq!(
            values,
            vec![
                RedisValue::Int64(3),
                RedisValue::Binary(b"x".to_vec()),
                RedisValue::Nil,
                RedisValue::Status("OK".into()),
                RedisValue::Status("QUEUED".into()),
                RedisValue::Int64(1),
            ]
        );
        let map = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        assert!(matches!(
            flatten(map, &mut Vec::new()),
            Err(ClientError::TypeError)
        ));
    }
}
