//! The staff console (`/console`): sign-in, a simulator to try flows as on a
//! phone, and a dashboard of how the program is doing. Server-rendered pages
//! (minijinja, embedded with their texts and stylesheet), in French and
//! English; nothing fetched from elsewhere.
//!
//! - [`auth`] — sessions, the cookie, CSRF, slowed-down sign-ins.
//! - [`render`] — templates and Fluent texts, the staff member's language.
//! - [`simulator`] — try a flow as on a phone, in a sandbox.
//! - [`dashboard`] — how the program is doing.

pub mod auth;
pub mod dashboard;
pub mod render;
pub mod simulator;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{AppState, ReloadRefused};
use crate::core::diagnostic::{Diagnostic, Language};
use auth::{ConsoleAuth, LANGUAGE_COOKIE, Refused, SESSION_COOKIE, Staff, same_origin};
use render::Pages;

/// What the console needs beside the application's state.
#[derive(Debug)]
pub struct Console {
    pub auth: ConsoleAuth,
    pub pages: Pages,
    /// The simulator's open conversations, each in a sandbox of its own.
    pub simulators: simulator::Simulators,
}

impl Console {
    /// A console opened by `token` (ADMIN_TOKEN, or a development token made
    /// at start-up); cookies are `Secure` when the server is reached over https;
    /// the simulator reads flows with `load_flows`.
    pub fn new(token: String, secure: bool, load_flows: simulator::LoadFlows) -> Console {
        Console {
            auth: ConsoleAuth::new(token, secure),
            pages: Pages::new(),
            simulators: simulator::Simulators::new(load_flows),
        }
    }
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/reload", post(reload))
        .route("/console/assets/console.css", get(stylesheet))
        .merge(simulator::routes())
        .merge(dashboard::routes())
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    expired: Option<String>,
}

/// The language of this request, and the cookie that keeps a choice made by `?lang=`.
pub fn language_of(query: &PageQuery, jar: &CookieJar, headers: &HeaderMap) -> (&'static str, Option<Cookie<'static>>) {
    let cookie = jar.get(LANGUAGE_COOKIE).map(|cookie| cookie.value().to_string());
    let lang = render::language(query.lang.as_deref(), cookie.as_deref(), headers);
    let remember = query.lang.is_some().then(|| {
        Cookie::build((LANGUAGE_COOKIE, lang))
            .path("/console")
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(365))
            .build()
    });
    (lang, remember)
}

/// Renders a page, or a plain 500 naming nothing (the error is logged).
pub fn page(state: &AppState, template: &str, context: Value) -> Response {
    match state.console.pages.render(template, context) {
        Ok(html) => {
            let mut response = Html(html).into_response();
            // Pages show live figures and session data: never cached.
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(template, error = %error, "console page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The context every signed-in page has: language, navigation, CSRF token.
pub fn signed_in_context(staff: &Staff, lang: &str, page: &str) -> Value {
    context! { lang, other_lang => render::other_language(lang), signed_in => true, csrf => staff.csrf.clone(), page }
}

/// `GET /console`: the home page when signed in, else the sign-in page.
async fn home(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Result<Staff, Response>,
) -> Response {
    let (lang, remember) = language_of(&query, &jar, &headers);
    let jar = jar.add_if(remember);
    match staff {
        Ok(staff) => (jar, home_page(&state, &staff, lang, None, None)).into_response(),
        Err(_) => {
            let message = query.expired.as_ref().map(|_| "sign-in-expired");
            (jar, page(&state, "sign_in.html", context! { lang, message })).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
}

/// `POST /console/sign-in`: the right token → a session and the home page.
async fn sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let (lang, _) = language_of(&PageQuery::default(), &jar, &headers);
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, page(&state, "sign_in.html", context! { lang, message => "forbidden" }))
            .into_response();
    }
    match state.console.auth.sign_in(&form.token).await {
        Ok((_, cookie)) => (jar.add(cookie), Redirect::to("/console")).into_response(),
        Err(refused) => {
            let (status, message) = match refused {
                Refused::Wrong => (StatusCode::UNAUTHORIZED, "sign-in-refused"),
                Refused::Slowed => (StatusCode::TOO_MANY_REQUESTS, "sign-in-slowed"),
            };
            (status, page(&state, "sign_in.html", context! { lang, message })).into_response()
        }
    }
}

/// The home page: the flows left out, the reload button, and what the last reload said.
fn home_page(
    state: &AppState,
    staff: &Staff,
    lang: &str,
    message: Option<&str>,
    refused: Option<ReloadRefused>,
) -> Response {
    let failing: Vec<String> = state.flows.get().into_iter().map(|flow| flow.file).collect();
    // The lint lines in the console's language; another reason as the log says it.
    let errors = refused.map(|refused| match refused.errors.as_slice() {
        [] => refused.reason,
        errors => lint_lines(errors, lang),
    });
    let base = signed_in_context(staff, lang, "home");
    page(state, "home.html", context! { failing, message, errors, ..base })
}

/// Lint lines in the console's language (`fr` or `en`).
pub fn lint_lines(errors: &[Diagnostic], lang: &str) -> String {
    Diagnostic::render_all(errors, Language::parse(lang).unwrap_or_default()).join("\n")
}

/// `POST /console/reload`: loads flows and texts again, as `SIGHUP` does, and
/// says whether the new set now serves or the last good one still does (with
/// the lint lines to fix).
async fn reload(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !staff.may_post(&form.csrf, &headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let (lang, _) = language_of(&PageQuery::default(), &jar, &headers);
    match state.reload().await {
        Some(Ok(())) => home_page(&state, &staff, lang, Some("home-reloaded"), None),
        Some(Err(errors)) => home_page(&state, &staff, lang, Some("home-reload-refused"), Some(errors)),
        None => home_page(&state, &staff, lang, Some("home-reload-unavailable"), None),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /console/sign-out`.
async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !staff.may_post(&form.csrf, &headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let gone = state.console.auth.sign_out(&staff.session);
    (jar.remove(Cookie::from(SESSION_COOKIE)).add(gone), Redirect::to("/console")).into_response()
}

/// The stylesheet: the same bytes until the binary changes, so cached a day.
async fn stylesheet() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")];
    (headers, render::STYLESHEET).into_response()
}

/// Adding a cookie only when there is one.
pub trait AddIf {
    fn add_if(self, cookie: Option<Cookie<'static>>) -> Self;
}

impl AddIf for CookieJar {
    fn add_if(self, cookie: Option<Cookie<'static>>) -> CookieJar {
        match cookie {
            Some(cookie) => self.add(cookie),
            None => self,
        }
    }
}

/// The token that opens the console: `ADMIN_TOKEN`, or in development
/// without one a fresh token for this run (the caller shows it to the
/// person who started the server).
pub fn console_token(admin_token: Option<&str>) -> (String, bool) {
    match admin_token {
        Some(token) => (token.to_string(), false),
        None => (crate::support::ids::token(), true),
    }
}

/// Shared for the router's state.
pub type SharedConsole = Arc<Console>;
