//! The store on both backends, each test on a fresh database (SQLite: a new
//! file; PostgreSQL: a new database on `TEST_POSTGRES_URL`, dropped
//! afterwards): sessions, codes, collisions, one transaction per turn, and
//! the seeds' runbook SQL. Assertions read the database with raw SQL through
//! a pool of their own ([`TestDb::raw`]), never the store's.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use sqlx::{Connection, Row};
use uic::core::engine::{Completion, Content, Registration, Session};
use uic::store::{ReportFigures, Store, StoreError, UicFilter};
use uic::turn::conversation::{Conversations, Handled, Inbound};

use crate::support::both;
use crate::support::db::{Backend, TestDb};
use crate::support::{self, plans, t0};

async fn open_store(db: &TestDb) -> Store {
    Store::connect(&db.url).await.expect("store opens")
}

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
        dhis2: Default::default(),
    }
}

async fn complete_conversation(conversations: &Conversations, phone: &str, answers: &[&str]) -> Vec<String> {
    complete_conversation_at(conversations, phone, answers, t0()).await
}

/// A greeting then `answers`, ten seconds apart from `start`.
async fn complete_conversation_at(
    conversations: &Conversations,
    phone: &str,
    answers: &[&str],
    start: DateTime<Utc>,
) -> Vec<String> {
    let mut texts = Vec::new();
    let mut now = start;
    for message in std::iter::once(&"Bonjour").chain(answers) {
        now += Duration::seconds(10);
        let handled = conversations.handle(phone, &Content::Text(message.to_string()), now).await.unwrap();
        texts.push(format!("{:?}", handled.replies));
    }
    texts
}

both!(sessions_round_trip_and_are_deleted, |db| async move {
    let store = open_store(&db).await;
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
});

both!(a_turn_not_committed_changes_nothing, |db| async move {
    let store = open_store(&db).await;
    {
        let mut tx = store.begin("+243810000001").await.unwrap();
        tx.save_session(&session("first_name")).await.unwrap();
        tx.register(&completion("MBEIBR7DA1", "k1"), false, t0()).await.unwrap();
        // Dropped without commit, as when a later step of the turn fails.
    }
    let mut tx = store.begin("+243810000001").await.unwrap();
    assert_eq!(tx.session().await.unwrap(), None);
    drop(tx);
    assert!(store.recent_uics(10).await.unwrap().is_empty());
});

both!(same_answers_find_their_record_and_same_code_is_a_possible_collision, |db| async move {
    let store = open_store(&db).await;
    let register = |phone: &'static str, uic: &'static str, key: &'static str, minutes: i64| {
        let store = store.clone();
        async move {
            let mut tx = store.begin(phone).await.unwrap();
            let registration =
                tx.register(&completion(uic, key), false, t0() + Duration::minutes(minutes)).await.unwrap();
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
});

both!(answers_are_never_stored_in_clear_once_a_code_is_issued, |db| async move {
    let store = open_store(&db).await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    complete_conversation(&conversations, "+243810000001", &["Mbengue", "Ibrahima", "1997", "Dakar", "Homme"]).await;

    let raw = db.raw().await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT duplicate_key FROM uic_records").fetch_all(&raw).await.unwrap();
    assert_eq!(keys.len(), 1);
    let sessions = sqlx::query("SELECT COUNT(*) FROM conversation_sessions").fetch_one(&raw).await.unwrap();
    assert_eq!(sessions.get::<i64, _>(0), 0, "the session and its answers are gone");
    let dump: String = sqlx::query(
        "SELECT uic_code || duplicate_key || phone_number || flow_id || formula_fingerprint FROM uic_records",
    )
    .fetch_one(&raw)
    .await
    .unwrap()
    .get(0);
    for answer in ["MBENGUE", "IBRAHIMA", "1997", "DAKAR"] {
        assert!(!dump.contains(answer), "`{answer}` stored in clear");
    }
    assert_eq!(keys[0].len(), 64, "HMAC-SHA-256 as hex");
});

/// One Twilio message with its own id, at `at`.
async fn twilio(conversations: &Conversations, id: &str, text: &str, at: DateTime<Utc>) -> Handled {
    let inbound = Inbound {
        channel: "twilio",
        message_id: Some(id),
        phone: "+243810000009",
        content: Content::Text(text.into()),
        outbox: None,
        qr_links_since: None,
    };
    conversations.handle_message(inbound, at).await.expect("turn succeeds")
}

// Over Twilio a completion's reply links its QR image: the store makes the
// link in the turn's own transaction (on SQLite, the group commit's) and hands
// its token back with the turn.
both!(a_qr_link_asked_for_with_a_turn_is_committed_with_it, |db| async move {
    let store = open_store(&db).await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    let since = t0() - Duration::hours(2);
    let mut done = None;
    for (n, text) in ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "Homme"].into_iter().enumerate() {
        let id = format!("SMqr{n}");
        let inbound = Inbound {
            channel: "twilio",
            message_id: Some(&id),
            phone: "+243810000010",
            content: Content::Text(text.into()),
            outbox: None,
            qr_links_since: Some(since),
        };
        done = Some(conversations.handle_message(inbound, t0()).await.expect("turn succeeds"));
    }
    let done = done.expect("six turns");
    let (code, token) = done.qr_link.clone().expect("the link is made with the turn");
    assert_eq!(code, "MBEIBR7DA1");
    assert_eq!(store.qr_code(&token, since).await.unwrap().as_deref(), Some("MBEIBR7DA1"));
    assert_eq!(store.qr_token("MBEIBR7DA1", t0(), since).await.unwrap(), token, "one link per code");
    // Expired, the link makes way for a new one when the answers come again.
    let later = t0() + Duration::hours(3);
    let again = |n: usize| Inbound {
        channel: "twilio",
        message_id: None,
        phone: "+243810000010",
        content: Content::Text(["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "Homme"][n].into()),
        outbox: None,
        qr_links_since: Some(later - Duration::hours(2)),
    };
    let mut renewed = None;
    for n in 0..6 {
        renewed = Some(conversations.handle_message(again(n), later).await.expect("turn succeeds"));
    }
    let (_, new_token) = renewed.and_then(|done| done.qr_link).expect("a new link");
    assert_ne!(new_token, token);
    assert_eq!(store.qr_code(&token, later - Duration::hours(2)).await.unwrap(), None, "the old link is gone");
    assert_eq!(support::server::count_rows(&db.raw().await, "qr_codes").await, 1);
});

fn text_of(handled: &Handled) -> String {
    handled.replies.iter().map(|reply| format!("{reply:?}")).collect()
}

// A redelivery gets the same replies while the provider may ask again; once
// the conversation ends (here NON at the legacy flow's confirmation, which
// repeats every answer) or the replay window passes, the stored replies are
// emptied: the message is still recognised and gets nothing, and nothing runs.
both!(stored_replies_last_only_while_a_provider_can_ask_again, |db| async move {
    let store = open_store(&db).await;
    let conversations = Conversations::new(support::engine("legacy", None), store.clone());
    let mut at = t0();
    for (n, text) in ["Bonjour", "1983", "Mwene-Ditu", "Ozymandias", "17"].iter().enumerate() {
        twilio(&conversations, &format!("SM{n}"), text, at).await;
        at += Duration::seconds(10);
    }
    let summary = twilio(&conversations, "SM5", "Kalambayi", at).await;
    assert!(text_of(&summary).contains("KALAMBAYI"), "the confirmation repeats the answers");
    let again = twilio(&conversations, "SM5", "Kalambayi", at + Duration::seconds(5)).await;
    assert!(again.replayed);
    assert_eq!(again.replies, summary.replies, "a redelivery gets the same replies");

    let restarted = twilio(&conversations, "SM6", "NON", at + Duration::seconds(10)).await;
    assert!(!restarted.replayed);
    let late = twilio(&conversations, "SM5", "Kalambayi", at + Duration::seconds(20)).await;
    assert!(late.replayed && late.replies.is_empty(), "recognised, answered with nothing: {late:?}");
    assert!(!db.dump().await.contains("KALAMBAYI"), "the answers went with the conversation");
    let restart_again = twilio(&conversations, "SM6", "NON", at + Duration::seconds(25)).await;
    assert_eq!(restart_again.replies, restarted.replies, "the last message's own replies are kept");

    // An answer in a conversation going on: kept for the replay window only.
    let answered = twilio(&conversations, "SM7", "1983", at + Duration::seconds(30)).await;
    assert!(!answered.replies.is_empty());
    assert_eq!(store.forget_replies_before(at + Duration::seconds(31)).await.unwrap(), 2, "SM6 and SM7");
    let after_window = twilio(&conversations, "SM7", "1983", at + Duration::minutes(5)).await;
    assert!(after_window.replayed && after_window.replies.is_empty(), "{after_window:?}");
    let session = store.begin("+243810000009").await.unwrap().session().await.unwrap().expect("a session");
    assert_eq!(session.answers.len(), 1, "the redelivery ran nothing: one answer, not two");
});

// SQLite's processed messages were rebuilt in arrival order (migration
// 0017): a database made before keeps every message it had processed, and a
// redelivery of one still runs nothing.
#[tokio::test]
async fn sqlite_processed_messages_survive_their_rebuild_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/uic.db?mode=rwc", dir.path().display());
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new("migrations/sqlite")).await.unwrap();
    before.migrations.to_mut().retain(|migration| migration.version < 17);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    before.run(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO processed_messages (channel, message_id, replies, created_at, phone_number) VALUES
           ('twilio', 'SMlater', '[]', '2026-03-14T09:00:02.000Z', NULL),
           ('twilio', 'SMearlier', '[]', '2026-03-14T09:00:01.000Z', NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::connect(&url).await.expect("migrates");
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    let redelivered = twilio(&conversations, "SMlater", "Bonjour", t0()).await;
    assert!(redelivered.replayed && redelivered.replies.is_empty(), "{redelivered:?}");
    assert!(store.begin("+243810000009").await.unwrap().session().await.unwrap().is_none(), "nothing ran");
    let new = twilio(&conversations, "SMnew", "Bonjour", t0()).await;
    assert!(!new.replayed && !new.replies.is_empty());
    let again = twilio(&conversations, "SMnew", "Bonjour", t0()).await;
    assert_eq!((again.replayed, again.replies), (true, new.replies), "a redelivery gets the same replies");

    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT message_id FROM processed_messages ORDER BY rowid")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert_eq!(ids, ["SMearlier", "SMlater", "SMnew"], "in the order they came");
    store.close().await;
}

both!(the_seeds_runbook_sql_works, |db| async move {
    let store = open_store(&db).await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    // Recent, so that the seeds' report of the last 30 days sees the codes.
    let start = Utc::now().trunc_subsecs(0) - Duration::hours(1);
    complete_conversation_at(&conversations, "+243810000001", &["MBE", "IBR", "7", "DA", "1"], start).await;
    complete_conversation_at(&conversations, "+243810000002", &["MOB", "MAR", "3", "KI", "2"], start).await;
    conversations.handle("+243810000003", &Content::Text("Bonjour".into()), start).await.unwrap();
    conversations.handle("+243810000003", &Content::Text("MBE".into()), start).await.unwrap();
    // The greeting and five answers, ten seconds apart.
    let created = start + Duration::seconds(60);

    // The seeds' queries, verbatim, as an operator's SQL client runs them.
    let codes = db.text_rows("SELECT uic_code, phone_number, created_at FROM uic_records;").await;
    let mut listed: Vec<&str> = codes.iter().map(|r| r.get("uic_code")).collect();
    listed.sort();
    assert_eq!(listed, ["MBEIBR7DA1", "MOBMAR3KI2"]);
    let created_text = created.to_rfc3339();
    assert!(codes.iter().all(|r| r.get("created_at") == created_text), "created at {created_text}: {codes:?}");
    let count = db.text_rows("SELECT COUNT(*) FROM uic_records;").await;
    assert_eq!(count[0].at(0), "2");
    let active = db.text_rows("SELECT phone_number, current_step FROM conversation_sessions;").await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].get("current_step"), "first_name");
    let unique = db.text_rows("SELECT COUNT(DISTINCT phone_number) as unique_users FROM uic_records;").await;
    assert_eq!(unique[0].get("unique_users"), "2");

    // Seed 002 §1.11.3.2, per day over the last 30 days; a code from 45 days
    // ago is left out. SQLite spells the date arithmetic its own way.
    let mut tx = store.begin("+243810000004").await.unwrap();
    let old = tx.register(&completion("OLDOLD1AA1", "key-old"), false, start - Duration::days(45)).await.unwrap();
    assert_eq!(old, Registration::New);
    tx.commit().await.unwrap();
    let per_day = match db.backend {
        Backend::Postgres => {
            db.text_rows(
                "SELECT DATE(created_at) as date, COUNT(*) as count FROM uic_records WHERE created_at >= NOW() - INTERVAL '30 days' GROUP BY DATE(created_at) ORDER BY date DESC;",
            )
            .await
        }
        Backend::Sqlite => {
            db.text_rows(
                "SELECT DATE(created_at) as date, COUNT(*) as count FROM uic_records WHERE datetime(created_at) >= datetime('now', '-30 days') GROUP BY DATE(created_at) ORDER BY date DESC;",
            )
            .await
        }
    };
    assert_eq!(per_day.len(), 1, "{per_day:?}");
    assert_eq!(per_day[0].get("date"), created.date_naive().to_string());
    assert_eq!(per_day[0].get("count"), "2");
});

both!(cleanup_removes_only_idle_sessions, |db| async move {
    let store = open_store(&db).await;
    for (phone, minutes_ago) in [("+1", 120), ("+2", 45), ("+3", 5)] {
        let mut tx = store.begin(phone).await.unwrap();
        let mut s = session("first_name");
        s.updated_at = t0() - Duration::minutes(minutes_ago);
        tx.save_session(&s).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(store.cleanup_sessions(t0() - Duration::minutes(30), t0()).await.unwrap(), 2);
    assert_eq!(store.count_sessions_since(t0() - Duration::minutes(60)).await.unwrap(), 1);
});

both!(one_persons_concurrent_messages_are_handled_one_after_the_other, |db| async move {
    let store = open_store(&db).await;
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
});

both!(data_survives_reopening_the_database, |db| async move {
    {
        let store = open_store(&db).await;
        let conversations = Conversations::new(support::engine("drc-fr", None), store);
        complete_conversation(&conversations, "+243810000001", &["MBE", "IBR", "7", "DA", "1"]).await;
    }
    let store = open_store(&db).await;
    let records = store.recent_uics(10).await.unwrap();
    assert_eq!(records[0].uic_code, "MBEIBR7DA1");
});

both!(an_unreadable_session_is_replaced_by_a_new_conversation, |db| async move {
    let store = open_store(&db).await;
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    conversations.handle("+1", &Content::Text("Bonjour".into()), t0()).await.unwrap();
    sqlx::query("UPDATE conversation_sessions SET answers = 'not json'").execute(&db.raw().await).await.unwrap();
    let handled = conversations.handle("+1", &Content::Text("MBE".into()), t0()).await.unwrap();
    let text = format!("{:?}", handled.replies);
    assert!(text.contains("Bienvenue"), "starts again with the welcome: {text}");
});

both!(an_unreadable_session_is_reported_without_its_answers, |db| async move {
    let store = open_store(&db).await;
    let mut tx = store.begin("+1").await.unwrap();
    tx.save_session(&session("last_name")).await.unwrap();
    tx.commit().await.unwrap();
    // An answer where the map of answers belongs: serde's own text would quote it.
    sqlx::query("UPDATE conversation_sessions SET answers = '\"Mbengue\"'").execute(&db.raw().await).await.unwrap();
    let mut tx = store.begin("+1").await.unwrap();
    let error = tx.session().await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(!text.contains("Mbengue") && !debug.contains("Mbengue"), "{text} / {debug}");
    assert_eq!(text, "stored session of flow `drc-fr` cannot be read: JSON of an unexpected shape at line 1, column 9");
});

both!(a_database_refusal_is_reported_without_the_values_it_quotes, |db| async move {
    open_store(&db).await.close().await;
    // PostgreSQL's message or detail names the value ("invalid input syntax
    // for type integer: "Mbengue"", "Key (token)=(Mbengue) already exists");
    // SQLite's never does. The store's text names neither.
    let duplicate = "INSERT INTO qr_codes (token, uic_code, created_at)
                     VALUES ('Mbengue', 'A', '2026-01-01'), ('Mbengue', 'B', '2026-01-01')";
    let errors = match db.backend {
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            vec![sqlx::query(duplicate).execute(&mut connection).await.unwrap_err()]
        }
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let cast = sqlx::query("SELECT CAST('Mbengue' AS integer)").execute(&mut connection).await.unwrap_err();
            assert!(cast.to_string().contains("Mbengue"), "the server's message quotes it: {cast}");
            let duplicate = sqlx::query(duplicate).execute(&mut connection).await.unwrap_err();
            assert!(format!("{duplicate:?}").contains("Mbengue"), "the server's detail quotes it: {duplicate:?}");
            vec![cast, duplicate]
        }
    };
    let texts: Vec<String> = errors
        .into_iter()
        .map(StoreError::from)
        .map(|error| {
            let (text, debug) = (error.to_string(), format!("{error:?}"));
            assert!(!text.contains("Mbengue") && !debug.contains("Mbengue"), "{text} / {debug}");
            text
        })
        .collect();
    let expected = match db.backend {
        Backend::Sqlite => vec!["database error: UNIQUE constraint failed: qr_codes.token (SQLite code 1555)"],
        Backend::Postgres => vec![
            "database error: a value the database refused (SQLSTATE 22P02)",
            "database error: unique constraint violated (SQLSTATE 23505), constraint `qr_codes_pkey`, table `qr_codes`",
        ],
    };
    assert_eq!(texts, expected);
});

#[tokio::test]
async fn a_wrong_database_url_is_a_clear_error() {
    let error = Store::connect("mysql://localhost/uic").await.unwrap_err();
    assert!(error.to_string().contains("unsupported DATABASE_URL"), "{error}");
    let error = Store::connect("sqlite:///nonexistent-dir/sub/uic.db").await.unwrap_err();
    assert!(error.to_string().contains("database error"), "{error}");
}

/// Registers one code of `flow` for `phone` at `at`, in a turn of its own.
async fn register_at(store: &Store, phone: &str, flow: &str, uic: &str, key: &str, at: DateTime<Utc>) -> Registration {
    let mut completion = completion(uic, key);
    completion.flow_id = flow.into();
    let mut tx = store.begin(phone).await.unwrap();
    let registration = tx.register(&completion, false, at).await.unwrap();
    tx.commit().await.unwrap();
    registration
}

fn codes(records: &[uic::store::UicRecord]) -> Vec<&str> {
    records.iter().map(|record| record.uic_code.as_str()).collect()
}

both!(listing_filters_by_since_flow_and_limit, |db| async move {
    let store = open_store(&db).await;
    register_at(&store, "+1", "drc-fr", "AAA", "k-a", t0() - Duration::days(2)).await;
    register_at(&store, "+2", "legacy", "BBB", "k-b", t0() - Duration::days(1)).await;
    register_at(&store, "+3", "drc-fr", "CCC", "k-c", t0()).await;
    // The same second as CCC: the later record comes first.
    register_at(&store, "+4", "drc-fr", "DDD", "k-d", t0()).await;

    let list = |since: Option<DateTime<Utc>>, flow: Option<&str>, limit: u32| {
        let store = store.clone();
        let filter = UicFilter { since, flow_id: flow.map(str::to_string) };
        async move { store.list_uics(&filter, limit).await.unwrap() }
    };
    assert_eq!(codes(&list(None, None, 50).await), ["DDD", "CCC", "BBB", "AAA"]);
    assert_eq!(codes(&list(None, None, 2).await), ["DDD", "CCC"]);
    let yesterday = (t0() - Duration::days(1)).date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    assert_eq!(codes(&list(Some(yesterday), None, 50).await), ["DDD", "CCC", "BBB"]);
    assert_eq!(codes(&list(Some(t0()), None, 50).await), ["DDD", "CCC"], "since is inclusive");
    assert_eq!(codes(&list(None, Some("legacy"), 50).await), ["BBB"]);
    assert_eq!(codes(&list(Some(yesterday), Some("drc-fr"), 1).await), ["DDD"]);
    assert!(list(None, Some("nope"), 50).await.is_empty());

    let all = list(None, None, 50).await;
    let b = all.iter().find(|r| r.uic_code == "BBB").unwrap();
    assert_eq!((b.phone_number.as_str(), b.flow_id.as_str(), b.flow_version), ("+2", "legacy", 1));
    assert_eq!((b.created_at, b.last_requested_at, b.request_count), (t0() - Duration::days(1), b.created_at, 1));
});

both!(export_pages_through_thousands_of_codes_by_keyset, |db| async move {
    let store = open_store(&db).await;
    // 2,500 codes in one transaction; three share each second, so page
    // boundaries fall between records of the same created_at.
    const N: usize = 2_500;
    let code = |i: usize| format!("C{i:05}");
    let mut tx = store.begin("+243810000000").await.unwrap();
    for i in 0..N {
        let mut completion = completion(&code(i), &format!("key-{i}"));
        if i % 5 == 0 {
            completion.flow_id = "legacy".into();
        }
        assert_eq!(
            tx.register(&completion, false, t0() + Duration::seconds((i / 3) as i64)).await.unwrap(),
            Registration::New
        );
    }
    tx.commit().await.unwrap();

    let export = |filter: UicFilter, size: u32| {
        let store = store.clone();
        async move {
            let mut pages = Vec::new();
            let mut after = None;
            loop {
                let page = store.uic_page(&filter, after, size).await.unwrap();
                assert!(page.records.len() <= size as usize);
                pages.push(page.records.iter().map(|r| r.uic_code.clone()).collect::<Vec<_>>());
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            pages
        }
    };

    let pages = export(UicFilter::default(), 1_000).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [1_000, 1_000, 500]);
    let expected: Vec<String> = (0..N).map(code).collect();
    assert_eq!(pages.concat(), expected, "every code once, oldest first, in insertion order within a second");

    // A page size that divides the table: the last full page is followed by an empty one.
    let pages = export(UicFilter::default(), 500).await;
    assert_eq!(pages.concat(), expected);
    assert_eq!(pages.last().map(Vec::len), Some(0));

    // Filters hold across pages; 7 puts boundaries inside every run of equal times.
    let since = t0() + Duration::seconds(100);
    let pages = export(UicFilter { since: Some(since), flow_id: Some("drc-fr".into()) }, 7).await;
    let expected: Vec<String> = (300..N).filter(|i| i % 5 != 0).map(code).collect();
    assert_eq!(pages.concat(), expected);
    let legacy = export(UicFilter { since: None, flow_id: Some("legacy".into()) }, 1_000).await;
    assert_eq!(legacy.concat().len(), 500);
});

both!(the_report_counts_days_phones_repeats_and_collisions, |db| async move {
    let store = open_store(&db).await;
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    // Outside March 2026.
    register_at(&store, "+1", "drc-fr", "FEB", "k-feb", at("2026-02-28T23:59:59Z")).await;
    register_at(&store, "+1", "drc-fr", "APR", "k-apr", at("2026-04-01T00:00:00Z")).await;
    // March.
    register_at(&store, "+1", "drc-fr", "K1", "k1", at("2026-03-01T00:00:00Z")).await;
    register_at(&store, "+2", "drc-fr", "K2", "k2", at("2026-03-14T09:00:00Z")).await;
    register_at(&store, "+2", "legacy", "K3", "k3", at("2026-03-14T18:30:00Z")).await;
    // K2 asked for twice more (the second time in April): repeats of the 14th's code.
    assert_eq!(
        register_at(&store, "+2", "drc-fr", "K2", "k2", at("2026-03-20T10:00:00Z")).await,
        Registration::SameAnswers
    );
    assert_eq!(
        register_at(&store, "+5", "drc-fr", "K2", "k2", at("2026-04-02T10:00:00Z")).await,
        Registration::SameAnswers
    );
    // Other answers making K2: a possible collision, on the 15th.
    assert_eq!(
        register_at(&store, "+6", "drc-fr", "K2", "k2-other", at("2026-03-15T10:00:00Z")).await,
        Registration::SameCode
    );
    register_at(&store, "+3", "drc-fr", "K4", "k4", at("2026-03-31T23:59:59Z")).await;
    // A collision in April is not March's.
    register_at(&store, "+7", "drc-fr", "K4", "k4-other", at("2026-04-01T00:00:01Z")).await;

    let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let figures = |codes, unique_phones, repeat_requests, collisions| ReportFigures {
        codes,
        unique_phones,
        repeat_requests,
        collisions,
    };
    let report = store.report(date("2026-03-01"), date("2026-04-01")).await.unwrap();
    assert_eq!(
        report.days,
        [
            (date("2026-03-01"), figures(1, 1, 0, 0)),
            (date("2026-03-14"), figures(2, 1, 2, 0)),
            (date("2026-03-15"), figures(0, 0, 0, 1)),
            (date("2026-03-31"), figures(1, 1, 0, 0)),
        ]
    );
    assert_eq!(report.total, figures(4, 3, 2, 1), "phones +1, +2 and +3");

    let february = store.report(date("2026-02-01"), date("2026-03-01")).await.unwrap();
    assert_eq!(february.days, [(date("2026-02-28"), figures(1, 1, 0, 0))]);
    let april = store.report(date("2026-04-01"), date("2026-05-01")).await.unwrap();
    assert_eq!(april.total, figures(1, 1, 0, 1));
    let empty = store.report(date("2025-01-01"), date("2025-02-01")).await.unwrap();
    assert!(empty.days.is_empty());
    assert_eq!(empty.total, ReportFigures::default());
});

both!(backups_copy_sqlite_files_and_point_elsewhere_to_pg_dump, |db| async move {
    let store = open_store(&db).await;
    register_at(&store, "+1", "drc-fr", "MBEIBR7DA1", "k1", t0()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("it's a backup.db");
    match db.backend {
        Backend::Sqlite => {
            store.backup_into(&target).await.unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "a backup is readable by its owner only");
            }
            let copy = Store::connect_unmigrated(&format!("sqlite://{}", target.display())).await.unwrap();
            assert_eq!(codes(&copy.list_uics(&UicFilter::default(), 10).await.unwrap()), ["MBEIBR7DA1"]);
            copy.close().await;
            let error = store.backup_into(&target).await.unwrap_err();
            assert!(error.to_string().contains("already exists"), "never overwrites: {error}");
        }
        Backend::Postgres => {
            let error = store.backup_into(&target).await.unwrap_err();
            assert!(error.to_string().contains("pg_dump"), "{error}");
            assert!(!target.exists());
        }
    }
});

// The plans of the queries a turn runs on growing tables (see
// `support::plans`; `benches/scale.rs` checks them again with a million
// codes): every one reaches its rows through an index. On PostgreSQL the
// tables are empty, so sequential scans are discouraged for the session:
// the planner then scans only where no index can serve, which the control
// query shows is caught.
both!(the_hot_queries_use_indexes, |db| async move {
    const FINGERPRINT: &str = "0123456789abcdef";
    let store = open_store(&db).await;
    let (plans, control) = match db.backend {
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let plans = plans::sqlite_plans(&mut connection, FINGERPRINT).await.unwrap();
            (plans, plans::sqlite_plan(&mut connection, &plans::UNINDEXED, FINGERPRINT).await.unwrap())
        }
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql("SET enable_seqscan = off").execute(&mut connection).await.unwrap();
            let plans = plans::postgres_plans(&mut connection, FINGERPRINT).await.unwrap();
            (plans, plans::postgres_plan(&mut connection, &plans::UNINDEXED, FINGERPRINT).await.unwrap())
        }
    };
    assert!(plans.iter().all(|plan| plan.problem.is_none()), "a hot query scans:\n{}", plans::describe(&plans));
    assert!(control.problem.is_some(), "the check misses a scan:\n{}", plans::describe(&[control]));
    store.close().await;
});

#[test]
fn the_planned_queries_are_the_stores_own() {
    assert_eq!(plans::drift(), [], "tests/support/plans.rs: update these queries to the store's SQL");
}

// A QR link works for its lifetime only: past it the token names nothing, the
// code asked for again gets a new token, and the cleanup removes old ones.
both!(qr_links_expire_are_renewed_and_cleaned, |db| async move {
    let store = open_store(&db).await;
    let day = Duration::hours(24);
    let token = store.qr_token("MBEIBR7DA1", t0(), t0() - day).await.unwrap();
    assert_eq!(
        store.qr_token("MBEIBR7DA1", t0() + Duration::hours(1), t0() + Duration::hours(1) - day).await.unwrap(),
        token
    );
    assert_eq!(store.qr_code(&token, t0() - day).await.unwrap().as_deref(), Some("MBEIBR7DA1"));
    let other = store.qr_token("MOBMAR3KI2", t0(), t0() - day).await.unwrap();

    // A day and a second later (stored times are whole seconds).
    let later = t0() + day + Duration::seconds(1);
    assert_eq!(store.qr_code(&token, later - day).await.unwrap(), None, "an expired link names nothing");
    let renewed = store.qr_token("MBEIBR7DA1", later, later - day).await.unwrap();
    assert_ne!(renewed, token, "a code asked for again gets a new link");
    assert_eq!(store.qr_code(&renewed, later - day).await.unwrap().as_deref(), Some("MBEIBR7DA1"));
    assert_eq!(store.qr_code(&token, t0() - day).await.unwrap(), None, "the old token is gone, not merely expired");

    assert_eq!(store.cleanup_qr_codes(later - day).await.unwrap(), 1, "the other code's expired link");
    assert_eq!(store.qr_code(&other, t0() - day).await.unwrap(), None);
    let left = db.text_rows("SELECT token FROM qr_codes").await;
    assert_eq!(left.iter().map(|row| row.get("token")).collect::<Vec<_>>(), [renewed.as_str()]);
});
