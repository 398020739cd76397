//! Steps for the service-client fixtures, one per line of a request body:
//!
//! ```text
//! set KEY VALUE | get KEY | incr KEY | del KEY... | sadd KEY V... |
//! smembers KEY | srem KEY V... | publish CHANNEL PAYLOAD |
//! execute COMMAND ARG...   (ARG: i:<int> or b:<bytes>) |
//! mqtt TOPIC QOS(0|1|2) PAYLOAD |
//! query SQL PARAM... | exec SQL PARAM...     (PostgreSQL, MySQL; PARAM: see [`Param`])
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
    Query(String, Vec<Param>),
    Exec(String, Vec<Param>),
}

/// A bound of a range parameter: the value and whether it is inclusive.
pub type Bound<T> = Option<(T, bool)>;

/// An SQL parameter (PostgreSQL takes them all, MySQL the scalar ones), written `kind:value`:
/// `bool:true i8:1 i16:2 i32:3 i64:4 u8:5 u16:6 u32:7 u64:8 f32:1.5 f64:2.5
/// str:text bin:bytes date:2024-02-29 time:13:45:07.000000123
/// datetime:2024-02-29T13:45:07.000000500 ts:1700000000 uuid:<uuid>
/// json:{"a":1} dec:1.25 r32:[3,9) r64:(,5] rdec:[1.5,) a32:1,null,3
/// a64:... adec:1.5,null astr:a,null,b interval:MICROS,DAYS,MONTHS null`
#[derive(Debug, Clone)]
pub enum Param {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Date(i32, u8, u8),
    Time(u8, u8, u8, u32),
    Datetime(i32, u8, u8, u8, u8, u8, u32),
    Ts(i64),
    Uuid(String),
    Json(Vec<u8>),
    Dec(String),
    R32(Bound<i32>, Bound<i32>),
    R64(Bound<i64>, Bound<i64>),
    RDec(Bound<String>, Bound<String>),
    A32(Vec<Option<i32>>),
    A64(Vec<Option<i64>>),
    ADec(Vec<Option<String>>),
    AStr(Vec<Option<String>>),
    Interval(i64, i32, i32),
    Null,
}

/// An `execute` argument.
#[derive(Debug)]
pub enum Arg {
    Int(i64),
    Bin(Vec<u8>),
}

/// Query-string parameters.
pub fn params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
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
        "execute" => Step::Execute(
            text(1)?,
            rest(2).iter().map(|a| arg(a)).collect::<Result<_, _>>()?,
        ),
        "query" => Step::Query(
            text(1)?,
            rest(2)
                .iter()
                .map(|p| param_value(p))
                .collect::<Result<_, _>>()?,
        ),
        "exec" => Step::Exec(
            text(1)?,
            rest(2)
                .iter()
                .map(|p| param_value(p))
                .collect::<Result<_, _>>()?,
        ),
        "mqtt" => Step::Mqtt(
            text(1)?,
            text(2)?.parse().map_err(|_| format!("{line}: bad qos"))?,
            bytes(3),
        ),
        other => return Err(format!("unknown step {other}")),
    })
}

fn param_value(word: &str) -> Result<Param, String> {
    if word == "null" {
        return Ok(Param::Null);
    }
    let (kind, v) = word
        .split_once(':')
        .ok_or_else(|| format!("bad parameter {word} (kind:value)"))?;
    macro_rules! num {
        ($text:expr) => {
            $text.parse().map_err(|_| format!("bad parameter {word}"))?
        };
    }
    let list = |v: &str| -> Vec<Option<String>> {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| (s != "null").then(|| s.to_string()))
            .collect()
    };
    let nums = |v: &str| -> Result<Vec<Option<i64>>, String> {
        list(v)
            .into_iter()
            .map(|s| {
                s.map(|s| {
                    s.parse::<i64>()
                        .map_err(|_| format!("bad parameter {word}"))
                })
                .transpose()
            })
            .collect()
    };
    Ok(match kind {
        "bool" => Param::Bool(num!(v)),
        "i8" => Param::I8(num!(v)),
        "i16" => Param::I16(num!(v)),
        "i32" => Param::I32(num!(v)),
        "i64" => Param::I64(num!(v)),
        "u8" => Param::U8(num!(v)),
        "u16" => Param::U16(num!(v)),
        "u32" => Param::U32(num!(v)),
        "u64" => Param::U64(num!(v)),
        "f32" => Param::F32(num!(v)),
        "f64" => Param::F64(num!(v)),
        "str" => Param::Str(v.to_string()),
        "bin" => Param::Bin(v.as_bytes().to_vec()),
        "date" => {
            let (y, m, d) = date_parts(v).ok_or_else(|| format!("bad parameter {word}"))?;
            Param::Date(y, m, d)
        }
        "time" => {
            let (h, mi, s, ns) = time_parts(v).ok_or_else(|| format!("bad parameter {word}"))?;
            Param::Time(h, mi, s, ns)
        }
        "datetime" => {
            let (d, t) = v
                .split_once('T')
                .ok_or_else(|| format!("bad parameter {word}"))?;
            let (y, mo, da) = date_parts(d).ok_or_else(|| format!("bad parameter {word}"))?;
            let (h, mi, s, ns) = time_parts(t).ok_or_else(|| format!("bad parameter {word}"))?;
            Param::Datetime(y, mo, da, h, mi, s, ns)
        }
        "ts" => Param::Ts(num!(v)),
        "uuid" => Param::Uuid(v.to_string()),
        "json" => Param::Json(v.as_bytes().to_vec()),
        "dec" => Param::Dec(v.to_string()),
        "r32" => {
            let (l, u) = range(v, word)?;
            let n = |b: Bound<String>| b.map(|(s, i)| (s.parse().unwrap_or_default(), i));
            Param::R32(n(l), n(u))
        }
        "r64" => {
            let (l, u) = range(v, word)?;
            let n = |b: Bound<String>| b.map(|(s, i)| (s.parse().unwrap_or_default(), i));
            Param::R64(n(l), n(u))
        }
        "rdec" => {
            let (l, u) = range(v, word)?;
            Param::RDec(l, u)
        }
        "a32" => Param::A32(nums(v)?.into_iter().map(|n| n.map(|n| n as i32)).collect()),
        "a64" => Param::A64(nums(v)?),
        "adec" => Param::ADec(list(v)),
        "astr" => Param::AStr(list(v)),
        "interval" => {
            let parts: Vec<&str> = v.split(',').collect();
            let [micros, days, months] = parts[..] else {
                return Err(format!("bad parameter {word}"));
            };
            Param::Interval(num!(micros), num!(days), num!(months))
        }
        _ => return Err(format!("unknown parameter kind {kind}")),
    })
}

fn date_parts(v: &str) -> Option<(i32, u8, u8)> {
    let mut it = v.splitn(3, '-');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

fn time_parts(v: &str) -> Option<(u8, u8, u8, u32)> {
    // The fraction is of a second: ".5" is 500000000 ns.
    let (hms, fraction) = v.split_once('.').unwrap_or((v, ""));
    if fraction.len() > 9 {
        return None;
    }
    let ns = format!("{fraction:0<9}").parse().ok()?;
    let mut it = hms.splitn(3, ':');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        ns,
    ))
}

/// `[a,b)`: either side may be empty (unbounded).
fn range(v: &str, word: &str) -> Result<(Bound<String>, Bound<String>), String> {
    let bad = || format!("bad range {word}");
    let lower_inclusive = match v.chars().next() {
        Some('[') => true,
        Some('(') => false,
        _ => return Err(bad()),
    };
    let upper_inclusive = match v.chars().last() {
        Some(']') => true,
        Some(')') => false,
        _ => return Err(bad()),
    };
    let (l, u) = v[1..v.len() - 1].split_once(',').ok_or_else(bad)?;
    let bound = |s: &str, inclusive| (!s.is_empty()).then(|| (s.to_string(), inclusive));
    Ok((bound(l, lower_inclusive), bound(u, upper_inclusive)))
}

fn arg(word: &str) -> Result<Arg, String> {
    if let Some(n) = word.strip_prefix("i:") {
        return n
            .parse()
            .map(Arg::Int)
            .map_err(|_| format!("bad int {word}"));
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
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
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

/// A query's answer: a line `columns: name:Type, ...` (each column's name
/// and its type's Debug text), then a line per row, its values' Debug text
/// joined by ` | `.
pub fn show_rows<T: std::fmt::Debug, V: std::fmt::Debug>(
    columns: impl IntoIterator<Item = (String, T)>,
    rows: impl IntoIterator<Item = impl IntoIterator<Item = V>>,
) -> Vec<String> {
    let columns: Vec<String> = columns
        .into_iter()
        .map(|(name, data_type)| format!("{name}:{data_type:?}"))
        .collect();
    let mut lines = vec![format!("columns: {}", columns.join(", "))];
    for row in rows {
        let values: Vec<String> = row.into_iter().map(|v| format!("{v:?}")).collect();
        lines.push(values.join(" | "));
    }
    lines
}
