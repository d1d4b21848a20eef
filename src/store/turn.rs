//! A person's turn as the store runs it ([`super::Store::run_turn`]): the
//! store reads what the turn starts from, the turn's own logic decides, the
//! store records the code it completed, writes what it says and commits, and
//! only then is the turn's result handed back. Handing the logic to the store,
//! rather than the store to the logic, lets both backends run the turns
//! waiting to be stored together, several people's in one transaction
//! (`group_commit`).

use chrono::{DateTime, Utc};

use super::{NewJob, Processed, StoreError, TurnStart};
use crate::core::engine::stats::Counted;
use crate::core::engine::{Completion, Registration, Session};

/// One turn's logic. It computes only: it never waits, for the store runs it
/// among other people's turns.
pub trait TurnWork: Send + Sync + 'static {
    /// What the turn hands back once committed.
    type Output: Send + 'static;

    /// The person: their turns run one at a time, in the order they came.
    fn phone(&self) -> &str;
    /// The message's channel and provider id, if it has one: a redelivery is recognised.
    fn message(&self) -> Option<(&str, &str)>;
    /// When the message came: the time written with the turn.
    fn now(&self) -> DateTime<Utc>;
    /// Runs the turn on what was read. Called again, from the start, if the
    /// store has to run the turn a second time (its first transaction was
    /// rolled back, nothing of it kept).
    fn start(&mut self, start: TurnStart) -> Result<(), StoreError>;
    /// The code the turn completed, if any, and whether to register it in DHIS2.
    fn completion(&self) -> Option<(&Completion, bool)>;
    /// How the completed code was recorded.
    fn registered(&mut self, registration: Registration);
    /// What to write; `None` when nothing is (a redelivery answered again).
    fn writes(&self) -> Option<TurnWrites<'_>>;
    /// The code whose QR image the turn's replies link to, and the oldest
    /// time a link to it is still valid: the store finds or makes the link
    /// in the turn's transaction and hands its token to
    /// [`TurnWork::qr_linked`], so that a completion commits once.
    fn qr_link(&self) -> Option<(&str, DateTime<Utc>)> {
        None
    }
    /// The token of the link [`TurnWork::qr_link`] asked for, in the
    /// transaction that commits the turn.
    fn qr_linked(&mut self, _token: String) {}
    /// The turn's result, once its writes are committed.
    fn output(self) -> Self::Output;
}

/// What a turn writes, in one transaction with its code's record.
pub struct TurnWrites<'a> {
    /// The person's session, or `None` to remove it.
    pub session: Option<&'a Session>,
    pub processed: Option<Processed<'a>>,
    pub jobs: Vec<NewJob<'a>>,
    pub counts: &'a [Counted],
}

/// A turn's result once committed.
#[derive(Debug)]
pub struct Committed<T> {
    pub output: T,
    /// How many other people's turns the same transaction committed (SQLite's
    /// group commit; always 0 on PostgreSQL).
    pub shared_with: usize,
}
