//! A turn's SQL, the same on both backends: the read at its start (the
//! session and whether the message was processed before), the writes at its
//! end (the session, the processed id with its replies, and the replies of
//! earlier messages forgotten when the conversation has ended). The backends differ
//! only in how they run it: SQLite joins the writes into one round trip (and its
//! group commit runs the `_BATCH_SQLITE` forms below, for several people at
//! once), PostgreSQL makes them one statement inside the person's lock.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, SqlSafeStr, Type};

use super::error::corrupt_json;
use super::{Processed, StoreError, TurnStart, stored_time};
use crate::core::engine::Session;

/// The session of `$3` and the replies already given to message `$2` of
/// channel `$1`, in one row even when neither exists.
pub(super) const START: &str = "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
            s.invalid_attempts, s.started_at, s.updated_at
     FROM (SELECT 1) AS here
     LEFT JOIN processed_messages p ON p.channel = $1 AND p.message_id = $2
     LEFT JOIN conversation_sessions s ON s.phone_number = $3";

/// Upserts the session of `$1`; `$2`..`$9` are its fields (see [`bind_session`]).
pub(super) const UPSERT_SESSION: &str = "INSERT INTO conversation_sessions
       (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts, started_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (phone_number) DO UPDATE SET
       flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
       current_step = excluded.current_step, answers = excluded.answers,
       invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
       updated_at = excluded.updated_at";

/// Removes the session of `$1`.
pub(super) const DELETE_SESSION: &str = "DELETE FROM conversation_sessions WHERE phone_number = $1";

/// Marks a message processed, parameters `$1`..`$5` (see [`insert_processed_sql`]).
pub(super) static INSERT_PROCESSED: LazyLock<String> = LazyLock::new(|| insert_processed_sql(1));

/// Marks a message processed: channel, message id, replies, time and the
/// phone number (NULL when no reply is kept) are parameters
/// `$first`..`$first+4` (SQLite joins it to a turn's other writes).
pub(super) fn insert_processed_sql(first: usize) -> String {
    let (channel, message_id, replies, now, phone) = (first, first + 1, first + 2, first + 3, first + 4);
    format!(
        "INSERT INTO processed_messages (channel, message_id, replies, created_at, phone_number)
         VALUES (${channel}, ${message_id}, ${replies}, ${now}, ${phone})"
    )
}

/// Empties the replies stored for person `$1`'s earlier messages (their
/// conversation has ended): a redelivery of one is still recognised, and gets
/// nothing. An index seek on the few rows that still hold replies.
pub(super) const FORGET_EARLIER_REPLIES: &str =
    "UPDATE processed_messages SET replies = '[]', phone_number = NULL WHERE phone_number = $1";

/// A step-by-step turn's writes ([`super::TurnTx::finish`]) as statements
/// with numbered parameters: the session written (or removed), then the
/// message marked processed (and, when the conversation has ended, the
/// replies of earlier ones emptied). SQLite sends them as one batch;
/// [`bind_writes`] binds their values in the same order.
pub(super) fn write_statements(session: bool, processed: Option<&Processed<'_>>) -> Vec<String> {
    let mut statements = vec![if session { UPSERT_SESSION } else { DELETE_SESSION }.to_string()];
    if let Some(processed) = processed {
        if processed.forget_earlier {
            // Its only parameter is the phone, `$1`.
            statements.push(FORGET_EARLIER_REPLIES.to_string());
        }
        // After the phone and, if written, the session's 8 fields.
        statements.push(insert_processed_sql(if session { 10 } else { 2 }));
    }
    statements
}

/// Binds the values of [`write_statements`], in its order.
pub(super) fn bind_writes<'q, DB>(
    query: Query<'q, DB, DB::Arguments>,
    phone: &str,
    session: Option<&Session>,
    processed: Option<Processed<'_>>,
    now: DateTime<Utc>,
) -> Result<Query<'q, DB, DB::Arguments>, StoreError>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let mut query = query.bind(phone.to_string());
    if let Some(session) = session {
        query = bind_session(query, session)?;
    }
    if let Some(processed) = processed {
        query = bind_processed(query, processed, phone, now)?;
    }
    Ok(query)
}

/// SQLite's group commit (`group_commit`) runs the statements above for
/// several people at once: each below takes, as parameter `$n`, a JSON array
/// with one element per person, in the order of the batch.
///
/// [`START`] for each `[channel, message id, phone]` of `$1`, a row each in
/// that order.
pub(super) const START_BATCH_SQLITE: &str = "SELECT here.key AS turn, p.replies, s.flow_id, s.flow_version, s.language,
            s.current_step, s.answers, s.invalid_attempts, s.started_at, s.updated_at
     FROM jsonb_each($1) AS here
     LEFT JOIN processed_messages p ON p.channel = here.value ->> 0 AND p.message_id = here.value ->> 1
     LEFT JOIN conversation_sessions s ON s.phone_number = here.value ->> 2
     ORDER BY here.key";

/// [`UPSERT_SESSION`] for each element of `$n`: the phone, then the
/// session's fields as [`bind_session`] binds them. `WHERE true` keeps
/// SQLite's parser from reading the upsert as a join.
pub(super) fn upsert_sessions_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO conversation_sessions
           (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts, started_at, updated_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7,
                value ->> 8
         FROM jsonb_each(${n}) WHERE true
         ON CONFLICT (phone_number) DO UPDATE SET
           flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
           current_step = excluded.current_step, answers = excluded.answers,
           invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
           updated_at = excluded.updated_at"
    )
}

/// [`DELETE_SESSION`] for each phone of `$n`.
pub(super) fn delete_sessions_batch_sql(n: usize) -> String {
    format!("DELETE FROM conversation_sessions WHERE phone_number IN (SELECT value FROM jsonb_each(${n}))")
}

/// [`FORGET_EARLIER_REPLIES`] for each phone of `$n`.
pub(super) fn forget_earlier_batch_sql(n: usize) -> String {
    format!(
        "UPDATE processed_messages SET replies = '[]', phone_number = NULL
         WHERE phone_number IN (SELECT value FROM jsonb_each(${n}))"
    )
}

/// [`insert_processed_sql`] for each `[channel, message id, replies, time,
/// phone or null]` of `$n`.
pub(super) fn insert_processed_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO processed_messages (channel, message_id, replies, created_at, phone_number)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM jsonb_each(${n}) ORDER BY key"
    )
}

/// Empties every reply stored before `$1` (the replay window has passed).
pub(super) const FORGET_REPLIES_BEFORE: &str = "UPDATE processed_messages SET replies = '[]', phone_number = NULL WHERE phone_number IS NOT NULL AND created_at < $1";

/// `sql`, [`START`] or a batch ending with it, with the values of `START`
/// bound (channel and id empty when the message has none).
pub(super) fn start<'q, DB>(
    sql: impl SqlSafeStr,
    message: Option<(&str, &str)>,
    phone: &str,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
{
    let (channel, message_id) = message.unwrap_or(("", ""));
    sqlx::query(sql).bind(channel).bind(message_id).bind(phone)
}

/// What the row of [`START`] for `message` says.
pub(super) fn turn_start<R>(row: &R, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let channel = message.map_or("", |(channel, _)| channel);
    let replayed = match row.try_get::<Option<String>, _>("replies")? {
        Some(replies) => {
            Some(serde_json::from_str(&replies).map_err(|error| corrupt_json(format!("{channel} replies"), &error))?)
        }
        None => None,
    };
    Ok(TurnStart { replayed, session: session_from(row) })
}

/// The session in a row of [`START`], if the row has one.
fn session_from<R>(row: &R) -> Result<Option<Session>, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let Some(flow_id) = row.try_get::<Option<String>, _>("flow_id")? else { return Ok(None) };
    let answers: String = row.try_get("answers")?;
    let answers =
        serde_json::from_str(&answers).map_err(|error| corrupt_json(format!("session of flow `{flow_id}`"), &error))?;
    Ok(Some(Session {
        flow_id,
        flow_version: row.try_get::<i64, _>("flow_version")? as u32,
        language: row.try_get("language")?,
        current_step: row.try_get("current_step")?,
        answers,
        invalid_attempts: row.try_get::<i64, _>("invalid_attempts")? as u32,
        started_at: row.try_get("started_at")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

/// Binds `$2`..`$9` of [`UPSERT_SESSION`] (the phone, `$1`, is bound before).
pub(super) fn bind_session<'q, DB>(
    query: Query<'q, DB, DB::Arguments>,
    session: &Session,
) -> Result<Query<'q, DB, DB::Arguments>, StoreError>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let answers = to_json(&session.answers, "session answers")?;
    Ok(query
        .bind(session.flow_id.as_str())
        .bind(i64::from(session.flow_version))
        .bind(session.language.as_str())
        .bind(session.current_step.as_str())
        .bind(answers)
        .bind(i64::from(session.invalid_attempts))
        .bind(stored_time(session.started_at))
        .bind(stored_time(session.updated_at)))
}

/// Binds the values of [`insert_processed_sql`]; `phone` is kept only with replies.
pub(super) fn bind_processed<'q, DB>(
    query: Query<'q, DB, DB::Arguments>,
    processed: Processed<'_>,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<Query<'q, DB, DB::Arguments>, StoreError>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let replies = to_json(processed.replies, "replies")?;
    let phone = (!processed.replies.is_empty()).then(|| phone.to_string());
    Ok(query.bind(processed.channel).bind(processed.message_id).bind(replies).bind(stored_time(now)).bind(phone))
}

/// Maps and lists of strings always serialise; should that ever change, the
/// turn fails (and rolls back) instead of the process.
fn to_json<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| corrupt_json(what, &error))
}
