//! Turns stored in batches on PostgreSQL (`group_commit`), as production runs
//! them: two servers on one database, many people at once. Every person's
//! turns stay in order and are taken exactly once, whichever server gets
//! them and whoever else is writing; turns waiting meanwhile share a
//! transaction. (SQLite's batches: the unit tests of `store::group_commit`.)

use std::time::Duration;

use chrono::Duration as Minutes;
use futures_util::future::join_all;
use uic::core::engine::Content;
use uic::store::{POSTGRES_BATCHES_AT_ONCE, Store};
use uic::turn::conversation::{Conversations, Handled};

use crate::support::db::{Backend, TestDb};
use crate::support::{self, t0};

const LAST_NAMES: [&str; 8] = ["MBENGUE", "KABILA", "LUMUMBA", "ILUNGA", "MUKENDI", "KASONGO", "TSHIBANDA", "MWAMBA"];
const FIRST_NAMES: [&str; 5] = ["IBRAHIMA", "GRACE", "JOSEPH", "ESTHER", "PATRICE"];

/// Person `n`'s whole conversation: a greeting, then answers no one else gives.
fn conversation(n: usize) -> [String; 6] {
    [
        "Bonjour".to_string(),
        LAST_NAMES[n % LAST_NAMES.len()].to_string(),
        FIRST_NAMES[n / LAST_NAMES.len() % FIRST_NAMES.len()].to_string(),
        (1960 + n % 40).to_string(),
        "Kinshasa".to_string(),
        if n.is_multiple_of(2) { "Homme" } else { "Femme" }.to_string(),
    ]
}

async fn say(server: &Conversations, phone: &str, text: &str, step: usize) -> Handled {
    let now = t0() + Minutes::seconds(10 * step as i64);
    server.handle(phone, &Content::Text(text.to_string()), now).await.expect("the turn is stored")
}

async fn postgres_server(db: &TestDb) -> Conversations {
    Conversations::new(support::engine("drc-fr", None), Store::connect(&db.url).await.expect("store opens"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database_give_everyone_their_code_in_order() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let servers = [postgres_server(&db).await, postgres_server(&db).await];
    let people = 40;
    let tasks: Vec<_> = (0..people)
        .map(|n| {
            let servers = servers.clone();
            tokio::spawn(async move {
                let phone = format!("+24381{n:07}");
                let mut replies = Vec::new();
                let mut shared = 0;
                // Each message to the other server than the one before.
                for (step, text) in conversation(n).iter().enumerate() {
                    let handled = say(&servers[(n + step) % 2], &phone, text, step).await;
                    shared += handled.shared_commit_with;
                    replies.push(format!("{:?}", handled.replies));
                }
                (replies, shared)
            })
        })
        .collect();
    // What one server alone, one turn at a time, answers the same people.
    let alone = Conversations::new(support::engine("drc-fr", None), Store::in_memory().await.unwrap());
    let mut shared = 0;
    for (n, task) in tasks.into_iter().enumerate() {
        let (replies, shared_by_person) = task.await.unwrap();
        shared += shared_by_person;
        let phone = format!("+24381{n:07}");
        for (step, text) in conversation(n).iter().enumerate() {
            let expected = format!("{:?}", say(&alone, &phone, text, step).await.replies);
            assert_eq!(replies[step], expected, "person {n}, message {step}");
        }
    }
    assert!(shared > 0, "with 40 people at once, some turns shared a transaction");
    let raw = db.raw().await;
    let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uic_records").fetch_one(&raw).await.unwrap();
    assert_eq!(records, people as i64, "one code per person, none twice");
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversation_sessions").fetch_one(&raw).await.unwrap();
    assert_eq!(sessions, 0, "every conversation ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_messages_to_two_postgres_servers_at_once_are_taken_one_after_the_other() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let servers = [postgres_server(&db).await, postgres_server(&db).await];
    let people: Vec<String> = (0..10).map(|n| format!("+24382{n:07}")).collect();
    for phone in &people {
        say(&servers[0], phone, "Bonjour", 0).await;
    }
    // Each person's two answers at the same moment, one to each server.
    let mut tasks = Vec::new();
    for phone in &people {
        for (server, answer) in servers.iter().zip(["MBENGUE", "IBRAHIMA"]) {
            let (server, phone) = (server.clone(), phone.clone());
            tasks.push(tokio::spawn(async move { say(&server, &phone, answer, 1).await }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = Store::connect(&db.url).await.unwrap();
    for phone in &people {
        let session = store.begin(phone).await.unwrap().session().await.unwrap().expect("a session");
        assert_eq!(session.current_step, "birth_year", "{phone}: both answers taken, none lost");
        assert_eq!(session.answers.len(), 2, "{phone}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_waiting_on_postgres_commit_together_and_each_reads_the_one_before() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let server = postgres_server(&db).await;
    let store = Store::connect(&db.url).await.unwrap();
    let raw = db.raw().await;
    let waiting = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&raw)
        .await
        .unwrap()
    };
    // Every batch this server may run at once waits for a person whose
    // lock another transaction holds: what comes next queues.
    let mut held = Vec::new();
    let mut blocked = Vec::new();
    for n in 0..POSTGRES_BATCHES_AT_ONCE {
        let phone = format!("+24383{n:07}");
        held.push(store.begin(&phone).await.unwrap());
        let server = server.clone();
        blocked.push(tokio::spawn(async move { say(&server, &phone, "Bonjour", 0).await }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while waiting().await < n as i64 + 1 {
            assert!(tokio::time::Instant::now() < deadline, "batch {n} waits for its person's lock");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Twelve people, two messages each, queued in this order.
    let turns: Vec<(String, &str, usize)> = (0..12)
        .flat_map(|n| {
            let phone = format!("+24384{n:07}");
            [(phone.clone(), "Bonjour", 0), (phone, "MBENGUE", 1)]
        })
        .collect();
    let queued = {
        let server = server.clone();
        tokio::spawn(
            async move { join_all(turns.iter().map(|(phone, text, step)| say(&server, phone, text, *step))).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!queued.is_finished(), "nothing is stored while every batch waits");
    drop(held);
    for task in blocked {
        task.await.unwrap();
    }
    let handled = queued.await.unwrap();
    for (index, handled) in handled.iter().enumerate() {
        assert_eq!(handled.shared_commit_with, 11, "turn {index}: one transaction for the twelve people");
        let asked = format!("{:?}", handled.replies);
        if index % 2 == 1 {
            // The second message read the session the first wrote: the last name was asked for.
            assert!(asked.contains("first_name") || asked.contains("prénom"), "turn {index}: {asked}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_answers_again_on_postgres_find_their_record_in_a_batch_or_after_it() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let server = postgres_server(&db).await;
    let finish = |phone: String| {
        let server = server.clone();
        async move {
            let mut last = None;
            for (step, text) in conversation(0).iter().enumerate() {
                last = Some(say(&server, &phone, text, step).await);
            }
            last.unwrap().registration
        }
    };
    // Once alone, then three phones at once, which may share a batch.
    let first = finish("+24385000000".to_string()).await;
    let together = join_all((1..4).map(|n| tokio::spawn(finish(format!("+2438500000{n}"))))).await;
    assert_eq!(first, Some(uic::core::engine::Registration::New));
    for registration in together {
        assert_eq!(registration.unwrap(), Some(uic::core::engine::Registration::SameAnswers));
    }
    let raw = db.raw().await;
    let (records, requests): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(request_count) AS BIGINT) FROM uic_records")
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!((records, requests), (1, 4), "one record, asked for four times");
}
