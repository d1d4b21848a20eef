//! Who may use the console: a staff member who typed the admin token gets a
//! session, named by a random cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! behind https, eight hours). Forms carry the session's own CSRF token, and
//! a post from another origin is refused. Failed sign-ins slow down every
//! sign-in for a while, so guessing the token is hopeless.
//!
//! Sessions live in memory: a restart signs staff out, which is fine for a
//! console and keeps no secret on disk.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq;

use super::super::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "uic_console";
/// The language cookie (not a secret).
pub const LANGUAGE_COOKIE: &str = "uic_console_lang";
/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Failed sign-ins counted over this window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failures in the window before each attempt waits.
const FREE_FAILURES: usize = 3;
/// Failures in the window past which sign-ins are refused outright.
const MAX_FAILURES: usize = 30;

/// The console's sessions and the token that opens them.
pub struct ConsoleAuth {
    token: String,
    /// Whether cookies are `Secure` (the server is reached over https).
    secure: bool,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<VecDeque<Instant>>,
}

impl std::fmt::Debug for ConsoleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleAuth(***)")
    }
}

#[derive(Debug, Clone)]
struct Session {
    expires: Instant,
    csrf: String,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not the token.
    Wrong,
    /// Too many failures lately: not even compared.
    Slowed,
}

impl ConsoleAuth {
    pub fn new(token: String, secure: bool) -> ConsoleAuth {
        ConsoleAuth { token, secure, sessions: Mutex::default(), failures: Mutex::default() }
    }

    /// A new session for the right token; a wrong one waits longer with each
    /// recent failure (everyone's: a guesser from many addresses gains nothing).
    pub async fn sign_in(&self, given: &str) -> Result<(String, Cookie<'static>), Refused> {
        let recent = self.recent_failures();
        if recent >= MAX_FAILURES {
            return Err(Refused::Slowed);
        }
        if recent > FREE_FAILURES {
            let wait = Duration::from_millis(250 * (recent - FREE_FAILURES) as u64).min(Duration::from_secs(5));
            tokio::time::sleep(wait).await;
        }
        if !bool::from(self.token.as_bytes().ct_eq(given.trim().as_bytes())) || self.token.is_empty() {
            lock(&self.failures).push_back(Instant::now());
            tracing::warn!("console: a sign-in with a wrong token was refused");
            return Err(Refused::Wrong);
        }
        let id = crate::support::ids::token();
        let session = Session { expires: Instant::now() + SESSION_LIFETIME, csrf: crate::support::ids::token() };
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, session| session.expires > now);
        sessions.insert(id.clone(), session);
        Ok((id.clone(), self.cookie(id, SESSION_LIFETIME)))
    }

    /// Ends a session; the cookie that removes it from the browser.
    pub fn sign_out(&self, id: &str) -> Cookie<'static> {
        lock(&self.sessions).remove(id);
        self.cookie(String::new(), Duration::ZERO)
    }

    /// The CSRF token of a live session.
    fn csrf_of(&self, id: &str) -> Option<String> {
        let sessions = lock(&self.sessions);
        sessions.get(id).filter(|session| session.expires > Instant::now()).map(|session| session.csrf.clone())
    }

    fn recent_failures(&self) -> usize {
        let mut failures = lock(&self.failures);
        while failures.front().is_some_and(|at| at.elapsed() > FAILURE_WINDOW) {
            failures.pop_front();
        }
        failures.len()
    }

    fn cookie(&self, value: String, lifetime: Duration) -> Cookie<'static> {
        let max_age = time::Duration::seconds(lifetime.as_secs() as i64);
        Cookie::build((SESSION_COOKIE, value))
            .path("/console")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(max_age)
            .build()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A signed-in staff member: handlers that take one never run for anyone
/// else. A page asked without a session is sent to sign in; anything else
/// gets 401.
#[derive(Debug, Clone)]
pub struct Staff {
    pub session: String,
    pub csrf: String,
}

impl Staff {
    /// Whether a form's `csrf` field is this session's token.
    pub fn checks(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }

    /// Whether a post may act: it carries this session's CSRF token and comes
    /// from the console's own origin.
    pub fn may_post(&self, csrf: &str, headers: &HeaderMap) -> bool {
        self.checks(csrf) && same_origin(headers)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Staff, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let session = jar.get(SESSION_COOKIE).map(|cookie| cookie.value().to_string()).unwrap_or_default();
        match state.console.auth.csrf_of(&session) {
            Some(csrf) if !session.is_empty() => Ok(Staff { session, csrf }),
            _ if parts.method == axum::http::Method::GET => {
                let expired = if jar.get(SESSION_COOKIE).is_some() { "?expired=1" } else { "" };
                Err(Redirect::to(&format!("/console{expired}")).into_response())
            }
            _ => Err(StatusCode::UNAUTHORIZED.into_response()),
        }
    }
}

/// Whether a post comes from the console's own pages: a browser names the
/// origin of a form post, and it must be this host (`SameSite=Strict` and the
/// CSRF token are the other two locks).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) else {
        // Browsers send Origin with every form post; a client without one is not a browser.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("");
    let forwarded = headers.get("x-forwarded-host").and_then(|value| value.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    origin_host == host || forwarded.is_some_and(|forwarded| origin_host == forwarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_token_opens_a_session_and_the_cookie_is_locked_down() {
        let auth = ConsoleAuth::new("s3cret-token".into(), true);
        let (id, cookie) = auth.sign_in(" s3cret-token\n").await.unwrap();
        assert_eq!(cookie.value(), id);
        assert_eq!(
            (cookie.http_only(), cookie.secure(), cookie.same_site()),
            (Some(true), Some(true), Some(SameSite::Strict))
        );
        assert_eq!(cookie.path(), Some("/console"));
        assert!(auth.csrf_of(&id).is_some());
        let gone = auth.sign_out(&id);
        assert_eq!(gone.value(), "");
        assert!(auth.csrf_of(&id).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_slow_every_sign_in_down_then_refuse_it() {
        let auth = ConsoleAuth::new("right".into(), false);
        for _ in 0..FREE_FAILURES {
            assert_eq!(auth.sign_in("wrong").await.unwrap_err(), Refused::Wrong);
        }
        let before = tokio::time::Instant::now();
        for _ in FREE_FAILURES..MAX_FAILURES {
            assert_eq!(auth.sign_in("wrong").await.unwrap_err(), Refused::Wrong);
        }
        assert!(before.elapsed() >= Duration::from_secs(30), "slowed down: {:?}", before.elapsed());
        assert_eq!(auth.sign_in("right").await.unwrap_err(), Refused::Slowed);
        assert!(ConsoleAuth::new(String::new(), false).sign_in("").await.is_err(), "an empty token opens nothing");
    }

    #[test]
    fn posts_from_another_site_are_told_apart() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "uic.example.org".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://uic.example.org".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example.com".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
