//! The outbox worker: delivers the jobs turns wrote to the outbox (replies
//! sent by API, DHIS2 registrations, notifications), retrying with
//! exponential backoff and jitter, in order per recipient, safely beside other
//! processes, and without losing a job across restarts (a claim is a lease: a
//! worker that dies lets it lapse and the job is claimed again, so delivery is
//! at least once).
//!
//! A claim lasts as long as its deliverer's longest attempt (its requests'
//! timeouts) and a margin to record the outcome, and the worker abandons an
//! attempt that outlives that bound: a claim never lapses while its delivery
//! runs, so no two workers send one job at once, and a worker killed
//! mid-request holds its jobs back only that long.
//!
//! Each kind of job has a [`Deliverer`]; channels and integrations bring
//! theirs. A job whose kind nobody delivers is given up (`dead`) with a clear
//! error, visible in `uic outbox list`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::RngExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::store::{Job, Kinds, OUTCOME_UNKNOWN, Store, StoreError};

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth trying again later (429, 5xx, no connection).
    Retry(String),
    /// Worth trying again, but the request may have succeeded (it timed out
    /// or its answer broke off): the retry waits at least
    /// [`RetryPolicy::unsure`], time for the provider to say it has the
    /// message (a Meta status settles the job, see
    /// [`Store::settle_unsure`]), so that it is not sent twice.
    Unsure(String),
    /// Will never succeed (bad parameters, a closed window).
    Permanent(String),
    /// Nothing of this kind can leave for now, whatever the job (the provider
    /// refuses our credentials): the job waits without the attempt counting,
    /// and the kind is paused for [`RetryPolicy::pause`], its jobs held back
    /// without a request, until one attempt after the pause gets through.
    Paused(String),
}

/// Delivers one kind of job. The error text is stored and shown to operators:
/// it must not hold answers, tokens or full phone numbers.
pub trait Deliverer: Send + Sync + 'static {
    fn deliver<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

    /// Whether [`DeliveryError::Retry`] is retried however many attempts it
    /// took (backing off to the policy's longest delay), rather than given up
    /// after [`RetryPolicy::max_attempts`]: a registration must happen some
    /// day, while a reply too late is worse than none.
    fn retries_forever(&self) -> bool {
        false
    }

    /// The longest one attempt may take: the sum of its requests' timeouts.
    /// The worker abandons an attempt past it (to retry later), and a claim
    /// lasts this and [`RetryPolicy::margin`], so it never lapses while the
    /// delivery runs.
    fn longest_attempt(&self) -> Duration {
        DEFAULT_LONGEST_ATTEMPT
    }
}

/// [`Deliverer::longest_attempt`] of a deliverer that does not say.
pub const DEFAULT_LONGEST_ATTEMPT: Duration = Duration::from_secs(60);

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubled at each attempt.
    pub base: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
    /// Attempts before a job is given up.
    pub max_attempts: u32,
    /// How long a claim lasts past its deliverer's longest attempt: time to
    /// record the outcome. A worker that dies frees its jobs after both.
    pub margin: Duration,
    /// Jobs claimed per pass, and deliveries in flight at once.
    pub batch: i64,
    /// How often to look for due jobs (retries coming due) when no turn wakes the worker.
    pub idle: Duration,
    /// How long a kind waits after its deliverer said [`DeliveryError::Paused`]
    /// before one of its jobs tries again.
    pub pause: Duration,
    /// The shortest wait before retrying an attempt whose outcome is unknown
    /// ([`DeliveryError::Unsure`]).
    pub unsure: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            max_attempts: 12,
            margin: Duration::from_secs(5),
            batch: 32,
            idle: Duration::from_secs(1),
            pause: Duration::from_secs(30),
            // Meta's `sent` status comes within seconds of the message.
            unsure: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts: exponential, capped, and
    /// jittered into its upper half (`jitter` in 0..1) so retries spread out.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exponential = self.base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1))).min(self.max);
        exponential.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub retried: usize,
    pub given_up: usize,
}

/// Claims and delivers jobs.
pub struct Worker {
    store: Store,
    deliverers: Arc<HashMap<String, Arc<dyn Deliverer>>>,
    policy: RetryPolicy,
    /// Notified when jobs are written, to start a pass before `idle` ends.
    wakeup: Arc<Notify>,
    /// The kinds of jobs it claims.
    kinds: Kinds,
    /// Kinds paused, until when, and why.
    paused: Arc<Mutex<HashMap<String, (Instant, String)>>>,
}

impl Worker {
    pub fn new(store: Store, policy: RetryPolicy) -> Worker {
        Worker {
            store,
            deliverers: Arc::new(HashMap::new()),
            policy,
            wakeup: Arc::new(Notify::new()),
            kinds: Kinds::All,
            paused: Arc::default(),
        }
    }

    /// Claims only these kinds of jobs: a worker of their own keeps slow
    /// deliveries (a DHIS2 that takes its time) from holding up quick ones
    /// (a person's replies).
    pub fn claiming(mut self, kinds: Kinds) -> Worker {
        self.kinds = kinds;
        self
    }

    /// Starts a pass whenever `wakeup` is notified, not only every `idle`.
    pub fn with_wakeup(mut self, wakeup: Arc<Notify>) -> Worker {
        self.wakeup = wakeup;
        self
    }

    /// Registers the deliverer of a kind of job.
    pub fn with(mut self, kind: &str, deliverer: Arc<dyn Deliverer>) -> Worker {
        Arc::make_mut(&mut self.deliverers).insert(kind.to_string(), deliverer);
        self
    }

    /// One pass at `now`: claims due jobs (at most one per recipient),
    /// delivers them side by side, and records each outcome.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let mut deliveries = JoinSet::new();
        for job in self.claim(now, self.policy.batch).await? {
            self.spawn_delivery(&mut deliveries, job);
        }
        let mut pass = Pass::default();
        while let Some(finished) = deliveries.join_next().await {
            let Ok((job, result)) = finished else { continue };
            match self.record(&job, result, now, false).await?.0 {
                Recorded::Delivered => pass.delivered += 1,
                Recorded::Retried | Recorded::Paused => pass.retried += 1,
                Recorded::GivenUp => pass.given_up += 1,
            }
        }
        Ok(pass)
    }

    /// Delivers jobs until `stop` completes. Up to `batch` deliveries run at
    /// once. When one succeeds, the same recipient's next job is claimed
    /// directly (an index seek), so a conversation's replies follow each other
    /// without a scan of the outbox; the scan for other people's jobs runs
    /// when a turn wakes the worker, or every `idle`. A slow request holds
    /// back only its own recipient. On `stop`, deliveries in flight finish and
    /// are recorded first.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut deliveries = JoinSet::new();
        let mut stopping = false;
        let mut look = true;
        loop {
            let room = self.policy.batch - deliveries.len() as i64;
            if look && !stopping && room > 0 {
                match self.claim(Utc::now(), room).await {
                    Ok(jobs) => jobs.into_iter().for_each(|job| self.spawn_delivery(&mut deliveries, job)),
                    Err(error) => tracing::error!(error = %error, "outbox claim failed; will try again"),
                }
            }
            look = false;
            if stopping && deliveries.is_empty() {
                return;
            }
            tokio::select! {
                _ = &mut stop, if !stopping => stopping = true,
                Some(finished) = deliveries.join_next(), if !deliveries.is_empty() => {
                    let Ok((job, result)) = finished else { continue };
                    match self.record(&job, result, Utc::now(), !stopping).await {
                        Ok((_, Some(next))) => self.spawn_delivery(&mut deliveries, next),
                        Ok((_, None)) => {}
                        // The claim's lease lapses and the job is tried again.
                        Err(error) => tracing::error!(job = job.id, error = %error, "outbox: a delivery's outcome cannot be recorded"),
                    }
                }
                _ = tokio::time::sleep(self.policy.idle), if !stopping => look = true,
                _ = self.wakeup.notified(), if !stopping => look = true,
            }
        }
    }

    fn retries_forever(&self, job: &Job) -> bool {
        self.deliverers.get(&job.kind).is_some_and(|deliverer| deliverer.retries_forever())
    }

    /// How long a claim lasts: the longest attempt of the kinds this worker
    /// delivers, and the margin.
    pub fn lease(&self) -> Duration {
        let longest = self.deliverers.values().map(|deliverer| deliverer.longest_attempt()).max();
        longest.unwrap_or(DEFAULT_LONGEST_ATTEMPT) + self.policy.margin
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::seconds(120))
    }

    /// Claims up to `limit` due jobs, leased until `now` + the lease.
    async fn claim(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Job>, StoreError> {
        self.store.claim_jobs_of(now, self.lease_until(now), limit, self.kinds).await
    }

    /// Why `kind` is paused, while it is.
    fn paused(&self, kind: &str) -> Option<String> {
        let paused = self.paused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        paused.get(kind).filter(|(until, _)| Instant::now() < *until).map(|(_, why)| why.clone())
    }

    /// Pauses `kind` for the policy's pause, unless it is paused already;
    /// when the pause ends.
    fn pause(&self, kind: &str, why: &str) -> Instant {
        let mut paused = self.paused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match paused.get(kind) {
            Some((until, _)) if Instant::now() < *until => *until,
            _ => {
                tracing::warn!(kind, error = %why, pause = ?self.policy.pause, "deliveries of this kind paused");
                let until = Instant::now() + self.policy.pause;
                paused.insert(kind.to_string(), (until, why.to_string()));
                until
            }
        }
    }

    fn spawn_delivery(&self, deliveries: &mut JoinSet<(Job, Result<(), DeliveryError>)>, job: Job) {
        if let Some(why) = self.paused(&job.kind) {
            deliveries.spawn(async move { (job, Err(DeliveryError::Paused(why))) });
            return;
        }
        let deliverer = self.deliverers.get(&job.kind).cloned();
        deliveries.spawn(async move {
            let result = match &deliverer {
                // Past its bound the attempt is dropped, before the claim lapses;
                // what it sent may have arrived.
                Some(deliverer) => {
                    let bound = deliverer.longest_attempt();
                    tokio::time::timeout(bound, deliverer.deliver(&job)).await.unwrap_or_else(|_| {
                        Err(DeliveryError::Unsure(format!("no outcome within {} s", bound.as_secs_f64())))
                    })
                }
                None => Err(DeliveryError::Permanent(format!("no deliverer for jobs of kind `{}`", job.kind))),
            };
            (job, result)
        });
    }

    /// Records a delivery's outcome: done, due again after a backoff, or
    /// given up. After a success, with `claim_next`, also claims the
    /// recipient's next job.
    async fn record(
        &self,
        job: &Job,
        result: Result<(), DeliveryError>,
        now: DateTime<Utc>,
        claim_next: bool,
    ) -> Result<(Recorded, Option<Job>), StoreError> {
        match result {
            Ok(()) if claim_next => {
                let next = self.store.job_done_claim_next(job, now, self.lease_until(now)).await?;
                Ok((Recorded::Delivered, next))
            }
            Ok(()) => {
                self.store.job_done(job.id, now).await?;
                Ok((Recorded::Delivered, None))
            }
            Err(DeliveryError::Unsure(error))
                if job.attempts < self.policy.max_attempts || self.retries_forever(job) =>
            {
                let wait = self.policy.backoff(job.attempts, rand::rng().random::<f64>()).max(self.policy.unsure);
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %error, "delivery may have failed; will retry unless the provider reports it");
                self.store.job_failed(job.id, Some(at), &format!("{OUTCOME_UNKNOWN}{error}"), now).await?;
                Ok((Recorded::Retried, None))
            }
            Err(DeliveryError::Retry(error))
                if job.attempts < self.policy.max_attempts || self.retries_forever(job) =>
            {
                let wait = self.policy.backoff(job.attempts, rand::rng().random::<f64>());
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %error, "delivery failed; will retry");
                self.store.job_failed(job.id, Some(at), &error, now).await?;
                Ok((Recorded::Retried, None))
            }
            Err(DeliveryError::Paused(error)) => {
                // Due when the pause ends: the first then claimed tries for all.
                let wait = self.pause(&job.kind, &error).saturating_duration_since(Instant::now());
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(30));
                self.store.job_paused(job.id, at, &error, now).await?;
                Ok((Recorded::Paused, None))
            }
            Err(DeliveryError::Retry(error) | DeliveryError::Unsure(error) | DeliveryError::Permanent(error)) => {
                tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %error, "delivery given up");
                self.store.job_failed(job.id, None, &error, now).await?;
                Ok((Recorded::GivenUp, None))
            }
        }
    }
}

/// What became of one delivery.
enum Recorded {
    Delivered,
    Retried,
    Paused,
    GivenUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let policy =
            RetryPolicy { base: Duration::from_secs(2), max: Duration::from_secs(60), ..RetryPolicy::default() };
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(policy.backoff(10, 1.0), Duration::from_secs(60));
        assert_eq!(policy.backoff(40, 0.0), Duration::from_secs(30));
        let jittered = policy.backoff(4, 0.37);
        assert!(jittered >= Duration::from_secs(8) && jittered <= Duration::from_secs(16));
    }
}
