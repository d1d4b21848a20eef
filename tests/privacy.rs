//! Nothing a person typed outlives their conversation, and no secret or full
//! phone number reaches a log (ARCHITECTURE.md's privacy invariants).
//!
//! The real `uic serve` runs at `LOG_LEVEL=trace` with Twilio and Meta (the
//! Graph API faked on a loopback port). People go through the legacy flow,
//! whose confirmation repeats every answer, and the DRC flow, on both
//! channels; one says NON at the confirmation (its conversation ends by
//! starting again) and one says RESTART mid-way. Once every conversation has
//! ended and every outbox job is delivered, the whole database and the whole
//! log are read as text: no answer may be in either, and the log holds no
//! full phone number, no salt and no token.

use std::time::Duration;

use serde_json::Value;
use uic::channels::twilio;

use crate::support::db::{Backend, TestDb};
use crate::support::graph::FakeGraph;
use crate::support::meta::{self, ACCESS_TOKEN, API_VERSION, APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN};
use crate::support::process::ServerProcess;
use crate::support::server::{ADMIN_TOKEN, AUTH_TOKEN, Message, Twiml, bounded, phone};

/// A salt of this test's own, to look for.
const SALT: &str = "Privacy-Salt-7Qv2-Zk9w-Hx4m";

/// Legacy answers, in question order: birth year, mother's birthplace, first
/// name, birth day, last name. The ones worth searching for are the words.
const LEGACY: [&str; 5] = ["1983", "Mwene-Ditu", "Ozymandias", "17", "Kalambayi"];
/// DRC answers: last name, first name, birth year, birth city, gender.
const DRC: [&str; 5] = ["Zebulonova", "Quintessa", "1994", "Tshikapa", "2"];
/// Someone who starts again mid-way: these answers must go with the restart.
const ABANDONED: [&str; 2] = ["Wolfhardt", "Yseultine"];

/// The answers to look for: every word of three letters or more, as typed and
/// as normalised (upper case, letters only). Digits are left out: a year can
/// appear by chance in a hash or a timestamp.
fn searched_answers() -> Vec<String> {
    let mut words = Vec::new();
    for answer in LEGACY.iter().chain(&DRC).chain(&ABANDONED) {
        if answer.chars().filter(|c| c.is_alphabetic()).count() >= 3 {
            words.push(answer.to_string());
            words.push(answer.chars().filter(|c| c.is_alphabetic()).collect::<String>().to_uppercase());
        }
    }
    words
}

/// A server reached as Twilio and Meta reach it.
struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn twilio(&self, from: &str, text: &str) -> Twiml {
        let params = Message::text(from, text).params();
        let url = format!("{}/whatsapp/webhook", self.base);
        let signature = twilio::signature(AUTH_TOKEN, &url, &params);
        let response = self
            .http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(crate::support::server::form(&params))
            .send()
            .await
            .expect("the webhook answers");
        assert_eq!(response.status(), 200);
        Twiml::parse(&response.text().await.expect("TwiML"))
    }

    async fn meta(&self, body: &Value) {
        let bytes = meta::meta_bytes(body);
        let response = self
            .http
            .post(format!("{}/whatsapp/webhook", self.base))
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", meta::sign(APP_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("the webhook answers");
        assert_eq!(response.status(), 200);
    }

    async fn meta_text(&self, from: &str, text: &str) {
        self.meta(&meta::text(from, &meta::wamid(), text)).await;
    }
}

async fn start(dir: &std::path::Path, db: &TestDb, graph: &FakeGraph, flow: &str) -> (ServerProcess, Client) {
    let vars = [
        ("DEFAULT_FLOW", flow.to_string()),
        ("LOG_LEVEL", "trace".to_string()),
        ("UIC_SALT", SALT.to_string()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("ENABLE_QR_CODE", "true".to_string()),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN.to_string()),
        ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID.to_string()),
        ("META_APP_SECRET", APP_SECRET.to_string()),
        ("META_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN.to_string()),
        ("META_API_BASE_URL", graph.base.clone()),
        ("META_API_VERSION", API_VERSION.to_string()),
    ];
    let server = ServerProcess::start_with(dir, &db.url, &vars).await;
    let http = crate::support::http_client().timeout(Duration::from_secs(15)).build().expect("a client");
    let client = Client { base: server.base.clone(), http };
    (server, client)
}

/// Waits until the outbox holds no job left to deliver.
async fn outbox_delivered(db: &TestDb) {
    bounded("the outbox to be delivered", async {
        loop {
            let left = db.text_rows("SELECT COUNT(*) AS n FROM outbox WHERE status <> 'done'").await;
            if left[0].get("n") == "0" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Meta reports each message sent as delivered, then read.
async fn report_statuses(client: &Client, graph: &FakeGraph) {
    for (id, body) in graph.sent_ids().into_iter().zip(graph.sent()) {
        let to = format!("+{}", body["to"].as_str().unwrap_or_default());
        for status in ["delivered", "read"] {
            client.meta(&meta::status(&id, status, &to, None)).await;
        }
    }
}

async fn nothing_typed_outlives_the_conversation(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let dir = tempfile::tempdir().expect("a temp dir");
    let graph = FakeGraph::start();
    let people: Vec<String> = (0..6).map(|n| phone(7700 + n)).collect();

    // The legacy flow: its confirmation repeats every answer.
    let (server, client) = start(dir.path(), &db, &graph, "legacy").await;
    let mut legacy = vec!["Bonjour"];
    legacy.extend(LEGACY);
    for text in &legacy {
        client.twilio(&people[0], text).await;
    }
    let done = client.twilio(&people[0], "OUI").await;
    assert!(done.text().contains("983-MWEN-17-OZY-KALA-"), "a code: {}", done.raw);
    // Someone who says NON at the confirmation: the conversation ends there.
    for text in &legacy {
        client.twilio(&people[1], text).await;
    }
    let restarted = client.twilio(&people[1], "NON").await;
    assert!(!restarted.text().contains("Kalambayi"), "{}", restarted.raw);
    for text in &legacy {
        client.meta_text(&people[2], text).await;
    }
    client.meta_text(&people[2], "OUI").await;
    outbox_delivered(&db).await;
    report_statuses(&client, &graph).await;
    let mut log = server.stop().await;

    // The DRC flow, on both channels, and a restart mid-way.
    let (server, client) = start(dir.path(), &db, &graph, "drc-fr").await;
    let mut drc = vec!["Bonjour"];
    drc.extend(DRC);
    for text in &drc {
        client.twilio(&people[3], text).await;
    }
    for text in &drc {
        client.meta_text(&people[4], text).await;
    }
    for text in ["Bonjour", ABANDONED[0], ABANDONED[1], "RESTART"] {
        client.twilio(&people[5], text).await;
    }
    // The restarted conversation goes on to its end (the same code as the
    // Twilio person of the DRC flow: a duplicate, which is fine).
    for text in &DRC {
        client.twilio(&people[5], text).await;
    }
    outbox_delivered(&db).await;
    report_statuses(&client, &graph).await;
    log.push_str(&server.stop().await);
    graph.assert_no_violations();

    let dump = db.dump().await;
    assert!(dump.contains("uic_records: "), "the dump reads the tables:\n{dump}");
    assert!(log.contains("TRACE") || log.contains("trace"), "the log is at trace level:\n{log}");
    let lower_dump = dump.to_lowercase();
    let lower_log = log.to_lowercase();
    for answer in searched_answers() {
        let needle = answer.to_lowercase();
        assert!(!lower_dump.contains(&needle), "the answer `{answer}` outlived its conversation in:\n{dump}");
        assert!(!lower_log.contains(&needle), "the answer `{answer}` is in the log");
    }
    for person in &people {
        let digits = person.trim_start_matches('+');
        assert!(!log.contains(digits), "the full phone number {person} is in the log");
    }
    for (what, secret) in [
        ("the salt", SALT),
        ("the Twilio token", AUTH_TOKEN),
        ("the admin token", ADMIN_TOKEN),
        ("Meta's access token", ACCESS_TOKEN),
        ("Meta's app secret", APP_SECRET),
        ("Meta's verify token", VERIFY_TOKEN),
    ] {
        assert!(!log.contains(secret), "{what} is in the log");
        assert!(!dump.contains(secret), "{what} is in the database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_typed_outlives_the_conversation_on_sqlite() {
    nothing_typed_outlives_the_conversation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_typed_outlives_the_conversation_on_postgres() {
    nothing_typed_outlives_the_conversation(Backend::Postgres).await;
}
