//! A fresh database per test, on SQLite or PostgreSQL.
//!
//! SQLite: a file in a temporary folder, removed with the [`TestDb`].
//! PostgreSQL: a new database `uic_test_<random hex>` on the server named by
//! `TEST_POSTGRES_URL`, dropped (`WITH (FORCE)`) when the [`TestDb`] is. When
//! the variable is unset a PostgreSQL test fails, unless
//! `UIC_SKIP_POSTGRES_TESTS=1` says to skip them (then each says so on
//! standard error, past the test harness's capture). Every test that uses
//! PostgreSQL has `postgres` in its name, and appends its name to the file
//! named by `UIC_PG_TESTS_RAN_FILE`: `.ci/run` checks that every such test ran.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AnyPool, AssertSqlSafe, Column, Connection, PgConnection, Row, SqliteConnection, TypeInfo, ValueRef};
use tokio::sync::OnceCell;

/// The PostgreSQL server's URL; the tests make their databases beside its database.
pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";
/// A file to which every PostgreSQL test that ran appends a line.
pub const RAN_FILE_VAR: &str = "UIC_PG_TESTS_RAN_FILE";
/// Set to `1` to skip the PostgreSQL tests where no server is at hand.
pub const SKIP_VAR: &str = "UIC_SKIP_POSTGRES_TESTS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database; removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    /// What `Store::connect` takes.
    pub url: String,
    /// SQLite: the folder holding the file.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (the server's URL, the database's name), for the drop.
    created: Option<(String, String)>,
    raw: OnceCell<AnyPool>,
}

impl TestDb {
    /// A fresh, empty database (the store migrates it when it connects).
    /// `None` when PostgreSQL is asked for, `TEST_POSTGRES_URL` is unset and
    /// `UIC_SKIP_POSTGRES_TESTS=1`, after saying so loudly; without the
    /// opt-out, a missing server fails the test.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("uic.db").display());
                Some(TestDb { backend, url, _dir: Some(dir), created: None, raw: OnceCell::new() })
            }
            Backend::Postgres => {
                let test = test_name();
                assert!(
                    test.contains("postgres"),
                    "{test} uses PostgreSQL: its name must say `postgres`, so that .ci/run can check it ran"
                );
                let Some(server) = std::env::var(POSTGRES_URL_VAR).ok().filter(|url| !url.trim().is_empty()) else {
                    if std::env::var(SKIP_VAR).is_ok_and(|value| value == "1") {
                        loud(&format!("\n!!! PostgreSQL test SKIPPED ({SKIP_VAR}=1): {test} !!!\n"));
                        return None;
                    }
                    panic!(
                        "{POSTGRES_URL_VAR} is not set: point it at a PostgreSQL server where databases can be \
                         created (e.g. postgres://postgres@127.0.0.1:5432/test), or set {SKIP_VAR}=1 to skip \
                         the PostgreSQL tests"
                    );
                };
                let name = format!("uic_test_{}", hex::encode(rand::random::<[u8; 8]>()));
                let mut connection = PgConnection::connect(&server)
                    .await
                    .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: cannot connect to {server}: {e}"));
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut connection)
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
                let _ = connection.close().await;
                let url = with_database(&server, &name);
                record_that_postgres_ran(&name);
                Some(TestDb { backend, url, _dir: None, created: Some((server, name)), raw: OnceCell::new() })
            }
        }
    }

    /// A pool on the test's database for raw SQL in assertions. With `Any`,
    /// decode only `i64`, `String` and `bool`; cast anything else to text in
    /// SQL (`CAST(created_at AS TEXT)`), so the same SQL runs on both backends.
    pub async fn raw(&self) -> AnyPool {
        self.raw.get_or_init(|| any_pool(&self.url)).await.clone()
    }

    /// Runs one query on a connection of the backend's own driver (so any
    /// column type can be read, as an operator's SQL client would) and gives
    /// every value as text: integers in decimal, timestamps in RFC 3339 UTC,
    /// dates as `YYYY-MM-DD`, NULL as `NULL`. PostgreSQL reports in UTC.
    pub async fn text_rows(&self, sql: &str) -> Vec<TextRow> {
        let sql = AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let mut connection = SqliteConnection::connect(&self.url).await.expect("SQLite connection");
                let rows = sqlx::query(sql).fetch_all(&mut connection).await.unwrap_or_else(|e| panic!("query: {e}"));
                let _ = connection.close().await;
                rows.iter().map(sqlite_text_row).collect()
            }
            Backend::Postgres => {
                let mut connection = PgConnection::connect(&self.url).await.expect("PostgreSQL connection");
                sqlx::raw_sql("SET TIME ZONE 'UTC'").execute(&mut connection).await.expect("SET TIME ZONE");
                let rows = sqlx::query(sql).fetch_all(&mut connection).await.unwrap_or_else(|e| panic!("query: {e}"));
                let _ = connection.close().await;
                rows.iter().map(pg_text_row).collect()
            }
        }
    }
}

impl TestDb {
    /// Every row of every table but sqlx's record of migrations, one line per
    /// row (`table: column=value, …`): what anyone holding the database can read.
    pub async fn dump(&self) -> String {
        let tables = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                   AND name <> '_sqlx_migrations' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name AS name FROM information_schema.tables
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1"
            }
        };
        let tables = self.text_rows(tables).await;
        assert!(tables.len() >= 7, "every table of the schema is dumped");
        let mut dump = String::new();
        for table in tables {
            let name = table.get("name");
            for row in self.text_rows(&format!("SELECT * FROM {name}")).await {
                let values: Vec<String> = row.0.iter().map(|(column, value)| format!("{column}={value}")).collect();
                dump.push_str(&format!("{name}: {}\n", values.join(", ")));
            }
        }
        dump
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.created.take() else { return };
        // Drop cannot await, and the test's runtime may be a current-thread one
        // that is busy dropping us: a thread with its own runtime does it, and
        // is waited for, so no database outlives its test.
        let dropper = std::thread::spawn(move || {
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
        });
        // Never panic here: this may run while a failing test unwinds.
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => loud(&format!("test database {} was not dropped: {e}\n", self.url)),
            Err(_) => loud(&format!("test database {} was not dropped: the dropping thread panicked\n", self.url)),
        }
    }
}

/// An `Any` pool on `url` (SQLite or PostgreSQL).
pub async fn any_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new().max_connections(4).connect(url).await.unwrap_or_else(|e| panic!("pool on {url}: {e}"))
}

/// One row of [`TestDb::text_rows`]: (column, value as text), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow(pub Vec<(String, String)>);

impl TextRow {
    /// The value of the `i`-th column.
    pub fn at(&self, i: usize) -> &str {
        &self.0[i].1
    }

    pub fn get(&self, column: &str) -> &str {
        self.0
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no column `{column}` in {self:?}"))
    }
}

fn sqlite_text_row(row: &SqliteRow) -> TextRow {
    let values = row
        .columns()
        .iter()
        .map(|column| {
            let i = column.ordinal();
            let raw = row.try_get_raw(i).expect("column value");
            let value = match raw.type_info().name() {
                "NULL" => "NULL".to_string(),
                "INTEGER" => row.get::<i64, _>(i).to_string(),
                "REAL" => row.get::<f64, _>(i).to_string(),
                "TEXT" => row.get::<String, _>(i),
                other => panic!("column `{}`: SQLite type {other} has no text form here", column.name()),
            };
            (column.name().to_string(), value)
        })
        .collect();
    TextRow(values)
}

fn pg_text_row(row: &PgRow) -> TextRow {
    let values = row
        .columns()
        .iter()
        .map(|column| {
            let i = column.ordinal();
            let value = if row.try_get_raw(i).expect("column value").is_null() {
                "NULL".to_string()
            } else {
                match column.type_info().name() {
                    "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => row.get::<String, _>(i),
                    "INT2" => row.get::<i16, _>(i).to_string(),
                    "INT4" => row.get::<i32, _>(i).to_string(),
                    "INT8" => row.get::<i64, _>(i).to_string(),
                    "BOOL" => row.get::<bool, _>(i).to_string(),
                    "TIMESTAMPTZ" => row.get::<DateTime<Utc>, _>(i).to_rfc3339(),
                    "DATE" => row.get::<NaiveDate, _>(i).to_string(),
                    other => panic!("column `{}`: PostgreSQL type {other} has no text form here", column.name()),
                }
            };
            (column.name().to_string(), value)
        })
        .collect();
    TextRow(values)
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

/// Appends a line to `UIC_PG_TESTS_RAN_FILE`, when set: proof for CI that
/// PostgreSQL tests ran rather than skipped.
fn record_that_postgres_ran(database: &str) {
    let Some(path) = std::env::var_os(RAN_FILE_VAR) else { return };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{RAN_FILE_VAR}={}: {e}", path.to_string_lossy()));
    writeln!(file, "{} {database}", test_name()).expect("record that a PostgreSQL test ran");
}

/// The running test's name (the harness names each test's thread after it).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("a test").to_string()
}

/// Straight to standard error, not through `eprintln!`, which the test
/// harness captures and shows only for failing tests.
fn loud(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(message.as_bytes());
    let _ = stderr.flush();
}

#[test]
fn a_database_replaces_the_path_of_the_url() {
    assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
    assert_eq!(with_database("postgres://u:p@h/test?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
}
