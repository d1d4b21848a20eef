//! Messages sent through a provider's API and the statuses the provider
//! reports for them; the SQL is the same on both backends.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Database, Encode, Type};

use super::stored_time;

/// How far a sent message got; stored as the text of [`MessageStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Taken by the provider's API (our own record of the send).
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    /// Every status in the order a message moves through them (its rank):
    /// a status never gives way to one before it.
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Accepted,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status text that is none of [`MessageStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sent-message status")]
pub struct UnknownMessageStatus;

impl FromStr for MessageStatus {
    type Err = UnknownMessageStatus;

    fn from_str(text: &str) -> Result<MessageStatus, UnknownMessageStatus> {
        MessageStatus::ALL.into_iter().find(|status| status.as_str() == text).ok_or(UnknownMessageStatus)
    }
}

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
        MessageStatus::ALL.iter().enumerate().map(|(rank, status)| format!(" WHEN '{status}' THEN {rank}")).collect();
    format!("(CASE {column}{whens} ELSE -1 END)")
}

/// Delivered outbox jobs, and those they overtook, done before `$1`.
pub(super) const CLEANUP_DONE_JOBS: &str =
    "DELETE FROM outbox WHERE status IN ('done', 'overtaken') AND updated_at < $1";
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
    pub status: MessageStatus,
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
        .bind(record.status.as_str())
        .bind(record.error.map(|(code, _)| code))
        .bind(record.error.map(|(_, title)| title))
        .bind(stored_time(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_and_ranked_as_before() {
        let stored: Vec<&str> = MessageStatus::ALL.iter().map(|status| status.as_str()).collect();
        assert_eq!(stored, ["accepted", "sent", "delivered", "read", "failed"]);
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert_eq!("READ".parse::<MessageStatus>(), Err(UnknownMessageStatus));
        assert_eq!(
            rank("s"),
            "(CASE s WHEN 'accepted' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 \
             WHEN 'failed' THEN 4 ELSE -1 END)"
        );
    }
}
