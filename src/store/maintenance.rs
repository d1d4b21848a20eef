//! What the periodic cleanup, `/health`, `/metrics` and `uic db status` run,
//! the same on both backends. (Whether the migrations table exists is asked
//! differently by each, and stays with the backend.)

/// Answers when the database does.
pub(super) const PING: &str = "SELECT 1";

/// `/health`'s write (migration 0015): the one row of `health_probe`, its time `$1`.
pub(super) const PROBE_WRITE: &str = "INSERT INTO health_probe (id, checked_at) VALUES (1, $1) \
     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at";

/// The versions of the migrations applied, in order.
pub(super) const APPLIED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// Sessions idle since before `$1`.
pub(super) const CLEANUP_SESSIONS: &str = "DELETE FROM conversation_sessions WHERE updated_at < $1";

/// Processed message ids recorded before `$1`.
pub(super) const CLEANUP_PROCESSED: &str = "DELETE FROM processed_messages WHERE created_at < $1";

/// Sessions updated since `$1` (the active ones).
pub(super) const COUNT_SESSIONS_SINCE: &str = "SELECT COUNT(*) FROM conversation_sessions WHERE updated_at >= $1";
