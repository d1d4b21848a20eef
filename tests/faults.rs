//! Faults under load (issue 4, item 9).
//!
//! - PostgreSQL goes away in the middle of many conversations: a TCP proxy
//!   written here stands between a server and PostgreSQL and is cut (every
//!   live connection closed; new ones reset at once, or accepted and never
//!   answered) and then restored. While it is cut, webhooks answer 503 and
//!   `/health` 503, within Twilio's 15 seconds; the database, read directly,
//!   holds only whole turns; once it is restored the same messages,
//!   redelivered with the same `MessageSid`, succeed without a restart, and
//!   everyone gets their code.
//! - The real `uic serve` binary is killed with SIGKILL in the middle of 30
//!   conversations and started again on the same database: every code a person
//!   was sent is recorded once, every session is at a whole step, and everyone
//!   finishes.
//!
//! A delivery that failed may still have committed: the database did the
//! work but its answer was lost with the connection (or the process). Then
//! the turn's session, processed message id and code are all there, and the
//! redelivery gets the stored replies; the checks below allow exactly that
//! and nothing in between. Messages first sent after the fault cannot have
//! committed, and the checks require that they did not.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uic::channels::twilio;

use crate::support::db::{Backend, TestDb};
use crate::support::process::ServerProcess;
use crate::support::server::{AUTH_TOKEN, Message, TestServer, Twiml, form, message_sid, phone};

/// Twilio gives up on a webhook after 15 seconds: every request must be
/// answered within that, outage or not.
const REQUEST_BOUND: Duration = Duration::from_secs(15);
/// Bounds every other wait of these tests (a state reached, a server started).
const SETTLE_BOUND: Duration = Duration::from_secs(40);
/// How long a person waits before Twilio redelivers a message answered 503.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The server's connections carry this name, so the tests can see them in
/// `pg_stat_activity` and wait until PostgreSQL has let go of every one.
const APPLICATION_NAME: &str = "uic-faults";

/// The DRC flow's steps, in order.
const STEPS: [&str; 5] = ["last_name", "first_name", "birth_year", "birth_city", "gender"];
/// `Bonjour` and five answers.
const MESSAGES: usize = 6;
/// Gated people wait here (after two messages answered) until the fault has happened.
const GATE_AT: usize = 2;

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_mid_load_connections_reset_gives_503_and_recovers_by_itself() {
    database_outage_mid_load(Outage::Reset, 800).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_mid_load_connections_blackholed_gives_503_and_recovers_by_itself() {
    database_outage_mid_load(Outage::Blackhole, 900).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_load_loses_no_completed_conversation_sqlite() {
    killed_mid_load(Backend::Sqlite, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_load_loses_no_completed_conversation_postgres() {
    killed_mid_load(Backend::Postgres, 1100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_batches_commit_loses_no_answered_turn_sqlite() {
    killed_while_busy(Backend::Sqlite, 1200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_turns_commit_loses_no_answered_turn_postgres() {
    killed_while_busy(Backend::Postgres, 1300).await;
}

/// Eight people talk to a server whose PostgreSQL goes away: half of them are
/// held after two answers until it has gone (so their next message meets only
/// a missing database); the others talk on, at different paces, and the cut
/// comes once one of them has their code.
async fn database_outage_mid_load(outage: Outage, first_phone: u32) {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let (upstream, _) = through_port(&db.url, 0);
    let proxy = DbProxy::start(upstream).await;
    let (_, proxied) = through_port(&db.url, proxy.port);
    let server = TestServer::start_with(&[("DATABASE_URL", &with_application_name(&proxied))]).await;
    let target = Target::new(&server.base);
    let load = Load::new(people(8, first_phone), Fault::DatabaseDown, target.clone());
    let mut tasks = load.spawn();

    load.settle(&mut tasks, "mid-load", |progress| load.mid_load(progress)).await;
    let closed = proxy.cut(outage).await;
    let cut_at = Instant::now();
    load.open_gate();

    // Everyone still talking has had a 503 since: no turn is in progress.
    load.settle(&mut tasks, "a 503 for everyone not done", |progress| {
        progress.iter().all(|p| matches!(p.phase, Phase::Done | Phase::Failing))
    })
    .await;
    let (status, body) = target.get("/health").await;
    assert_eq!(status, 503, "/health with the database gone: {body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(health["status"], "unhealthy", "{body}");
    assert_eq!(health["database"], "unreachable", "{body}");

    // PostgreSQL has let go of every connection of the server: what it holds
    // now is final. Read it directly, past the proxy.
    wait_until_disconnected(&db).await;
    let progress = load.progress();
    let during = Snapshot::read(&db.raw().await, Backend::Postgres).await;
    let committed = check_consistent(&during, &load.people, &progress, |k| load.people[k].gated);
    let interrupted = progress.iter().filter(|p| p.acked < MESSAGES).count();
    let finished = progress.iter().filter(|p| p.acked == MESSAGES).count();
    assert!(finished >= 1 && interrupted >= 4, "some finished before the cut, not the gated half: {progress:?}");

    // Back again: nothing restarts, the same messages are redelivered.
    proxy.resume();
    let down_for = cut_at.elapsed();
    let resumed_at = Instant::now();
    wait_until_healthy(&target).await;
    let healthy_after = resumed_at.elapsed();
    load.finish(tasks).await;

    let after = Snapshot::read(&db.raw().await, Backend::Postgres).await;
    check_all_done(&after, &load.people);
    let progress = load.progress();
    let failures: u32 = progress.iter().map(|p| p.failures).sum();
    let slowest = progress.iter().map(|p| p.slowest_failure).max().unwrap_or_default();
    assert!(failures as usize >= interrupted, "every interrupted person had a 503");
    eprintln!(
        "faults: PostgreSQL {outage:?}: {closed} live connection(s) closed, down {down_for:.1?}; {interrupted} of \
         {} people interrupted ({finished} had their code); {failures} answers 503 (slowest {slowest:.1?}), \
         {committed} failed delivery(ies) had committed; healthy {healthy_after:.1?} after the database returned; \
         everyone finished",
        load.people.len()
    );
}

/// Thirty people talk to the real binary, which is killed with SIGKILL while
/// half of them are held after two answers and the others talk on, at
/// different paces, a quarter of them already with their code.
async fn killed_mid_load(backend: Backend, first_phone: u32) {
    let Some(db) = TestDb::new(backend).await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => db.url.clone(),
        Backend::Postgres => with_application_name(&db.url),
    };
    let mut server = ServerProcess::start(dir.path(), &url).await;
    let load = Load::new(people(30, first_phone), Fault::ServerKilled, Target::new(&server.base));
    let mut tasks = load.spawn();

    load.settle(&mut tasks, "mid-load", |progress| load.mid_load(progress)).await;
    // The kill lands while turns are being committed, on SQLite several
    // people's in one transaction (group commit): it has happened already.
    let grouped = turns_grouped(&metrics_text(&Target::new(&server.base)).await);
    server.kill().await;
    if backend == Backend::Sqlite {
        assert!(grouped > 0.0, "turns were committed in batches before the kill");
    }
    load.settle(&mut tasks, "everyone stopped", |progress| {
        progress.iter().all(|p| matches!(p.phase, Phase::Done | Phase::Failing | Phase::AtGate))
    })
    .await;
    if backend == Backend::Postgres {
        wait_until_disconnected(&db).await;
    }
    let progress = load.progress();
    let during = Snapshot::read(&db.raw().await, backend).await;
    let committed = check_consistent(&during, &load.people, &progress, |_| false);
    let finished = progress.iter().filter(|p| p.acked == MESSAGES).count();
    let cut_off = progress.iter().filter(|p| p.phase == Phase::Failing).count();
    let to_go = MESSAGES * load.people.len() - progress.iter().map(|p| p.acked).sum::<usize>();
    assert!((4..=15).contains(&finished), "a quarter of the free half finished, no gated person: {progress:?}");

    // Started again on the same database: the interrupted carry on.
    let mut restarted = ServerProcess::start(dir.path(), &url).await;
    load.retarget(Target::new(&restarted.base));
    load.open_gate();
    load.finish(tasks).await;
    let after = Snapshot::read(&db.raw().await, backend).await;
    check_all_done(&after, &load.people);
    restarted.kill().await;
    eprintln!(
        "faults: kill -9 on {backend:?}: {finished} of {} people had their code, {cut_off} lost a request to the \
         kill ({committed} of those requests had committed), {to_go} messages still to go, {grouped} turns \
         committed with others before the kill; all finished after the restart",
        load.people.len()
    );
}

/// The server's `/metrics`, as text.
async fn metrics_text(target: &Target) -> String {
    let (status, body) = target.get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `uic_turns_grouped_total` in `/metrics`. (Read with the Prometheus
/// project's parser, a Python process: hundreds of milliseconds.)
fn turns_grouped(metrics: &str) -> f64 {
    crate::support::prometheus::Scrape::parse(metrics).value("uic_turns_grouped_total")
}

/// Sixty-four people talk at once to the real binary, which is killed
/// with SIGKILL once a third of their messages are answered: requests are in
/// flight, and on SQLite several people's turns share each transaction, so
/// the kill lands in the middle of batches. Every turn answered is stored,
/// nothing half of one, and everyone finishes on the restarted server.
async fn killed_while_busy(backend: Backend, first_phone: u32) {
    let Some(db) = TestDb::new(backend).await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => db.url.clone(),
        Backend::Postgres => with_application_name(&db.url),
    };
    let mut server = ServerProcess::start(dir.path(), &url).await;
    let everyone: Vec<Person> = people(64, first_phone)
        .into_iter()
        .map(|person| Person { gated: false, pause: Duration::from_millis(20), ..person })
        .collect();
    let load = Load::new(everyone, Fault::ServerKilled, Target::new(&server.base));
    let metrics = Target::new(&server.base);
    let mut tasks = load.spawn();
    let answered = |share: usize| {
        let messages = MESSAGES * load.people.len() / share;
        move |progress: &[Progress]| progress.iter().map(|p| p.acked).sum::<usize>() >= messages
    };
    load.settle(&mut tasks, "a sixth answered", answered(6)).await;
    let metrics = metrics_text(&metrics).await;
    load.settle(&mut tasks, "a third answered", answered(3)).await;
    server.kill().await;
    let grouped = turns_grouped(&metrics);
    load.settle(&mut tasks, "everyone stopped", |progress| {
        progress.iter().all(|p| matches!(p.phase, Phase::Done | Phase::Failing))
    })
    .await;
    if backend == Backend::Postgres {
        wait_until_disconnected(&db).await;
    }
    let progress = load.progress();
    let during = Snapshot::read(&db.raw().await, backend).await;
    let committed = check_consistent(&during, &load.people, &progress, |_| false);
    let cut_off = progress.iter().filter(|p| p.phase == Phase::Failing).count();
    assert!(cut_off > 0, "the kill cut requests in flight: {progress:?}");
    if backend == Backend::Sqlite {
        assert!(grouped > 0.0, "turns were committed in batches before the kill");
    }

    let mut restarted = ServerProcess::start(dir.path(), &url).await;
    load.retarget(Target::new(&restarted.base));
    load.finish(tasks).await;
    let after = Snapshot::read(&db.raw().await, backend).await;
    check_all_done(&after, &load.people);
    restarted.kill().await;
    eprintln!(
        "faults: kill -9 under load on {backend:?}: {grouped} turns committed with others before it, {cut_off} of \
         {} people lost a request to it ({committed} of those had committed); all finished after the restart",
        load.people.len()
    );
}

// ---------------------------------------------------------------------------
// A proxy in front of PostgreSQL that the test can cut.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// New connections are accepted and reset at once: the client learns at
    /// once that the database is not there.
    Reset,
    /// New connections are accepted and never answered, like a network that
    /// drops packets: the client learns it only from its own timeout.
    Blackhole,
}

/// The proxy's state; every change is a new epoch, and a connection lives
/// only as long as the epoch it was accepted in.
#[derive(Debug, Clone, Copy)]
struct Link {
    epoch: u64,
    outage: Option<Outage>,
}

struct DbProxy {
    port: u16,
    link: watch::Sender<Link>,
    /// Connections being forwarded now.
    live: Arc<AtomicUsize>,
    acceptor: JoinHandle<()>,
}

impl DbProxy {
    /// Listens on a loopback port and forwards every connection to `upstream` (`host:port`).
    async fn start(upstream: String) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy listens");
        let port = listener.local_addr().expect("proxy address").port();
        let (link, watching) = watch::channel(Link { epoch: 0, outage: None });
        let live = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio::spawn(accept(listener, upstream, watching, live.clone()));
        DbProxy { port, link, live, acceptor }
    }

    /// Closes every live connection (returns how many there were, once all
    /// are closed) and treats new ones as `outage` says.
    async fn cut(&self, outage: Outage) -> usize {
        let live = self.live.load(Ordering::SeqCst);
        self.link.send_modify(|link| *link = Link { epoch: link.epoch + 1, outage: Some(outage) });
        let deadline = Instant::now() + SETTLE_BOUND;
        while self.live.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "the proxy's connections did not close within {SETTLE_BOUND:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        live
    }

    /// Forwards new connections again (and drops the blackholed ones).
    fn resume(&self) {
        self.link.send_modify(|link| *link = Link { epoch: link.epoch + 1, outage: None });
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, link: watch::Receiver<Link>, live: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let now = *link.borrow();
        match now.outage {
            None => {
                live.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(forward(client, upstream.clone(), link.clone(), now.epoch, Live(live.clone())));
            }
            Some(Outage::Reset) => {
                // SO_LINGER 0: the close is a reset, not an orderly end.
                let _ = client.set_zero_linger();
                drop(client);
            }
            Some(Outage::Blackhole) => {
                tokio::spawn(blackhole(client, link.clone(), now.epoch));
            }
        }
    }
}

/// Counts a forwarded connection until it is closed.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Copies both ways until either side closes or the epoch ends; both sockets
/// are then closed.
async fn forward(mut client: TcpStream, upstream: String, mut link: watch::Receiver<Link>, epoch: u64, live: Live) {
    tokio::select! {
        _ = link.wait_for(|link| link.epoch != epoch) => {}
        _ = async {
            let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        } => {}
    }
    drop(client);
    drop(live);
}

/// Reads and discards until the client gives up or the epoch ends; never answers.
async fn blackhole(mut client: TcpStream, mut link: watch::Receiver<Link>, epoch: u64) {
    let mut sink = [0u8; 1024];
    tokio::select! {
        _ = link.wait_for(|link| link.epoch != epoch) => {}
        _ = async { while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
    }
}

/// `(host:port of a postgres:// URL, the URL with its host and port replaced
/// by 127.0.0.1:<port>)`.
fn through_port(url: &str, port: u16) -> (String, String) {
    let authority_at = url.find("://").expect("a URL") + 3;
    let rest = &url[authority_at..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_at = authority.rfind('@').map_or(0, |at| at + 1);
    let host = &authority[host_at..];
    assert!(!host.is_empty(), "the fault tests need TEST_POSTGRES_URL to name a TCP host: {url}");
    let upstream = if host.contains(':') { host.to_string() } else { format!("{host}:5432") };
    let proxied =
        format!("{}{}127.0.0.1:{port}{}", &url[..authority_at], &authority[..host_at], &rest[authority_len..]);
    (upstream, proxied)
}

fn with_application_name(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={APPLICATION_NAME}")
}

#[test]
fn the_proxy_takes_the_host_and_port_of_the_url() {
    assert_eq!(
        through_port("postgres://postgres@127.0.0.1:5432/uic_test_1", 4000),
        ("127.0.0.1:5432".to_string(), "postgres://postgres@127.0.0.1:4000/uic_test_1".to_string())
    );
    assert_eq!(
        through_port("postgres://u:p@db.local/x?sslmode=disable", 4000),
        ("db.local:5432".to_string(), "postgres://u:p@127.0.0.1:4000/x?sslmode=disable".to_string())
    );
    assert_eq!(
        with_application_name("postgres://h/x?a=b"),
        format!("postgres://h/x?a=b&application_name={APPLICATION_NAME}")
    );
}

/// Waits until PostgreSQL has no connection of the server under test left
/// (each ends once PostgreSQL sees its socket closed, rolling back what it had begun).
async fn wait_until_disconnected(db: &TestDb) {
    let pool = db.raw().await;
    let deadline = Instant::now() + SETTLE_BOUND;
    loop {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        )
        .bind(APPLICATION_NAME)
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity");
        if open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{open} server connection(s) still open in PostgreSQL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// The real binary.

// ---------------------------------------------------------------------------
// People and their conversations.

/// Someone going through the DRC flow: `Bonjour` and five answers, each
/// message with its own `MessageSid`, kept for redeliveries.
struct Person {
    phone: String,
    texts: [String; MESSAGES],
    sids: [String; MESSAGES],
    code: String,
    /// Held at [`GATE_AT`] until the fault has happened.
    gated: bool,
    /// Between two messages (the others' pauses differ, so some finish
    /// early while the rest are still talking when the fault comes).
    pause: Duration,
}

/// `count` people with different codes, every other one gated.
fn people(count: u32, first_phone: u32) -> Vec<Person> {
    const CITIES: [&str; 5] = ["Kinshasa", "Lubumbashi", "Goma", "Bukavu", "Kisangani"];
    let letter = |n: u32| char::from(b'a' + (n % 26) as u8);
    (0..count)
        .map(|i| {
            // Distinct first three letters of the last name: distinct codes.
            let last_name = format!("{}{}{}ongo", letter(i / 26).to_ascii_uppercase(), letter(i), letter(i * 7 + 3));
            let first_name = format!("{}arie", letter(i + 12).to_ascii_uppercase());
            let year = 1960 + i;
            let city = CITIES[(i % 5) as usize];
            let gender = i % 4 + 1;
            let first3 = |text: &str| text.chars().take(3).collect::<String>().to_uppercase();
            let code = format!(
                "{}{}{}{}{gender}",
                first3(&last_name),
                first3(&first_name),
                year % 10,
                city[..2].to_uppercase()
            );
            let texts =
                ["Bonjour".to_string(), last_name, first_name, year.to_string(), city.to_string(), gender.to_string()];
            Person {
                phone: phone(first_phone + i),
                texts,
                sids: std::array::from_fn(|_| message_sid()),
                code,
                gated: i % 2 == 1,
                pause: Duration::from_millis(u64::from(i / 2 % 4) * 5),
            }
        })
        .collect()
}

impl Person {
    fn params(&self, i: usize) -> Vec<(String, String)> {
        let message = Message {
            sid: self.sids[i].clone(),
            phone: self.phone.clone(),
            body: self.texts[i].clone(),
            media: None,
            button: None,
        };
        message.params()
    }

    /// The reply to message `i` is the next question, or the code at the end.
    fn check_reply(&self, i: usize, reply: &Twiml) {
        let text = reply.text();
        if i + 1 < MESSAGES {
            let question = format!("Question {} sur 5", i + 1);
            assert!(
                text.contains(&question),
                "{}: `{}` answered, not with {question}: {text}",
                self.phone,
                self.texts[i]
            );
        } else {
            let code = format!("Votre CIU: {}", self.code);
            assert!(
                reply.messages.iter().any(|m| m.body.as_deref() == Some(code.as_str())),
                "{}: the last answer did not give {code}: {text}",
                self.phone
            );
            assert!(text.contains("a été généré!") && !text.contains("déjà"), "{}: {text}", self.phone);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 503s are expected (and redelivered), never a lost connection.
    DatabaseDown,
    /// Lost connections are expected (and redelivered to the restarted server), never a 503.
    ServerKilled,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Talking,
    AtGate,
    /// The last delivery failed; it is being redelivered.
    Failing,
    Done,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    /// Messages answered 200 with the right reply.
    acked: usize,
    /// The message whose delivery failed, until it succeeds.
    pending: Option<usize>,
    phase: Phase,
    failures: u32,
    slowest_failure: Duration,
}

/// Everyone's conversations, run concurrently, and what each has been told.
struct Load {
    people: Vec<Person>,
    progress: Vec<Mutex<Progress>>,
    fault: Fault,
    target: watch::Sender<Target>,
    gate: watch::Sender<bool>,
}

impl Load {
    fn new(people: Vec<Person>, fault: Fault, target: Target) -> Arc<Load> {
        let progress = people.iter().map(|_| Mutex::new(Progress::default())).collect();
        Arc::new(Load { people, progress, fault, target: watch::channel(target).0, gate: watch::channel(false).0 })
    }

    fn spawn(self: &Arc<Self>) -> Vec<Option<JoinHandle<()>>> {
        (0..self.people.len()).map(|k| Some(tokio::spawn(talk(self.clone(), k)))).collect()
    }

    fn update(&self, k: usize, change: impl FnOnce(&mut Progress)) {
        change(&mut self.progress[k].lock().unwrap());
    }

    fn progress(&self) -> Vec<Progress> {
        self.progress.iter().map(|p| p.lock().unwrap().clone()).collect()
    }

    /// The moment of the fault: the gated half wait at the gate, and a quarter
    /// of the others have their code while the rest are still talking.
    fn mid_load(&self, progress: &[Progress]) -> bool {
        let (gated, free): (Vec<_>, Vec<_>) = self.people.iter().zip(progress).partition(|(person, _)| person.gated);
        let done = free.iter().filter(|(_, p)| p.phase == Phase::Done).count();
        gated.iter().all(|(_, p)| p.phase == Phase::AtGate) && done >= free.len().div_ceil(4)
    }

    fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Where the people talk from now on (a restarted server).
    fn retarget(&self, target: Target) {
        self.target.send_replace(target);
    }

    /// Waits until `ready` holds for every person; a person's failure ends the wait with its panic.
    async fn settle(&self, tasks: &mut [Option<JoinHandle<()>>], what: &str, ready: impl Fn(&[Progress]) -> bool) {
        let deadline = Instant::now() + SETTLE_BOUND;
        loop {
            if ready(&self.progress()) {
                return;
            }
            for task in tasks.iter_mut() {
                if task.as_ref().is_some_and(|t| t.is_finished()) {
                    join(task.take().expect("a task")).await;
                }
            }
            assert!(Instant::now() < deadline, "{what}: not within {SETTLE_BOUND:?}: {:?}", self.progress());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for every conversation to end.
    async fn finish(&self, tasks: Vec<Option<JoinHandle<()>>>) {
        for task in tasks.into_iter().flatten() {
            match tokio::time::timeout(SETTLE_BOUND, join(task)).await {
                Ok(()) => {}
                Err(_) => panic!("conversations not finished within {SETTLE_BOUND:?}: {:?}", self.progress()),
            }
        }
    }
}

/// Awaits a person's task, passing its panic on.
async fn join(task: JoinHandle<()>) {
    if let Err(error) = task.await {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("a conversation was cancelled: {error}"),
        }
    }
}

/// One person's conversation: each message delivered until it is answered
/// 200, redelivered with the same `MessageSid` as Twilio does after a 503 or
/// a lost connection.
async fn talk(load: Arc<Load>, k: usize) {
    let person = &load.people[k];
    let mut target = load.target.subscribe();
    for i in 0..MESSAGES {
        if person.gated && i == GATE_AT {
            load.update(k, |p| p.phase = Phase::AtGate);
            let mut gate = load.gate.subscribe();
            let opened = tokio::time::timeout(SETTLE_BOUND * 2, gate.wait_for(|open| *open)).await;
            assert!(matches!(opened, Ok(Ok(_))), "{}: the gate did not open", person.phone);
            load.update(k, |p| p.phase = Phase::Talking);
        } else if i > 0 {
            tokio::time::sleep(person.pause).await;
        }
        let params = person.params(i);
        loop {
            let current = target.borrow_and_update().clone();
            let started = Instant::now();
            match current.post(&params).await {
                Ok((200, body)) => {
                    person.check_reply(i, &Twiml::parse(&body));
                    load.update(k, |p| {
                        p.acked = i + 1;
                        p.pending = None;
                        p.phase = Phase::Talking;
                    });
                    break;
                }
                Ok((503, _)) if load.fault == Fault::DatabaseDown => {
                    load.update(k, |p| failed(p, i, started.elapsed()));
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(_) if load.fault == Fault::ServerKilled => {
                    load.update(k, |p| failed(p, i, started.elapsed()));
                    // Redelivered once the server is back.
                    let restarted = tokio::time::timeout(SETTLE_BOUND * 2, target.changed()).await;
                    assert!(matches!(restarted, Ok(Ok(()))), "{}: the server did not come back", person.phone);
                }
                Ok((status, body)) => {
                    panic!("{}: `{}` ({}) answered {status}: {body}", person.phone, person.texts[i], person.sids[i])
                }
                Err(error) => panic!("{}: `{}` ({}): {error}", person.phone, person.texts[i], person.sids[i]),
            }
        }
    }
    load.update(k, |p| p.phase = Phase::Done);
}

fn failed(progress: &mut Progress, i: usize, took: Duration) {
    progress.pending = Some(i);
    progress.phase = Phase::Failing;
    progress.failures += 1;
    progress.slowest_failure = progress.slowest_failure.max(took);
}

/// A server as Twilio reaches it.
#[derive(Clone)]
struct Target {
    base: String,
    client: reqwest::Client,
}

impl Target {
    fn new(base: &str) -> Target {
        // The client's own timeout is longer: the bound below is what fails the test.
        let client = crate::support::http_client().timeout(REQUEST_BOUND * 2).build().expect("HTTP client builds");
        Target { base: base.to_string(), client }
    }

    /// Posts a signed webhook: `(status, body)`, or `Err` when the connection
    /// failed. No answer within [`REQUEST_BOUND`] fails the test.
    async fn post(&self, params: &[(String, String)]) -> Result<(u16, String), String> {
        let url = format!("{}/whatsapp/webhook", self.base);
        let signature = twilio::signature(AUTH_TOKEN, &url, params);
        let request = self
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(form(params));
        let exchange = async {
            let response = request.send().await.map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let body = response.text().await.map_err(|e| format!("{e:?}"))?;
            Ok((status, body))
        };
        match tokio::time::timeout(REQUEST_BOUND, exchange).await {
            Ok(result) => result,
            Err(_) => panic!("POST {url}: no answer within {REQUEST_BOUND:?}"),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let exchange = async {
            let response = self.client.get(&url).send().await.expect("GET");
            let status = response.status().as_u16();
            (status, response.text().await.expect("GET body"))
        };
        tokio::time::timeout(REQUEST_BOUND, exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {url}: no answer within {REQUEST_BOUND:?}"))
    }
}

/// Polls `/health` until 200.
async fn wait_until_healthy(target: &Target) {
    let deadline = Instant::now() + SETTLE_BOUND;
    loop {
        let (status, body) = target.get("/health").await;
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/health still {status} {SETTLE_BOUND:?} after the database returned: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// What the database holds.

/// The tables, read in one transaction.
#[derive(Debug)]
struct Snapshot {
    /// phone → (current step, the names of the answers held).
    sessions: HashMap<String, (String, BTreeSet<String>)>,
    processed: HashSet<String>,
    /// phone → (code, request count) of each record.
    records: HashMap<String, Vec<(String, i64)>>,
    collisions: i64,
}

impl Snapshot {
    async fn read(pool: &AnyPool, backend: Backend) -> Snapshot {
        let mut connection = pool.acquire().await.expect("a connection");
        let begin = match backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        };
        sqlx::query(begin).execute(&mut *connection).await.expect(begin);
        let sessions: Vec<(String, String, String)> =
            sqlx::query_as("SELECT phone_number, current_step, CAST(answers AS TEXT) FROM conversation_sessions")
                .fetch_all(&mut *connection)
                .await
                .expect("sessions");
        let processed: Vec<(String,)> =
            sqlx::query_as("SELECT message_id FROM processed_messages WHERE channel = 'twilio'")
                .fetch_all(&mut *connection)
                .await
                .expect("processed messages");
        let records: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT phone_number, uic_code, request_count FROM uic_records")
                .fetch_all(&mut *connection)
                .await
                .expect("records");
        let (collisions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uic_collisions")
            .fetch_one(&mut *connection)
            .await
            .expect("collisions");
        sqlx::query("ROLLBACK").execute(&mut *connection).await.expect("ROLLBACK");

        let sessions = sessions
            .into_iter()
            .map(|(phone, step, answers)| {
                let answers: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&answers).unwrap_or_else(|e| panic!("{phone}: answers {answers}: {e}"));
                (phone, (step, answers.keys().cloned().collect()))
            })
            .collect();
        let mut by_phone: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for (phone, code, count) in records {
            by_phone.entry(phone).or_default().push((code, count));
        }
        Snapshot { sessions, processed: processed.into_iter().map(|(id,)| id).collect(), records: by_phone, collisions }
    }
}

/// The session after `done` messages: at the next step, holding every answer before it.
fn session_after(done: usize) -> Option<(String, BTreeSet<String>)> {
    match done {
        0 | MESSAGES => None,
        n => Some((STEPS[n - 1].to_string(), STEPS[..n - 1].iter().map(|s| s.to_string()).collect())),
    }
}

/// Checks that the database holds whole turns only, each person exactly as far
/// as their answered messages, plus at most the one whose delivery failed
/// (never for a person `strict` names: their failed message was first sent
/// after the fault). Returns how many failed deliveries had committed.
fn check_consistent(db: &Snapshot, people: &[Person], progress: &[Progress], strict: impl Fn(usize) -> bool) -> usize {
    // Every session is at a whole step: it holds exactly the answers before it.
    for (phone, (step, answers)) in &db.sessions {
        let at = STEPS.iter().position(|s| s == step).unwrap_or_else(|| panic!("{phone}: unknown step {step}"));
        let before: BTreeSet<String> = STEPS[..at].iter().map(|s| s.to_string()).collect();
        assert_eq!(answers, &before, "{phone}: a session at {step} holding other answers (a half turn)");
    }
    let mut committed = 0;
    let mut expected_sessions = 0;
    for (k, (person, p)) in people.iter().zip(progress).enumerate() {
        let phone = &person.phone;
        if let Some(pending) = p.pending {
            assert_eq!(pending, p.acked, "{phone}: the failed message is the next one");
        }
        let pending_committed = p.pending.is_some_and(|i| db.processed.contains(&person.sids[i]));
        assert!(
            !(pending_committed && strict(k)),
            "{phone}: a message answered 503, first sent after the database went away, is recorded as processed"
        );
        committed += usize::from(pending_committed);
        let done = p.acked + usize::from(pending_committed);
        for (i, sid) in person.sids.iter().enumerate() {
            assert_eq!(db.processed.contains(sid), i < done, "{phone}: message {i} processed? ({p:?})");
        }
        let session = session_after(done);
        expected_sessions += usize::from(session.is_some());
        assert_eq!(db.sessions.get(phone), session.as_ref(), "{phone}: the session after {done} messages ({p:?})");
        let records = db.records.get(phone).cloned().unwrap_or_default();
        if done == MESSAGES {
            assert_eq!(records, [(person.code.clone(), 1)], "{phone}: one record of the code sent");
        } else {
            assert_eq!(records, [], "{phone}: a record before the last answer");
        }
    }
    assert_eq!(db.sessions.len(), expected_sessions, "sessions of nobody");
    let processed: usize = progress.iter().map(|p| p.acked).sum::<usize>() + committed;
    assert_eq!(db.processed.len(), processed, "processed message ids of no answered message");
    assert_eq!(db.records.values().map(Vec::len).sum::<usize>(), db.records.len(), "one record per phone");
    assert_eq!(db.collisions, 0);
    committed
}

/// Everyone finished: one record each, of their code, asked for once; no session left.
fn check_all_done(db: &Snapshot, people: &[Person]) {
    let progress: Vec<Progress> =
        people.iter().map(|_| Progress { acked: MESSAGES, phase: Phase::Done, ..Progress::default() }).collect();
    check_consistent(db, people, &progress, |_| true);
    assert!(db.sessions.is_empty());
    assert_eq!(db.records.len(), people.len());
}
