//! MQTT-trigger fixture (`spin:mqtt-trigger`, the plugin's export).
//!
//! Each message is answered on the topic named by the `reply_topic`
//! variable, at the broker of `reply_address`, with QoS 1 and the payload
//! `<n>:<topic>:<message>`, `<n>` being how many messages this instance
//! has handled (always 1 with a fresh instance per message). The message
//! `fail` returns an error and `trap` panics; neither is answered.

use std::sync::atomic::{AtomicU32, Ordering};

use spin_sdk::{mqtt, variables};

wit_bindgen::generate!({
    path: "wit",
    world: "spin-mqtt",
});


static HANDLED: AtomicU32 = AtomicU32::new(0);

struct Handler;

impl Guest for Handler {
    fn handle_message(message: Vec<u8>, metadata: Metadata) -> Result<(), Error> {
        let handled = HANDLED.fetch_add(1, Ordering::SeqCst) + 1;
        let text = String::from_utf8_lossy(&message);
        match text.as_ref() {
            "fail" => return Err(Error::Other("failing as asked".into())),
            "trap" => panic!("trapping as asked"),
            _ => {}
        }
        let failed = |err: &dyn std::fmt::Debug| Error::Other(format!("{err:?}"));
        let address = variables::get("reply_address").map_err(|e| failed(&e))?;
        let topic = variables::get("reply_topic").map_err(|e| failed(&e))?;
        let connection = mqtt::Connection::open(&address, "", "", 30).map_err(|e| failed(&e))?;
        let answer = format!("{handled}:{}:{text}", metadata.topic);
        connection
            .publish(&topic, &answer.into_bytes(), mqtt::Qos::AtLeastOnce)
            .map_err(|e| failed(&e))?;
        println!("answered {text}");
        Ok(())
    }
}

export!(Handler);
