//! Steps for the service-client fixtures, one per line of a request body:
//!
//! ```text
//! set KEY VALUE | get KEY | incr KEY | del KEY... | sadd KEY V... |
//! smembers KEY | srem KEY V... | publish CHANNEL PAYLOAD |
//! execute COMMAND ARG...   (ARG: i:<int> or b:<bytes>) |
//! mqtt TOPIC QOS(0|1|2) PAYLOAD
//! ```
//!
//! Words are separated by spaces and percent-decoded (`%20` is a space).
//! Each guest answers one line per step it ran, and stops at the first
//! error with `ERR <the error's Debug text>`.

/// One step.
#[derive(Debug)]
pub enum Step {
    Set(String, Vec<u8>),
    Get(String),
    Incr(String),
    Del(Vec<String>),
    Sadd(String, Vec<String>),
    Smembers(String),
    Srem(String, Vec<String>),
    Publish(String, Vec<u8>),
    Execute(String, Vec<Arg>),
    Mqtt(String, u8, Vec<u8>),
}

/// An `execute` argument.
#[derive(Debug)]
pub enum Arg {
    Int(i64),
    Bin(Vec<u8>),
}

/// Query-string parameters.
pub fn params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The value of parameter `key`, or "".
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Parses a body of steps.
pub fn parse(body: &[u8]) -> Result<Vec<Step>, String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<Step, String> {
    let words: Vec<Vec<u8>> = line.split(' ').map(decode).collect();
    let text = |i: usize| -> Result<String, String> {
        words
            .get(i)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .ok_or_else(|| format!("{line}: word {i} missing"))
    };
    let rest = |from: usize| -> Vec<String> {
        words[from.min(words.len())..]
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    };
    let bytes = |i: usize| words.get(i).cloned().unwrap_or_default();
    Ok(match text(0)?.as_str() {
        "set" => Step::Set(text(1)?, bytes(2)),
        "get" => Step::Get(text(1)?),
        "incr" => Step::Incr(text(1)?),
        "del" => Step::Del(rest(1)),
        "sadd" => Step::Sadd(text(1)?, rest(2)),
        "smembers" => Step::Smembers(text(1)?),
        "srem" => Step::Srem(text(1)?, rest(2)),
        "publish" => Step::Publish(text(1)?, bytes(2)),
        "execute" => Step::Execute(text(1)?, rest(2).iter().map(|a| arg(a)).collect::<Result<_, _>>()?),
        "mqtt" => Step::Mqtt(
            text(1)?,
            text(2)?.parse().map_err(|_| format!("{line}: bad qos"))?,
            bytes(3),
        ),
        other => return Err(format!("unknown step {other}")),
    })
}

fn arg(word: &str) -> Result<Arg, String> {
    if let Some(n) = word.strip_prefix("i:") {
        return n.parse().map(Arg::Int).map_err(|_| format!("bad int {word}"));
    }
    word.strip_prefix("b:")
        .map(|b| Arg::Bin(b.as_bytes().to_vec()))
        .ok_or_else(|| format!("bad argument {word} (i:<int> or b:<bytes>)"))
}

fn decode(word: &str) -> Vec<u8> {
    let bytes = word.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Bytes as text (lossy), for answers.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A set's members, sorted (sets have no order).
pub fn show_set(mut members: Vec<String>) -> String {
    members.sort();
    format!("[{}]", members.join(","))
}
