//! Storage (SPEC §8): sessions, issued codes, possible collisions, processed
//! message ids and QR tokens, through sqlx. The only module that speaks SQL.
//! A turn's reads and writes are committed together or not at all: the turn
//! hands its logic to [`Store::run_turn`] ([`TurnWork`]), which both
//! backends run with the other turns waiting to be stored, several people's
//! in one transaction (`group_commit`). [`TurnTx`] is one person's
//! transaction step by step, for reads and tests.
//!
//! Two backends behind one API, chosen by the URL: SQLite (`sqlite://…`, a
//! pilot or a laptop; `sqlite::memory:` for `uic chat` and tests) and
//! PostgreSQL (`postgres://…`, production, several processes). The engine and
//! the channels never know which one they run on.
//!
//! Each statement is written once, in the module of its topic (`sessions`,
//! `codes`, `outbox`, `sent`, `maintenance`, `statistics`), with the values it binds and
//! the decoding of its rows; `sqlite.rs` and `postgres.rs` keep only what
//! differs: how a statement reaches the database (one writer connection, or
//! a pool), locking, each backend's batches of turns, the claim, the report's dates.

mod codes;
mod error;
mod group_commit;
mod maintenance;
mod outbox;
mod postgres;
mod registrations;
mod sent;
mod sessions;
mod sqlite;
mod statistics;
mod turn;
mod url;
mod wal_sync;

pub use error::{DatabaseError, MigrationError, StoreError};
pub use group_commit::POSTGRES_BATCHES_AT_ONCE;
pub use outbox::{Job, JobCount, JobFilter, JobStatus, Kinds, NewJob, OUTCOME_UNKNOWN, UnknownStatus};
pub use registrations::{Requeued, Unregistered};
pub use sent::{MessageStatus, SentStatus, UnknownMessageStatus};
pub use statistics::{ConversationCounts, FlowDay, FlowStatistics, FlowStep, StepCounts};
pub use turn::{Committed, TurnWork, TurnWrites};
pub use url::{BackendKind, DatabaseUrl, ensure_parent_dir, redact_url, sqlite_path};

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration, Reply, Session};
use postgres::{PgStore, PgTurn};
use sqlite::{SqliteStore, SqliteTurn};

/// Stored times are whole seconds in UTC, so they compare as text too.
pub(crate) fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(0)
}

/// A statement whose one parameter, `$1`, is a time (a cutoff, a count's start).
fn at_time<'q, DB>(sql: &'static str, time: DateTime<Utc>) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(sql).bind(stored_time(time))
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
    /// Its registration in DHIS2; `None` when issued while registration was off.
    pub registration: Option<RegistrationState>,
}

/// Which codes operators ask for: created at or after `since`, of one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UicFilter {
    pub since: Option<DateTime<Utc>>,
    pub flow_id: Option<String>,
}

/// Where a page of [`Store::uic_page`] stopped: the last record's
/// `(created_at, id)`, so the next page starts after it even when several
/// records share a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UicCursor {
    created_at: DateTime<Utc>,
    id: i64,
}

/// Codes oldest first, and where the next page starts (`None` after the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UicPage {
    pub records: Vec<UicRecord>,
    pub next: Option<UicCursor>,
}

/// Figures of a report, for one day or a whole period (UTC days).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportFigures {
    /// Codes created.
    pub codes: i64,
    /// Distinct phone numbers among the codes created.
    pub unique_phones: i64,
    /// Requests of those codes after the first (sum of `request_count - 1`).
    pub repeat_requests: i64,
    /// Possible collisions recorded (rows of `uic_collisions`).
    pub collisions: i64,
}

/// Figures per UTC day (days with codes or collisions only), and for the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub days: Vec<(NaiveDate, ReportFigures)>,
    pub total: ReportFigures,
    /// The DHIS2 registration of the period's codes.
    pub registrations: RegistrationCounts,
}

/// Codes per DHIS2 registration state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationCounts {
    /// Issued while registration was off (`uic dhis2 resync` queues them).
    pub not_registered: i64,
    pub pending: i64,
    pub registered: i64,
    pub failed: i64,
}

/// A code that different answers made: possible collisions, for staff to
/// review. Holds no answer and no phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollidedCode {
    pub uic_code: String,
    pub flow_id: String,
    /// When the code was first issued.
    pub first_at: DateTime<Utc>,
    /// When other answers last made it.
    pub latest_at: DateTime<Utc>,
    /// How many different answer sets made it, its owner's included (2 or more).
    pub answer_sets: i64,
    /// How many times other answers made it (a person asking again counts again).
    pub times: i64,
}

/// The codes with possible collisions (at most the limit asked for), and the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collisions {
    pub codes: Vec<CollidedCode>,
    /// Codes with possible collisions, all of them.
    pub total_codes: i64,
    /// Times other answers made an existing code (rows of `uic_collisions`).
    pub total_times: i64,
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
    /// Kept so that a redelivery gets them again, with the phone number that
    /// links them to their conversation, until it ends (see `forget_earlier`)
    /// or the cleanup's replay window passes. Empty for channels that answer
    /// through the outbox.
    pub replies: &'a [Reply],
    /// The conversation has ended (or is back at its start): the replies
    /// stored for this person's earlier messages, which may repeat answers,
    /// are emptied in this same transaction.
    pub forget_earlier: bool,
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
        let url = DatabaseUrl::parse(url)?;
        Ok(Store(match url.kind() {
            BackendKind::Sqlite => Backend::Sqlite(SqliteStore::connect(url, migrate).await?),
            BackendKind::Postgres => Backend::Postgres(PgStore::connect(url, migrate).await?),
        }))
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

    /// Runs one person's turn (see [`TurnWork`]) and commits it; its result
    /// comes back once committed. The turns waiting to be stored run
    /// together, several people's in one transaction (`group_commit`).
    pub async fn run_turn<W: TurnWork>(&self, work: W) -> Result<Committed<W::Output>, StoreError> {
        on_backend!(&self.0, store => group_commit::run_turn(store, work).await)
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.ping().await)
    }

    /// Writes and commits one row (the time of the check): fails when the
    /// database reads but cannot write (disk full, read-only, locked).
    pub async fn probe_write(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.probe_write(now).await)
    }

    /// Deletes sessions idle since before `cutoff` and counts them as
    /// expired, at the step each stood, on the UTC day of `now` (see
    /// [`FlowStatistics`]), in one transaction; returns how many.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_sessions(cutoff, now).await)
    }

    /// Empties the replies stored before `cutoff` (the replay window): the
    /// message ids stay, so a late redelivery is still recognised, and gets
    /// nothing. Returns how many were emptied.
    pub async fn forget_replies_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.forget_replies_before(cutoff).await)
    }

    /// Removes processed message ids recorded before `cutoff`; returns how many.
    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_processed_messages(cutoff).await)
    }

    /// The unguessable token naming the QR image of a code, made on first use
    /// and made anew once the last one was made before `valid_since`: a link
    /// lives `QR_LINK_HOURS`, and a code asked for later gets a new link.
    pub async fn qr_token(
        &self,
        uic: &str,
        now: DateTime<Utc>,
        valid_since: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        on_backend!(&self.0, store => store.qr_token(uic, now, valid_since).await)
    }

    /// The code a QR token names, if any and if the token was made since
    /// `valid_since` (an expired link names nothing).
    pub async fn qr_code(&self, token: &str, valid_since: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        on_backend!(&self.0, store => store.qr_code(token, valid_since).await)
    }

    /// Removes the QR tokens made before `cutoff` (expired links); returns how many.
    pub async fn cleanup_qr_codes(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_qr_codes(cutoff).await)
    }

    /// Sessions updated since `since` (the active ones).
    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        on_backend!(&self.0, store => store.count_sessions_since(since).await)
    }

    /// The most recent codes, newest first.
    pub async fn recent_uics(&self, limit: u32) -> Result<Vec<UicRecord>, StoreError> {
        self.list_uics(&UicFilter::default(), limit).await
    }

    /// Whether codes of this flow version were issued by a formula other than `fingerprint`.
    pub async fn issued_with_other_formula(
        &self,
        flow_id: &str,
        version: u32,
        fingerprint: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(&self.0, store => store.issued_with_other_formula(flow_id, version, fingerprint).await)
    }

    /// Adds a job to the outbox outside any turn.
    pub async fn enqueue(&self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.enqueue(job, now).await)
    }

    /// Claims up to `limit` due jobs until `until` (a lease: a worker that dies
    /// lets it lapse). Only each recipient's oldest pending job is claimable.
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        self.claim_jobs_of(now, until, limit, Kinds::All).await
    }

    /// [`Store::claim_jobs`] of some kinds only (a worker of their own).
    pub async fn claim_jobs_of(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
        kinds: Kinds,
    ) -> Result<Vec<Job>, StoreError> {
        let mut jobs = on_backend!(&self.0, store => store.claim_jobs(now, until, limit, kinds).await)?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    /// A job delivered; then its recipient's next job is claimed until
    /// `until`, if it is due (see [`Store::claim_jobs`]).
    pub async fn job_done_claim_next(
        &self,
        job: &Job,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        on_backend!(&self.0, store => store.job_done_claim_next(job.id, &job.recipient, now, until).await)
    }

    /// A job delivered.
    pub async fn job_done(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.job_done(id, now).await)
    }

    /// A job that failed: tried again at `retry_at`, or given up (`dead`) when `retry_at` is `None`.
    pub async fn job_failed(
        &self,
        id: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.job_failed(id, retry_at, error, now).await)
    }

    /// A job held back until `at` because its kind is paused: still pending,
    /// its attempt not counted.
    pub async fn job_paused(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.job_paused(id, at, error, now).await)
    }

    /// Jobs of one status, or all of them, newest first.
    pub async fn list_jobs(&self, filter: impl Into<JobFilter>, limit: i64) -> Result<Vec<Job>, StoreError> {
        let filter = filter.into();
        on_backend!(&self.0, store => store.list_jobs(filter, limit).await)
    }

    /// Jobs not yet delivered, per kind and status, with the oldest's age:
    /// the outbox's health at a glance.
    pub async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        on_backend!(&self.0, store => store.job_counts().await)
    }

    /// Makes a pending or dead job due now, with a fresh set of attempts;
    /// false when there is no such job.
    pub async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_backend!(&self.0, store => store.retry_job(id, now).await)
    }

    /// Makes every given-up job due now, with a fresh set of attempts (after
    /// an outage is mended, such as a replaced access token); returns how many.
    pub async fn retry_dead_jobs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.retry_dead_jobs(now).await)
    }

    /// Deletes the jobs given up before `before`, except those of kind
    /// `keep_kind` (DHIS2 registrations: no phone number, no text, and
    /// `uic dhis2 resync` revives them with the values chosen at issue); how many.
    pub async fn forget_dead_jobs(&self, before: DateTime<Utc>, keep_kind: &str) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.forget_dead_jobs(before, keep_kind).await)
    }

    /// A provider reports message `message_id`, which no job of ours sent as
    /// far as we know, to `recipient`: if their oldest pending job of `kind`
    /// waits for a retry after an attempt whose outcome was unknown, that
    /// attempt got through, and the job is delivered now; its id.
    pub async fn settle_unsure(
        &self,
        kind: &str,
        recipient: &str,
        channel: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        on_backend!(&self.0, store => store.settle_unsure(kind, recipient, channel, message_id, now).await)
    }

    /// Frees every outbox claim, so the jobs they held are due at once; how
    /// many. Only for a caller that knows no other worker is running (a
    /// claim of a live worker freed would send its job twice).
    pub async fn release_claims(&self) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.release_claims().await)
    }

    /// Deletes a job; false when there is no such job.
    pub async fn drop_job(&self, id: i64) -> Result<bool, StoreError> {
        on_backend!(&self.0, store => store.drop_job(id).await)
    }

    /// Records a message sent through a provider's API, or a status the
    /// provider reported for it (see [`SentStatus`]).
    pub async fn record_sent(&self, record: SentStatus<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.record_sent(record, now).await)
    }

    /// Removes outbox jobs delivered before `jobs_before` (their payloads hold
    /// phone numbers and texts) and sent-message statuses last updated before
    /// `statuses_before`; returns how many rows.
    pub async fn cleanup_delivered(
        &self,
        jobs_before: DateTime<Utc>,
        statuses_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_backend!(&self.0, store => store.cleanup_delivered(jobs_before, statuses_before).await)
    }

    /// Records what DHIS2 answered about `uic`'s registration.
    pub async fn set_registration(&self, uic: &str, state: &RegistrationState) -> Result<(), StoreError> {
        on_backend!(&self.0, store => store.set_registration(uic, state).await)
    }

    /// Codes created since `since` (all when `None`) that are neither
    /// registered in DHIS2 nor on their way: issued while registration was
    /// off, or refused. Oldest first.
    pub async fn unregistered(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Unregistered>, StoreError> {
        let since = since.unwrap_or(DateTime::UNIX_EPOCH);
        on_backend!(&self.0, store => store.unregistered(since).await)
    }

    /// Queues `uic`'s registration again: revives its given-up job (which
    /// keeps the UIDs and values chosen at issue), else writes `job`, and
    /// marks the code pending, in one transaction. `None`: there was no job
    /// to revive and `job` is `None`, so nothing changed.
    pub async fn requeue_registration(
        &self,
        uic: &str,
        job: Option<NewJob<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Requeued>, StoreError> {
        on_backend!(&self.0, store => store.requeue_registration(uic, job, now).await)
    }

    /// DHIS2's errors on the codes it refused (`failed`), with how many codes
    /// each, most frequent first (at most 20).
    pub async fn registration_failures(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(&self.0, store => store.registration_failures().await)
    }

    /// The codes different answers made since `since` (possible collisions,
    /// for staff to review), with how many times, most first (at most 20).
    pub async fn collided_codes(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(&self.0, store => store.collided_codes(since).await)
    }

    /// The codes different answers made (possible collisions), newest
    /// collision first, at most `limit`, and the totals.
    pub async fn collisions(&self, limit: u32) -> Result<Collisions, StoreError> {
        on_backend!(&self.0, store => store.collisions(i64::from(limit)).await)
    }

    /// The codes the formula with this fingerprint issued, each with how many
    /// people hold it (1, or more where different answers made it): what
    /// `uic analyze` counts. Every code at once: a million codes is some 50 MB.
    pub async fn codes_of_formula(&self, fingerprint: &str) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(&self.0, store => store.codes_of_formula(fingerprint).await)
    }

    /// Possible collisions recorded so far.
    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        on_backend!(&self.0, store => store.count_collisions().await)
    }

    /// Codes matching `filter`, newest first, at most `limit`.
    pub async fn list_uics(&self, filter: &UicFilter, limit: u32) -> Result<Vec<UicRecord>, StoreError> {
        let rows = on_backend!(&self.0, store => store.uics(filter, None, true, limit).await)?;
        Ok(rows.into_iter().map(|(_, record)| record).collect())
    }

    /// Codes matching `filter`, oldest first: `size` of them after `after`
    /// (from the first when `None`). Pages by keyset on `(created_at, id)`,
    /// so each page costs the same however far into the table it is.
    pub async fn uic_page(
        &self,
        filter: &UicFilter,
        after: Option<UicCursor>,
        size: u32,
    ) -> Result<UicPage, StoreError> {
        let rows = on_backend!(&self.0, store => store.uics(filter, after, false, size).await)?;
        let next = match rows.last() {
            Some((id, record)) if rows.len() >= size as usize => {
                Some(UicCursor { created_at: record.created_at, id: *id })
            }
            _ => None,
        };
        Ok(UicPage { records: rows.into_iter().map(|(_, record)| record).collect(), next })
    }

    /// Codes, phones, repeat requests and collisions per UTC day from `from`
    /// up to (not including) `until`, and for the whole period.
    pub async fn report(&self, from: NaiveDate, until: NaiveDate) -> Result<Report, StoreError> {
        let start = from.and_time(chrono::NaiveTime::MIN).and_utc();
        let end = until.and_time(chrono::NaiveTime::MIN).and_utc();
        on_backend!(&self.0, store => store.report(start, end).await)
    }

    /// The dashboard's counters of conversations and of each flow's steps,
    /// per UTC day from `from` up to (not including) `until` (see
    /// [`FlowStatistics`] for what each number means). One read of at most
    /// days × flows × steps × 7 small rows.
    pub async fn flow_statistics(&self, from: NaiveDate, until: NaiveDate) -> Result<FlowStatistics, StoreError> {
        on_backend!(&self.0, store => store.flow_statistics(from, until).await)
    }

    /// Copies the whole database into a new file at `path` (SQLite's `VACUUM
    /// INTO`: consistent while others write). PostgreSQL is backed up with `pg_dump`.
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match &self.0 {
            Backend::Sqlite(store) => store.backup_into(path).await,
            Backend::Postgres(_) => {
                Err(StoreError::Unsupported("PostgreSQL databases are backed up with pg_dump".to_string()))
            }
        }
    }
}

impl TurnTx {
    /// Reads the session and, for a message with a provider id, whether it
    /// was processed before.
    pub async fn start(&mut self, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError> {
        on_turn!(&mut self.0, turn => turn.start(message).await)
    }

    /// Records a completed code (see [`Registration`]); a new one registered
    /// in DHIS2 (`to_dhis2`) starts `pending`, its job joining this turn's.
    pub async fn register(
        &mut self,
        completion: &Completion,
        to_dhis2: bool,
        now: DateTime<Utc>,
    ) -> Result<Registration, StoreError> {
        on_turn!(&mut self.0, turn => turn.register(completion, to_dhis2, now).await)
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

    /// Adds a job to the outbox in this turn's transaction.
    pub async fn enqueue(&mut self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_turn!(&mut self.0, turn => turn.enqueue(job, now).await)
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
