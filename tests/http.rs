//! `uic serve` end to end over a real loopback socket: Twilio webhooks posted
//! and signed exactly as Twilio sends them, TwiML answers, QR images, health,
//! cleanup, metrics, bad requests, concurrency and graceful shutdown. Each
//! test starts its own server on a fresh SQLite file.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uic::channels::twilio;
use uic::core::engine::Session;

use crate::support::db::any_pool;
use crate::support::decode_qr;
use crate::support::prometheus::Scrape;
use crate::support::server::{
    ADMIN_TOKEN, AUTH_TOKEN, Message, TestServer, Twiml, bounded, count_rows, phone, session_of,
};

const DRC_CODE: &str = "MBEIBR7DA1";

/// Checks a QR image URL sent in TwiML: absolute, under `base`, `/qr/<32 hex>.png`,
/// never the code itself; then fetches it and returns the decoded text.
async fn check_qr(server: &TestServer, url: &str, base: &str, uic: &str) -> String {
    let token = url
        .strip_prefix(&format!("{base}/qr/"))
        .and_then(|rest| rest.strip_suffix(".png"))
        .unwrap_or_else(|| panic!("QR URL {url} is not {base}/qr/<token>.png"));
    assert_eq!(token.len(), 32, "{url}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
    assert!(!url.contains(uic), "the QR URL reveals the code: {url}");

    let response = server.get(&server.local(url)).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "image/png");
    let png = response.bytes().await.expect("PNG body");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    decode_qr(&png)
}

/// The DRC code the formula makes of these answers (LLLFFFYCCG).
fn drc_code(last_name: &str, first_name: &str, year: u32, city: &str, gender: u32) -> String {
    let first3 = |text: &str| text.chars().take(3).collect::<String>().to_uppercase();
    let city: String = city.chars().take(2).collect::<String>().to_uppercase();
    format!("{}{}{}{}{}", first3(last_name), first3(first_name), year % 10, city, gender)
}

// 1.
#[tokio::test]
async fn french_drc_conversation_issues_the_code_and_its_qr_image() {
    let server = TestServer::start().await;
    let person = phone(1);

    let welcome = server.say(&person, "Bonjour").await;
    assert!(welcome.text().contains("Bienvenue au Générateur CIU!"), "{}", welcome.raw);
    assert!(welcome.text().contains("Question 1 sur 5"), "{}", welcome.raw);
    for answer in ["MBE", "IBR", "7", "DA"] {
        let reply = server.say(&person, answer).await;
        assert!(reply.text().starts_with("Compris!"), "{}", reply.raw);
    }
    let done = server.say(&person, "1").await;

    assert!(done.text().contains("Votre Code d'Identification Unique a été généré!"), "{}", done.raw);
    let last = done.last();
    assert!(last.body.as_deref().unwrap().contains(DRC_CODE), "{}", done.raw);
    let media = last.media.as_deref().expect("the QR image goes with the last message");
    assert_eq!(done.media(), [media], "one image");
    assert_eq!(check_qr(&server, media, &server.base, DRC_CODE).await, DRC_CODE);

    // The code is issued once, and the session with the answers is gone.
    assert_eq!(server.count("uic_records").await, 1);
    assert_eq!(server.session(&person).await, None);

    // A token nobody was given is not an image.
    let unknown = server.get("/qr/0123456789abcdef0123456789abcdef.png").await;
    assert_eq!(unknown.status(), 404);
    let code_as_name = server.get(&format!("/qr/{DRC_CODE}.png")).await;
    assert_eq!(code_as_name.status(), 404);
}

// 2.
#[tokio::test]
async fn lingala_flow_by_default_with_full_answers() {
    let server = TestServer::start_with(&[("DEFAULT_FLOW", "drc-ln")]).await;
    let person = phone(2);

    // Not a greeting: the language is the default flow's.
    let welcome = server.say(&person, "CIU").await;
    assert!(welcome.text().contains("Boyei malamu na Mosali ya CIU!"), "{}", welcome.raw);
    assert!(welcome.text().contains("Motuna 1 na 5"), "{}", welcome.raw);
    for answer in ["Mbengue", "Ibrahima", "1997", "Dakar"] {
        let reply = server.say(&person, answer).await;
        assert!(reply.text().starts_with("Nasosoli!"), "{}", reply.raw);
    }
    let done = server.say(&person, "Mobali").await;
    assert!(done.text().contains("Matondo! Nazwi makambo nyonso."), "{}", done.raw);
    assert!(done.text().contains("Code na yo ya Bomoko (CIU) esalami!"), "{}", done.raw);
    assert_eq!(done.last().body.as_deref(), Some("CIU na yo: MBEIBR7DA1"));
    let media = done.last().media.as_deref().expect("QR image");
    assert_eq!(check_qr(&server, media, &server.base, "MBEIBR7DA1").await, "MBEIBR7DA1");
}

// 3.
#[tokio::test]
async fn legacy_flow_confirms_then_issues_the_salted_code() {
    let server = TestServer::start_with(&[("DEFAULT_FLOW", "legacy")]).await;
    let person = phone(3);

    let summary = server.conversation(&person, &["Bonjour", "1985", "Kinshasa", "Jean", "15", "Kabila"]).await;
    assert!(summary.text().contains("Voici vos réponses:"), "{}", summary.raw);
    assert!(summary.text().contains("2. KINSHASA"), "{}", summary.raw);
    assert_eq!(server.count("uic_records").await, 0, "nothing is issued before the confirmation");

    let done = server.say(&person, "oui").await;
    // SHA-256("1985KINSHASAJEAN15KABILA" + the test salt) by sha256sum: 386b3d84…
    let expected = "985-KINS-15-JEA-KABI-386B3".to_string();
    assert!(done.text().contains(&format!("=====\n{expected}\n=====")), "{}", done.raw);
    assert_eq!(done.last().body.as_deref(), Some(format!("Votre CIU: {expected}").as_str()));
    let media = done.last().media.as_deref().expect("QR image");
    assert_eq!(check_qr(&server, media, &server.base, &expected).await, expected);
}

// 4.
#[tokio::test]
async fn the_same_answers_from_another_phone_find_the_same_code() {
    let server = TestServer::start().await;
    let answers = ["Bonjour", "MBE", "IBR", "7", "DA", "1"];

    let first = server.conversation(&phone(41), &answers).await;
    assert!(first.text().contains("a été généré!"), "{}", first.raw);
    let again = server.conversation(&phone(42), &answers).await;
    assert!(again.text().contains("Ce CIU a déjà été généré auparavant."), "{}", again.raw);
    assert!(again.text().contains("=====\nMBEIBR7DA1\n====="), "{}", again.raw);
    assert_eq!(again.last().body.as_deref(), Some("Votre CIU: MBEIBR7DA1"));
    // The same code has the same image.
    assert_eq!(first.media(), again.media());

    assert_eq!(server.count("uic_records").await, 1);
    let (phone_number, requests): (String, i64) = sqlx::query_as("SELECT phone_number, request_count FROM uic_records")
        .fetch_one(&server.raw().await)
        .await
        .unwrap();
    assert_eq!((phone_number.as_str(), requests), (phone(41).as_str(), 2));
    assert_eq!(server.count("uic_collisions").await, 0);

    // Other answers that make the same code: the same record, noted for review.
    let other = server.conversation(&phone(43), &["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "Homme"]).await;
    assert!(other.text().contains("Ce CIU a déjà été généré auparavant."), "{}", other.raw);
    assert_eq!(other.last().body.as_deref(), Some("Votre CIU: MBEIBR7DA1"));
    assert_eq!(server.count("uic_records").await, 1);
    assert_eq!(server.count("uic_collisions").await, 1);
}

// 5.
#[tokio::test]
async fn help_back_and_restart_mid_flow() {
    let server = TestServer::start().await;
    let person = phone(5);
    server.conversation(&person, &["Bonjour", "MBE"]).await;
    assert_eq!(server.session(&person).await, Some(("first_name".into(), 1)));

    let help = server.say(&person, "HELP").await;
    assert!(help.text().starts_with("Aide: je vous pose 5 questions"), "{}", help.raw);
    assert!(help.text().contains("Question 2 sur 5"), "the question is repeated: {}", help.raw);
    assert_eq!(server.session(&person).await, Some(("first_name".into(), 1)));

    server.say(&person, "IBR").await;
    assert_eq!(server.session(&person).await, Some(("birth_year".into(), 2)));
    let back = server.say(&person, "retour").await;
    assert!(back.text().starts_with("D'accord, revenons à la question précédente."), "{}", back.raw);
    assert!(back.text().contains("Question 2 sur 5"), "{}", back.raw);
    assert_eq!(server.session(&person).await.map(|(step, _)| step).as_deref(), Some("first_name"));

    server.conversation(&person, &["IBX", "7", "DA"]).await;
    assert_eq!(server.session(&person).await, Some(("gender".into(), 4)));
    let restart = server.say(&person, "Restart").await;
    assert!(restart.text().starts_with("D'accord, on recommence depuis le début."), "{}", restart.raw);
    assert!(restart.text().contains("Question 1 sur 5"), "{}", restart.raw);
    assert_eq!(server.session(&person).await, Some(("last_name".into(), 0)));

    let done = server.conversation(&person, &["MOB", "MAR", "3", "KI", "2"]).await;
    assert_eq!(done.last().body.as_deref(), Some("Votre CIU: MOBMAR3KI2"));
    assert_eq!(server.count("uic_records").await, 1, "only the conversation finished made a code");
}

// 6.
#[tokio::test]
async fn bad_signatures_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let person = phone(6);
    server.say(&person, "Bonjour").await;
    let before = (server.session(&person).await, server.count("processed_messages").await);
    assert_eq!(before.0, Some(("last_name".into(), 0)));

    let message = Message::text(&person, "MBE");
    let params = message.params();
    let url = server.webhook_url();
    let forged = twilio::signature("another-auth-token", &url, &params);
    let other_urls = [
        format!("http://127.0.0.1:{}/other", server.port),
        format!("https://127.0.0.1:{}/whatsapp/webhook", server.port),
        "https://bot.example.org/whatsapp/webhook".to_string(),
    ];
    let mut tampered = params.clone();
    tampered.iter_mut().find(|(name, _)| name == "Body").unwrap().1 = "XYZ".into();
    let signed_original = twilio::signature(AUTH_TOKEN, &url, &params);

    /// What is wrong, the form sent, the signature header.
    type Attempt = (String, Vec<(String, String)>, Option<String>);
    let mut attempts: Vec<Attempt> = vec![
        ("wrong token".into(), params.clone(), Some(forged)),
        ("no signature".into(), params.clone(), None),
        ("empty signature".into(), params.clone(), Some(String::new())),
        ("tampered body".into(), tampered, Some(signed_original)),
    ];
    for other in &other_urls {
        attempts.push((
            format!("signed for {other}"),
            params.clone(),
            Some(twilio::signature(AUTH_TOKEN, other, &params)),
        ));
    }
    for (what, params, signature) in &attempts {
        let response = server.post_signed(params, signature.as_deref()).await;
        assert_eq!(response.status(), 403, "{what}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("<Response>"), "{what}: no TwiML for a forged request");
    }
    assert_eq!((server.session(&person).await, server.count("processed_messages").await), before);
    assert_eq!(server.metric("uic_errors_total{kind=\"signature\"}").await, attempts.len() as f64);
    assert_eq!(server.metric("uic_messages_received_total{channel=\"twilio\"}").await, 1.0);

    // The genuine message, same MessageSid, is then processed normally.
    let reply = server.deliver(&params).await;
    assert!(reply.text().contains("Question 2 sur 5"), "{}", reply.raw);
    assert_eq!(server.session(&person).await, Some(("first_name".into(), 1)));
}

// 6 (behind a proxy).
#[tokio::test]
async fn public_base_url_is_what_twilio_signs_and_what_media_urls_use() {
    let server = TestServer::start_with(&[("PUBLIC_BASE_URL", "https://bot.example.org/")]).await;
    assert_eq!(server.webhook_url(), "https://bot.example.org/whatsapp/webhook");
    let person = phone(61);

    // Signed over the socket's own URL: not what Twilio called.
    let params = Message::text(&person, "Bonjour").params();
    let local = format!("{}/whatsapp/webhook", server.base);
    let response = server.post_signed(&params, Some(&twilio::signature(AUTH_TOKEN, &local, &params))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(server.session(&person).await, None);

    let done = server.conversation(&person, &["Bonjour", "MBE", "IBR", "7", "DA", "1"]).await;
    let media = done.last().media.as_deref().expect("QR image");
    assert_eq!(check_qr(&server, media, "https://bot.example.org", "MBEIBR7DA1").await, "MBEIBR7DA1");
}

// 6 (query string).
#[tokio::test]
async fn a_webhook_url_with_a_query_string_is_signed_with_it() {
    let server = TestServer::start().await;
    let params = Message::text(&phone(62), "Bonjour").params();
    let url = format!("{}/whatsapp/webhook?clinic=goma&v=2", server.base);
    let post = |signed_url: String| {
        let signature = twilio::signature(AUTH_TOKEN, &signed_url, &params);
        server
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(crate::support::server::form(&params))
            .send()
    };
    let without_query = bounded("webhook", post(server.webhook_url())).await.unwrap();
    assert_eq!(without_query.status(), 403, "the query string is part of what Twilio signs");
    let with_query = bounded("webhook", post(url.clone())).await.unwrap();
    assert_eq!(with_query.status(), 200);
    let reply = Twiml::parse(&with_query.text().await.unwrap());
    assert!(reply.text().contains("Bienvenue au Générateur CIU!"), "{}", reply.raw);
}

// 7.
#[tokio::test]
async fn a_redelivered_message_gets_the_same_answer_and_runs_once() {
    let server = TestServer::start().await;
    let person = phone(7);
    server.say(&person, "Bonjour").await;

    let params = Message::text(&person, "MBE").params();
    let first = server.deliver(&params).await;
    let again = server.deliver(&params).await;
    assert_eq!(again.raw, first.raw);
    assert_eq!(server.session(&person).await, Some(("first_name".into(), 1)), "advanced once");

    // The completing message redelivered: the same code and image, one record, one request.
    server.conversation(&person, &["IBR", "7", "DA"]).await;
    let params = Message::text(&person, "1").params();
    let done = server.deliver(&params).await;
    assert!(done.text().contains("a été généré!"), "{}", done.raw);
    let redelivered = server.deliver(&params).await;
    assert_eq!(redelivered.raw, done.raw);
    let (count, requests): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(request_count) AS BIGINT) FROM uic_records")
            .fetch_one(&server.raw().await)
            .await
            .unwrap();
    assert_eq!((count, requests), (1, 1));
    assert_eq!(server.session(&person).await, None, "no new conversation was started");
    assert_eq!(server.metric("uic_turn_duration_seconds_count").await, 6.0, "replays are not turns");

    // Twilio retrying while the first delivery is still being handled.
    let other = phone(71);
    server.say(&other, "Bonjour").await;
    let params = Message::text(&other, "MBE").params();
    let (one, two) = tokio::join!(server.deliver(&params), server.deliver(&params));
    assert_eq!(one.raw, two.raw);
    assert!(one.text().contains("Question 2 sur 5"), "{}", one.raw);
    assert_eq!(server.session(&other).await, Some(("first_name".into(), 1)), "advanced once");
}

// 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_messages_at_once_from_one_person_are_both_processed() {
    let server = Arc::new(TestServer::start().await);
    for n in 0..5 {
        let person = phone(800 + n);
        server.say(&person, "Bonjour").await;
        let posts: Vec<_> = ["MBE", "IBR"]
            .into_iter()
            .map(|answer| {
                let server = server.clone();
                let params = Message::text(&person, answer).params();
                tokio::spawn(async move {
                    let response = server.post(&params).await;
                    let status = response.status();
                    (status, response.text().await.unwrap())
                })
            })
            .collect();
        let mut asked = Vec::new();
        for post in posts {
            let (status, body) = bounded("concurrent post", post).await.unwrap();
            assert_eq!(status, 200, "{body}");
            let reply = Twiml::parse(&body);
            assert!(reply.text().starts_with("Compris!"), "{}", reply.raw);
            asked.push(if reply.text().contains("Question 2 sur 5") { 2 } else { 3 });
        }
        asked.sort();
        assert_eq!(asked, [2, 3], "one answered question 1, the other question 2");
        assert_eq!(server.session(&person).await, Some(("birth_year".into(), 2)));
    }
    assert_eq!(server.metrics().await.sample("uic_errors_total{kind=\"database\"}"), None, "no database error");
}

// 9.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_people_at_once_each_get_their_own_code() {
    const PEOPLE: u32 = 50;
    const CITIES: [&str; 5] = ["Kinshasa", "Lubumbashi", "Goma", "Bukavu", "Kisangani"];
    let server = Arc::new(TestServer::start().await);
    let letter = |n: u32| char::from(b'A' + (n % 26) as u8);

    let tasks: Vec<_> = (0..PEOPLE)
        .map(|i| {
            let server = server.clone();
            // Distinct three first letters per person: the codes differ.
            let last_name = format!("{}{}{}ongo", letter(i / 26), letter(i), letter(i * 7 + 3)).to_lowercase();
            let first_name = format!("{}arie", letter(i + 12));
            let year = 1960 + i;
            let city = CITIES[(i % 5) as usize];
            let gender = i % 4 + 1;
            let expected = drc_code(&last_name, &first_name, year, city, gender);
            tokio::spawn(async move {
                let person = phone(900 + i);
                let texts = ["Bonjour".to_string(), last_name, first_name, year.to_string(), city.to_string()];
                for text in &texts {
                    let reply = server.say(&person, text).await;
                    assert!(!reply.messages.is_empty());
                }
                // Half tap the reply button, half type the number.
                let last = if i % 2 == 0 {
                    Message::button(&person, &gender.to_string(), "choix")
                } else {
                    Message::text(&person, &gender.to_string())
                };
                (expected, server.deliver(&last.params()).await)
            })
        })
        .collect();

    let mut images = Vec::new();
    for task in tasks {
        let (expected, done) = bounded("one person's conversation", task).await.expect("no panic");
        assert!(done.text().contains("a été généré!"), "{expected}: {}", done.raw);
        assert_eq!(done.last().body.as_deref(), Some(format!("Votre CIU: {expected}").as_str()));
        images.push(done.last().media.clone().expect("QR image"));
    }
    images.sort();
    images.dedup();
    assert_eq!(images.len(), PEOPLE as usize, "one image per code");
    assert_eq!(server.count("uic_records").await, i64::from(PEOPLE));
    assert_eq!(server.count("uic_collisions").await, 0);
    assert_eq!(server.count("conversation_sessions").await, 0);
    assert_eq!(server.metric("uic_codes_issued_total").await, f64::from(PEOPLE));
}

// 10.
#[tokio::test]
async fn health_answers_and_a_lost_database_gives_503_without_half_writes() {
    let server = TestServer::start().await;
    for path in ["/health", "/whatsapp/health"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "healthy", "{path}: {body}");
        assert_eq!(body["service"], "uic", "{path}: {body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{path}: {body}");
    }

    let person = phone(10);
    server.conversation(&person, &["Bonjour", "MBE"]).await;
    let processed = server.count("processed_messages").await;
    assert_eq!(processed, 2);

    server.state.conversations.store().close().await;
    for path in ["/health", "/whatsapp/health"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "unhealthy", "{path}: {body}");
    }
    let message = Message::text(&person, "IBR");
    let response = server.post(&message.params()).await;
    assert_eq!(response.status(), 503, "Twilio retries a 503");

    // Another connection to the same file sees the state before the failed turn.
    let pool = any_pool(&server.database_url).await;
    assert_eq!(session_of(&pool, &person).await, Some(("first_name".into(), 1)));
    assert_eq!(count_rows(&pool, "processed_messages").await, processed, "the failed message is not marked done");
    let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM processed_messages WHERE message_id = $1")
        .bind(&message.sid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    pool.close().await;
}

// 10b. A turn that fails for a reason of ours (here a stored reply that no
// longer reads) is answered with an apology in the person's language.
#[tokio::test]
async fn an_internal_error_is_apologised_for_in_the_persons_language() {
    let server = TestServer::start().await;
    for (person, greeting, apology) in
        [(phone(15), "Mbote", "Bolimbisi, mokakatano"), (phone(16), "Bonjour", "Désolé, un problème technique")]
    {
        server.say(&person, greeting).await;
        let message = Message::text(&person, "MBE");
        server.deliver(&message.params()).await;
        let pool = any_pool(&server.database_url).await;
        sqlx::query("UPDATE processed_messages SET replies = '{broken' WHERE message_id = $1")
            .bind(&message.sid)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let redelivered = server.deliver(&message.params()).await;
        assert!(redelivered.text().starts_with(apology), "{greeting}: {}", redelivered.raw);
    }
}

// 11.
#[tokio::test]
async fn cleanup_needs_the_admin_token_and_removes_expired_sessions() {
    let server = TestServer::start().await;
    let store = server.state.conversations.store();
    let long_ago = Utc::now() - chrono::Duration::hours(2);
    for n in 0..3 {
        let mut tx = store.begin(&phone(1100 + n)).await.unwrap();
        tx.save_session(&Session {
            flow_id: "drc-fr".into(),
            flow_version: 1,
            language: "fr".into(),
            current_step: "first_name".into(),
            answers: [("last_name".to_string(), "MBE".to_string())].into_iter().collect(),
            invalid_attempts: 0,
            started_at: long_ago,
            updated_at: long_ago,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // Someone in the middle of a conversation keeps theirs.
    server.conversation(&phone(1199), &["Bonjour", "MBE"]).await;
    assert_eq!(server.count("conversation_sessions").await, 4);

    let url = format!("{}/whatsapp/cleanup", server.base);
    let wrong =
        [None, Some("Bearer wrong-token".to_string()), Some(format!("Basic {ADMIN_TOKEN}")), Some(ADMIN_TOKEN.into())];
    for authorization in wrong {
        let mut request = server.client.post(&url);
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = bounded("cleanup", request.send()).await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
    }
    assert_eq!(server.count("conversation_sessions").await, 4);

    let cleanup = || server.client.post(&url).header("Authorization", format!("Bearer {ADMIN_TOKEN}")).send();
    let response = bounded("cleanup", cleanup()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "success", "sessions_cleaned": 3 }));
    assert_eq!(server.count("conversation_sessions").await, 1);
    assert_eq!(server.session(&phone(1199)).await, Some(("first_name".into(), 1)));

    let body: serde_json::Value = bounded("cleanup", cleanup()).await.unwrap().json().await.unwrap();
    assert_eq!(body["sessions_cleaned"], 0);
}

// 12.
#[tokio::test]
async fn metrics_count_messages_codes_errors_and_duplicates() {
    let server = TestServer::start().await;
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let before = Scrape::parse(&response.text().await.unwrap());
    const RECEIVED: &str = "uic_messages_received_total{channel=\"twilio\"}";
    const ISSUED: &str = "uic_codes_issued_total";
    const REFUSED: &str = "uic_validation_errors_total";
    const TURNS: &str = "uic_turn_duration_seconds_count";
    const SAME: &str = "uic_duplicates_total{kind=\"same_answers\"}";
    assert_eq!(before.value(ISSUED), 0.0);
    assert_eq!(before.value(SAME), 0.0, "shown before the first duplicate");
    assert_eq!(before.value(REFUSED), 0.0);
    assert_eq!(before.value(TURNS), 0.0);
    assert_eq!(before.sample(RECEIVED), None, "a channel's series starts with its first message");

    // Seven messages, one of them refused.
    server.conversation(&phone(12), &["Bonjour", "MBE", "IBR", "dix-sept", "7", "DA", "1"]).await;
    let after = server.metrics().await;
    let moved = |series: &str| after.value(series) - before.value(series);
    assert_eq!(after.value(RECEIVED), 7.0);
    assert_eq!(moved(ISSUED), 1.0);
    assert_eq!(moved(REFUSED), 1.0);
    assert_eq!(moved(TURNS), 7.0);
    assert_eq!(moved(SAME), 0.0);
    assert_eq!(after.value("uic_turns_total{outcome=\"completed\"}"), 1.0);
    assert_eq!(after.value("uic_turns_total{outcome=\"refused\"}"), 1.0);

    // The same answers from another phone: a duplicate, not a new code.
    server.conversation(&phone(13), &["Bonjour", "MBE", "IBR", "7", "DA", "1"]).await;
    let duplicate = server.metrics().await;
    assert_eq!(duplicate.value(SAME) - after.value(SAME), 1.0);
    assert_eq!(duplicate.value(ISSUED) - after.value(ISSUED), 0.0);
    assert_eq!(duplicate.value(RECEIVED) - after.value(RECEIVED), 6.0);
    // Counted by the server every few moments (50 ms in tests), not per scrape.
    server.metric_becomes("uic_active_sessions", 0.0).await;

    // A conversation under way is an active session.
    server.say(&phone(14), "Bonjour").await;
    server.metric_becomes("uic_active_sessions", 1.0).await;
}

// 13.
#[tokio::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let server = TestServer::start().await;
    let person = phone(130);
    server.conversation(&person, &["Bonjour", "MBE"]).await;
    let before = server.session(&person).await;
    let webhook = format!("{}/whatsapp/webhook", server.base);
    let signed = |params: &[(String, String)]| twilio::signature(AUTH_TOKEN, &server.webhook_url(), params);

    // Bytes that are not UTF-8.
    let mut body = b"From=whatsapp%3A%2B243810000130&Body=".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    let response = server
        .client
        .post(&webhook)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", "x")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // No From: nobody to answer, even when correctly signed.
    let params: Vec<_> = Message::text(&person, "IBR")
        .params()
        .into_iter()
        .filter(|(name, _)| name != "From" && name != "WaId")
        .collect();
    let response = server.post_signed(&params, Some(&signed(&params))).await;
    assert_eq!(response.status(), 400);
    // A From that is not a phone number.
    let mut params = Message::text(&person, "IBR").params();
    params.iter_mut().find(|(name, _)| name == "From").unwrap().1 = "whatsapp:+243 81 0000130".into();
    let response = server.post_signed(&params, Some(&signed(&params))).await;
    assert_eq!(response.status(), 400);

    // Not a form.
    let response =
        server.client.post(&webhook).header("Content-Type", "text/plain").body("Body=IBR").send().await.unwrap();
    assert_eq!(response.status(), 415);

    // More than 1 MB.
    let mut huge = Message::text(&person, "IBR").params();
    huge.iter_mut().find(|(name, _)| name == "Body").unwrap().1 = "A".repeat(uic::http::MAX_BODY_BYTES);
    let response = server.post(&huge).await;
    assert_eq!(response.status(), 413);

    assert_eq!(server.session(&person).await, before, "none of these was processed");
    assert_eq!(server.metric("uic_messages_received_total{channel=\"twilio\"}").await, 2.0);

    // An image is answered politely and the question is asked again.
    let image = server.deliver(&Message::image(&person).params()).await;
    assert!(
        image.text().starts_with("Je ne peux lire que du texte. Veuillez répondre par un message écrit."),
        "{}",
        image.raw
    );
    assert!(image.text().contains("Question 2 sur 5"), "{}", image.raw);
    assert_eq!(server.session(&person).await, before, "the flow position is kept");
    let next = server.say(&person, "IBR").await;
    assert!(next.text().contains("Question 3 sur 5"), "{}", next.raw);

    // An apostrophe in a reply is escaped in the XML.
    let welcome = server.say(&phone(131), "Bonjour").await;
    assert!(welcome.text().contains("Code d'Identification Unique"), "{}", welcome.raw);
    assert!(welcome.raw.contains("Code d&apos;Identification Unique"), "{}", welcome.raw);
    assert!(!welcome.raw.contains("d'Identification"), "{}", welcome.raw);
}

// 13 (long replies).
#[tokio::test]
async fn a_reply_longer_than_twilio_accepts_is_split_into_several_messages() {
    let server = TestServer::start_with(&[("DEFAULT_FLOW", "legacy")]).await;
    let person = phone(132);
    // 300 characters is the longest answer; `ß` becomes `SS`, so the summary
    // of the answers outgrows Twilio's 1,600 characters.
    let long = "ß".repeat(300);
    let summary = server.conversation(&person, &["Bonjour", "1985", &long, &long, "15", &long]).await;
    let bodies: Vec<&str> = summary.messages.iter().map(|m| m.body.as_deref().expect("text")).collect();
    assert!(bodies.len() >= 2, "{bodies:?}");
    assert!(bodies.iter().all(|body| body.chars().count() <= twilio::MAX_BODY_CHARS), "{bodies:?}");
    let whole = bodies.concat();
    assert!(whole.chars().count() > twilio::MAX_BODY_CHARS);
    assert!(whole.contains("Voici vos réponses:"), "{whole}");
    assert!(whole.contains(&format!("2. {}\n", "S".repeat(600))), "{whole}");
    assert!(whole.contains("Sont-elles correctes?"), "{whole}");
    assert_eq!(server.session(&person).await.map(|(step, _)| step).as_deref(), Some("confirm"));
}

// 14.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight() {
    let mut server = TestServer::start().await;
    let person = phone(14);

    // Hold the store's write lock so the next turn waits inside the server.
    let store = server.state.conversations.store().clone();
    let held = store.begin(&phone(1400)).await.unwrap();

    let request = {
        let client = server.client.clone();
        let params = Message::text(&person, "Bonjour").params();
        let url = format!("{}/whatsapp/webhook", server.base);
        let signature = twilio::signature(AUTH_TOKEN, &server.webhook_url(), &params);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", signature)
                .body(crate::support::server::form(&params))
                .send()
                .await
                .expect("the request in flight gets its answer");
            let status = response.status();
            (status, response.text().await.unwrap())
        })
    };
    // The request is in the handler once it counts as received.
    bounded("request in flight", async {
        let not_yet = || {
            let scrape = Scrape::parse(&server.state.metrics.render());
            scrape.sample("uic_messages_received_total{channel=\"twilio\"}").is_none_or(|received| received < 1.0)
        };
        while not_yet() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    server.signal_stop();
    // The stop is under way once the server no longer accepts connections;
    // from then on, only the request in flight keeps it running.
    let port = server.port;
    bounded("the listener to close", async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(!server.has_stopped(), "the server waits for the request in flight");
    assert!(!request.is_finished());

    drop(held);
    let (status, body) = bounded("request in flight", request).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(Twiml::parse(&body).text().contains("Bienvenue au Générateur CIU!"), "{body}");
    server.stop().await.expect("the server ends cleanly");

    // It no longer listens.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "still listening after shutdown");
}

/// With no UIC_SALT, development keeps one salt in the data folder, so codes
/// (and the duplicate key) stay the same across restarts.
#[tokio::test]
async fn the_development_salt_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let vars: std::collections::HashMap<String, String> = [
        ("PORT", "0".to_string()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("FLOWS_DIR", root.join("flows").display().to_string()),
        ("LOCALES_DIR", root.join("locales").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let build = || async {
        let config = uic::config::Config::from_vars(|name| vars.get(name).cloned()).unwrap();
        assert!(config.warnings().iter().any(|w| w.contains("UIC_SALT is not set")));
        uic::app::startup::Application::build(config).await.unwrap()
    };
    let first = build().await;
    let salt_file = dir.path().join("dev-salt");
    let salt = std::fs::read_to_string(&salt_file).unwrap();
    assert!(uic::core::salt::Salt::parse(&salt).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&salt_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    drop(first);
    let _second = build().await;
    assert_eq!(std::fs::read_to_string(&salt_file).unwrap(), salt, "the same salt after a restart");
}

/// Two `uic serve` processes (here two servers in one test) sharing one
/// PostgreSQL database: one person's messages, sent to both at the same
/// moment, are taken one after the other — no answer lost, no step skipped,
/// one code record.
#[tokio::test]
async fn two_servers_on_one_postgres_database_take_a_persons_messages_in_turn() {
    use crate::support::db::{Backend, TestDb};
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let a = TestServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    let b = TestServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    let person = phone(4242);
    a.say(&person, "Bonjour").await;
    let pool = a.raw().await;
    // Two names at the same moment, one to each server: both are taken, in
    // whichever order the lock gave them.
    let (one, two) = tokio::join!(a.say(&person, "MBE"), b.say(&person, "IBR"));
    assert!(!one.text().is_empty() && !two.text().is_empty());
    let (current, answers) = session_of(&pool, &person).await.expect("the session is kept");
    assert_eq!((current.as_str(), answers), ("birth_year", 2), "both answers taken, no step skipped");
    a.say(&person, "7").await;
    b.say(&person, "DA").await;
    let done = b.say(&person, "1").await;
    let code = done.text();
    assert!(code.contains("MBEIBR7DA1") || code.contains("IBRMBE7DA1"), "{code}");
    let first_code_was_drc = code.contains("MBEIBR7DA1");
    assert_eq!(count_rows(&pool, "uic_records").await, 1);

    // Many people at once, each person's messages spread over both servers.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let tasks: Vec<_> = (0..20u32)
        .map(|n| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let person = phone(5000 + n);
                let gender = if n % 2 == 0 { "1" } else { "2" };
                let mut last = String::new();
                for (i, text) in ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", gender].iter().enumerate() {
                    let server = if i % 2 == 0 { &a } else { &b };
                    last = server.say(&person, text).await.text();
                }
                last
            })
        })
        .collect();
    for task in tasks {
        let last = bounded("a person's conversation", task).await.unwrap();
        assert!(last.contains("MBEIBR7DA1") || last.contains("MBEIBR7DA2"), "{last}");
    }
    // MBEIBR7DA2 is new. The full answers with gender 1 make MBEIBR7DA1: if the
    // short answers above made it too (MBE taken before IBR), that is ten possible
    // collisions and no new record; otherwise one new record, asked for ten times.
    let (records, collisions) = if first_code_was_drc { (2, 10) } else { (3, 0) };
    assert_eq!(count_rows(&pool, "uic_records").await, records);
    assert_eq!(count_rows(&pool, "uic_collisions").await, collisions);
}

// A completion's QR link, on both backends: made in the turn's transaction
// (on SQLite, the group commit's), the
// same link while it is valid when the answers come again, a working link
// for a redelivered completion, and one working link per person when many
// complete at once (their turns sharing transactions).
crate::support::both!(a_completions_qr_link_is_made_once_and_works_on_both_backends, |db| async move {
    let server = TestServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    let answers = ["Bonjour", "MBE", "IBR", "7", "DA"];
    let person = phone(1501);
    server.conversation(&person, &answers).await;
    let completing = Message::text(&person, "1");
    let done = server.deliver(&completing.params()).await;
    let first = done.last().media.clone().expect("a QR link");
    assert_eq!(check_qr(&server, &first, &server.base, DRC_CODE).await, DRC_CODE);
    assert_eq!(server.count("qr_codes").await, 1);

    // Twilio sends the completing message again: the same replies, a working link.
    let again = server.deliver(&completing.params()).await;
    let replayed = again.last().media.clone().expect("a QR link for the redelivery");
    assert_eq!(check_qr(&server, &replayed, &server.base, DRC_CODE).await, DRC_CODE);
    // The same answers again, by someone else: the link still valid is reused.
    let other = phone(1502);
    let same = server.conversation(&other, &[&answers[..], &["1"]].concat()).await;
    assert_eq!(same.last().media.as_deref(), Some(first.as_str()));
    assert_eq!(server.count("qr_codes").await, 1);

    // Twenty people complete at once, each with other answers: each link
    // shows that person's code.
    let server = Arc::new(server);
    let tasks: Vec<_> = (0..20u32)
        .map(|n| {
            let server = server.clone();
            tokio::spawn(async move {
                let person = phone(1600 + n);
                let name = format!("MB{}", char::from(b'F' + n as u8));
                let done = server.conversation(&person, &["Bonjour", name.as_str(), "IBR", "7", "DA", "1"]).await;
                (drc_code(&name, "IBR", 7, "DA", 1), done.last().media.clone().expect("a QR link"))
            })
        })
        .collect();
    let mut links = std::collections::HashSet::new();
    for task in tasks {
        let (code, link) = task.await.expect("a conversation");
        assert_eq!(check_qr(&server, &link, &server.base, &code).await, code);
        links.insert(link);
    }
    assert_eq!(links.len(), 20);
    assert_eq!(server.count("qr_codes").await, 21);
});

// 15.
/// Moves every QR link's creation time `hours` back, as if made that long ago.
async fn age_qr_links(server: &TestServer, hours: i64) {
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&server.database_url).await.unwrap();
    let rows: Vec<(String, chrono::DateTime<Utc>)> =
        sqlx::query_as("SELECT token, created_at FROM qr_codes").fetch_all(&mut connection).await.unwrap();
    for (token, created_at) in rows {
        sqlx::query("UPDATE qr_codes SET created_at = $1 WHERE token = $2")
            .bind(created_at - chrono::Duration::hours(hours))
            .bind(token)
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn qr_links_stop_working_after_qr_link_hours_and_the_cleanup_removes_them() {
    let server = TestServer::start_with(&[("QR_LINK_HOURS", "2")]).await;
    let person = phone(15);
    let answers = ["Bonjour", "MBE", "IBR", "7", "DA", "1"];
    let done = server.conversation(&person, &answers).await;
    let first = done.last().media.clone().expect("a QR link");
    assert_eq!(check_qr(&server, &first, &server.base, DRC_CODE).await, DRC_CODE);

    // An hour on, the link still works: the provider had time to fetch it.
    age_qr_links(&server, 1).await;
    assert_eq!(server.get(&server.local(&first)).await.status(), 200);
    // Past QR_LINK_HOURS, it does not.
    age_qr_links(&server, 2).await;
    assert_eq!(server.get(&server.local(&first)).await.status(), 404, "an expired QR link");

    // Asking again gives the code with a new link that works.
    let again = server.conversation(&person, &answers).await;
    let second = again.last().media.clone().expect("a QR link");
    assert_ne!(second, first);
    assert_eq!(check_qr(&server, &second, &server.base, DRC_CODE).await, DRC_CODE);
    assert_eq!(server.count("qr_codes").await, 1, "the expired link's row made way for the new one");

    // The cleanup removes links past their lifetime, and only those.
    let cleanup = || {
        server
            .client
            .post(format!("{}/whatsapp/cleanup", server.base))
            .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send()
    };
    assert_eq!(bounded("cleanup", cleanup()).await.unwrap().status(), 200);
    assert_eq!(server.count("qr_codes").await, 1, "a fresh link stays");
    age_qr_links(&server, 3).await;
    assert_eq!(bounded("cleanup", cleanup()).await.unwrap().status(), 200);
    assert_eq!(server.count("qr_codes").await, 0, "an expired link is removed");
    assert_eq!(server.get(&server.local(&second)).await.status(), 404);
}
