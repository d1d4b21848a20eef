//! Storage (SPEC §8): sessions, issued codes, possible collisions, processed
//! message ids and QR tokens, through sqlx. The only module that speaks SQL.
//! A turn's reads and writes happen in one [`TurnTx`], committed together or
//! not at all.
//!
//! Two backends behind one API, chosen by the URL: SQLite (`sqlite://…`, a
//! pilot or a laptop; `sqlite::memory:` for `uic chat` and tests) and
//! PostgreSQL (`postgres://…`, production, several processes). The engine and
//! the channels never know which one they run on.

mod postgres;
mod sqlite;

use chrono::{DateTime, SubsecRound, Utc};

use crate::engine::{Completion, Registration, Reply, Session};
use postgres::{PgStore, PgTurn};
use sqlite::{SqliteStore, SqliteTurn};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached; the turn changed nothing.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// A stored row that does not parse (hand-edited, or from a newer version).
    #[error("stored {what} cannot be read: {detail}")]
    Corrupt { what: String, detail: String },
}

/// Stored times are whole seconds in UTC, so they compare as text too.
pub(crate) fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(0)
}

/// An issued code as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UicRecord {
    pub uic_code: String,
    pub phone_number: String,
    pub flow_id: String,
    pub flow_version: u32,
    pub created_at: DateTime<Utc>,
    pub last_requested_at: DateTime<Utc>,
    pub request_count: u32,
}

/// One schema migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

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

/// The database, migrated.
#[derive(Debug, Clone)]
pub struct Store(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// One person's turn: holds their lock until commit or drop (dropped, it rolls back).
pub struct TurnTx(Turn);

enum Turn {
    Sqlite(SqliteTurn),
    Postgres(PgTurn),
}

/// Runs the same call on whichever backend is in use.
macro_rules! on_backend {
    ($value:expr, $inner:ident => $call:expr) => {
        match $value {
            Backend::Sqlite($inner) => $call,
            Backend::Postgres($inner) => $call,
        }
    };
}

macro_rules! on_turn {
    ($value:expr, $inner:ident => $call:expr) => {
        match $value {
            Turn::Sqlite($inner) => $call,
            Turn::Postgres($inner) => $call,
        }
    };
}

impl Store {
    /// Opens the database at `url` (creating a SQLite file if needed) and
    /// applies the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::open(url, true).await
    }

    /// Opens the database without touching its schema (`uic db status`).
    pub async fn connect_unmigrated(url: &str) -> Result<Store, StoreError> {
        Store::open(url, false).await
    }

    async fn open(url: &str, migrate: bool) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store(Backend::Sqlite(SqliteStore::connect(url, migrate).await?)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store(Backend::Postgres(PgStore::connect(url, migrate).await?)))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// Every migration of this backend, in order, and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let (migrator, applied) = on_backend!(&self.0, store => store.migrations().await)?;
        Ok(migrator
            .iter()
            .map(|migration| MigrationStatus {
                version: migration.version,
                description: migration.description.to_string(),
                applied: applied.contains(&migration.version),
            })
            .collect())
    }

    /// A fresh SQLite database in memory.
    pub async fn in_memory() -> Result<Store, StoreError> {
        Ok(Store(Backend::Sqlite(SqliteStore::in_memory().await?)))
    }

    /// Closes the database: every later operation fails as if it were down.
    pub async fn close(&self) {
        on_backend!(&self.0, store => store.close().await)
    }

    /// Starts a turn for one person; their other turns wait for it.
    pub async fn begin(&self, phone: &str) -> Result<TurnTx, StoreError> {
        Ok(TurnTx(match &self.0 {
            Backend::Sqlite(store) => Turn::Sqlite(store.begin(phone).await?),
            Backend::Postgres(store) => Turn::Postgres(store.begin(phone).await?),
        }))
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.ping().await)
    }

    /// Deletes sessions idle since before `cutoff`; returns how many.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_sessions(cutoff).await)
    }

    /// Removes processed message ids recorded before `cutoff`; returns how many.
    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_processed_messages(cutoff).await)
    }

    /// The unguessable token naming the QR image of a code, made on first use.
    pub async fn qr_token(&self, uic: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        on_backend!(&self.0, store => store.qr_token(uic, now).await)
    }

    /// The code a QR token names, if any.
    pub async fn qr_code(&self, token: &str) -> Result<Option<String>, StoreError> {
        on_backend!(&self.0, store => store.qr_code(token).await)
    }

    /// Sessions updated since `since` (the active ones).
    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        on_backend!(&self.0, store => store.count_sessions_since(since).await)
    }

    /// The most recent codes, newest first.
    pub async fn recent_uics(&self, limit: i64) -> Result<Vec<UicRecord>, StoreError> {
        on_backend!(&self.0, store => store.recent_uics(limit).await)
    }

    /// Possible collisions recorded so far.
    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        on_backend!(&self.0, store => store.count_collisions().await)
    }
}

impl TurnTx {
    /// Reads the session and, for a message with a provider id, whether it
    /// was processed before.
    pub async fn start(&mut self, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError> {
        on_turn!(&mut self.0, turn => turn.start(message).await)
    }

    /// Records a completed code (see [`Registration`]).
    pub async fn register(&mut self, completion: &Completion, now: DateTime<Utc>) -> Result<Registration, StoreError> {
        on_turn!(&mut self.0, turn => turn.register(completion, now).await)
    }

    /// Writes the session (or removes it) and marks the message processed.
    pub async fn finish(
        &mut self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_turn!(&mut self.0, turn => turn.finish(session, processed, now).await)
    }

    /// [`TurnTx::finish`] then [`TurnTx::commit`], in one round trip where the backend allows.
    pub async fn finish_and_commit(
        self,
        session: Option<&Session>,
        processed: Option<Processed<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.0 {
            Turn::Sqlite(mut turn) => turn.finish_and_commit(session, processed, now).await,
            Turn::Postgres(mut turn) => {
                turn.finish(session, processed, now).await?;
                turn.commit().await
            }
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        on_turn!(self.0, turn => turn.commit().await)
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
}
