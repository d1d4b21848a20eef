//! `/console/dashboard`: (being built).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use super::auth::Staff;
use super::{AddIf, PageQuery, language_of, page, signed_in_context};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/dashboard", get(show))
}

/// `GET /console/dashboard`.
async fn show(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
) -> Response {
    let (lang, remember) = language_of(&query, &jar, &headers);
    (jar.add_if(remember), page(&state, "dashboard.html", signed_in_context(&staff, lang, "dashboard"))).into_response()
}
