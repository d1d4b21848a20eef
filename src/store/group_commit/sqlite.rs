//! SQLite's batches: one writer, so one batch at a time. A batch is two
//! hand-offs to sqlx's worker thread whatever its size (three when turns
//! complete codes): `BEGIN IMMEDIATE` with the reads, then every write with
//! the commit. With every commit synced (the default), the batch's commit is
//! synced beside the writer (`wal_sync`) while the next batch begins, and its
//! turns are answered once it is.

use std::sync::{LazyLock, OnceLock};

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OwnedMutexGuard;

use super::{
    Batches, GroupCommit, Present, Results, TurnKey, WriteArrays, WriteTexts, Writes, answer_all, json_array, present,
    turn_keys, write_text,
};
use crate::store::sqlite::{SqliteStore, Writer};
use crate::store::{StoreError, TurnStart, codes, outbox, sessions, statistics, wal_sync};

/// The reads of a batch, which begin its transaction and take the write lock.
static READ: LazyLock<String> = LazyLock::new(|| format!("BEGIN IMMEDIATE;\n{}", sessions::START_BATCH_SQLITE));

/// [`READ`] when the batch's commit is to be synced beside the writer
/// (`wal_sync`) and the writer still syncs its own commits.
static READ_RELAXING: LazyLock<String> = LazyLock::new(|| format!("{}{}", wal_sync::RELAX, *READ));

/// The writes of a batch, then its commit: a statement for each of the
/// [`WriteArrays`] that has elements, in their order, its array bound as the
/// next of `$1`, `$2`… A statement of an empty array still costs SQLite a
/// step (some 10 µs), and a batch in the middle of conversations has rows
/// for three or four tables of nine. (PostgreSQL's `write_sql` leaves them
/// out the same way.)
fn write_sql(present: Present) -> &'static str {
    static TEXTS: WriteTexts = [const { OnceLock::new() }; 1 << 9];
    write_text(&TEXTS, present, |present| {
        let builders: [fn(usize) -> String; 9] = [
            sessions::upsert_sessions_batch_sql,
            sessions::delete_sessions_batch_sql,
            // Before the insert below: the new message keeps its replies.
            sessions::forget_earlier_batch_sql,
            sessions::insert_processed_batch_sql,
            outbox::enqueue_batch_sql,
            statistics::count_batch_sql,
            codes::upsert_records_batch_sql,
            codes::insert_collisions_batch_sql,
            // Last: its rows, the links' tokens, are all the statement returns.
            codes::qr_links_batch_sql,
        ];
        let mut parts: Vec<String> = builders
            .iter()
            .zip(present)
            .filter(|(_, present)| *present)
            .enumerate()
            .map(|(index, (build, _))| build(index + 1))
            .collect();
        parts.push("COMMIT".to_string());
        parts.join(";\n")
    })
}

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
        let present = present(&arrays);
        let mut query = sqlx::query(AssertSqlSafe(write_sql(present)));
        for (array, _) in arrays.into_iter().zip(present).filter(|(_, present)| *present) {
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

#[cfg(test)]
mod tests {
    use super::write_sql;

    #[test]
    fn writes_leave_out_empty_arrays_and_number_the_others_in_order() {
        // Sessions upserted, messages processed, counts: a batch in the middle of conversations.
        let present = [true, false, false, true, false, true, false, false, false];
        let sql = write_sql(present);
        let statements: Vec<&str> = sql.split(";\n").collect();
        assert_eq!(statements.len(), 4, "{sql}");
        assert!(statements[0].starts_with("INSERT INTO conversation_sessions") && statements[0].contains("$1"));
        assert!(statements[1].starts_with("INSERT INTO processed_messages") && statements[1].contains("$2"));
        assert!(statements[2].starts_with("INSERT INTO flow_statistics") && statements[2].contains("$3"));
        assert_eq!(statements[3], "COMMIT");
        assert!(!sql.contains("$4"));
        // Built once: the same text, so the same prepared statement.
        assert!(std::ptr::eq(sql, write_sql(present)));
        assert_eq!(write_sql([false; 9]), "COMMIT");
        let all = write_sql([true; 9]);
        assert!((1..=9).all(|n| all.contains(&format!("${n})"))) && !all.contains("$10"), "{all}");
    }
}
