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
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Executor, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::group_commit::GroupCommit;
use super::outbox::{self, Job, JobCount, JobFilter, Kinds, NewJob};
use super::registrations::{self, Requeued, Unregistered};
use super::sent::{self, SentStatus};
use super::wal_sync::{self, WalSync};
use super::{
    Collisions, DatabaseUrl, FlowStatistics, Processed, Report, StoreError, TurnStart, UicCursor, UicFilter, UicRecord,
    at_time, codes, maintenance, sessions, statistics,
};
use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration, Session};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// [`codes::NEW_QR_TOKEN_SQLITE`] lowering `synchronous` first (`Writer::relaxing`).
static NEW_QR_TOKEN_RELAXING: LazyLock<String> =
    LazyLock::new(|| format!("{}{}", wal_sync::RELAX, codes::NEW_QR_TOKEN_SQLITE));

/// The migrated database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// For SQL from outside the store (tests, operator queries).
    pool: SqlitePool,
    writer: Arc<Mutex<Writer>>,
    /// Turns waiting for the writer, run in batches (`group_commit`).
    group_commit: Arc<GroupCommit>,
    /// When commits are synced (`synchronous=full`, a file): the WAL, which
    /// batches of turns sync beside the writer (`wal_sync`).
    wal_sync: Option<Arc<WalSync>>,
}

/// The connection every store operation uses, and whether a transaction left
/// open by a turn that failed half-way must be rolled back first.
#[derive(Debug)]
pub(super) struct Writer {
    /// `None` once the store is closed.
    connection: Option<SqliteConnection>,
    pub(super) in_transaction: bool,
    /// `synchronous` lowered to `NORMAL` for batches of turns, whose WAL is
    /// synced beside (`wal_sync`); set back to `FULL` before any other use.
    pub(super) relaxed: bool,
}

impl Writer {
    pub(super) fn connection(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.connection.as_mut().ok_or_else(|| sqlx::Error::PoolClosed.into())
    }

    /// Rolls back what a dropped turn left open.
    pub(super) async fn settle(&mut self) {
        if self.in_transaction {
            if let Some(connection) = self.connection.as_mut() {
                // "No transaction is active" (when BEGIN itself failed) is fine.
                let _ = connection.execute("ROLLBACK").await;
            }
            self.in_transaction = false;
        }
    }

    /// The statement to run for a write synced beside the writer when
    /// `relax` (a [`WalSync`] is in use): `relaxing`, the same lowering
    /// `synchronous` first, unless it is lowered already. Marks it lowered
    /// before the statement runs: setting it back when it was not is harmless.
    pub(super) fn relaxing<'q>(&mut self, relax: bool, plain: &'q str, relaxing: &'q str) -> &'q str {
        let statement = if relax && !self.relaxed { relaxing } else { plain };
        self.relaxed |= relax;
        statement
    }

    /// Syncs every commit again, after batches of turns (`relaxed`).
    async fn restore_sync(&mut self) {
        if self.relaxed
            && let Some(connection) = self.connection.as_mut()
        {
            match connection.execute("PRAGMA synchronous = FULL").await {
                Ok(_) => self.relaxed = false,
                // Only a closed connection refuses it; then nothing commits.
                Err(error) => tracing::warn!(error = %error, "could not set synchronous back to FULL"),
            }
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
        let mut synced = false;
        let options = if in_memory {
            // A named, shared in-memory database, so the writer and the pool see
            // the same one; it lives as long as the writer's connection.
            SqliteConnectOptions::from_str(&format!(
                "sqlite:file:uic-{}?mode=memory&cache=shared",
                crate::support::ids::token()
            ))?
        } else {
            create_private_database(url.secret());
            let (url, synchronous) = durability(url.secret())?;
            synced = synchronous == SqliteSynchronous::Full;
            SqliteConnectOptions::from_str(&url)?.journal_mode(SqliteJournalMode::Wal).synchronous(synchronous)
        };
        // `secure_delete`: what a DELETE or UPDATE frees (an ended
        // conversation's answers) is overwritten with zeros, not left in free
        // space for anyone who reads the file; the WAL is emptied by
        // `checkpoint_periodically`.
        // `temp_store`: the copies of pages a statement keeps to undo itself
        // (the statement journal) stay in memory. By default a journal past
        // 64 KiB, as most batches of turns make, goes to a temporary file:
        // pages of people's answers written to the disk's free space, and a
        // file created, written and deleted for three batches in four, some
        // 15 % of a batch's writing time.
        let options = options
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("secure_delete", "on")
            .pragma("temp_store", "memory");
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
        // would wait for. The pool's connection does it beside, four times a
        // second. When the WAL starts over, SQLite cuts its file to the
        // journal size limit: cut small (16 MB) under load, the file grew
        // again past it every time, and the kernel's zeroing and allocating
        // of new blocks for each frame took some 10 % of the server's CPU.
        // The file is emptied anyway once writes stop (`checkpoint_periodically`).
        let connection = SqliteConnection::connect_with(
            &options.clone().pragma("wal_autocheckpoint", "0").pragma("journal_size_limit", WAL_SIZE_LIMIT),
        )
        .await?;
        let writer =
            Arc::new(Mutex::new(Writer { connection: Some(connection), in_transaction: false, relaxed: false }));
        if !in_memory {
            tokio::spawn(checkpoint_periodically(pool.clone(), writer.clone()));
        }
        let wal_sync = synced.then(|| WalSync::open(options.get_filename())).flatten().map(Arc::new);
        Ok(SqliteStore { pool, writer, group_commit: Arc::default(), wal_sync })
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

    pub(super) fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// The WAL that batches of turns sync beside the writer, if they do.
    pub(super) fn wal_sync(&self) -> Option<&Arc<WalSync>> {
        self.wal_sync.as_ref()
    }

    /// The writer, with anything a dropped turn left open rolled back, and
    /// syncing every commit.
    pub(super) async fn writer(&self) -> OwnedMutexGuard<Writer> {
        let mut writer = self.batch_writer().await;
        writer.restore_sync().await;
        writer
    }

    /// The writer for a batch of turns: as [`SqliteStore::writer`], but
    /// `synchronous` may still be lowered from the batch before.
    pub(super) async fn batch_writer(&self) -> OwnedMutexGuard<Writer> {
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
        sqlx::query(maintenance::PING).execute(writer.connection()?).await?;
        Ok(())
    }

    /// `/health`'s write, committed on its own (autocommit) through the writer.
    pub async fn probe_write(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        at_time::<Sqlite>(maintenance::PROBE_WRITE, now).execute(writer.connection()?).await?;
        Ok(())
    }

    /// Counts the sessions idle since before `cutoff` as expired on the day
    /// of `now`, then deletes them, in one transaction; returns how many.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        writer.connection()?.execute("BEGIN IMMEDIATE").await?;
        // Rolled back by the next use of the writer if anything below fails.
        writer.in_transaction = true;
        statistics::expire_sessions::<Sqlite>(statistics::EXPIRE_SESSIONS_SQLITE, cutoff, now)
            .execute(writer.connection()?)
            .await?;
        let done = at_time::<Sqlite>(maintenance::CLEANUP_SESSIONS, cutoff).execute(writer.connection()?).await?;
        writer.connection()?.execute("COMMIT").await?;
        writer.in_transaction = false;
        Ok(done.rows_affected())
    }

    /// Removes processed message ids recorded before `cutoff`; returns how many.
    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = at_time::<Sqlite>(maintenance::CLEANUP_PROCESSED, cutoff).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    /// Empties the replies stored before `cutoff`; returns how many.
    pub async fn forget_replies_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = at_time::<Sqlite>(sessions::FORGET_REPLIES_BEFORE, cutoff).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    /// The unguessable token naming the QR image of a code, made on first use
    /// and again once the last one was made before `valid_since` (expired).
    /// Read first: most codes asked for again have one, and a read needs no
    /// write transaction.
    pub async fn qr_token(
        &self,
        uic: &str,
        now: DateTime<Utc>,
        valid_since: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        // A completion's reply waits for its link: written as a batch of turns
        // is, not synced on the writer's path, which the next turns wait for.
        let mut writer = self.batch_writer().await;
        let existing = codes::with_time::<Sqlite>(codes::QR_TOKEN_OF, uic, valid_since)
            .fetch_optional(writer.connection()?)
            .await?;
        if let Some(row) = existing {
            return Ok(row.try_get(0)?);
        }
        writer.in_transaction = true;
        let sql = writer.relaxing(self.wal_sync.is_some(), codes::NEW_QR_TOKEN_SQLITE, &NEW_QR_TOKEN_RELAXING);
        let rows = sqlx::query(sql)
            .bind(uic)
            .bind(super::stored_time(valid_since))
            .bind(crate::support::ids::token())
            .bind(super::stored_time(now))
            .fetch_all(writer.connection()?)
            .await?;
        writer.in_transaction = false;
        drop(writer);
        if let Some(wal) = &self.wal_sync {
            wal.sync().await.map_err(sqlx::Error::Io)?;
        }
        let row = rows.first().ok_or_else(|| StoreError::Corrupt {
            what: "QR link".to_string(),
            detail: "no valid token after making one".to_string(),
        })?;
        Ok(row.try_get(0)?)
    }

    /// The code a QR token names, if the token was made since `valid_since`.
    pub async fn qr_code(&self, token: &str, valid_since: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let mut writer = self.writer().await;
        let row = codes::with_time::<Sqlite>(codes::QR_CODE_OF, token, valid_since)
            .fetch_optional(writer.connection()?)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// Removes the QR tokens made before `cutoff`; returns how many.
    pub async fn cleanup_qr_codes(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = at_time::<Sqlite>(codes::CLEANUP_QR, cutoff).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    /// Sessions updated since `since` (the active ones).
    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut writer = self.writer().await;
        let row = at_time::<Sqlite>(maintenance::COUNT_SESSIONS_SINCE, since).fetch_one(writer.connection()?).await?;
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
            sqlx::query(maintenance::APPLIED_MIGRATIONS)
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
        let row = codes::formulas_of_version::<Sqlite>(flow_id, version).fetch_one(writer.connection()?).await?;
        codes::other_formula(&row, fingerprint)
    }

    /// Adds a job outside any turn.
    pub async fn enqueue(&self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        outbox::enqueue::<Sqlite>(job, now).execute(writer.connection()?).await?;
        Ok(())
    }

    /// Claims due jobs until `until` (see [`outbox::CLAIM_SQLITE`]).
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
        kinds: Kinds,
    ) -> Result<Vec<Job>, StoreError> {
        let mut writer = self.writer().await;
        let rows = outbox::claim::<Sqlite>(outbox::CLAIM_SQLITE.as_str(), now, until, limit, kinds)
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
        outbox::done::<Sqlite>(id, now).execute(&mut *connection).await?;
        let row = outbox::claim_next::<Sqlite>(recipient, now, until).fetch_optional(&mut *connection).await?;
        row.as_ref().map(outbox::job_from).transpose()
    }

    pub async fn job_done(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        outbox::done::<Sqlite>(id, now).execute(writer.connection()?).await?;
        Ok(())
    }

    pub async fn job_failed(
        &self,
        id: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        outbox::failed::<Sqlite>(id, retry_at, error, now).execute(writer.connection()?).await?;
        Ok(())
    }

    pub async fn list_jobs(&self, filter: JobFilter, limit: i64) -> Result<Vec<Job>, StoreError> {
        let mut writer = self.writer().await;
        let rows = outbox::list::<Sqlite>(filter, limit).fetch_all(writer.connection()?).await?;
        rows.iter().map(outbox::job_from).collect()
    }

    pub async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(outbox::SUMMARY).fetch_all(writer.connection()?).await?;
        rows.iter().map(outbox::job_count).collect()
    }

    pub async fn retry_dead_jobs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = outbox::retry_dead::<Sqlite>(now).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    pub async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut writer = self.writer().await;
        let done = outbox::retry::<Sqlite>(id, now).execute(writer.connection()?).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn job_paused(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        outbox::paused::<Sqlite>(id, at, error, now).execute(writer.connection()?).await?;
        Ok(())
    }

    pub async fn forget_dead_jobs(&self, before: DateTime<Utc>, keep_kind: &str) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query(outbox::FORGET_DEAD)
            .bind(super::stored_time(before))
            .bind(keep_kind)
            .execute(writer.connection()?)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn settle_unsure(
        &self,
        kind: &str,
        recipient: &str,
        channel: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut writer = self.writer().await;
        let row = outbox::settle_unsure::<Sqlite>(kind, recipient, channel, message_id, now)
            .fetch_optional(writer.connection()?)
            .await?;
        Ok(row.map(|row| row.try_get("id")).transpose()?)
    }

    pub async fn release_claims(&self) -> Result<u64, StoreError> {
        let mut writer = self.writer().await;
        let done = sqlx::query(outbox::RELEASE_CLAIMS).execute(writer.connection()?).await?;
        Ok(done.rows_affected())
    }

    pub async fn drop_job(&self, id: i64) -> Result<bool, StoreError> {
        let mut writer = self.writer().await;
        let done = outbox::drop_job::<Sqlite>(id).execute(writer.connection()?).await?;
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
        let jobs = at_time::<Sqlite>(sent::CLEANUP_DONE_JOBS, jobs_before).execute(&mut *connection).await?;
        let sent = at_time::<Sqlite>(sent::CLEANUP_SENT, statuses_before).execute(&mut *connection).await?;
        Ok(jobs.rows_affected() + sent.rows_affected())
    }

    /// Records what DHIS2 answered for `uic`.
    pub async fn set_registration(&self, uic: &str, state: &RegistrationState) -> Result<(), StoreError> {
        let mut writer = self.writer().await;
        registrations::set_state::<Sqlite>(uic, state).execute(writer.connection()?).await?;
        Ok(())
    }

    /// Codes since `since` that are not registered nor on their way.
    pub async fn unregistered(&self, since: DateTime<Utc>) -> Result<Vec<Unregistered>, StoreError> {
        let mut writer = self.writer().await;
        let rows = at_time::<Sqlite>(registrations::TO_RESYNC, since).fetch_all(writer.connection()?).await?;
        rows.iter().map(registrations::unregistered).collect()
    }

    /// Queues `uic`'s registration again, in one transaction (see [`registrations::requeue`]).
    pub async fn requeue_registration(
        &self,
        uic: &str,
        job: Option<NewJob<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Requeued>, StoreError> {
        let mut writer = self.writer().await;
        writer.connection()?.execute("BEGIN IMMEDIATE").await?;
        // Rolled back by the next use of the writer if anything below fails.
        writer.in_transaction = true;
        let outcome = registrations::requeue::<Sqlite>(writer.connection()?, uic, job, now).await?;
        writer.connection()?.execute("COMMIT").await?;
        writer.in_transaction = false;
        Ok(outcome)
    }

    /// DHIS2's errors on refused codes, with how many codes each.
    pub async fn registration_failures(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(registrations::FAILURES).fetch_all(writer.connection()?).await?;
        rows.iter().map(|row| Ok((row.try_get("error")?, row.try_get("codes")?))).collect()
    }

    /// Codes with possible collisions since `since`, with how many.
    pub async fn collided_codes(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>, StoreError> {
        let mut writer = self.writer().await;
        let rows = at_time::<Sqlite>(codes::COLLIDED_CODES, since).fetch_all(writer.connection()?).await?;
        rows.iter().map(|row| Ok((row.try_get("label")?, row.try_get("n")?))).collect()
    }

    /// Codes with possible collisions, newest collision first, and the totals.
    pub async fn collisions(&self, limit: i64) -> Result<Collisions, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(codes::COLLISIONS).bind(limit).fetch_all(writer.connection()?).await?;
        let totals = sqlx::query(codes::COLLISION_TOTALS).fetch_one(writer.connection()?).await?;
        Ok(Collisions {
            codes: rows.iter().map(codes::collision_row).collect::<Result<_, _>>()?,
            total_codes: totals.try_get("codes")?,
            total_times: totals.try_get("times")?,
        })
    }

    /// The codes a formula issued, with how many people hold each.
    pub async fn codes_of_formula(&self, fingerprint: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut writer = self.writer().await;
        let rows = sqlx::query(codes::CODES_OF_FORMULA).bind(fingerprint).fetch_all(writer.connection()?).await?;
        rows.iter().map(|row| Ok((row.try_get("uic_code")?, row.try_get("people")?))).collect()
    }

    /// Possible collisions recorded so far.
    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        let mut writer = self.writer().await;
        let row = sqlx::query(codes::COUNT_COLLISIONS).fetch_one(writer.connection()?).await?;
        Ok(row.try_get(0)?)
    }

    /// `(id, record)` of the codes matching `filter` (see [`codes::uic_query`]).
    pub async fn uics(
        &self,
        filter: &UicFilter,
        after: Option<UicCursor>,
        newest_first: bool,
        limit: u32,
    ) -> Result<Vec<(i64, UicRecord)>, StoreError> {
        let mut writer = self.writer().await;
        let mut query = codes::uic_query::<Sqlite>(filter, after, newest_first, limit);
        let rows = query.build().fetch_all(writer.connection()?).await?;
        rows.iter().map(codes::uic_row).collect()
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
        let totals = sqlx::query(codes::REPORT_TOTALS).bind(start).bind(end).fetch_one(&mut *connection).await?;
        codes::report_from(&totals, &code_days, &collision_days)
    }

    /// The dashboard's counters of the days `[from, until)`.
    pub async fn flow_statistics(&self, from: NaiveDate, until: NaiveDate) -> Result<FlowStatistics, StoreError> {
        let mut writer = self.writer().await;
        let rows = statistics::period::<Sqlite>(from, until).fetch_all(writer.connection()?).await?;
        statistics::statistics_from(&rows)
    }

    /// Copies the database into a new file (`VACUUM INTO`): a consistent
    /// snapshot, taken while others may write. Fails if the file exists.
    pub async fn backup_into(&self, path: &Path) -> Result<(), StoreError> {
        // Absolute, so that SQLite never reads it as a `file:` URI.
        let target = std::path::absolute(path)
            .ok()
            .and_then(|path| path.to_str().map(str::to_string))
            .ok_or_else(|| StoreError::Unsupported(format!("{}: not a usable backup path", path.display())))?;
        // Made first, empty and readable by its owner only (VACUUM INTO fills
        // an empty file and keeps its permissions); never over a file that exists.
        crate::support::files::create_private_file(Path::new(&target)).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => {
                StoreError::Unsupported(format!("{}: already exists; a backup never overwrites a file", path.display()))
            }
            _ => StoreError::Folder { path: path.to_path_buf(), source: error },
        })?;
        let mut writer = self.writer().await;
        // The file name is bound, never spliced into the SQL.
        let done = sqlx::query("VACUUM INTO $1").bind(target.as_str()).execute(writer.connection()?).await;
        if let Err(error) = done {
            let _ = std::fs::remove_file(&target);
            return Err(error.into());
        }
        Ok(())
    }
}

/// How durable a commit is: `?synchronous=full` (the default) or
/// `?synchronous=normal` at the end of `DATABASE_URL`, taken off the URL
/// before sqlx reads it.
///
/// `full` syncs the WAL at every commit, so a turn answered is on disk even
/// if the machine loses power the moment after: a person is never sent a
/// code that is then missing from the records (and from DHIS2). Group commit
/// makes it affordable (one sync per batch of turns, not per turn).
/// `normal` syncs only at checkpoints (four times a second): faster under
/// heavy load, and still never corrupt, but a power cut can roll back the
/// last turns, up to a quarter of a second of them. A `kill -9` loses nothing either way.
fn durability(url: &str) -> Result<(String, SqliteSynchronous), StoreError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), SqliteSynchronous::Full)) };
    let mut synchronous = SqliteSynchronous::Full;
    let mut kept = Vec::new();
    for parameter in query.split('&').filter(|parameter| !parameter.is_empty()) {
        match parameter.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("synchronous") => {
                synchronous = match value.to_ascii_lowercase().as_str() {
                    "full" => SqliteSynchronous::Full,
                    "normal" => SqliteSynchronous::Normal,
                    _ => {
                        return Err(StoreError::Unsupported(format!(
                            "DATABASE_URL: `synchronous={value}` is not full or normal"
                        )));
                    }
                };
            }
            _ => kept.push(parameter),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, synchronous))
}

/// How often the WAL is copied into the database file; with turns coming
/// all the time, how often it starts over.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How long writes stop before the WAL file is cut to nothing.
const QUIET_BEFORE_CUT: Duration = Duration::from_secs(1);

/// The size SQLite cuts the WAL file back to when it starts over (64 MB):
/// more than a quarter of a second of writes at full speed, so that the file
/// is overwritten in place rather than grown again.
const WAL_SIZE_LIMIT: &str = "67108864";

/// Moves the WAL into the database file every [`CHECKPOINT_EVERY`], mostly
/// off the writer's path, and empties the WAL file once writes stop.
///
/// - A passive checkpoint on the pool's connection copies what the WAL holds
///   while turns go on writing. The WAL starts over (from its beginning) only
///   when a write transaction begins with all of it copied, which under
///   steady writes never happens by itself: the WAL grew without end (420 MB
///   in 12 s at 1,000 turns a second). So a second checkpoint follows between
///   two of the writer's transactions, holding the writer for the few frames
///   written meanwhile. That costs a turn a millisecond or two now and then;
///   holding the writer for the whole copy (SQLite's own autocheckpoint) cost
///   tens. Every second, the WAL grew to some 50 MB under full load and its
///   copy held the writer longer; every quarter second, it stays small and in
///   the kernel's cache (paced p99 at 1,000 turns/s: 6–14 ms → 3 ms).
/// - A WAL keeps old versions of pages (the answers of conversations since
///   ended) until they are overwritten or cut, and `secure_delete` only clears
///   the database file: once there has been no new write for
///   [`QUIET_BEFORE_CUT`], the WAL file is cut to nothing (`TRUNCATE`, holding
///   the writer, which nobody is waiting for then).
///
/// Runs until the store is closed.
async fn checkpoint_periodically(pool: SqlitePool, writer: Arc<Mutex<Writer>>) {
    let mut interval = tokio::time::interval(CHECKPOINT_EVERY);
    let mut frames_before = 0;
    let mut written_at = tokio::time::Instant::now();
    while !pool.is_closed() {
        interval.tick().await;
        let result = async {
            let (mut frames, mut done) = checkpoint(&pool, Checkpoint::Passive).await?;
            let written = frames != frames_before;
            if written {
                written_at = tokio::time::Instant::now();
            }
            let quiet = written_at.elapsed() >= QUIET_BEFORE_CUT;
            if frames > 0 && written {
                // Between two transactions of the writer, so that the next one
                // finds the WAL all copied: only then does it start it over.
                let _writer = writer.lock().await;
                (frames, done) = checkpoint(&pool, Checkpoint::Passive).await?;
            }
            frames_before = frames;
            if frames > 0 && done == frames && quiet {
                // Holding the writer: no turn of this process is writing, so
                // the cut waits for nobody here (and for nobody elsewhere: see
                // `checkpoint`); everything is copied already.
                let _writer = writer.lock().await;
                checkpoint(&pool, Checkpoint::Truncate).await?;
                frames_before = 0;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(error) = result
            && !pool.is_closed()
        {
            tracing::warn!(error = %error, "WAL checkpoint failed; will try again");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    /// Copies what it can without waiting for anyone.
    Passive,
    /// Copies everything, then cuts the WAL file to nothing.
    Truncate,
}

/// `PRAGMA wal_checkpoint` on the pool's connection: the frames in the WAL
/// and how many of them are in the database file. A `TRUNCATE` that another
/// process's reader or writer holds up gives up at once (busy timeout 0)
/// rather than hold the writer; the next second tries again.
async fn checkpoint(pool: &SqlitePool, mode: Checkpoint) -> Result<(i64, i64), sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let row = match mode {
        Checkpoint::Passive => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *connection).await,
        Checkpoint::Truncate => {
            connection.execute("PRAGMA busy_timeout = 0").await?;
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *connection).await;
            connection.execute("PRAGMA busy_timeout = 10000").await?;
            row
        }
    }?;
    Ok((row.try_get::<i64, _>(1).unwrap_or(0), row.try_get::<i64, _>(2).unwrap_or(0)))
}

/// Creates the database file of `url`, empty and readable by its owner only,
/// unless it exists: SQLite would make it with the process's umask (often
/// readable by all), and gives the `-wal` and `-shm` files the same
/// permissions as the database file.
fn create_private_database(url: &str) {
    if let Some(path) = super::sqlite_path(url) {
        // It exists (fine), or its folder is missing and the like: then
        // SQLite's own error, when it opens the file, says it better.
        let _ = crate::support::files::create_private_file(Path::new(path));
    }
}

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
        // Only constants of the store are joined: safe.
        let sql = AssertSqlSafe(format!("{}{}", self.begin_prefix(), sessions::START));
        let start = sessions::start::<Sqlite>(sql, message, &self.phone);
        let row = start.fetch_one(self.writer().connection()?).await?;
        sessions::turn_start(&row, message)
    }

    /// Writes the session (or removes it) and marks the message processed:
    /// one round trip.
    pub async fn finish(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let statements = sessions::write_statements(session.is_some(), processed.as_ref());
        let mut sql = self.begin_prefix().to_string();
        sql.push_str(&statements.join(";\n"));
        // Only constants of the store are joined: safe.
        let query = sqlx::query(AssertSqlSafe(sql));
        let query = sessions::bind_writes(query, &self.phone, session, processed, now)?;
        query.execute(self.writer().connection()?).await?;
        Ok(())
    }

    /// Adds a job in this turn's transaction: it exists only if the turn commits.
    pub async fn enqueue(&mut self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let connection = self.begun().await?;
        outbox::enqueue::<Sqlite>(job, now).execute(connection).await?;
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

    /// Records a completed code (see [`codes::register`]): SQLite's single
    /// writer already serialises registrations.
    pub async fn register(
        &mut self,
        completion: &Completion,
        to_dhis2: bool,
        now: DateTime<Utc>,
    ) -> Result<Registration, StoreError> {
        let phone = self.phone.clone();
        let connection = self.begun().await?;
        codes::register::<Sqlite>(connection, &phone, completion, to_dhis2, now).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> (String, String) {
        let (url, synchronous) = durability(url).unwrap();
        (url, format!("{synchronous:?}"))
    }

    #[test]
    fn commits_are_synced_unless_the_url_says_normal() {
        let file = "sqlite:///var/lib/uic/uic.db";
        assert_eq!(mode(file), (file.into(), "Full".into()));
        assert_eq!(mode(&format!("{file}?synchronous=normal")), (file.into(), "Normal".into()));
        assert_eq!(
            mode("sqlite://uic.db?mode=rwc&synchronous=FULL"),
            ("sqlite://uic.db?mode=rwc".into(), "Full".into())
        );
        assert_eq!(
            mode("sqlite://uic.db?synchronous=normal&mode=rwc"),
            ("sqlite://uic.db?mode=rwc".into(), "Normal".into())
        );
        let error = durability("sqlite://uic.db?synchronous=off").unwrap_err().to_string();
        assert_eq!(error, "DATABASE_URL: `synchronous=off` is not full or normal");
    }

    #[tokio::test]
    async fn what_a_statement_keeps_to_undo_itself_stays_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/uic.db", dir.path().display());
        let store = SqliteStore::connect(DatabaseUrl::parse(&url).unwrap(), true).await.unwrap();
        // 2: MEMORY (the default, 0, follows the build: a file here).
        let mut writer = store.writer().await;
        let row = sqlx::query("PRAGMA temp_store").fetch_one(writer.connection().unwrap()).await.unwrap();
        assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "the writer");
        drop(writer);
        let row = sqlx::query("PRAGMA temp_store").fetch_one(&store.pool).await.unwrap();
        assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "the pool");
        store.close().await;
    }

    #[tokio::test]
    async fn the_database_syncs_as_the_url_says() {
        let dir = tempfile::tempdir().unwrap();
        for (query, expected) in [("", 2), ("?synchronous=normal", 1)] {
            let url = format!("sqlite://{}/uic{expected}.db{query}", dir.path().display());
            let store = SqliteStore::connect(DatabaseUrl::parse(&url).unwrap(), true).await.unwrap();
            let mut writer = store.writer().await;
            let row = sqlx::query("PRAGMA synchronous").fetch_one(writer.connection().unwrap()).await.unwrap();
            assert_eq!(row.try_get::<i64, _>(0).unwrap(), expected, "{url}");
            drop(writer);
            store.close().await;
        }
    }
}
