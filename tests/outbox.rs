//! The outbox on both backends: jobs written with their turn, claimed with a
//! lease, delivered in order per recipient, retried with backoff, given up
//! after the last attempt, revived by an operator, and never lost when a
//! worker dies.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uic::store::{Job, JobFilter, JobStatus, MessageStatus, NewJob, SentStatus, Store};
use uic::turn::outbox::{Deliverer, DeliveryError, Pass, RetryPolicy, Worker};

use crate::support::both;
use crate::support::db::{Backend, TestDb};
use crate::support::t0;

fn job<'a>(recipient: &'a str, payload: &'a str) -> NewJob<'a> {
    NewJob { kind: "test", recipient, payload }
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

/// A deliverer that records what it delivers and fails as told.
#[derive(Default)]
struct Recorder {
    delivered: Mutex<Vec<String>>,
    /// Payloads that fail (retryably) this many more times.
    failures: Mutex<Vec<(String, u32)>>,
    permanent: Mutex<Vec<String>>,
}

impl Recorder {
    fn fail(&self, payload: &str, times: u32) {
        self.failures.lock().unwrap().push((payload.to_string(), times));
    }
    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Deliverer for Recorder {
    fn deliver<'a>(
        &'a self,
        job: &'a Job,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(async move {
            if self.permanent.lock().unwrap().contains(&job.payload) {
                return Err(DeliveryError::Permanent("error 131047: outside the 24-hour window".into()));
            }
            let mut failures = self.failures.lock().unwrap();
            if let Some((_, left)) = failures.iter_mut().find(|(payload, left)| *payload == job.payload && *left > 0) {
                *left -= 1;
                return Err(DeliveryError::Retry("HTTP 503 from the provider".into()));
            }
            drop(failures);
            self.delivered.lock().unwrap().push(job.payload.clone());
            Ok(())
        })
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(10),
        max: Duration::from_secs(600),
        max_attempts: 3,
        margin: Duration::from_secs(5),
        batch: 10,
        idle: Duration::from_millis(10),
        pause: Duration::from_millis(200),
        unsure: Duration::from_secs(5),
    }
}

async fn statuses(store: &Store) -> Vec<(String, String, u32)> {
    let mut jobs = store.list_jobs(JobFilter::All, 100).await.unwrap();
    jobs.sort_by_key(|job| job.id);
    jobs.into_iter().map(|job| (job.payload, job.status.to_string(), job.attempts)).collect()
}

both!(a_job_exists_only_if_its_turn_commits, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    {
        let mut tx = store.begin("+243810000001").await.unwrap();
        tx.enqueue(job("+243810000001", "rolled back"), t0()).await.unwrap();
    }
    let mut tx = store.begin("+243810000001").await.unwrap();
    tx.enqueue(job("+243810000001", "committed"), t0()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(statuses(&store).await, [("committed".to_string(), "pending".to_string(), 0)]);
});

both!(one_recipients_jobs_leave_in_order_even_across_retries, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    for payload in ["a1", "a2", "a3"] {
        store.enqueue(job("+A", payload), t0()).await.unwrap();
    }
    store.enqueue(job("+B", "b1"), t0()).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    recorder.fail("a1", 1);
    let worker = Worker::new(store.clone(), policy()).with("test", recorder.clone());

    // Pass 1: a1 fails (retry in 5–10 s); a2 must wait behind it; b1 goes.
    let pass = worker.run_once(at(0)).await.unwrap();
    assert_eq!(pass, Pass { delivered: 1, retried: 1, given_up: 0 });
    assert_eq!(recorder.delivered(), ["b1"]);
    // Before the retry time nothing of +A moves.
    assert_eq!(worker.run_once(at(4)).await.unwrap(), Pass::default());
    // After it, one job per pass for +A, in order.
    for (second, expected) in [(11, vec!["b1", "a1"]), (12, vec!["b1", "a1", "a2"]), (13, vec!["b1", "a1", "a2", "a3"])]
    {
        worker.run_once(at(second)).await.unwrap();
        assert_eq!(recorder.delivered(), expected);
    }
    let done = statuses(&store).await;
    assert!(done.iter().all(|(_, status, _)| status == "done"), "{done:?}");
    assert_eq!(done[0].2, 2, "a1 took two attempts");
});

both!(a_job_is_given_up_after_the_last_attempt_and_an_operator_can_revive_it, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "flaky"), t0()).await.unwrap();
    store.enqueue(job("+B", "never"), t0()).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    recorder.fail("flaky", 10);
    recorder.permanent.lock().unwrap().push("never".into());
    let worker = Worker::new(store.clone(), policy()).with("test", recorder.clone());
    let mut now = 0;
    for _ in 0..3 {
        worker.run_once(at(now)).await.unwrap();
        now += 700; // past any backoff
    }
    let jobs = store.list_jobs(JobStatus::Dead, 10).await.unwrap();
    let mut dead: Vec<(String, u32, String)> =
        jobs.into_iter().map(|job| (job.payload, job.attempts, job.last_error.unwrap_or_default())).collect();
    dead.sort();
    assert_eq!(
        dead,
        [
            ("flaky".to_string(), 3, "HTTP 503 from the provider".to_string()),
            ("never".to_string(), 1, "error 131047: outside the 24-hour window".to_string()),
        ]
    );
    // Given up jobs are not claimed again...
    assert_eq!(worker.run_once(at(now)).await.unwrap(), Pass::default());
    // ...until an operator retries one; unknown ids say so.
    let flaky =
        store.list_jobs(JobStatus::Dead, 10).await.unwrap().into_iter().find(|job| job.payload == "flaky").unwrap();
    recorder.failures.lock().unwrap().clear();
    assert!(store.retry_job(flaky.id, at(now)).await.unwrap());
    assert!(!store.retry_job(9_999, at(now)).await.unwrap());
    let revived = store.list_jobs(JobStatus::Pending, 10).await.unwrap();
    assert_eq!((revived[0].payload.as_str(), revived[0].attempts), ("flaky", 0), "a fresh set of attempts");
    assert_eq!(worker.run_once(at(now)).await.unwrap().delivered, 1);
    assert!(store.drop_job(flaky.id).await.unwrap());
    assert!(!store.drop_job(flaky.id).await.unwrap());
    // Every given-up job at once: "never" is the one left.
    assert_eq!(store.retry_dead_jobs(at(now)).await.unwrap(), 1);
    assert_eq!(store.list_jobs(JobStatus::Dead, 10).await.unwrap(), []);
});

both!(a_delivered_job_hands_over_to_its_recipients_next_one, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    for (recipient, payload) in [("+A", "a1"), ("+A", "a2"), ("+B", "b1"), ("+A", "a3")] {
        store.enqueue(job(recipient, payload), t0()).await.unwrap();
    }
    let claimed = store.claim_jobs(at(0), at(60), 10).await.unwrap();
    let payloads: Vec<&str> = claimed.iter().map(|job| job.payload.as_str()).collect();
    assert_eq!(payloads, ["a1", "b1"], "one job per recipient");
    let a1 = &claimed[0];
    let a2 = store.job_done_claim_next(a1, at(1), at(61)).await.unwrap().expect("a2 follows a1");
    assert_eq!((a2.payload.as_str(), a2.attempts), ("a2", 1));
    // Claimed: a general claim does not take it again, nor a3 behind it.
    assert!(store.claim_jobs(at(2), at(62), 10).await.unwrap().is_empty());
    // A job not yet due is not handed over.
    store.job_failed(a2.id, Some(at(100)), "HTTP 503", at(3)).await.unwrap();
    assert_eq!(store.job_done_claim_next(&claimed[1], at(4), at(64)).await.unwrap(), None, "B has nothing more");
    let a3_blocked = store.claim_jobs(at(5), at(65), 10).await.unwrap();
    assert!(a3_blocked.is_empty(), "a3 waits behind a2's retry: {a3_blocked:?}");
    let statuses = statuses(&store).await;
    assert_eq!(statuses.iter().filter(|(_, status, _)| status == "done").count(), 2);
});

both!(the_cleanup_removes_delivered_jobs_and_old_statuses_only, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    for (recipient, payload) in [("+A", "delivered"), ("+B", "given up"), ("+C", "waiting")] {
        store.enqueue(job(recipient, payload), t0()).await.unwrap();
    }
    let claimed = store.claim_jobs(at(0), at(60), 10).await.unwrap();
    store.job_done(claimed[0].id, at(1)).await.unwrap();
    store.job_failed(claimed[1].id, None, "Meta error 131047", at(1)).await.unwrap();
    let status =
        |message_id| SentStatus { channel: "meta", message_id, job_id: None, status: MessageStatus::Read, error: None };
    store.record_sent(status("wamid.old"), at(1)).await.unwrap();
    store.record_sent(status("wamid.new"), at(5000)).await.unwrap();
    // Before the cutoffs nothing goes; after them, the delivered job and the old status.
    assert_eq!(store.cleanup_delivered(at(0), at(0)).await.unwrap(), 0);
    assert_eq!(store.cleanup_delivered(at(3600), at(4000)).await.unwrap(), 2);
    let left: Vec<(String, String, u32)> = statuses(&store).await;
    let left: Vec<&str> = left.iter().map(|(payload, _, _)| payload.as_str()).collect();
    assert_eq!(left, ["given up", "waiting"]);
    let (statuses,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sent_messages").fetch_one(&db.raw().await).await.unwrap();
    assert_eq!(statuses, 1);
});

both!(a_worker_that_dies_loses_nothing, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "a1"), t0()).await.unwrap();
    // A worker claims the job and dies before finishing it.
    let claimed = store.claim_jobs(at(0), at(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // While its lease runs, nobody else takes the job.
    assert!(store.claim_jobs(at(30), at(90), 10).await.unwrap().is_empty());
    // After it, a new worker (after a restart, or in another process) does.
    let recorder = Arc::new(Recorder::default());
    let worker = Worker::new(store.clone(), policy()).with("test", recorder.clone());
    assert_eq!(worker.run_once(at(61)).await.unwrap().delivered, 1);
    assert_eq!(recorder.delivered(), ["a1"]);
});

both!(unknown_kinds_are_given_up_with_a_clear_error, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(NewJob { kind: "carrier_pigeon", recipient: "+A", payload: "{}" }, t0()).await.unwrap();
    let worker = Worker::new(store.clone(), policy());
    assert_eq!(worker.run_once(at(0)).await.unwrap().given_up, 1);
    let dead = store.list_jobs(JobStatus::Dead, 10).await.unwrap();
    assert_eq!(dead[0].last_error.as_deref(), Some("no deliverer for jobs of kind `carrier_pigeon`"));
});

/// Two processes on one PostgreSQL database claim disjoint jobs, and still
/// one job per recipient at a time.
#[tokio::test]
async fn two_workers_on_one_postgres_database_never_claim_the_same_job() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let one = Store::connect(&db.url).await.unwrap();
    let two = Store::connect(&db.url).await.unwrap();
    for n in 0..40 {
        one.enqueue(job(&format!("+{}", n % 10), &format!("job{n}")), t0()).await.unwrap();
    }
    let (a, b) = tokio::join!(one.claim_jobs(at(0), at(60), 40), two.claim_jobs(at(0), at(60), 40));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<i64> = a.iter().chain(&b).map(|job| job.id).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no job claimed twice");
    let mut recipients: Vec<&str> = a.iter().chain(&b).map(|job| job.recipient.as_str()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), total, "one job per recipient at a time");
    assert!(total <= 10);
}

#[tokio::test]
async fn operators_list_retry_and_drop_jobs_from_the_command_line() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(NewJob { kind: "meta_reply", recipient: "+A", payload: "{}" }, t0()).await.unwrap();
    Worker::new(store.clone(), policy()).run_once(at(0)).await.unwrap();
    store.close().await;

    let uic = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_uic"))
            .args(args)
            .args(["--db", &db.url])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string())
    };
    let (ok, listed) = uic(&["outbox", "list", "--status", "dead"]);
    assert!(ok);
    assert!(listed.contains("meta_reply") && listed.contains("no deliverer for jobs of kind `meta_reply`"), "{listed}");
    let id = listed.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(uic(&["outbox", "retry", &id]), (true, format!("job {id} is due now\n")));
    assert!(uic(&["outbox", "list", "--status", "pending"]).1.contains("meta_reply"));
    assert_eq!(uic(&["outbox", "retry", "--dead"]), (true, "0 given-up job(s) are due now\n".to_string()));
    assert_eq!(uic(&["outbox", "drop", &id]), (true, format!("job {id} deleted\n")));
    assert!(!uic(&["outbox", "drop", &id]).0, "a second drop finds nothing");
    assert_eq!(uic(&["outbox", "list"]).1, "no jobs\n");
}

/// Delivers after a long wait, as a DHIS2 that takes its time.
struct Slow;

impl Deliverer for Slow {
    fn deliver<'a>(
        &'a self,
        _job: &'a Job,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
    }
}

both!(slow_kinds_in_a_worker_of_their_own_never_hold_up_the_others, |db| async move {
    use uic::store::Kinds;
    let store = Store::connect(&db.url).await.unwrap();
    // More slow jobs than a worker's deliveries in flight, written first.
    for n in 0..40 {
        let recipient = format!("dhis2:CODE{n}");
        store.enqueue(NewJob { kind: "slow", recipient: &recipient, payload: "register" }, Utc::now()).await.unwrap();
    }
    for n in 0..5 {
        store.enqueue(job(&format!("+24381000000{n}"), &format!("reply {n}")), Utc::now()).await.unwrap();
    }
    let replies = Arc::new(Recorder::default());
    let slow = Worker::new(store.clone(), policy()).claiming(Kinds::Only("slow")).with("slow", Arc::new(Slow));
    let quick = Worker::new(store.clone(), policy()).claiming(Kinds::Except("slow")).with("test", replies.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let slow = tokio::spawn(slow.run(until(stopped.clone())));
    let quick = tokio::spawn(quick.run(until(stopped)));
    let started = std::time::Instant::now();
    while replies.delivered().len() < 5 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(replies.delivered().len(), 5, "every reply left while the slow jobs hang");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // Their outcomes are recorded just after delivery.
    let mut done = 0;
    while done < 5 && started.elapsed() < Duration::from_secs(10) {
        done = store.list_jobs(JobStatus::Done, 100).await.unwrap().len();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(done, 5);
    let pending = store.list_jobs(JobStatus::Pending, 100).await.unwrap();
    assert!(pending.iter().all(|job| job.kind == "slow"), "only slow jobs wait: {pending:?}");
    let _ = stop.send(true);
    slow.abort();
    let _ = quick.await;
});

/// `uic serve` (the real binary) is killed with SIGKILL while a Graph API
/// request is in flight, and started again on the same database: the
/// silence is the time from the kill to the person's welcome reaching Meta.
/// Returns it.
async fn silence_after_kill_9(db: &TestDb) -> Duration {
    use crate::support::graph::{Failure, FakeGraph};
    use crate::support::meta;
    use crate::support::process::ServerProcess;

    let graph = FakeGraph::start();
    // The first request (the read receipt) hangs far past any bound of the test.
    graph.fail_next(1, Failure::Delay(Duration::from_secs(600)));
    let dir = tempfile::tempdir().expect("temp dir");
    let vars: Vec<(&str, String)> = vec![
        ("META_ACCESS_TOKEN", meta::ACCESS_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", meta::PHONE_NUMBER_ID.into()),
        ("META_APP_SECRET", meta::APP_SECRET.into()),
        ("META_WEBHOOK_VERIFY_TOKEN", meta::VERIFY_TOKEN.into()),
        ("META_API_BASE_URL", graph.base.clone()),
        ("META_API_VERSION", meta::API_VERSION.into()),
        ("META_API_TIMEOUT_SECONDS", "5".into()),
    ];
    let mut server = ServerProcess::start_with(dir.path(), &db.url, &vars).await;
    let bytes = meta::meta_bytes(&meta::text("+243810000777", &meta::wamid(), "Bonjour"));
    let response = crate::support::http_client()
        .build()
        .unwrap()
        .post(format!("{}/whatsapp/webhook", server.base))
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", meta::sign(meta::APP_SECRET, &bytes))
        .body(bytes)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(response.status(), 200);
    // Killed once the read receipt is claimed (its request is then hanging in the fake).
    let pool = db.raw().await;
    let started = std::time::Instant::now();
    loop {
        let (claimed,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND locked_until IS NOT NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        if claimed > 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the read receipt is claimed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill().await;
    let killed = std::time::Instant::now();
    let restarted = ServerProcess::start_with(dir.path(), &db.url, &vars).await;
    // Before issue #14 the claim held for 120 s whatever the timeout: wait past that, to measure.
    while graph.sent().is_empty() && killed.elapsed() < Duration::from_secs(180) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let silence = killed.elapsed();
    let sent = graph.sent();
    assert_eq!(sent.len(), 1, "the welcome, once: {sent:#?}");
    assert!(sent[0]["interactive"]["body"]["text"].as_str().or(sent[0]["text"]["body"].as_str()).is_some());
    drop(restarted);
    graph.assert_no_violations();
    silence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_sqlite_sends_at_once_on_restart() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let silence = silence_after_kill_9(&db).await;
    eprintln!("outbox: {silence:?} of silence after kill -9 on SQLite (restart included)");
    // The restart's own time on a loaded machine, and nothing for the dead process's claim.
    assert!(silence < Duration::from_secs(30), "{silence:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_postgres_sends_once_a_claim_as_long_as_two_requests_lapses() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let silence = silence_after_kill_9(&db).await;
    eprintln!("outbox: {silence:?} of silence after kill -9 on PostgreSQL (restart included)");
    // META_API_TIMEOUT_SECONDS=5: a claim of 2 × 5 s + 5 s, and the restart.
    assert!(silence < Duration::from_secs(45), "{silence:?}");
}

/// A job's status and whether it is claimed.
async fn claim_of(store: &Store, pool: &sqlx::AnyPool) -> (JobStatus, bool) {
    let jobs = store.list_jobs(JobFilter::All, 10).await.unwrap();
    let (locked,): (Option<String>,) =
        sqlx::query_as("SELECT CAST(locked_until AS TEXT) FROM outbox").fetch_one(pool).await.unwrap();
    (jobs[0].status, locked.is_some())
}

/// A server started on a SQLite file frees the claims in it only when it is
/// the only server there: here the test holds the lock a running `uic serve`
/// holds, and the claim (a live worker's) is left alone until it lets go.
#[tokio::test]
async fn a_sqlite_server_frees_claims_at_start_only_when_it_is_the_only_one() {
    use crate::support::server::TestServer;
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "in flight elsewhere"), Utc::now()).await.unwrap();
    let claimed = store.claim_jobs(Utc::now(), Utc::now() + chrono::Duration::hours(1), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let pool = db.raw().await;

    let path = format!("{}.serve-lock", uic::store::sqlite_path(&db.url).unwrap());
    let running = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
    running.try_lock().unwrap();
    let second = TestServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    assert_eq!(claim_of(&store, &pool).await, (JobStatus::Pending, true), "another server's claim is left alone");
    second.stop().await.unwrap();

    drop(running);
    let only = TestServer::start_with(&[("DATABASE_URL", &db.url)]).await;
    // Freed, the job is claimed at once; nobody delivers `test` jobs, so it is given up.
    let started = std::time::Instant::now();
    while claim_of(&store, &pool).await.0 == JobStatus::Pending && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(claim_of(&store, &pool).await, (JobStatus::Dead, false));
    only.stop().await.unwrap();
}

/// Refuses everything as paused (a refused token) until told otherwise.
#[derive(Default)]
struct Refusing {
    calls: std::sync::atomic::AtomicUsize,
    accepted: std::sync::atomic::AtomicBool,
}

impl Deliverer for Refusing {
    fn deliver<'a>(
        &'a self,
        _job: &'a Job,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(async move {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.accepted.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(())
            } else {
                Err(DeliveryError::Paused("Meta error 190 (HTTP 401)".into()))
            }
        })
    }
}

both!(a_paused_kind_keeps_its_jobs_waiting_uncounted_and_asks_once_per_pause, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "a1"), Utc::now()).await.unwrap();
    store.enqueue(job("+A", "a2"), Utc::now()).await.unwrap();
    let refusing = Arc::new(Refusing::default());
    let policy = RetryPolicy { pause: Duration::from_millis(300), ..policy() };
    let worker = Worker::new(store.clone(), policy).with("test", refusing.clone());
    // Many passes, many more than the 3 attempts of the policy: nothing is given up.
    for _ in 0..20 {
        worker.run_once(Utc::now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = refusing.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=5).contains(&calls), "about one request per pause of 300 ms in 1 s, got {calls}");
    let waiting = statuses(&store).await;
    assert_eq!(waiting, [("a1".into(), "pending".into(), 0), ("a2".into(), "pending".into(), 0)]);
    // Accepted again: the jobs leave once the pause is over, in order.
    refusing.accepted.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    worker.run_once(Utc::now()).await.unwrap();
    worker.run_once(Utc::now()).await.unwrap();
    let done = statuses(&store).await;
    assert_eq!(done, [("".into(), "done".into(), 1), ("".into(), "done".into(), 1)]);
});

both!(a_given_up_message_overtaken_by_a_delivered_one_is_never_sent_after_it, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    recorder.permanent.lock().unwrap().push("welcome".into());
    let worker = Worker::new(store.clone(), policy()).with("test", recorder.clone());
    store.enqueue(job("+A", "welcome"), t0()).await.unwrap();
    store.enqueue(job("+B", "b: given up, nothing after it"), t0()).await.unwrap();
    recorder.permanent.lock().unwrap().push("b: given up, nothing after it".into());
    worker.run_once(at(0)).await.unwrap();
    // The person writes again; their code is delivered.
    store.enqueue(job("+A", "your code"), at(10)).await.unwrap();
    worker.run_once(at(10)).await.unwrap();
    assert_eq!(recorder.delivered(), ["your code"]);
    // The operator revives what was given up: the welcome would now arrive after the code.
    recorder.permanent.lock().unwrap().clear();
    assert_eq!(store.retry_dead_jobs(at(20)).await.unwrap(), 1, "only B's job, which nothing overtook");
    worker.run_once(at(20)).await.unwrap();
    assert_eq!(recorder.delivered(), ["your code", "b: given up, nothing after it"]);
    let jobs = store.list_jobs(JobFilter::All, 10).await.unwrap();
    let welcome = jobs.iter().find(|job| job.recipient == "+A" && job.status != JobStatus::Done).unwrap();
    assert_eq!(welcome.status, JobStatus::Overtaken);
    assert_eq!(welcome.payload, "", "an overtaken job keeps no text");
    assert!(!store.retry_job(welcome.id, at(30)).await.unwrap(), "nor can it be retried by its id");
    assert_eq!(store.list_jobs(JobStatus::Overtaken, 10).await.unwrap().len(), 1);
    // Overtaken jobs are not a backlog, and go with the delivered ones.
    assert!(store.job_counts().await.unwrap().iter().all(|count| count.status != JobStatus::Overtaken));
    store.cleanup_delivered(at(4000), at(0)).await.unwrap();
    assert_eq!(store.list_jobs(JobFilter::All, 10).await.unwrap(), []);
});

both!(a_message_revived_while_a_later_one_waits_goes_first, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    recorder.permanent.lock().unwrap().push("welcome".into());
    let worker = Worker::new(store.clone(), policy()).with("test", recorder.clone());
    store.enqueue(job("+A", "welcome"), t0()).await.unwrap();
    worker.run_once(at(0)).await.unwrap();
    store.enqueue(job("+A", "question 1"), at(10)).await.unwrap();
    recorder.permanent.lock().unwrap().clear();
    assert_eq!(store.retry_dead_jobs(at(10)).await.unwrap(), 1);
    worker.run_once(at(10)).await.unwrap();
    worker.run_once(at(11)).await.unwrap();
    assert_eq!(recorder.delivered(), ["welcome", "question 1"]);
});

both!(given_up_jobs_are_forgotten_after_the_retention_registrations_kept, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "old text to +A"), t0()).await.unwrap();
    store
        .enqueue(NewJob { kind: "dhis2", recipient: "dhis2:CODE1", payload: "{\"uic\":\"CODE1\"}" }, t0())
        .await
        .unwrap();
    store.enqueue(job("+B", "recent text to +B"), t0()).await.unwrap();
    let claimed = store.claim_jobs(at(0), at(60), 10).await.unwrap();
    store.job_failed(claimed[0].id, None, "Meta error 131047", at(1)).await.unwrap();
    store.job_failed(claimed[1].id, None, "token refused (HTTP 401)", at(1)).await.unwrap();
    store.job_failed(claimed[2].id, None, "Meta error 131047", at(5000)).await.unwrap();
    // Retention of an hour, at t0 + 2 h: A's text goes; B's is recent; the
    // registration (no phone number, no text, revived by `uic dhis2 resync`) stays.
    assert_eq!(store.forget_dead_jobs(at(7200 - 3600), "dhis2").await.unwrap(), 1);
    let left: Vec<String> = statuses(&store).await.into_iter().map(|(payload, _, _)| payload).collect();
    assert_eq!(left, ["{\"uic\":\"CODE1\"}", "recent text to +B"]);
});

both!(a_status_for_an_unknown_message_settles_only_a_reply_whose_outcome_is_unknown, |db| async move {
    use uic::store::OUTCOME_UNKNOWN;
    let store = Store::connect(&db.url).await.unwrap();
    let meta = |recipient, payload| NewJob { kind: "meta", recipient, payload };
    store.enqueue(meta("+A", "timed out"), t0()).await.unwrap();
    store.enqueue(meta("+A", "after it"), t0()).await.unwrap();
    store.enqueue(meta("+B", "refused: 503"), t0()).await.unwrap();
    let claimed = store.claim_jobs(at(0), at(60), 10).await.unwrap();
    let (a, b) = (&claimed[0], &claimed[1]);
    store
        .job_failed(a.id, Some(at(20)), &format!("{OUTCOME_UNKNOWN}Graph API request timed out"), at(1))
        .await
        .unwrap();
    store.job_failed(b.id, Some(at(20)), "Meta error 2 (HTTP 503)", at(1)).await.unwrap();
    // A message we sent and recorded is not the timed-out one.
    let known = SentStatus {
        channel: "meta",
        message_id: "wamid.known",
        job_id: Some(99),
        status: MessageStatus::Accepted,
        error: None,
    };
    store.record_sent(known, at(1)).await.unwrap();
    assert_eq!(store.settle_unsure("meta", "+A", "meta", "wamid.known", at(2)).await.unwrap(), None);
    // B's request was refused: nothing of it reached Meta.
    assert_eq!(store.settle_unsure("meta", "+B", "meta", "wamid.b", at(2)).await.unwrap(), None);
    // Another kind, or another person, settles nothing.
    assert_eq!(store.settle_unsure("dhis2", "+A", "meta", "wamid.a", at(2)).await.unwrap(), None);
    assert_eq!(store.settle_unsure("meta", "+C", "meta", "wamid.a", at(2)).await.unwrap(), None);
    // A's timed-out reply is settled, once; the next one becomes due.
    assert_eq!(store.settle_unsure("meta", "+A", "meta", "wamid.a", at(2)).await.unwrap(), Some(a.id));
    assert_eq!(store.settle_unsure("meta", "+A", "meta", "wamid.a2", at(3)).await.unwrap(), None);
    let next = store.claim_jobs(at(3), at(63), 10).await.unwrap();
    assert_eq!(next.iter().map(|job| job.payload.as_str()).collect::<Vec<_>>(), ["after it"]);
});

/// Never answers, and says its attempts take 200 ms at most.
struct Hanging;

impl Deliverer for Hanging {
    fn deliver<'a>(
        &'a self,
        _job: &'a Job,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(std::future::pending())
    }

    fn longest_attempt(&self) -> Duration {
        Duration::from_millis(200)
    }
}

both!(an_attempt_past_its_bound_is_dropped_before_its_claim_lapses, |db| async move {
    let store = Store::connect(&db.url).await.unwrap();
    store.enqueue(job("+A", "a1"), t0()).await.unwrap();
    let worker = Worker::new(store.clone(), policy()).with("test", Arc::new(Hanging));
    assert_eq!(worker.lease(), Duration::from_millis(200) + policy().margin, "the claim: the bound and the margin");
    let pass = tokio::time::timeout(Duration::from_secs(30), worker.run_once(at(0))).await.expect("bounded");
    assert_eq!(pass.unwrap(), Pass { delivered: 0, retried: 1, given_up: 0 });
    let jobs = store.list_jobs(JobStatus::Pending, 10).await.unwrap();
    // It may have got through: retried no sooner than the unsure wait, unless the provider reports it.
    assert_eq!(jobs[0].last_error.as_deref(), Some("outcome unknown: no outcome within 0.2 s"));
    assert!(jobs[0].next_attempt_at >= at(0) + chrono::Duration::seconds(5), "{:?}", jobs[0].next_attempt_at);
});
