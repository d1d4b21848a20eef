//! PostgreSQL's batches: a few run side by side, each on a connection of
//! the pool, for the server works on several at once. A batch is four round
//! trips (six when turns complete codes):
//! - `BEGIN` with every person's advisory lock, in the order of their keys
//!   (one simple query). Another process on the same database takes the same
//!   locks for the same people, so one person's turns stay one at a time
//!   everywhere, and two batches never wait on each other in a cycle;
//! - the read of every turn's start, in a statement after the locks', so its
//!   snapshot holds what the holder of a lock committed before letting go;
//! - when turns complete codes, their codes' locks, then the read of the records;
//! - every write, one statement of data-modifying `WITH`s (a table each);
//! - `COMMIT`.
//!
//! Each statement takes the batch as `jsonb` arrays (parsed once, where
//! `json` would be parsed again for each field read), so its text never
//! changes and stays prepared. Running the batch in two round trips, as simple
//! queries of several statements with the arrays written in hex, measured no
//! faster: what a round trip saves, decoding the hex and reading more rows
//! back costs.
//!

use std::collections::HashSet;
use std::sync::OnceLock;

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Postgres, Row};

use super::{
    Batches, GroupCommit, Present, TurnKey, WriteArrays, WriteTexts, Writes, json_array, present, turn_keys, write_text,
};
use crate::store::postgres::{PgStore, lock_people_sql};
use crate::store::{StoreError, TurnStart, sessions, statistics};

/// [`sessions::START`] for each `[channel, message id, phone]` of `$1`, a
/// row each in that order.
///
/// PostgreSQL cannot tell how few elements a JSON array has (it guesses
/// 100), so a plain join or `IN` over one may read a whole table, and under
/// load the sessions' and messages' tables hold many dead rows: 40 ms for a
/// batch of two on 12,000 messages. Hence the forms below, each an index
/// lookup per element: a `LATERAL` subquery with `LIMIT` (never merged into
/// a join), and `= ANY (ARRAY(…))` for a list of keys.
const READ: &str = "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
            s.invalid_attempts, s.started_at, s.updated_at
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS here (value, turn)
     LEFT JOIN LATERAL (SELECT replies FROM processed_messages
                        WHERE channel = here.value ->> 0 AND message_id = here.value ->> 1 LIMIT 1) AS p ON true
     LEFT JOIN LATERAL (SELECT * FROM conversation_sessions WHERE phone_number = here.value ->> 2 LIMIT 1) AS s
       ON true
     ORDER BY here.turn";

/// The writes of a batch, a statement per table in the order of
/// [`super::WriteArrays`], each reading its array as `$1` (and the counters'
/// shard, or the oldest time a QR link is still valid, as `$2`). [`write_sql`]
/// joins those with rows into one statement.
const WRITES: [(&str, &str, Second); 9] = [
    (
        "upserts",
        "INSERT INTO conversation_sessions
           (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts, started_at, updated_at)
         SELECT value ->> 0, value ->> 1, (value ->> 2)::bigint, value ->> 3, value ->> 4, value ->> 5,
                (value ->> 6)::bigint, (value ->> 7)::timestamptz, (value ->> 8)::timestamptz
         FROM jsonb_array_elements($1::jsonb)
         ON CONFLICT (phone_number) DO UPDATE SET
           flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
           current_step = excluded.current_step, answers = excluded.answers,
           invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
           updated_at = excluded.updated_at",
        Second::None,
    ),
    (
        "deletes",
        "DELETE FROM conversation_sessions WHERE phone_number = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        Second::None,
    ),
    (
        "forgets",
        "UPDATE processed_messages SET replies = '[]', phone_number = NULL
         WHERE phone_number = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        Second::None,
    ),
    (
        "processed",
        "INSERT INTO processed_messages (channel, message_id, replies, created_at, phone_number)
         SELECT value ->> 0, value ->> 1, value ->> 2, (value ->> 3)::timestamptz, value ->> 4
         FROM jsonb_array_elements($1::jsonb)",
        Second::None,
    ),
    (
        "jobs",
        "INSERT INTO outbox (kind, recipient, payload, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, 'pending', 0, (value ->> 3)::timestamptz,
                (value ->> 3)::timestamptz, (value ->> 3)::timestamptz
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS job (value, n) ORDER BY n",
        Second::None,
    ),
    (
        "counts",
        "INSERT INTO flow_statistics (day, flow_id, step_id, outcome, shard, count)
         SELECT (value ->> 0)::date, value ->> 1, value ->> 2, value ->> 3, $2, (value ->> 4)::bigint
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS counted (value, n) ORDER BY n
         ON CONFLICT (day, flow_id, step_id, outcome, shard) DO UPDATE SET count = flow_statistics.count + excluded.count",
        Second::Shard,
    ),
    (
        "records",
        "INSERT INTO uic_records
           (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at, dhis2_status,
            request_count, last_requested_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, (value ->> 4)::bigint, value ->> 5,
                (value ->> 6)::timestamptz, value ->> 7, (value ->> 8)::bigint, (value ->> 9)::timestamptz
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS record (value, n) ORDER BY n
         ON CONFLICT (duplicate_key) DO UPDATE SET
           request_count = uic_records.request_count + excluded.request_count,
           last_requested_at = excluded.last_requested_at",
        Second::None,
    ),
    (
        "collisions",
        "INSERT INTO uic_collisions (uic_code, flow_id, duplicate_key, phone_number, created_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, (value ->> 4)::timestamptz
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS collision (value, n) ORDER BY n",
        Second::None,
    ),
    (
        "links",
        "INSERT INTO qr_codes (token, uic_code, created_at)
         SELECT value ->> 1, value ->> 0, (value ->> 2)::timestamptz FROM jsonb_array_elements($1::jsonb)
         ON CONFLICT (uic_code) DO UPDATE SET token = excluded.token, created_at = excluded.created_at
         WHERE qr_codes.created_at < $2::timestamptz
         RETURNING uic_code, token",
        Second::ValidSince,
    ),
];

/// What a statement of [`WRITES`] reads as `$2`, if anything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Second {
    None,
    /// The counters' shard of the batch.
    Shard,
    /// The oldest time a QR link is still valid.
    ValidSince,
}

/// Every write of a batch that has rows (`present`, in the order of
/// [`WRITES`]) as one statement of data-modifying `WITH`s, their parameters
/// numbered in that order; it returns each QR link made or renewed (a valid
/// one held before is read by [`QR_TOKENS`]). A `WITH` with no rows would
/// still cost the server its start-up, a tenth of the statement's. The `WITH`s
/// see one snapshot and touch different rows: the earlier replies forgotten
/// are not the new message's, and the records asked for again were made
/// before the batch.
fn write_sql(present: Present) -> &'static str {
    static TEXTS: WriteTexts = [const { OnceLock::new() }; 1 << 9];
    write_text(&TEXTS, present, |present| {
        let mut next = 1;
        let mut parts = Vec::new();
        for ((name, sql, second), _) in WRITES.iter().zip(present).filter(|(_, present)| *present) {
            parts.push(format!("{name} AS ({})", renumber(sql, next)));
            next += if *second == Second::None { 1 } else { 2 };
        }
        let result = if present[present.len() - 1] {
            "SELECT uic_code AS qr_code, token AS qr_token FROM links"
        } else {
            "SELECT NULL::text AS qr_code, NULL::text AS qr_token WHERE false"
        };
        format!("WITH {}\n{result}", parts.join(",\n"))
    })
}

/// `sql` with its parameters `$1` and `$2` numbered from `first`.
fn renumber(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some(&digit @ ('1' | '2'))) => {
                chars.next();
                out.push_str(&format!("${}", first + usize::from(digit == '2')));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The valid QR links of the codes of `$1` (made since `$2`) that the batch's
/// write did not make: held before, or made by a transaction that committed
/// while it ran.
const QR_TOKENS: &str = "SELECT uic_code AS qr_code, token AS qr_token FROM qr_codes
     WHERE uic_code = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) AND created_at >= $2::timestamptz";

/// For each `[duplicate key, code]` of `$1`, in order: whether a record has
/// those answers, and whether one has that code.
/// (`EXISTS` here would be planned as a hash of the whole table.)
const LOOKUP: &str = "SELECT answers.held IS NOT NULL AS same_answers, code.held IS NOT NULL AS same_code
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS here (value, turn)
     LEFT JOIN LATERAL (SELECT 1 AS held FROM uic_records WHERE duplicate_key = here.value ->> 0 LIMIT 1) AS answers
       ON true
     LEFT JOIN LATERAL (SELECT 1 AS held FROM uic_records WHERE uic_code = here.value ->> 1 LIMIT 1) AS code ON true
     ORDER BY here.turn";

/// Takes the lock of each code of `$1`, in the order of their keys, as
/// [`crate::store::postgres`] takes one: registrations of one code take
/// turns, so the read that follows sees the records they made.
const LOCK_CODES: &str = "SELECT pg_advisory_xact_lock(k)
     FROM (SELECT DISTINCT hashtextextended(code, 1) AS k FROM jsonb_array_elements_text($1::jsonb) AS code ORDER BY k)
       AS codes";

/// How many batches run at once in one process. Two cores here: three keep
/// the server busy while each waits for its round trips and its commit's flush.
pub const BATCHES_AT_ONCE: usize = 3;

/// A connection held for a batch, and whether its transaction is open.
pub(in crate::store) struct PgBatch {
    connection: PoolConnection<Postgres>,
    in_transaction: bool,
    /// The counters' shard the batch adds to (its first person's).
    shard: i16,
}

impl Drop for PgBatch {
    fn drop(&mut self) {
        // Only when the runner panicked half-way: the pool must not hand
        // out a connection inside someone else's transaction.
        if self.in_transaction {
            self.connection.close_on_drop();
        }
    }
}

impl Batches for PgStore {
    type Connection = PgBatch;
    const RUNNERS: usize = BATCHES_AT_ONCE;

    fn group_commit(&self) -> &GroupCommit {
        PgStore::group_commit(self)
    }

    async fn connection(&self) -> Result<PgBatch, StoreError> {
        Ok(PgBatch { connection: self.pool().acquire().await?, in_transaction: false, shard: 0 })
    }

    async fn read(
        batch: &mut PgBatch,
        turns: &[TurnKey<'_>],
    ) -> Result<Vec<Result<TurnStart, StoreError>>, StoreError> {
        batch.shard = turns.first().map_or(0, |turn| statistics::shard_of(turn.phone));
        // The batch's statements read JSON arrays, whose values change no
        // plan: one generic plan each, made once per connection, instead of
        // PostgreSQL's default of planning anew for the first five runs (the
        // writes' plan takes some 4 ms to make) and keeping on if its guesses
        // say so.
        let begin = format!(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; {}",
            lock_people_sql(turns.iter().map(|turn| turn.phone))
        );
        batch.in_transaction = true;
        // Only hex digits are joined (`lock_people_sql`): safe.
        sqlx::raw_sql(AssertSqlSafe(begin)).execute(&mut *batch.connection).await?;
        let rows = sqlx::query(READ).bind(turn_keys(turns)?).fetch_all(&mut *batch.connection).await?;
        Ok(turns.iter().zip(&rows).map(|(turn, row)| sessions::turn_start(row, turn.message)).collect())
    }

    async fn lookup(batch: &mut PgBatch, completed: &[(&str, &str)]) -> Result<Vec<(bool, bool)>, StoreError> {
        let codes = json_array(completed.iter().map(|(_, code)| code))?;
        sqlx::query(LOCK_CODES).bind(codes).execute(&mut *batch.connection).await?;
        let keys = json_array(completed)?;
        let rows = sqlx::query(LOOKUP).bind(keys).fetch_all(&mut *batch.connection).await?;
        rows.iter().map(|row| Ok((row.try_get("same_answers")?, row.try_get("same_code")?))).collect()
    }

    async fn write(batch: &mut PgBatch, writes: Writes) -> Result<Vec<(String, String)>, StoreError> {
        let asked: Vec<String> = writes.qr_links.keys().cloned().collect();
        let valid_since = writes.qr_links.values().map(|(_, _, valid_since)| valid_since.clone()).max();
        let arrays: WriteArrays = writes.arrays()?;
        let present = present(&arrays);
        let rows = if present.contains(&true) {
            // Only constants of the store are joined: safe.
            let mut query = sqlx::query(AssertSqlSafe(write_sql(present)));
            for ((array, present), (_, _, second)) in arrays.into_iter().zip(&present).zip(WRITES) {
                if *present {
                    query = query.bind(array);
                    match second {
                        Second::None => {}
                        Second::Shard => query = query.bind(batch.shard),
                        Second::ValidSince => query = query.bind(valid_since.clone()),
                    }
                }
            }
            query.fetch_all(&mut *batch.connection).await?
        } else {
            Vec::new()
        };
        let mut links = rows
            .iter()
            .map(|row| Ok((row.try_get("qr_code")?, row.try_get("qr_token")?)))
            .collect::<Result<Vec<(String, String)>, StoreError>>()?;
        // Valid links the write did not make: held before, or made by a
        // transaction that committed while it ran (not in its snapshot).
        if links.len() < asked.len() {
            let made: HashSet<&str> = links.iter().map(|(code, _)| code.as_str()).collect();
            let missing = asked.iter().filter(|code| !made.contains(code.as_str()));
            let rows = sqlx::query(QR_TOKENS)
                .bind(json_array(missing)?)
                .bind(valid_since)
                .fetch_all(&mut *batch.connection)
                .await?;
            for row in &rows {
                links.push((row.try_get("qr_code")?, row.try_get("qr_token")?));
            }
        }
        sqlx::raw_sql("COMMIT").execute(&mut *batch.connection).await?;
        batch.in_transaction = false;
        Ok(links)
    }

    async fn settle(batch: &mut PgBatch) {
        if batch.in_transaction {
            match sqlx::raw_sql("ROLLBACK").execute(&mut *batch.connection).await {
                Ok(_) => batch.in_transaction = false,
                // The connection is lost or broken: the pool opens another.
                Err(error) => {
                    tracing::warn!(error = %crate::store::StoreError::from(error), "rolling back a batch failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batchs_writes_number_the_parameters_of_the_tables_it_writes_in_order() {
        assert_eq!(renumber("a = $1 AND b < $2::x", 7), "a = $7 AND b < $8::x");
        // Sessions, processed messages, counts (with the shard) and QR links (with a time).
        let present = [true, false, false, true, false, true, false, false, true];
        let sql = write_sql(present);
        let names: Vec<&str> = WRITES.iter().map(|(name, _, _)| *name).collect();
        let written: Vec<&str> = names.iter().copied().filter(|name| sql.contains(&format!("{name} AS ("))).collect();
        assert_eq!(written, ["upserts", "processed", "counts", "links"]);
        for (parameter, appears) in [("$1::", true), ("$2::", true), ("$3::", true), ("$4,", true), ("$5::", true)] {
            assert_eq!(sql.contains(parameter), appears, "{parameter} in {sql}");
        }
        assert!(sql.contains("$6::timestamptz") && !sql.contains("$7"), "{sql}");
        assert!(sql.ends_with("FROM links"));
        let no_links = write_sql([true, false, false, true, false, false, false, false, false]);
        assert!(no_links.ends_with("WHERE false") && !no_links.contains("$3"), "{no_links}");
        // Built once: the same text, so the same prepared statement.
        assert!(std::ptr::eq(sql, write_sql(present)));
    }
}
