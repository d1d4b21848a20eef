//! Issued codes, the same SQL on both backends: registering a completion,
//! listing and paging codes, the report's totals, QR tokens, and which
//! formula made the codes of a flow version. Only the report's grouping by
//! day differs (each backend's date functions), and stays with the backend.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, QueryBuilder, Row, Type};

use super::{
    CollidedCode, RegistrationCounts, Report, ReportFigures, StoreError, UicCursor, UicFilter, UicRecord, stored_time,
};
use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration};

/// The same answers again: one more request of their record (`$1` now, `$2` duplicate key).
const SAME_ANSWERS: &str =
    "UPDATE uic_records SET request_count = request_count + 1, last_requested_at = $1 WHERE duplicate_key = $2";
/// Whether code `$1` exists.
const CODE_EXISTS: &str = "SELECT 1 FROM uic_records WHERE uic_code = $1 LIMIT 1";
/// A possible collision: other answers that made an existing code.
const INSERT_COLLISION: &str = "INSERT INTO uic_collisions (uic_code, flow_id, duplicate_key, phone_number, created_at)
     VALUES ($1, $2, $3, $4, $5)";
/// A new code; `$7` is both its creation and its last request; `$8` its
/// DHIS2 registration state (`pending`, or NULL while registration is off).
const INSERT_RECORD: &str = "INSERT INTO uic_records
       (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at, last_requested_at,
        dhis2_status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)";

/// SQLite's group commit records a batch's completed codes in two steps:
/// one read says, for each `[duplicate key, code]` of `$1`, whether a record
/// has those answers and whether one has that code; the batch decides in
/// order (see [`register`]'s rules) and its writes add the records, the
/// requests and the possible collisions, each a JSON array as below.
pub(super) const REGISTRATION_LOOKUP_SQLITE: &str = "SELECT here.key AS turn,
            EXISTS (SELECT 1 FROM uic_records r WHERE r.duplicate_key = here.value ->> 0) AS same_answers,
            EXISTS (SELECT 1 FROM uic_records r WHERE r.uic_code = here.value ->> 1) AS same_code
     FROM jsonb_each($1) AS here ORDER BY here.key";

/// [`INSERT_RECORD`] for each `[code, duplicate key, phone, flow, version,
/// fingerprint, time, DHIS2 state or null, requests, last request]` of `$n`;
/// answers held before are [`SAME_ANSWERS`] instead, their requests added
/// (a code asked for again in the batch that made it comes with its requests).
/// `WHERE true` keeps SQLite's parser from reading the upsert as a join.
pub(super) fn upsert_records_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO uic_records
           (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at,
            dhis2_status, request_count, last_requested_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7,
                value ->> 8, value ->> 9
         FROM jsonb_each(${n}) WHERE true ORDER BY key
         ON CONFLICT (duplicate_key) DO UPDATE SET
           request_count = uic_records.request_count + excluded.request_count,
           last_requested_at = excluded.last_requested_at"
    )
}

/// [`INSERT_COLLISION`] for each `[code, flow, duplicate key, phone, time]` of `$n`.
pub(super) fn insert_collisions_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO uic_collisions (uic_code, flow_id, duplicate_key, phone_number, created_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM jsonb_each(${n}) ORDER BY key"
    )
}

/// The QR links of a batch's completions over a channel that links its
/// images (Twilio), for each `[code, new token, time, oldest time still
/// valid]` of `$n`, as [`NEW_QR_TOKEN_SQLITE`] makes one: an expired link
/// removed, the new token kept for a code without a valid one, then each
/// code's valid token read (`qr_code`, `qr_token`).
pub(super) fn qr_links_batch_sql(n: usize) -> String {
    format!(
        "DELETE FROM qr_codes WHERE rowid IN
           (SELECT q.rowid FROM jsonb_each(${n}) AS here JOIN qr_codes q ON q.uic_code = here.value ->> 0
            WHERE q.created_at < here.value ->> 3);
         INSERT INTO qr_codes (token, uic_code, created_at)
           SELECT value ->> 1, value ->> 0, value ->> 2 FROM jsonb_each(${n}) WHERE true ORDER BY key
           ON CONFLICT (uic_code) DO NOTHING;
         SELECT here.value ->> 0 AS qr_code, q.token AS qr_token
           FROM jsonb_each(${n}) AS here JOIN qr_codes q ON q.uic_code = here.value ->> 0
           WHERE q.created_at >= here.value ->> 3"
    )
}

/// How many rows a statement changed, whichever backend ran it.
pub(super) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

/// Records a completed code on `connection`, inside the caller's transaction
/// (and, on PostgreSQL, under its lock of the code): the same answers find
/// their record again; other answers that made an existing code are noted as
/// a possible collision. A new code registered in DHIS2 starts `pending`.
pub(super) async fn register<DB>(
    connection: &mut DB::Connection,
    phone: &str,
    completion: &Completion,
    to_dhis2: bool,
    now: DateTime<Utc>,
) -> Result<Registration, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let now = stored_time(now);
    let same_answers = sqlx::query::<DB>(SAME_ANSWERS)
        .bind(now)
        .bind(completion.duplicate_key.as_str())
        .execute(&mut *connection)
        .await?;
    if same_answers.rows_affected() > 0 {
        return Ok(Registration::SameAnswers);
    }
    let same_code =
        sqlx::query::<DB>(CODE_EXISTS).bind(completion.uic.as_str()).fetch_optional(&mut *connection).await?;
    if same_code.is_some() {
        sqlx::query::<DB>(INSERT_COLLISION)
            .bind(completion.uic.as_str())
            .bind(completion.flow_id.as_str())
            .bind(completion.duplicate_key.as_str())
            .bind(phone)
            .bind(now)
            .execute(&mut *connection)
            .await?;
        return Ok(Registration::SameCode);
    }
    sqlx::query::<DB>(INSERT_RECORD)
        .bind(completion.uic.as_str())
        .bind(completion.duplicate_key.as_str())
        .bind(phone)
        .bind(completion.flow_id.as_str())
        .bind(i64::from(completion.flow_version))
        .bind(completion.formula_fingerprint.as_str())
        .bind(now)
        .bind(to_dhis2.then_some(RegistrationState::Pending.as_str()))
        .execute(&mut *connection)
        .await?;
    Ok(Registration::New)
}

/// The token of code `$1`, unless it was made before `$2` (expired).
pub(super) const QR_TOKEN_OF: &str = "SELECT token FROM qr_codes WHERE uic_code = $1 AND created_at >= $2";
/// The code of token `$1`, unless the token was made before `$2` (expired).
pub(super) const QR_CODE_OF: &str = "SELECT uic_code FROM qr_codes WHERE token = $1 AND created_at >= $2";
/// Every token made before `$1`: links past their lifetime.
pub(super) const CLEANUP_QR: &str = "DELETE FROM qr_codes WHERE created_at < $1";

/// `sql` with a text `$1` and a time `$2` (a token or code, and the oldest time still valid).
pub(super) fn with_time<'q, DB>(sql: &'static str, text: &str, time: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(sql).bind(text.to_string()).bind(stored_time(time))
}

/// SQLite: code `$1`'s token made anew in one transaction, with its commit
/// synced beside the writer (`wal_sync`): an expired one removed, a new one
/// (`$3`, made at `$4`) unless a valid one exists (`$2` the oldest time still
/// valid), then the valid one read.
pub(super) const NEW_QR_TOKEN_SQLITE: &str = "BEGIN IMMEDIATE;
DELETE FROM qr_codes WHERE uic_code = $1 AND created_at < $2;
INSERT INTO qr_codes (token, uic_code, created_at) VALUES ($3, $1, $4) ON CONFLICT (uic_code) DO NOTHING;
SELECT token FROM qr_codes WHERE uic_code = $1 AND created_at >= $2;
COMMIT";

/// PostgreSQL: code `$1`'s link in one statement: a new token (`$3`, made at
/// `$4`) unless a link made since `$2` is valid, an expired one replaced in
/// place; then the valid token. No row when a link another transaction
/// committed meanwhile is not in this statement's snapshot: [`QR_TOKEN_OF`],
/// run after it, reads that one.
pub(super) const QR_LINK_POSTGRES: &str = "WITH made AS (
    INSERT INTO qr_codes (token, uic_code, created_at) VALUES ($3, $1, $4)
    ON CONFLICT (uic_code) DO UPDATE SET token = excluded.token, created_at = excluded.created_at
    WHERE qr_codes.created_at < $2
    RETURNING token)
SELECT token FROM made
UNION ALL
SELECT token FROM qr_codes WHERE uic_code = $1 AND created_at >= $2 AND NOT EXISTS (SELECT 1 FROM made)";

/// The lowest and highest formula fingerprint of a flow version: two index
/// seeks, where "any other than mine" would read every code of the version.
const FORMULAS_OF_VERSION: &str = "SELECT (SELECT MIN(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2), (SELECT MAX(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2)";

/// [`FORMULAS_OF_VERSION`] of `flow_id` version `version`.
pub(super) fn formulas_of_version<'q, DB>(flow_id: &str, version: u32) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(FORMULAS_OF_VERSION).bind(flow_id).bind(i64::from(version))
}

/// Whether the row of [`FORMULAS_OF_VERSION`] names a formula other than `fingerprint`.
pub(super) fn other_formula<R>(row: &R, fingerprint: &str) -> Result<bool, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let lowest: Option<String> = row.try_get(0)?;
    let highest: Option<String> = row.try_get(1)?;
    Ok([lowest, highest].into_iter().flatten().any(|issued| issued != fingerprint))
}

/// The codes different answers made most often since `$1`, for staff to review.
pub(super) const COLLIDED_CODES: &str = "SELECT uic_code AS label, COUNT(*) AS n FROM uic_collisions
     WHERE created_at >= $1 GROUP BY uic_code ORDER BY n DESC, uic_code LIMIT 20";

/// Possible collisions recorded so far.
pub(super) const COUNT_COLLISIONS: &str = "SELECT COUNT(*) FROM uic_collisions";

/// The query behind [`super::Store::list_uics`] and [`super::Store::uic_page`]:
/// `(id, record)` rows matching `filter`, after the cursor `after` (in the
/// oldest-first order), newest or oldest first. Only constants are pushed as
/// SQL; every value is bound.
pub(super) fn uic_query<DB>(
    filter: &UicFilter,
    after: Option<UicCursor>,
    newest_first: bool,
    limit: u32,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(
        "SELECT id, uic_code, phone_number, flow_id, flow_version, created_at, last_requested_at, request_count,
                dhis2_status, dhis2_tracked_entity, dhis2_error
         FROM uic_records",
    );
    let mut joiner = " WHERE ";
    if let Some(since) = filter.since {
        query.push(joiner).push("created_at >= ").push_bind(stored_time(since));
        joiner = " AND ";
    }
    if let Some(flow_id) = &filter.flow_id {
        query.push(joiner).push("flow_id = ").push_bind(flow_id.clone());
        joiner = " AND ";
    }
    if let Some(after) = after {
        // `(created_at, id) > (…, …)`, spelled so that the index on created_at serves it.
        query.push(joiner).push("created_at >= ").push_bind(after.created_at);
        query.push(" AND (created_at > ").push_bind(after.created_at).push(" OR id > ").push_bind(after.id).push(")");
    }
    query.push(if newest_first { " ORDER BY created_at DESC, id DESC" } else { " ORDER BY created_at, id" });
    query.push(" LIMIT ").push_bind(i64::from(limit));
    query
}

/// A row of [`uic_query`]: the record's id and the record.
pub(super) fn uic_row<R>(row: &R) -> Result<(i64, UicRecord), StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: Option<String> = row.try_get("dhis2_status")?;
    let registration = match status.as_deref() {
        None => None,
        Some("pending") => Some(RegistrationState::Pending),
        Some("registered") => Some(RegistrationState::Registered {
            tracked_entity: row.try_get::<Option<String>, _>("dhis2_tracked_entity")?.unwrap_or_default(),
        }),
        Some("failed") => Some(RegistrationState::Failed {
            error: row.try_get::<Option<String>, _>("dhis2_error")?.unwrap_or_default(),
        }),
        Some(other) => {
            return Err(StoreError::Corrupt {
                what: "DHIS2 registration state of a code".into(),
                detail: format!("unknown state `{other}`"),
            });
        }
    };
    let record = UicRecord {
        uic_code: row.try_get("uic_code")?,
        phone_number: row.try_get("phone_number")?,
        flow_id: row.try_get("flow_id")?,
        flow_version: row.try_get::<i64, _>("flow_version")? as u32,
        created_at: row.try_get("created_at")?,
        last_requested_at: row.try_get("last_requested_at")?,
        request_count: row.try_get::<i64, _>("request_count")? as u32,
        registration,
    };
    Ok((row.try_get("id")?, record))
}

/// The figures of a whole period `[$1, $2)`.
pub(super) const REPORT_TOTALS: &str = "SELECT
       (SELECT COUNT(*) FROM uic_records WHERE created_at >= $1 AND created_at < $2) AS codes,
       (SELECT COUNT(DISTINCT phone_number) FROM uic_records WHERE created_at >= $1 AND created_at < $2) AS phones,
       (SELECT CAST(COALESCE(SUM(request_count - 1), 0) AS BIGINT)
          FROM uic_records WHERE created_at >= $1 AND created_at < $2) AS repeats,
       (SELECT COUNT(*) FROM uic_collisions WHERE created_at >= $1 AND created_at < $2) AS collisions,
       (SELECT COUNT(*) FROM uic_records WHERE created_at >= $1 AND created_at < $2 AND dhis2_status IS NULL)
         AS dhis2_none,
       (SELECT COUNT(*) FROM uic_records WHERE created_at >= $1 AND created_at < $2 AND dhis2_status = 'pending')
         AS dhis2_pending,
       (SELECT COUNT(*) FROM uic_records WHERE created_at >= $1 AND created_at < $2 AND dhis2_status = 'registered')
         AS dhis2_registered,
       (SELECT COUNT(*) FROM uic_records WHERE created_at >= $1 AND created_at < $2 AND dhis2_status = 'failed')
         AS dhis2_failed";

/// The [`Report`] from the rows of a backend's three queries: [`REPORT_TOTALS`];
/// per day `day, codes, phones, repeats` of the codes; per day `day, collisions`.
pub(super) fn report_from<R>(totals: &R, code_days: &[R], collision_days: &[R]) -> Result<Report, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> NaiveDate: Decode<'r, R::Database> + Type<R::Database>,
{
    /// The figures of `date`, added in date order if new.
    fn day(days: &mut Vec<(NaiveDate, ReportFigures)>, date: NaiveDate) -> &mut ReportFigures {
        let at = days.binary_search_by_key(&date, |(d, _)| *d).unwrap_or_else(|at| {
            days.insert(at, (date, ReportFigures::default()));
            at
        });
        &mut days[at].1
    }
    let mut days = Vec::new();
    for row in code_days {
        let figures = day(&mut days, row.try_get("day")?);
        figures.codes = row.try_get("codes")?;
        figures.unique_phones = row.try_get("phones")?;
        figures.repeat_requests = row.try_get("repeats")?;
    }
    for row in collision_days {
        day(&mut days, row.try_get("day")?).collisions = row.try_get("collisions")?;
    }
    let total = ReportFigures {
        codes: totals.try_get("codes")?,
        unique_phones: totals.try_get("phones")?,
        repeat_requests: totals.try_get("repeats")?,
        collisions: totals.try_get("collisions")?,
    };
    let registrations = RegistrationCounts {
        not_registered: totals.try_get("dhis2_none")?,
        pending: totals.try_get("dhis2_pending")?,
        registered: totals.try_get("dhis2_registered")?,
        failed: totals.try_get("dhis2_failed")?,
    };
    Ok(Report { days, total, registrations })
}

/// Each code with possible collisions, newest collision first, at most `$1`:
/// when the code was first issued, when other answers last made it, how
/// many different answer sets made it (its owner's and each other key), how
/// many times other answers made it. No answer and no phone number.
pub(super) const COLLISIONS: &str = "SELECT c.uic_code AS uic_code, MIN(c.flow_id) AS flow_id,
       COALESCE((SELECT MIN(r.created_at) FROM uic_records r WHERE r.uic_code = c.uic_code), MIN(c.created_at))
         AS first_at,
       MAX(c.created_at) AS latest_at,
       1 + COUNT(DISTINCT c.duplicate_key) AS answer_sets,
       COUNT(*) AS times
     FROM uic_collisions c GROUP BY c.uic_code ORDER BY latest_at DESC, c.uic_code LIMIT $1";

/// How many codes have possible collisions, and how many times other answers made them.
pub(super) const COLLISION_TOTALS: &str =
    "SELECT COUNT(DISTINCT uic_code) AS codes, COUNT(*) AS times FROM uic_collisions";

/// A row of [`COLLISIONS`].
pub(super) fn collision_row<R>(row: &R) -> Result<CollidedCode, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(CollidedCode {
        uic_code: row.try_get("uic_code")?,
        flow_id: row.try_get("flow_id")?,
        first_at: row.try_get("first_at")?,
        latest_at: row.try_get("latest_at")?,
        answer_sets: row.try_get("answer_sets")?,
        times: row.try_get("times")?,
    })
}

/// The codes a formula (by its fingerprint, `$1`) issued, each with the
/// number of people holding it: its owner and each other answer set that
/// made it (a possible collision). Codes only: what `uic analyze` counts.
pub(super) const CODES_OF_FORMULA: &str = "SELECT r.uic_code AS uic_code,
       1 + (SELECT COUNT(DISTINCT c.duplicate_key) FROM uic_collisions c WHERE c.uic_code = r.uic_code) AS people
     FROM uic_records r WHERE r.formula_fingerprint = $1";
