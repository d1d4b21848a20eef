-- Work that leaves the process (replies sent by API, DHIS2 registrations,
-- notifications), written in the transaction of the turn that causes it and
-- delivered by the outbox worker: retried with backoff, in order per
-- recipient, and never lost across restarts.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending, done or dead (given up; `uic outbox retry` revives it)
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- A worker's claim; a worker that died lets it lapse and another takes over.
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, status, id);
