//! The outbox's SQL, shared by both backends: only the claim differs
//! (PostgreSQL skips rows another process is claiming).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Database, Encode, Row, Type};

use super::{StoreError, stored_time};

/// Where a job stands; stored as the text of [`JobStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// Delivered.
    Done,
    /// Given up after its last attempt (an operator can retry it).
    Dead,
    /// Given up, then a later job to its recipient was delivered: never sent,
    /// so that nobody gets a message older than one they already have (the
    /// welcome after their code); its payload is emptied.
    Overtaken,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [JobStatus::Pending, JobStatus::Done, JobStatus::Dead, JobStatus::Overtaken];

    /// The stored text (the schema and the partial index name these words).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
            JobStatus::Overtaken => "overtaken",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status text that is none of [`JobStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an outbox job status")]
pub struct UnknownStatus;

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<JobStatus, UnknownStatus> {
        JobStatus::ALL.into_iter().find(|status| status.as_str() == text).ok_or(UnknownStatus)
    }
}

/// Which kinds of jobs a worker claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    All,
    Only(&'static str),
    Except(&'static str),
}

impl Kinds {
    /// `$4` and `$5` of the claim.
    fn params(self) -> (&'static str, &'static str) {
        match self {
            Kinds::All => ("", ""),
            Kinds::Only(kind) => (kind, ""),
            Kinds::Except(kind) => ("", kind),
        }
    }
}

/// Which jobs [`super::Store::list_jobs`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFilter {
    All,
    Only(JobStatus),
}

impl JobFilter {
    /// The `$1` of [`LIST`]: a status, or `all`.
    fn as_str(self) -> &'static str {
        match self {
            JobFilter::All => "all",
            JobFilter::Only(status) => status.as_str(),
        }
    }
}

impl From<JobStatus> for JobFilter {
    fn from(status: JobStatus) -> JobFilter {
        JobFilter::Only(status)
    }
}

/// Work to hand to the outbox.
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    /// What delivers it (`meta_reply`, `dhis2`, ...).
    pub kind: &'a str,
    /// Whose job it is: one recipient's jobs are delivered in order.
    pub recipient: &'a str,
    /// What the deliverer needs, as JSON.
    pub payload: &'a str,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub payload: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

static ENQUEUE: LazyLock<String> = LazyLock::new(|| enqueue_sql(1));

/// [`ENQUEUE`] with `job`'s values bound.
pub(super) fn enqueue<'q, DB>(job: NewJob<'_>, now: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    bind_job(sqlx::query(AssertSqlSafe(ENQUEUE.as_str())), job, now)
}

/// Binds the four values of [`enqueue_sql`].
pub(super) fn bind_job<'q, DB>(
    query: Query<'q, DB, DB::Arguments>,
    job: NewJob<'_>,
    now: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    query.bind(job.kind).bind(job.recipient).bind(job.payload).bind(stored_time(now))
}

/// Adds a job due now: kind, recipient, payload and time are parameters
/// `$first`..`$first+3`.
pub(super) fn enqueue_sql(first: usize) -> String {
    enqueue_rows_sql(first, 1)
}

/// Adds `rows` jobs due now in one statement, each row's kind, recipient,
/// payload and time the next four parameters from `$first` (a turn joins its
/// jobs to its other writes). Rows get their ids in this order, so one
/// recipient's jobs leave in the order they are listed.
pub(super) fn enqueue_rows_sql(first: usize, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let (kind, recipient, payload, now) =
                (first + 4 * row, first + 4 * row + 1, first + 4 * row + 2, first + 4 * row + 3);
            format!("(${kind}, ${recipient}, ${payload}, 'pending', 0, ${now}, ${now}, ${now})")
        })
        .collect();
    format!(
        "INSERT INTO outbox (kind, recipient, payload, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES {}",
        values.join(", ")
    )
}

/// [`enqueue_sql`] for each `[kind, recipient, payload, time]` of `$n`, in
/// that order (SQLite's group commit): ids follow the order, so one
/// recipient's jobs still leave in the order they were written.
pub(super) fn enqueue_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO outbox (kind, recipient, payload, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, 'pending', 0, value ->> 3, value ->> 3, value ->> 3
         FROM jsonb_each(${n}) ORDER BY key"
    )
}

/// Claims up to `$3` due jobs until `$2`, on SQLite (one writer: no row locks needed).
pub(super) static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| claim_sql(""));
/// The same on PostgreSQL, skipping rows another process is claiming.
pub(super) static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| claim_sql("FOR UPDATE SKIP LOCKED"));
static LIST: LazyLock<String> = LazyLock::new(list_sql);

/// For each recipient only the oldest pending job is claimable, so one
/// person's messages leave in order even across retries. `$4` (a kind, or
/// '') and `$5` (a kind to leave, or '') are a [`Kinds`]: a worker of its
/// own for slow deliveries keeps them from holding up the others.
fn claim_sql(lock: &str) -> String {
    format!(
        "UPDATE outbox SET locked_until = $2, attempts = attempts + 1, updated_at = $1
         WHERE id IN (
           SELECT o.id FROM outbox o
           WHERE o.status = 'pending' AND o.next_attempt_at <= $1
             AND (o.locked_until IS NULL OR o.locked_until < $1)
             AND ($4 = '' OR o.kind = $4) AND o.kind <> $5
             AND NOT EXISTS (
               SELECT 1 FROM outbox e WHERE e.recipient = o.recipient AND e.status = 'pending' AND e.id < o.id)
           ORDER BY o.id LIMIT $3 {lock})
         RETURNING {COLUMNS}"
    )
}

/// Claims recipient `$1`'s oldest pending job, if it is due at `$2` and not
/// claimed, until `$3`: how a worker goes on with one person's messages
/// without scanning the whole outbox. The subquery is an index seek, and the
/// row's lock makes a second claimer find it taken (no `SKIP LOCKED`: skipping
/// the oldest job would send a later one first).
static CLAIM_NEXT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE outbox SET locked_until = $3, attempts = attempts + 1, updated_at = $2
         WHERE id = (SELECT id FROM outbox WHERE recipient = $1 AND status = 'pending' ORDER BY id LIMIT 1)
           AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2)
         RETURNING {COLUMNS}"
    )
});

const COLUMNS: &str = "id, kind, recipient, payload, status, attempts, next_attempt_at, last_error, created_at";

/// A delivered job keeps no payload: its texts (which may repeat answers)
/// and its recipient's number in them have left with it. Its recipient's
/// earlier jobs given up are overtaken: sent now, they would arrive after it,
/// out of order (the welcome after the code). So are earlier jobs pending:
/// this job could only be claimed as its recipient's oldest, so those were
/// revived since, and would arrive after it too.
const DONE: &str = "UPDATE outbox SET status = CASE WHEN id = $1 THEN 'done' ELSE 'overtaken' END, payload = '',
       locked_until = NULL, last_error = CASE WHEN id = $1 THEN NULL ELSE last_error END, updated_at = $2
     WHERE id = $1 OR (id < $1 AND status IN ('dead', 'pending')
       AND recipient = (SELECT o.recipient FROM outbox o WHERE o.id = $1))";

/// `$2` is `pending` (retry at `$3`) or `dead`.
const FAILED: &str =
    "UPDATE outbox SET status = $2, next_attempt_at = $3, locked_until = NULL, last_error = $4, updated_at = $5
     WHERE id = $1";

/// Job `$1` held back until `$2` by a pause (`$3` why, `$4` now): its
/// claim's attempt is given back, as it could not have succeeded.
const PAUSED: &str = "UPDATE outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3,
       attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $4 WHERE id = $1";

/// Makes job `$1` due at `$2` with a fresh set of attempts, if pending or given up.
const RETRY: &str =
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, locked_until = NULL, updated_at = $2
     WHERE id = $1 AND status IN ('pending', 'dead')";

/// Makes every given-up job due at `$1` with a fresh set of attempts.
const RETRY_DEAD: &str =
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, locked_until = NULL, updated_at = $1
     WHERE status = 'dead'";

const DROP: &str = "DELETE FROM outbox WHERE id = $1";

/// Given-up jobs not of kind `$2`, given up before `$1`: their payloads
/// hold a phone number and texts that may repeat answers.
pub(super) const FORGET_DEAD: &str = "DELETE FROM outbox WHERE status = 'dead' AND updated_at < $1 AND kind <> $2";

/// How the last error of a job whose last attempt may have succeeded begins
/// (a timeout: the provider may have the message).
pub const OUTCOME_UNKNOWN: &str = "outcome unknown: ";

/// Settles a job whose last attempt may have succeeded, when the provider
/// reports a message we have no record of (`$5` on channel `$4`) to its
/// recipient `$1`: the recipient's oldest pending job, if of kind `$2`,
/// unclaimed at `$3` and last failed with [`OUTCOME_UNKNOWN`]. One request at
/// a time per recipient, and every answered send recorded, make that message
/// this job's.
pub(super) static SETTLE_UNSURE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE outbox SET status = 'done', payload = '', locked_until = NULL, last_error = NULL, updated_at = $3
         WHERE id = (SELECT h.id FROM outbox h WHERE h.recipient = $1 AND h.status = 'pending' ORDER BY h.id LIMIT 1)
           AND kind = $2 AND last_error LIKE '{OUTCOME_UNKNOWN}%' AND (locked_until IS NULL OR locked_until < $3)
           AND NOT EXISTS (SELECT 1 FROM sent_messages s WHERE s.channel = $4 AND s.message_id = $5 AND s.job_id IS NOT NULL)
         RETURNING id"
    )
});

/// [`SETTLE_UNSURE`] with its values bound.
pub(super) fn settle_unsure<'q, DB>(
    kind: &'q str,
    recipient: &'q str,
    channel: &'q str,
    message_id: &'q str,
    now: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(AssertSqlSafe(SETTLE_UNSURE.as_str()))
        .bind(recipient)
        .bind(kind)
        .bind(stored_time(now))
        .bind(channel)
        .bind(message_id)
}

/// Frees every claim: only when no other worker can hold one (the process that
/// made them is gone), so their jobs go now rather than when the claims lapse.
pub(super) const RELEASE_CLAIMS: &str =
    "UPDATE outbox SET locked_until = NULL WHERE status = 'pending' AND locked_until IS NOT NULL";

/// Jobs waiting or given up, per kind and status, with the oldest's creation.
pub(super) const SUMMARY: &str = "SELECT kind, status, COUNT(*) AS jobs, MIN(created_at) AS oldest
     FROM outbox WHERE status IN ('pending', 'dead') GROUP BY kind, status ORDER BY kind, status";

/// Undelivered jobs of one kind and status (a row of [`SUMMARY`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub status: JobStatus,
    pub jobs: i64,
    /// When the oldest of them was written.
    pub oldest: DateTime<Utc>,
}

/// A row of [`SUMMARY`].
pub(super) fn job_count<R: Row>(row: &R) -> Result<JobCount, StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let status: String = row.try_get("status")?;
    let status = status.parse().map_err(|unknown: UnknownStatus| StoreError::Corrupt {
        what: "status of outbox jobs".into(),
        detail: unknown.to_string(),
    })?;
    Ok(JobCount { kind: row.try_get("kind")?, status, jobs: row.try_get("jobs")?, oldest: row.try_get("oldest")? })
}

/// `$1` is a status or `all`.
fn list_sql() -> String {
    format!("SELECT {COLUMNS} FROM outbox WHERE ($1 = 'all' OR status = $1) ORDER BY id DESC LIMIT $2")
}

/// A claim (`claim_sql` is [`CLAIM_SQLITE`] or [`CLAIM_POSTGRES`]) of up to
/// `limit` jobs due at `now`, until `until`.
pub(super) fn claim<'q, DB>(
    claim_sql: &'static str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
    kinds: Kinds,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let (only, except) = kinds.params();
    sqlx::query(AssertSqlSafe(claim_sql))
        .bind(stored_time(now))
        .bind(stored_time(until))
        .bind(limit)
        .bind(only)
        .bind(except)
}

/// [`CLAIM_NEXT`] of `recipient`'s next job.
pub(super) fn claim_next<'q, DB>(
    recipient: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(AssertSqlSafe(CLAIM_NEXT.as_str())).bind(recipient).bind(stored_time(now)).bind(stored_time(until))
}

/// Job `id` delivered at `now`.
pub(super) fn done<'q, DB>(id: i64, now: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(DONE).bind(id).bind(stored_time(now))
}

/// Job `id` failed with `error`: tried again at `retry_at`, or given up
/// (`dead`, `retry_at` then being `now`) when `retry_at` is `None`.
pub(super) fn failed<'q, DB>(
    id: i64,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
    now: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let (status, at) = match retry_at {
        Some(at) => (JobStatus::Pending, at),
        None => (JobStatus::Dead, now),
    };
    sqlx::query(FAILED).bind(id).bind(status.as_str()).bind(stored_time(at)).bind(error).bind(stored_time(now))
}

/// Job `id` paused until `at` (see [`PAUSED`]).
pub(super) fn paused<'q, DB>(
    id: i64,
    at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(PAUSED).bind(id).bind(stored_time(at)).bind(error).bind(stored_time(now))
}

/// Up to `limit` jobs that `filter` lets through, newest first.
pub(super) fn list<'q, DB>(filter: JobFilter, limit: i64) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(AssertSqlSafe(LIST.as_str())).bind(filter.as_str()).bind(limit)
}

/// Job `id` due at `now` with a fresh set of attempts, unless delivered.
pub(super) fn retry<'q, DB>(id: i64, now: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(RETRY).bind(id).bind(stored_time(now))
}

/// Every given-up job due at `now`, with a fresh set of attempts.
pub(super) fn retry_dead<'q, DB>(now: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(RETRY_DEAD).bind(stored_time(now))
}

/// Deletes job `id`.
pub(super) fn drop_job<'q, DB>(id: i64) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(DROP).bind(id)
}

/// A job from a row of [`COLUMNS`].
pub(super) fn job_from<R: Row>(row: &R) -> Result<Job, StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let id = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let status = status.parse().map_err(|unknown: UnknownStatus| StoreError::Corrupt {
        what: format!("status of outbox job {id}"),
        detail: unknown.to_string(),
    })?;
    Ok(Job {
        id,
        kind: row.try_get("kind")?,
        recipient: row.try_get("recipient")?,
        payload: row.try_get("payload")?,
        status,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_as_the_schema_spells_them() {
        let stored: Vec<&str> = JobStatus::ALL.iter().map(|status| status.as_str()).collect();
        assert_eq!(stored, ["pending", "done", "dead", "overtaken"]);
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!("Pending".parse::<JobStatus>(), Err(UnknownStatus));
        assert_eq!("all".parse::<JobStatus>(), Err(UnknownStatus));
        assert_eq!(JobFilter::All.as_str(), "all");
        assert_eq!(JobFilter::from(JobStatus::Dead).as_str(), "dead");
    }

    #[test]
    fn the_sql_names_only_known_statuses() {
        let statements = [
            ENQUEUE.as_str(),
            CLAIM_SQLITE.as_str(),
            CLAIM_NEXT.as_str(),
            DONE,
            PAUSED,
            RETRY,
            RETRY_DEAD,
            RELEASE_CLAIMS,
            FORGET_DEAD,
            LIST.as_str(),
            SUMMARY,
        ];
        for sql in statements {
            for quoted in sql.split('\'').skip(1).step_by(2) {
                // `''` is the emptied payload of a delivered job, not a status.
                let known = quoted == "all" || quoted.is_empty() || quoted.parse::<JobStatus>().is_ok();
                assert!(known, "{quoted} in {sql}");
            }
        }
    }
}
