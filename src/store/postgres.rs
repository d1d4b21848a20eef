//! The PostgreSQL backend, for production: several `uic serve` processes may
//! share one database. A turn takes a transaction-scoped advisory lock on the
//! person's phone number, so one person's messages are handled one at a time
//! across processes while different people's turns run side by side.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use super::outbox::{self, Job, JobFilter, JobStatus, NewJob};
use super::sent::{self, SentStatus};
use super::{DatabaseUrl, Processed, Report, StoreError, TurnStart, UicCursor, UicFilter, UicRecord, stored_time};
use crate::core::engine::{Completion, Registration, Session};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A connection pool with the schema migrated.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// One turn's transaction, holding the person's lock until commit or drop
/// (dropped, it rolls back).
pub struct PgTurn {
    tx: Transaction<'static, Postgres>,
    phone: String,
}

impl PgStore {
    /// Connects and, when asked, applies the migrations.
    pub async fn connect(url: DatabaseUrl<'_>, migrate: bool) -> Result<PgStore, StoreError> {
        let url = url.secret();
        // One direct connection first: its error says why (refused, unknown
        // database, authentication), where the pool would only say it timed out.
        PgConnection::connect(url).await?.close().await?;
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(5)).connect(url).await?;
        if migrate {
            MIGRATIONS.run(&pool).await?;
        }
        Ok(PgStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a turn for one person: waits for their earlier turns, in this
    /// process or another, to finish.
    pub async fn begin(&self, phone: &str) -> Result<PgTurn, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(phone).execute(&mut *tx).await?;
        Ok(PgTurn { tx, phone: phone.to_string() })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM conversation_sessions WHERE updated_at < $1")
            .bind(stored_time(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM processed_messages WHERE created_at < $1")
            .bind(stored_time(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn qr_token(&self, uic: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO qr_codes (token, uic_code, created_at) VALUES ($1, $2, $3) ON CONFLICT (uic_code) DO NOTHING",
        )
        .bind(crate::support::ids::token())
        .bind(uic)
        .bind(stored_time(now))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT token FROM qr_codes WHERE uic_code = $1").bind(uic).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    pub async fn qr_code(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT uic_code FROM qr_codes WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM conversation_sessions WHERE updated_at >= $1")
            .bind(stored_time(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The embedded migrations and the versions the database has applied.
    pub async fn migrations(&self) -> Result<(&'static sqlx::migrate::Migrator, Vec<i64>), StoreError> {
        let exists: bool = sqlx::query("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let applied = if exists {
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
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
        // The lowest and highest fingerprint of the version: two index seeks,
        // where "any other than mine" would read every code of the version.
        let row = sqlx::query(
            "SELECT (SELECT MIN(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2), (SELECT MAX(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2)",
        )
        .bind(flow_id)
        .bind(i64::from(version))
        .fetch_one(&self.pool)
        .await?;
        let lowest: Option<String> = row.try_get(0)?;
        let highest: Option<String> = row.try_get(1)?;
        Ok([lowest, highest].into_iter().flatten().any(|issued| issued != fingerprint))
    }

    pub async fn enqueue(&self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        enqueue_query(job, now).execute(&self.pool).await?;
        Ok(())
    }

    /// Claims due jobs until `until`; rows another process is claiming are skipped.
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(outbox::CLAIM_POSTGRES.as_str()))
            .bind(stored_time(now))
            .bind(stored_time(until))
            .bind(limit)
            .fetch_all(&self.pool)
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
        sqlx::query(outbox::DONE).bind(id).bind(stored_time(now)).execute(&self.pool).await?;
        let row = sqlx::query(AssertSqlSafe(outbox::CLAIM_NEXT.as_str()))
            .bind(recipient)
            .bind(stored_time(now))
            .bind(stored_time(until))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(outbox::job_from).transpose()
    }

    pub async fn job_done(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(outbox::DONE).bind(id).bind(stored_time(now)).execute(&self.pool).await?;
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
        sqlx::query(outbox::FAILED)
            .bind(id)
            .bind(status.as_str())
            .bind(stored_time(retry_at))
            .bind(error)
            .bind(stored_time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_jobs(&self, filter: JobFilter, limit: i64) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(outbox::LIST.as_str()))
            .bind(filter.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox::job_from).collect()
    }

    pub async fn retry_dead_jobs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(outbox::RETRY_DEAD).bind(stored_time(now)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(outbox::RETRY).bind(id).bind(stored_time(now)).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn drop_job(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(outbox::DROP).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn record_sent(&self, record: SentStatus<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        sent::record_query::<Postgres>(record, now).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn cleanup_delivered(
        &self,
        jobs_before: DateTime<Utc>,
        statuses_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let jobs = sqlx::query(sent::CLEANUP_DONE_JOBS).bind(stored_time(jobs_before)).execute(&self.pool).await?;
        let sent = sqlx::query(sent::CLEANUP_SENT).bind(stored_time(statuses_before)).execute(&self.pool).await?;
        Ok(jobs.rows_affected() + sent.rows_affected())
    }

    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM uic_collisions").fetch_one(&self.pool).await?;
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
        let mut query = super::uic_query::<Postgres>(filter, after, newest_first, limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(super::uic_row).collect()
    }

    /// Figures per UTC day of `[start, end)` and for the whole period, read
    /// from one snapshot.
    pub async fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Report, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
        // The UTC day, whatever the session's time zone (sqlx sets UTC; this does not rely on it).
        let code_days = sqlx::query(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, COUNT(*) AS codes,
                    COUNT(DISTINCT phone_number) AS phones,
                    CAST(COALESCE(SUM(request_count - 1), 0) AS BIGINT) AS repeats
             FROM uic_records WHERE created_at >= $1 AND created_at < $2
             GROUP BY 1 ORDER BY 1",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        let collision_days = sqlx::query(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, COUNT(*) AS collisions
             FROM uic_collisions WHERE created_at >= $1 AND created_at < $2
             GROUP BY 1 ORDER BY 1",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        let totals = sqlx::query(super::REPORT_TOTALS).bind(start).bind(end).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        super::report_from(&totals, &code_days, &collision_days)
    }
}

impl PgTurn {
    /// Reads the session and, for a message with a provider id, whether it was
    /// processed before.
    pub async fn start(&mut self, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError> {
        let (channel, message_id) = message.unwrap_or(("", ""));
        let row = sqlx::query(
            "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
                    s.invalid_attempts, s.started_at, s.updated_at
             FROM (SELECT 1) AS here
             LEFT JOIN processed_messages p ON p.channel = $1 AND p.message_id = $2
             LEFT JOIN conversation_sessions s ON s.phone_number = $3",
        )
        .bind(channel)
        .bind(message_id)
        .bind(&self.phone)
        .fetch_one(&mut *self.tx)
        .await?;
        let replayed = match row.try_get::<Option<String>, _>("replies")? {
            Some(replies) => Some(
                serde_json::from_str(&replies)
                    .map_err(|error| super::error::corrupt_json(format!("{channel} replies"), &error))?,
            ),
            None => None,
        };
        Ok(TurnStart { replayed, session: super::session_from(&row) })
    }

    /// Writes the session (or removes it) and marks the message processed.
    pub async fn finish(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match session {
            Some(session) => {
                let answers = serde_json::to_string(&session.answers).expect("a map of strings serialises");
                sqlx::query(
                    "INSERT INTO conversation_sessions
                       (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts,
                        started_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (phone_number) DO UPDATE SET
                       flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
                       current_step = excluded.current_step, answers = excluded.answers,
                       invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
                       updated_at = excluded.updated_at",
                )
                .bind(&self.phone)
                .bind(&session.flow_id)
                .bind(i64::from(session.flow_version))
                .bind(&session.language)
                .bind(&session.current_step)
                .bind(answers)
                .bind(i64::from(session.invalid_attempts))
                .bind(stored_time(session.started_at))
                .bind(stored_time(session.updated_at))
                .execute(&mut *self.tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM conversation_sessions WHERE phone_number = $1")
                    .bind(&self.phone)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        if let Some(processed) = processed {
            let replies = serde_json::to_string(processed.replies).expect("replies serialise");
            sqlx::query(
                "INSERT INTO processed_messages (channel, message_id, replies, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(processed.channel)
            .bind(processed.message_id)
            .bind(replies)
            .bind(stored_time(now))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Records a completed code: the same answers find their record again;
    /// other answers that made an existing code are noted as a possible collision.
    pub async fn register(&mut self, completion: &Completion, now: DateTime<Utc>) -> Result<Registration, StoreError> {
        let now = stored_time(now);
        // Other people's turns run in parallel here: registrations of one code
        // (the same answers, or a possible collision) take turns on a lock of
        // their own, so the check and the insert below see each other. It is
        // the last lock a turn takes, so no two turns can wait on each other.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))")
            .bind(&completion.uic)
            .execute(&mut *self.tx)
            .await?;
        let same_answers = sqlx::query(
            "UPDATE uic_records SET request_count = request_count + 1, last_requested_at = $1 WHERE duplicate_key = $2",
        )
        .bind(now)
        .bind(&completion.duplicate_key)
        .execute(&mut *self.tx)
        .await?;
        if same_answers.rows_affected() > 0 {
            return Ok(Registration::SameAnswers);
        }
        let same_code = sqlx::query("SELECT 1 FROM uic_records WHERE uic_code = $1 LIMIT 1")
            .bind(&completion.uic)
            .fetch_optional(&mut *self.tx)
            .await?;
        if same_code.is_some() {
            sqlx::query(
                "INSERT INTO uic_collisions (uic_code, flow_id, duplicate_key, phone_number, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&completion.uic)
            .bind(&completion.flow_id)
            .bind(&completion.duplicate_key)
            .bind(&self.phone)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
            return Ok(Registration::SameCode);
        }
        sqlx::query(
            "INSERT INTO uic_records
               (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at,
                last_requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&completion.uic)
        .bind(&completion.duplicate_key)
        .bind(&self.phone)
        .bind(&completion.flow_id)
        .bind(i64::from(completion.flow_version))
        .bind(&completion.formula_fingerprint)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(Registration::New)
    }

    /// Adds a job in this turn's transaction: it exists only if the turn commits.
    pub async fn enqueue(&mut self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        enqueue_query(job, now).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

fn enqueue_query<'q>(
    job: NewJob<'q>,
    now: DateTime<Utc>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(AssertSqlSafe(outbox::ENQUEUE.as_str()))
        .bind(job.kind)
        .bind(job.recipient)
        .bind(job.payload)
        .bind(stored_time(now))
}
