//! Values between the 3.0 interface types and MySQL's.
//!
//! A column's `db-data-type` comes from its MySQL type, its UNSIGNED flag
//! and its character set (`binary` makes BINARY/VARBINARY/BLOB `binary`,
//! any other makes CHAR/VARCHAR/TEXT `str`). Values convert to that type;
//! one that does not fit is `value-conversion-failed` naming the column.
//!
//! Columns of the types the interface has no variant for (DECIMAL, DATE,
//! TIME, DATETIME, TIMESTAMP, YEAR, BIT, ENUM, SET, JSON on MySQL) are
//! `other`. Spin fails a whole query that returns one; here each value
//! comes as MySQL's own client shows it (text, or bytes for BIT), so such
//! a query needs no CAST.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::FromValue;
use mysql_async::Value;

use super::v3::{Column, DbDataType, DbValue, Error, ParameterValue};

/// MySQL's `binary` character set (no character set: bytes).
const BINARY_CHARSET: u16 = 63;

/// A parameter as MySQL takes it.
pub fn parameter(p: ParameterValue) -> Value {
    match p {
        ParameterValue::Boolean(v) => Value::from(v),
        ParameterValue::Int8(v) => Value::from(v),
        ParameterValue::Int16(v) => Value::from(v),
        ParameterValue::Int32(v) => Value::from(v),
        ParameterValue::Int64(v) => Value::from(v),
        ParameterValue::Uint8(v) => Value::from(v),
        ParameterValue::Uint16(v) => Value::from(v),
        ParameterValue::Uint32(v) => Value::from(v),
        ParameterValue::Uint64(v) => Value::from(v),
        ParameterValue::Floating32(v) => Value::Float(v),
        ParameterValue::Floating64(v) => Value::Double(v),
        ParameterValue::Str(v) => Value::Bytes(v.into_bytes()),
        ParameterValue::Binary(v) => Value::Bytes(v),
        ParameterValue::DbNull => Value::NULL,
    }
}

/// The interface's view of a result column.
pub fn column(column: &mysql_async::Column) -> Column {
    Column {
        name: column.name_str().into_owned(),
        data_type: data_type(column),
    }
}

fn data_type(column: &mysql_async::Column) -> DbDataType {
    use ColumnType::*;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let signed_or = |signed, unsigned_type| if unsigned { unsigned_type } else { signed };
    match column.column_type() {
        MYSQL_TYPE_TINY => signed_or(DbDataType::Int8, DbDataType::Uint8),
        MYSQL_TYPE_SHORT => signed_or(DbDataType::Int16, DbDataType::Uint16),
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG => signed_or(DbDataType::Int32, DbDataType::Uint32),
        MYSQL_TYPE_LONGLONG => signed_or(DbDataType::Int64, DbDataType::Uint64),
        MYSQL_TYPE_FLOAT => DbDataType::Floating32,
        MYSQL_TYPE_DOUBLE => DbDataType::Floating64,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB => {
            if column.character_set() == BINARY_CHARSET {
                DbDataType::Binary
            } else {
                DbDataType::Str
            }
        }
        _ => DbDataType::Other,
    }
}

/// One row, in the order of `columns` (`raw` is what the server sent
/// about them).
pub fn row(
    row: mysql_async::Row,
    columns: &[Column],
    raw: &[mysql_async::Column],
) -> Result<Vec<DbValue>, Error> {
    row.unwrap()
        .into_iter()
        .zip(columns.iter().zip(raw))
        .map(|(value, (column, raw))| db_value(value, column, raw))
        .collect()
}

fn db_value(value: Value, column: &Column, raw: &mysql_async::Column) -> Result<DbValue, Error> {
    if value == Value::NULL {
        return Ok(DbValue::DbNull);
    }
    let name = &column.name;
    Ok(match column.data_type {
        DbDataType::Boolean => DbValue::Boolean(convert(value, name, "boolean")?),
        DbDataType::Int8 => DbValue::Int8(convert(value, name, "int8")?),
        DbDataType::Int16 => DbValue::Int16(convert(value, name, "int16")?),
        DbDataType::Int32 => DbValue::Int32(convert(value, name, "int32")?),
        DbDataType::Int64 => DbValue::Int64(convert(value, name, "int64")?),
        DbDataType::Uint8 => DbValue::Uint8(convert(value, name, "uint8")?),
        DbDataType::Uint16 => DbValue::Uint16(convert(value, name, "uint16")?),
        DbDataType::Uint32 => DbValue::Uint32(convert(value, name, "uint32")?),
        DbDataType::Uint64 => DbValue::Uint64(convert(value, name, "uint64")?),
        DbDataType::Floating32 => DbValue::Floating32(convert(value, name, "floating32")?),
        DbDataType::Floating64 => DbValue::Floating64(convert(value, name, "floating64")?),
        DbDataType::Str => DbValue::Str(convert(value, name, "str")?),
        DbDataType::Binary => DbValue::Binary(convert(value, name, "binary")?),
        DbDataType::Other => as_shown(value, raw),
    })
}

fn convert<T: FromValue>(value: Value, column: &str, to: &str) -> Result<T, Error> {
    mysql_async::from_value_opt(value).map_err(|err| {
        Error::ValueConversionFailed(format!(
            "column {column}: cannot convert {:?} to {to}",
            err.0
        ))
    })
}

/// A value of an `other` column as MySQL's client shows it.
fn as_shown(value: Value, raw: &mysql_async::Column) -> DbValue {
    match value {
        Value::NULL => DbValue::DbNull,
        // Numbers and dates say `binary` too; only these are bytes.
        Value::Bytes(bytes)
            if matches!(
                raw.column_type(),
                ColumnType::MYSQL_TYPE_BIT | ColumnType::MYSQL_TYPE_GEOMETRY
            ) =>
        {
            DbValue::Binary(bytes)
        }
        Value::Bytes(bytes) => match String::from_utf8(bytes) {
            Ok(text) => DbValue::Str(text),
            Err(err) => DbValue::Binary(err.into_bytes()),
        },
        Value::Int(n) => DbValue::Int64(n),
        Value::UInt(n) => DbValue::Uint64(n),
        Value::Float(n) => DbValue::Floating32(n),
        Value::Double(n) => DbValue::Floating64(n),
        Value::Date(year, month, day, hour, minute, second, micros) => {
            let date = format!("{year:04}-{month:02}-{day:02}");
            if raw.column_type() == ColumnType::MYSQL_TYPE_DATE {
                DbValue::Str(date)
            } else {
                let fraction = fraction(micros, raw.decimals());
                DbValue::Str(format!(
                    "{date} {hour:02}:{minute:02}:{second:02}{fraction}"
                ))
            }
        }
        Value::Time(negative, days, hours, minutes, seconds, micros) => {
            let sign = if negative { "-" } else { "" };
            let hours = days * 24 + u32::from(hours);
            let fraction = fraction(micros, raw.decimals());
            DbValue::Str(format!(
                "{sign}{hours:02}:{minutes:02}:{seconds:02}{fraction}"
            ))
        }
    }
}

/// `.ffffff` cut to the column's `decimals` digits (none for 0; for an
/// expression of no fixed precision, all six unless there are none).
fn fraction(micros: u32, decimals: u8) -> String {
    let digits = match decimals {
        0 => return String::new(),
        1..=6 => usize::from(decimals),
        _ if micros == 0 => return String::new(),
        _ => 6,
    };
    let text = format!("{micros:06}");
    format!(".{}", &text[..digits])
}

/// About how much memory a value takes, for the host's buffering bound.
pub fn size(value: &DbValue) -> usize {
    std::mem::size_of::<DbValue>()
        + match value {
            DbValue::Str(s) => s.len(),
            DbValue::Binary(b) => b.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::fraction;

    #[test]
    fn fractions_follow_the_columns_precision() {
        assert_eq!(fraction(123_456, 0), "");
        assert_eq!(fraction(123_456, 3), ".123");
        assert_eq!(fraction(5, 6), ".000005");
        assert_eq!(fraction(5, 31), ".000005");
        assert_eq!(fraction(0, 31), "");
    }
}
