//! The store's errors, written so that their text is safe to log: the
//! PostgreSQL server's message can quote a value (its "invalid input syntax
//! for type …: "…"", its detail "Key (…)=(…) already exists"), and serde's
//! can quote an answer, so neither is ever shown. What is shown instead is
//! what an operator acts on: the kind of failure, the SQLSTATE, the
//! constraint, or where the JSON broke.

use std::fmt;
use std::path::PathBuf;

use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached; the turn changed nothing.
    #[error("database error: {0}")]
    Database(DatabaseError),
    #[error("database migration failed: {0}")]
    Migration(MigrationError),
    /// A URL of no backend uic has; it holds the URL without its secrets.
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// A stored row that does not parse (hand-edited, or from a newer version).
    /// `detail` never quotes the stored text (see [`json_detail`]).
    #[error("stored {what} cannot be read: {detail}")]
    Corrupt { what: String, detail: String },
    /// The folder of a SQLite file cannot be made.
    #[error("cannot create {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    /// An operation this backend does not offer (e.g. a backup of PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// The same failure again, for each of several operations it stopped
    /// (a batch of turns with no connection): the pool's own errors as
    /// themselves, any other as an I/O error with the same safe text.
    pub(super) fn again(&self) -> StoreError {
        match self {
            StoreError::Database(DatabaseError(sqlx::Error::PoolTimedOut)) => sqlx::Error::PoolTimedOut.into(),
            StoreError::Database(DatabaseError(sqlx::Error::PoolClosed)) => sqlx::Error::PoolClosed.into(),
            other => sqlx::Error::Io(std::io::Error::other(other.to_string())).into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::Database(DatabaseError(error))
    }
}

impl From<MigrateError> for StoreError {
    fn from(error: MigrateError) -> StoreError {
        StoreError::Migration(MigrationError(error))
    }
}

/// A serde_json error made safe to show: its category and position only
/// (serde's own text quotes the value it choked on, such as an answer).
pub(super) fn json_detail(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Io => return "the JSON could not be read".to_string(),
        Category::Syntax => "invalid JSON",
        Category::Data => "JSON of an unexpected shape",
        Category::Eof => "JSON cut short",
    };
    format!("{what} at line {}, column {}", error.line(), error.column())
}

/// [`StoreError::Corrupt`] for JSON stored as `what` that does not parse.
pub(super) fn corrupt_json(what: impl Into<String>, error: &serde_json::Error) -> StoreError {
    StoreError::Corrupt { what: what.into(), detail: json_detail(error) }
}

/// An sqlx error whose `Display` and `Debug` leave out anything the database
/// or a decoder wrote that could quote a value (see the module's note).
pub struct DatabaseError(sqlx::Error);

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        safe_summary(&self.0, f)
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug would print the server's message and detail: the same summary.
        write!(f, "DatabaseError({self})")
    }
}

/// A migration error, shown like [`DatabaseError`] when the database failed.
pub struct MigrationError(MigrateError);

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        migration_summary(&self.0, f)
    }
}

impl fmt::Debug for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MigrationError({self})")
    }
}

fn migration_summary(error: &MigrateError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match error {
        MigrateError::Execute(error) => {
            f.write_str("while executing migrations: ")?;
            safe_summary(error, f)
        }
        MigrateError::ExecuteMigration(error, version) => {
            write!(f, "while executing migration {version}: ")?;
            safe_summary(error, f)
        }
        // The rest name versions and settings, never stored values.
        other => write!(f, "{other}"),
    }
}

/// What went wrong, without a word the database or a decoder wrote that
/// could quote a value.
fn safe_summary(error: &sqlx::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    use sqlx::Error;
    match error {
        Error::Database(error) => refusal(error.as_ref(), f),
        // Settings and transport: sqlx's words (the URL parser's errors and
        // the operating system's never repeat the URL or a value).
        Error::Configuration(_) | Error::Io(_) | Error::Tls(_) => write!(f, "{error}"),
        // Names of columns and types come from our SQL, not from rows.
        Error::RowNotFound
        | Error::TypeNotFound { .. }
        | Error::ColumnIndexOutOfBounds { .. }
        | Error::ColumnNotFound(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::InvalidSavePointStatement
        | Error::BeginFailed => write!(f, "{error}"),
        Error::ColumnDecode { index, .. } => write!(f, "column {index} holds a value that cannot be read"),
        Error::Decode(_) => f.write_str("a stored value cannot be read"),
        Error::Encode(_) => f.write_str("a value cannot be written"),
        Error::Protocol(_) => f.write_str("unexpected data from the database"),
        Error::Migrate(error) => migration_summary(error, f),
        _ => f.write_str("unexpected database failure"),
    }
}

/// An error the database returned. PostgreSQL: its kind, SQLSTATE,
/// constraint and table, never its message (the message and the detail can
/// quote a row: "invalid input syntax for type integer: "…"", "Key (…)=(…)").
/// SQLite: its message and code, since SQLite words them from the SQL and
/// the schema alone ("UNIQUE constraint failed: uic_records.duplicate_key",
/// "database is locked", "output file already exists"), and every value uic
/// sends is bound, never spliced into the SQL.
fn refusal(error: &dyn sqlx::error::DatabaseError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let code = error.code();
    let code = code.as_deref().unwrap_or("");
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return write!(f, "{} (SQLite code {code})", error.message());
    }
    let what = match error.kind() {
        ErrorKind::UniqueViolation => "unique constraint violated",
        ErrorKind::ForeignKeyViolation => "foreign key constraint violated",
        ErrorKind::NotNullViolation => "not-null constraint violated",
        ErrorKind::CheckViolation => "check constraint violated",
        ErrorKind::ExclusionViolation => "exclusion constraint violated",
        _ => sqlstate_meaning(code),
    };
    f.write_str(what)?;
    if !code.is_empty() {
        write!(f, " (SQLSTATE {code})")?;
    }
    if let Some(constraint) = error.constraint() {
        write!(f, ", constraint `{constraint}`")?;
    }
    if let Some(table) = error.table() {
        write!(f, ", table `{table}`")?;
    }
    Ok(())
}

/// Words for the SQLSTATEs an operator meets; the code says the rest.
fn sqlstate_meaning(code: &str) -> &'static str {
    match code {
        "28P01" => "password authentication failed",
        "28000" => "authorization refused",
        "3D000" => "no such database",
        "42P01" => "no such table (are the migrations applied?)",
        "42501" => "permission denied",
        "40001" => "serialization failure",
        "40P01" => "deadlock detected",
        "53300" => "too many connections",
        "57P01" | "57P02" | "57P03" => "the server is shutting down or starting up",
        "25006" => "read-only transaction",
        _ if code.starts_with("08") => "connection failure",
        _ if code.starts_with("22") => "a value the database refused",
        _ if code.starts_with("23") => "integrity constraint violated",
        _ if code.starts_with("42") => "SQL refused",
        _ if code.starts_with("53") => "insufficient resources",
        _ => "the database refused the statement",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn corrupt_session(json: &str) -> String {
        let error = serde_json::from_str::<BTreeMap<String, String>>(json).unwrap_err();
        corrupt_json("session of flow `drc`", &error).to_string()
    }

    #[test]
    fn a_corrupt_session_never_quotes_its_answers() {
        // Cut short inside an answer, an answer where a map belongs, a number
        // where an answer belongs, a stray word: serde quotes some of these.
        for json in [r#"{"nom": "Mbengue"#, r#""Mbengue""#, r#"{"nom": ["Mbengue"]}"#, r#"{"nom": Mbengue}"#] {
            let text = corrupt_session(json);
            assert!(!text.contains("Mbengue"), "{json}: {text}");
            assert!(text.starts_with("stored session of flow `drc` cannot be read: "), "{text}");
        }
        assert_eq!(
            corrupt_session(r#""Mbengue""#),
            "stored session of flow `drc` cannot be read: JSON of an unexpected shape at line 1, column 9"
        );
        assert_eq!(
            corrupt_session(r#"{"nom": "Mbengue"#),
            "stored session of flow `drc` cannot be read: JSON cut short at line 1, column 16"
        );
    }

    #[test]
    fn serde_would_have_quoted_the_answer() {
        // The reason for json_detail: serde's own text.
        let error = serde_json::from_str::<BTreeMap<String, String>>(r#""Mbengue""#).unwrap_err();
        assert!(error.to_string().contains("Mbengue"));
    }

    #[test]
    fn decoding_errors_do_not_show_the_value() {
        let error = StoreError::from(sqlx::Error::ColumnDecode {
            index: "\"answers\"".into(),
            source: "invalid value \"Mbengue\"".into(),
        });
        let text = error.to_string();
        assert!(!text.contains("Mbengue"), "{text}");
        assert!(!format!("{error:?}").contains("Mbengue"), "{error:?}");
        assert_eq!(text, "database error: column \"answers\" holds a value that cannot be read");
        let error = StoreError::from(sqlx::Error::Protocol("row (Mbengue)".into()));
        assert!(!error.to_string().contains("Mbengue"));
    }

    #[test]
    fn pool_and_transport_errors_keep_their_words() {
        assert_eq!(
            StoreError::from(sqlx::Error::PoolTimedOut).to_string(),
            "database error: pool timed out while waiting for an open connection"
        );
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        assert!(StoreError::from(sqlx::Error::Io(refused)).to_string().contains("Connection refused"));
    }

    #[test]
    fn codes_have_words() {
        assert_eq!(sqlstate_meaning("28P01"), "password authentication failed");
        assert_eq!(sqlstate_meaning("08006"), "connection failure");
        assert_eq!(sqlstate_meaning("XX000"), "the database refused the statement");
    }
}
