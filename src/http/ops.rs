//! Operations endpoints: health, cleanup, reload, metrics, QR images.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use subtle::ConstantTimeEq;

use super::{AppState, HttpError};
use crate::config::Config;
use crate::core::diagnostic::{Diagnostic, Language};
use crate::turn::maintenance::{Retention, run_cleanup};

/// `GET /health` and `/whatsapp/health`: 200 when the database answers and
/// takes a write, 503 otherwise (`"database": "unreachable"` or
/// `"unwritable"`: a turn needs both).
pub async fn health(State(state): State<AppState>) -> Response {
    let store = state.conversations.store();
    let database = match store.ping().await {
        Err(error) => Err(("unreachable", error.to_string())),
        Ok(()) => state.write_probe.check(store).await.map_err(|error| ("unwritable", error)),
    };
    let (status, healthy, database) = match database {
        Ok(()) => (StatusCode::OK, "healthy", "ok"),
        Err((what, error)) => {
            tracing::error!(error = %error, database = what, "health check: database {what}");
            state.metrics.error("database");
            (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", what)
        }
    };
    let mut body = serde_json::json!({
        "status": healthy,
        "service": "uic",
        "version": env!("CARGO_PKG_VERSION"),
        "database": database,
    });
    if state.config.meta.is_some() {
        // A refused token stops every send but not the webhook: the server
        // stays up (200) and says what is wrong.
        body["meta"] = match state.meta_health.token_error() {
            None => serde_json::json!({ "status": "ok" }),
            Some(error) => {
                if status == StatusCode::OK {
                    body["status"] = "degraded".into();
                }
                serde_json::json!({ "status": "token_rejected", "error": error })
            }
        };
    }
    if state.config.dhis2.is_some() {
        // Codes are still issued; their registrations wait for a new token.
        body["dhis2"] = match state.dhis2_health.token_refused() {
            None => serde_json::json!({ "status": "ok" }),
            Some(error) => {
                if status == StatusCode::OK {
                    body["status"] = "degraded".into();
                }
                serde_json::json!({ "status": "token_refused", "error": error })
            }
        };
    }
    // A flow that fails lint is not served; the others are. Its file and id
    // say which one to fix (`uic lint` says how): no answer, no secret.
    let failed = state.flows.get();
    if !failed.is_empty() {
        if status == StatusCode::OK {
            body["status"] = "degraded".into();
        }
        body["flows"] = serde_json::json!({ "status": "failing", "failing": failed.len(), "failed": failed });
    }
    (status, Json(body)).into_response()
}

/// Whether the request carries `Authorization: Bearer $ADMIN_TOKEN` (compared
/// in constant time); counted as an error when it does not.
fn admin_authorised(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let authorised = state.config.admin_token.as_ref().is_some_and(|token| bearer_is(headers, token.expose()));
    if !authorised {
        state.metrics.error("unauthorized");
        return Err(HttpError::Unauthorized);
    }
    Ok(())
}

/// `POST /admin/reload` with `Authorization: Bearer $ADMIN_TOKEN` (what `uic
/// reload` sends): loads flows and texts again as `SIGHUP` does. 200 with the
/// flows left out, or 409 with the lint lines (`?lang=fr|en`) when the new
/// set is refused and the last good one keeps serving.
pub async fn reload(
    State(state): State<AppState>,
    Query(query): Query<ReloadQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    admin_authorised(&state, &headers)?;
    let outcome = state.reload().await.ok_or(HttpError::Unavailable)?;
    let language = query.lang.as_deref().and_then(Language::parse).unwrap_or_default();
    Ok(match outcome {
        Ok(()) => {
            let left_out: Vec<String> = state.flows.get().into_iter().map(|flow| flow.file).collect();
            Json(serde_json::json!({ "status": "reloaded", "left_out": left_out })).into_response()
        }
        Err(refused) => {
            let errors = Diagnostic::render_all(&refused.errors, language);
            let body = serde_json::json!({ "status": "refused", "reason": refused.reason, "errors": errors });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ReloadQuery {
    lang: Option<String>,
}

/// `POST /whatsapp/cleanup` with `Authorization: Bearer $ADMIN_TOKEN`.
pub async fn cleanup(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    admin_authorised(&state, &headers)?;
    let cleaned = run_cleanup(&state.conversations, retention(&state.config), Utc::now()).await.map_err(|error| {
        tracing::error!(error = %error, "cleanup failed");
        state.metrics.error("database");
        HttpError::Unavailable
    })?;
    Ok(Json(serde_json::json!({ "status": "success", "sessions_cleaned": cleaned })).into_response())
}

/// `GET /metrics` in the OpenMetrics text format, with
/// `Authorization: Bearer $METRICS_TOKEN` when that is set. It reads
/// counters and gauges in memory, never the database: a scraper, or 64 of
/// them, costs no turn (the active sessions are counted by the server every
/// 15 seconds, see `app::startup`).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    if let Some(token) = &state.config.metrics_token
        && !bearer_is(&headers, token.expose())
    {
        state.metrics.error("unauthorized");
        return Err(HttpError::Unauthorized);
    }
    let text = state.metrics.render();
    Ok(([(header::CONTENT_TYPE, crate::turn::metrics::CONTENT_TYPE)], text).into_response())
}

/// Whether the request's `Authorization: Bearer` is `token`, compared in
/// constant time.
fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(token.as_bytes().ct_eq(given.as_bytes()))
}

/// What the cleanup keeps, and how long, as configured.
pub fn retention(config: &Config) -> Retention {
    Retention { message_hours: config.message_retention_hours, qr_link_hours: config.qr_link_hours }
}

/// `GET /qr/<token>.png`: the QR image of a code, by its unguessable token,
/// while the link is younger than `QR_LINK_HOURS`.
pub async fn qr_image(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, HttpError> {
    let token = file.strip_suffix(".png").ok_or(HttpError::NotFound)?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HttpError::NotFound);
    }
    let valid_since = retention(&state.config).qr_links_valid_since(Utc::now());
    let uic = state.conversations.store().qr_code(token, valid_since).await.map_err(|_| HttpError::Unavailable)?;
    let uic = uic.ok_or(HttpError::NotFound)?;
    let png = crate::support::qr::png(&uic).map_err(|error| {
        tracing::error!(error = %error, "QR image failed");
        HttpError::NotFound
    })?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=3600")], png).into_response())
}

/// `/health`'s write, done at most once a second however often `/health` is
/// asked: callers meanwhile share the last result, so a flood of health
/// checks is not a flood of writes through SQLite's one writer.
#[derive(Debug, Default)]
pub struct WriteProbe {
    last: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), String>)>>,
}

impl WriteProbe {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(1);

    async fn check(&self, store: &crate::store::Store) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < Self::FRESH
        {
            return result.clone();
        }
        let result = store.probe_write(Utc::now()).await.map_err(|error| error.to_string());
        *last = Some((std::time::Instant::now(), result.clone()));
        result
    }
}
