-- One row /health writes (issue #14): a database that answers reads but
-- refuses writes (disk full, read-only, a full transaction log) is not
-- healthy, and only a write shows it. A time, nothing else.
CREATE TABLE health_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMPTZ NOT NULL
);
