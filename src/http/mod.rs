//! The HTTP face of `uic serve` (SPEC §12): the webhook (Twilio and Meta on
//! one path), health, cleanup, metrics and QR images. The only module that
//! knows status codes.

pub mod console;
mod error;
mod meta;
mod ops;
pub mod serve;
mod twilio;

use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use error::HttpError;
pub use ops::retention;
use tower_http::timeout::TimeoutLayer;

use crate::channels::meta::graph::MetaHealth;
use crate::config::Config;
use crate::core::catalog::FailedFlow;
use crate::integrations::dhis2::deliver::Dhis2Health;
use crate::store::StoreError;
use crate::turn::conversation::{Conversations, Handled};
use crate::turn::metrics::Metrics;
use crate::turn::throttle::PhoneLimiter;

/// Largest request body accepted; more is answered 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest Twilio form accepted. A real webhook is a few kilobytes: a
/// 1,600-character body percent-encoded at worst (12 bytes a character) and
/// ten media URLs stay well under it.
pub const MAX_TWILIO_FORM_BYTES: usize = 64 * 1024;

/// Most parameters a Twilio form may have: Twilio sends about 20, 20 more
/// with ten media. Counted on the raw bytes, before any parsing.
pub const MAX_TWILIO_PARAMS: usize = 256;

/// What every handler shares, behind one `Arc`: axum clones the state for
/// each request, and a clone of a dozen `Arc`s was a dozen atomic counts
/// every request fought over between the threads.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub conversations: Conversations,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Wakes the outbox worker when a turn has written jobs, so replies
    /// through an API leave at once rather than at its next idle poll.
    pub outbox_wakeup: Arc<tokio::sync::Notify>,
    /// The same for the worker of DHIS2 registrations.
    pub dhis2_wakeup: Arc<tokio::sync::Notify>,
    /// The Meta channel's sending health, for `/health`.
    pub meta_health: Arc<MetaHealth>,
    /// DHIS2's last word on the credentials, for `/health`.
    pub dhis2_health: Arc<Dhis2Health>,
    /// The staff console's sessions and pages.
    pub console: Arc<console::Console>,
    /// The flows the last load left out, for `/health`.
    pub flows: Arc<FailingFlows>,
    /// Asks the server to load flows and texts again (the console's button;
    /// `SIGHUP` does the same): the answer is `Err` with the lint lines when
    /// the new set was refused and the last good one keeps serving.
    pub reload_requests: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Each phone number's pace (`PHONE_MESSAGES_PER_MINUTE`, `PHONE_BURST`).
    pub limiter: Arc<PhoneLimiter>,
    /// `/health`'s write to the database, at most once a second.
    pub write_probe: Arc<ops::WriteProbe>,
}

impl AppState {
    /// Asks for a reload of flows and texts and waits for its outcome (a
    /// minute at most); `None` when no reloader answers.
    pub async fn reload(&self) -> Option<Result<(), ReloadRefused>> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        self.reload_requests.send(answer).await.ok()?;
        tokio::time::timeout(std::time::Duration::from_secs(60), outcome).await.ok()?.ok()
    }
}

/// A request to reload, answered when the reload is done.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), ReloadRefused>>;

/// Why a reload was refused: the lint errors to fix (written in the
/// reader's language when shown), or another reason (a database error).
#[derive(Debug, Clone, Default)]
pub struct ReloadRefused {
    pub errors: Vec<crate::core::diagnostic::Diagnostic>,
    /// What is wrong besides the errors, or their heading, in the operator's English.
    pub reason: String,
}

/// The flow files left out because they fail `uic lint` (the others are served).
#[derive(Debug, Default)]
pub struct FailingFlows(RwLock<Vec<FailedFlow>>);

impl FailingFlows {
    pub fn set(&self, failed: Vec<FailedFlow>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = failed;
    }

    pub fn get(&self) -> Vec<FailedFlow> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The routes of `uic serve`; tests call it without a socket too.
pub fn router(state: AppState) -> Router {
    let webhook_path = state.config.webhook_path.clone();
    let polite_panic = twilio::panic_reply(&state);
    let request_timeout = state.config.limits.request_timeout;
    Router::new()
        .route(&webhook_path, post(webhook).get(meta::verify).route_layer(polite_panic))
        .route("/health", get(ops::health))
        .route("/whatsapp/health", get(ops::health))
        .route("/whatsapp/cleanup", post(ops::cleanup))
        .route("/admin/reload", post(ops::reload))
        .route("/metrics", get(ops::metrics))
        .route("/qr/{file}", get(ops::qr_image))
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A request, its body included, ends in time: a client that holds
        // its body holds its memory and connection no longer than this.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .with_state(state)
}

/// Longest a turn may take before the request is answered 503.
const TURN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// `POST {WEBHOOK_PATH}`: JSON is Meta's, anything else Twilio's form (which
/// refuses other content types itself). The body is read here, within the
/// limit of its channel, and only once its size is known to be acceptable.
async fn webhook(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = header_text(&parts.headers, header::CONTENT_TYPE.as_str()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        match read_body(&parts.headers, body, MAX_BODY_BYTES, "the body is larger than 1 MB").await {
            Ok(body) => meta::receive(&state, &parts.headers, &body).await,
            Err(error) => refused(&state, "meta", error),
        }
    } else {
        twilio::receive(&state, &parts.headers, &parts.uri, body).await
    }
}

/// A refused webhook: counted, logged without anything of the request, answered.
fn refused(state: &AppState, channel: &'static str, error: HttpError) -> Response {
    state.metrics.error(error.kind());
    tracing::warn!(channel = channel, error = %error, "webhook refused");
    error.into_response()
}

/// The whole body, at most `limit` bytes: a `Content-Length` above it is
/// refused before a byte of the body is read, a longer chunked body as soon
/// as it passes the limit. A body cut short is a bad request.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
    too_large: &'static str,
) -> Result<Bytes, HttpError> {
    let announced = header_text(headers, header::CONTENT_LENGTH.as_str()).and_then(|length| length.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(HttpError::TooLarge(too_large));
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if error.into_inner().is::<http_body_util::LengthLimitError>() {
            HttpError::TooLarge(too_large)
        } else {
            HttpError::BadRequest("the body could not be read".into())
        }
    })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// How a turn run in a task of its own ended, for the webhook's answer.
enum TurnEnd {
    Handled(Handled),
    /// The database did not answer (or not in time): nothing was written,
    /// and the provider is asked to deliver the message again (503).
    Unavailable,
    /// A fault of ours (a panic, a stored row that no longer reads): the
    /// person gets an apology, and the provider no retry.
    Failed,
}

/// Waits for a turn spawned in its own task (so that even a panic in it ends
/// here), at most [`TURN_TIMEOUT`]: a database that stops answering mid-turn
/// (a network partition) must not hold the request forever. Past the limit
/// the turn is abandoned, which rolls it back.
async fn finish_turn(
    state: &AppState,
    request: &str,
    mut turn: tokio::task::JoinHandle<Result<Handled, StoreError>>,
) -> TurnEnd {
    match tokio::time::timeout(TURN_TIMEOUT, &mut turn).await {
        Ok(Ok(Ok(handled))) => {
            // A new code's DHIS2 registration waits in the outbox: on its way now.
            if handled.registration == Some(crate::core::engine::Registration::New) && state.config.dhis2.is_some() {
                state.dhis2_wakeup.notify_one();
            }
            TurnEnd::Handled(handled)
        }
        Ok(Ok(Err(StoreError::Database(error)))) => {
            tracing::error!(request = %request, error = %error, "database unavailable; nothing written");
            TurnEnd::Unavailable
        }
        Err(_) => {
            turn.abort();
            tracing::error!(request = %request, "turn timed out waiting for the database; nothing written");
            TurnEnd::Unavailable
        }
        Ok(failed) => {
            match failed {
                Ok(Err(error)) => tracing::error!(request = %request, error = %error, "turn failed"),
                _ => tracing::error!(request = %request, "a turn panicked"),
            }
            state.metrics.error("internal");
            TurnEnd::Failed
        }
    }
}

/// A short random id that ties a request's log line to its response.
pub(crate) fn request_id() -> String {
    crate::support::ids::token()[..12].to_string()
}

/// The log line of a message over its phone's pace: the masked number, and
/// whether it was told to slow down (the first) or dropped (the next ones).
pub(crate) fn log_limited(request: &str, phone: &str, told: bool) {
    let phone = crate::support::privacy::mask_phone(phone);
    if told {
        tracing::warn!(request = %request, phone = %phone, "messages too fast: told to slow down; no turn");
    } else {
        tracing::debug!(request = %request, phone = %phone, "messages too fast: dropped");
    }
}

/// The log line of a turn: never the message, only a masked phone number.
pub(crate) fn log_turn(
    request: &str,
    channel: &str,
    phone: &str,
    handled: &crate::turn::conversation::Handled,
    latency: std::time::Duration,
) {
    tracing::info!(
        request = %request,
        channel = channel,
        phone = %crate::support::privacy::mask_phone(phone),
        outcome = handled.outcome.as_str(),
        replayed = handled.replayed,
        replies = handled.replies.len(),
        latency_us = latency.as_micros() as u64,
        "turn"
    );
}
