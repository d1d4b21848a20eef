//! Storage (SPEC §8): sessions, issued codes and possible collisions, through
//! sqlx. The only module that speaks SQL. A turn's reads and writes happen in
//! one [`TurnTx`], committed together or not at all.
//!
//! SQLite is the backend today; the queries use `$n` placeholders and portable
//! SQL so PostgreSQL can join as a second backend behind the same API.

mod sqlite;

pub use sqlite::{Processed, Store, TurnStart, TurnTx};

use chrono::{DateTime, SubsecRound, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached; the turn changed nothing.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://PATH or sqlite::memory:")]
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
