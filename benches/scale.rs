//! Turn throughput and latency with 1,000 and with 1,000,000 issued codes in
//! `uic_records`, on SQLite and on PostgreSQL: a turn must not get slower as
//! the table grows. A plain program (`harness = false`), not criterion.
//!
//! For each backend and table size, on a fresh database (SQLite: a file in a
//! temporary folder; PostgreSQL: `uic_bench_<hex>` beside the database of
//! `BENCH_POSTGRES_URL` or `TEST_POSTGRES_URL`, dropped at the end; skipped,
//! saying so, when neither is set):
//!
//! 1. `Store::connect` creates the schema; `uic_records` is filled with raw
//!    SQL in one statement (SQLite: a recursive CTE; PostgreSQL:
//!    `generate_series`): distinct codes of the flows' shapes, 64-hex keys,
//!    phone numbers, 70 % `drc-fr`, 20 % `drc-ln`, 10 % `legacy` with their
//!    real formula fingerprints, creation times over the year before the
//!    run; then `ANALYZE` (PostgreSQL: `VACUUM ANALYZE`, as autovacuum would).
//!    Among those rows are the records that some of the benchmark's people
//!    will meet again: one in ten finishes with the same answers as a stored
//!    record (`SameAnswers`), one in ten with a stored record's code but other
//!    answers (`SameCode`, a possible collision); the rest get new codes.
//! 2. The plans of the hot queries (`tests/support/plans.rs`) are printed;
//!    any table scan makes the program exit with status 1.
//! 3. Complete conversations (a greeting and five answers, each message with
//!    a provider id, as from Twilio) go through
//!    `Conversations::handle_message`: a warm-up, then one person after
//!    another (sequential), then several people at once (concurrent tasks),
//!    in rounds that alternate between the sizes, so that the machine's
//!    drifts fall on both alike. Every turn is timed; the completing turn
//!    (the one that registers the code) is also reported on its own. The
//!    versions check that start-up runs (`Store::issued_with_other_formula`)
//!    is timed too.
//!
//! Then a table compares the sizes per backend, and the plans are printed.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench scale
//! ```
//!
//! Knobs (environment): `BENCH_SCALE_SIZES` (default `1000,1000000`),
//! `BENCH_SCALE_CONVERSATIONS` per phase (default 1000),
//! `BENCH_SCALE_ROUNDS` (default 10), `BENCH_SCALE_TASKS` for the concurrent
//! phase (default 8), `BENCH_SCALE_BACKENDS` (default `sqlite,postgres`).

#[path = "../tests/support/plans.rs"]
mod plans;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use uic::core::catalog::Catalog;
use uic::core::engine::{Completion, Content, Engine, EngineConfig, Outcome, Registration};
use uic::core::salt::Salt;
use uic::lint::source::Sources;
use uic::store::Store;
use uic::turn::conversation::{Conversations, Inbound};

/// The moment every turn happens at; the stored codes are from the year before.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap()
}

const YEAR_SECONDS: i64 = 365 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

struct Settings {
    sizes: Vec<u64>,
    conversations: u64,
    rounds: u64,
    tasks: u64,
    backends: Vec<Backend>,
    postgres_url: Option<String>,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value.trim().replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={value}: not a number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let sizes = std::env::var("BENCH_SCALE_SIZES")
            .unwrap_or_else(|_| "1000,1000000".to_string())
            .split(',')
            .map(|size| size.trim().replace('_', "").parse().expect("BENCH_SCALE_SIZES: numbers separated by commas"))
            .collect();
        let backends = std::env::var("BENCH_SCALE_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".to_string())
            .split(',')
            .map(|name| match name.trim() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                other => panic!("BENCH_SCALE_BACKENDS: `{other}` is neither sqlite nor postgres"),
            })
            .collect();
        let postgres_url = ["BENCH_POSTGRES_URL", "TEST_POSTGRES_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|url| !url.trim().is_empty()));
        Settings {
            sizes,
            conversations: env_or("BENCH_SCALE_CONVERSATIONS", 1000),
            rounds: env_or("BENCH_SCALE_ROUNDS", 10).max(1),
            tasks: env_or("BENCH_SCALE_TASKS", 8),
            backends,
            postgres_url,
        }
    }
}

// ---------------------------------------------------------------------------
// The people of the benchmark.

/// What a person's conversation should end with.
fn expected(person: u64) -> Registration {
    match person % 10 {
        3 => Registration::SameAnswers,
        7 => Registration::SameCode,
        _ => Registration::New,
    }
}

fn letter(n: u64) -> char {
    char::from(b'A' + (n % 26) as u8)
}

const CITIES: [&str; 8] = ["Kinshasa", "Lubumbashi", "Goma", "Bukavu", "Kisangani", "Matadi", "Kananga", "Mbandaka"];

/// Person `p`'s phone and five answers. Their last names start with Z, which
/// no filled code does, and the first three letters of their two names differ
/// from everyone else's: each person's code is their own.
fn person(p: u64) -> (String, [String; 5]) {
    let last = format!("Z{}{}ola", letter(p), letter(p / 26)).to_lowercase();
    let first = format!("{}{}{}ine", letter(p / 676), letter(p / 17_576), letter(p / 456_976)).to_lowercase();
    let answers = [
        capitalised(&last),
        capitalised(&first),
        (1950 + p % 60).to_string(),
        CITIES[(p / 3 % 8) as usize].to_string(),
        ["Homme", "Femme"][(p % 2) as usize].to_string(),
    ];
    (format!("+24399{p:07}"), answers)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn text(text: &str) -> Content {
    Content::Text(text.to_string())
}

/// The messages of person `p`: a greeting, then the answers.
fn messages(p: u64) -> (String, Vec<Content>) {
    let (phone, answers) = person(p);
    (phone, std::iter::once(text("Bonjour")).chain(answers.iter().map(|answer| text(answer))).collect())
}

/// The completion person `p`'s answers make, from the engine alone.
fn completion_of(engine: &Engine, p: u64) -> Completion {
    let (_, messages) = messages(p);
    let mut session = None;
    for message in &messages {
        let turn = engine.turn(session, message, t0());
        if let Some(completion) = turn.completion {
            return completion;
        }
        assert!(!matches!(turn.outcome, Outcome::Refused | Outcome::Failed), "person {p}: {message:?} refused");
        session = turn.session;
    }
    panic!("person {p}: the conversation did not complete")
}

/// A stored record the benchmark's people meet: the same answers
/// (`SameAnswers`: same code, same key) or only the same code (`SameCode`).
struct Planted {
    uic: String,
    duplicate_key: String,
    flow_id: String,
    fingerprint: String,
}

fn planted(engine: &Engine, people: u64) -> Vec<Planted> {
    (0..people)
        .filter_map(|p| {
            let duplicate_key = match expected(p) {
                Registration::New => return None,
                Registration::SameAnswers => None,
                Registration::SameCode => Some(format!("{:032x}{:032x}", 0xc0111de_u128 * (p as u128 + 1), p)),
            };
            let completion = completion_of(engine, p);
            Some(Planted {
                duplicate_key: duplicate_key.unwrap_or(completion.duplicate_key),
                uic: completion.uic,
                flow_id: completion.flow_id,
                fingerprint: completion.formula_fingerprint,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Databases.

/// A fresh database for one measurement; a PostgreSQL one is dropped with it.
struct BenchDb {
    backend: Backend,
    url: String,
    _dir: Option<tempfile::TempDir>,
    created: Option<(String, String)>,
}

impl BenchDb {
    async fn new(backend: Backend, postgres_url: Option<&str>) -> BenchDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("uic.db").display());
                BenchDb { backend, url, _dir: Some(dir), created: None }
            }
            Backend::Postgres => {
                let server = postgres_url.expect("a PostgreSQL URL");
                let name = format!("uic_bench_{}", hex::encode(rand::random::<[u8; 8]>()));
                let mut connection =
                    PgConnection::connect(server).await.unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"));
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut connection)
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
                let _ = connection.close().await;
                let url = with_database(server, &name);
                BenchDb { backend, url, _dir: None, created: Some((server.to_string(), name)) }
            }
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.created.take() else { return };
        // Drop cannot await: a thread with its own runtime drops the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&server).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut connection)
                    .await?;
                connection.close().await?;
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: the benchmark database {} was not dropped", self.url);
        }
    }
}

/// `url` with its database (path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// The formula fingerprints of the filled rows' flows: `drc-fr`, `drc-ln`, `legacy`.
struct Fingerprints([String; 3]);

/// The columns of a filled row `i` (1-based), the same on both backends up
/// to spelling. `$1` rows in all, `$2`..`$4` the fingerprints, `$5` the Unix
/// time a year before the run, `$6` the run's. `a` scatters `i` over
/// 25 × 26⁵ six-letter prefixes (7919 is prime to that), so codes are
/// distinct, and the first letter is never Z.
const SQLITE_FILL: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1),
rows AS (SELECT i, (i * 7919 + 12345) % 297034400 AS a, $5 + (i * 31536000) / $1 AS created FROM n)
INSERT INTO uic_records (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint,
                         created_at, last_requested_at, request_count)
SELECT
    CASE WHEN i % 10 = 9 THEN
        printf('%03d', i % 1000) || '-' || substr('KINSGOMALUBUBUKA', 1 + 4 * (i / 10 % 4), 4) || '-'
        || printf('%02d', i / 13 % 100) || '-'
        || char(65 + a % 25, 65 + a / 25 % 26, 65 + a / 650 % 26) || '-'
        || char(65 + a / 16900 % 26, 65 + a / 439400 % 26, 65 + a / 11424400 % 26, 65 + i % 26) || '-'
        || printf('%05X', i % 1048576)
    ELSE
        char(65 + a % 25, 65 + a / 25 % 26, 65 + a / 650 % 26, 65 + a / 16900 % 26, 65 + a / 439400 % 26,
             65 + a / 11424400 % 26)
        || (i / 7 % 10) || substr('KILUGOBUKSMAKAMBTSIL', 1 + 2 * (i / 3 % 10), 2) || (1 + i / 11 % 2)
    END,
    printf('%08x%08x%08x%08x%08x%08x%08x%08x',
           (i * 2654435761) % 4294967296, (i * 2246822519) % 4294967296, (i * 3266489917) % 4294967296,
           (i * 668265263) % 4294967296, (i * 374761393) % 4294967296, (i * 1103515245) % 4294967296,
           (i * 1664525) % 4294967296, (i * 22695477) % 4294967296),
    '+243' || ((i * 7919) % 90000000 + 810000000),
    CASE WHEN i % 10 < 7 THEN 'drc-fr' WHEN i % 10 < 9 THEN 'drc-ln' ELSE 'legacy' END,
    1,
    CASE WHEN i % 10 < 7 THEN $2 WHEN i % 10 < 9 THEN $3 ELSE $4 END,
    strftime('%Y-%m-%dT%H:%M:%S+00:00', created, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%S+00:00', min($6, created + CASE WHEN i % 20 = 0 THEN i % 30 * 86400 ELSE 0 END),
             'unixepoch'),
    CASE WHEN i % 20 = 0 THEN 2 + i % 3 ELSE 1 END
FROM rows";

const POSTGRES_FILL: &str = "
INSERT INTO uic_records (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint,
                         created_at, last_requested_at, request_count)
SELECT
    CASE WHEN i % 10 = 9 THEN
        lpad((i % 1000)::text, 3, '0') || '-' || substr('KINSGOMALUBUBUKA', (1 + 4 * (i / 10 % 4))::int, 4) || '-'
        || lpad((i / 13 % 100)::text, 2, '0') || '-'
        || chr((65 + a % 25)::int) || chr((65 + a / 25 % 26)::int) || chr((65 + a / 650 % 26)::int) || '-'
        || chr((65 + a / 16900 % 26)::int) || chr((65 + a / 439400 % 26)::int)
        || chr((65 + a / 11424400 % 26)::int) || chr((65 + i % 26)::int) || '-'
        || upper(lpad(to_hex(i % 1048576), 5, '0'))
    ELSE
        chr((65 + a % 25)::int) || chr((65 + a / 25 % 26)::int) || chr((65 + a / 650 % 26)::int)
        || chr((65 + a / 16900 % 26)::int) || chr((65 + a / 439400 % 26)::int)
        || chr((65 + a / 11424400 % 26)::int)
        || (i / 7 % 10) || substr('KILUGOBUKSMAKAMBTSIL', (1 + 2 * (i / 3 % 10))::int, 2) || (1 + i / 11 % 2)
    END,
    md5('key' || i) || md5('more' || i),
    '+243' || ((i * 7919) % 90000000 + 810000000),
    CASE WHEN i % 10 < 7 THEN 'drc-fr' WHEN i % 10 < 9 THEN 'drc-ln' ELSE 'legacy' END,
    1,
    CASE WHEN i % 10 < 7 THEN $2 WHEN i % 10 < 9 THEN $3 ELSE $4 END,
    to_timestamp(created),
    to_timestamp(least($6, created + CASE WHEN i % 20 = 0 THEN i % 30 * 86400 ELSE 0 END)),
    CASE WHEN i % 20 = 0 THEN 2 + i % 3 ELSE 1 END
FROM (SELECT i, (i * 7919 + 12345) % 297034400 AS a, $5 + (i * 31536000) / $1 AS created
      FROM generate_series(1, $1) AS i) AS n";

const INSERT_PLANTED: &str = "INSERT INTO uic_records
    (uic_code, duplicate_key, phone_number, flow_id, flow_version, formula_fingerprint, created_at, last_requested_at)
    VALUES ($1, $2, $3, $4, 1, $5, $6, $6)";

/// Fills `uic_records` with `size` rows (`planted` among them), then analyses it.
async fn fill(db: &BenchDb, size: u64, fingerprints: &Fingerprints, planted: &[Planted]) -> Result<(), sqlx::Error> {
    let generated = size.checked_sub(planted.len() as u64).expect("more rows than planted records") as i64;
    let start = t0().timestamp() - YEAR_SECONDS;
    let [fr, ln, legacy] = &fingerprints.0;
    // The planted records were made a month before the run.
    let planted_at = t0() - chrono::Duration::days(30);
    match db.backend {
        Backend::Sqlite => {
            let options =
                SqliteConnectOptions::from_str(&db.url)?.pragma("cache_size", "-262144").pragma("synchronous", "OFF");
            let mut connection = SqliteConnection::connect_with(&options).await?;
            let mut tx = connection.begin().await?;
            sqlx::query(SQLITE_FILL)
                .bind(generated)
                .bind(fr)
                .bind(ln)
                .bind(legacy)
                .bind(start)
                .bind(t0().timestamp())
                .execute(&mut *tx)
                .await?;
            for (n, record) in planted.iter().enumerate() {
                insert_planted(sqlx::query(INSERT_PLANTED), n, record, planted_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            sqlx::raw_sql("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);").execute(&mut connection).await?;
            connection.close().await?;
        }
        Backend::Postgres => {
            let mut connection = PgConnection::connect(&db.url).await?;
            let mut tx = connection.begin().await?;
            sqlx::query(POSTGRES_FILL)
                .bind(generated)
                .bind(fr)
                .bind(ln)
                .bind(legacy)
                .bind(start)
                .bind(t0().timestamp())
                .execute(&mut *tx)
                .await?;
            for (n, record) in planted.iter().enumerate() {
                insert_planted(sqlx::query(INSERT_PLANTED), n, record, planted_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            sqlx::raw_sql("VACUUM ANALYZE uic_records").execute(&mut connection).await?;
            // The fill's dirty pages written out now, not during the measurement
            // (needs superuser or pg_checkpoint; without, the figures may suffer).
            if let Err(error) = sqlx::raw_sql("CHECKPOINT").execute(&mut connection).await {
                eprintln!("  (CHECKPOINT refused: {error}; a checkpoint may run during the measurement)");
            }
            connection.close().await?;
        }
    }
    Ok(())
}

/// Binds a planted record to [`INSERT_PLANTED`], on either backend.
fn insert_planted<'q, DB>(
    query: sqlx::query::Query<'q, DB, DB::Arguments>,
    n: usize,
    record: &'q Planted,
    at: DateTime<Utc>,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(record.uic.as_str())
        .bind(record.duplicate_key.as_str())
        .bind(format!("+24381{n:07}"))
        .bind(record.flow_id.as_str())
        .bind(record.fingerprint.as_str())
        .bind(at)
}

/// The plans of the hot queries on the filled database.
async fn plans(db: &BenchDb, fingerprint: &str) -> Result<Vec<plans::Plan>, sqlx::Error> {
    match db.backend {
        Backend::Sqlite => {
            let mut connection = SqliteConnection::connect(&db.url).await?;
            let plans = plans::sqlite_plans(&mut connection, fingerprint).await;
            connection.close().await?;
            plans
        }
        Backend::Postgres => {
            let mut connection = PgConnection::connect(&db.url).await?;
            let plans = plans::postgres_plans(&mut connection, fingerprint).await;
            connection.close().await?;
            plans
        }
    }
}

// ---------------------------------------------------------------------------
// Measurements.

/// Every turn's latency and the completing turns' on their own.
#[derive(Default)]
struct Timings {
    turns: Vec<Duration>,
    completing: Vec<Duration>,
}

impl Timings {
    fn extend(&mut self, other: Timings) {
        self.turns.extend(other.turns);
        self.completing.extend(other.completing);
    }
}

/// Person `p`'s whole conversation; panics unless it ends as [`expected`].
async fn converse(conversations: &Conversations, p: u64, timings: &mut Timings) {
    let (phone, messages) = messages(p);
    let last = messages.len() - 1;
    for (k, content) in messages.into_iter().enumerate() {
        let message_id = format!("SM{p:016x}{k:016x}");
        let inbound = Inbound {
            channel: "twilio",
            message_id: Some(&message_id),
            phone: &phone,
            content,
            outbox: None,
            qr_links_since: None,
        };
        let started = Instant::now();
        let handled = conversations.handle_message(inbound, t0()).await.expect("turn");
        let elapsed = started.elapsed();
        timings.turns.push(elapsed);
        if k == last {
            timings.completing.push(elapsed);
            assert_eq!(handled.registration, Some(expected(p)), "person {p}: {:?}", handled.replies);
        } else {
            assert!(matches!(handled.outcome, Outcome::Started | Outcome::Answered), "person {p}, message {k}");
        }
    }
}

/// People `people` one after another.
async fn sequential(conversations: &Conversations, people: std::ops::Range<u64>) -> (Timings, Duration) {
    let started = Instant::now();
    let mut timings = Timings::default();
    for p in people {
        converse(conversations, p, &mut timings).await;
    }
    (timings, started.elapsed())
}

/// People `people` in `tasks` tasks, each taking every `tasks`-th person.
async fn concurrent(conversations: &Conversations, people: std::ops::Range<u64>, tasks: u64) -> (Timings, Duration) {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let conversations = conversations.clone();
            let people = people.clone();
            tokio::spawn(async move {
                let mut timings = Timings::default();
                for p in people.skip(task as usize).step_by(tasks as usize) {
                    converse(&conversations, p, &mut timings).await;
                }
                timings
            })
        })
        .collect();
    let mut timings = Timings::default();
    for handle in handles {
        timings.extend(handle.await.expect("a task panicked"));
    }
    (timings, started.elapsed())
}

/// Latency figures of one phase.
struct Figures {
    turns: usize,
    per_second: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    completing_p50: Duration,
    completing_p99: Duration,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn figures(mut timings: Timings, wall: Duration) -> Figures {
    timings.turns.sort();
    timings.completing.sort();
    Figures {
        turns: timings.turns.len(),
        per_second: timings.turns.len() as f64 / wall.as_secs_f64(),
        p50: percentile(&timings.turns, 0.50),
        p90: percentile(&timings.turns, 0.90),
        p99: percentile(&timings.turns, 0.99),
        max: timings.turns.last().copied().unwrap_or_default(),
        completing_p50: percentile(&timings.completing, 0.50),
        completing_p99: percentile(&timings.completing, 0.99),
    }
}

/// Everything measured on one database.
struct Run {
    backend: Backend,
    size: u64,
    fill: Duration,
    sequential: Figures,
    concurrent: Figures,
    versions_check: Duration,
    plans: Vec<plans::Plan>,
}

/// A filled database with its store open, and what was measured on it so far.
struct Prepared {
    size: u64,
    db: BenchDb,
    conversations: Conversations,
    fill: Duration,
    plans: Vec<plans::Plan>,
    /// The next person to converse; each person converses once per database.
    next: u64,
    sequential: (Timings, Duration),
    concurrent: (Timings, Duration),
}

impl Prepared {
    /// The next `n` people.
    fn people(&mut self, n: u64) -> std::ops::Range<u64> {
        self.next += n;
        self.next - n..self.next
    }
}

/// A fresh database of `size` codes (the `planted` ones among them), its
/// plans checked, its store open and warmed up.
async fn prepare(
    settings: &Settings,
    engine: &Arc<Engine>,
    backend: Backend,
    size: u64,
    fingerprints: &Fingerprints,
    planted: &[Planted],
) -> Prepared {
    let db = BenchDb::new(backend, settings.postgres_url.as_deref()).await;
    // The schema, then the store is closed while the table is filled.
    Store::connect(&db.url).await.expect("store opens").close().await;
    let started = Instant::now();
    fill(&db, size, fingerprints, planted).await.expect("fill uic_records");
    let fill = started.elapsed();
    eprintln!("  {} with {} codes: filled in {:.1} s", backend.name(), thousands(size), fill.as_secs_f64());
    let plans = plans(&db, &fingerprints.0[0]).await.expect("plans");
    let store = Store::connect(&db.url).await.expect("store opens");
    let conversations = Conversations::new(engine.clone(), store);
    let mut prepared = Prepared {
        size,
        db,
        conversations,
        fill,
        plans,
        next: 0,
        sequential: Default::default(),
        concurrent: Default::default(),
    };
    let warm_up = prepared.people(2 * settings.tasks);
    concurrent(&prepared.conversations, warm_up, settings.tasks).await;
    prepared
}

/// Measures `backend` at every size. The databases are filled first, then
/// measured in rounds that alternate between them (small then large, then
/// large then small), so that the machine's drifts (other load, the
/// database's background writes) fall on every size alike.
async fn measure(settings: &Settings, engine: &Arc<Engine>, backend: Backend) -> Vec<Run> {
    let catalog = engine_catalog();
    let fingerprints = Fingerprints(
        ["drc-fr", "drc-ln", "legacy"]
            .map(|id| catalog.flows.get(id).unwrap_or_else(|| panic!("flow {id}")).uic.fingerprint.clone()),
    );
    let planted = planted(engine, 2 * settings.tasks + 2 * settings.conversations);
    let mut databases = Vec::new();
    for &size in &settings.sizes {
        databases.push(prepare(settings, engine, backend, size, &fingerprints, &planted).await);
    }
    for round in 0..settings.rounds {
        let n =
            settings.conversations * (round + 1) / settings.rounds - settings.conversations * round / settings.rounds;
        let mut order: Vec<usize> = (0..databases.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let database = &mut databases[i];
            let people = database.people(n);
            let (timings, wall) = sequential(&database.conversations, people).await;
            database.sequential.0.extend(timings);
            database.sequential.1 += wall;
        }
        for &i in &order {
            let database = &mut databases[i];
            let people = database.people(n);
            let (timings, wall) = concurrent(&database.conversations, people, settings.tasks).await;
            database.concurrent.0.extend(timings);
            database.concurrent.1 += wall;
        }
    }
    let mut runs = Vec::new();
    for database in databases {
        let store = database.conversations.store().clone();
        // The versions check of start-up: the best of five.
        let mut versions_check = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let changed =
                store.issued_with_other_formula("drc-fr", 1, &fingerprints.0[0]).await.expect("versions check");
            versions_check = versions_check.min(started.elapsed());
            assert!(!changed, "the filled codes use the flow's own formula");
        }
        store.close().await;
        let Prepared { size, db, fill, plans, sequential, concurrent, .. } = database;
        drop(db);
        runs.push(Run {
            backend,
            size,
            fill,
            sequential: figures(sequential.0, sequential.1),
            concurrent: figures(concurrent.0, concurrent.1),
            versions_check,
            plans,
        });
    }
    runs
}

fn engine_catalog() -> Catalog {
    let (catalog, _warnings) = Catalog::load(&Sources::embedded(), 2026).expect("the shipped flows pass lint");
    catalog
}

fn build_engine() -> Arc<Engine> {
    let config = EngineConfig {
        default_flow: "drc-fr".into(),
        default_language: None,
        session_timeout_minutes: 30,
        qr_codes: true,
    };
    Arc::new(Engine::new(&engine_catalog(), Salt::for_tests(), config).expect("engine builds"))
}

// ---------------------------------------------------------------------------
// Report.

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 { format!("{ms:.2} ms") } else { format!("{ms:.1} ms") }
}

fn print_report(settings: &Settings, runs: &[Run]) {
    println!();
    println!(
        "Turns through Conversations::handle_message, {} conversations (× 6 turns) per phase; \
         concurrent = {} tasks. `completing` = the 6th turn, which registers the code.",
        settings.conversations, settings.tasks
    );
    println!();
    println!(
        "| backend | codes in table | phase | turns/s | p50 | p90 | p99 | max | completing p50 | completing p99 |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in runs {
        for (phase, figures) in [("sequential", &run.sequential), ("concurrent", &run.concurrent)] {
            let phase = if phase == "concurrent" { format!("{} tasks", settings.tasks) } else { phase.to_string() };
            println!(
                "| {} | {} | {phase} | {:.0} | {} | {} | {} | {} | {} | {} |",
                run.backend.name(),
                thousands(run.size),
                figures.per_second,
                ms(figures.p50),
                ms(figures.p90),
                ms(figures.p99),
                ms(figures.max),
                ms(figures.completing_p50),
                ms(figures.completing_p99),
            );
        }
    }
    println!();
    println!("| backend | codes in table | filled in | versions check (start-up, best of 5) | turns measured |");
    println!("|---|---:|---:|---:|---:|");
    for run in runs {
        println!(
            "| {} | {} | {:.1} s | {} | {} |",
            run.backend.name(),
            thousands(run.size),
            run.fill.as_secs_f64(),
            ms(run.versions_check),
            run.sequential.turns + run.concurrent.turns
        );
    }

    // Largest table against smallest, per backend and phase.
    println!();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let of_backend: Vec<&Run> = runs.iter().filter(|run| run.backend == backend).collect();
        let (Some(small), Some(large)) =
            (of_backend.iter().min_by_key(|run| run.size), of_backend.iter().max_by_key(|run| run.size))
        else {
            continue;
        };
        let growth = large.versions_check.as_secs_f64() / small.versions_check.as_secs_f64();
        if small.size != large.size && growth > 10.0 {
            println!(
                "note: {}'s versions check grows with the table (×{growth:.0}): `formula_fingerprint <> $3` \
                 reads every code of the flow version.",
                backend.name()
            );
        }
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let of_backend: Vec<&Run> = runs.iter().filter(|run| run.backend == backend).collect();
        let (Some(small), Some(large)) =
            (of_backend.iter().min_by_key(|run| run.size), of_backend.iter().max_by_key(|run| run.size))
        else {
            continue;
        };
        if small.size == large.size {
            continue;
        }
        for (phase, a, b) in
            [("sequential", &small.sequential, &large.sequential), ("concurrent", &small.concurrent, &large.concurrent)]
        {
            println!(
                "{} {phase}, {} vs {} codes: turns/s ×{:.2}, p50 ×{:.2}, p99 ×{:.2}, completing p50 ×{:.2}",
                backend.name(),
                thousands(large.size),
                thousands(small.size),
                b.per_second / a.per_second,
                b.p50.as_secs_f64() / a.p50.as_secs_f64(),
                b.p99.as_secs_f64() / a.p99.as_secs_f64(),
                b.completing_p50.as_secs_f64() / a.completing_p50.as_secs_f64(),
            );
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let engine = build_engine();
    let mut runs = Vec::new();
    for &backend in &settings.backends {
        if backend == Backend::Postgres && settings.postgres_url.is_none() {
            eprintln!(
                "\n!!! PostgreSQL NOT BENCHMARKED: set BENCH_POSTGRES_URL or TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) !!!\n"
            );
            continue;
        }
        runs.extend(runtime.block_on(measure(&settings, &engine, backend)));
    }
    print_report(&settings, &runs);

    println!();
    println!("Query plans (after ANALYZE):");
    let mut scans = Vec::new();
    for run in &runs {
        println!("{} with {} codes:", run.backend.name(), thousands(run.size));
        print!("{}", plans::describe(&run.plans));
        for plan in run.plans.iter().filter(|plan| plan.problem.is_some()) {
            scans.push(format!("{} with {} codes: {}", run.backend.name(), thousands(run.size), plan.name));
        }
    }
    if !scans.is_empty() {
        eprintln!("\nquery plans that scan a table or use no index (see above):");
        for scan in &scans {
            eprintln!("  {scan}");
        }
        std::process::exit(1);
    }
}
