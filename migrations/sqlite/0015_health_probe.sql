-- One row /health writes (issue #14): a database that answers reads but
-- refuses writes (disk full, read-only, locked by another process) is not
-- healthy, and only a write shows it. A time, nothing else.
CREATE TABLE health_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
