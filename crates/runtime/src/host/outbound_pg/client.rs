//! Statements on a pooled connection, with the interface's error values.

use tokio_postgres::types::ToSql;

use super::types;
use super::v4::{Column, DbError, Error, ParameterValue, QueryError, Row, RowSet};
use crate::host::MAX_HOST_BUFFERED_BYTES;

/// A connection from the pool; back to the pool when dropped.
pub type PooledClient = deadpool_postgres::Object;

/// Runs `statement` and returns its rows, at most
/// [`MAX_HOST_BUFFERED_BYTES`] of them. The columns come from the prepared
/// statement, so a result without rows still names them.
pub async fn query(
    client: &PooledClient,
    statement: &str,
    params: &[ParameterValue],
) -> Result<RowSet, Error> {
    let params = parameters(params)?;
    let prepared = client
        .prepare_cached(statement)
        .await
        .map_err(query_failed)?;
    let columns = prepared
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            data_type: types::data_type(c.type_()),
        })
        .collect();
    let found = client
        .query(&prepared, &references(&params))
        .await
        .map_err(query_failed)?;
    let mut size = 0;
    let mut rows = Vec::with_capacity(found.len());
    for row in &found {
        let values = (0..row.len())
            .map(|i| types::db_value(row, i))
            .collect::<Result<Row, _>>()
            .map_err(|e| Error::ValueConversionFailed(e.to_string()))?;
        size += values.iter().map(types::value_size).sum::<usize>();
        if size > MAX_HOST_BUFFERED_BYTES {
            return Err(Error::QueryFailed(QueryError::Text(format!(
                "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
            ))));
        }
        rows.push(values);
    }
    Ok(RowSet { columns, rows })
}

/// Runs `statement` and returns how many rows it affected.
pub async fn execute(
    client: &PooledClient,
    statement: &str,
    params: &[ParameterValue],
) -> Result<u64, Error> {
    let params = parameters(params)?;
    let prepared = client
        .prepare_cached(statement)
        .await
        .map_err(query_failed)?;
    client
        .execute(&prepared, &references(&params))
        .await
        .map_err(query_failed)
}

type Parameter = Box<dyn ToSql + Send + Sync>;

fn parameters(params: &[ParameterValue]) -> Result<Vec<Parameter>, Error> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            types::parameter(p)
                .map_err(|e| Error::BadParameter(format!("parameter ${}: {e}", i + 1)))
        })
        .collect()
}

fn references(params: &[Parameter]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// `query-failed`, with the server's error fields when it sent one.
pub fn query_failed(err: tokio_postgres::Error) -> Error {
    let as_text = error_chain(&err);
    let Some(db) = err.as_db_error() else {
        return Error::QueryFailed(QueryError::Text(as_text));
    };
    let mut extras = Vec::new();
    let mut extra = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            extras.push((name.to_string(), value));
        }
    };
    extra("column", db.column().map(str::to_string));
    extra("constraint", db.constraint().map(str::to_string));
    extra("routine", db.routine().map(str::to_string));
    extra("hint", db.hint().map(str::to_string));
    extra("table", db.table().map(str::to_string));
    extra("datatype", db.datatype().map(str::to_string));
    extra("schema", db.schema().map(str::to_string));
    extra("file", db.file().map(str::to_string));
    extra("line", db.line().map(|l| l.to_string()));
    extra("where_", db.where_().map(str::to_string));
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text,
        severity: db.severity().to_string(),
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras,
    }))
}

/// An error with its causes (tokio-postgres puts the server's message in a
/// source), for the guest's error text.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
