//! The HTTP face of `uic serve` (SPEC §12): the webhook (Twilio and Meta on
//! one path), health, cleanup, metrics and QR images. The only module that
//! knows status codes.

mod error;
mod meta_webhook;
mod ops;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::HttpError;
pub use ops::run_cleanup;

use crate::config::Config;
use crate::conversation::Conversations;
use crate::meta_api::MetaHealth;
use crate::metrics::Metrics;

/// Largest request body accepted; more is answered 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub conversations: Conversations,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Wakes the outbox worker when a turn has written jobs, so replies
    /// through an API leave at once rather than at its next idle poll.
    pub outbox_wakeup: Arc<tokio::sync::Notify>,
    /// The Meta channel's sending health, for `/health`.
    pub meta_health: Arc<MetaHealth>,
}

/// The routes of `uic serve`; tests call it without a socket too.
pub fn router(state: AppState) -> Router {
    let webhook_path = state.config.webhook_path.clone();
    let polite_panic = webhook::panic_reply(&state);
    Router::new()
        .route(&webhook_path, post(webhook::receive).get(meta_webhook::verify).route_layer(polite_panic))
        .route("/health", get(ops::health))
        .route("/whatsapp/health", get(ops::health))
        .route("/whatsapp/cleanup", post(ops::cleanup))
        .route("/metrics", get(ops::metrics))
        .route("/qr/{file}", get(ops::qr_image))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A short random id that ties a request's log line to its response.
pub(crate) fn request_id() -> String {
    crate::qr::token()[..12].to_string()
}

/// The log line of a turn: never the message, only a masked phone number.
pub(crate) fn log_turn(
    request: &str,
    channel: &str,
    phone: &str,
    handled: &crate::conversation::Handled,
    latency: std::time::Duration,
) {
    tracing::info!(
        request = %request,
        channel = channel,
        phone = %crate::privacy::mask_phone(phone),
        outcome = handled.outcome.as_str(),
        replayed = handled.replayed,
        replies = handled.replies.len(),
        latency_us = latency.as_micros() as u64,
        "turn"
    );
}
