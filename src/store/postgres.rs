//! The PostgreSQL backend, for production: several `uic serve` processes may
//! share one database. A turn takes a transaction-scoped advisory lock on the
//! person's phone number, so one person's messages are handled one at a time
//! across processes while different people's turns run side by side.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use super::group_commit::GroupCommit;
use super::outbox::{self, Job, JobCount, JobFilter, Kinds, NewJob};
use super::registrations::{self, Requeued, Unregistered};
use super::sent::{self, SentStatus};
use super::{
    Collisions, DatabaseUrl, FlowStatistics, Processed, Report, StoreError, TurnStart, UicCursor, UicFilter, UicRecord,
    at_time, codes, maintenance, sessions, statistics,
};
use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration, Session};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A connection pool with the schema migrated.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Turns waiting to be stored, run in batches (`group_commit`).
    group_commit: Arc<GroupCommit>,
}

/// One turn's transaction, holding the person's lock until commit or drop
/// (dropped, it rolls back).
pub struct PgTurn {
    tx: Transaction<'static, Postgres>,
    phone: String,
}

/// Code `uic`'s QR link token ([`codes::QR_LINK_POSTGRES`]); one round trip
/// unless a concurrent transaction made the link meanwhile.
async fn qr_link(
    connection: &mut PgConnection,
    uic: &str,
    now: DateTime<Utc>,
    valid_since: DateTime<Utc>,
) -> Result<String, StoreError> {
    let made = sqlx::query(codes::QR_LINK_POSTGRES)
        .bind(uic)
        .bind(valid_since)
        .bind(crate::support::ids::token())
        .bind(now)
        .fetch_optional(&mut *connection)
        .await?;
    let row = match made {
        Some(row) => row,
        None => codes::with_time::<Postgres>(codes::QR_TOKEN_OF, uic, valid_since).fetch_one(&mut *connection).await?,
    };
    Ok(row.try_get(0)?)
}

/// Serialises one person's turns across processes (`$1` the phone number).
const LOCK_PERSON: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
/// `text` as a PostgreSQL expression made of hex digits only: the same
/// value as binding it, where no parameter can be bound.
fn hex_text(text: &str) -> String {
    format!("convert_from(decode('{}', 'hex'), 'UTF8')", hex::encode(text))
}

/// `SELECT` taking the locks of [`LOCK_PERSON`] of each phone number, in
/// the order of their keys: a batch of turns (`group_commit`) waits for
/// each person's earlier turns, in this process or another, and two batches
/// never wait on each other in a cycle. Only hex digits are joined to SQL
/// (a simple query, which takes no parameters).
pub(super) fn lock_people_sql<'a>(phones: impl Iterator<Item = &'a str>) -> String {
    let people: Vec<String> = phones.map(hex_text).collect();
    format!(
        "SELECT pg_advisory_xact_lock(k)
         FROM (SELECT hashtextextended(phone, 0) AS k FROM (VALUES ({})) AS people (phone) ORDER BY k) AS locks",
        people.join("), (")
    )
}

/// Serialises the registrations of one code (`$1` the code); the `1` keeps
/// its keys apart from [`LOCK_PERSON`]'s, so a code and a phone number never
/// share a lock.
const LOCK_CODE: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))";

/// The options of `url`. A server on this machine (a loopback address,
/// `localhost` or a Unix socket) is reached without TLS unless the URL (or
/// `PGSSLMODE`) asks for it: encryption protects nothing that never leaves
/// the machine, and each TLS handshake costs some 90 ms, because sqlx 0.9.0
/// leaves Nagle's algorithm on (sqlx#4335) and a start-up opens several.
fn connect_options(url: &str, mode_in_environment: bool) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let mode_chosen = mode_in_environment || query.split('&').any(|pair| pair.starts_with("sslmode="));
    let host = options.get_host();
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]") || host.starts_with('/');
    Ok(if local && !mode_chosen { options.ssl_mode(PgSslMode::Disable) } else { options })
}

impl PgStore {
    /// Connects and, when asked, applies the migrations.
    pub async fn connect(url: DatabaseUrl<'_>, migrate: bool) -> Result<PgStore, StoreError> {
        let options = connect_options(url.secret(), std::env::var_os("PGSSLMODE").is_some())?;
        // A direct connection beside the pool's first: its error says why
        // (refused, unknown database, authentication), where the pool would
        // only say it timed out. Opened at once, not one after the other:
        // start-up waits for one connection, not two.
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(5));
        // The first error returns at once (the pool would retry until its timeout).
        let (checked, pool) =
            tokio::try_join!(PgConnection::connect_with(&options), pool.connect_with(options.clone()))?;
        checked.close().await?;
        if migrate {
            MIGRATIONS.run(&pool).await?;
        }
        Ok(PgStore { pool, group_commit: Arc::default() })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// Starts a turn for one person: waits for their earlier turns, in this
    /// process or another, to finish.
    pub async fn begin(&self, phone: &str) -> Result<PgTurn, StoreError> {
        // One round trip: BEGIN and the lock travel together as a simple
        // query, which takes no parameters; the phone goes in hex, so nothing
        // a provider sent is ever read as SQL.
        let begin = format!("BEGIN; {}", LOCK_PERSON.replace("$1", &hex_text(phone)));
        // Only hex digits are joined: safe.
        let tx = self.pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(PgTurn { tx, phone: phone.to_string() })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(maintenance::PING).execute(&self.pool).await?;
        Ok(())
    }

    /// `/health`'s write, committed on its own.
    pub async fn probe_write(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        at_time::<Postgres>(maintenance::PROBE_WRITE, now).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes the sessions idle since before `cutoff` and counts exactly
    /// those as expired on the day of `now`: one statement.
    pub async fn cleanup_sessions(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = statistics::expire_sessions::<Postgres>(statistics::EXPIRE_SESSIONS_POSTGRES, cutoff, now)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
    }

    pub async fn cleanup_processed_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = at_time::<Postgres>(maintenance::CLEANUP_PROCESSED, cutoff).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Empties the replies stored before `cutoff`; returns how many.
    pub async fn forget_replies_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = at_time::<Postgres>(sessions::FORGET_REPLIES_BEFORE, cutoff).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// The code's QR link token, made unless a valid one exists (an expired
    /// one replaced): right even when another process races this one.
    pub async fn qr_token(
        &self,
        uic: &str,
        now: DateTime<Utc>,
        valid_since: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let mut connection = self.pool.acquire().await?;
        qr_link(&mut connection, uic, now, valid_since).await
    }

    pub async fn qr_code(&self, token: &str, valid_since: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let row =
            codes::with_time::<Postgres>(codes::QR_CODE_OF, token, valid_since).fetch_optional(&self.pool).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    pub async fn cleanup_qr_codes(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = at_time::<Postgres>(codes::CLEANUP_QR, cutoff).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn count_sessions_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let row = at_time::<Postgres>(maintenance::COUNT_SESSIONS_SINCE, since).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The embedded migrations and the versions the database has applied.
    pub async fn migrations(&self) -> Result<(&'static sqlx::migrate::Migrator, Vec<i64>), StoreError> {
        let exists: bool = sqlx::query("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let applied = if exists {
            sqlx::query(maintenance::APPLIED_MIGRATIONS)
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
        let row = codes::formulas_of_version::<Postgres>(flow_id, version).fetch_one(&self.pool).await?;
        codes::other_formula(&row, fingerprint)
    }

    pub async fn enqueue(&self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        outbox::enqueue::<Postgres>(job, now).execute(&self.pool).await?;
        Ok(())
    }

    /// Claims due jobs until `until`; rows another process is claiming are skipped.
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
        kinds: Kinds,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = outbox::claim::<Postgres>(outbox::CLAIM_POSTGRES.as_str(), now, until, limit, kinds)
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
        outbox::done::<Postgres>(id, now).execute(&self.pool).await?;
        let row = outbox::claim_next::<Postgres>(recipient, now, until).fetch_optional(&self.pool).await?;
        row.as_ref().map(outbox::job_from).transpose()
    }

    pub async fn job_done(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        outbox::done::<Postgres>(id, now).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn job_failed(
        &self,
        id: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        outbox::failed::<Postgres>(id, retry_at, error, now).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn list_jobs(&self, filter: JobFilter, limit: i64) -> Result<Vec<Job>, StoreError> {
        let rows = outbox::list::<Postgres>(filter, limit).fetch_all(&self.pool).await?;
        rows.iter().map(outbox::job_from).collect()
    }

    pub async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let rows = sqlx::query(outbox::SUMMARY).fetch_all(&self.pool).await?;
        rows.iter().map(outbox::job_count).collect()
    }

    pub async fn retry_dead_jobs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = outbox::retry_dead::<Postgres>(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = outbox::retry::<Postgres>(id, now).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn job_paused(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        outbox::paused::<Postgres>(id, at, error, now).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn forget_dead_jobs(&self, before: DateTime<Utc>, keep_kind: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(outbox::FORGET_DEAD)
            .bind(super::stored_time(before))
            .bind(keep_kind)
            .execute(&self.pool)
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
        let row = outbox::settle_unsure::<Postgres>(kind, recipient, channel, message_id, now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("id")).transpose()?)
    }

    pub async fn release_claims(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(outbox::RELEASE_CLAIMS).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn drop_job(&self, id: i64) -> Result<bool, StoreError> {
        let done = outbox::drop_job::<Postgres>(id).execute(&self.pool).await?;
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
        let jobs = at_time::<Postgres>(sent::CLEANUP_DONE_JOBS, jobs_before).execute(&self.pool).await?;
        let sent = at_time::<Postgres>(sent::CLEANUP_SENT, statuses_before).execute(&self.pool).await?;
        Ok(jobs.rows_affected() + sent.rows_affected())
    }

    /// Records what DHIS2 answered for `uic`.
    pub async fn set_registration(&self, uic: &str, state: &RegistrationState) -> Result<(), StoreError> {
        registrations::set_state::<Postgres>(uic, state).execute(&self.pool).await?;
        Ok(())
    }

    /// Codes since `since` that are not registered nor on their way.
    pub async fn unregistered(&self, since: DateTime<Utc>) -> Result<Vec<Unregistered>, StoreError> {
        let rows = at_time::<Postgres>(registrations::TO_RESYNC, since).fetch_all(&self.pool).await?;
        rows.iter().map(registrations::unregistered).collect()
    }

    /// Queues `uic`'s registration again, in one transaction (see [`registrations::requeue`]).
    pub async fn requeue_registration(
        &self,
        uic: &str,
        job: Option<NewJob<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Requeued>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Beside a worker claiming the same job: the code's lock orders them.
        sqlx::query(LOCK_CODE).bind(uic).execute(&mut *tx).await?;
        let outcome = registrations::requeue::<Postgres>(&mut *tx, uic, job, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// DHIS2's errors on refused codes, with how many codes each.
    pub async fn registration_failures(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(registrations::FAILURES).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("error")?, row.try_get("codes")?))).collect()
    }

    /// Codes with possible collisions since `since`, with how many.
    pub async fn collided_codes(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = at_time::<Postgres>(codes::COLLIDED_CODES, since).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("label")?, row.try_get("n")?))).collect()
    }

    /// Codes with possible collisions, newest collision first, and the totals.
    pub async fn collisions(&self, limit: i64) -> Result<Collisions, StoreError> {
        let rows = sqlx::query(codes::COLLISIONS).bind(limit).fetch_all(&self.pool).await?;
        let totals = sqlx::query(codes::COLLISION_TOTALS).fetch_one(&self.pool).await?;
        Ok(Collisions {
            codes: rows.iter().map(codes::collision_row).collect::<Result<_, _>>()?,
            total_codes: totals.try_get("codes")?,
            total_times: totals.try_get("times")?,
        })
    }

    /// The codes a formula issued, with how many people hold each.
    pub async fn codes_of_formula(&self, fingerprint: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(codes::CODES_OF_FORMULA).bind(fingerprint).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("uic_code")?, row.try_get("people")?))).collect()
    }

    pub async fn count_collisions(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(codes::COUNT_COLLISIONS).fetch_one(&self.pool).await?;
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
        let mut query = codes::uic_query::<Postgres>(filter, after, newest_first, limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(codes::uic_row).collect()
    }

    /// The dashboard's counters of the days `[from, until)`.
    pub async fn flow_statistics(&self, from: NaiveDate, until: NaiveDate) -> Result<FlowStatistics, StoreError> {
        let rows = statistics::period::<Postgres>(from, until).fetch_all(&self.pool).await?;
        statistics::statistics_from(&rows)
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
        let totals = sqlx::query(codes::REPORT_TOTALS).bind(start).bind(end).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        codes::report_from(&totals, &code_days, &collision_days)
    }
}

impl PgTurn {
    /// Reads the session and, for a message with a provider id, whether it was
    /// processed before.
    pub async fn start(&mut self, message: Option<(&str, &str)>) -> Result<TurnStart, StoreError> {
        let row = sessions::start::<Postgres>(sessions::START, message, &self.phone).fetch_one(&mut *self.tx).await?;
        sessions::turn_start(&row, message)
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
                let upsert = sqlx::query(sessions::UPSERT_SESSION).bind(self.phone.as_str());
                sessions::bind_session(upsert, session)?.execute(&mut *self.tx).await?;
            }
            None => {
                sqlx::query(sessions::DELETE_SESSION).bind(self.phone.as_str()).execute(&mut *self.tx).await?;
            }
        }
        if let Some(processed) = processed {
            if processed.forget_earlier {
                sqlx::query(sessions::FORGET_EARLIER_REPLIES).bind(self.phone.as_str()).execute(&mut *self.tx).await?;
            }
            let insert = sqlx::query(AssertSqlSafe(sessions::INSERT_PROCESSED.as_str()));
            sessions::bind_processed(insert, processed, &self.phone, now)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Records a completed code (see [`codes::register`]).
    pub async fn register(
        &mut self,
        completion: &Completion,
        to_dhis2: bool,
        now: DateTime<Utc>,
    ) -> Result<Registration, StoreError> {
        // Other people's turns run in parallel here: registrations of one code
        // (the same answers, or a possible collision) take turns on a lock of
        // their own, so the check and the insert that follow see each other. It
        // is the last lock a turn takes, so no two turns can wait on each other.
        sqlx::query(LOCK_CODE).bind(completion.uic.as_str()).execute(&mut *self.tx).await?;
        codes::register::<Postgres>(&mut *self.tx, &self.phone, completion, to_dhis2, now).await
    }

    /// Adds a job in this turn's transaction: it exists only if the turn commits.
    pub async fn enqueue(&mut self, job: NewJob<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        outbox::enqueue::<Postgres>(job, now).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str, in_environment: bool) -> PgSslMode {
        connect_options(url, in_environment).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_server_on_this_machine_is_reached_without_tls_unless_asked() {
        assert!(matches!(mode("postgres://uic@127.0.0.1:5432/uic", false), PgSslMode::Disable));
        assert!(matches!(mode("postgres://uic@localhost/uic", false), PgSslMode::Disable));
        assert!(matches!(mode("postgres://uic@[::1]:5432/uic", false), PgSslMode::Disable));
        assert!(matches!(mode("postgres://uic@127.0.0.1/uic?sslmode=require", false), PgSslMode::Require));
        // PGSSLMODE in the environment is the operator's choice too.
        assert!(!matches!(mode("postgres://uic@127.0.0.1/uic", true), PgSslMode::Disable));
        // Another machine: TLS when the server offers it, as libpq does.
        assert!(matches!(mode("postgres://uic@db.example.org/uic", false), PgSslMode::Prefer));
    }
}
