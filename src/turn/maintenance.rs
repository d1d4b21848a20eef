//! What has outlived its use goes: expired sessions (and the answers in
//! them), replies kept past the replay window, old processed message ids,
//! delivered outbox jobs and old statuses, jobs given up past the retention.
//! `uic serve` runs it periodically; `POST /whatsapp/cleanup` on demand.

use chrono::{DateTime, Duration, Utc};

use super::conversation::Conversations;
use crate::store::StoreError;

/// How long a reply given in a webhook's response is kept for a provider that
/// asks again (Twilio gives up on a request after 15 seconds; its fallback URL
/// and retries come within that): past it, the stored reply is emptied.
pub const REPLAY_WINDOW: Duration = Duration::minutes(2);

/// Removes expired sessions, processed message ids older than
/// `retention_hours`, delivered outbox jobs and sent-message statuses, and
/// jobs given up more than `retention_hours` ago (registrations aside);
/// returns the sessions removed.
pub async fn run_cleanup(
    conversations: &Conversations,
    retention_hours: u32,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let engine = conversations.engine();
    let store = conversations.store();
    let cutoff = now - Duration::minutes(engine.longest_timeout_minutes().into());
    // Counted as expired, at the step each stood, for the dashboard.
    let sessions = store.cleanup_sessions(cutoff, now).await?;
    let retention = Duration::hours(retention_hours.into());
    let messages = store.cleanup_processed_messages(now - retention).await?;
    let forgotten = store.forget_replies_before(now - REPLAY_WINDOW).await?;
    // A delivered job is of no further use; an hour leaves operators time to look.
    let delivered = store.cleanup_delivered(now - Duration::hours(1), now - retention).await?;
    // A message given up that long ago is past Meta's 24-hour window: it can
    // no longer be sent, and its texts and phone number need not be kept.
    let given_up = store.forget_dead_jobs(now - retention, crate::core::dhis2::JOB_KIND).await?;
    tracing::info!(sessions, messages, forgotten, delivered, given_up, "cleanup done");
    Ok(sessions)
}
