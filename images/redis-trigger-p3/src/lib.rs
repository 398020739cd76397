//! Redis-trigger fixture (spin-sdk 7, `spin:redis/inbound-redis@3.0.0`),
//! recording as `images/redis-trigger` does: `RPUSH <list> "<n>:<message>"`
//! through `spin:redis@3.0.0`; `fail` returns an error, `trap` panics.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Result, bail};
use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::{redis_subscriber, variables};

static HANDLED: AtomicU32 = AtomicU32::new(0);

#[redis_subscriber]
async fn on_message(message: Vec<u8>) -> Result<()> {
    let handled = HANDLED.fetch_add(1, Ordering::SeqCst) + 1;
    let text = String::from_utf8_lossy(&message).into_owned();
    match text.as_str() {
        "fail" => bail!("failing as asked"),
        "trap" => panic!("trapping as asked"),
        _ => {}
    }
    let connection = Connection::open(variables::get("redis_address").await?).await?;
    let list = variables::get("list").await?;
    connection
        .execute(
            "RPUSH",
            [
                RedisParameter::Binary(list.into_bytes()),
                RedisParameter::Binary(format!("{handled}:{text}").into_bytes()),
            ],
        )
        .await?;
    println!("recorded {text}");
    Ok(())
}
