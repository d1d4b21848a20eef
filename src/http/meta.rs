//! `{WEBHOOK_PATH}` for Meta's WhatsApp Cloud API (SPEC §9): `GET` is the
//! subscription check; a JSON `POST` is verified (`X-Hub-Signature-256`),
//! read, and each message runs one turn whose replies are written to the
//! outbox in the turn's own transaction. The answer, 200, comes only once
//! that transaction has committed: Meta retries anything else, and a message
//! id seen before changes nothing and sends nothing again.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{AppState, HttpError, TurnEnd, finish_turn, header_text, log_limited, log_turn, request_id};
use crate::channels::meta::graph::{CHANNEL, JOB_KIND};
use crate::channels::meta::{self, DeliveryStatus, InboundMessage, Outgoing};
use crate::core::engine::{Content, Reply};
use crate::store::{MessageStatus, NewJob, SentStatus, StoreError};
use crate::turn::conversation::{Handled, Inbound, Outbox, OutboxJob};
use crate::turn::throttle::Admit;

/// `GET {WEBHOOK_PATH}?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
/// the challenge as plain text when the token is ours, 403 otherwise.
pub async fn verify(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let token = state.config.meta.as_ref().and_then(|meta| meta.verify_token.as_ref()).map(|token| token.expose());
    match meta::subscription_challenge(&params, token) {
        Some(challenge) => {
            tracing::info!(channel = CHANNEL, "webhook subscription verified");
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response()
        }
        None => {
            state.metrics.error("verification");
            let configured = token.is_some();
            tracing::warn!(channel = CHANNEL, verify_token_set = configured, "webhook subscription check refused");
            HttpError::Forbidden.into_response()
        }
    }
}

/// A JSON `POST`: Meta's messages and statuses.
pub async fn receive(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Response {
    let request = request_id();
    match handle(state, headers, body, &request).await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ok" }))).into_response(),
        Err(error) => {
            state.metrics.error(error.kind());
            tracing::warn!(request = %request, channel = CHANNEL, error = %error, "webhook refused");
            error.into_response()
        }
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &Bytes, request: &str) -> Result<(), HttpError> {
    let Some(config) = &state.config.meta else {
        tracing::warn!(
            "a JSON webhook arrived but the Meta channel is not configured (META_ACCESS_TOKEN, META_PHONE_NUMBER_ID)"
        );
        return Err(HttpError::UnsupportedMediaType);
    };
    if let Some(secret) = &config.app_secret {
        let given = header_text(headers, "x-hub-signature-256");
        if !meta::signature_valid(secret.expose(), body, given) {
            return Err(HttpError::Forbidden);
        }
    }
    let envelope = meta::parse(body).map_err(|error| HttpError::BadRequest(error.to_string()))?;
    if envelope.skipped > 0 {
        tracing::warn!(request = %request, skipped = envelope.skipped, "webhook entries without sender or id ignored");
    }
    let store = state.conversations.store();
    for status in &envelope.statuses {
        let error = status.error.as_ref().map(|(code, title)| (*code, title.as_str()));
        // A message Meta has that we never heard of: the reply whose request timed out.
        let mut settled = None;
        if let (Some(recipient), false) = (&status.recipient, status.status == DeliveryStatus::Failed) {
            settled = store
                .settle_unsure(JOB_KIND, recipient, CHANNEL, &status.message_id, Utc::now())
                .await
                .map_err(|error| unavailable(request, &error))?;
            if let Some(job) = settled {
                tracing::info!(request = %request, job, "a reply whose request timed out had reached Meta: not sent again");
                state.outbox_wakeup.notify_one();
            }
        }
        let record = SentStatus {
            channel: CHANNEL,
            message_id: &status.message_id,
            job_id: settled,
            status: match status.status {
                DeliveryStatus::Sent => MessageStatus::Sent,
                DeliveryStatus::Delivered => MessageStatus::Delivered,
                DeliveryStatus::Read => MessageStatus::Read,
                DeliveryStatus::Failed => MessageStatus::Failed,
            },
            error,
        };
        store.record_sent(record, Utc::now()).await.map_err(|error| unavailable(request, &error))?;
        if status.status == DeliveryStatus::Failed {
            state.metrics.error("meta_undelivered");
            let (code, title) = status.error.clone().unwrap_or_default();
            tracing::warn!(request = %request, code, title = %title, "Meta could not deliver a message");
        }
    }
    for message in &envelope.messages {
        // Another number of the same WhatsApp account: not ours to answer.
        let ours = message.to_phone_number_id.as_deref().is_none_or(|id| id == config.phone_number_id);
        if !ours {
            tracing::warn!(request = %request, "a message to another phone number id of the account ignored");
        } else if message.content.is_some() {
            handle_message(state, message, request).await?;
        }
    }
    Ok(())
}

/// One message's turn. Run in a task of its own so that even a panic ends in
/// a polite reply rather than a lost message.
async fn handle_message(state: &AppState, message: &InboundMessage, request: &str) -> Result<(), HttpError> {
    let started = Instant::now();
    state.metrics.message_received(CHANNEL);
    // Over the phone's pace: one polite reply through the outbox, then
    // silence; no turn either way, and a 200 so that Meta does not redeliver.
    match state.limiter.admit(&message.phone, started) {
        Admit::Yes => {}
        Admit::SlowDown => {
            state.metrics.error("rate_limited");
            log_limited(request, &message.phone, true);
            let content = message.content.clone().unwrap_or(Content::Text(String::new()));
            let reply = state.conversations.slow_down(&message.phone, &content).await;
            return send_outside_a_turn(state, message, reply, request).await;
        }
        Admit::Drop => {
            state.metrics.error("rate_limited");
            log_limited(request, &message.phone, false);
            return Ok(());
        }
    }
    let turn = {
        let state = state.clone();
        let message = message.clone();
        tokio::spawn(async move { run_turn(&state, &message).await })
    };
    let handled = match finish_turn(state, request, turn).await {
        TurnEnd::Handled(handled) => handled,
        // Dropped mid-transaction, the turn rolled back; Meta delivers it again.
        TurnEnd::Unavailable => return Err(HttpError::Unavailable),
        TurnEnd::Failed => {
            let content = message.content.clone().unwrap_or(Content::Text(String::new()));
            let apology = state.conversations.apology(&message.phone, &content).await;
            return send_outside_a_turn(state, message, apology, request).await;
        }
    };
    let latency = started.elapsed();
    if !handled.replayed {
        state.metrics.turn(handled.outcome, handled.registration, latency);
        state.metrics.committed_with(handled.shared_commit_with);
        state.outbox_wakeup.notify_one();
    }
    log_turn(request, CHANNEL, &message.phone, &handled, latency);
    Ok(())
}

/// A reply made without a turn (an apology, "slow down"): its jobs written to
/// the outbox on their own, then the worker woken.
async fn send_outside_a_turn(
    state: &AppState,
    message: &InboundMessage,
    reply: Reply,
    request: &str,
) -> Result<(), HttpError> {
    for job in outbox_jobs(message, std::slice::from_ref(&reply)) {
        let job = NewJob { kind: job.kind, recipient: &job.recipient, payload: &job.payload };
        state.conversations.store().enqueue(job, Utc::now()).await.map_err(|e| unavailable(request, &e))?;
    }
    state.outbox_wakeup.notify_one();
    Ok(())
}

async fn run_turn(state: &AppState, message: &InboundMessage) -> Result<Handled, StoreError> {
    let content = message.content.clone().expect("only messages with content run a turn");
    let owned = message.clone();
    let outbox: Outbox = Arc::new(move |replies: &[Reply]| outbox_jobs(&owned, replies));
    let inbound = Inbound {
        channel: CHANNEL,
        message_id: Some(&message.id),
        phone: &message.phone,
        content,
        outbox: Some(outbox),
        qr_links_since: None,
    };
    state.conversations.handle_message(inbound, Utc::now()).await
}

/// The read receipt of the person's message, then the replies, one Graph API
/// request per job: a retry resends only what failed.
fn outbox_jobs(message: &InboundMessage, replies: &[Reply]) -> Vec<OutboxJob> {
    std::iter::once(Outgoing::Read { message_id: message.id.clone() })
        .chain(meta::outgoing(&message.phone, replies))
        .map(|outgoing: Outgoing| OutboxJob {
            kind: JOB_KIND,
            recipient: message.phone.clone(),
            payload: serde_json::to_string(&outgoing).expect("a Graph API request serialises"),
        })
        .collect()
}

fn unavailable(request: &str, error: &StoreError) -> HttpError {
    tracing::error!(request = %request, error = %error, "database unavailable; nothing written");
    HttpError::Unavailable
}
