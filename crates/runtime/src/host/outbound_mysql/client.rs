//! Statements on a pooled connection, with the interface's error values.
//! Every statement is prepared (the binary protocol), as in Spin, so
//! parameters are never spliced into SQL text.

use mysql_async::prelude::Queryable;
use mysql_async::{BinaryProtocol, Params, QueryResult};
use tokio::sync::{mpsc, oneshot};

use super::v3::{Column, DbValue, Error, ParameterValue};
use super::{values, SharedConn};
use crate::host::MAX_HOST_BUFFERED_BYTES;

/// Rows a streaming query may have sent ahead of the guest's reads.
const ROWS_AHEAD: usize = 16;

/// A query's columns and rows, all read.
pub struct RowSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<DbValue>>,
}

/// A streaming query: its columns, its rows as they come, and how it ended.
pub struct RowStream {
    pub columns: Vec<Column>,
    pub rows: mpsc::Receiver<Vec<DbValue>>,
    pub done: oneshot::Receiver<Result<(), Error>>,
}

/// Runs `statement` for its effect.
pub async fn execute(
    conn: &SharedConn,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<(), Error> {
    let mut conn = conn.lock().await;
    conn.exec_drop(statement, parameters(params))
        .await
        .map_err(error)
}

/// Runs `statement` and reads all its rows, at most
/// [`MAX_HOST_BUFFERED_BYTES`] of them.
pub async fn query(
    conn: &SharedConn,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let mut conn = conn.lock().await;
    let mut result = conn
        .exec_iter(statement, parameters(params))
        .await
        .map_err(error)?;
    let (columns, raw) = columns(&result);
    let mut rows = Vec::new();
    let mut size = 0;
    while let Some(row) = result.next().await.map_err(error)? {
        let row = values::row(row, &columns, &raw)?;
        size += row.iter().map(values::size).sum::<usize>();
        if size > MAX_HOST_BUFFERED_BYTES {
            return Err(Error::Other(format!(
                "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
            )));
        }
        rows.push(row);
    }
    result.drop_result().await.map_err(error)?;
    Ok(RowSet { columns, rows })
}

/// Runs `statement` on a task of its own, which sends each row as it
/// arrives and waits while the guest has [`ROWS_AHEAD`] unread. A
/// statement that fails is this call's error; a failure after the
/// columns (a row that does not convert, a lost connection) ends the rows
/// and is what `done` reports. The task stops when the guest drops the
/// stream.
pub async fn query_streaming(
    conn: SharedConn,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<RowStream, Error> {
    let (columns_tx, columns_rx) = oneshot::channel();
    let (rows_tx, rows) = mpsc::channel(ROWS_AHEAD);
    let (done_tx, done) = oneshot::channel();
    tokio::spawn(async move {
        let mut conn = conn.lock().await;
        let mut result = match conn.exec_iter(statement, parameters(params)).await {
            Ok(result) => result,
            Err(err) => {
                let _ = columns_tx.send(Err(error(err)));
                return;
            }
        };
        let (columns, raw) = columns(&result);
        let _ = columns_tx.send(Ok(columns.clone()));
        let outcome = async {
            while let Some(row) = result.next().await.map_err(error)? {
                let row = values::row(row, &columns, &raw)?;
                if rows_tx.send(row).await.is_err() {
                    break;
                }
            }
            result.drop_result().await.map_err(error)
        };
        let _ = done_tx.send(outcome.await);
    });
    let columns = columns_rx
        .await
        .map_err(|_| Error::Other("the query's task ended early".into()))??;
    Ok(RowStream {
        columns,
        rows,
        done,
    })
}

fn parameters(params: Vec<ParameterValue>) -> Params {
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(params.into_iter().map(values::parameter).collect())
}

/// The interface's columns and the server's own description of them.
fn columns(
    result: &QueryResult<'_, '_, BinaryProtocol>,
) -> (Vec<Column>, Vec<mysql_async::Column>) {
    let raw = result.columns_ref().to_vec();
    (raw.iter().map(values::column).collect(), raw)
}

/// A driver error as the interface's: a lost or refused connection is
/// `connection-failed`, anything the server or driver refused about the
/// statement is `query-failed`.
pub fn error(err: mysql_async::Error) -> Error {
    use mysql_async::{DriverError, Error as E};
    match err {
        E::Io(err) => Error::ConnectionFailed(err.to_string()),
        E::Driver(err @ (DriverError::ConnectionClosed | DriverError::PoolDisconnected)) => {
            Error::ConnectionFailed(err.to_string())
        }
        E::Driver(err) => Error::QueryFailed(err.to_string()),
        E::Server(err) => Error::QueryFailed(err.to_string()),
        E::Url(err) => Error::ConnectionFailed(err.to_string()),
        E::Other(err) => Error::Other(err.to_string()),
    }
}
