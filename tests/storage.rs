//! The SQLite store, each test on a fresh database file: sessions, codes,
//! collisions, one transaction per turn, and the seeds' runbook SQL.

use chrono::Duration;
use sqlx::Row;
use uic::conversation::Conversations;
use uic::engine::{Completion, Content, Registration, Session};
use uic::store::Store;

use crate::support::{self, file_store, t0};

fn session(step: &str) -> Session {
    Session {
        flow_id: "drc-fr".into(),
        flow_version: 1,
        language: "fr".into(),
        current_step: step.into(),
        answers: [("last_name".to_string(), "MBENGUE".to_string())].into_iter().collect(),
        invalid_attempts: 1,
        started_at: t0(),
        updated_at: t0() + Duration::minutes(2),
    }
}

fn completion(uic: &str, key: &str) -> Completion {
    Completion {
        flow_id: "drc-fr".into(),
        flow_version: 1,
        uic: uic.into(),
        duplicate_key: key.into(),
        formula_fingerprint: "f1".into(),
        language: "fr".into(),
    }
}

async fn complete_conversation(conversations: &Conversations, phone: &str, answers: &[&str]) -> Vec<String> {
    let mut texts = Vec::new();
    let mut now = t0();
    for message in std::iter::once(&"Bonjour").chain(answers) {
        now += Duration::seconds(10);
        let handled = conversations.handle(phone, &Content::Text(message.to_string()), now).await.unwrap();
        texts.push(format!("{:?}", handled.replies));
    }
    texts
}

#[tokio::test]
async fn sessions_round_trip_and_are_deleted() {
    let (store, _dir) = file_store().await;
    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap(), None);
    tx.save_session(&session("first_name")).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap(), Some(session("first_name")));
    tx.save_session(&session("birth_year")).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap().unwrap().current_step, "birth_year");
    tx.delete_session().await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap(), None);
}

#[tokio::test]
async fn a_turn_not_committed_changes_nothing() {
    let (store, _dir) = file_store().await;
    {
        let mut tx = store.begin("+243810000001").await.unwrap();
        tx.save_session(&session("first_name")).await.unwrap();
        tx.register(&completion("MBEIBR7DA1", "k1"), t0()).await.unwrap();
        // Dropped without commit, as when a later step of the turn fails.
    }
    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap(), None);
    drop(tx);
    assert!(store.recent_uics(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn same_answers_find_their_record_and_same_code_is_a_possible_collision() {
    let (store, _dir) = file_store().await;
    let register = |phone: &'static str, uic: &'static str, key: &'static str, minutes: i64| {
        let store = store.clone();
        async move {
            let mut tx = store.begin(phone).await.unwrap();
            let registration = tx.register(&completion(uic, key), t0() + Duration::minutes(minutes)).await.unwrap();
            tx.commit().await.unwrap();
            registration
        }
    };
    assert_eq!(register("+243810000001", "MBEIBR7DA1", "key-a", 0).await, Registration::New);
    assert_eq!(register("+243810000002", "MBEIBR7DA1", "key-a", 5).await, Registration::SameAnswers);
    assert_eq!(register("+243810000003", "MBEIBR7DA1", "key-b", 9).await, Registration::SameCode);
    assert_eq!(register("+243810000003", "MOBMAR3KI2", "key-c", 9).await, Registration::New);

    let records = store.recent_uics(10).await.unwrap();
    assert_eq!(records.len(), 2, "a collision does not add a record");
    let first = records.iter().find(|r| r.uic_code == "MBEIBR7DA1").unwrap();
    assert_eq!(first.request_count, 2);
    assert_eq!(first.phone_number, "+243810000001");
    assert_eq!(first.created_at, t0());
    assert_eq!(first.last_requested_at, t0() + Duration::minutes(5));
    assert_eq!(store.count_collisions().await.unwrap(), 1);
}

#[tokio::test]
async fn answers_are_never_stored_in_clear_once_a_code_is_issued() {
    let (store, _dir) = file_store().await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    complete_conversation(&conversations, "+243810000001", &["Mbengue", "Ibrahima", "1997", "Dakar", "Homme"]).await;

    let rows = sqlx::query("SELECT * FROM uic_records").fetch_all(store.pool()).await.unwrap();
    assert_eq!(rows.len(), 1);
    let sessions = sqlx::query("SELECT COUNT(*) FROM conversation_sessions").fetch_one(store.pool()).await.unwrap();
    assert_eq!(sessions.get::<i64, _>(0), 0, "the session and its answers are gone");
    let dump: String = sqlx::query(
        "SELECT uic_code || duplicate_key || phone_number || flow_id || formula_fingerprint FROM uic_records",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    for answer in ["MBENGUE", "IBRAHIMA", "1997", "DAKAR"] {
        assert!(!dump.contains(answer), "`{answer}` stored in clear");
    }
    let key: String = rows[0].get("duplicate_key");
    assert_eq!(key.len(), 64, "HMAC-SHA-256 as hex");
}

#[tokio::test]
async fn the_seeds_runbook_sql_works() {
    let (store, _dir) = file_store().await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    complete_conversation(&conversations, "+243810000001", &["MBE", "IBR", "7", "DA", "1"]).await;
    complete_conversation(&conversations, "+243810000002", &["MOB", "MAR", "3", "KI", "2"]).await;
    conversations.handle("+243810000003", &Content::Text("Bonjour".into()), t0()).await.unwrap();
    conversations.handle("+243810000003", &Content::Text("MBE".into()), t0()).await.unwrap();

    let pool = store.pool();
    let codes =
        sqlx::query("SELECT uic_code, phone_number, created_at FROM uic_records;").fetch_all(pool).await.unwrap();
    let mut listed: Vec<String> = codes.iter().map(|r| r.get::<String, _>("uic_code")).collect();
    listed.sort();
    assert_eq!(listed, ["MBEIBR7DA1", "MOBMAR3KI2"]);
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM uic_records;").fetch_one(pool).await.unwrap().get(0);
    assert_eq!(count, 2);
    let active =
        sqlx::query("SELECT phone_number, current_step FROM conversation_sessions;").fetch_all(pool).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].get::<String, _>("current_step"), "first_name");
    // Seed 002 §1.11.3.2, per day (SQLite spells the date arithmetic its own way).
    let per_day = sqlx::query(
        "SELECT DATE(created_at) as date, COUNT(*) as count FROM uic_records GROUP BY DATE(created_at) ORDER BY date DESC;",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(per_day.len(), 1);
    assert_eq!(per_day[0].get::<String, _>("date"), "2026-03-14");
    assert_eq!(per_day[0].get::<i64, _>("count"), 2);
    let unique: i64 = sqlx::query("SELECT COUNT(DISTINCT phone_number) as unique_users FROM uic_records;")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(unique, 2);
}

#[tokio::test]
async fn cleanup_removes_only_idle_sessions() {
    let (store, _dir) = file_store().await;
    for (phone, minutes_ago) in [("+1", 120), ("+2", 45), ("+3", 5)] {
        let mut tx = store.begin(phone).await.unwrap();
        let mut s = session("first_name");
        s.updated_at = t0() - Duration::minutes(minutes_ago);
        tx.save_session(&s).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(store.cleanup_sessions(t0() - Duration::minutes(30)).await.unwrap(), 2);
    assert_eq!(store.count_sessions_since(t0() - Duration::minutes(60)).await.unwrap(), 1);
}

#[tokio::test]
async fn one_persons_concurrent_messages_are_handled_one_after_the_other() {
    let (store, _dir) = file_store().await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    let phone = "+243810000009";
    conversations.handle(phone, &Content::Text("Bonjour".into()), t0()).await.unwrap();
    let tasks: Vec<_> = ["MBE", "IBR"]
        .into_iter()
        .map(|answer| {
            let conversations = conversations.clone();
            tokio::spawn(async move { conversations.handle(phone, &Content::Text(answer.into()), t0()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut tx = store.begin(phone).await.unwrap();
    let session = tx.session().await.unwrap().unwrap();
    assert_eq!(session.current_step, "birth_year", "both answers were taken, none lost");
    assert_eq!(session.answers.len(), 2);
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("uic.db").display());
    {
        let store = Store::connect(&url).await.unwrap();
        let conversations = Conversations::new(support::engine("drc-fr", None), store);
        complete_conversation(&conversations, "+243810000001", &["MBE", "IBR", "7", "DA", "1"]).await;
    }
    let store = Store::connect(&url).await.unwrap();
    let records = store.recent_uics(10).await.unwrap();
    assert_eq!(records[0].uic_code, "MBEIBR7DA1");
}

#[tokio::test]
async fn an_unreadable_session_is_replaced_by_a_new_conversation() {
    let (store, _dir) = file_store().await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    conversations.handle("+1", &Content::Text("Bonjour".into()), t0()).await.unwrap();
    sqlx::query("UPDATE conversation_sessions SET answers = 'not json'").execute(store.pool()).await.unwrap();
    let handled = conversations.handle("+1", &Content::Text("MBE".into()), t0()).await.unwrap();
    let text = format!("{:?}", handled.replies);
    assert!(text.contains("Bienvenue"), "starts again with the welcome: {text}");
}

#[tokio::test]
async fn a_wrong_database_url_is_a_clear_error() {
    let error = Store::connect("mysql://localhost/uic").await.unwrap_err();
    assert!(error.to_string().contains("unsupported DATABASE_URL"), "{error}");
    let error = Store::connect("sqlite:///nonexistent-dir/sub/uic.db").await.unwrap_err();
    assert!(error.to_string().contains("database error"), "{error}");
}
