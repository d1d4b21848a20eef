//! The Meta WhatsApp Cloud API channel end to end: a real `uic serve` on a
//! loopback port receives webhooks built from the examples of Meta's OpenAPI
//! description, serialised and signed as Meta does, and answers through a
//! fake Graph API on another port ([`crate::support::graph`]) that checks
//! every body against Meta's `Message` schema and can be told to throttle,
//! fail or time out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::db::{Backend, TestDb};
use crate::support::decode_qr;
use crate::support::graph::{Failure, FakeGraph, GraphBody};
use crate::support::meta::{self, APP_SECRET, VERIFY_TOKEN};
use crate::support::server::{TestServer, bounded, phone};

const DRC_CODE: &str = "MBEIBR7DA1";

/// A server with the Meta channel pointed at a fake Graph API.
struct MetaServer {
    server: TestServer,
    graph: FakeGraph,
}

impl MetaServer {
    async fn start() -> MetaServer {
        MetaServer::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> MetaServer {
        let graph = FakeGraph::start();
        let mut vars: Vec<(&str, &str)> = vec![
            ("META_ACCESS_TOKEN", meta::ACCESS_TOKEN),
            ("META_PHONE_NUMBER_ID", meta::PHONE_NUMBER_ID),
            ("META_APP_SECRET", APP_SECRET),
            ("META_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN),
            ("META_API_BASE_URL", &graph.base),
            ("META_API_VERSION", meta::API_VERSION),
            ("META_API_TIMEOUT_SECONDS", "1"),
        ];
        vars.extend_from_slice(extra);
        let server = TestServer::start_with(&vars).await;
        MetaServer { server, graph }
    }

    /// Posts `bytes` as Meta does, with this `X-Hub-Signature-256` (none if `None`).
    async fn post_bytes(&self, bytes: Vec<u8>, signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .server
            .client
            .post(format!("{}/whatsapp/webhook", self.server.base))
            .header("Content-Type", "application/json")
            .header("User-Agent", "facebookexternalua")
            .body(bytes);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        bounded("Meta webhook", request.send()).await.expect("webhook request")
    }

    /// Delivers a payload serialised and signed as Meta does; it must be accepted.
    async fn deliver(&self, payload: &Value) {
        let bytes = meta::meta_bytes(payload);
        let signature = meta::sign(APP_SECRET, &bytes);
        let response = self.post_bytes(bytes, Some(signature)).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "the webhook answered {status}: {text}");
    }

    /// Delivers a payload, then waits until the outbox has nothing left to
    /// send; returns what reached the Graph API meanwhile.
    async fn exchange(&self, payload: &Value) -> Vec<Value> {
        let before = self.graph.sent().len();
        self.deliver(payload).await;
        self.settle().await;
        self.graph.sent()[before..].to_vec()
    }

    /// A person sends a text; the texts of the messages they get back.
    async fn say(&self, person: &str, text: &str) -> Vec<Value> {
        self.exchange(&meta::text(person, &meta::wamid(), text)).await
    }

    /// Waits until no outbox job is pending (all delivered or given up).
    async fn settle(&self) {
        let pool = self.server.raw().await;
        bounded("the outbox to drain", async {
            loop {
                let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                    .fetch_one(&pool)
                    .await
                    .expect("outbox query");
                if pending == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    /// `(status, attempts, last_error)` of every outbox job, oldest first.
    async fn jobs(&self) -> Vec<(String, i64, Option<String>)> {
        sqlx::query_as("SELECT status, attempts, last_error FROM outbox ORDER BY id")
            .fetch_all(&self.server.raw().await)
            .await
            .expect("outbox query")
    }

    async fn health(&self) -> Value {
        self.server.get("/health").await.json().await.expect("health is JSON")
    }
}

/// Every body the app sent in a test must be one Meta accepts (the fake
/// refuses it too, but a refused read receipt would go unnoticed).
impl Drop for MetaServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.graph.assert_no_violations();
        }
    }
}

/// The text a person reads in a message body (text, interactive body or caption).
fn text_of(body: &Value) -> String {
    let text = body["text"]["body"].as_str().or(body["interactive"]["body"]["text"].as_str());
    text.or(body["image"]["caption"].as_str()).unwrap_or("").to_string()
}

fn texts(bodies: &[Value]) -> String {
    bodies.iter().map(text_of).collect::<Vec<_>>().join("\n\n")
}

/// The whole DRC flow in French over Meta: every message marked as read,
/// the gender question as a list answered by tapping a row, the code as text
/// and as a QR image uploaded to `/media` and sent by its id.
async fn french_conversation(server: &MetaServer) {
    let person = phone(101);
    let welcome = server.say(&person, "Bonjour").await;
    assert!(texts(&welcome).contains("Bienvenue au Générateur CIU!"), "{welcome:#?}");
    assert!(texts(&welcome).contains("Question 1 sur 5"), "{welcome:#?}");
    assert_eq!(welcome[0]["to"], meta::wa_id(&person));
    for answer in ["MBE", "IBR", "7", "DA"] {
        let reply = server.say(&person, answer).await;
        assert_eq!(reply.len(), 1, "{reply:#?}");
        assert!(text_of(&reply[0]).starts_with("Compris!"), "{reply:#?}");
    }
    // The fourth answer was followed by the gender question, as a list.
    let question = server.graph.sent().last().cloned().unwrap();
    assert_eq!(question["type"], "interactive", "{question:#}");
    let list = &question["interactive"];
    assert_eq!(list["type"], "list");
    assert_eq!(list["action"]["button"], "Choisir");
    let rows = list["action"]["sections"][0]["rows"].as_array().unwrap();
    let titles: Vec<&str> = rows.iter().map(|row| row["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Homme", "Femme", "Trans", "Autre"]);
    assert!(list["body"]["text"].as_str().unwrap().contains("Question 5 sur 5"));

    let done = server.exchange(&meta::list_reply(&person, &meta::wamid(), "1", "Homme")).await;
    assert!(texts(&done).contains("Votre Code d'Identification Unique a été généré!"), "{done:#?}");
    let image = done.last().unwrap();
    assert_eq!(image["type"], "image", "the QR image comes last: {done:#?}");
    assert!(image["image"]["caption"].as_str().unwrap().contains(DRC_CODE));
    let media_id = image["image"]["id"].as_str().expect("sent by media id, not by link");
    let (content_type, png) = server.graph.media(media_id).expect("the image was uploaded first");
    assert_eq!(content_type, "image/png");
    assert_eq!(decode_qr(&png), DRC_CODE);
    let upload = server.graph.requests().into_iter().find(|r| r.path.ends_with("/media")).unwrap();
    assert_eq!(upload.authorization.as_deref(), Some(format!("Bearer {}", meta::ACCESS_TOKEN).as_str()));
    assert!(matches!(upload.body, GraphBody::Multipart(_)));

    // Every message the person sent was marked as read, once.
    assert_eq!(server.graph.read_receipts().len(), 6);
    let sent = server.graph.sent().len() as f64;
    assert_eq!(server.server.metric("uic_replies_sent_total{channel=\"meta\"}").await, sent);
    assert_eq!(server.server.metric("uic_messages_received_total{channel=\"meta\"}").await, 6.0);
    assert_eq!(server.server.count("uic_records").await, 1);
    assert_eq!(server.server.session(&person).await, None);
    server.graph.assert_no_violations();
}

#[tokio::test]
async fn french_drc_conversation_over_meta_on_sqlite() {
    let server = MetaServer::start().await;
    french_conversation(&server).await;
}

#[tokio::test]
async fn french_drc_conversation_over_meta_on_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let server = MetaServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    french_conversation(&server).await;
}

#[tokio::test]
async fn lingala_conversation_with_full_answers_over_meta() {
    let server = MetaServer::start_with(&[("DEFAULT_FLOW", "drc-ln")]).await;
    let person = phone(102);
    let welcome = server.say(&person, "Mbote").await;
    assert!(texts(&welcome).contains("Boyei malamu na Mosali ya CIU!"), "{welcome:#?}");
    for answer in ["Mbengue", "Ibrahima", "1997", "Dakar"] {
        let reply = server.say(&person, answer).await;
        assert!(text_of(&reply[0]).starts_with("Nasosoli!"), "{reply:#?}");
    }
    let list = server.graph.sent().last().cloned().unwrap();
    assert_eq!(list["interactive"]["action"]["button"], "Kopona");
    // A typed word still answers a question shown as a list.
    let done = server.say(&person, "Mobali").await;
    assert!(texts(&done).contains("Code na yo ya Bomoko (CIU) esalami!"), "{done:#?}");
    assert_eq!(done.last().unwrap()["image"]["caption"], "CIU na yo: MBEIBR7DA1");
    server.graph.assert_no_violations();
}

#[tokio::test]
async fn up_to_three_choices_are_reply_buttons_and_a_tap_answers() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meta/consent");
    let locales = tempfile::tempdir().unwrap();
    let french = locales.path().join("fr");
    std::fs::create_dir_all(&french).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("locales/fr/common.ftl"), french.join("common.ftl")).unwrap();
    std::fs::copy(fixture.join("locales/fr/consent.ftl"), french.join("consent.ftl")).unwrap();
    let flows = fixture.join("flows").display().to_string();
    let locales_dir = locales.path().display().to_string();
    let server =
        MetaServer::start_with(&[("FLOWS_DIR", &flows), ("LOCALES_DIR", &locales_dir), ("DEFAULT_FLOW", "consent")])
            .await;
    let person = phone(103);
    server.say(&person, "Bonjour").await;
    let question = server.say(&person, "Mbengue").await;
    let buttons = &question.last().unwrap()["interactive"];
    assert_eq!(buttons["type"], "button", "{question:#?}");
    assert_eq!(
        buttons["action"]["buttons"],
        json!([
            { "type": "reply", "reply": { "id": "1", "title": "Oui" } },
            { "type": "reply", "reply": { "id": "2", "title": "Non" } },
        ])
    );
    let done = server.exchange(&meta::button_reply(&person, &meta::wamid(), "1", "Oui")).await;
    assert!(texts(&done).contains("MBE1"), "{done:#?}");
    assert!(done.iter().all(|body| body["type"] != "image"), "this flow has no QR code");

    // A template's quick-reply button counts as its payload.
    server.say(&person, "Bonjour").await;
    server.say(&person, "Mbengue").await;
    let again = server.exchange(&meta::template_button(&person, &meta::wamid(), "1", "Oui")).await;
    assert!(texts(&again).contains("MBE1"), "{again:#?}");
    server.graph.assert_no_violations();
}

#[tokio::test]
async fn non_text_messages_get_a_polite_reply_and_keep_the_place() {
    let server = MetaServer::start().await;
    let person = phone(104);
    for text in ["Bonjour", "MBE", "IBR"] {
        server.say(&person, text).await;
    }
    let mut kinds: Vec<(String, Value)> = vec![
        ("image".into(), meta::image(&person, &meta::wamid())),
        ("location".into(), meta::location(&person, &meta::wamid())),
        ("contacts".into(), meta::contacts(&person, &meta::wamid())),
        ("reaction".into(), meta::reaction(&person, &meta::wamid())),
        ("unsupported".into(), meta::unsupported(&person, &meta::wamid())),
    ];
    for kind in ["audio", "video", "document", "sticker"] {
        kinds.push((kind.into(), meta::media(&person, &meta::wamid(), kind)));
    }
    for (kind, payload) in &kinds {
        let reply = server.exchange(payload).await;
        let text = texts(&reply);
        assert!(text.contains("Je ne peux lire que du texte."), "{kind}: {text}");
        assert!(text.contains("Question 3 sur 5"), "{kind}: {text}");
        assert_eq!(server.server.session(&person).await, Some(("birth_year".to_string(), 2)), "{kind}");
    }
    // The flow goes on where it was.
    let reply = server.say(&person, "7").await;
    assert!(texts(&reply).contains("Question 4 sur 5"), "{reply:#?}");
    server.graph.assert_no_violations();
}

#[tokio::test]
async fn duplicate_deliveries_are_processed_once() {
    let server = MetaServer::start().await;
    let person = phone(105);
    let hello = meta::text(&person, &meta::wamid(), "Bonjour");
    let first = server.exchange(&hello).await;
    assert_eq!(first.len(), 1);
    // Meta delivers the same message again, later and twice at once.
    assert!(server.exchange(&hello).await.is_empty(), "a redelivery sends nothing");
    let answer = meta::text(&person, &meta::wamid(), "MBE");
    let (a, b) = tokio::join!(server.deliver(&answer), server.deliver(&answer));
    let ((), ()) = (a, b);
    server.settle().await;
    assert_eq!(server.graph.sent().len(), 2, "one reply per distinct message");
    assert_eq!(server.graph.read_receipts().len(), 2);
    assert_eq!(server.server.session(&person).await, Some(("first_name".to_string(), 1)));
    assert_eq!(server.server.count("processed_messages").await, 2);
    // Replies sent through the outbox are not kept a second time with the message id.
    let (stored,): (String,) = sqlx::query_as("SELECT replies FROM processed_messages LIMIT 1")
        .fetch_one(&server.server.raw().await)
        .await
        .unwrap();
    assert_eq!(stored, "[]");
}

#[tokio::test]
async fn several_messages_in_one_request_are_answered_in_order() {
    let server = MetaServer::start().await;
    let (one, two) = (phone(106), phone(107));
    let batch = meta::batch(&[
        meta::text(&one, &meta::wamid(), "Bonjour"),
        meta::text(&one, &meta::wamid(), "MBE"),
        meta::text(&two, &meta::wamid(), "Mbote"),
    ]);
    let sent = server.exchange(&batch).await;
    let to_one: Vec<String> = sent.iter().filter(|b| b["to"] == meta::wa_id(&one)).map(text_of).collect();
    assert_eq!(to_one.len(), 2, "{sent:#?}");
    assert!(to_one[0].contains("Question 1 sur 5") && to_one[1].contains("Question 2 sur 5"), "{to_one:#?}");
    let to_two: Vec<String> = sent.iter().filter(|b| b["to"] == meta::wa_id(&two)).map(text_of).collect();
    assert!(to_two[0].contains("Motuna 1 na 5"), "{to_two:#?}");
}

#[tokio::test]
async fn bad_signatures_are_refused_and_change_nothing() {
    let server = MetaServer::start().await;
    let person = phone(108);
    let payload = meta::text(&person, &meta::wamid(), "Gédéon");
    let bytes = meta::meta_bytes(&payload);
    let good = meta::sign(APP_SECRET, &bytes);
    let tampered = String::from_utf8(bytes.clone()).unwrap().replace("G\\u00e9d\\u00e9on", "Mbeki").into_bytes();
    // Signed over the same JSON written another way (as a re-serialising proxy would).
    let reserialised = serde_json::to_vec(&payload).unwrap();
    assert_ne!(reserialised, bytes);
    for (what, body, signature) in [
        ("no signature", bytes.clone(), None),
        ("another secret", bytes.clone(), Some(meta::sign("another-secret", &bytes))),
        ("a changed body", tampered, Some(good.clone())),
        ("re-serialised JSON", reserialised, Some(good.clone())),
        ("no sha256= prefix", bytes.clone(), Some(good.trim_start_matches("sha256=").to_string())),
    ] {
        let response = server.post_bytes(body, signature).await;
        assert_eq!(response.status(), 403, "{what}");
    }
    assert_eq!(server.server.count("processed_messages").await, 0);
    assert_eq!(server.server.count("outbox").await, 0);
    assert_eq!(server.server.session(&person).await, None);
    assert_eq!(server.server.metric("uic_errors_total{kind=\"signature\"}").await, 5.0);

    // The bytes Meta signed, escapes and all, are accepted.
    let response = server.post_bytes(bytes, Some(good)).await;
    assert_eq!(response.status(), 200);
    server.settle().await;
    assert_eq!(server.graph.sent().len(), 1);
}

#[tokio::test]
async fn verification_answers_the_challenge_only_for_our_token() {
    let server = MetaServer::start().await;
    let verify = |token: &str, mode: &str| {
        format!("/whatsapp/webhook?hub.mode={mode}&hub.verify_token={token}&hub.challenge=1158201444")
    };
    let response = server.server.get(&verify(VERIFY_TOKEN, "subscribe")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "1158201444");
    assert_eq!(server.server.get(&verify("wrong-token", "subscribe")).await.status(), 403);
    assert_eq!(server.server.get(&verify(VERIFY_TOKEN, "unsubscribe")).await.status(), 403);
    assert_eq!(server.server.get("/whatsapp/webhook").await.status(), 403);

    // The seed's alias, META_VERIFY_TOKEN, works the same.
    let alias =
        MetaServer::start_with(&[("META_WEBHOOK_VERIFY_TOKEN", ""), ("META_VERIFY_TOKEN", "alias-token")]).await;
    let response = alias.server.get(&verify("alias-token", "subscribe")).await;
    assert_eq!(response.text().await.unwrap(), "1158201444");
}

#[tokio::test]
async fn statuses_are_recorded_against_the_sent_message() {
    let server = MetaServer::start().await;
    let person = phone(109);
    server.say(&person, "Bonjour").await;
    server.say(&person, "MBE").await;
    let ids = server.graph.sent_ids();
    assert_eq!(ids.len(), 2);
    // Meta reports out of order: a late "sent" does not hide "read".
    for status in ["delivered", "read", "sent"] {
        server.deliver(&meta::status(&ids[0], status, &person, None)).await;
    }
    server.deliver(&meta::status(&ids[1], "failed", &person, Some((131047, "Re-engagement message")))).await;
    let rows: Vec<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT message_id, status, error_code, error_title FROM sent_messages WHERE job_id IS NOT NULL ORDER BY job_id",
    )
    .fetch_all(&server.server.raw().await)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (ids[0].clone(), "read".to_string(), None, None),
            (ids[1].clone(), "failed".to_string(), Some(131047), Some("Re-engagement message".to_string())),
        ]
    );
    assert_eq!(server.server.metric("uic_errors_total{kind=\"meta_undelivered\"}").await, 1.0);
    // A status about a message this server never sent is kept too (another process may have).
    server.deliver(&meta::status("wamid.unknown", "delivered", &person, None)).await;
    assert_eq!(server.server.count("sent_messages").await, 3);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_replies_stay_in_order() {
    let server = MetaServer::start().await;
    let person = phone(110);
    server.graph.fail_next(2, Failure::Throttle);
    server.graph.fail_next(1, Failure::Status(503));
    let first = meta::text(&person, &meta::wamid(), "Bonjour");
    let second = meta::text(&person, &meta::wamid(), "MBE");
    server.deliver(&first).await;
    server.deliver(&second).await;
    server.settle().await;
    let sent = server.graph.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(text_of(&sent[0]).contains("Question 1 sur 5") && text_of(&sent[1]).contains("Question 2 sur 5"));
    let jobs = server.jobs().await;
    assert!(jobs.iter().all(|(status, _, _)| status == "done"), "{jobs:?}");
    assert_eq!(jobs[0].1, 4, "the first request went through on its fourth attempt: {jobs:?}");
    let answered: Vec<u16> = server.graph.requests().iter().map(|r| r.status).collect();
    assert_eq!(&answered[..4], [429, 429, 503, 200]);
}

#[tokio::test]
async fn a_request_that_times_out_is_tried_again() {
    let server = MetaServer::start().await;
    let person = phone(111);
    // The read receipt hangs past META_API_TIMEOUT_SECONDS (1 s).
    server.graph.fail_next(1, Failure::Delay(Duration::from_millis(2500)));
    let sent = server.say(&person, "Bonjour").await;
    assert_eq!(sent.len(), 1);
    let jobs = server.jobs().await;
    assert_eq!((jobs[0].0.as_str(), jobs[0].1), ("done", 2), "{jobs:?}");
}

/// Meta takes the welcome but answers after the app's 1-second timeout: the
/// app cannot know it left. The status Meta then reports for a message the
/// app never heard of, to the person whose reply is waiting, settles it: the
/// welcome arrives once.
#[tokio::test]
async fn a_reply_meta_took_after_our_timeout_is_not_sent_again_once_its_status_comes() {
    let server = MetaServer::start().await;
    let person = phone(120);
    // The read receipt goes at once; the welcome is answered after 1.5 s.
    server.graph.fail_next(1, Failure::Delay(Duration::ZERO));
    server.graph.fail_next(1, Failure::SlowAnswer(Duration::from_millis(1500)));
    server.deliver(&meta::text(&person, &meta::wamid(), "Bonjour")).await;
    // Past the delayed answer: Meta has the welcome, the app does not know it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent = server.graph.sent();
    assert_eq!(sent.len(), 1, "sent again before Meta could report on it: {sent:#?}");
    assert!(text_of(&sent[0]).contains("Question 1 sur 5"));
    let wamid = server.graph.sent_ids()[0].clone();
    server.deliver(&meta::status(&wamid, "sent", &person, None)).await;
    server.settle().await;
    let welcomes = server.graph.sent().iter().filter(|body| text_of(body).contains("Question 1 sur 5")).count();
    assert_eq!(welcomes, 1, "the welcome once: {:#?}", server.graph.sent());
    let jobs = server.jobs().await;
    assert!(jobs.iter().all(|(status, _, _)| status == "done"), "{jobs:?}");
    assert_eq!(jobs[1].1, 1, "one attempt: {jobs:?}");
    // The message is known by its wamid, with its job.
    let (job_id,): (Option<i64>,) = sqlx::query_as("SELECT job_id FROM sent_messages WHERE message_id = $1")
        .bind(&wamid)
        .fetch_one(&server.server.raw().await)
        .await
        .unwrap();
    assert!(job_id.is_some());
}

#[tokio::test]
async fn permanent_errors_are_kept_with_their_code_and_not_retried() {
    let server = MetaServer::start().await;
    let person = phone(112);
    server.graph.fail_next(
        1,
        Failure::MetaError { status: 400, code: 131047, message: "(#131047) Re-engagement message".into() },
    );
    server.say(&person, "Bonjour").await;
    let jobs = server.jobs().await;
    // Given up, then overtaken by the welcome delivered after it: kept with
    // Meta's code, never sent after the welcome.
    assert_eq!(jobs[0].0, "overtaken", "{jobs:?}");
    assert_eq!(jobs[0].1, 1, "not retried");
    assert!(jobs[0].2.as_deref().unwrap().contains("131047"), "{jobs:?}");
    // The rest still goes: the welcome is delivered.
    assert_eq!(jobs[1].0, "done");
    assert_eq!(server.graph.sent().len(), 1);
}

#[tokio::test]
async fn while_the_token_is_refused_jobs_wait_paused_and_leave_once_it_is_accepted() {
    let server = MetaServer::start().await;
    assert_eq!(server.health().await["meta"]["status"], "ok");
    let person = phone(113);
    server.graph.set_token("a-new-token-the-app-does-not-have");
    let watched = tokio::time::Instant::now();
    server.deliver(&meta::text(&person, &meta::wamid(), "Bonjour")).await;
    // The first refusal comes when the outbox first tries, which on a busy
    // machine can take a while; then a second more of refusals.
    bounded("the first refusal", async {
        while !server
            .jobs()
            .await
            .first()
            .and_then(|job| job.2.as_deref())
            .is_some_and(|e| e.contains("Meta error 190"))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The jobs wait, their attempts not counted, and Meta is asked about once
    // per pause (200 ms in tests), not once per job and retry.
    let jobs = server.jobs().await;
    let watched = watched.elapsed();
    assert_eq!(jobs.len(), 2, "the read receipt and the welcome: {jobs:?}");
    assert!(jobs.iter().all(|(status, attempts, _)| status == "pending" && *attempts == 0), "{jobs:?}");
    let refused = server.graph.requests().iter().filter(|request| request.status == 401).count();
    let pauses = (watched.as_millis() / 200) as usize;
    assert!((1..=pauses + 2).contains(&refused), "{refused} refused requests in {watched:?}");
    let health = server.health().await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["meta"]["status"], "token_rejected");
    assert!(health["meta"]["error"].as_str().unwrap().contains("190"));
    assert!(!health.to_string().contains(meta::ACCESS_TOKEN), "the token itself is never shown");

    // The token is mended (here: accepted again): what waited leaves, in order, with no operator.
    server.graph.set_token(meta::ACCESS_TOKEN);
    server.settle().await;
    let jobs = server.jobs().await;
    assert!(jobs.iter().all(|(status, _, _)| status == "done"), "{jobs:?}");
    assert!(texts(&server.graph.sent()).contains("Question 1 sur 5"));
    assert_eq!(server.health().await["meta"]["status"], "ok");
}

#[tokio::test]
async fn twilio_and_meta_are_answered_from_one_server_each_on_its_own_channel() {
    let server = MetaServer::start_with(&[("TWILIO_ENABLED", "true")]).await;
    let (by_twilio, by_meta) = (phone(114), phone(115));
    let twiml = server.server.say(&by_twilio, "Bonjour").await;
    assert!(twiml.text().contains("Question 1 sur 5"), "{}", twiml.raw);
    let sent = server.say(&by_meta, "Bonjour").await;
    assert!(texts(&sent).contains("Question 1 sur 5"));
    assert!(sent.iter().all(|body| body["to"] == meta::wa_id(&by_meta)), "Twilio's person gets nothing from Meta");
    let twiml = server.server.say(&by_twilio, "MBE").await;
    assert!(twiml.text().contains("Question 2 sur 5"));
    assert_eq!(server.graph.sent().len(), 1, "the Twilio message was answered in TwiML only");
    assert_eq!(server.server.count("conversation_sessions").await, 2);
    assert_eq!(server.server.metric("uic_messages_received_total{channel=\"meta\"}").await, 1.0);
    assert_eq!(server.server.metric("uic_messages_received_total{channel=\"twilio\"}").await, 2.0);
}

#[tokio::test]
async fn unknown_payloads_are_ignored_and_malformed_ones_refused() {
    let server = MetaServer::start().await;
    let person = phone(116);
    // Another object, another field, an unknown message kind, a system notice.
    let mut page = meta::text(&person, &meta::wamid(), "Bonjour");
    page["object"] = json!("page");
    let mut account = meta::text(&person, &meta::wamid(), "Bonjour");
    account["entry"][0]["changes"][0]["field"] = json!("account_update");
    let mut extra = meta::text(&person, &meta::wamid(), "Bonjour");
    extra["entry"][0]["changes"][0]["value"]["messages"][0]["brand_new_field"] = json!({ "x": [1, 2] });
    // A message to another number of the same WhatsApp account is not ours to answer.
    let mut other_number = meta::text(&person, &meta::wamid(), "Bonjour");
    other_number["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999999999999999");
    for payload in [&page, &account, &other_number] {
        assert!(server.exchange(payload).await.is_empty());
    }
    assert_eq!(server.exchange(&extra).await.len(), 1, "unknown fields are ignored");
    let system = meta::example("System Message");
    assert!(server.exchange(&system).await.is_empty(), "a system notice gets no reply");

    for (body, expected) in [(b"not json".to_vec(), 400), (b"[1,2]".to_vec(), 400)] {
        let signature = meta::sign(APP_SECRET, &body);
        assert_eq!(server.post_bytes(body, Some(signature)).await.status(), expected);
    }
    // Without the Meta channel configured, a JSON body is not accepted.
    let twilio_only = TestServer::start().await;
    let response = twilio_only
        .client
        .post(format!("{}/whatsapp/webhook", twilio_only.base))
        .header("Content-Type", "application/json")
        .body(meta::meta_bytes(&meta::text(&person, &meta::wamid(), "Bonjour")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn a_database_outage_is_answered_503_so_that_meta_retries() {
    let server = MetaServer::start().await;
    let person = phone(117);
    server.server.state.conversations.store().close().await;
    let bytes = meta::meta_bytes(&meta::text(&person, &meta::wamid(), "Bonjour"));
    let signature = meta::sign(APP_SECRET, &bytes);
    let response = server.post_bytes(bytes, Some(signature)).await;
    assert_eq!(response.status(), 503, "not 200: Meta must deliver it again");
    // Every send comes from an outbox job; the failed turn wrote none, so
    // nothing can ever be sent for it.
    assert_eq!(server.server.count("outbox").await, 0, "no job was written");
    assert!(server.graph.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_slow_request_holds_back_only_its_own_recipient() {
    let server = MetaServer::start_with(&[("META_API_TIMEOUT_SECONDS", "3")]).await;
    let (slow, quick) = (phone(118), phone(119));
    // The next request the Graph API gets hangs past the app's 3-second timeout.
    server.graph.fail_next(1, Failure::Delay(Duration::from_millis(3500)));
    server.deliver(&meta::text(&slow, &meta::wamid(), "Bonjour")).await;
    let pool = server.server.raw().await;
    let first_job_of = |person: String| {
        let pool = pool.clone();
        async move {
            let row: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT attempts, last_error FROM outbox WHERE recipient = $1 ORDER BY id LIMIT 1")
                    .bind(person)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            row
        }
    };
    bounded("the slow read receipt to be claimed", async {
        while first_job_of(slow.clone()).await.is_none_or(|(attempts, _)| attempts == 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    server.deliver(&meta::text(&quick, &meta::wamid(), "Bonjour")).await;
    let sent = server.graph.wait_for_sent(1).await;
    assert_eq!(sent[0]["to"], meta::wa_id(&quick), "the other person is answered first");
    let (attempts, error) = first_job_of(slow.clone()).await.unwrap();
    assert_eq!((attempts, error), (1, None), "...while the slow request is still in flight");

    // The slow person's read receipt is tried again, then their welcome goes.
    server.settle().await;
    let to_slow = server.graph.sent().iter().filter(|body| body["to"] == meta::wa_id(&slow)).count();
    assert_eq!(to_slow, 1);
}

/// A 26-choice question: a list of 9 provinces and "Autres…", whose tap
/// shows the next 9, then the last 8; a tapped row or a typed name answers,
/// and paging is not a wrong answer. Every body passes Meta's schema.
#[tokio::test]
async fn a_long_list_of_choices_is_paged_and_a_tap_or_a_name_answers() {
    let (flows, locales, _dir) = crate::choices::provinces();
    let server =
        MetaServer::start_with(&[("FLOWS_DIR", &flows), ("LOCALES_DIR", &locales), ("DEFAULT_FLOW", "provinces")])
            .await;
    let person = phone(144);
    server.say(&person, "Bonjour").await;
    let rows = |bodies: &[Value]| {
        let list = &bodies.last().unwrap()["interactive"];
        assert_eq!(list["type"], "list", "{bodies:#?}");
        assert_eq!(list["action"]["button"], "Choisir");
        list["action"]["sections"][0]["rows"].as_array().unwrap().clone()
    };
    let first = rows(&server.say(&person, "Mbengue").await);
    assert_eq!(first.len(), 10);
    assert_eq!(first[0], json!({ "id": "KN", "title": "Kinshasa" }));
    assert_eq!(first[8], json!({ "id": "MO", "title": "Mongala" }));
    assert_eq!(first[9], json!({ "id": "__page:1", "title": "Autres…" }));

    // Several taps on "Autres…" (more than the flow's wrong answers allow) only turn pages.
    for _ in 0..2 {
        let again = server.exchange(&meta::list_reply(&person, &meta::wamid(), "__page:0", "Autres…")).await;
        assert_eq!(rows(&again)[0]["id"], "KN");
    }
    let second = server.exchange(&meta::list_reply(&person, &meta::wamid(), "__page:1", "Autres…")).await;
    assert!(texts(&second).contains("Dans quelle province habitez-vous ?"), "{second:#?}");
    let second = rows(&second);
    assert_eq!(second.len(), 10);
    assert_eq!(second[0], json!({ "id": "TU", "title": "Tshuapa" }));
    assert_eq!(second[7], json!({ "id": "MA", "title": "Maniema" }));
    assert_eq!(second[8], json!({ "id": "HK", "title": "Haut-Katanga" }));
    assert_eq!(second[9], json!({ "id": "__page:2", "title": "Autres…" }));
    let third = rows(&server.exchange(&meta::list_reply(&person, &meta::wamid(), "__page:2", "Autres…")).await);
    assert_eq!(third.len(), 8, "the last page has no more row");
    assert_eq!(third[7], json!({ "id": "KO", "title": "Kasaï-Oriental" }));
    let done = server.exchange(&meta::list_reply(&person, &meta::wamid(), "HK", "Haut-Katanga")).await;
    assert!(texts(&done).contains("MBEHK"), "{done:#?}");

    // A name typed instead of paging answers too.
    let other = phone(145);
    server.say(&other, "Bonjour").await;
    server.say(&other, "Kabila").await;
    let done = server.say(&other, "Ituri").await;
    assert!(texts(&done).contains("KABIT"), "{done:#?}");
    server.graph.assert_no_violations();
}
