//! `uic db migrate|status|backup`, and opening the database for the operator
//! commands (which find it as `uic serve` does: [`DatabaseArgs`]): clear
//! messages for a wrong URL, a missing SQLite file or an unreachable server,
//! and URLs shown without passwords.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::DatabaseArgs;
use crate::store::{BackendKind, DatabaseUrl, Store, StoreError};

// The URL helpers live in the store; re-exported for the other commands.
pub(crate) use crate::store::{ensure_parent_dir, redact_url, sqlite_path};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the database if needed and apply the migrations.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Show which migrations the database has applied (changes nothing).
    Status {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Copy a SQLite database into a new file, consistently even while `uic serve`
    /// writes (SQLite's VACUUM INTO). PostgreSQL is backed up with pg_dump.
    Backup {
        /// The new file; refused if it exists.
        path: PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub fn run(command: DbCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        match command {
            DbCommand::Migrate { db } => status(&db.url(), true).await,
            DbCommand::Status { db } => status(&db.url(), false).await,
            DbCommand::Backup { path, db } => backup(&path, &db.url()).await,
        }
    })
}

/// Runs an async command on a runtime of its own.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(future)
}

/// `uic db migrate|status`.
async fn status(url: &str, migrate: bool) -> anyhow::Result<ExitCode> {
    let shown = redact_url(url);
    let store = if migrate {
        ensure_parent_dir(url)?;
        Store::connect(url).await.map_err(|error| open_error(url, error))?
    } else {
        connect_existing(url).await?
    };
    let status = store.migration_status().await.map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
    println!("{shown}");
    for migration in &status {
        let state = if migration.applied { "applied" } else { "pending" };
        println!("  {:>4}  {state:<7}  {}", migration.version, migration.description);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `uic db backup PATH`.
async fn backup(path: &Path, url: &str) -> anyhow::Result<ExitCode> {
    let shown = redact_url(url);
    if DatabaseUrl::parse(url).is_ok_and(|url| url.kind() == BackendKind::Postgres) {
        anyhow::bail!(
            "{shown} is a PostgreSQL database: back it up with pg_dump, not uic:\n  \
             pg_dump --file={} {}\n\
             (put the password back into the URL or set PGPASSWORD; restore with psql)",
            shell_quote(&path.display().to_string()),
            shell_quote(&shown),
        );
    }
    if sqlite_path(url).is_none() {
        anyhow::bail!("{shown}: an in-memory database has nothing to back up");
    }
    if path.symlink_metadata().is_ok() {
        anyhow::bail!("{}: already exists; a backup never overwrites a file, choose a new name", path.display());
    }
    let store = connect_existing(url).await?;
    let done = store.backup_into(path).await;
    store.close().await;
    done.map_err(|error| anyhow::anyhow!("backup of {shown} into {}: {error}", path.display()))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!("backed up {shown} into {} ({bytes} bytes)", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Opens an existing database with uic's tables, changing nothing: a missing
/// SQLite file or a database never migrated is an error, not a new database.
pub(crate) async fn open_existing(url: &str) -> anyhow::Result<Store> {
    let store = connect_existing(url).await?;
    let migrated = match store.migration_status().await {
        Ok(status) => status.iter().any(|migration| migration.applied),
        Err(error) => {
            store.close().await;
            anyhow::bail!("{}: {error}", redact_url(url));
        }
    };
    if !migrated {
        store.close().await;
        anyhow::bail!("{}: no uic tables in this database (run `uic db migrate` first)", redact_url(url));
    }
    Ok(store)
}

/// Connects without migrating; a SQLite file must already exist.
async fn connect_existing(url: &str) -> anyhow::Result<Store> {
    if let Some(path) = sqlite_path(url)
        && !Path::new(path).exists()
    {
        anyhow::bail!("{}: no such database file (run `uic db migrate` to create it)", redact_url(url));
    }
    Store::connect_unmigrated(url).await.map_err(|error| open_error(url, error))
}

/// Why a database could not be opened, naming it without its password.
fn open_error(url: &str, error: StoreError) -> anyhow::Error {
    let shown = redact_url(url);
    match error {
        StoreError::UnsupportedUrl(_) => anyhow::anyhow!(
            "{shown}: not a database URL uic knows; use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB"
        ),
        error => anyhow::anyhow!("cannot open {shown}: {error}"),
    }
}

/// `text` as one word for a POSIX shell.
fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:@".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("backups/uic-2026.dump"), "backups/uic-2026.dump");
        assert_eq!(shell_quote("postgres://***@host/db"), "'postgres://***@host/db'");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
    }
}
