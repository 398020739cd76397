//! What one pod's HTTP listener lets a client hold: connections, requests
//! in flight, time without a request, header and body sizes.
//!
//! Spin itself sets none of these, so a pod facing the internet could be
//! held open by clients that never finish a request. The defaults are
//! generous enough for any real client; both edges read the same
//! `SPIN_HTTP_*` environment variables to change them.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};

/// The HTTP listener's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send a request head once it started
    /// one (slowloris); `None` disables it.
    pub header_read_timeout: Option<Duration>,
    /// How long a connection may stay open with no request in flight and
    /// nothing sent (HTTP/1 keep-alive and HTTP/2 alike); `None` disables it.
    pub idle_timeout: Option<Duration>,
    /// Open connections at most; further clients wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
    /// Requests handled at once at most; further requests wait for a slot.
    pub max_in_flight: usize,
    /// Bytes of a request head at most; larger heads get 431.
    pub max_header_bytes: usize,
    /// Bytes of a request body at most (413); `None` means no limit.
    pub max_body_bytes: Option<u64>,
}

/// hyper's smallest read buffer, which bounds a request head.
const MIN_HEADER_BYTES: usize = 8192;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_connections: 1024,
            // The pooling allocator's instance slots: one more in flight
            // could not be instantiated anyway.
            max_in_flight: 1000,
            max_header_bytes: 64 << 10,
            max_body_bytes: Some(100 << 20),
        }
    }
}

impl HttpLimits {
    /// The defaults, with every `SPIN_HTTP_*` setting `lookup` finds
    /// applied; a bad value is an error naming its variable.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut limits = Self::default();
        let read = |name: &str| lookup(name).map(|raw| (name.to_owned(), raw));
        if let Some((name, raw)) = read("SPIN_HTTP_HEADER_READ_TIMEOUT") {
            limits.header_read_timeout = optional_seconds(&name, &raw)?;
        }
        if let Some((name, raw)) = read("SPIN_HTTP_IDLE_TIMEOUT") {
            limits.idle_timeout = optional_seconds(&name, &raw)?;
        }
        if let Some((name, raw)) = read("SPIN_HTTP_MAX_CONNECTIONS") {
            limits.max_connections = positive(&name, &raw)?;
        }
        if let Some((name, raw)) = read("SPIN_HTTP_MAX_IN_FLIGHT") {
            limits.max_in_flight = positive(&name, &raw)?;
        }
        if let Some((name, raw)) = read("SPIN_HTTP_MAX_HEADER_BYTES") {
            let bytes: usize = number(&name, &raw)?;
            if bytes < MIN_HEADER_BYTES {
                bail!("{name}=\"{raw}\": must be at least {MIN_HEADER_BYTES}");
            }
            limits.max_header_bytes = bytes;
        }
        if let Some((name, raw)) = read("SPIN_HTTP_MAX_BODY_BYTES") {
            let bytes: u64 = number(&name, &raw)?;
            limits.max_body_bytes = (bytes > 0).then_some(bytes);
        }
        Ok(limits)
    }
}

fn number<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T> {
    raw.trim()
        .parse()
        .ok()
        .with_context(|| format!("{name}=\"{raw}\": expected a whole number"))
}

/// The most connections or requests a count may allow: far beyond any
/// pod, and within what a semaphore can hold.
const MAX_COUNT: usize = 1_000_000;

fn positive(name: &str, raw: &str) -> Result<usize> {
    match number(name, raw)? {
        0 => bail!("{name}=\"{raw}\": must be at least 1"),
        n if n > MAX_COUNT => bail!("{name}=\"{raw}\": must be at most {MAX_COUNT}"),
        n => Ok(n),
    }
}

/// Seconds (fractions allowed); 0 turns the timeout off.
fn optional_seconds(name: &str, raw: &str) -> Result<Option<Duration>> {
    let seconds = raw
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .with_context(|| {
            format!("{name}=\"{raw}\": expected a number of seconds, such as 10 or 2.5")
        })?;
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(entries: &[(&str, &str)]) -> Result<HttpLimits> {
        HttpLimits::from_env(|name| {
            entries
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_without_settings() {
        assert_eq!(from(&[]).unwrap(), HttpLimits::default());
    }

    #[test]
    fn every_setting_is_read_and_zero_turns_off() {
        let limits = from(&[
            ("SPIN_HTTP_HEADER_READ_TIMEOUT", "0.5"),
            ("SPIN_HTTP_IDLE_TIMEOUT", "0"),
            ("SPIN_HTTP_MAX_CONNECTIONS", "3"),
            ("SPIN_HTTP_MAX_IN_FLIGHT", "2"),
            ("SPIN_HTTP_MAX_HEADER_BYTES", "9000"),
            ("SPIN_HTTP_MAX_BODY_BYTES", "0"),
        ])
        .unwrap();
        assert_eq!(
            limits,
            HttpLimits {
                header_read_timeout: Some(Duration::from_millis(500)),
                idle_timeout: None,
                max_connections: 3,
                max_in_flight: 2,
                max_header_bytes: 9000,
                max_body_bytes: None,
            }
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, raw) in [
            ("SPIN_HTTP_HEADER_READ_TIMEOUT", "soon"),
            ("SPIN_HTTP_IDLE_TIMEOUT", "-1"),
            ("SPIN_HTTP_MAX_CONNECTIONS", "0"),
            ("SPIN_HTTP_MAX_CONNECTIONS", "4611686018427387904"),
            ("SPIN_HTTP_MAX_IN_FLIGHT", "many"),
            ("SPIN_HTTP_MAX_HEADER_BYTES", "100"),
            ("SPIN_HTTP_MAX_BODY_BYTES", "1e9"),
        ] {
            let err = from(&[(name, raw)]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{name}=\"{raw}\"")),
                "{name}: {err}"
            );
        }
    }
}
