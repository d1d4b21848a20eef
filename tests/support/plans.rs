//! The queries a turn runs against tables that grow (plus the start-up
//! versions check and the dashboard's counters), copied verbatim from the
//! store (`src/store/sessions.rs`, `src/store/codes.rs` and
//! `src/store/statistics.rs`, whose SQL both backends run, and PostgreSQL's
//! batches in `src/store/group_commit/postgres.rs`), and their query
//! plans on each backend: each must
//! reach its rows through an index, never by scanning a table, or turns get
//! slower as codes accumulate.
//!
//! Used by `tests/storage.rs` (small databases) and by `benches/scale.rs`
//! (with a million codes), which includes this file with `#[path]`; so it
//! depends only on what both have. [`drift`] checks that every query here is
//! still, word for word, one the store runs: when the store's SQL changes,
//! change it here too.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{AssertSqlSafe, PgConnection, Row, SqliteConnection};

/// A value bound to a parameter of a [`HotQuery`] when it is explained.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Text(&'static str),
    Int(i64),
    /// A fixed moment (2026-03-14 09:00 UTC).
    Time,
    /// A fixed day (2026-03-14).
    Day,
    /// The formula fingerprint given to the plan functions: the planner's
    /// choice depends on whether stored codes have it.
    Fingerprint,
}

/// One query of the store, with realistic values for its parameters.
#[derive(Debug, Clone, Copy)]
pub struct HotQuery {
    pub name: &'static str,
    pub sql: &'static str,
    pub params: &'static [Value],
}

const KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const PHONE: &str = "+243810000001";

/// Every turn's first read, the registration's lookups, the session's
/// removal, the forgetting of a conversation's replies, the QR token of a new
/// code, the versions check, and the dashboard's counters of a period. (A
/// turn's upsert of its counters has no plan to check: it reaches its row
/// through the primary key, as every `ON CONFLICT` does.)
pub const HOT_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "turn start: session + processed message",
        sql: "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
                    s.invalid_attempts, s.started_at, s.updated_at
             FROM (SELECT 1) AS here
             LEFT JOIN processed_messages p ON p.channel = $1 AND p.message_id = $2
             LEFT JOIN conversation_sessions s ON s.phone_number = $3",
        params: &[Value::Text("twilio"), Value::Text("SM0123456789abcdef0123456789abcdef"), Value::Text(PHONE)],
    },
    HotQuery {
        name: "register: same answers (duplicate_key)",
        sql: "UPDATE uic_records SET request_count = request_count + 1, last_requested_at = $1 WHERE duplicate_key = $2",
        params: &[Value::Time, Value::Text(KEY)],
    },
    HotQuery {
        name: "register: same code (uic_code)",
        sql: "SELECT 1 FROM uic_records WHERE uic_code = $1 LIMIT 1",
        params: &[Value::Text("MBEIBR7DA1")],
    },
    HotQuery {
        name: "finish: session removed on completion",
        sql: "DELETE FROM conversation_sessions WHERE phone_number = $1",
        params: &[Value::Text(PHONE)],
    },
    HotQuery {
        name: "finish: replies of a conversation that ended forgotten",
        sql: "UPDATE processed_messages SET replies = '[]', phone_number = NULL WHERE phone_number = $1",
        params: &[Value::Text(PHONE)],
    },
    HotQuery {
        name: "QR token of a code",
        sql: "SELECT token FROM qr_codes WHERE uic_code = $1",
        params: &[Value::Text("MBEIBR7DA1")],
    },
    HotQuery {
        name: "versions check (start-up, lint --db)",
        sql: "SELECT (SELECT MIN(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2), (SELECT MAX(formula_fingerprint) FROM uic_records WHERE flow_id = $1 AND flow_version = $2)",
        params: &[Value::Text("drc-fr"), Value::Int(1)],
    },
    HotQuery {
        name: "dashboard: counters of a period (primary key range)",
        sql: "SELECT day, flow_id, step_id, outcome, count FROM flow_statistics WHERE day >= $1 AND day < $2",
        params: &[Value::Day, Value::Day],
    },
];

/// A query that no index serves, to show that a scan is caught.
pub const UNINDEXED: HotQuery = HotQuery {
    name: "(control) codes of a phone number: no index",
    sql: "SELECT 1 FROM uic_records WHERE phone_number = $1 LIMIT 1",
    params: &[Value::Text(PHONE)],
};

/// A query's plan as the backend printed it, and what is wrong with it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: &'static str,
    pub lines: Vec<String>,
    /// `Some` when a table is scanned or no index is used.
    pub problem: Option<String>,
}

fn moment() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap()
}

macro_rules! bind_all {
    ($query:expr, $params:expr, $fingerprint:expr) => {{
        let mut query = $query;
        for value in $params {
            query = match *value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
                Value::Time => query.bind(moment()),
                Value::Day => query.bind(moment().date_naive()),
                Value::Fingerprint => query.bind($fingerprint),
            };
        }
        query
    }};
}

/// `EXPLAIN QUERY PLAN` of `query`, one line per plan node, indented under
/// its parent; `fingerprint` is the flow's formula fingerprint.
pub async fn sqlite_plan(
    connection: &mut SqliteConnection,
    query: &HotQuery,
    fingerprint: &str,
) -> Result<Plan, sqlx::Error> {
    let sql = format!("EXPLAIN QUERY PLAN {}", query.sql);
    let rows =
        bind_all!(sqlx::query(AssertSqlSafe(sql)), query.params, fingerprint).fetch_all(&mut *connection).await?;
    let mut depth: Vec<(i64, usize)> = Vec::new();
    let mut lines = Vec::new();
    for row in &rows {
        let (id, parent, detail): (i64, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(3)?);
        while depth.last().is_some_and(|(node, _)| *node != parent) {
            depth.pop();
        }
        let indent = depth.last().map_or(0, |(_, level)| level + 1);
        depth.push((id, indent));
        lines.push(format!("{}{detail}", "  ".repeat(indent)));
    }
    let problem = sqlite_problem(&lines);
    Ok(Plan { name: query.name, lines, problem })
}

/// A `SCAN` of a table (the constant row `here` of the turn's start, and a
/// batch's JSON array, are no table), or no `SEARCH … USING … INDEX`/`PRIMARY
/// KEY` at all.
fn sqlite_problem(lines: &[String]) -> Option<String> {
    if let Some(scan) = lines.iter().map(|line| line.trim()).find(|line| {
        line.starts_with("SCAN ")
                && !matches!(*line, "SCAN here" | "SCAN CONSTANT ROW")
                // The batch itself (`jsonb_each` of a parameter), not a table.
                && !line.contains("VIRTUAL TABLE")
    }) {
        return Some(format!("table scan: `{scan}`"));
    }
    let indexed =
        |line: &&String| line.contains("SEARCH ") && (line.contains(" INDEX ") || line.contains("USING PRIMARY KEY"));
    if !lines.iter().any(|line| indexed(&line)) {
        return Some("no index used".to_string());
    }
    None
}

/// `EXPLAIN` of `query` (with the values bound, as the store runs it);
/// `fingerprint` is the flow's formula fingerprint.
pub async fn postgres_plan(
    connection: &mut PgConnection,
    query: &HotQuery,
    fingerprint: &str,
) -> Result<Plan, sqlx::Error> {
    let sql = format!("EXPLAIN {}", query.sql);
    let rows =
        bind_all!(sqlx::query(AssertSqlSafe(sql)), query.params, fingerprint).fetch_all(&mut *connection).await?;
    let lines = rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>()?;
    let problem = postgres_problem(&lines);
    Ok(Plan { name: query.name, lines, problem })
}

/// A `Seq Scan`, no index scan at all, or an index read whole (an index
/// scan without an `Index Cond`, which the planner may pick when sequential
/// scans are off).
fn postgres_problem(lines: &[String]) -> Option<String> {
    if let Some(scan) = lines.iter().find(|line| line.contains("Seq Scan")) {
        return Some(format!("table scan: `{}`", scan.trim()));
    }
    // "Index Scan", "Index Only Scan", "Bitmap Index Scan", each with its condition.
    let scans = lines.iter().filter(|line| line.contains("Index Scan") || line.contains("Index Only Scan")).count();
    if scans == 0 {
        return Some("no index scan".to_string());
    }
    if lines.iter().filter(|line| line.trim_start().starts_with("Index Cond:")).count() < scans {
        return Some("an index is read whole (no Index Cond)".to_string());
    }
    None
}

/// The plans of every [`HOT_QUERIES`] and [`SQLITE_BATCH_QUERIES`] on SQLite.
pub async fn sqlite_plans(connection: &mut SqliteConnection, fingerprint: &str) -> Result<Vec<Plan>, sqlx::Error> {
    let mut plans = Vec::new();
    for query in HOT_QUERIES.iter().chain(SQLITE_BATCH_QUERIES) {
        plans.push(sqlite_plan(connection, query, fingerprint).await?);
    }
    Ok(plans)
}

/// The plans of every [`HOT_QUERIES`] and [`POSTGRES_BATCH_QUERIES`] on PostgreSQL.
pub async fn postgres_plans(connection: &mut PgConnection, fingerprint: &str) -> Result<Vec<Plan>, sqlx::Error> {
    let mut plans = Vec::new();
    for query in HOT_QUERIES.iter().chain(POSTGRES_BATCH_QUERIES) {
        plans.push(postgres_plan(connection, query, fingerprint).await?);
    }
    Ok(plans)
}

/// The plans as text: each query's name, `ok` or its problem, then its plan.
pub fn describe(plans: &[Plan]) -> String {
    let mut text = String::new();
    for plan in plans {
        let verdict = plan.problem.as_deref().unwrap_or("ok");
        text.push_str(&format!("  {} — {verdict}\n", plan.name));
        for line in &plan.lines {
            text.push_str(&format!("      {line}\n"));
        }
    }
    text
}

/// SQLite's group commit reads a batch of turns with one statement each
/// (`src/store/group_commit/sqlite.rs`), a JSON array of the batch as parameter:
/// scanning that array is the point, every table is searched through an index.
pub const SQLITE_BATCH_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "batch start: sessions + processed messages",
        sql: "SELECT here.key AS turn, p.replies, s.flow_id, s.flow_version, s.language,
            s.current_step, s.answers, s.invalid_attempts, s.started_at, s.updated_at
     FROM jsonb_each($1) AS here
     LEFT JOIN processed_messages p ON p.channel = here.value ->> 0 AND p.message_id = here.value ->> 1
     LEFT JOIN conversation_sessions s ON s.phone_number = here.value ->> 2
     ORDER BY here.key",
        params: &[Value::Text("[[\"twilio\",\"SM0123456789abcdef0123456789abcdef\",\"+243810000001\"]]")],
    },
    HotQuery {
        name: "batch registration: same answers, same code",
        sql: "SELECT here.key AS turn,
            EXISTS (SELECT 1 FROM uic_records r WHERE r.duplicate_key = here.value ->> 0) AS same_answers,
            EXISTS (SELECT 1 FROM uic_records r WHERE r.uic_code = here.value ->> 1) AS same_code
     FROM jsonb_each($1) AS here ORDER BY here.key",
        params: &[Value::Text(
            "[[\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"MBEIBR7DA1\"]]",
        )],
    },
];

/// PostgreSQL's batches of turns (`src/store/group_commit/postgres.rs`): a
/// JSON array of the batch as parameter, each element an index lookup. The
/// planner guesses 100 elements, so a plain join over the array could scan a
/// whole table: on a big one (`benches/scale.rs`) none may.
pub const POSTGRES_BATCH_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "postgres batch start: sessions + processed messages",
        sql: "SELECT p.replies, s.flow_id, s.flow_version, s.language, s.current_step, s.answers,
            s.invalid_attempts, s.started_at, s.updated_at
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS here (value, turn)
     LEFT JOIN LATERAL (SELECT replies FROM processed_messages
                        WHERE channel = here.value ->> 0 AND message_id = here.value ->> 1 LIMIT 1) AS p ON true
     LEFT JOIN LATERAL (SELECT * FROM conversation_sessions WHERE phone_number = here.value ->> 2 LIMIT 1) AS s
       ON true
     ORDER BY here.turn",
        params: &[Value::Text("[[\"twilio\",\"SM0123456789abcdef0123456789abcdef\",\"+243810000001\"]]")],
    },
    HotQuery {
        name: "postgres batch registration: same answers, same code",
        sql: "SELECT answers.held IS NOT NULL AS same_answers, code.held IS NOT NULL AS same_code
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS here (value, turn)
     LEFT JOIN LATERAL (SELECT 1 AS held FROM uic_records WHERE duplicate_key = here.value ->> 0 LIMIT 1) AS answers
       ON true
     LEFT JOIN LATERAL (SELECT 1 AS held FROM uic_records WHERE uic_code = here.value ->> 1 LIMIT 1) AS code ON true
     ORDER BY here.turn",
        params: &[Value::Text(
            "[[\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"MBEIBR7DA1\"]]",
        )],
    },
    HotQuery {
        name: "postgres batch writes: sessions removed",
        sql: "DELETE FROM conversation_sessions WHERE phone_number = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        params: &[Value::Text("[\"+243810000002\"]")],
    },
    HotQuery {
        name: "postgres batch writes: replies of ended conversations forgotten",
        sql: "UPDATE processed_messages SET replies = '[]', phone_number = NULL
         WHERE phone_number = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
        params: &[Value::Text("[\"+243810000002\"]")],
    },
    HotQuery {
        name: "postgres batch: QR links held before",
        sql: "SELECT uic_code AS qr_code, token AS qr_token FROM qr_codes
     WHERE uic_code = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) AND created_at >= $2::timestamptz",
        params: &[Value::Text("[\"MBEIBR7DA1\"]"), Value::Time],
    },
];

/// The queries of [`HOT_QUERIES`] that the store's source no longer runs
/// word for word (whitespace aside), as `(store file, query name)`.
pub fn drift() -> Vec<(&'static str, &'static str)> {
    // Each query is written once, in the store module both backends share.
    let sources = [
        ("src/store/sessions.rs", include_str!("../../src/store/sessions.rs")),
        ("src/store/codes.rs", include_str!("../../src/store/codes.rs")),
        ("src/store/statistics.rs", include_str!("../../src/store/statistics.rs")),
        ("src/store/group_commit/postgres.rs", include_str!("../../src/store/group_commit/postgres.rs")),
    ];
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut missing = Vec::new();
    for query in HOT_QUERIES.iter().chain(SQLITE_BATCH_QUERIES).chain(POSTGRES_BATCH_QUERIES) {
        let sql = words(query.sql);
        if !sources.iter().any(|(_, source)| words(source).contains(&sql)) {
            missing.push(("src/store", query.name));
        }
    }
    missing
}
