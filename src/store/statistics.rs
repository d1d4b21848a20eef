//! The staff dashboard's counters (migration 0014), the same SQL on both
//! backends but for the expiry of sessions: a turn adds its counts
//! ([`crate::core::engine::stats`]) in its own transaction, the cleanup
//! counts the sessions it removes as expired, and the dashboard reads a
//! period. Only words and counts: never an answer, never a phone number.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use super::{StoreError, stored_time};
use crate::core::engine::stats::Event;

/// The dashboard's counters over a period of UTC days
/// ([`super::Store::flow_statistics`]). Every figure counts conversations
/// handled by the channels (never the console's simulator), counted by the
/// turn that did it, in its transaction, on the UTC day of that turn; no
/// answer and no phone number is behind any of them.
///
/// A conversation is one run through a flow, from its first question to its
/// end. Each one started ends in exactly one way, or is still going on:
/// `started = completed + restarted + expired + escalated + (in progress)`,
/// give or take conversations replaced by a new version of their flow
/// (counted started again, not ended) and on PostgreSQL a person writing
/// at the very moment the cleanup removes their expired session (counted
/// expired twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStatistics {
    /// Per UTC day and flow, for the days with any conversation counted,
    /// by day then flow id: started vs completed, and how the others ended.
    pub days: Vec<FlowDay>,
    /// Per flow and step over the whole period, for the steps with any
    /// count, by flow id then step id (not the flow's order: put them in
    /// the order of the flow's `steps`, with [`crate::core::engine::CONFIRM_STEP`]
    /// after the last, and show a step missing here with zeros, see
    /// [`FlowStatistics::step`]). Steps of an older version of a flow may
    /// be among them.
    pub steps: Vec<FlowStep>,
}

/// One UTC day of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDay {
    pub day: NaiveDate,
    pub flow_id: String,
    pub conversations: ConversationCounts,
}

/// Conversations begun and ended, in one flow over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationCounts {
    /// Conversations begun: a first message, RESTART (or NON at a
    /// confirmation: the person starts again, which is a new conversation),
    /// a message after the session expired, or a new version of the flow.
    pub started: i64,
    /// Conversations that reached their code, new or not: a code issued,
    /// the same answers given again, or a possible collision. On a day with
    /// no code created earlier requested again, it is the day's
    /// `codes + repeat_requests + collisions` in `uic report` (the report
    /// counts a repeat on the day its code was created, this on the day it
    /// was asked for).
    pub completed: i64,
    /// Conversations the person started again (RESTART, or NON at the confirmation).
    pub restarted: i64,
    /// Conversations whose session expired (found by the cleanup, or by the
    /// person's next message), counted on the day it was found.
    pub expired: i64,
    /// Conversations ended after too many invalid answers.
    pub escalated: i64,
}

impl ConversationCounts {
    /// Conversations that ended without a code: restarted, expired or escalated.
    pub fn gave_up(&self) -> i64 {
        self.restarted + self.expired + self.escalated
    }
}

/// One step of one flow: its row of the funnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStep {
    pub flow_id: String,
    /// The step's id in the flow, or [`crate::core::engine::CONFIRM_STEP`]
    /// for a flow's confirmation of the answers.
    pub step_id: String,
    pub counts: StepCounts,
}

/// What happened at one step (see [`FlowStep`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Conversations that were asked this step: once per conversation (a
    /// question asked again after an invalid answer, HELP, a language
    /// switch or BACK is not counted again). The first step's `reached` is
    /// the flow's `started`.
    pub reached: i64,
    /// Answers refused here: invalid, empty or too long (at the
    /// confirmation, a reply that was neither yes nor no). One person may
    /// give several; the answer that ends the conversation at the attempt
    /// cap is counted too.
    pub invalid: i64,
    /// Conversations the person started again while at this step.
    pub restarted: i64,
    /// Conversations whose session expired while at this step.
    pub expired: i64,
    /// Conversations ended here after too many invalid answers.
    pub escalated: i64,
}

impl StepCounts {
    /// Conversations that ended at this step without a code.
    pub fn gave_up(&self) -> i64 {
        self.restarted + self.expired + self.escalated
    }
}

impl FlowStatistics {
    /// The counts of `step_id` in `flow_id`; zeros when nothing happened there.
    pub fn step(&self, flow_id: &str, step_id: &str) -> StepCounts {
        self.steps
            .iter()
            .find(|step| step.flow_id == flow_id && step.step_id == step_id)
            .map(|step| step.counts)
            .unwrap_or_default()
    }

    /// The conversations of `flow_id` over the whole period.
    pub fn conversations(&self, flow_id: &str) -> ConversationCounts {
        self.days.iter().filter(|day| day.flow_id == flow_id).fold(ConversationCounts::default(), |sum, day| {
            let c = day.conversations;
            ConversationCounts {
                started: sum.started + c.started,
                completed: sum.completed + c.completed,
                restarted: sum.restarted + c.restarted,
                expired: sum.expired + c.expired,
                escalated: sum.escalated + c.escalated,
            }
        })
    }

    /// The flows with any count, by id.
    pub fn flows(&self) -> Vec<&str> {
        let mut flows: Vec<&str> = self.days.iter().map(|day| day.flow_id.as_str()).collect();
        flows.extend(self.steps.iter().map(|step| step.flow_id.as_str()));
        flows.sort_unstable();
        flows.dedup();
        flows
    }
}

/// Shards of each counter on PostgreSQL (migration 0016): batches of turns
/// running beside each other add to different rows of a counter rather than
/// queue on one row's lock until each other's commit.
pub(super) const SHARDS: u16 = 8;

/// The shard a batch of turns adds to (`group_commit`), chosen by its first
/// person's phone number: spread over the shards.
pub(super) fn shard_of(phone: &str) -> i16 {
    let hash = phone.bytes().fold(0u32, |hash, byte| hash.wrapping_mul(31).wrapping_add(u32::from(byte)));
    (hash % u32::from(SHARDS)) as i16
}

/// Adds each `[day, flow, step, outcome, count]` of `$n` to its counter
/// (SQLite's group commit: several people's counts, each key once).
pub(super) fn count_batch_sql(n: usize) -> String {
    format!(
        "INSERT INTO flow_statistics (day, flow_id, step_id, outcome, count)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM jsonb_each(${n}) WHERE true
         ON CONFLICT (day, flow_id, step_id, outcome, shard) DO UPDATE SET count = flow_statistics.count + excluded.count"
    )
}

/// SQLite: counts the sessions idle since before `$1` as expired on day
/// `$2`, per flow and step; [`super::maintenance::CLEANUP_SESSIONS`]
/// then removes them, in the same transaction (one writer: nothing comes
/// between). `WHERE` before `ON CONFLICT` keeps SQLite's parser from
/// reading the upsert as a join.
pub(super) const EXPIRE_SESSIONS_SQLITE: &str = "INSERT INTO flow_statistics (day, flow_id, step_id, outcome, count)
     SELECT $2, flow_id, current_step, 'expired', COUNT(*) FROM conversation_sessions WHERE updated_at < $1
     GROUP BY flow_id, current_step
     ON CONFLICT (day, flow_id, step_id, outcome, shard) DO UPDATE SET count = flow_statistics.count + excluded.count";

/// PostgreSQL: removes the sessions idle since before `$1` and counts
/// exactly those as expired on day `$2`, in one statement (turns run beside
/// it); the row is how many were removed.
pub(super) const EXPIRE_SESSIONS_POSTGRES: &str =
    "WITH gone AS (DELETE FROM conversation_sessions WHERE updated_at < $1 RETURNING flow_id, current_step),
     counted AS (
       INSERT INTO flow_statistics (day, flow_id, step_id, outcome, count)
       SELECT $2, flow_id, current_step, 'expired', COUNT(*) FROM gone GROUP BY flow_id, current_step
       ON CONFLICT (day, flow_id, step_id, outcome, shard) DO UPDATE SET count = flow_statistics.count + excluded.count)
     SELECT COUNT(*) FROM gone";

/// [`EXPIRE_SESSIONS_SQLITE`] or [`EXPIRE_SESSIONS_POSTGRES`] with the
/// cutoff and the UTC day of `now` bound.
pub(super) fn expire_sessions<'q, DB>(
    sql: &'static str,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
    for<'t> NaiveDate: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(sql).bind(stored_time(cutoff)).bind(now.date_naive())
}

/// Every counter of the days `[$1, $2)`: a range of the primary key.
pub(super) const PERIOD: &str =
    "SELECT day, flow_id, step_id, outcome, count FROM flow_statistics WHERE day >= $1 AND day < $2";

/// [`PERIOD`] from `from` up to (not including) `until`.
pub(super) fn period<'q, DB>(from: NaiveDate, until: NaiveDate) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'t> NaiveDate: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(PERIOD).bind(from).bind(until)
}

/// The [`FlowStatistics`] in the rows of [`PERIOD`]. A word this version
/// does not know (written by a newer one) is left out rather than failing
/// the dashboard.
pub(super) fn statistics_from<R>(rows: &[R]) -> Result<FlowStatistics, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> NaiveDate: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut days: BTreeMap<(NaiveDate, String), ConversationCounts> = BTreeMap::new();
    let mut steps: BTreeMap<(String, String), StepCounts> = BTreeMap::new();
    for row in rows {
        let day: NaiveDate = row.try_get("day")?;
        let flow_id: String = row.try_get("flow_id")?;
        let step_id: String = row.try_get("step_id")?;
        let outcome: String = row.try_get("outcome")?;
        let count: i64 = row.try_get("count")?;
        let Some(event) = Event::parse(&outcome) else { continue };
        let conversations = days.entry((day, flow_id.clone())).or_default();
        match event {
            Event::Started => conversations.started += count,
            Event::Completed => conversations.completed += count,
            Event::Restarted => conversations.restarted += count,
            Event::Expired => conversations.expired += count,
            Event::Escalated => conversations.escalated += count,
            Event::Reached | Event::Invalid => {}
        }
        if step_id.is_empty() {
            continue;
        }
        let step = steps.entry((flow_id, step_id)).or_default();
        match event {
            Event::Reached => step.reached += count,
            Event::Invalid => step.invalid += count,
            Event::Restarted => step.restarted += count,
            Event::Expired => step.expired += count,
            Event::Escalated => step.escalated += count,
            Event::Started | Event::Completed => {}
        }
    }
    Ok(FlowStatistics {
        days: days
            .into_iter()
            .filter(|(_, conversations)| *conversations != ConversationCounts::default())
            .map(|((day, flow_id), conversations)| FlowDay { day, flow_id, conversations })
            .collect(),
        steps: steps.into_iter().map(|((flow_id, step_id), counts)| FlowStep { flow_id, step_id, counts }).collect(),
    })
}
