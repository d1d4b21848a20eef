//! One turn end to end, the same for every channel: lock the person's row,
//! read the session, run the engine, store its result and register the code,
//! all in one transaction; then hand back the replies.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::engine::{Content, Engine, Outcome, Registration, Reply};
use crate::store::{Store, StoreError};

/// The engine and the store, joined.
#[derive(Clone)]
pub struct Conversations {
    engine: Arc<Engine>,
    store: Store,
}

/// What a turn produced, for the channel and for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub replies: Vec<Reply>,
    pub outcome: Outcome,
    pub registration: Option<Registration>,
    /// The language the replies are in.
    pub language: String,
}

impl Conversations {
    pub fn new(engine: Arc<Engine>, store: Store) -> Conversations {
        Conversations { engine, store }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one message from `phone`. On a database error nothing is
    /// written and the caller answers politely (or asks the provider to retry).
    pub async fn handle(&self, phone: &str, content: &Content, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let mut tx = self.store.begin(phone).await?;
        let session = match tx.session().await {
            Ok(session) => session,
            // A session we cannot read is replaced by a new conversation rather
            // than blocking the person forever.
            Err(StoreError::Corrupt { flow, detail }) => {
                tracing::warn!(flow = %flow, detail = %detail, "unreadable session replaced");
                None
            }
            Err(error) => return Err(error),
        };
        let turn = self.engine.turn(session, content, now);
        match &turn.session {
            Some(session) => tx.save_session(session).await?,
            None => tx.delete_session().await?,
        }
        let mut replies = turn.replies;
        let mut registration = None;
        let mut language = turn.session.as_ref().map(|s| s.language.clone());
        if let Some(completion) = &turn.completion {
            let registered = tx.register(completion, now).await?;
            replies.extend(self.engine.completion_replies(completion, registered));
            registration = Some(registered);
            language = Some(completion.language.clone());
        }
        tx.commit().await?;
        let language = language.unwrap_or_else(|| self.engine.default_flow().default_language.clone());
        Ok(Handled { replies, outcome: turn.outcome, registration, language })
    }
}
