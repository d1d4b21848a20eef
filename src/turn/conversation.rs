//! One turn end to end, the same for every channel: lock the person's row,
//! skip a message already processed, read the session, run the engine, store
//! its result, register the code and (for channels that answer through an
//! API) write the replies to the outbox, and add the turn's counts for the
//! staff dashboard (`core::engine::stats`), all in one transaction; then
//! hand back the replies.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};

use crate::core::dhis2::{self, RegistrationJob, Target};
use crate::core::engine::stats::{self, Counted, Place};
use crate::core::engine::{Completion, Content, Engine, Outcome, Registration, Reply, Turn};
use crate::store::{NewJob, Processed, Store, StoreError, TurnStart, TurnWork, TurnWrites};

/// The engine and the store, joined.
#[derive(Clone)]
pub struct Conversations {
    /// The engine every clone runs, replaced whole when flows are reloaded. A
    /// turn clones the `Arc` under the read lock and runs on that copy, so the
    /// lock is held for a pointer copy only (never during a reload's lint)
    /// and a turn sees one set of flows from start to end.
    engine: Arc<RwLock<Arc<Engine>>>,
    store: Store,
    /// Where new codes are registered in DHIS2 (the `DHIS2_*` defaults,
    /// under each flow's own block); `None` while registration is off.
    dhis2: Option<Arc<Target>>,
}

/// A message as a channel received it.
#[derive(Clone)]
pub struct Inbound<'a> {
    /// `twilio`, `meta`, `chat`, ...: message ids are unique per channel.
    pub channel: &'a str,
    /// The provider's id, when it has one: a redelivery is answered, not re-run.
    pub message_id: Option<&'a str>,
    pub phone: &'a str,
    pub content: Content,
    /// For a channel that answers through an API (Meta): the outbox jobs that
    /// deliver these replies, written with the turn so that they exist if and
    /// only if it commits. `None`: the replies go back in the response.
    pub outbox: Option<Outbox>,
    /// For a channel that links QR images by URL (Twilio): links made since
    /// this time are still valid. A turn that completes a code finds or makes
    /// its link in its own transaction ([`Handled::qr_link`]).
    pub qr_links_since: Option<DateTime<Utc>>,
}

/// Turns a turn's replies into the outbox jobs that deliver them.
pub type Outbox = Arc<dyn Fn(&[Reply]) -> Vec<OutboxJob> + Send + Sync>;

/// A job for the outbox, owned (see [`NewJob`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxJob {
    pub kind: &'static str,
    pub recipient: String,
    pub payload: String,
}

/// What a turn produced, for the channel and for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub replies: Vec<Reply>,
    pub outcome: Outcome,
    pub registration: Option<Registration>,
    /// The language the replies are in.
    pub language: String,
    /// The message had been processed before: these are the replies it got then.
    pub replayed: bool,
    /// How many other people's turns were committed with this one (the
    /// store's group commit).
    pub shared_commit_with: usize,
    /// `(code, token)` of the QR link the turn made or found with its commit,
    /// when the channel asked for one (see [`Inbound::qr_links_since`]).
    pub qr_link: Option<(String, String)>,
}

impl Conversations {
    pub fn new(engine: Arc<Engine>, store: Store) -> Conversations {
        Conversations { engine: Arc::new(RwLock::new(engine)), store, dhis2: None }
    }

    /// Registers every new code in DHIS2, into `defaults` under each flow's
    /// `dhis2:` block: the job is written in the turn that issues the code.
    pub fn with_dhis2(mut self, defaults: Target) -> Conversations {
        self.dhis2 = Some(Arc::new(defaults));
        self
    }

    /// The engine now serving (a reload may replace it for later turns).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Serves later turns with `engine`; turns in progress finish on the old one.
    /// Sessions whose flow changed version restart politely (the engine's rule).
    pub fn replace_engine(&self, engine: Arc<Engine>) {
        *self.engine.write().unwrap_or_else(PoisonError::into_inner) = engine;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles a message that has no provider id (the terminal chat).
    pub async fn handle(&self, phone: &str, content: &Content, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let inbound = Inbound {
            channel: "chat",
            message_id: None,
            phone,
            content: content.clone(),
            outbox: None,
            qr_links_since: None,
        };
        self.handle_message(inbound, now).await
    }

    /// The apology for a turn that failed outside the engine, in the person's
    /// language: their session's, read again if the database answers within
    /// a second, else the one their message reveals.
    pub async fn apology(&self, phone: &str, content: &Content) -> Reply {
        let language = self.language_of(phone).await;
        self.engine().internal_error_reply(language.as_deref(), content)
    }

    /// The one reply to a person over their rate limit, in their language
    /// found as for [`Conversations::apology`].
    pub async fn slow_down(&self, phone: &str, content: &Content) -> Reply {
        let language = self.language_of(phone).await;
        self.engine().slow_down_reply(language.as_deref(), content)
    }

    /// The language of the person's session, if the database answers within a second.
    async fn language_of(&self, phone: &str) -> Option<String> {
        let read = async {
            let mut tx = self.store.begin(phone).await.ok()?;
            // Dropped without commit: the read changes nothing.
            tx.session().await.ok().flatten().map(|session| session.language)
        };
        tokio::time::timeout(std::time::Duration::from_secs(1), read).await.ok().flatten()
    }

    /// Handles one message. On a database error nothing is written and the
    /// caller answers politely (or asks the provider to retry).
    pub async fn handle_message(&self, inbound: Inbound<'_>, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let work = TurnJob {
            engine: self.engine(),
            dhis2: self.dhis2.clone(),
            channel: inbound.channel.to_string(),
            message_id: inbound.message_id.map(str::to_string),
            phone: inbound.phone.to_string(),
            content: inbound.content,
            outbox: inbound.outbox,
            qr_links_since: inbound.qr_links_since,
            now,
            ran: None,
        };
        let committed = self.store.run_turn(work).await?;
        Ok(Handled { shared_commit_with: committed.shared_with, ..committed.output })
    }
}

/// One message's turn as the store runs it ([`TurnWork`]): everything it
/// needs is owned, for SQLite runs it among other people's turns.
struct TurnJob {
    engine: Arc<Engine>,
    dhis2: Option<Arc<Target>>,
    channel: String,
    message_id: Option<String>,
    phone: String,
    content: Content,
    outbox: Option<Outbox>,
    qr_links_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    /// What the turn made of what was read.
    ran: Option<Ran>,
}

/// A turn's result, before and after its code is recorded.
enum Ran {
    /// A message processed before: the replies it got then, nothing written.
    Replayed(Vec<Reply>),
    Answered(Box<Answered>),
}

struct Answered {
    turn: Turn,
    /// The dashboard's counts of the turn (no answer kept).
    counts: Vec<Counted>,
    replies: Vec<Reply>,
    registration: Option<Registration>,
    language: Option<String>,
    /// The DHIS2 registration of the code it completed, if registration is on.
    dhis2_job: Option<OutboxJob>,
    /// The turn's outbox jobs, once its replies are complete.
    jobs: Vec<OutboxJob>,
    /// The token of its QR link, once committed (see [`Inbound::qr_links_since`]).
    qr_token: Option<String>,
}

impl TurnJob {
    /// Its replies are complete (with the code's, if any): the outbox jobs
    /// that deliver them, and the DHIS2 registration of a new code.
    fn jobs(&self, answered: &Answered) -> Vec<OutboxJob> {
        let mut jobs = self.outbox.as_ref().map(|outbox| outbox(&answered.replies)).unwrap_or_default();
        // Only a new code is registered: the same answers again, or other
        // answers making a code DHIS2 already holds, create nothing there.
        if answered.registration == Some(Registration::New) {
            jobs.extend(answered.dhis2_job.clone());
        }
        jobs
    }

    /// The DHIS2 registration job of `completion`, if registration is on.
    /// Start-up has checked every flow's target is complete; should one not
    /// be, the code is still issued (and `uic dhis2 resync` can queue it).
    fn registration_job(&self, completion: &Completion) -> Option<OutboxJob> {
        let defaults = self.dhis2.as_deref()?;
        let flow = self.engine.flow(&completion.flow_id)?;
        let target = flow.dhis2.target.over(defaults);
        let day = self.now.date_naive();
        match RegistrationJob::new(&completion.uic, &target, &completion.dhis2, day, crate::support::ids::random_index)
        {
            Ok(job) => Some(OutboxJob {
                kind: dhis2::JOB_KIND,
                recipient: dhis2::job_recipient(&completion.uic),
                payload: serde_json::to_string(&job).ok()?,
            }),
            Err(missing) => {
                tracing::error!(flow = %flow.id, missing = %missing.join(", "), "a new code is not registered in DHIS2: its target is incomplete");
                None
            }
        }
    }
}

impl TurnWork for TurnJob {
    type Output = Handled;

    fn phone(&self) -> &str {
        &self.phone
    }

    fn message(&self) -> Option<(&str, &str)> {
        self.message_id.as_deref().map(|id| (self.channel.as_str(), id))
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn start(&mut self, start: TurnStart) -> Result<(), StoreError> {
        if let Some(replies) = start.replayed {
            self.ran = Some(Ran::Replayed(replies));
            return Ok(());
        }
        let session = match start.session {
            Ok(session) => session,
            // A session we cannot read is replaced by a new conversation rather
            // than blocking the person forever.
            Err(StoreError::Corrupt { what, detail }) => {
                tracing::warn!(what = %what, detail = %detail, "unreadable session replaced");
                None
            }
            Err(error) => return Err(error),
        };
        // Where the session stood, for the dashboard's counts (no answer kept).
        let before = session.as_ref().map(Place::of);
        let mut turn = self.engine.turn(session, &self.content, self.now);
        let counts = stats::counts(before.as_ref(), &turn);
        let language = turn.session.as_ref().map(|s| s.language.clone());
        let dhis2_job = turn.completion.as_ref().and_then(|completion| self.registration_job(completion));
        let mut answered = Box::new(Answered {
            // Kept apart: the code's replies are added to them.
            replies: std::mem::take(&mut turn.replies),
            turn,
            counts,
            registration: None,
            language,
            dhis2_job,
            jobs: Vec::new(),
            qr_token: None,
        });
        if answered.turn.completion.is_none() {
            answered.jobs = self.jobs(&answered);
        }
        self.ran = Some(Ran::Answered(answered));
        Ok(())
    }

    fn completion(&self) -> Option<(&Completion, bool)> {
        let Some(Ran::Answered(answered)) = &self.ran else { return None };
        let completion = answered.turn.completion.as_ref()?;
        Some((completion, answered.dhis2_job.is_some()))
    }

    fn registered(&mut self, registration: Registration) {
        let Some(Ran::Answered(mut answered)) = self.ran.take() else { return };
        if let Some(completion) = &answered.turn.completion {
            answered.replies.extend(self.engine.completion_replies(completion, registration));
            answered.language = Some(completion.language.clone());
        }
        answered.registration = Some(registration);
        answered.jobs = self.jobs(&answered);
        self.ran = Some(Ran::Answered(answered));
    }

    fn writes(&self) -> Option<TurnWrites<'_>> {
        let Some(Ran::Answered(answered)) = &self.ran else { return None };
        // A redelivery is answered with the stored replies only where replies
        // go back in the response; through the outbox they were sent already,
        // so their texts (which may echo answers) are not kept twice.
        let stored_replies: &[Reply] = if self.outbox.is_some() { &[] } else { &answered.replies };
        // Once the person's session holds no answer (the conversation ended,
        // or is back at its start), no reply that may repeat one is kept.
        let forget_earlier = answered.turn.session.as_ref().is_none_or(|session| session.answers.is_empty());
        let processed = self.message().map(|(channel, message_id)| Processed {
            channel,
            message_id,
            replies: stored_replies,
            forget_earlier,
        });
        let jobs = answered
            .jobs
            .iter()
            .map(|job| NewJob { kind: job.kind, recipient: &job.recipient, payload: &job.payload })
            .collect();
        Some(TurnWrites { session: answered.turn.session.as_ref(), processed, jobs, counts: &answered.counts })
    }

    fn qr_link(&self) -> Option<(&str, DateTime<Utc>)> {
        let (Some(since), Some(Ran::Answered(answered))) = (self.qr_links_since, &self.ran) else { return None };
        qr_code(&answered.replies).map(|uic| (uic, since))
    }

    fn qr_linked(&mut self, token: String) {
        if let Some(Ran::Answered(answered)) = &mut self.ran {
            answered.qr_token = Some(token);
        }
    }

    fn output(self) -> Handled {
        let default_language = || self.engine.default_flow().default_language.clone();
        match self.ran {
            Some(Ran::Answered(answered)) => Handled {
                qr_link: answered.qr_token.and_then(|token| Some((qr_code(&answered.replies)?.to_string(), token))),
                language: answered.language.unwrap_or_else(default_language),
                replies: answered.replies,
                outcome: answered.turn.outcome,
                registration: answered.registration,
                replayed: false,
                shared_commit_with: 0,
            },
            // Replayed (or, should the store never have started it, nothing).
            ran => Handled {
                replies: match ran {
                    Some(Ran::Replayed(replies)) => replies,
                    _ => Vec::new(),
                },
                outcome: Outcome::Answered,
                registration: None,
                language: default_language(),
                replayed: true,
                shared_commit_with: 0,
                qr_link: None,
            },
        }
    }
}

/// The code whose QR image is among `replies`, if one is.
fn qr_code(replies: &[Reply]) -> Option<&str> {
    replies.iter().find_map(|reply| match reply {
        Reply::QrCode { uic, .. } => Some(uic.as_str()),
        _ => None,
    })
}
