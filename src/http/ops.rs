//! Operations endpoints: health, cleanup, reload, metrics, QR images.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use subtle::ConstantTimeEq;

use super::{AppState, HttpError};
use crate::core::diagnostic::Language;
use crate::turn::maintenance::run_cleanup;

/// `GET /health` and `/whatsapp/health`: 200 when the database answers, 503 otherwise.
pub async fn health(State(state): State<AppState>) -> Response {
    let database = state.conversations.store().ping().await;
    let (status, healthy, database) = match database {
        Ok(()) => (StatusCode::OK, "healthy", "ok"),
        Err(error) => {
            tracing::error!(error = %error, "health check: database unreachable");
            state.metrics.error("database");
            (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "unreachable")
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
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let authorised = state
        .config
        .admin_token
        .as_ref()
        .is_some_and(|token| bool::from(token.expose().as_bytes().ct_eq(given.as_bytes())));
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
    let (answer, outcome) = tokio::sync::oneshot::channel();
    if state.reload_requests.send(answer).await.is_err() {
        return Err(HttpError::Unavailable);
    }
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), outcome).await;
    let Ok(Ok(outcome)) = outcome else { return Err(HttpError::Unavailable) };
    let language = query.lang.as_deref().and_then(Language::parse).unwrap_or_default();
    Ok(match outcome {
        Ok(()) => {
            let left_out: Vec<String> = state.flows.get().into_iter().map(|flow| flow.file).collect();
            Json(serde_json::json!({ "status": "reloaded", "left_out": left_out })).into_response()
        }
        Err(refused) => {
            let errors: Vec<String> = refused.errors.iter().map(|error| error.render(language)).collect();
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
    let retention = state.config.message_retention_hours;
    let cleaned = run_cleanup(&state.conversations, retention, Utc::now()).await.map_err(|error| {
        tracing::error!(error = %error, "cleanup failed");
        state.metrics.error("database");
        HttpError::Unavailable
    })?;
    Ok(Json(serde_json::json!({ "status": "success", "sessions_cleaned": cleaned })).into_response())
}

/// `GET /metrics` in the OpenMetrics text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let timeout = state.conversations.engine().config().session_timeout_minutes;
    let since = Utc::now() - Duration::minutes(timeout.into());
    let active = state.conversations.store().count_sessions_since(since).await.unwrap_or_else(|error| {
        tracing::error!(error = %error, "metrics: cannot count sessions");
        -1
    });
    let text = state.metrics.render(active);
    ([(header::CONTENT_TYPE, crate::turn::metrics::CONTENT_TYPE)], text).into_response()
}

/// `GET /qr/<token>.png`: the QR image of a code, by its unguessable token.
pub async fn qr_image(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, HttpError> {
    let token = file.strip_suffix(".png").ok_or(HttpError::NotFound)?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HttpError::NotFound);
    }
    let uic = state.conversations.store().qr_code(token).await.map_err(|_| HttpError::Unavailable)?;
    let uic = uic.ok_or(HttpError::NotFound)?;
    let png = crate::support::qr::png(&uic).map_err(|error| {
        tracing::error!(error = %error, "QR image failed");
        HttpError::NotFound
    })?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=86400")], png).into_response())
}
