//! Messages sent through a provider's API and the statuses the provider
//! reports for them; the SQL is the same on both backends.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Database, Encode, Type};

use super::stored_time;

/// A message's progress, as one of the statuses below, highest last.
const RANKS: [&str; 5] = ["accepted", "sent", "delivered", "read", "failed"];

/// Records a send (`accepted`, with its job) or a reported status
/// (`$1` channel, `$2` message id, `$3` job id or NULL, `$4` status, `$5`/`$6`
/// error code and title or NULL, `$7` now). Statuses can arrive out of order
/// and before the send is recorded, so a status only ever moves forward
/// (a late `sent` never hides `read`), and whichever comes first creates the row.
pub(super) static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sent_messages (channel, message_id, job_id, status, error_code, error_title, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (channel, message_id) DO UPDATE SET
           job_id = COALESCE(sent_messages.job_id, excluded.job_id),
           status = CASE WHEN {} > {} THEN excluded.status ELSE sent_messages.status END,
           error_code = COALESCE(excluded.error_code, sent_messages.error_code),
           error_title = COALESCE(excluded.error_title, sent_messages.error_title),
           updated_at = excluded.updated_at",
        rank("excluded.status"),
        rank("sent_messages.status")
    )
});

/// `CASE column WHEN 'accepted' THEN 0 … END`
fn rank(column: &str) -> String {
    let whens: String =
        RANKS.iter().enumerate().map(|(rank, status)| format!(" WHEN '{status}' THEN {rank}")).collect();
    format!("(CASE {column}{whens} ELSE -1 END)")
}

/// Delivered outbox jobs, done before `$1`.
pub(super) const CLEANUP_DONE_JOBS: &str = "DELETE FROM outbox WHERE status = 'done' AND updated_at < $1";
/// Sent messages whose last status is older than `$1`.
pub(super) const CLEANUP_SENT: &str = "DELETE FROM sent_messages WHERE updated_at < $1";

/// A send or a status to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentStatus<'a> {
    /// `meta`.
    pub channel: &'a str,
    /// The provider's id of the message we sent (`wamid.…`).
    pub message_id: &'a str,
    /// The outbox job that sent it, when this is the send.
    pub job_id: Option<i64>,
    /// `accepted`, `sent`, `delivered`, `read` or `failed`.
    pub status: &'a str,
    /// The provider's error code and title, for a failure.
    pub error: Option<(i64, &'a str)>,
}

/// [`RECORD`] with `record`'s values bound, for either backend.
pub(super) fn record_query<'q, DB>(
    record: SentStatus<'q>,
    now: DateTime<Utc>,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(AssertSqlSafe(RECORD.as_str()))
        .bind(record.channel)
        .bind(record.message_id)
        .bind(record.job_id)
        .bind(record.status)
        .bind(record.error.map(|(code, _)| code))
        .bind(record.error.map(|(_, title)| title))
        .bind(stored_time(now))
}
