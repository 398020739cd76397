//! Redis-trigger fixture (spin-sdk 5, `fermyon:spin/inbound-redis`).
//!
//! Each message is recorded where a test can read it back: `RPUSH <list>
//! "<n>:<message>"` on the Redis server named by the `redis_address`
//! variable, `<list>` being the component's `list` variable and `<n>` how
//! many messages this instance has handled (always 1 with a fresh instance
//! per message). The message `fail` makes the handler return an error and
//! `trap` makes it panic; neither is recorded.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Result};
use bytes::Bytes;
use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::{redis_component, variables};

static HANDLED: AtomicU32 = AtomicU32::new(0);

#[redis_component]
fn on_message(message: Bytes) -> Result<()> {
    let handled = HANDLED.fetch_add(1, Ordering::SeqCst) + 1;
    let text = String::from_utf8_lossy(&message);
    match text.as_ref() {
        "fail" => bail!("failing as asked"),
        "trap" => panic!("trapping as asked"),
        _ => {}
    }
    let connection = Connection::open(&variables::get("redis_address")?)?;
    let list = variables::get("list")?;
    connection.execute(
        "RPUSH",
        &[
            RedisParameter::Binary(list.into_bytes()),
            RedisParameter::Binary(format!("{handled}:{text}").into_bytes()),
        ],
    )?;
    println!("recorded {text}");
    Ok(())
}
