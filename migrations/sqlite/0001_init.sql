-- Sessions: one person's progress. Answers are held here only until the
-- conversation completes or expires (SPEC §7).
CREATE TABLE conversation_sessions (
    phone_number     TEXT PRIMARY KEY,
    flow_id          TEXT NOT NULL,
    flow_version     INTEGER NOT NULL,
    language         TEXT NOT NULL,
    current_step     TEXT NOT NULL,
    answers          TEXT NOT NULL,
    invalid_attempts INTEGER NOT NULL DEFAULT 0,
    started_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) WITHOUT ROWID;
-- No index on updated_at: the table holds only conversations in progress,
-- and every turn would pay to maintain one that only the periodic cleanup reads.

-- Issued codes. The answers are never stored: `duplicate_key` is an HMAC of
-- them with the salt, and identifies the same answers given again.
CREATE TABLE uic_records (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    uic_code            TEXT NOT NULL,
    duplicate_key       TEXT NOT NULL UNIQUE,
    phone_number        TEXT NOT NULL,
    flow_id             TEXT NOT NULL,
    flow_version        INTEGER NOT NULL,
    formula_fingerprint TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    last_requested_at   TEXT NOT NULL,
    request_count       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX uic_records_uic_code ON uic_records (uic_code);
CREATE INDEX uic_records_created_at ON uic_records (created_at);

-- Different answers that made an existing code, for staff review.
CREATE TABLE uic_collisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uic_code      TEXT NOT NULL,
    flow_id       TEXT NOT NULL,
    duplicate_key TEXT NOT NULL,
    phone_number  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX uic_collisions_uic_code ON uic_collisions (uic_code);
