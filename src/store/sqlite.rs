//! The SQLite backend: a file under the data folder for a pilot, or memory for
//! `uic chat` and tests.
//!
//! Every statement goes through one connection, the writer, behind an async
//! mutex: SQLite has one writer at a time anyway, queuing here spares turns its
//! busy-wait sleeps, and the page cache stays warm. Each statement is a
//! hand-off to sqlx's SQLite worker thread, and under load those hand-offs,
//! not SQL, are what a turn costs; so a turn is two of them: `BEGIN IMMEDIATE`
//! with the read, then the writes with `COMMIT` (plus the registration when a
//! code is made). Other processes still meet SQLite's file lock.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Executor, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::outbox::{self, Job, JobFilter, JobStatus, NewJob};
use super::sent::{self, SentStatus};
use super::{DatabaseUrl, Processed, Report, StoreError, TurnStart, UicCursor, UicFilter, UicRecord, stored_time};
use crate::core::engine::{Completion, Registration, Session};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The migrated database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// For SQL from outside the store (tests, operator queries).
    pool: SqlitePool,
    writer: Arc<Mutex<Writer>>,
}

/// The connection every store operation uses, and whether a transaction left
/// open by a turn that failed half-way must be rolled back first.
#[derive(Debug)]
struct Writer {
    /// `None` once the store is closed.
    connection: Option<SqliteConnection>,
    in_transaction: bool,
}

impl Writer {
    fn connection(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.connection.as_mut().ok_or_else(|| sqlx::Error::PoolClosed.into())
    }

    /// Rolls back what a dropped turn left open.
    async fn settle(&mut self) {
        if self.in_transaction {
            if let Some(connection) = self.connection.as_mut() {
                // "No transaction is active" (when BEGIN itself failed) is fine.
                let _ = connection.execute("ROLLBACK").await;
            }
            self.in_transaction = false;
        }
    }
}

/// One turn's transaction, holding the writer until commit or drop; dropped
/// without commit, its changes are rolled back.
pub struct SqliteTurn {
    writer: Option<OwnedMutexGuard<Writer>>,
    phone: String,
}

impl Drop for SqliteTurn {
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take()
            && writer.in_transaction
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Release the database lock now rather than at the next turn.
            runtime.spawn(async move { writer.settle().await });
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn connect(url: DatabaseUrl<'_>, migrate: bool) -> Result<SqliteStore, StoreError> {
        let in_memory = url.is_memory();
        let options = if in_memory {
            // A named, shared in-memory database, so the writer and the pool see
            // the same one; it lives as long as the writer's connection.
            SqliteConnectOptions::from_str(&format!(
                "sqlite:file:uic-{}?mode=memory&cache=shared",
                crate::support::ids::token()
            ))?
        } else {
            SqliteConnectOptions::from_str(url.secret())?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        let options = options.create_if_missing(true).busy_timeout(Duration::from_secs(10)).foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        if migrate {
            MIGRATIONS.run(&pool).await?;
        }
        // The writer never checkpoints: a checkpoint copies the WAL into the
        // database and syncs it, tens of milliseconds that every queued turn
        // would wait for. The pool's connection does it beside, every second.
        let connection = SqliteConnection::connect_with(
            &options.clone().pragma("wal_autocheckpoint", "0").pragma("journal_size_limit", "16777216"),
        )
        .await?;
        let writer = Arc::new(Mutex::new(Writer { connection: Some(connection), in_transaction: false }));
        if !in_memory {
            tokio::spawn(checkpoint_periodically(pool.clone(), writer.clone()));
        }
        Ok(SqliteStore { pool, writer })
    }

    /// A fresh database in memory.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::connect(DatabaseUrl::parse("sqlite::memory:")?, true).await
    }

    /// Closes the database: every later operation fails as if it were down.
    pub async fn close(&self) {
        let mut writer = self.writer.lock().await;
        writer.settle().await;
        if let Some(connection) = writer.connection.take() {
            let _ = connection.close().await;
        }
        self.pool.close().await;
    }

    /// The writer, with anything a dropped turn left open rolled back.
    async fn writer(&self) -> OwnedMutexGuard<Writer> {
        let mut writer = self.writer.clone().lock_owned().await;
        writer.settle().await;
        writer
    }

    /// Starts a turn for one person. The write lock is taken with the first
    /// read ([`SqliteTurn::start`]), so the session read is the one the turn replaces.
    pub async fn begin(&self, phone: &str) -> Result<SqliteTurn, StoreError> {
        Ok(SqliteTurn { writer: Some(self.writer().await), phone: phone.to_string() })
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        sqlx::query("SELECT 1").execute(writer.connection()?).await?;
        Ok(())
    }

    /// Deletes sessions idle since before `cutoff`; returns how many.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query("DELETE FROM conversation_sessions WHERE updated_at < $1")
            .bind(stored_time(cutoff))
            .execute(writer.connection()?)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes processed message ids recorded before `cutoff`; returns how many.
    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query("DELETE FROM processed_messages WHERE created_at < $1")
            .bind(stored_time(cutoff))
            .execute(writer.connection()?)
            .await?;
        Ok(done.rows_affected())
    }

    /// The unguessable token naming the QR image of a code, made on first use.
    pub async fn qr_token(&self, uic: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        let mut writer = self.writer().await;
        let connection = writer.connection()?;
        let existing = sqlx::query("SELECT token FROM qr_codes WHERE uic_code = $1")
            .bind(uic)
            .fetch_optional(&mut *connection)
            .await?;
        if let Some(row) = existing {
            return Ok(row.try_get(0)?);
        }
        sqlx::query(
            "INSERT INTO qr_codes (token, uic_code, created_at) VALUES ($1, $2, $3) ON CONFLICT (uic_code) DO NOTHING",
        )
        .bind(crate::support::ids::token())
        .bind(uic)
        .bind(stored_time(now))
        .execute(&mut *connection)
        .await?;
        let row =
            sqlx::query("SELECT token FROM qr_codes WHERE uic_code = $1").bind(uic).fetch_one(&mut *connection).await?;
        Ok(row.try_get(0)?)
    }

    /// The code a QR token names, if any.
    pub async fn qr_code(&self, token: &str) -> Result<Option<String>, StoreError> {
        let mut writer = self.writer().await;
        let row = sqlx::query("SELECT uic_code FROM qr_codes WHERE token = $1")
            .bind(token)
            .fetch_optional(writer.connection()?)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// Sessions updated since `since` (the active ones).
    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut writer = self.writer().await;
        let row = sqlx::query("SELECT COUNT(*) FROM conversation_sessions WHERE updated_at >= $1")
            .bind(stored_time(since))
            .fetch_one(writer.connection()?)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The embedded migrations and the versions the database has applied.
    pub async fn migrations(&self) -> Result<(&'static sqlx::migrate::Migrator, Vec<i64>), StoreError> {
        let mut writer = self.writer().await;
        let connection = writer.connection()?;
        let exists = sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut *connection)
            .await?
            .is_some();
        let applied = if exists {
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&mut *connection)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok((&MIGRATIONS, applied))
    }

    /// Whether codes of this flow version were issued by another formula.
    pub async fn issued_with_other_formula(
        &self,
        flow_id: &str,
        version: u32,
        fingerprint: &str,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer().await;
        // The lowest and highest fingerprint of the version: two index seeks,
        // where "any other than mine" would read every code of the version.
        let row = sqlx::query(
            "SELECT (SELECT MIN(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2), (SELECT MAX(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2)",
        )
        .bind(flow_id)
        .bind(i64::from(version))
        .fetch_one(writer.connection()?)
        .await?;
        let lowest: Option<String> = row.try_get(0)?;
        let highest: Option<String> = row.try_get(1)?;
        Ok([lowest, highest].into_iter().flatten().any(|issued| issued != fingerprint))
    }

    /// Adds a job outside any turn.
    pub async fn enqueue(&self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        enqueue_query(job, now).execute(writer.connection()?).await?;
        Ok(())
    }

    /// Claims due jobs until `until` (see [`outbox::CLAIM_SQLITE`]).
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(AssertSqlSafe(outbox::CLAIM_SQLITE.as_str()))
            .bind(stored_time(now))
            .bind(stored_time(until))
            .bind(limit)
            .fetch_all(writer.connection()?)
            .await?;
        rows.iter().map(outbox::job_from).collect()
    }

    /// Marks job `id` delivered and claims its recipient's next job, if due.
    pub async fn job_done_claim_next(
        &self,
        id: i64,
        recipient: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let mut writer = self.writer().await;
        let connection = writer.connection()?;
        sqlx::query(outbox::DONE).bind(id).bind(stored_time(now)).execute(&mut *connection).await?;
        let row = sqlx::query(AssertSqlSafe(outbox::CLAIM_NEXT.as_str()))
            .bind(recipient)
            .bind(stored_time(now))
            .bind(stored_time(until))
            .fetch_optional(&mut *connection)
            .await?;
        row.as_ref().map(outbox::job_from).transpose()
    }

    pub async fn job_done(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        sqlx::query(outbox::DONE).bind(id).bind(stored_time(now)).execute(writer.connection()?).await?;
        Ok(())
    }

    pub async fn job_failed(
        &self,
        id: i64,
        status: JobStatus,
        retry_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        sqlx::query(outbox::FAILED)
            .bind(id)
            .bind(status.as_str())
            .bind(stored_time(retry_at))
            .bind(error)
            .bind(stored_time(now))
            .execute(writer.connection()?)
            .await?;
        Ok(())
    }

    pub async fn list_jobs(&self, filter: JobFilter, limit: i64) -> Result<Vec<Job>, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(AssertSqlSafe(outbox::LIST.as_str()))
            .bind(filter.as_str())
            .bind(limit)
            .fetch_all(writer.connection()?)
            .await?;
        rows.iter().map(outbox::job_from).collect()
    }

    pub async fn retry_dead_jobs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query(outbox::RETRY_DEAD).bind(stored_time(now)).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    pub async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query(outbox::RETRY).bind(id).bind(stored_time(now)).execute(writer.connection()?).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn drop_job(&self, id: i64) -> Result<bool, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query(outbox::DROP).bind(id).execute(writer.connection()?).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn record_sent(&self, record: SentStatus<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        sent::record_query::<Sqlite>(record, now).execute(writer.connection()?).await?;
        Ok(())
    }

    pub async fn cleanup_delivered(
        &self,
        jobs_before: DateTime<Utc>,
        statuses_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let connection = writer.connection()?;
        let jobs =
            sqlx::query(sent::CLEANUP_DONE_JOBS).bind(stored_time(jobs_before)).execute(&mut *connection).await?;
        let sent = sqlx::query(sent::CLEANUP_SENT).bind(stored_time(statuses_before)).execute(&mut *connection).await?;
        Ok(jobs.rows_affected() + sent.rows_affected())
    }

    /// Possible collisions recorded so far.
    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        let mut writer = self.writer().await;
        let row = sqlx::query("SELECT COUNT(*) FROM uic_collisions").fetch_one(writer.connection()?).await?;
        Ok(row.try_get(0)?)
    }

    /// `(id, record)` of the codes matching `filter` (see [`super::uic_query`]).
    pub async fn uics(
        &self,
        filter: &UicFilter,
        after: Option<UicCursor>,
        newest_first: bool,
        limit: u32,
    ) -> Result<Vec<(i64, UicRecord)>, StoreError> {
        let mut writer = self.writer().await;
        let mut query = super::uic_query::<Sqlite>(filter, after, newest_first, limit);
        let rows = query.build().fetch_all(writer.connection()?).await?;
        rows.iter().map(super::uic_row).collect()
    }

    /// Figures per UTC day of `[start, end)` and for the whole period.
    pub async fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Report, StoreError> {
        let mut writer = self.writer().await;
        let connection = writer.connection()?;
        // Stored times are RFC 3339 in UTC: DATE() of one is its UTC day.
        let code_days = sqlx::query(
            "SELECT DATE(created_at) AS day, COUNT(*) AS codes, COUNT(DISTINCT phone_number) AS phones,
                    CAST(COALESCE(SUM(request_count - 1), 0) AS BIGINT) AS repeats
             FROM uic_records WHERE created_at >= $1 AND created_at < $2
             GROUP BY DATE(created_at) ORDER BY day",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *connection)
        .await?;
        let collision_days = sqlx::query(
            "SELECT DATE(created_at) AS day, COUNT(*) AS collisions
             FROM uic_collisions WHERE created_at >= $1 AND created_at < $2
             GROUP BY DATE(created_at) ORDER BY day",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *connection)
        .await?;
        let totals = sqlx::query(super::REPORT_TOTALS).bind(start).bind(end).fetch_one(&mut *connection).await?;
        super::report_from(&totals, &code_days, &collision_days)
    }

    /// Copies the database into a new file (`VACUUM INTO`): a consistent
    /// snapshot, taken while others may write. Fails if the file exists.
    pub async fn backup_into(&self, path: &Path) -> Result<(), StoreError> {
        // Absolute, so that SQLite never reads it as a `file:` URI.
        let target = std::path::absolute(path)
            .ok()
            .and_then(|path| path.to_str().map(str::to_string))
            .ok_or_else(|| StoreError::Unsupported(format!("{}: not a usable backup path", path.display())))?;
        let mut writer = self.writer().await;
        // The file name is bound, never spliced into the SQL.
        sqlx::query("VACUUM INTO $1").bind(target).execute(writer.connection()?).await?;
        Ok(())
    }
}

/// WAL frames (4 KiB pages) past which the log is made to start over: 16 MiB.
const WAL_RESTART_FRAMES: i64 = 4_096;

/// Moves the WAL into the database file every second, off the writer's path
/// (passive checkpoints on the pool's connection). Under steady writes a
/// passive checkpoint never catches up, so when the log has grown it runs
/// twice more, the last time holding the writer: by then only a few frames
/// are left, and the next write starts the log over (cut back to
/// `journal_size_limit`). Runs until the store is closed.
async fn checkpoint_periodically(pool: SqlitePool, writer: Arc<Mutex<Writer>>) {
    let passive = || async {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await?;
        Ok::<i64, sqlx::Error>(row.try_get::<i64, _>(1).unwrap_or(0))
    };
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    while !pool.is_closed() {
        interval.tick().await;
        let result = match passive().await {
            Ok(frames) if frames > WAL_RESTART_FRAMES => match passive().await {
                Ok(_) => {
                    let _writer = writer.lock().await;
                    passive().await
                }
                error => error,
            },
            other => other,
        };
        if let Err(error) = result
            && !pool.is_closed()
        {
            tracing::warn!(error = %error, "WAL checkpoint failed; will try again");
        }
    }
}

/// Upserts the session of `$1`; `$2`..`$9` are its fields.
const UPSERT_SESSION: &str = "INSERT INTO conversation_sessions
       (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts, started_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (phone_number) DO UPDATE SET
       flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
       current_step = excluded.current_step, answers = excluded.answers,
       invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
       updated_at = excluded.updated_at";
const DELETE_SESSION: &str = "DELETE FROM conversation_sessions WHERE phone_number = $1";
/// The session of `$3` and the replies already given to message `$2` of channel `$1`.
const START: &str = "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
            s.invalid_attempts, s.started_at, s.updated_at
     FROM (SELECT 1) AS here
     LEFT JOIN processed_messages p ON p.channel = $1 AND p.message_id = $2
     LEFT JOIN conversation_sessions s ON s.phone_number = $3";

impl SqliteTurn {
    fn writer(&mut self) -> &mut Writer {
        self.writer.as_mut().expect("the writer is held until drop")
    }

    /// `BEGIN IMMEDIATE;` to put before the next statement, if the transaction
    /// has not begun: beginning costs no round trip of its own.
    fn begin_prefix(&mut self) -> &'static str {
        let writer = self.writer();
        if writer.in_transaction {
            ""
        } else {
            // Set first: if BEGIN fails, the rollback that follows is harmless.
            writer.in_transaction = true;
            "BEGIN IMMEDIATE;\n"
        }
    }

    /// Reads the session and, for a message with a provider id, whether it was
    /// processed before. Takes the write lock.
    pub async fn start(&mut self, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError> {
        let (channel, message_id) = message.unwrap_or(("", ""));
        let sql = format!("{}{START}", self.begin_prefix());
        let phone = self.phone.clone();
        let row =
            // Only constants of this file are joined: safe.
        sqlx::query(AssertSqlSafe(sql)).bind(channel).bind(message_id).bind(phone).fetch_one(self.writer().connection()?).await?;
        let replayed = match row.try_get::<Option<String>, _>("replies")? {
            Some(replies) => Some(
                serde_json::from_str(&replies)
                    .map_err(|error| super::error::corrupt_json(format!("{channel} replies"), &error))?,
            ),
            None => None,
        };
        Ok(TurnStart { replayed, session: super::session_from(&row) })
    }

    /// Writes the session (or removes it), marks the message processed and
    /// adds the turn's outbox jobs, then commits: one round trip.
    pub async fn finish_and_commit(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(session, processed, jobs, now, true).await
    }

    /// Writes the session (or removes it) and marks the message processed.
    pub async fn finish(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(session, processed, &[], now, false).await
    }

    async fn write(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
        commit: bool,
    ) -> Result<(), StoreError> {
        let mut sql = self.begin_prefix().to_string();
        sql.push_str(if session.is_some() { UPSERT_SESSION } else { DELETE_SESSION });
        // Parameters are numbered in the order they are bound: the phone, the
        // session's 8 fields, the processed message's 4, each job's 4.
        let mut next = if session.is_some() { 10 } else { 2 };
        let mut numbered = |count: usize| {
            let first = next;
            next += count;
            first
        };
        if processed.is_some() {
            let n = numbered(4);
            sql.push_str(&format!(
                ";\nINSERT INTO processed_messages (channel, message_id, replies, created_at) VALUES (${n}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3
            ));
        }
        for _ in jobs {
            let n = numbered(4);
            sql.push_str(&format!(";\n{}", outbox::enqueue_sql(n)));
        }
        if commit {
            sql.push_str(";\nCOMMIT");
        }
        // Only constants of this file are joined: safe.
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(self.phone.clone());
        if let Some(session) = session {
            let answers = serde_json::to_string(&session.answers).expect("a map of strings serialises");
            query = query
                .bind(&session.flow_id)
                .bind(i64::from(session.flow_version))
                .bind(&session.language)
                .bind(&session.current_step)
                .bind(answers)
                .bind(i64::from(session.invalid_attempts))
                .bind(stored_time(session.started_at))
                .bind(stored_time(session.updated_at));
        }
        if let Some(processed) = processed {
            let replies = serde_json::to_string(processed.replies).expect("replies serialise");
            query = query.bind(processed.channel).bind(processed.message_id).bind(replies).bind(stored_time(now));
        }
        for job in jobs {
            query = query.bind(job.kind).bind(job.recipient).bind(job.payload).bind(stored_time(now));
        }
        query.execute(self.writer().connection()?).await?;
        if commit {
            self.writer().in_transaction = false;
        }
        Ok(())
    }

    /// Adds a job in this turn's transaction: it exists only if the turn commits.
    pub async fn enqueue(&mut self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let connection = self.begun().await?;
        enqueue_query(job, now).execute(connection).await?;
        Ok(())
    }

    /// The connection, inside the transaction.
    async fn begun(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        let prefix = self.begin_prefix();
        let connection = self.writer().connection()?;
        if !prefix.is_empty() {
            connection.execute("BEGIN IMMEDIATE").await?;
        }
        Ok(connection)
    }

    /// Records a completed code: the same answers find their record again;
    /// other answers that made an existing code are noted as a possible collision.
    pub async fn register(&mut self, completion: &Completion, now: DateTime<Utc>) -> Result<Registration, StoreError> {
        let now = stored_time(now);
        let phone = self.phone.clone();
        let connection = self.begun().await?;
        let same_answers = sqlx::query(
            "UPDATE uic_records SET request_count = request_count + 1, last_requested_at = $1 WHERE duplicate_key = $2",
        )
        .bind(now)
        .bind(&completion.duplicate_key)
        .execute(&mut *connection)
        .await?;
        if same_answers.rows_affected() > 0 {
            return Ok(Registration::SameAnswers);
        }
        let same_code = sqlx::query("SELECT 1 FROM uic_records WHERE uic_code = $1 LIMIT 1")
            .bind(&completion.uic)
            .fetch_optional(&mut *connection)
            .await?;
        if same_code.is_some() {
            sqlx::query(
                "INSERT INTO uic_collisions (uic_code, flow_id, duplicate_key, phone_number, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&completion.uic)
            .bind(&completion.flow_id)
            .bind(&completion.duplicate_key)
            .bind(&phone)
            .bind(now)
            .execute(&mut *connection)
            .await?;
            return Ok(Registration::SameCode);
        }
        sqlx::query(
            "INSERT INTO uic_records
               (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at, last_requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&completion.uic)
        .bind(&completion.duplicate_key)
        .bind(&phone)
        .bind(&completion.flow_id)
        .bind(i64::from(completion.flow_version))
        .bind(&completion.formula_fingerprint)
        .bind(now)
        .execute(&mut *connection)
        .await?;
        Ok(Registration::New)
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let writer = self.writer();
        if writer.in_transaction {
            writer.connection()?.execute("COMMIT").await?;
            writer.in_transaction = false;
        }
        Ok(())
    }
}

fn enqueue_query<'q>(
    job: NewJob<'q>,
    now: DateTime<Utc>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(AssertSqlSafe(outbox::ENQUEUE.as_str()))
        .bind(job.kind)
        .bind(job.recipient)
        .bind(job.payload)
        .bind(stored_time(now))
}
