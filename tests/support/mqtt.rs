//! A real MQTT broker (Debian's mosquitto, which `scripts/rig.sh up`
//! installs) for one test: on 127.0.0.1 and a free port, optionally with a
//! user and password, stopped by PID when dropped; and a subscriber
//! (rumqttc) that reads back what guests publish.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS};

use crate::free_port;

/// A running mosquitto.
pub struct MqttBroker {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl MqttBroker {
    /// A broker that admits anyone.
    pub fn start() -> Result<Self> {
        Self::start_with(None)
    }

    /// A broker that admits only `user` with `password`.
    pub fn start_with_login(user: &str, password: &str) -> Result<Self> {
        Self::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let mut config =
            format!("listener {port} 127.0.0.1\npersistence false\nlog_dest none\nuser root\n");
        match login {
            None => config.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let passwords = dir.path().join("passwords");
                std::fs::write(&passwords, "")?;
                let status = Command::new("mosquitto_passwd")
                    .arg("-b")
                    .arg(&passwords)
                    .args([user, password])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .context("running mosquitto_passwd")?;
                anyhow::ensure!(status.success(), "mosquitto_passwd failed");
                config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    passwords.display()
                ));
            }
        }
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(&config_path, config)?;
        let mut broker = Self {
            child: None,
            port,
            config: config_path,
            _dir: dir,
        };
        broker.restart()?;
        Ok(broker)
    }

    /// `mqtt://127.0.0.1:<port>?client_id=<client_id>`.
    pub fn url(&self, client_id: &str) -> String {
        format!("mqtt://127.0.0.1:{}?client_id={client_id}", self.port)
    }

    /// Stops the broker (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mosquitto (scripts/rig.sh up installs Debian's mosquitto)")?;
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("mosquitto on port {} did not listen within 10 s", self.port)
    }
}

impl Drop for MqttBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A subscriber to one topic filter.
pub struct Subscriber {
    _client: AsyncClient,
    events: EventLoop,
}

/// A message the subscriber received.
#[derive(Debug, PartialEq)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
}

impl Subscriber {
    /// Subscribes to `filter` (at QoS 2, so each message arrives at the QoS
    /// it was published with) and waits for the broker's SUBACK.
    pub async fn new(
        broker: &MqttBroker,
        filter: &str,
        login: Option<(&str, &str)>,
    ) -> Result<Self> {
        let id = format!("test-subscriber-{}", free_port());
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut events) = AsyncClient::new(options, 10);
        client.subscribe(filter, QoS::ExactlyOnce).await?;
        let subscribed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Incoming(Incoming::SubAck(_)) = events.poll().await? {
                    return Ok::<_, anyhow::Error>(());
                }
            }
        });
        subscribed.await.context("no SUBACK within 10 s")??;
        Ok(Self {
            _client: client,
            events,
        })
    }

    /// The next message, if one arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        let received = tokio::time::timeout(wait, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        return Some(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                        })
                    }
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        });
        received.await.ok().flatten()
    }
}

/// Publishes one message from a client of its own and waits until the
/// broker has it (PUBACK at QoS 1).
pub async fn publish(broker: &MqttBroker, topic: &str, payload: &[u8]) -> Result<()> {
    let id = format!("test-publisher-{}", free_port());
    let (client, mut events) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", broker.port), 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await?;
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Incoming::PubAck(_)) = events.poll().await? {
                return Ok::<_, anyhow::Error>(());
            }
        }
    });
    acked.await.context("no PUBACK within 10 s")??;
    let _ = client.disconnect().await;
    Ok(())
}
