//! What has outlived its use goes: expired sessions (and the answers in
//! them), replies kept past the replay window, old processed message ids,
//! delivered outbox jobs and old statuses, jobs given up past the retention,
//! QR image links past their lifetime.
//! `uic serve` runs it periodically; `POST /whatsapp/cleanup` on demand.

use chrono::{DateTime, Duration, Utc};

use super::conversation::Conversations;
use crate::store::StoreError;

/// How long a reply given in a webhook's response is kept for a provider that
/// asks again (Twilio gives up on a request after 15 seconds; its fallback URL
/// and retries come within that): past it, the stored reply is emptied.
pub const REPLAY_WINDOW: Duration = Duration::minutes(2);

/// How long kept things last: the settings `run_cleanup` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `MESSAGE_RETENTION_HOURS`: processed message ids, sent-message statuses.
    pub message_hours: u32,
    /// `QR_LINK_HOURS`: QR image links.
    pub qr_link_hours: u32,
}

impl Retention {
    /// The oldest creation time of a QR link that still works at `now`.
    pub fn qr_links_valid_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::hours(self.qr_link_hours.into())
    }
}

/// Removes expired sessions, processed message ids older than
/// `retention.message_hours`, expired QR links, delivered outbox jobs and
/// sent-message statuses, and jobs given up more than `retention.message_hours`
/// ago (registrations aside); returns the sessions removed.
pub async fn run_cleanup(
    conversations: &Conversations,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let engine = conversations.engine();
    let store = conversations.store();
    let cutoff = now - Duration::minutes(engine.longest_timeout_minutes().into());
    // Counted as expired, at the step each stood, for the dashboard.
    let sessions = store.cleanup_sessions(cutoff, now).await?;
    let kept = Duration::hours(retention.message_hours.into());
    let messages = store.cleanup_processed_messages(now - kept).await?;
    let forgotten = store.forget_replies_before(now - REPLAY_WINDOW).await?;
    let qr_links = store.cleanup_qr_codes(retention.qr_links_valid_since(now)).await?;
    // A delivered job is of no further use; an hour leaves operators time to look.
    let delivered = store.cleanup_delivered(now - Duration::hours(1), now - kept).await?;
    // A message given up that long ago is past Meta's 24-hour window: it can
    // no longer be sent, and its texts and phone number need not be kept.
    let given_up = store.forget_dead_jobs(now - kept, crate::core::dhis2::JOB_KIND).await?;
    tracing::info!(sessions, messages, forgotten, qr_links, delivered, given_up, "cleanup done");
    Ok(sessions)
}
