//! The SQLite backend: a file under the data folder for a pilot, or memory for
//! `uic chat` and tests. Writers take the database lock at `BEGIN IMMEDIATE`,
//! so turns never interleave, even across processes.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{StoreError, UicRecord, stored_time};
use crate::engine::{Completion, Registration, Reply, Session};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A connection pool with the schema migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// SQLite has one writer at a time. Queuing writers here, in order, spares
    /// them SQLite's busy-wait sleeps; other processes still meet the file lock.
    writer: Arc<Mutex<()>>,
}

/// One turn's transaction, holding the write lock until commit or drop.
pub struct TurnTx {
    tx: Transaction<'static, Sqlite>,
    phone: String,
    _writer: OwnedMutexGuard<()>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = if in_memory {
            // One connection keeps one database alive for the life of the pool.
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            let options = options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal);
            // One connection: writers are serialised anyway, and a second
            // connection would find its page cache stale after every write.
            SqlitePoolOptions::new().test_before_acquire(false).max_connections(1).connect_with(options).await?
        };
        MIGRATIONS.run(&pool).await?;
        Ok(Store { pool, writer: Arc::new(Mutex::new(())) })
    }

    /// A fresh database in memory.
    pub async fn in_memory() -> Result<Store, StoreError> {
        Store::connect("sqlite::memory:").await
    }

    /// Starts a turn for one person: takes the write lock, so the session read
    /// next is the one this turn replaces.
    pub async fn begin(&self, phone: &str) -> Result<TurnTx, StoreError> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(TurnTx { tx, phone: phone.to_string(), _writer: writer })
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes sessions idle since before `cutoff`; returns how many.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().await;
        let done = sqlx::query("DELETE FROM conversation_sessions WHERE updated_at < $1")
            .bind(stored_time(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes processed message ids recorded before `cutoff`; returns how many.
    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().await;
        let done = sqlx::query("DELETE FROM processed_messages WHERE created_at < $1")
            .bind(stored_time(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The unguessable token naming the QR image of a code, made on first use.
    pub async fn qr_token(&self, uic: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        if let Some(token) = self.existing_qr_token(uic).await? {
            return Ok(token);
        }
        let _writer = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO qr_codes (token, uic_code, created_at) VALUES ($1, $2, $3) ON CONFLICT (uic_code) DO NOTHING",
        )
        .bind(crate::qr::token())
        .bind(uic)
        .bind(stored_time(now))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT token FROM qr_codes WHERE uic_code = $1").bind(uic).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    async fn existing_qr_token(&self, uic: &str) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT token FROM qr_codes WHERE uic_code = $1").bind(uic).fetch_optional(&self.pool).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// The code a QR token names, if any.
    pub async fn qr_code(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT uic_code FROM qr_codes WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// Sessions updated since `since` (the active ones).
    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM conversation_sessions WHERE updated_at >= $1")
            .bind(stored_time(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The most recent codes, newest first.
    pub async fn recent_uics(&self, limit: i64) -> Result<Vec<UicRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT uic_code, phone_number, flow_id, flow_version, created_at, last_requested_at, request_count
             FROM uic_records ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UicRecord {
                    uic_code: row.try_get("uic_code")?,
                    phone_number: row.try_get("phone_number")?,
                    flow_id: row.try_get("flow_id")?,
                    flow_version: row.try_get::<i64, _>("flow_version")? as u32,
                    created_at: row.try_get("created_at")?,
                    last_requested_at: row.try_get("last_requested_at")?,
                    request_count: row.try_get::<i64, _>("request_count")? as u32,
                })
            })
            .collect()
    }

    /// Possible collisions recorded so far.
    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM uic_collisions").fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The pool, for tests and operator queries that read the seeds' SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Upserts the session of `$1`; `$2`..`$9` are its fields.
macro_rules! upsert_session {
    () => {
        "INSERT INTO conversation_sessions
           (phone_number, flow_id, flow_version, language, current_step, answers, invalid_attempts, started_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (phone_number) DO UPDATE SET
           flow_id = excluded.flow_id, flow_version = excluded.flow_version, language = excluded.language,
           current_step = excluded.current_step, answers = excluded.answers,
           invalid_attempts = excluded.invalid_attempts, started_at = excluded.started_at,
           updated_at = excluded.updated_at"
    };
}
const DELETE_SESSION: &str = "DELETE FROM conversation_sessions WHERE phone_number = $1";

/// A message to mark processed, with the replies it got.
#[derive(Debug, Clone, Copy)]
pub struct Processed<'a> {
    pub channel: &'a str,
    pub message_id: &'a str,
    pub replies: &'a [Reply],
}

/// What a turn starts from, read in one query.
#[derive(Debug)]
pub struct TurnStart {
    /// The replies given before, when this message was already processed.
    pub replayed: Option<Vec<Reply>>,
    /// The stored session; an error when it cannot be read.
    pub session: Result<Option<Session>, StoreError>,
}

// Each method is one round trip to SQLite's worker thread: a turn is
// BEGIN, start, finish, COMMIT (plus the registration when a code is made),
// because under load those hand-offs, not SQL, are what a turn costs.
impl TurnTx {
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
            Some(replies) => Some(serde_json::from_str(&replies).map_err(|error| StoreError::Corrupt {
                what: format!("{channel} replies"),
                detail: error.to_string(),
            })?),
            None => None,
        };
        Ok(TurnStart { replayed, session: session_from(&row) })
    }

    /// Writes the session (or removes it) and marks the message processed.
    pub async fn finish(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = match (session.is_some(), processed.is_some()) {
            (true, false) => upsert_session!(),
            (true, true) => concat!(
                upsert_session!(),
                ";\nINSERT INTO processed_messages (channel, message_id, replies, created_at) VALUES ($10, $11, $12, $13)"
            ),
            (false, false) => DELETE_SESSION,
            (false, true) => concat!(
                "DELETE FROM conversation_sessions WHERE phone_number = $1",
                ";\nINSERT INTO processed_messages (channel, message_id, replies, created_at) VALUES ($2, $3, $4, $5)"
            ),
        };
        let mut query = sqlx::query(sql).bind(&self.phone);
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
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// The person's session, if any.
    pub async fn session(&mut self) -> Result<Option<Session>, StoreError> {
        self.start(None).await?.session
    }

    pub async fn save_session(&mut self, session: &Session) -> Result<(), StoreError> {
        self.finish(Some(session), None, session.updated_at).await
    }

    pub async fn delete_session(&mut self) -> Result<(), StoreError> {
        self.finish(None, None, Utc::now()).await
    }

    /// Records a completed code: the same answers find their record again;
    /// other answers that made an existing code are noted as a possible collision.
    pub async fn register(&mut self, completion: &Completion, now: DateTime<Utc>) -> Result<Registration, StoreError> {
        let now = stored_time(now);
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
               (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at, last_requested_at)
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

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// The session in a row of [`TurnTx::start`], if the row has one.
fn session_from(row: &sqlx::sqlite::SqliteRow) -> Result<Option<Session>, StoreError> {
    let Some(flow_id) = row.try_get::<Option<String>, _>("flow_id")? else { return Ok(None) };
    let answers: String = row.try_get("answers")?;
    let answers = serde_json::from_str(&answers).map_err(|error| StoreError::Corrupt {
        what: format!("session of flow `{flow_id}`"),
        detail: error.to_string(),
    })?;
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
