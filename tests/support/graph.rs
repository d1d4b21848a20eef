//! A fake Graph API on a loopback port: what the app reaches as
//! `META_API_BASE_URL`. It answers `/messages` and `/media` as Meta documents
//! them, checks every body against Meta's schemas ([`super::meta_schema`]),
//! can be scripted to fail, and keeps every request for the assertions.
//!
//! A body Meta would refuse is answered with Meta's 400 and kept as a
//! violation, so a test that only looks at the conversation still fails on
//! [`FakeGraph::assert_no_violations`] when the app sends something WhatsApp
//! would not deliver.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::meta::{self, ACCESS_TOKEN, PHONE_NUMBER_ID};

/// Larger than any upload the app makes; Meta's own limit is 100 MB for documents.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request the fake received, and what it answered.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: String,
    /// The path, e.g. `/v23.0/106540352242922/messages`.
    pub path: String,
    /// The `Authorization` header, e.g. `Bearer EAA...`.
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: GraphBody,
    /// The status answered.
    pub status: u16,
    /// The JSON answered.
    pub answer: Value,
}

/// A request body, read by its `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphBody {
    Json(Value),
    Multipart(Vec<Part>),
    /// Neither: bytes the fake could not read as the content type claimed.
    Raw(Vec<u8>),
}

/// One field of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// What the next requests get instead of the normal answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// This status with Graph's generic error: code 2 ("temporarily
    /// unavailable") for 503, code 1 ("unknown error") otherwise; both transient.
    Status(u16),
    /// 429 with code 130429, the Cloud API's throughput limit.
    Throttle,
    /// Any error Meta documents, e.g. 400 131047 (24-hour window closed),
    /// 401 190 (expired token), 400 100 (invalid parameter).
    MetaError { status: u16, code: i64, message: String },
    /// A slow Graph API: the normal answer, after this long.
    Delay(Duration),
    /// Meta takes the request at once (it is recorded, a message counts as
    /// sent) but its answer comes this long after: a client that gives up
    /// first never learns the message left.
    SlowAnswer(Duration),
}

impl Failure {
    /// The scripted answer; `None` when the request is answered normally.
    fn answer(&self) -> Option<(u16, Value)> {
        match self {
            Failure::Status(status) => {
                let (code, message) = match *status {
                    503 => (2, "Service temporarily unavailable"),
                    _ => (1, "An unknown error has occurred."),
                };
                let mut error = graph_error(code, message);
                error["error"]["is_transient"] = json!(true);
                Some((*status, error))
            }
            Failure::Throttle => {
                let mut error = graph_error(130429, "(#130429) Rate limit hit");
                error["error"]["error_data"] = json!({"messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached."});
                Some((429, error))
            }
            Failure::MetaError { status, code, message } => Some((*status, graph_error(*code, message))),
            Failure::Delay(_) | Failure::SlowAnswer(_) => None,
        }
    }
}

pub struct FakeGraph {
    /// `http://127.0.0.1:<port>`: the app's `META_API_BASE_URL`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

struct Shared {
    /// The bearer token accepted.
    token: String,
    failures: VecDeque<Failure>,
    requests: Vec<GraphRequest>,
    violations: Vec<String>,
    /// Uploads by media id: (content type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
}

impl FakeGraph {
    /// Listens on a free loopback port; must be called inside a Tokio runtime.
    /// Accepts [`ACCESS_TOKEN`] for [`PHONE_NUMBER_ID`], under any `vNN.N`.
    pub fn start() -> FakeGraph {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking socket");
        let port = listener.local_addr().expect("a bound port").port();
        let listener = tokio::net::TcpListener::from_std(listener).expect("inside a Tokio runtime");
        let shared = Arc::new(Mutex::new(Shared {
            token: ACCESS_TOKEN.to_string(),
            failures: VecDeque::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            media: HashMap::new(),
        }));
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the fake Graph API serves");
        });
        FakeGraph { base: format!("http://127.0.0.1:{port}"), shared, task }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().expect("no test panicked holding the fake's lock")
    }

    /// Where the app posts messages.
    pub fn messages_url(&self) -> String {
        format!("{}/{}/{PHONE_NUMBER_ID}/messages", self.base, meta::API_VERSION)
    }

    /// Where the app uploads media.
    pub fn media_url(&self) -> String {
        format!("{}/{}/{PHONE_NUMBER_ID}/media", self.base, meta::API_VERSION)
    }

    /// The next `n` requests to `/messages` or `/media` get `failure` (and are still recorded).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.lock().failures.extend(std::iter::repeat_n(failure, n));
    }

    /// From now on only `token` is accepted, as when the app's token expires.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_string();
    }

    /// Every request, in arrival order.
    pub fn requests(&self) -> Vec<GraphRequest> {
        self.lock().requests.clone()
    }

    /// The `/messages` requests answered 200, mark-as-read aside: (body, answer).
    fn delivered(&self) -> Vec<(Value, Value)> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/messages") && r.status == 200)
            .filter_map(|r| match &r.body {
                GraphBody::Json(body) if body["status"] != "read" => Some((body.clone(), r.answer.clone())),
                _ => None,
            })
            .collect()
    }

    /// The bodies of the messages Meta accepted, in order.
    pub fn sent(&self) -> Vec<Value> {
        self.delivered().into_iter().map(|(body, _)| body).collect()
    }

    /// The wamids returned for them, in the same order.
    pub fn sent_ids(&self) -> Vec<String> {
        self.delivered()
            .into_iter()
            .map(|(_, answer)| answer["messages"][0]["id"].as_str().expect("a wamid").to_string())
            .collect()
    }

    /// The ids of the incoming messages the app marked as read (answered 200).
    pub fn read_receipts(&self) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/messages") && r.status == 200)
            .filter_map(|r| match &r.body {
                GraphBody::Json(body) if body["status"] == "read" => body["message_id"].as_str().map(str::to_string),
                _ => None,
            })
            .collect()
    }

    /// At least `n` sent messages, waiting up to 30 s for them: the app sends
    /// from its outbox, after the webhook has been answered.
    pub async fn wait_for_sent(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("expected {n} messages sent to the Graph API within 30 s, got {}: {sent:#?}", sent.len());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Why each refused body would have been refused by Meta.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "the app sent what Meta refuses:\n{}", violations.join("\n"));
    }

    /// What was uploaded as media `id`: (content type, bytes).
    pub fn media(&self, id: &str) -> Option<(String, Vec<u8>)> {
        self.lock().media.get(id).cloned()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The two endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Messages,
    Media,
}

/// `POST /{vNN.N}/{phone-number-id}/messages|media`: the endpoint and the phone number id.
fn route<'p>(method: &Method, path: &'p str) -> Option<(Endpoint, &'p str)> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let [version, phone_number_id, endpoint] = segments[..] else { return None };
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if method != Method::POST || !numeric(major) || !numeric(minor) || phone_number_id.is_empty() {
        return None;
    }
    match endpoint {
        "messages" => Some((Endpoint::Messages, phone_number_id)),
        "media" => Some((Endpoint::Media, phone_number_id)),
        _ => None,
    }
}

/// Every request comes here, so that even a wrong path is recorded.
async fn handle(State(shared): State<Arc<Mutex<Shared>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let authorization = header(&parts.headers, AUTHORIZATION.as_str());
    let content_type = header(&parts.headers, CONTENT_TYPE.as_str());
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let body = read_body(content_type.as_deref(), bytes).await;
    let route = route(&parts.method, &path);
    let failure = match route {
        Some(_) => shared.lock().expect("fake's lock").failures.pop_front(),
        None => None,
    };
    if let Some(Failure::Delay(pause)) = &failure {
        tokio::time::sleep(*pause).await;
    }
    let slow_answer = match &failure {
        Some(Failure::SlowAnswer(pause)) => Some(*pause),
        _ => None,
    };
    let (status, answer) = {
        let mut shared = shared.lock().expect("fake's lock");
        let (status, answer) = match failure.and_then(|failure| failure.answer()) {
            Some(scripted) => scripted,
            None => shared.answer(route, &path, authorization.as_deref(), &body),
        };
        shared.requests.push(GraphRequest {
            method: parts.method.to_string(),
            path,
            authorization,
            content_type,
            body,
            status,
            answer: answer.clone(),
        });
        (status, answer)
    };
    if let Some(pause) = slow_answer {
        tokio::time::sleep(pause).await;
    }
    (StatusCode::from_u16(status).expect("a valid status"), axum::Json(answer)).into_response()
}

impl Shared {
    fn answer(
        &mut self,
        route: Option<(Endpoint, &str)>,
        path: &str,
        authorization: Option<&str>,
        body: &GraphBody,
    ) -> (u16, Value) {
        let Some((endpoint, phone_number_id)) = route else {
            return (404, graph_error(2500, &format!("Unknown path components: {path}")));
        };
        if authorization != Some(format!("Bearer {}", self.token).as_str()) {
            let mut error = graph_error(190, "Error validating access token: Session has expired.");
            error["error"]["error_subcode"] = json!(463);
            return (401, error);
        }
        if phone_number_id != PHONE_NUMBER_ID {
            let message = format!(
                "Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            );
            let mut error = graph_error(100, &message);
            error["error"]["error_subcode"] = json!(33);
            return (400, error);
        }
        match endpoint {
            Endpoint::Messages => self.message(path, body),
            Endpoint::Media => self.upload(path, body),
        }
    }

    fn message(&mut self, path: &str, body: &GraphBody) -> (u16, Value) {
        let GraphBody::Json(body) = body else {
            return self.refuse(path, "the body is not JSON sent as application/json".to_string());
        };
        if body["status"] == "read" {
            return match meta::validate_mark_as_read(body) {
                Ok(()) => (200, json!({"success": true})),
                Err(error) => self.refuse(path, format!("{error} in {body}")),
            };
        }
        if let Err(error) = meta::validate_message(body) {
            return self.refuse(path, format!("{error} in {body}"));
        }
        let to = body["to"].as_str().unwrap_or_default();
        let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": meta::wamid()}],
        });
        (200, answer)
    }

    fn upload(&mut self, path: &str, body: &GraphBody) -> (u16, Value) {
        let GraphBody::Multipart(parts) = body else {
            return self.refuse(path, "the body is not multipart/form-data".to_string());
        };
        let field = |name: &str| parts.iter().find(|part| part.name == name);
        let text = |name: &str| field(name).and_then(|part| std::str::from_utf8(&part.bytes).ok());
        let mut problems = Vec::new();
        if text("messaging_product") != Some("whatsapp") {
            problems.push("messaging_product must be \"whatsapp\"".to_string());
        }
        let mime_type = text("type").filter(|mime| mime.contains('/'));
        if mime_type.is_none() {
            problems.push("type must be the file's MIME type".to_string());
        }
        match field("file") {
            None => problems.push("no file field".to_string()),
            Some(file) => {
                if file.filename.as_deref().is_none_or(str::is_empty) {
                    problems.push("the file has no filename".to_string());
                }
                if file.content_type.as_deref() != mime_type {
                    problems.push(format!("the file's content type {:?} is not type {mime_type:?}", file.content_type));
                }
                if file.bytes.is_empty() {
                    problems.push("the file is empty".to_string());
                }
            }
        }
        if !problems.is_empty() {
            return self.refuse(path, problems.join("; "));
        }
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = (4_490_709_327_384_000 + NEXT.fetch_add(1, Ordering::Relaxed)).to_string();
        let bytes = field("file").map(|file| file.bytes.clone()).unwrap_or_default();
        self.media.insert(id.clone(), (mime_type.unwrap_or_default().to_string(), bytes));
        (200, json!({"id": id}))
    }

    /// Meta's answer to a body it does not accept, kept as a violation.
    fn refuse(&mut self, path: &str, why: String) -> (u16, Value) {
        let mut error = graph_error(100, "(#100) Invalid parameter");
        error["error"]["error_data"] = json!({"messaging_product": "whatsapp", "details": why});
        self.violations.push(format!("POST {path}: {why}"));
        (400, error)
    }
}

/// Graph's error body, with a `fbtrace_id` as Meta's support asks for.
fn graph_error(code: i64, message: &str) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let trace = format!("AFakeTrace{:012}", NEXT.fetch_add(1, Ordering::Relaxed));
    json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": trace}})
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string)
}

/// The body as its `Content-Type` says; [`GraphBody::Raw`] when it is not.
async fn read_body(content_type: Option<&str>, bytes: Bytes) -> GraphBody {
    let mime = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let parsed = match mime.as_str() {
        "application/json" => serde_json::from_slice(&bytes).ok().map(GraphBody::Json),
        "multipart/form-data" => read_multipart(content_type.unwrap_or_default(), bytes.clone()).await,
        _ => None,
    };
    parsed.unwrap_or_else(|| GraphBody::Raw(bytes.to_vec()))
}

async fn read_multipart(content_type: &str, bytes: Bytes) -> Option<GraphBody> {
    let request = Request::builder().header(CONTENT_TYPE, content_type).body(Body::from(bytes)).ok()?;
    let mut form = Multipart::from_request(request, &()).await.ok()?;
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(str::to_string);
        let bytes = field.bytes().await.ok()?.to_vec();
        parts.push(Part { name, filename, content_type, bytes });
    }
    Some(GraphBody::Multipart(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        crate::support::http_client().timeout(Duration::from_secs(60)).build().expect("HTTP client builds")
    }

    fn text(to: &str) -> Value {
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": "Bonjour"},
        })
    }

    async fn post(graph: &FakeGraph, token: &str, body: &Value) -> (u16, Value) {
        let response = client().post(graph.messages_url()).bearer_auth(token).json(body).send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    fn field(name: &str, value: &str) -> Part {
        Part { name: name.into(), filename: None, content_type: None, bytes: value.into() }
    }

    /// A form as `curl -F` sends it, since reqwest's `multipart` feature is off.
    fn form(parts: &[Part]) -> (String, Vec<u8>) {
        let boundary = "----uic-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"", part.name).as_bytes(),
            );
            if let Some(filename) = &part.filename {
                body.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
            }
            if let Some(content_type) = &part.content_type {
                body.extend_from_slice(format!("\r\nContent-Type: {content_type}").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&part.bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    async fn upload(graph: &FakeGraph, parts: &[Part]) -> (u16, Value) {
        let (content_type, body) = form(parts);
        let request = client().post(graph.media_url()).bearer_auth(ACCESS_TOKEN).header("Content-Type", content_type);
        let response = request.body(body).send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    #[tokio::test]
    async fn a_valid_text_gets_a_wamid() {
        let graph = FakeGraph::start();
        let (status, answer) = post(&graph, ACCESS_TOKEN, &text("+243810000001")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["contacts"][0], json!({"input": "+243810000001", "wa_id": "243810000001"}));
        let id = answer["messages"][0]["id"].as_str().unwrap();
        assert!(id.starts_with("wamid."), "{answer}");
        assert_eq!(graph.wait_for_sent(1).await, vec![text("+243810000001")]);
        assert_eq!(graph.sent_ids(), vec![id.to_string()]);
        let request = &graph.requests()[0];
        assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        graph.assert_no_violations();
    }

    #[tokio::test]
    async fn an_invalid_body_is_refused_and_recorded() {
        let graph = FakeGraph::start();
        let mut misspelled = text("243810000001");
        misspelled["text"] = json!({"bodyy": "Bonjour"});
        let (status, answer) = post(&graph, ACCESS_TOKEN, &misspelled).await;
        assert_eq!((status, &answer["error"]["code"]), (400, &json!(100)), "{answer}");
        assert_eq!(answer["error"]["message"], "(#100) Invalid parameter");
        assert!(graph.sent().is_empty());
        let violations = graph.violations();
        assert_eq!(violations.len(), 1);
        assert!(violations[0].contains("bodyy"), "{violations:?}");
    }

    #[tokio::test]
    async fn mark_as_read_is_answered_with_success() {
        let graph = FakeGraph::start();
        let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgMincoming"});
        assert_eq!(post(&graph, ACCESS_TOKEN, &read).await, (200, json!({"success": true})));
        assert_eq!(graph.read_receipts(), vec!["wamid.HBgMincoming".to_string()]);
        assert!(graph.sent().is_empty());
        graph.assert_no_violations();
    }

    #[tokio::test]
    async fn scripted_failures_come_first_then_normal_answers() {
        let graph = FakeGraph::start();
        graph.fail_next(1, Failure::Throttle);
        graph.fail_next(1, Failure::Status(503));
        let (status, answer) = post(&graph, ACCESS_TOKEN, &text("243810000001")).await;
        assert_eq!((status, &answer["error"]["code"]), (429, &json!(130429)), "{answer}");
        let (status, answer) = post(&graph, ACCESS_TOKEN, &text("243810000001")).await;
        assert_eq!((status, &answer["error"]["code"]), (503, &json!(2)), "{answer}");
        let (status, _) = post(&graph, ACCESS_TOKEN, &text("243810000001")).await;
        assert_eq!(status, 200);
        let statuses: Vec<u16> = graph.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [429, 503, 200]);
        assert_eq!(graph.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_meta_error_and_a_delay_are_scripted_too() {
        let graph = FakeGraph::start();
        let closed = "(#131047) Re-engagement message".to_string();
        graph.fail_next(1, Failure::MetaError { status: 400, code: 131047, message: closed.clone() });
        graph.fail_next(1, Failure::Delay(Duration::from_millis(200)));
        let (status, answer) = post(&graph, ACCESS_TOKEN, &text("243810000001")).await;
        assert_eq!(
            (status, &answer["error"]["code"], &answer["error"]["message"]),
            (400, &json!(131047), &json!(closed))
        );
        let started = std::time::Instant::now();
        assert_eq!(post(&graph, ACCESS_TOKEN, &text("243810000001")).await.0, 200);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_wrong_token_gets_401_190() {
        let graph = FakeGraph::start();
        let (status, answer) = post(&graph, "EAAwrong", &text("243810000001")).await;
        assert_eq!((status, &answer["error"]["code"]), (401, &json!(190)), "{answer}");
        assert_eq!(answer["error"]["error_subcode"], 463);
        graph.set_token("EAArenewed");
        assert_eq!(post(&graph, ACCESS_TOKEN, &text("243810000001")).await.0, 401);
        assert_eq!(post(&graph, "EAArenewed", &text("243810000001")).await.0, 200);
        graph.assert_no_violations();
    }

    #[tokio::test]
    async fn unknown_ids_and_paths_get_graph_errors() {
        let graph = FakeGraph::start();
        let url = format!("{}/v23.0/999/messages", graph.base);
        let response = client().post(url).bearer_auth(ACCESS_TOKEN).json(&text("243810000001")).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], 100);
        let response = client().get(format!("{}/v23.0/me", graph.base)).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert!(response.json::<Value>().await.unwrap()["error"]["message"].is_string());
        assert_eq!(graph.requests().len(), 2);
    }

    #[tokio::test]
    async fn an_upload_returns_an_id_that_gives_the_bytes_back() {
        let graph = FakeGraph::start();
        let png = b"\x89PNG\r\n\x1a\n fake image".to_vec();
        let file = Part {
            name: "file".into(),
            filename: Some("uic.png".into()),
            content_type: Some("image/png".into()),
            bytes: png.clone(),
        };
        let fields = [field("messaging_product", "whatsapp"), field("type", "image/png"), file];
        let (status, answer) = upload(&graph, &fields).await;
        assert_eq!(status, 200, "{answer}");
        let id = answer["id"].as_str().unwrap();
        assert!(id.bytes().all(|b| b.is_ascii_digit()), "{answer}");
        assert_eq!(graph.media(id), Some(("image/png".to_string(), png)));
        assert_eq!(graph.requests()[0].body, GraphBody::Multipart(fields.to_vec()));
        graph.assert_no_violations();

        let (status, answer) = upload(&graph, &fields[1..]).await;
        assert_eq!((status, &answer["error"]["code"]), (400, &json!(100)), "{answer}");
        assert!(graph.violations()[0].contains("messaging_product"), "{:?}", graph.violations());
    }
}
