//! SQLite's group commit: the turns waiting for the one writer run together,
//! several people's turns in one `BEGIN IMMEDIATE … COMMIT`.
//!
//! Under load a turn's cost is not its SQL but the hand-offs between tokio's
//! threads and sqlx's SQLite worker thread, one per statement. So a batch is
//! two of them whatever its size: every person's session and "processed
//! before?" read by one statement, then every write, table by table, with the
//! commit (plus, when turns complete codes, one read of the records). Each
//! statement takes its batch as a JSON array, so its text never changes and
//! stays prepared.
//!
//! Guarantees, the same as a transaction per turn:
//! - a request is answered only after the commit that holds its turn;
//! - one person's turns never share a batch, so each reads what the one
//!   before wrote, in the order they came;
//! - when a batch fails (a database error, a statement refused), it is rolled
//!   back and each of its turns is run again alone, so a failing turn fails
//!   alone and its neighbours commit;
//! - a turn's logic that panics fails that turn only: the panic reaches the
//!   turn's own task, as if it had run there.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{LazyLock, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqliteConnection};
use tokio::sync::oneshot;

use super::sqlite::{SqliteStore, Writer};
use super::turn::{Committed, TurnWork, TurnWrites};
use super::{StoreError, codes, outbox, sessions, statistics, stored_time, wal_sync};
use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration};

/// At most this many turns in one transaction: enough to empty the queue of
/// a busy server, few enough that one batch's statements stay small.
const MAX_BATCH: usize = 128;

/// The reads of a batch, which begin its transaction and take the write lock.
static READ: LazyLock<String> = LazyLock::new(|| format!("BEGIN IMMEDIATE;\n{}", sessions::START_BATCH_SQLITE));

/// [`READ`] when the batch's commit is to be synced beside the writer
/// (`wal_sync`) and the writer still syncs its own commits.
static READ_RELAXING: LazyLock<String> = LazyLock::new(|| format!("{}{}", wal_sync::RELAX, *READ));

/// The writes of a batch, then its commit.
static WRITE: LazyLock<String> = LazyLock::new(|| {
    [
        sessions::upsert_sessions_batch_sql(1),
        sessions::delete_sessions_batch_sql(2),
        // Before the insert below: the new message keeps its replies.
        sessions::forget_earlier_batch_sql(3),
        sessions::insert_processed_batch_sql(4),
        outbox::enqueue_batch_sql(5),
        statistics::count_batch_sql(6),
        // The new records before the requests: a second completion of the
        // same answers in one batch counts as a request of the first's record.
        codes::insert_records_batch_sql(7),
        codes::same_answers_batch_sql(8),
        codes::insert_collisions_batch_sql(9),
        // Last: its rows, the links' tokens, are all the statement returns.
        codes::qr_links_batch_sql(10),
        "COMMIT".to_string(),
    ]
    .join(";\n")
});

/// The turns waiting for the writer, and whether a task is running them.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Box<dyn Queued>>,
    running: bool,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

/// Why a turn did not commit.
enum Failure {
    Store(StoreError),
    /// Its logic panicked: the panic is resumed in the turn's own task. (In a
    /// mutex only to be `Sync`: the batch's outcomes are held across awaits.)
    Panic(Mutex<Box<dyn Any + Send>>),
}

/// A turn waiting for its batch, and where its result goes; [`TurnWork`] with
/// its output type hidden, so one queue holds every kind of turn.
trait Queued: Send + Sync {
    fn phone(&self) -> &str;
    fn message(&self) -> Option<(&str, &str)>;
    fn now(&self) -> DateTime<Utc>;
    fn start(&mut self, start: super::TurnStart) -> Result<(), Failure>;
    fn completion(&self) -> Option<(&Completion, bool)>;
    fn registered(&mut self, registration: Registration);
    fn writes(&self) -> Option<TurnWrites<'_>>;
    fn qr_link(&self) -> Option<(&str, DateTime<Utc>)>;
    fn qr_linked(&mut self, token: String);
    /// Hands back the turn's result; `batch` turns committed in its transaction.
    fn answer(self: Box<Self>, result: Result<(), Failure>, batch: usize);
}

struct Pending<W: TurnWork> {
    work: W,
    reply: oneshot::Sender<Result<Committed<W::Output>, Failure>>,
}

impl<W: TurnWork> Queued for Pending<W> {
    fn phone(&self) -> &str {
        self.work.phone()
    }
    fn message(&self) -> Option<(&str, &str)> {
        self.work.message()
    }
    fn now(&self) -> DateTime<Utc> {
        self.work.now()
    }
    fn start(&mut self, start: super::TurnStart) -> Result<(), Failure> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.work.start(start))) {
            Ok(result) => result.map_err(Failure::Store),
            Err(panic) => Err(Failure::Panic(Mutex::new(panic))),
        }
    }
    fn completion(&self) -> Option<(&Completion, bool)> {
        self.work.completion()
    }
    fn registered(&mut self, registration: Registration) {
        self.work.registered(registration)
    }
    fn writes(&self) -> Option<TurnWrites<'_>> {
        self.work.writes()
    }
    fn qr_link(&self) -> Option<(&str, DateTime<Utc>)> {
        self.work.qr_link()
    }
    fn qr_linked(&mut self, token: String) {
        self.work.qr_linked(token)
    }
    fn answer(self: Box<Self>, result: Result<(), Failure>, batch: usize) {
        let Pending { work, reply } = *self;
        let output = match result {
            Ok(()) => match std::panic::catch_unwind(AssertUnwindSafe(|| work.output())) {
                Ok(output) => Ok(Committed { output, shared_with: batch.saturating_sub(1) }),
                Err(panic) => Err(Failure::Panic(Mutex::new(panic))),
            },
            Err(failure) => Err(failure),
        };
        // The turn's task may be gone (its request timed out): its turn is
        // committed all the same, and a redelivery gets its replies.
        let _ = reply.send(output);
    }
}

impl SqliteStore {
    /// Runs a turn in the next batch (see the module's comment).
    pub async fn run_turn<W: TurnWork>(&self, work: W) -> Result<Committed<W::Output>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_runner = {
            let mut queue = self.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push_back(Box::new(Pending { work, reply }));
            !std::mem::replace(&mut queue.running, true)
        };
        if start_runner {
            tokio::spawn(run_batches(self.clone()));
        }
        match answer.await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(Failure::Store(error))) => Err(error),
            Ok(Err(Failure::Panic(panic))) => {
                std::panic::resume_unwind(panic.into_inner().unwrap_or_else(PoisonError::into_inner))
            }
            // The runner was dropped with the runtime.
            Err(_) => Err(sqlx::Error::PoolClosed.into()),
        }
    }
}

/// Marks the runner stopped however it ends; should it end by a panic (a bug
/// of the store), a new one takes over the turns still waiting.
struct Running(SqliteStore);

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
            queue.running = !queue.waiting.is_empty();
            if queue.running
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                runtime.spawn(run_batches(self.0.clone()));
            }
        }
    }
}

/// Runs batches until no turn waits.
async fn run_batches(store: SqliteStore) {
    let running = Running(store);
    let wal_sync = running.0.wal_sync().cloned();
    loop {
        // The writer first: turns that come while it is busy join this batch.
        let mut writer = running.0.batch_writer().await;
        let batch = take_batch(&running.0);
        if batch.is_empty() {
            return;
        }
        let (results, committed_together) = run_or_split(&mut writer, batch, wal_sync.is_some()).await;
        drop(writer);
        let committed =
            if committed_together { results.iter().filter(|(_, result)| result.is_ok()).count() } else { 1 };
        match &wal_sync {
            // The next batch begins while this one's commit reaches the disk.
            Some(wal) => {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let synced = wal.sync().await;
                    if let Err(error) = &synced {
                        tracing::error!(error = %error, "syncing the WAL failed: its turns are answered with an error");
                    }
                    answer_all(results, committed, synced.as_ref().err());
                });
            }
            None => answer_all(results, committed, None),
        }
    }
}

/// Hands each turn its result; a failed sync fails the turns that committed
/// (they are stored: a redelivery of their message gets their replies).
fn answer_all(results: Results, committed: usize, sync_failed: Option<&std::io::Error>) {
    for (turn, result) in results {
        let result = match (sync_failed, result) {
            (Some(error), Ok(())) => {
                let error = std::io::Error::new(error.kind(), error.to_string());
                Err(Failure::Store(sqlx::Error::Io(error).into()))
            }
            (_, result) => result,
        };
        turn.answer(result, committed);
    }
}

/// The next batch: the oldest waiting turns, at most one per person (their
/// later turns wait for the next batch, still in order). Empty, it marks the
/// runner stopped, under the same lock as [`SqliteStore::run_turn`]'s check.
fn take_batch(store: &SqliteStore) -> Vec<Box<dyn Queued>> {
    let mut queue = store.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut batch: Vec<Box<dyn Queued>> = Vec::new();
    let mut phones: HashSet<String> = HashSet::new();
    for turn in std::mem::take(&mut queue.waiting) {
        if batch.len() < MAX_BATCH && phones.insert(turn.phone().to_string()) {
            batch.push(turn);
        } else {
            queue.waiting.push_back(turn);
        }
    }
    if batch.is_empty() {
        queue.running = false;
    }
    batch
}

type Results = Vec<(Box<dyn Queued>, Result<(), Failure>)>;

/// Runs a batch; if it fails, runs each of its turns alone. Says whether
/// the batch committed as one.
async fn run_or_split(writer: &mut Writer, mut batch: Vec<Box<dyn Queued>>, relax: bool) -> (Results, bool) {
    let failure = match run_batch(writer, &mut batch, relax).await {
        Ok(outcomes) => return (batch.into_iter().zip(outcomes).collect(), true),
        Err(error) => error,
    };
    writer.settle().await;
    if batch.len() == 1 {
        return (batch.into_iter().zip([Err(Failure::Store(failure))]).collect(), false);
    }
    tracing::warn!(turns = batch.len(), error = %failure, "a batch of turns failed: each is run again alone");
    let mut results = Vec::with_capacity(batch.len());
    for turn in batch {
        let mut alone = [turn];
        let result = match run_batch(writer, &mut alone, relax).await {
            Ok(mut outcomes) => outcomes.pop().unwrap_or(Ok(())),
            Err(error) => {
                writer.settle().await;
                Err(Failure::Store(error))
            }
        };
        let [turn] = alone;
        results.push((turn, result));
    }
    (results, false)
}

/// One transaction for the batch: the reads, each turn's logic, the codes
/// completed, the writes and the commit (with `relax`, a commit the caller
/// syncs). `Err` when the transaction failed (the caller rolls it back);
/// otherwise each turn's own outcome, a failure of its logic leaving it out
/// of the writes.
async fn run_batch(
    writer: &mut Writer,
    batch: &mut [Box<dyn Queued>],
    relax: bool,
) -> Result<Vec<Result<(), Failure>>, StoreError> {
    // Set first: if BEGIN fails, the rollback that follows is harmless; and
    // whether or not the pragma ran, setting it back is.
    writer.in_transaction = true;
    let read = writer.relaxing(relax, &READ, &READ_RELAXING);
    let connection = writer.connection()?;
    let starts = read_all(&mut *connection, batch, read).await?;
    let outcomes: Vec<Result<(), Failure>> = batch
        .iter_mut()
        .zip(starts)
        .map(|(turn, start)| start.map_err(Failure::Store).and_then(|start| turn.start(start)))
        .collect();
    let mut writes = Writes::default();
    register_all(&mut *connection, batch, &outcomes, &mut writes).await?;
    let mut linking = Vec::new();
    for (index, (turn, outcome)) in batch.iter().zip(&outcomes).enumerate() {
        if let (Ok(()), Some(turn_writes)) = (outcome, turn.writes()) {
            writes.add(turn.phone(), turn.now(), turn_writes)?;
            if let Some((uic, valid_since)) = turn.qr_link() {
                let token = crate::support::ids::token();
                writes.qr_links.push(serde_json::json!([
                    uic,
                    token,
                    sqlite_time(turn.now()),
                    sqlite_time(valid_since)
                ]));
                linking.push(index);
            }
        }
    }
    let rows = writes.bind(sqlx::query(AssertSqlSafe(WRITE.as_str()))).fetch_all(&mut *connection).await?;
    writer.in_transaction = false;
    // Committed: each QR link's token goes to its turn. (A code missing here
    // gets its link from the channel, after the turn.)
    let mut tokens = HashMap::new();
    for row in &rows {
        tokens.insert(row.try_get::<String, _>("qr_code")?, row.try_get::<String, _>("qr_token")?);
    }
    for index in linking {
        let token = batch[index].qr_link().and_then(|(uic, _)| tokens.get(uic)).cloned();
        if let Some(token) = token {
            batch[index].qr_linked(token);
        }
    }
    Ok(outcomes)
}

/// Records the codes the batch's turns completed, as [`codes::register`]
/// would one after another: one read of what the database holds, then the
/// rules applied in the batch's order, so that a code or answers completed
/// earlier in the batch count as held. The records, requests and collisions
/// join the batch's writes.
async fn register_all(
    connection: &mut SqliteConnection,
    batch: &mut [Box<dyn Queued>],
    outcomes: &[Result<(), Failure>],
    writes: &mut Writes,
) -> Result<(), StoreError> {
    let completing: Vec<usize> =
        (0..batch.len()).filter(|&index| outcomes[index].is_ok() && batch[index].completion().is_some()).collect();
    if completing.is_empty() {
        return Ok(());
    }
    let keys = json_array(completing.iter().filter_map(|&index| {
        let (completion, _) = batch[index].completion()?;
        Some(serde_json::json!([completion.duplicate_key, completion.uic]))
    }));
    let rows = sqlx::query(codes::REGISTRATION_LOOKUP_SQLITE).bind(keys).fetch_all(&mut *connection).await?;
    if rows.len() != completing.len() {
        return Err(StoreError::Corrupt {
            what: "batch of codes".to_string(),
            detail: format!("{} rows read for {} codes", rows.len(), completing.len()),
        });
    }
    let mut new_answers = HashSet::new();
    let mut new_codes = HashSet::new();
    for (&index, row) in completing.iter().zip(&rows) {
        let same_answers: bool = row.try_get("same_answers")?;
        let same_code: bool = row.try_get("same_code")?;
        let turn = &mut batch[index];
        let Some((completion, to_dhis2)) = turn.completion() else { continue };
        let time = sqlite_time(turn.now());
        let registration = if same_answers || new_answers.contains(&completion.duplicate_key) {
            let asked = writes.asked.entry(completion.duplicate_key.clone()).or_insert((0, String::new()));
            asked.0 += 1;
            asked.1 = time;
            Registration::SameAnswers
        } else if same_code || new_codes.contains(&completion.uic) {
            writes.collisions.push(serde_json::json!([
                completion.uic,
                completion.flow_id,
                completion.duplicate_key,
                turn.phone(),
                time
            ]));
            Registration::SameCode
        } else {
            new_answers.insert(completion.duplicate_key.clone());
            new_codes.insert(completion.uic.clone());
            writes.records.push(serde_json::json!([
                completion.uic,
                completion.duplicate_key,
                turn.phone(),
                completion.flow_id,
                completion.flow_version,
                completion.formula_fingerprint,
                time,
                to_dhis2.then_some(RegistrationState::Pending.as_str()),
            ]));
            Registration::New
        };
        turn.registered(registration);
    }
    Ok(())
}

/// Every turn's start, in the batch's order.
async fn read_all(
    connection: &mut SqliteConnection,
    batch: &[Box<dyn Queued>],
    read: &'static str,
) -> Result<Vec<Result<super::TurnStart, StoreError>>, StoreError> {
    let keys: Vec<(&str, &str, &str)> = batch
        .iter()
        .map(|turn| {
            let (channel, message_id) = turn.message().unwrap_or(("", ""));
            (channel, message_id, turn.phone())
        })
        .collect();
    let keys = serde_json::to_string(&keys).map_err(|error| super::error::corrupt_json("batch", &error))?;
    let rows = sqlx::query(AssertSqlSafe(read)).bind(keys).fetch_all(connection).await?;
    if rows.len() != batch.len() {
        return Err(StoreError::Corrupt {
            what: "batch of turns".to_string(),
            detail: format!("{} rows read for {} turns", rows.len(), batch.len()),
        });
    }
    Ok(batch.iter().zip(&rows).map(|(turn, row)| sessions::turn_start(row, turn.message())).collect())
}

/// The batch's writes, one JSON array per statement of [`WRITE`].
#[derive(Default)]
struct Writes {
    upserts: Vec<serde_json::Value>,
    deletes: Vec<String>,
    forgets: Vec<String>,
    processed: Vec<serde_json::Value>,
    jobs: Vec<serde_json::Value>,
    /// Summed over the batch: one statement may not change a row twice.
    counts: BTreeMap<(NaiveDate, String, String, &'static str), i64>,
    /// New codes' records.
    records: Vec<serde_json::Value>,
    /// Answers asked for again: how many times, and when last.
    asked: BTreeMap<String, (i64, String)>,
    collisions: Vec<serde_json::Value>,
    /// `[code, new token, time, oldest time still valid]` of each QR link asked for.
    qr_links: Vec<serde_json::Value>,
}

impl Writes {
    fn add(&mut self, phone: &str, now: DateTime<Utc>, turn: TurnWrites<'_>) -> Result<(), StoreError> {
        let time = sqlite_time(now);
        match turn.session {
            Some(session) => {
                let answers = serde_json::to_string(&session.answers)
                    .map_err(|error| super::error::corrupt_json("session answers", &error))?;
                self.upserts.push(serde_json::json!([
                    phone,
                    session.flow_id,
                    session.flow_version,
                    session.language,
                    session.current_step,
                    answers,
                    session.invalid_attempts,
                    sqlite_time(session.started_at),
                    sqlite_time(session.updated_at),
                ]));
            }
            None => self.deletes.push(phone.to_string()),
        }
        if let Some(processed) = turn.processed {
            if processed.forget_earlier {
                self.forgets.push(phone.to_string());
            }
            let replies = serde_json::to_string(processed.replies)
                .map_err(|error| super::error::corrupt_json("replies", &error))?;
            // The phone is kept only with replies, as on PostgreSQL.
            let kept_phone = (!processed.replies.is_empty()).then_some(phone);
            self.processed.push(serde_json::json!([
                processed.channel,
                processed.message_id,
                replies,
                time,
                kept_phone
            ]));
        }
        for job in &turn.jobs {
            self.jobs.push(serde_json::json!([job.kind, job.recipient, job.payload, time]));
        }
        for counted in turn.counts {
            let key = (now.date_naive(), counted.flow_id.clone(), counted.step_id.clone(), counted.event.as_str());
            *self.counts.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Binds the arrays of [`WRITE`] (a JSON value always writes as text).
    fn bind(self, query: SqliteQuery<'_>) -> SqliteQuery<'_> {
        let counts = self.counts.into_iter().map(|((day, flow, step, outcome), n)| {
            serde_json::json!([day.format("%F").to_string(), flow, step, outcome, n])
        });
        let strings = |values: Vec<String>| values.into_iter().map(serde_json::Value::String);
        query
            .bind(json_array(self.upserts))
            .bind(json_array(strings(self.deletes)))
            .bind(json_array(strings(self.forgets)))
            .bind(json_array(self.processed))
            .bind(json_array(self.jobs))
            .bind(json_array(counts))
            .bind(json_array(self.records))
            .bind(json_array(self.asked.into_iter().map(|(key, (times, time))| serde_json::json!([key, times, time]))))
            .bind(json_array(self.collisions))
            .bind(json_array(self.qr_links))
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn json_array(values: impl IntoIterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(values.into_iter().collect()).to_string()
}

/// A time as sqlx writes a `DateTime<Utc>` into SQLite (RFC 3339, whole
/// seconds here): the batch's times are written as text by SQL, and must
/// compare with those bound one by one elsewhere.
fn sqlite_time(time: DateTime<Utc>) -> String {
    stored_time(time).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use sqlx::{Connection, Executor, Row};

    use super::*;
    use crate::core::engine::Session;
    use crate::store::{Backend, Processed, Store};

    #[tokio::test]
    async fn times_are_written_as_sqlx_writes_them() {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let time = "2026-11-30T12:34:56.789Z".parse::<DateTime<Utc>>().unwrap();
        let row = sqlx::query("SELECT $1").bind(stored_time(time)).fetch_one(&mut connection).await.unwrap();
        let bound: String = row.try_get(0).unwrap();
        assert_eq!(sqlite_time(time), bound);
        let day = sqlx::query("SELECT $1").bind(time.date_naive()).fetch_one(&mut connection).await.unwrap();
        assert_eq!(day.try_get::<String, _>(0).unwrap(), time.date_naive().format("%F").to_string());
    }

    /// A turn that moves its person's session to `step`, remembering the
    /// step it found; `panics` makes its logic panic.
    struct Move {
        phone: String,
        message_id: String,
        step: &'static str,
        panics: bool,
        found: Option<String>,
        session: Option<Session>,
        /// A code the turn completes: `(code, answers)`.
        completes: Option<Completion>,
        registration: Option<Registration>,
    }

    fn step(phone: &str, message_id: &str, step: &'static str) -> Move {
        Move {
            phone: phone.to_string(),
            message_id: message_id.to_string(),
            step,
            panics: false,
            found: None,
            session: None,
            completes: None,
            registration: None,
        }
    }

    /// A turn of `phone` completing `code` with answers `answers`.
    fn completing(phone: &str, message_id: &str, code: &str, answers: &str) -> Move {
        let completion = Completion {
            flow_id: "drc".into(),
            flow_version: 1,
            uic: code.into(),
            duplicate_key: format!("key-of-{answers}"),
            formula_fingerprint: "f".into(),
            language: "fr".into(),
            dhis2: Default::default(),
        };
        Move { completes: Some(completion), ..step(phone, message_id, "done") }
    }

    impl TurnWork for Move {
        type Output = Option<String>;
        fn phone(&self) -> &str {
            &self.phone
        }
        fn message(&self) -> Option<(&str, &str)> {
            Some(("test", &self.message_id))
        }
        fn now(&self) -> DateTime<Utc> {
            "2026-11-30T12:00:00Z".parse().unwrap()
        }
        fn start(&mut self, start: super::super::TurnStart) -> Result<(), StoreError> {
            assert!(!self.panics, "the turn's logic panics");
            self.found = start.session?.map(|session| session.current_step);
            self.session = Some(Session {
                flow_id: "drc".into(),
                flow_version: 1,
                language: "fr".into(),
                current_step: self.step.into(),
                answers: BTreeMap::from([("last_name".to_string(), self.phone.clone())]),
                invalid_attempts: 0,
                started_at: self.now(),
                updated_at: self.now(),
            });
            Ok(())
        }
        fn completion(&self) -> Option<(&Completion, bool)> {
            self.completes.as_ref().map(|completion| (completion, false))
        }
        fn registered(&mut self, registration: Registration) {
            self.registration = Some(registration);
        }
        fn writes(&self) -> Option<TurnWrites<'_>> {
            Some(TurnWrites {
                session: self.session.as_ref(),
                processed: Some(Processed {
                    channel: "test",
                    message_id: &self.message_id,
                    replies: &[],
                    forget_earlier: false,
                }),
                jobs: Vec::new(),
                counts: &[],
            })
        }
        fn output(self) -> Option<String> {
            match self.registration {
                Some(registration) => Some(format!("{registration:?}")),
                None => self.found,
            }
        }
    }

    /// Turns queued while the writer is held, so that they run as one batch.
    async fn queued_behind_the_writer(
        store: &Store,
        turns: Vec<Move>,
    ) -> Vec<tokio::task::JoinHandle<Result<Committed<Option<String>>, StoreError>>> {
        let held = store.begin("+243800000000").await.unwrap();
        let Backend::Sqlite(sqlite) = &store.0 else { unreachable!() };
        let waiting = || sqlite.group_commit().state.lock().unwrap().waiting.len();
        let mut tasks = Vec::new();
        for turn in turns {
            let store = store.clone();
            tasks.push(tokio::spawn(async move { store.run_turn(turn).await }));
            // Queued in this order: each waits for the one before.
            while waiting() < tasks.len() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        drop(held);
        tasks
    }

    async fn stored_step(store: &Store, phone: &str) -> Option<String> {
        let mut tx = store.begin(phone).await.unwrap();
        tx.session().await.unwrap().map(|session| session.current_step)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_turns_commit_together_and_one_persons_turns_stay_in_order() {
        let store = Store::in_memory().await.unwrap();
        let mut turns = Vec::new();
        for person in 0..10 {
            let phone = format!("+24381000{person:04}");
            turns.push(step(&phone, &format!("{person}-a"), "first"));
            turns.push(step(&phone, &format!("{person}-b"), "second"));
        }
        let tasks = queued_behind_the_writer(&store, turns).await;
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().unwrap());
        }
        for (index, committed) in results.iter().enumerate() {
            // Ten people at once: the first turns in one transaction, the second in the next.
            assert_eq!(committed.shared_with, 9, "turn {index}");
            let expected = (index % 2 == 1).then(|| "first".to_string());
            assert_eq!(committed.output, expected, "turn {index} read what the turn before wrote");
        }
        for person in 0..10 {
            assert_eq!(stored_step(&store, &format!("+24381000{person:04}")).await.as_deref(), Some("second"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_is_answered_once_its_commit_is_synced_and_the_next_batch_does_not_wait_for_that() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/uic.db", dir.path().display())).await.unwrap();
        let Backend::Sqlite(sqlite) = &store.0 else { unreachable!() };
        let wal = sqlite.wal_sync().expect("a file synced at every commit syncs batches beside the writer");
        // The WAL's syncs wait until the gate opens.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        *wal.before_sync.lock().unwrap() = Some(Box::new({
            let gate = gate.clone();
            move || {
                let (open, opened) = &*gate;
                let _open = opened.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
            }
        }));
        let mut tasks = Vec::new();
        for phone in ["+243810000001", "+243810000002"] {
            let turns = store.clone();
            tasks.push(tokio::spawn(async move { turns.run_turn(step(phone, phone, "first")).await }));
            // Committed (the writer is free to read it back), not yet answered.
            let committed = async {
                while stored_step(&store, phone).await.is_none() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), committed).await.expect("the turn commits");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(tasks.iter().all(|task| !task.is_finished()), "answered before its commit was synced");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // Everything else still syncs its own commits.
        let mut writer = sqlite.writer().await;
        let row = sqlx::query("PRAGMA synchronous").fetch_one(writer.connection().unwrap()).await.unwrap();
        assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "FULL");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_whose_logic_panics_fails_alone() {
        let store = Store::in_memory().await.unwrap();
        let mut panicking = step("+243810000002", "p", "first");
        panicking.panics = true;
        let turns = vec![step("+243810000001", "a", "first"), panicking, step("+243810000003", "c", "first")];
        let tasks = queued_behind_the_writer(&store, turns).await;
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await);
        }
        assert!(outcomes[1].as_ref().unwrap_err().is_panic(), "the panic reaches the turn's own task");
        for index in [0, 2] {
            let committed = outcomes[index].as_ref().unwrap().as_ref().unwrap();
            assert_eq!(committed.shared_with, 1, "committed with the other turn that did not panic");
        }
        assert_eq!(stored_step(&store, "+243810000001").await.as_deref(), Some("first"));
        assert_eq!(stored_step(&store, "+243810000002").await, None);
        assert_eq!(stored_step(&store, "+243810000003").await.as_deref(), Some("first"));
        // The runner carries on.
        let later = store.run_turn(step("+243810000002", "p2", "first")).await.unwrap();
        assert_eq!(later.output, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_the_database_refuses_fails_alone_and_its_neighbours_commit() {
        let store = Store::in_memory().await.unwrap();
        let Backend::Sqlite(sqlite) = &store.0 else { unreachable!() };
        let mut writer = sqlite.writer().await;
        writer
            .connection()
            .unwrap()
            .execute(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON conversation_sessions
                 WHEN NEW.phone_number = '+243810000005' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .await
            .unwrap();
        drop(writer);
        let turns = vec![
            step("+243810000004", "a", "first"),
            step("+243810000005", "b", "first"),
            step("+243810000006", "c", "first"),
        ];
        let tasks = queued_behind_the_writer(&store, turns).await;
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        assert!(matches!(results[1], Err(StoreError::Database(_))), "{:?}", results[1]);
        for index in [0, 2] {
            // Run again alone once the batch failed.
            assert_eq!(results[index].as_ref().unwrap().shared_with, 0);
        }
        assert_eq!(stored_step(&store, "+243810000004").await.as_deref(), Some("first"));
        assert_eq!(stored_step(&store, "+243810000005").await, None);
        assert_eq!(stored_step(&store, "+243810000006").await.as_deref(), Some("first"));
        // Nothing of the refused turn was kept: not even its message id.
        let Backend::Sqlite(sqlite) = &store.0 else { unreachable!() };
        let mut writer = sqlite.writer().await;
        let processed: i64 = sqlx::query("SELECT COUNT(*) FROM processed_messages WHERE message_id = 'b'")
            .fetch_one(writer.connection().unwrap())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(processed, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codes_completed_in_one_batch_are_recorded_as_one_after_another_would_be() {
        let store = Store::in_memory().await.unwrap();
        // Held before: the same answers come again in the batch.
        let before = store.run_turn(completing("+243820000000", "0", "AAA", "anna")).await.unwrap();
        assert_eq!(before.output.as_deref(), Some("New"));
        let turns = vec![
            completing("+243820000001", "1", "BBB", "bob"),
            // Other answers, a code the turn before in the batch made.
            completing("+243820000002", "2", "BBB", "bobby"),
            // The same answers as the first of the batch, from another phone.
            completing("+243820000003", "3", "BBB", "bob"),
            completing("+243820000004", "4", "AAA", "anna"),
            completing("+243820000005", "5", "AAA", "anna"),
            // Other answers, a code held before the batch.
            completing("+243820000006", "6", "AAA", "annie"),
        ];
        let tasks = queued_behind_the_writer(&store, turns).await;
        let mut registrations = Vec::new();
        for task in tasks {
            let committed = task.await.unwrap().unwrap();
            assert_eq!(committed.shared_with, 5, "one batch");
            registrations.push(committed.output.unwrap());
        }
        assert_eq!(registrations, ["New", "SameCode", "SameAnswers", "SameAnswers", "SameAnswers", "SameCode"]);
        let Backend::Sqlite(sqlite) = &store.0 else { unreachable!() };
        let mut writer = sqlite.writer().await;
        let records: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT uic_code, duplicate_key, request_count FROM uic_records ORDER BY id")
                .fetch_all(writer.connection().unwrap())
                .await
                .unwrap();
        assert_eq!(
            records,
            [("AAA".to_string(), "key-of-anna".to_string(), 3), ("BBB".to_string(), "key-of-bob".to_string(), 2)]
        );
        let collisions: Vec<(String, String)> =
            sqlx::query_as("SELECT uic_code, duplicate_key FROM uic_collisions ORDER BY id")
                .fetch_all(writer.connection().unwrap())
                .await
                .unwrap();
        assert_eq!(
            collisions,
            [("BBB".to_string(), "key-of-bobby".to_string()), ("AAA".to_string(), "key-of-annie".to_string())]
        );
    }
}
