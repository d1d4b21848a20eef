//! SQLite's batches: one writer, so one batch at a time. A batch is two
//! hand-offs to sqlx's worker thread whatever its size (three when turns
//! complete codes): `BEGIN IMMEDIATE` with the reads, then every write with
//! the commit. With every commit synced (the default), the batch's commit is
//! synced beside the writer (`wal_sync`) while the next batch begins, and its
//! turns are answered once it is.

use std::sync::LazyLock;

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OwnedMutexGuard;

use super::{Batches, GroupCommit, Results, TurnKey, WriteArrays, Writes, answer_all, json_array, turn_keys};
use crate::store::sqlite::{SqliteStore, Writer};
use crate::store::{StoreError, TurnStart, codes, outbox, sessions, statistics, wal_sync};

/// The reads of a batch, which begin its transaction and take the write lock.
static READ: LazyLock<String> = LazyLock::new(|| format!("BEGIN IMMEDIATE;\n{}", sessions::START_BATCH_SQLITE));

/// [`READ`] when the batch's commit is to be synced beside the writer
/// (`wal_sync`) and the writer still syncs its own commits.
static READ_RELAXING: LazyLock<String> = LazyLock::new(|| format!("{}{}", wal_sync::RELAX, *READ));

/// The writes of a batch, then its commit; `$1`..`$9` are [`WriteArrays`].
static WRITE: LazyLock<String> = LazyLock::new(|| {
    [
        sessions::upsert_sessions_batch_sql(1),
        sessions::delete_sessions_batch_sql(2),
        // Before the insert below: the new message keeps its replies.
        sessions::forget_earlier_batch_sql(3),
        sessions::insert_processed_batch_sql(4),
        outbox::enqueue_batch_sql(5),
        statistics::count_batch_sql(6),
        codes::upsert_records_batch_sql(7),
        codes::insert_collisions_batch_sql(8),
        // Last: its rows, the links' tokens, are all the statement returns.
        codes::qr_links_batch_sql(9),
        "COMMIT".to_string(),
    ]
    .join(";\n")
});

/// The writer, held for a batch; `relax` when its commit is synced beside it.
pub(in crate::store) struct SqliteBatch {
    writer: OwnedMutexGuard<Writer>,
    relax: bool,
}

impl Batches for SqliteStore {
    type Connection = SqliteBatch;
    const RUNNERS: usize = 1;

    fn group_commit(&self) -> &GroupCommit {
        SqliteStore::group_commit(self)
    }

    async fn connection(&self) -> Result<SqliteBatch, StoreError> {
        Ok(SqliteBatch { writer: self.batch_writer().await, relax: self.wal_sync().is_some() })
    }

    async fn read(
        batch: &mut SqliteBatch,
        turns: &[TurnKey<'_>],
    ) -> Result<Vec<Result<TurnStart, StoreError>>, StoreError> {
        // Set first: if BEGIN fails, the rollback that follows is harmless; and
        // whether or not the pragma ran, setting it back is.
        batch.writer.in_transaction = true;
        let read = batch.writer.relaxing(batch.relax, &READ, &READ_RELAXING);
        let rows =
            sqlx::query(AssertSqlSafe(read)).bind(turn_keys(turns)?).fetch_all(batch.writer.connection()?).await?;
        Ok(turns.iter().zip(&rows).map(|(turn, row)| sessions::turn_start(row, turn.message)).collect())
    }

    async fn lookup(batch: &mut SqliteBatch, completed: &[(&str, &str)]) -> Result<Vec<(bool, bool)>, StoreError> {
        let keys = json_array(completed)?;
        let rows =
            sqlx::query(codes::REGISTRATION_LOOKUP_SQLITE).bind(keys).fetch_all(batch.writer.connection()?).await?;
        rows.iter().map(|row| Ok((row.try_get("same_answers")?, row.try_get("same_code")?))).collect()
    }

    async fn write(batch: &mut SqliteBatch, writes: Writes) -> Result<Vec<(String, String)>, StoreError> {
        let arrays: WriteArrays = writes.arrays()?;
        let mut query = sqlx::query(AssertSqlSafe(WRITE.as_str()));
        for array in arrays {
            query = query.bind(array);
        }
        let rows = query.fetch_all(batch.writer.connection()?).await?;
        batch.writer.in_transaction = false;
        rows.iter().map(|row| Ok((row.try_get("qr_code")?, row.try_get("qr_token")?))).collect()
    }

    async fn settle(batch: &mut SqliteBatch) {
        batch.writer.settle().await;
    }

    fn answer(&self, results: Results, committed: usize) {
        match self.wal_sync() {
            // The next batch begins while this one's commit reaches the disk.
            Some(wal) => {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let synced = wal.sync().await;
                    if let Err(error) = &synced {
                        tracing::error!(error = %error, "syncing the WAL failed: its turns are answered with an error");
                    }
                    answer_all(results, committed, synced.as_ref().err());
                });
            }
            None => answer_all(results, committed, None),
        }
    }
}
