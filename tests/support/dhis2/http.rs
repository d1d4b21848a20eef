//! The fake DHIS2's HTTP side: every request read, routed by method and
//! path, authenticated, bent by a scripted [`Fault`], answered as DHIS2
//! answers it, and recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::import::{self, ImportParams};
use super::metadata::MetadataKind;
use super::search;
use super::tracker::now;
use super::{Dhis2Request, Fault, ORG_UNIT, PASSWORD, PROGRAM, Shared, USER_ID, USERNAME, lock, new_uid};

/// Larger than any import the app makes.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Longer than any client waits: a request that is never answered.
const NEVER: Duration = Duration::from_secs(3600);

impl Fault {
    /// The scripted answer, for the faults that replace DHIS2's.
    fn answer(&self) -> Option<Answer> {
        match *self {
            Fault::Status(status @ (502..=504)) => {
                Some(Answer::Text(status, "text/plain", format!("{status} {}", reason(status))))
            }
            Fault::Status(status) => Some(Answer::Json(status, dhis2_error(status, reason(status)))),
            Fault::Html(status) => Some(Answer::Text(status, "text/html", nginx_page(status))),
            Fault::EmptyBody(status) => Some(Answer::Empty(status)),
            Fault::Delay(_) | Fault::DropAfterCommit | Fault::OkWithError | Fault::ReportForOtherUid => None,
        }
    }
}

/// The endpoints the fake serves, read off method and path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    Ping,
    SystemInfo,
    Me,
    Metadata(MetadataKind, String),
    Search,
    TrackedEntity(String),
    Import,
    Job(String),
    JobReport(String),
    WrongMethod,
    /// Under `/api/`, but nothing the fake serves.
    NotFound,
    /// Outside the context path and `/api/`.
    Outside,
}

impl Route {
    /// Accepts what DHIS2 accepts around a path: a trailing slash, an API
    /// version (`/api/42/...`), a `.json` suffix.
    fn parse(method: &Method, path: &str, context_path: &str) -> Route {
        let Some(rest) = path.strip_prefix(context_path).and_then(|rest| rest.strip_prefix("/api/")) else {
            return Route::Outside;
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let rest = rest.strip_suffix(".json").unwrap_or(rest);
        let mut segments: Vec<&str> = rest.split('/').collect();
        if segments.len() > 1 && segments[0].bytes().all(|b| b.is_ascii_digit()) {
            segments.remove(0);
        }
        let (route, expected) = match segments[..] {
            ["system", "ping"] => (Route::Ping, Method::GET),
            ["system", "info"] => (Route::SystemInfo, Method::GET),
            ["me"] => (Route::Me, Method::GET),
            ["tracker"] => (Route::Import, Method::POST),
            ["tracker", "trackedEntities"] => (Route::Search, Method::GET),
            ["tracker", "trackedEntities", uid] => (Route::TrackedEntity(uid.into()), Method::GET),
            ["tracker", "jobs", uid] => (Route::Job(uid.into()), Method::GET),
            ["tracker", "jobs", uid, "report"] => (Route::JobReport(uid.into()), Method::GET),
            [collection, uid] => match MetadataKind::from_collection(collection) {
                Some(kind) => (Route::Metadata(kind, uid.into()), Method::GET),
                None => return Route::NotFound,
            },
            _ => return Route::NotFound,
        };
        if *method == expected { route } else { Route::WrongMethod }
    }

    /// The fault queue of this endpoint, if it has one.
    fn faults<'s>(&self, shared: &'s mut Shared) -> Option<&'s mut VecDeque<Fault>> {
        match self {
            Route::Import => Some(&mut shared.import_faults),
            Route::Search | Route::TrackedEntity(_) => Some(&mut shared.search_faults),
            _ => None,
        }
    }
}

/// A request as read off the wire.
struct Incoming {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Option<Value>,
}

impl Incoming {
    fn read(parts: &Parts, bytes: &Bytes) -> Incoming {
        let header =
            |name| parts.headers.get(name).and_then(|value: &HeaderValue| value.to_str().ok()).map(str::to_string);
        let query = form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
        Incoming {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query,
            authorization: header(AUTHORIZATION),
            content_type: header(CONTENT_TYPE),
            body: serde_json::from_slice(bytes).ok(),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// What the fake answers.
enum Answer {
    Json(u16, Value),
    /// A status, a content type and a text body.
    Text(u16, &'static str, String),
    Empty(u16),
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::Json(status, _) | Answer::Text(status, _, _) | Answer::Empty(status) => *status,
        }
    }

    /// The answer as kept in [`Dhis2Request::answer`].
    fn recorded(&self) -> Value {
        match self {
            Answer::Json(_, value) => value.clone(),
            Answer::Text(_, _, text) => json!(text),
            Answer::Empty(_) => Value::Null,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            Answer::Json(_, value) => (status, axum::Json(value)).into_response(),
            Answer::Text(_, content_type, text) => (status, [(CONTENT_TYPE, content_type)], text).into_response(),
            Answer::Empty(_) => (status, Body::empty()).into_response(),
        }
    }
}

/// Every request comes here, so that even a wrong path is recorded.
pub(super) async fn handle(State(shared): State<Arc<Mutex<Shared>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    // On a task of its own: a client that gives up does not cancel the work,
    // as a servlet container finishes a request whose client has left.
    match tokio::spawn(serve(shared, Incoming::read(&parts, &bytes))).await {
        Ok(answer) => answer.into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the fake DHIS2 failed").into_response(),
    }
}

async fn serve(shared: Arc<Mutex<Shared>>, request: Incoming) -> Answer {
    let (route, fault) = {
        let mut locked = lock(&shared);
        let route = Route::parse(&request.method, &request.path, &locked.context_path);
        let fault = route.faults(&mut locked).and_then(VecDeque::pop_front);
        (route, fault)
    };
    if let Some(Fault::Delay(pause)) = fault {
        tokio::time::sleep(pause).await;
    }
    let answer = match fault.as_ref().and_then(Fault::answer) {
        Some(scripted) => scripted,
        None => respond(&shared, &route, &request, fault.as_ref()),
    };
    let dropped = fault == Some(Fault::DropAfterCommit);
    lock(&shared).requests.push(Dhis2Request {
        method: request.method.to_string(),
        path: request.path,
        query: request.query,
        authorization: request.authorization,
        body: request.body,
        status: if dropped { 0 } else { answer.status() },
        answer: answer.recorded(),
        route,
    });
    if dropped {
        tokio::time::sleep(NEVER).await;
    }
    answer
}

/// DHIS2's answer: 404 outside its API, 401 without valid credentials, else the endpoint's.
fn respond(shared: &Arc<Mutex<Shared>>, route: &Route, request: &Incoming, fault: Option<&Fault>) -> Answer {
    let mut locked = lock(shared);
    let state = &mut *locked;
    if *route == Route::Outside {
        return Answer::Text(404, "text/html", "<!doctype html><title>HTTP Status 404 – Not Found</title>".into());
    }
    // DHIS2 lets anyone ping it, for load balancers.
    if *route != Route::Ping && !state.authorized(request.authorization.as_deref()) {
        return Answer::Json(401, dhis2_error(401, "Unauthorized"));
    }
    match route {
        Route::Ping => Answer::Text(200, "text/plain", "pong".into()),
        Route::SystemInfo => Answer::Json(200, state.system_info()),
        Route::Me => Answer::Json(200, me()),
        Route::Metadata(kind, uid) => match state.metadata.get(*kind, uid) {
            Some(object) => Answer::Json(200, object.clone()),
            None => not_found(&format!("{} with id {uid} could not be found.", kind.class())),
        },
        Route::Search => match state.tracker.search(&state.metadata, &request.query, &state.version, &[ORG_UNIT]) {
            Ok(found) => Answer::Json(200, found),
            Err(message) => state.refuse(request, 400, &message),
        },
        Route::TrackedEntity(uid) => match state.tracker.find(uid) {
            Some(entity) => {
                let with_enrollments = search::wants_enrollments(request.param("fields"));
                Answer::Json(200, state.tracker.export(&state.metadata, entity, with_enrollments))
            }
            None => not_found(&format!("TrackedEntity with id {uid} could not be found.")),
        },
        Route::Import => state.import(shared, request, fault),
        Route::Job(uid) => match state.jobs.get(uid) {
            Some(report) => Answer::Json(200, job_notifications(uid, report.as_ref())),
            None => not_found(&format!("Job with id {uid} could not be found.")),
        },
        Route::JobReport(uid) => match state.jobs.get(uid) {
            Some(Some(report)) => Answer::Json(200, report.clone()),
            Some(None) => not_found(&format!("Import report for job {uid} is not ready yet.")),
            None => not_found(&format!("Job with id {uid} could not be found.")),
        },
        Route::WrongMethod => {
            Answer::Json(405, dhis2_error(405, &format!("Request method '{}' is not supported", request.method)))
        }
        Route::NotFound | Route::Outside => not_found(&format!("No endpoint {} {}", request.method, request.path)),
    }
}

impl Shared {
    fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some((scheme, credentials)) = authorization.and_then(|value| value.split_once(' ')) else {
            return false;
        };
        if scheme.eq_ignore_ascii_case("ApiToken") {
            return credentials.trim() == self.token;
        }
        let basic = base64::engine::general_purpose::STANDARD.decode(credentials.trim());
        scheme.eq_ignore_ascii_case("Basic")
            && basic.is_ok_and(|pair| pair == format!("{USERNAME}:{PASSWORD}").as_bytes())
    }

    /// DHIS2's answer to a request it cannot take, kept as a violation.
    fn refuse(&mut self, request: &Incoming, status: u16, why: &str) -> Answer {
        self.violations.push(format!("{} {}: {why}", request.method, request.path));
        Answer::Json(status, dhis2_error(status, why))
    }

    fn system_info(&self) -> Value {
        json!({
            "version": self.version.text,
            "revision": "4a1b2c3",
            "buildTime": "2026-01-15T10:00:00.000",
            "serverDate": now(),
            "serverTimeZoneId": "Etc/UTC",
            "serverTimeZoneDisplayName": "Coordinated Universal Time",
            "contextPath": self.base,
            "instanceBaseUrl": self.base,
            "calendar": "iso8601",
            "dateFormat": "yyyy-mm-dd",
            "systemId": "eed3d451-4ff5-4193-b951-ffcc68954299",
            "systemName": "DHIS 2 (fake, for the uic tests)",
            "emailConfigured": false,
        })
    }

    /// `POST /api/tracker`: the body checked as DHIS2 would, then imported
    /// now, or as a job.
    fn import(&mut self, shared: &Arc<Mutex<Shared>>, request: &Incoming, fault: Option<&Fault>) -> Answer {
        let mime = request.content_type.as_deref().unwrap_or_default();
        if !mime.starts_with("application/json") {
            return self.refuse(request, 415, &format!("Content type '{mime}' not supported"));
        }
        let Some(body) = &request.body else {
            return self.refuse(request, 400, "JSON parse error: the body is not JSON");
        };
        let params = match ImportParams::from_query(&request.query) {
            Ok(params) => params,
            Err(message) => return self.refuse(request, 400, &message),
        };
        if let Err(errors) = crate::support::dhis2_schema::validate_import(body) {
            return self.refuse(request, 400, &format!("JSON parse error: {}", errors.join("; ")));
        }
        let unsupported =
            ["events", "relationships"].into_iter().find(|key| !body[key].as_array().is_none_or(Vec::is_empty));
        if let Some(key) = unsupported {
            return self.refuse(request, 400, &format!("the fake DHIS2 does not import {key}"));
        }
        if !params.asynchronous {
            let report = self.run_import(body, &params, fault);
            let status = if report["status"] == "ERROR" && fault != Some(&Fault::OkWithError) { 409 } else { 200 };
            return Answer::Json(status, report);
        }
        let job = new_uid("Job");
        if self.job_duration.is_zero() {
            let report = self.run_import(body, &params, fault);
            self.jobs.insert(job.clone(), Some(report));
        } else {
            self.jobs.insert(job.clone(), None);
            let (shared, body, fault, pause, job) =
                (shared.clone(), body.clone(), fault.cloned(), self.job_duration, job.clone());
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                let mut locked = lock(&shared);
                let report = locked.run_import(&body, &params, fault.as_ref());
                locked.jobs.insert(job, Some(report));
            });
        }
        let location = format!("{}/api/tracker/jobs/{job}", self.base);
        Answer::Json(
            200,
            json!({
                "httpStatus": "OK",
                "httpStatusCode": 200,
                "status": "OK",
                "message": "Tracker job added",
                "response": {"responseType": "TrackerJob", "id": job, "location": location},
            }),
        )
    }

    /// The import itself, and its report, as `fault` bends them.
    fn run_import(&mut self, body: &Value, params: &ImportParams, fault: Option<&Fault>) -> Value {
        if fault == Some(&Fault::OkWithError) {
            return import::refused_for_access(body, USERNAME, params.full);
        }
        let mut report = self.tracker.import(&self.metadata, body, params);
        if fault == Some(&Fault::ReportForOtherUid) {
            let types =
                report["bundleReport"]["typeReportMap"].as_object_mut().into_iter().flat_map(|map| map.values_mut());
            for object in types.flat_map(|kind| kind["objectReports"].as_array_mut().into_iter().flatten()) {
                object["uid"] = json!(new_uid("Oth"));
            }
        }
        report
    }
}

/// `GET /api/me`, with the field names of `MeDto`.
fn me() -> Value {
    json!({
        "id": USER_ID,
        "username": USERNAME,
        "firstName": "UIC",
        "surname": "Bot",
        "name": "UIC Bot",
        "displayName": "UIC Bot",
        "authorities": ["M_dhis-web-capture"],
        "organisationUnits": [{"id": ORG_UNIT}],
        "teiSearchOrganisationUnits": [{"id": ORG_UNIT}],
        "dataViewOrganisationUnits": [{"id": ORG_UNIT}],
        "programs": [PROGRAM],
        "userRoles": [],
        "userGroups": [],
        "settings": {},
        "twoFactorType": "NOT_ENABLED",
    })
}

/// `GET /api/tracker/jobs/{uid}`: the job's notifications, newest first.
fn job_notifications(uid: &str, report: Option<&Value>) -> Value {
    let notification = |message: String, completed: bool| {
        json!({
            "uid": uid,
            "id": uid,
            "level": "INFO",
            "category": "TRACKER_IMPORT_JOB",
            "time": now(),
            "message": message,
            "completed": completed,
        })
    };
    let started = notification("Tracker import started".into(), false);
    match report {
        None => json!([started]),
        Some(report) => {
            let stats = &report["stats"];
            let message = format!(
                "Import complete with status {}, {} created, {} updated, {} deleted, {} ignored",
                report["status"].as_str().unwrap_or_default(),
                stats["created"],
                stats["updated"],
                stats["deleted"],
                stats["ignored"]
            );
            json!([notification(message, true), started])
        }
    }
}

/// DHIS2's error body (a `WebMessage`).
fn dhis2_error(status: u16, message: &str) -> Value {
    json!({"httpStatus": reason(status), "httpStatusCode": status, "status": "ERROR", "message": message})
}

fn not_found(message: &str) -> Answer {
    Answer::Json(404, dhis2_error(404, message))
}

fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status).ok().and_then(|status| status.canonical_reason()).unwrap_or("Unknown")
}

/// nginx's own error page, as a reverse proxy in front of DHIS2 sends it.
fn nginx_page(status: u16) -> String {
    let title = format!("{status} {}", reason(status));
    let lines = [
        "<html>",
        &format!("<head><title>{title}</title></head>"),
        "<body>",
        &format!("<center><h1>{title}</h1></center>"),
        "<hr><center>nginx</center>",
        "</body>",
        "</html>",
    ];
    lines.iter().map(|line| format!("{line}\r\n")).collect()
}
