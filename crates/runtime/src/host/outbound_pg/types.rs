//! PostgreSQL values ↔ `spin:postgres@4.2.0` values (the richest version;
//! the older ones convert through it).
//!
//! Reading goes by the column's type; a type the interface has no case
//! for arrives as `unsupported(<its binary form>)`. Writing goes by the
//! guest's case: the server checks it against the parameter's type.

use std::error::Error as StdError;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{Datelike, Timelike};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use super::v4::{DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind};

type BoxError = Box<dyn StdError + Sync + Send>;

/// What the interface calls a column of type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Reads column `index` of `row`.
pub fn db_value(row: &Row, index: usize) -> Result<DbValue, tokio_postgres::Error> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        case: impl FnOnce(T) -> DbValue,
    ) -> Result<DbValue, tokio_postgres::Error> {
        Ok(row
            .try_get::<_, Option<T>>(index)?
            .map_or(DbValue::DbNull, case))
    }
    let ty = row.columns()[index].type_().clone();
    match ty {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::CHAR => get(row, index, DbValue::Int8),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::DATE => get(row, index, |d: chrono::NaiveDate| {
            DbValue::Date(date_tuple(d))
        }),
        Type::TIME => get(row, index, |t: chrono::NaiveTime| {
            DbValue::Time(time_tuple(t))
        }),
        Type::TIMESTAMP => get(row, index, |dt: chrono::NaiveDateTime| {
            DbValue::Datetime(datetime_tuple(dt))
        }),
        Type::TIMESTAMPTZ => get(row, index, |dt: chrono::DateTime<chrono::Utc>| {
            DbValue::Datetime(datetime_tuple(dt.naive_utc()))
        }),
        Type::UUID => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB | Type::JSON => get(row, index, |j: serde_json::Value| {
            DbValue::Jsonb(serde_json::to_vec(&j).expect("JSON values serialize"))
        }),
        Type::NUMERIC => get(row, index, |d: rust_decimal::Decimal| {
            DbValue::Decimal(d.to_string())
        }),
        Type::INT4_RANGE => get(row, index, |r: PgRange<i32>| {
            DbValue::RangeInt32(r.into_wit(|v| v))
        }),
        Type::INT8_RANGE => get(row, index, |r: PgRange<i64>| {
            DbValue::RangeInt64(r.into_wit(|v| v))
        }),
        Type::NUM_RANGE => get(row, index, |r: PgRange<rust_decimal::Decimal>| {
            DbValue::RangeDecimal(r.into_wit(|d| d.to_string()))
        }),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, index, |a: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(a.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, DbValue::ArrayStr)
        }
        Type::INTERVAL => get(row, index, |i: PgInterval| DbValue::Interval(i.0)),
        _ => get(row, index, |raw: RawValue| DbValue::Unsupported(raw.0)),
    }
}

/// How much a value holds, for the result-size limit.
pub fn value_size(value: &DbValue) -> usize {
    std::mem::size_of::<DbValue>()
        + match value {
            DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
            DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
            DbValue::ArrayStr(a) | DbValue::ArrayDecimal(a) => a
                .iter()
                .map(|s| 24 + s.as_ref().map_or(0, String::len))
                .sum(),
            DbValue::ArrayInt32(a) => a.len() * 8,
            DbValue::ArrayInt64(a) => a.len() * 16,
            _ => 0,
        }
}

/// A guest's parameter as a value tokio-postgres can send; an invalid one
/// (a date that does not exist, text that is not a UUID, ...) is an error
/// naming it.
pub fn parameter(value: &ParameterValue) -> Result<Box<dyn ToSql + Send + Sync>, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(d) => Box::new(date(*d)?),
        ParameterValue::Time(t) => Box::new(time(*t)?),
        ParameterValue::Datetime(dt) => Box::new(datetime(*dt)?),
        ParameterValue::Timestamp(secs) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*secs, 0)
                .ok_or_else(|| format!("invalid timestamp {secs}"))?,
        ),
        ParameterValue::Uuid(u) => {
            Box::new(uuid::Uuid::parse_str(u).map_err(|e| format!("invalid UUID {u:?}: {e}"))?)
        }
        ParameterValue::Jsonb(j) => Box::new(
            serde_json::from_slice::<serde_json::Value>(j)
                .map_err(|e| format!("invalid JSON {:?}: {e}", String::from_utf8_lossy(j)))?,
        ),
        ParameterValue::Decimal(d) => Box::new(decimal(d)?),
        ParameterValue::RangeInt32(r) => Box::new(PgRange::from_wit(r, |v| Ok(*v))?),
        ParameterValue::RangeInt64(r) => Box::new(PgRange::from_wit(r, |v| Ok(*v))?),
        ParameterValue::RangeDecimal(r) => Box::new(PgRange::from_wit(r, |d| decimal(d))?),
        ParameterValue::ArrayInt32(a) => Box::new(a.clone()),
        ParameterValue::ArrayInt64(a) => Box::new(a.clone()),
        ParameterValue::ArrayDecimal(a) => Box::new(
            a.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(a) => Box::new(a.clone()),
        ParameterValue::Interval(i) => Box::new(PgInterval(*i)),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn decimal(text: &str) -> Result<rust_decimal::Decimal, String> {
    rust_decimal::Decimal::from_str_exact(text)
        .map_err(|e| format!("invalid decimal {text:?}: {e}"))
}

fn date((y, m, d): (i32, u8, u8)) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns:09}"))
}

fn datetime(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Result<chrono::NaiveDateTime, String> {
    Ok(chrono::NaiveDateTime::new(
        date((y, mo, d))?,
        time((h, mi, s, ns))?,
    ))
}

// chrono's fields are in range for u8 by construction (month 1-12 and so on).
fn date_tuple(d: chrono::NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_tuple(t: chrono::NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime_tuple(dt: chrono::NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = date_tuple(dt.date());
    let (h, mi, s, ns) = time_tuple(dt.time());
    (y, mo, d, h, mi, s, ns)
}

/// NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value of a type the interface has no case for: its binary form.
struct RawValue(Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawValue(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `interval` in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct PgInterval(Interval);

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err(format!("an interval is 16 bytes, not {}", raw.len()).into());
        }
        Ok(PgInterval(Interval {
            micros: raw.get_i64(),
            days: raw.get_i32(),
            months: raw.get_i32(),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

/// A range's bound as the interface writes it.
type WitBound<T> = Option<(T, RangeBoundKind)>;

/// A range of `T` in PostgreSQL's binary form: a flags byte, then each
/// finite bound as a length-prefixed element. An empty range has no
/// bounds, as the interface writes an unbounded one.
#[derive(Debug)]
struct PgRange<T> {
    lower: WitBound<T>,
    upper: WitBound<T>,
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LOWER_INCLUSIVE: u8 = 0x02;
const RANGE_UPPER_INCLUSIVE: u8 = 0x04;
const RANGE_LOWER_INFINITE: u8 = 0x08;
const RANGE_UPPER_INFINITE: u8 = 0x10;

impl<T> PgRange<T> {
    fn into_wit<W>(self, convert: impl Fn(T) -> W) -> (WitBound<W>, WitBound<W>) {
        (
            self.lower.map(|(v, k)| (convert(v), k)),
            self.upper.map(|(v, k)| (convert(v), k)),
        )
    }

    fn from_wit<W>(
        (lower, upper): &(WitBound<W>, WitBound<W>),
        convert: impl Fn(&W) -> Result<T, String>,
    ) -> Result<Self, String> {
        let bound = |b: &WitBound<W>| -> Result<WitBound<T>, String> {
            b.as_ref().map(|(v, k)| Ok((convert(v)?, *k))).transpose()
        };
        Ok(PgRange {
            lower: bound(lower)?,
            upper: bound(upper)?,
        })
    }
}

/// The range type's element type (`int4range` → `int4`).
fn range_element(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(element) => Some(element),
        _ => None,
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for PgRange<T> {
    fn from_sql(ty: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        if raw.is_empty() {
            return Err("an empty range value".into());
        }
        let flags = raw.get_u8();
        if flags & RANGE_EMPTY != 0 {
            return Ok(PgRange {
                lower: None,
                upper: None,
            });
        }
        let mut bound = |infinite: u8, inclusive: u8| -> Result<WitBound<T>, BoxError> {
            if flags & infinite != 0 {
                return Ok(None);
            }
            if raw.len() < 4 {
                return Err("a range bound is cut short".into());
            }
            let len = usize::try_from(raw.get_i32())?;
            if raw.len() < len {
                return Err("a range bound is cut short".into());
            }
            let (value, rest) = raw.split_at(len);
            raw = rest;
            let kind = if flags & inclusive != 0 {
                RangeBoundKind::Inclusive
            } else {
                RangeBoundKind::Exclusive
            };
            Ok(Some((T::from_sql(element, value)?, kind)))
        };
        let lower = bound(RANGE_LOWER_INFINITE, RANGE_LOWER_INCLUSIVE)?;
        let upper = bound(RANGE_UPPER_INFINITE, RANGE_UPPER_INCLUSIVE)?;
        Ok(PgRange { lower, upper })
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }
}

impl<T: ToSql> ToSql for PgRange<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        let mut flags = 0;
        for (bound, infinite, inclusive) in [
            (&self.lower, RANGE_LOWER_INFINITE, RANGE_LOWER_INCLUSIVE),
            (&self.upper, RANGE_UPPER_INFINITE, RANGE_UPPER_INCLUSIVE),
        ] {
            match bound {
                None => flags |= infinite,
                Some((_, RangeBoundKind::Inclusive)) => flags |= inclusive,
                Some((_, RangeBoundKind::Exclusive)) => {}
            }
        }
        out.put_u8(flags);
        for (value, _) in [&self.lower, &self.upper].into_iter().flatten() {
            let at = out.len();
            out.put_i32(0);
            if let IsNull::Yes = value.to_sql(element, out)? {
                return Err("a range bound cannot be NULL".into());
            }
            let len = i32::try_from(out.len() - at - 4)?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_through_the_binary_form() {
        let range = PgRange {
            lower: Some((3i32, RangeBoundKind::Inclusive)),
            upper: Some((9i32, RangeBoundKind::Exclusive)),
        };
        let mut out = BytesMut::new();
        range.to_sql(&Type::INT4_RANGE, &mut out).unwrap();
        assert_eq!(
            &out[..],
            &[0x02, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 9]
        );
        let back = PgRange::<i32>::from_sql(&Type::INT4_RANGE, &out).unwrap();
        assert_eq!(back.into_wit(|v| v), (range.lower, range.upper));
        let unbounded_above = [0x02 | RANGE_UPPER_INFINITE, 0, 0, 0, 4, 0, 0, 0, 1];
        let back = PgRange::<i32>::from_sql(&Type::INT4_RANGE, &unbounded_above).unwrap();
        assert_eq!(
            back.into_wit(|v| v),
            (Some((1, RangeBoundKind::Inclusive)), None)
        );
        assert!(PgRange::<i32>::from_sql(&Type::INT4_RANGE, &[0x02, 0, 0]).is_err());
    }

    #[test]
    fn intervals_are_micros_days_months() {
        let interval = PgInterval(Interval {
            micros: 1_500_000,
            days: 2,
            months: 14,
        });
        let mut out = BytesMut::new();
        interval.to_sql(&Type::INTERVAL, &mut out).unwrap();
        let back = PgInterval::from_sql(&Type::INTERVAL, &out).unwrap();
        assert_eq!(
            (back.0.micros, back.0.days, back.0.months),
            (1_500_000, 2, 14)
        );
    }

    #[test]
    fn bad_parameters_name_the_value() {
        let err = parameter(&ParameterValue::Date((2025, 2, 30)))
            .err()
            .unwrap();
        assert_eq!(err, "invalid date 2025-2-30");
        let err = parameter(&ParameterValue::Uuid("nope".into()))
            .err()
            .unwrap();
        assert!(err.starts_with("invalid UUID \"nope\""), "{err}");
    }
}
