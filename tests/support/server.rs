//! A real `uic serve` on a loopback port, for the HTTP tests: a fresh SQLite
//! file per server, the public test salt, and a client that posts webhooks
//! exactly as Twilio does (form body, `X-Twilio-Signature`). Assertions read
//! the database with raw SQL through a pool of their own, never the store's.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use uic::app::startup::Application;
use uic::channels::twilio;
use uic::config::Config;
use uic::http::AppState;
use uic::turn::outbox::RetryPolicy;

use super::prometheus::Scrape;

/// The Twilio auth token the test servers check signatures with.
pub const AUTH_TOKEN: &str = "test-twilio-auth-token-0123456789";
/// The admin token of `POST /whatsapp/cleanup`.
pub const ADMIN_TOKEN: &str = "test-admin-token-abcdef";
/// Twilio's WhatsApp sandbox number, the `To` of every message.
pub const TO: &str = "whatsapp:+14155238886";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// Every test fails rather than hangs: this bounds any step of it.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test after [`STEP_TIMEOUT`].
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP_TIMEOUT, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no answer within {STEP_TIMEOUT:?}"),
    }
}

pub struct TestServer {
    pub port: u16,
    /// `http://127.0.0.1:<port>`: where the test connects.
    pub base: String,
    /// `PUBLIC_BASE_URL`, when the server has one.
    pub public_base: Option<String>,
    pub state: AppState,
    pub client: reqwest::Client,
    /// The database file's URL, to look at it with another pool.
    pub database_url: String,
    raw: OnceCell<AnyPool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the DRC flow in French (the default).
    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// A server with extra (or overriding) configuration variables.
    pub async fn start_with(extra: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let database_url = format!("sqlite://{}", dir.path().join("uic.db").display());
        let mut vars: HashMap<String, String> = [
            ("PORT", "0".to_string()),
            ("HOST", "127.0.0.1".to_string()),
            ("DATA_DIR", dir.path().display().to_string()),
            ("DATABASE_URL", database_url.clone()),
            ("UIC_SALT", uic::core::salt::TEST_SALT.to_string()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
            ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("FLOWS_DIR", root.join("flows").display().to_string()),
            ("LOCALES_DIR", root.join("locales").display().to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        for (name, value) in extra {
            vars.insert(name.to_string(), value.to_string());
        }
        let database_url = vars["DATABASE_URL"].clone();
        let config = Config::from_vars(|name| vars.get(name).cloned()).expect("test configuration is valid");
        let public_base = config.public_base_url.clone();
        let app = bounded("server start", Application::build(config)).await.expect("server builds");
        let app = app.with_outbox_policy(fast_retries()).with_active_sessions_every(Duration::from_millis(50));
        let port = app.port();
        let state = app.state().clone();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stop_rx.await;
        }));
        let client = crate::support::http_client().timeout(STEP_TIMEOUT).build().expect("HTTP client builds");
        TestServer {
            port,
            base: format!("http://127.0.0.1:{port}"),
            public_base,
            state,
            client,
            database_url,
            raw: OnceCell::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// The URL Twilio calls, which the signature covers.
    pub fn webhook_url(&self) -> String {
        format!("{}/whatsapp/webhook", self.public_base.as_deref().unwrap_or(&self.base))
    }

    /// A URL of this server as the test reaches it (public URLs are mapped back to the socket).
    pub fn local(&self, url: &str) -> String {
        match &self.public_base {
            Some(public) if url.starts_with(public.as_str()) => format!("{}{}", self.base, &url[public.len()..]),
            _ => url.to_string(),
        }
    }

    /// Posts a form body with the given `X-Twilio-Signature` (none if `None`).
    pub async fn post_signed(&self, params: &[(String, String)], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/whatsapp/webhook", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", "TwilioProxy/1.1")
            .body(form(params));
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        bounded("webhook", request.send()).await.expect("webhook request")
    }

    /// Posts a message signed over [`TestServer::webhook_url`], as Twilio does.
    pub async fn post(&self, params: &[(String, String)]) -> reqwest::Response {
        let signature = twilio::signature(AUTH_TOKEN, &self.webhook_url(), params);
        self.post_signed(params, Some(&signature)).await
    }

    /// Posts a message and reads the TwiML answer, which must be a 200.
    pub async fn deliver(&self, params: &[(String, String)]) -> Twiml {
        let response = self.post(params).await;
        let status = response.status();
        let content_type = header(&response, "content-type");
        let text = bounded("webhook body", response.text()).await.expect("webhook body");
        assert_eq!(status, 200, "webhook answered {status}: {text}");
        assert!(content_type.starts_with("application/xml"), "TwiML content type: {content_type}");
        Twiml::parse(&text)
    }

    /// A person sends a text message.
    pub async fn say(&self, phone: &str, text: &str) -> Twiml {
        self.deliver(&Message::text(phone, text).params()).await
    }

    /// A person sends several messages in turn; the answer to the last one.
    pub async fn conversation(&self, phone: &str, texts: &[&str]) -> Twiml {
        let mut last = None;
        for text in texts {
            last = Some(self.say(phone, text).await);
        }
        last.expect("at least one message")
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url =
            if path_or_url.starts_with('/') { format!("{}{path_or_url}", self.base) } else { path_or_url.to_string() };
        bounded("GET", self.client.get(url).send()).await.expect("GET request")
    }

    /// `GET /metrics`, read with the Prometheus project's parser.
    pub async fn metrics(&self) -> Scrape {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200, "GET /metrics");
        Scrape::parse(&response.text().await.expect("metrics body"))
    }

    /// The value of one series in `GET /metrics`
    /// (`uic_messages_received_total{channel="twilio"}`), which must be there.
    pub async fn metric(&self, series: &str) -> f64 {
        self.metrics().await.value(series)
    }

    /// Waits until the series shows `value` (gauges the server refreshes,
    /// such as `uic_active_sessions`); fails after [`STEP_TIMEOUT`].
    pub async fn metric_becomes(&self, series: &str, value: f64) {
        bounded(&format!("{series} becomes {value}"), async {
            while self.metric(series).await != value {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    /// A pool of the tests' own on the server's database, for raw SQL in assertions.
    pub async fn raw(&self) -> AnyPool {
        self.raw.get_or_init(|| super::db::any_pool(&self.database_url)).await.clone()
    }

    /// The person's session as stored: (current step, number of answers).
    pub async fn session(&self, phone: &str) -> Option<(String, usize)> {
        session_of(&self.raw().await, phone).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.raw().await, table).await
    }

    /// Sends the stop signal without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether the server task has ended.
    pub fn has_stopped(&self) -> bool {
        self.task.as_ref().is_none_or(|task| task.is_finished())
    }

    /// Stops the server and waits for it to end.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.signal_stop();
        let task = self.task.take().expect("running");
        bounded("server shutdown", task).await.expect("server task does not panic")
    }
}

/// The outbox retrying in milliseconds rather than seconds, so that tests of
/// throttling and outages finish quickly; the order and the counting of
/// attempts are the same as in production.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_attempts: 6,
        margin: Duration::from_secs(5),
        batch: 32,
        idle: Duration::from_millis(50),
        pause: Duration::from_millis(200),
        unsure: Duration::from_secs(5),
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// The person's session in the database behind `pool`: (current step, number of answers).
pub async fn session_of(pool: &AnyPool, phone: &str) -> Option<(String, usize)> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT current_step, CAST(answers AS TEXT) FROM conversation_sessions WHERE phone_number = $1")
            .bind(phone)
            .fetch_optional(pool)
            .await
            .expect("session query");
    row.map(|(step, answers)| {
        let answers: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&answers).expect("answers are a JSON object");
        (step, answers.len())
    })
}

/// Rows in one of the project's tables.
pub async fn count_rows(pool: &AnyPool, table: &str) -> i64 {
    const TABLES: [&str; 7] = [
        "conversation_sessions",
        "uic_records",
        "uic_collisions",
        "processed_messages",
        "qr_codes",
        "outbox",
        "sent_messages",
    ];
    assert!(TABLES.contains(&table), "unknown table {table}");
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    let (count,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.expect("count query");
    count
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_string()
}

/// `application/x-www-form-urlencoded`, as Twilio encodes it.
pub fn form(params: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `SM` and 32 hex digits, different for every message of the test binary.
pub fn message_sid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("SM{:016x}{:016x}", std::process::id(), n)
}

/// A WhatsApp number in the DRC, `+243` and 9 digits, from a small number.
pub fn phone(n: u32) -> String {
    format!("+24381{n:07}")
}

/// One incoming WhatsApp message, with every field Twilio sends.
#[derive(Debug, Clone)]
pub struct Message {
    pub sid: String,
    pub phone: String,
    pub body: String,
    /// `(url, content type)` of an attachment.
    pub media: Option<(String, String)>,
    /// `(payload, text)` of a tapped reply button.
    pub button: Option<(String, String)>,
}

impl Message {
    pub fn text(phone: &str, body: &str) -> Message {
        Message { sid: message_sid(), phone: phone.to_string(), body: body.to_string(), media: None, button: None }
    }

    pub fn image(phone: &str) -> Message {
        let media = (
            format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM0/Media/ME0"),
            "image/jpeg".to_string(),
        );
        Message { media: Some(media), ..Message::text(phone, "") }
    }

    pub fn button(phone: &str, payload: &str, title: &str) -> Message {
        Message { button: Some((payload.to_string(), title.to_string())), ..Message::text(phone, title) }
    }

    pub fn params(&self) -> Vec<(String, String)> {
        let wa_id = self.phone.trim_start_matches('+');
        let num_media = if self.media.is_some() { "1" } else { "0" };
        let mut params: Vec<(&str, String)> = vec![
            ("SmsMessageSid", self.sid.clone()),
            ("NumMedia", num_media.into()),
            ("ProfileName", "Client".into()),
            ("MessageType", if self.media.is_some() { "image" } else { "text" }.into()),
            ("SmsSid", self.sid.clone()),
            ("WaId", wa_id.into()),
            ("SmsStatus", "received".into()),
            ("Body", self.body.clone()),
            ("To", TO.into()),
            ("NumSegments", "1".into()),
            ("ReferralNumMedia", "0".into()),
            ("MessageSid", self.sid.clone()),
            ("AccountSid", ACCOUNT_SID.into()),
            ("From", format!("whatsapp:{}", self.phone)),
            ("ApiVersion", "2010-04-01".into()),
        ];
        if let Some((url, content_type)) = &self.media {
            params.push(("MediaContentType0", content_type.clone()));
            params.push(("MediaUrl0", url.clone()));
        }
        if let Some((payload, text)) = &self.button {
            params.push(("ButtonPayload", payload.clone()));
            params.push(("ButtonText", text.clone()));
        }
        params.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
    }
}

/// One `<Message>` of a TwiML answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwimlMessage {
    pub body: Option<String>,
    pub media: Option<String>,
}

/// A TwiML answer: the raw XML and its messages, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twiml {
    pub raw: String,
    pub messages: Vec<TwimlMessage>,
}

impl Twiml {
    /// Reads the `<Response>` of `<Message>`s with a `<Body>` and/or `<Media>`
    /// that the server writes; anything else fails the test.
    pub fn parse(xml: &str) -> Twiml {
        let head = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
        let rest = xml.strip_prefix(head).unwrap_or_else(|| panic!("no XML declaration: {xml}"));
        let mut rest = rest
            .strip_prefix("<Response>")
            .and_then(|r| r.strip_suffix("</Response>"))
            .unwrap_or_else(|| panic!("not a TwiML <Response>: {xml}"));
        let mut messages = Vec::new();
        while !rest.is_empty() {
            let inner;
            (inner, rest) = element(rest, "Message").unwrap_or_else(|| panic!("expected <Message> in {xml}"));
            let (body, after) = match element(inner, "Body") {
                Some((body, after)) => (Some(unescape(body)), after),
                None => (None, inner),
            };
            let (media, after) = match element(after, "Media") {
                Some((media, after)) => (Some(unescape(media)), after),
                None => (None, after),
            };
            assert!(after.is_empty(), "unexpected content in <Message>: {inner}");
            assert!(body.is_some() || media.is_some(), "empty <Message> in {xml}");
            messages.push(TwimlMessage { body, media });
        }
        Twiml { raw: xml.to_string(), messages }
    }

    /// Every `<Body>`, joined by blank lines.
    pub fn text(&self) -> String {
        self.messages.iter().filter_map(|m| m.body.as_deref()).collect::<Vec<_>>().join("\n\n")
    }

    pub fn last(&self) -> &TwimlMessage {
        self.messages.last().expect("at least one message")
    }

    pub fn media(&self) -> Vec<&str> {
        self.messages.iter().filter_map(|m| m.media.as_deref()).collect()
    }
}

/// `<name>inner</name>` at the start of `text`: (inner, what follows).
fn element<'a>(text: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let rest = text.strip_prefix(open.as_str())?;
    let end = rest.find(close.as_str())?;
    Some((&rest[..end], &rest[end + close.len()..]))
}

/// The text of a leaf element: entities resolved, no markup allowed.
fn unescape(text: &str) -> String {
    assert!(!text.contains('<') && !text.contains('>'), "unescaped markup in {text}");
    const ENTITIES: [(&str, char); 5] =
        [("&lt;", '<'), ("&gt;", '>'), ("&quot;", '"'), ("&apos;", '\''), ("&amp;", '&')];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (entity, c) = ENTITIES
            .iter()
            .find(|(entity, _)| rest.starts_with(entity))
            .unwrap_or_else(|| panic!("unknown XML entity in {text}"));
        out.push(*c);
        rest = &rest[entity.len()..];
    }
    out.push_str(rest);
    out
}
