//! Group commit: the turns waiting to be stored run together, several
//! people's turns in one transaction, on both backends.
//!
//! A turn's cost is mostly not its rows but what surrounds each statement:
//! on SQLite the hand-offs between tokio's threads and sqlx's worker thread,
//! on PostgreSQL the server's work per statement and per commit (parse,
//! executor start-up, locks, the WAL flush) and the round trips. So a batch
//! costs a few statements whatever its size: every person's session and
//! "processed before?" read by one statement, then every write, table by
//! table, with the commit (plus, when turns complete codes, one read of the
//! records). Each statement takes its batch as JSON arrays, so its text never
//! changes and stays prepared. The backends differ only in their statements
//! and in how many batches run at once ([`Batches`]): SQLite has one writer
//! ([`sqlite`]); PostgreSQL runs a few side by side, each person under an
//! advisory lock that other processes on the same database honour too
//! ([`postgres`]).
//!
//! Guarantees, the same as a transaction per turn:
//! - a request is answered only after the commit that holds its turn;
//! - one person's turns never share a batch, nor run in two batches at once,
//!   so each reads what the one before wrote, in the order they came;
//! - when a batch fails (a database error, a statement refused), it is rolled
//!   back and each of its turns is run again alone, so a failing turn fails
//!   alone and its neighbours commit;
//! - a turn's logic that panics fails that turn only: the panic reaches the
//!   turn's own task, as if it had run there.

mod postgres;
mod sqlite;

pub use postgres::BATCHES_AT_ONCE as POSTGRES_BATCHES_AT_ONCE;

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock, PoisonError};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use super::turn::{Committed, TurnWork, TurnWrites};
use super::{StoreError, TurnStart, stored_time};
use crate::core::dhis2::RegistrationState;
use crate::core::engine::{Completion, Registration};

/// At most this many turns in one transaction: enough to empty the queue of
/// a busy server, few enough that one batch's statements stay small.
const MAX_BATCH: usize = 128;

/// What a backend does for a batch; the runner ([`run_batches`]) does the rest.
pub(super) trait Batches: Clone + Send + Sync + 'static {
    /// What a batch runs on: SQLite's one writer, or a PostgreSQL connection.
    type Connection: Send;
    /// How many batches may run at once.
    const RUNNERS: usize;

    fn group_commit(&self) -> &GroupCommit;
    /// A connection for the next batch, once one is free.
    fn connection(&self) -> impl Future<Output = Result<Self::Connection, StoreError>> + Send;
    /// Begins the batch's transaction, takes what locks it needs, and reads
    /// each turn's start, in the batch's order.
    fn read(
        connection: &mut Self::Connection,
        turns: &[TurnKey<'_>],
    ) -> impl Future<Output = Result<Vec<Result<TurnStart, StoreError>>, StoreError>> + Send;
    /// For each `(duplicate key, code)` completed in the batch, in order:
    /// whether a record has those answers, and whether one has that code.
    fn lookup(
        connection: &mut Self::Connection,
        completed: &[(&str, &str)],
    ) -> impl Future<Output = Result<Vec<(bool, bool)>, StoreError>> + Send;
    /// Writes the batch and commits it; returns each QR link asked for, as
    /// `(code, token)` (a code missing gets its link from the channel).
    fn write(
        connection: &mut Self::Connection,
        writes: Writes,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
    /// Rolls back what a failed batch left open.
    fn settle(connection: &mut Self::Connection) -> impl Future<Output = ()> + Send;
    /// Hands each turn its result, once its commit is durable; `committed`
    /// turns shared the transaction.
    fn answer(&self, results: Results, committed: usize) {
        answer_all(results, committed, None);
    }
}

/// Which person a turn is, and which message.
pub(super) struct TurnKey<'a> {
    pub phone: &'a str,
    pub message: Option<(&'a str, &'a str)>,
}

/// The turns waiting to be stored, and the runners storing them.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Box<dyn Queued>>,
    /// Runners at work.
    running: usize,
    /// The people whose turn a runner holds: their next turns wait for it.
    in_flight: HashSet<String>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

/// Why a turn did not commit.
pub(super) enum Failure {
    Store(StoreError),
    /// Its logic panicked: the panic is resumed in the turn's own task. (In a
    /// mutex only to be `Sync`: the batch's outcomes are held across awaits.)
    Panic(Mutex<Box<dyn Any + Send>>),
}

/// A turn waiting for its batch, and where its result goes; [`TurnWork`] with
/// its output type hidden, so one queue holds every kind of turn.
pub(super) trait Queued: Send + Sync {
    fn phone(&self) -> &str;
    fn message(&self) -> Option<(&str, &str)>;
    fn now(&self) -> DateTime<Utc>;
    fn start(&mut self, start: TurnStart) -> Result<(), Failure>;
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
    fn start(&mut self, start: TurnStart) -> Result<(), Failure> {
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

/// Runs a turn in the next batch (see the module's comment).
pub(super) async fn run_turn<B: Batches, W: TurnWork>(store: &B, work: W) -> Result<Committed<W::Output>, StoreError> {
    let (reply, answer) = oneshot::channel();
    let start_runner = {
        let mut queue = store.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
        queue.waiting.push_back(Box::new(Pending { work, reply }));
        let start = queue.running < B::RUNNERS;
        queue.running += usize::from(start);
        start
    };
    if start_runner {
        tokio::spawn(run_batches(store.clone()));
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

/// A runner at work and the people of the batch it holds. However it ends,
/// it marks itself stopped and lets go of its people; should it end by a
/// panic (a bug of the store), a new one takes over the turns still waiting.
struct Running<B: Batches> {
    store: B,
    people: Vec<String>,
}

impl<B: Batches> Running<B> {
    /// The next batch: the oldest waiting turns, at most one per person, and
    /// none of a person another runner holds (their later turns wait, still
    /// in order). Empty, it marks the runner stopped, under the same lock as
    /// [`run_turn`]'s check.
    fn take_batch(&mut self) -> Vec<Box<dyn Queued>> {
        let mut queue = self.store.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
        for phone in self.people.drain(..) {
            queue.in_flight.remove(&phone);
        }
        let mut batch: Vec<Box<dyn Queued>> = Vec::new();
        for turn in std::mem::take(&mut queue.waiting) {
            if batch.len() < MAX_BATCH && queue.in_flight.insert(turn.phone().to_string()) {
                self.people.push(turn.phone().to_string());
                batch.push(turn);
            } else {
                queue.waiting.push_back(turn);
            }
        }
        if batch.is_empty() {
            queue.running -= 1;
        }
        batch
    }
}

impl<B: Batches> Drop for Running<B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.store.group_commit().state.lock().unwrap_or_else(PoisonError::into_inner);
            for phone in self.people.drain(..) {
                queue.in_flight.remove(&phone);
            }
            if queue.waiting.is_empty() {
                queue.running -= 1;
            } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(run_batches(self.store.clone()));
            }
        }
    }
}

/// Runs batches until no turn it may take waits.
async fn run_batches<B: Batches>(store: B) {
    let mut running = Running { store, people: Vec::new() };
    loop {
        // The connection first: turns that come while it is busy join this batch.
        let connection = running.store.connection().await;
        let batch = running.take_batch();
        if batch.is_empty() {
            return;
        }
        let mut connection = match connection {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(error = %error, turns = batch.len(), "no connection for a batch of turns");
                let results = batch.into_iter().map(|turn| (turn, Err(Failure::Store(error.again())))).collect();
                answer_all(results, 1, None);
                continue;
            }
        };
        let (results, committed_together) = run_or_split::<B>(&mut connection, batch).await;
        drop(connection);
        let committed =
            if committed_together { results.iter().filter(|(_, result)| result.is_ok()).count() } else { 1 };
        running.store.answer(results, committed);
    }
}

/// Hands each turn its result; a failed sync fails the turns that committed
/// (they are stored: a redelivery of their message gets their replies).
pub(super) fn answer_all(results: Results, committed: usize, sync_failed: Option<&std::io::Error>) {
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

pub(super) type Results = Vec<(Box<dyn Queued>, Result<(), Failure>)>;

/// Runs a batch; if it fails, runs each of its turns alone. Says whether
/// the batch committed as one.
async fn run_or_split<B: Batches>(connection: &mut B::Connection, mut batch: Vec<Box<dyn Queued>>) -> (Results, bool) {
    let failure = match run_batch::<B>(connection, &mut batch).await {
        Ok(outcomes) => return (batch.into_iter().zip(outcomes).collect(), true),
        Err(error) => error,
    };
    B::settle(connection).await;
    if batch.len() == 1 {
        return (batch.into_iter().zip([Err(Failure::Store(failure))]).collect(), false);
    }
    tracing::warn!(turns = batch.len(), error = %failure, "a batch of turns failed: each is run again alone");
    let mut results = Vec::with_capacity(batch.len());
    for turn in batch {
        let mut alone = [turn];
        let result = match run_batch::<B>(connection, &mut alone).await {
            Ok(mut outcomes) => outcomes.pop().unwrap_or(Ok(())),
            Err(error) => {
                B::settle(connection).await;
                Err(Failure::Store(error))
            }
        };
        let [turn] = alone;
        results.push((turn, result));
    }
    (results, false)
}

/// One transaction for the batch: the reads, each turn's logic, the codes
/// completed, the writes and the commit. `Err` when the transaction failed
/// (the caller rolls it back); otherwise each turn's own outcome, a failure
/// of its logic leaving it out of the writes.
async fn run_batch<B: Batches>(
    connection: &mut B::Connection,
    batch: &mut [Box<dyn Queued>],
) -> Result<Vec<Result<(), Failure>>, StoreError> {
    let keys: Vec<TurnKey<'_>> =
        batch.iter().map(|turn| TurnKey { phone: turn.phone(), message: turn.message() }).collect();
    let starts = B::read(connection, &keys).await?;
    drop(keys);
    one_row_each("turns", starts.len(), batch.len())?;
    let outcomes: Vec<Result<(), Failure>> = batch
        .iter_mut()
        .zip(starts)
        .map(|(turn, start)| start.map_err(Failure::Store).and_then(|start| turn.start(start)))
        .collect();
    let mut writes = Writes::default();
    register_all::<B>(connection, batch, &outcomes, &mut writes).await?;
    let mut linking = Vec::new();
    for (index, (turn, outcome)) in batch.iter().zip(&outcomes).enumerate() {
        if let (Ok(()), Some(turn_writes)) = (outcome, turn.writes()) {
            writes.add(turn.phone(), turn.now(), turn_writes)?;
            if let Some((uic, valid_since)) = turn.qr_link() {
                writes.link(uic, turn.now(), valid_since);
                linking.push(index);
            }
        }
    }
    // Committed: each QR link's token goes to its turn.
    let tokens: HashMap<String, String> = B::write(connection, writes).await?.into_iter().collect();
    for index in linking {
        let token = batch[index].qr_link().and_then(|(uic, _)| tokens.get(uic)).cloned();
        if let Some(token) = token {
            batch[index].qr_linked(token);
        }
    }
    Ok(outcomes)
}

/// A read of a batch must give one row for each of its `what`.
fn one_row_each(what: &str, rows: usize, expected: usize) -> Result<(), StoreError> {
    if rows == expected {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        what: format!("batch of {what}"),
        detail: format!("{rows} rows read for {expected} {what}"),
    })
}

/// Records the codes the batch's turns completed, as [`super::codes::register`]
/// would one after another: one read of what the database holds, then the
/// rules applied in the batch's order, so that a code or answers completed
/// earlier in the batch count as held. The records, requests and collisions
/// join the batch's writes.
async fn register_all<B: Batches>(
    connection: &mut B::Connection,
    batch: &mut [Box<dyn Queued>],
    outcomes: &[Result<(), Failure>],
    writes: &mut Writes,
) -> Result<(), StoreError> {
    let completing: Vec<usize> =
        (0..batch.len()).filter(|&index| outcomes[index].is_ok() && batch[index].completion().is_some()).collect();
    if completing.is_empty() {
        return Ok(());
    }
    let keys: Vec<(&str, &str)> = completing
        .iter()
        .filter_map(|&index| batch[index].completion())
        .map(|(completion, _)| (completion.duplicate_key.as_str(), completion.uic.as_str()))
        .collect();
    let held = B::lookup(connection, &keys).await?;
    drop(keys);
    one_row_each("codes", held.len(), completing.len())?;
    // The records this batch adds, by duplicate key: their index in `writes.records`.
    let mut new_answers: HashMap<String, usize> = HashMap::new();
    let mut new_codes = HashSet::new();
    for (&index, &(same_answers, same_code)) in completing.iter().zip(&held) {
        let turn = &mut batch[index];
        let Some((completion, to_dhis2)) = turn.completion() else { continue };
        let time = text_time(turn.now());
        let registration = if let Some(&record) = new_answers.get(&completion.duplicate_key) {
            // Asked again in the same batch: one more request of the new record.
            writes.records[record].request_count += 1;
            writes.records[record].last_requested_at = time;
            Registration::SameAnswers
        } else if same_answers {
            let asked = writes.asked.entry(completion.duplicate_key.clone()).or_insert_with(|| NewRecord {
                request_count: 0,
                ..NewRecord::of(turn.phone(), completion, to_dhis2, &time)
            });
            asked.request_count += 1;
            asked.last_requested_at = time;
            Registration::SameAnswers
        } else if same_code || new_codes.contains(&completion.uic) {
            writes.collisions.push(&(
                &completion.uic,
                &completion.flow_id,
                &completion.duplicate_key,
                turn.phone(),
                &time,
            ))?;
            Registration::SameCode
        } else {
            new_answers.insert(completion.duplicate_key.clone(), writes.records.len());
            new_codes.insert(completion.uic.clone());
            writes.records.push(NewRecord::of(turn.phone(), completion, to_dhis2, &time));
            Registration::New
        };
        turn.registered(registration);
    }
    Ok(())
}

/// The batch's writes, one JSON array per statement ([`Writes::arrays`]).
#[derive(Default)]
pub(super) struct Writes {
    upserts: JsonArray,
    deletes: JsonArray,
    forgets: JsonArray,
    processed: JsonArray,
    jobs: JsonArray,
    /// Summed over the batch: one statement may not change a row twice.
    counts: BTreeMap<(NaiveDate, String, String, &'static str), i64>,
    /// New codes' records.
    records: Vec<NewRecord>,
    /// Answers held before the batch asked for again: their record as the
    /// first asking made it, with how many times and when last.
    asked: BTreeMap<String, NewRecord>,
    collisions: JsonArray,
    /// Each code's QR link asked for: a new token, the time, and the oldest
    /// time a link is still valid. One per code: a statement may not change a
    /// row twice.
    qr_links: BTreeMap<String, (String, String, String)>,
}

/// A new code's record; asked for again later in its batch, it is written
/// with those requests counted.
struct NewRecord {
    code: String,
    duplicate_key: String,
    phone: String,
    flow_id: String,
    flow_version: u32,
    formula_fingerprint: String,
    created_at: String,
    dhis2_status: Option<&'static str>,
    request_count: i64,
    last_requested_at: String,
}

/// The JSON arrays of a batch's writes, in the order of the backends'
/// statements: sessions upserted, sessions deleted, phones whose earlier
/// replies are forgotten, messages processed, outbox jobs, counts, new
/// records with the answers held before asked again (as upserts on the
/// answers' unique index), collisions, QR links.
pub(super) type WriteArrays = [String; 9];

impl NewRecord {
    /// The record `phone`'s completion makes at `time`, asked for once.
    fn of(phone: &str, completion: &Completion, to_dhis2: bool, time: &str) -> NewRecord {
        NewRecord {
            code: completion.uic.clone(),
            duplicate_key: completion.duplicate_key.clone(),
            phone: phone.to_string(),
            flow_id: completion.flow_id.clone(),
            flow_version: completion.flow_version,
            formula_fingerprint: completion.formula_fingerprint.clone(),
            created_at: time.to_string(),
            dhis2_status: to_dhis2.then_some(RegistrationState::Pending.as_str()),
            request_count: 1,
            last_requested_at: time.to_string(),
        }
    }

    /// The record as the statements read it: one array.
    fn row(&self) -> impl Serialize + '_ {
        (
            &self.code,
            &self.duplicate_key,
            &self.phone,
            &self.flow_id,
            self.flow_version,
            &self.formula_fingerprint,
            &self.created_at,
            self.dhis2_status,
            self.request_count,
            &self.last_requested_at,
        )
    }
}

impl Writes {
    fn add(&mut self, phone: &str, now: DateTime<Utc>, turn: TurnWrites<'_>) -> Result<(), StoreError> {
        let time = text_time(now);
        match turn.session {
            Some(session) => {
                let answers = serde_json::to_string(&session.answers)
                    .map_err(|error| super::error::corrupt_json("session answers", &error))?;
                self.upserts.push(&(
                    phone,
                    &session.flow_id,
                    session.flow_version,
                    &session.language,
                    &session.current_step,
                    answers,
                    session.invalid_attempts,
                    text_time(session.started_at),
                    text_time(session.updated_at),
                ))?;
            }
            None => self.deletes.push(phone)?,
        }
        if let Some(processed) = turn.processed {
            if processed.forget_earlier {
                self.forgets.push(phone)?;
            }
            let replies = serde_json::to_string(processed.replies)
                .map_err(|error| super::error::corrupt_json("replies", &error))?;
            // The phone is kept only with replies.
            let kept_phone = (!processed.replies.is_empty()).then_some(phone);
            self.processed.push(&(processed.channel, processed.message_id, replies, &time, kept_phone))?;
        }
        for job in &turn.jobs {
            self.jobs.push(&(job.kind, job.recipient, job.payload, &time))?;
        }
        for counted in turn.counts {
            let key = (now.date_naive(), counted.flow_id.clone(), counted.step_id.clone(), counted.event.as_str());
            *self.counts.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Asks for code `uic`'s QR link, made at `now` unless one made since
    /// `valid_since` exists.
    fn link(&mut self, uic: &str, now: DateTime<Utc>, valid_since: DateTime<Utc>) {
        self.qr_links
            .entry(uic.to_string())
            .or_insert_with(|| (crate::support::ids::token(), text_time(now), text_time(valid_since)));
    }

    /// The arrays the backends' statements take (see [`WriteArrays`]); each
    /// array's elements are as the statements read them.
    pub(super) fn arrays(self) -> Result<WriteArrays, StoreError> {
        let counts = self
            .counts
            .iter()
            .map(|((day, flow, step, outcome), n)| (day.format("%F").to_string(), flow, step, outcome, n));
        let records = self.records.iter().chain(self.asked.values()).map(NewRecord::row);
        let links = self.qr_links.iter().map(|(code, (token, time, valid_since))| (code, token, time, valid_since));
        Ok([
            self.upserts.finish(),
            self.deletes.finish(),
            self.forgets.finish(),
            self.processed.finish(),
            self.jobs.finish(),
            json_array(counts)?,
            json_array(records)?,
            self.collisions.finish(),
            json_array(links)?,
        ])
    }
}

/// An array with no elements, as [`JsonArray`] writes it.
pub(super) const EMPTY_ARRAY: &str = "[]";

/// Which of a batch's [`WriteArrays`] have elements: a backend writes only
/// those tables.
pub(super) type Present = [bool; 9];

/// Which of `arrays` have elements.
pub(super) fn present(arrays: &WriteArrays) -> Present {
    arrays.each_ref().map(|array| array != EMPTY_ARRAY)
}

/// The texts of a batch's writes, one for each [`Present`] combination.
pub(super) type WriteTexts = [OnceLock<String>; 1 << 9];

/// The writes' text for the tables `present`, made by `build` the first time
/// that combination comes and kept: a batch then neither builds its
/// statement again nor makes the driver hash a new text to find it prepared.
pub(super) fn write_text(texts: &'static WriteTexts, present: Present, build: fn(Present) -> String) -> &'static str {
    let key = present.iter().enumerate().map(|(bit, &present)| usize::from(present) << bit).sum::<usize>();
    texts[key].get_or_init(|| build(present))
}

/// A JSON array written element by element, each serialized straight into
/// the text: no `serde_json::Value` tree, whose every string is a copy.
#[derive(Default)]
struct JsonArray(Vec<u8>);

impl JsonArray {
    fn push(&mut self, element: &(impl Serialize + ?Sized)) -> Result<(), StoreError> {
        self.0.push(if self.0.is_empty() { b'[' } else { b',' });
        serde_json::to_writer(&mut self.0, element).map_err(|error| super::error::corrupt_json("batch", &error))
    }

    fn finish(mut self) -> String {
        if self.0.is_empty() {
            return EMPTY_ARRAY.to_string();
        }
        self.0.push(b']');
        // Only serde_json wrote here, and it writes UTF-8.
        String::from_utf8(self.0).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }
}

/// The batch's turns as its read takes them: `[channel, message id, phone]`
/// each, the message's empty when it has none.
pub(super) fn turn_keys(turns: &[TurnKey<'_>]) -> Result<String, StoreError> {
    json_array(turns.iter().map(|turn| {
        let (channel, message_id) = turn.message.unwrap_or(("", ""));
        (channel, message_id, turn.phone)
    }))
}

/// `elements` as one JSON array.
pub(super) fn json_array<T: Serialize>(elements: impl IntoIterator<Item = T>) -> Result<String, StoreError> {
    let mut array = JsonArray::default();
    for element in elements {
        array.push(&element)?;
    }
    Ok(array.finish())
}

/// A time as sqlx writes a `DateTime<Utc>` into SQLite (RFC 3339, whole
/// seconds here): the batch's times are written as text, which SQLite stores
/// as is and PostgreSQL reads as a `timestamptz`, and on SQLite must compare
/// with those bound one by one elsewhere.
fn text_time(time: DateTime<Utc>) -> String {
    stored_time(time).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use sqlx::{Connection, Executor, Row, SqliteConnection};

    use super::*;
    use crate::core::engine::Session;
    use crate::store::{Backend, Processed, Store};

    #[test]
    fn arrays_are_the_json_the_statements_read() {
        let mut array = JsonArray::default();
        assert_eq!(JsonArray::default().finish(), "[]");
        array.push(&("+243 \"Kin\"\n", 3_u32, None::<&str>, -1_i64)).unwrap();
        array.push("é").unwrap();
        let text = array.finish();
        let expected = serde_json::json!([["+243 \"Kin\"\n", 3, null, -1], "é"]);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), expected);
        assert_eq!(text, expected.to_string());
        assert_eq!(json_array([("a", "b"), ("c", "d")]).unwrap(), r#"[["a","b"],["c","d"]]"#);
    }

    #[tokio::test]
    async fn times_are_written_as_sqlx_writes_them() {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let time = "2026-11-30T12:34:56.789Z".parse::<DateTime<Utc>>().unwrap();
        let row = sqlx::query("SELECT $1").bind(stored_time(time)).fetch_one(&mut connection).await.unwrap();
        let bound: String = row.try_get(0).unwrap();
        assert_eq!(text_time(time), bound);
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
