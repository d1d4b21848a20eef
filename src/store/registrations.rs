//! Each code's DHIS2 registration state, the same SQL on both backends: the
//! deliverer records what DHIS2 answered; `uic dhis2 resync` finds the codes
//! still to register and queues them again (reviving a given-up job, which
//! keeps the UIDs and values chosen when the code was issued, or writing a
//! new one).

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::codes::RowsAffected;
use super::outbox::{NewJob, enqueue};
use super::{StoreError, stored_time};
use crate::core::dhis2::{JOB_KIND, RegistrationState, job_recipient};

/// Code `$1`'s state `$2`, tracked entity `$3`, error `$4`.
const SET_STATE: &str =
    "UPDATE uic_records SET dhis2_status = $2, dhis2_tracked_entity = $3, dhis2_error = $4 WHERE uic_code = $1";

/// [`SET_STATE`] of `uic`.
pub(super) fn set_state<'q, DB>(uic: &'q str, state: &'q RegistrationState) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
{
    let (tracked_entity, error) = match state {
        RegistrationState::Pending => (None, None),
        RegistrationState::Registered { tracked_entity } => (Some(tracked_entity.as_str()), None),
        RegistrationState::Failed { error } => (None, Some(error.as_str())),
    };
    sqlx::query(SET_STATE).bind(uic).bind(state.as_str()).bind(tracked_entity).bind(error)
}

/// Codes created at or after `$1` that are not registered and not on their
/// way: issued while registration was off, or refused by DHIS2.
pub(super) const TO_RESYNC: &str = "SELECT uic_code, flow_id, created_at FROM uic_records
     WHERE (dhis2_status IS NULL OR dhis2_status = 'failed') AND created_at >= $1
     ORDER BY created_at, id";

/// A code to register again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unregistered {
    pub uic: String,
    pub flow_id: String,
    pub created_at: DateTime<Utc>,
}

/// A row of [`TO_RESYNC`].
pub(super) fn unregistered<R>(row: &R) -> Result<Unregistered, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Unregistered {
        uic: row.try_get("uic_code")?,
        flow_id: row.try_get("flow_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// What [`requeue`] did for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Its given-up job was made due again, with the values chosen at issue.
    Revived,
    /// A new job was written.
    Queued,
    /// A job of its is already waiting: nothing to do.
    AlreadyPending,
}

/// Revives recipient `$1`'s given-up registration jobs, due at `$2`.
const REVIVE: &str = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, locked_until = NULL,
       updated_at = $2 WHERE recipient = $1 AND kind = $3 AND status = 'dead'";
/// Whether recipient `$1` has a job waiting.
const PENDING_JOB: &str = "SELECT 1 FROM outbox WHERE recipient = $1 AND status = 'pending' LIMIT 1";

/// Queues the registration of `uic` again on `connection`, inside the
/// caller's transaction: revives its given-up job, or writes `job` when it
/// has none, and marks the code pending. `None` when there was no job to
/// revive and none was given (nothing changed).
pub(super) async fn requeue<DB>(
    connection: &mut DB::Connection,
    uic: &str,
    job: Option<NewJob<'_>>,
    now: DateTime<Utc>,
) -> Result<Option<Requeued>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let now = stored_time(now);
    let recipient = job_recipient(uic);
    let revived =
        sqlx::query::<DB>(REVIVE).bind(recipient.as_str()).bind(now).bind(JOB_KIND).execute(&mut *connection).await?;
    let outcome = if revived.rows_affected() > 0 {
        Requeued::Revived
    } else if sqlx::query::<DB>(PENDING_JOB).bind(recipient.as_str()).fetch_optional(&mut *connection).await?.is_some()
    {
        Requeued::AlreadyPending
    } else if let Some(job) = job {
        enqueue::<DB>(job, now).execute(&mut *connection).await?;
        Requeued::Queued
    } else {
        return Ok(None);
    };
    set_state::<DB>(uic, &RegistrationState::Pending).execute(&mut *connection).await?;
    Ok(Some(outcome))
}

/// DHIS2's errors on the codes it refused, most frequent first.
pub(super) const FAILURES: &str = "SELECT COALESCE(dhis2_error, '') AS error, COUNT(*) AS codes FROM uic_records
     WHERE dhis2_status = 'failed' GROUP BY dhis2_error ORDER BY codes DESC, error LIMIT 20";
