//! A token bucket per phone number (issue #14): one number cannot push
//! thousands of turns a second, nor, on PostgreSQL, fill the pool with turns
//! waiting behind its lock while everyone else waits for a connection.
//!
//! In memory, per process, before any database work: an excess message costs
//! a hash lookup. The first message over the limit gets one polite reply
//! ([`Admit::SlowDown`]); the next ones, until a token is back, are dropped
//! unanswered ([`Admit::Drop`]), so a flood is not answered with a flood.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Within the limit: run the turn.
    Yes,
    /// The first message over the limit: answer "slow down", run no turn.
    SlowDown,
    /// Over the limit and already told: no turn, no reply.
    Drop,
}

/// The buckets of the phone numbers seen recently.
#[derive(Debug)]
pub struct PhoneLimiter {
    /// Tokens a bucket holds when full: the burst a person may send at once.
    burst: f64,
    /// Tokens added per second.
    rate: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_phone: HashMap<String, Bucket>,
    /// Past this many buckets, the full ones are forgotten (a full bucket
    /// is what a phone not seen before gets).
    prune_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// The person was told to slow down since the bucket last had a token.
    warned: bool,
}

/// Buckets kept before the first pruning.
const PRUNE_FROM: usize = 1024;

impl PhoneLimiter {
    /// `per_minute` messages a minute per phone, up to `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> PhoneLimiter {
        PhoneLimiter {
            burst: f64::from(burst.max(1)),
            rate: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(Buckets { by_phone: HashMap::new(), prune_at: PRUNE_FROM }),
        }
    }

    /// Takes a token from `phone`'s bucket at `now`, if there is one.
    pub fn admit(&self, phone: &str, now: Instant) -> Admit {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.by_phone.len() >= buckets.prune_at {
            self.prune(&mut buckets, now);
        }
        let bucket =
            buckets.by_phone.entry(phone.to_string()).or_insert(Bucket { tokens: self.burst, at: now, warned: false });
        bucket.tokens = self.refilled(bucket, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.warned = false;
            Admit::Yes
        } else if bucket.warned {
            Admit::Drop
        } else {
            bucket.warned = true;
            Admit::SlowDown
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Forgets the buckets that are full again; the next pruning waits
    /// until the map has doubled, so pruning costs O(1) per message.
    fn prune(&self, buckets: &mut Buckets, now: Instant) {
        buckets.by_phone.retain(|_, bucket| self.refilled(bucket, now) < self.burst);
        buckets.prune_at = (buckets.by_phone.len() * 2).max(PRUNE_FROM);
    }

    /// How long an empty bucket takes to give one token.
    pub fn token_every(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap().by_phone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_slow_down_then_silence_until_a_token_is_back() {
        let limiter = PhoneLimiter::new(60, 3);
        let t0 = Instant::now();
        let admits: Vec<Admit> = (0..6).map(|_| limiter.admit("+243810000001", t0)).collect();
        assert_eq!(admits, [Admit::Yes, Admit::Yes, Admit::Yes, Admit::SlowDown, Admit::Drop, Admit::Drop]);
        // Another person is not affected.
        assert_eq!(limiter.admit("+243810000002", t0), Admit::Yes);
        // One token a second at 60 a minute.
        assert_eq!(limiter.token_every(), Duration::from_secs(1));
        assert_eq!(limiter.admit("+243810000001", t0 + Duration::from_millis(500)), Admit::Drop);
        assert_eq!(limiter.admit("+243810000001", t0 + Duration::from_millis(1600)), Admit::Yes);
        // Told again when over the limit again.
        assert_eq!(limiter.admit("+243810000001", t0 + Duration::from_millis(1700)), Admit::SlowDown);
        // A long pause refills the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        let admits: Vec<Admit> = (0..4).map(|_| limiter.admit("+243810000001", later)).collect();
        assert_eq!(admits, [Admit::Yes, Admit::Yes, Admit::Yes, Admit::SlowDown]);
    }

    #[test]
    fn phones_not_seen_for_a_while_are_forgotten() {
        let limiter = PhoneLimiter::new(60, 2);
        let t0 = Instant::now();
        for n in 0..PRUNE_FROM {
            limiter.admit(&format!("+24381{n:07}"), t0);
        }
        assert_eq!(limiter.tracked(), PRUNE_FROM);
        // Their buckets are full again a few seconds later: pruned at the next message.
        limiter.admit("+243899999999", t0 + Duration::from_secs(10));
        assert_eq!(limiter.tracked(), 1);
    }
}
