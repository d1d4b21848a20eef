//! Errors a request can end with, and the status each one gets. Details that
//! could carry personal data are logged by the caller, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 400: the body is not what the provider sends (the reason is safe to show).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: missing or wrong admin token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403: missing or wrong provider signature; nothing was processed.
    #[error("forbidden: invalid signature")]
    Forbidden,
    /// 404
    #[error("not found")]
    NotFound,
    /// 413: a body larger than its channel accepts, or a form of more
    /// parameters than a provider sends; refused before it is parsed.
    #[error("payload too large: {0}")]
    TooLarge(&'static str),
    /// 415: neither a form (Twilio) nor JSON (Meta), or the channel it is for is not enabled.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// 503: the database is unreachable; nothing was written, the provider may retry.
    #[error("service unavailable")]
    Unavailable,
}

impl HttpError {
    /// The `kind` label of the error metric this failure counts under.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::BadRequest(_) => "bad_request",
            HttpError::Forbidden => "signature",
            HttpError::UnsupportedMediaType => "unsupported_media_type",
            HttpError::TooLarge(_) => "too_large",
            HttpError::Unavailable => "database",
            HttpError::Unauthorized | HttpError::NotFound => "other",
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden => StatusCode::FORBIDDEN,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = serde_json::json!({ "status": "error", "error": self.to_string() });
        (status, axum::Json(body)).into_response()
    }
}
