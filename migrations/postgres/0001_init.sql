-- Sessions: one person's progress. Answers are held here only until the
-- conversation completes or expires (SPEC §7).
CREATE TABLE conversation_sessions (
    phone_number     TEXT PRIMARY KEY,
    flow_id          TEXT NOT NULL,
    flow_version     BIGINT NOT NULL,
    language         TEXT NOT NULL,
    current_step     TEXT NOT NULL,
    answers          TEXT NOT NULL,
    invalid_attempts BIGINT NOT NULL DEFAULT 0,
    started_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Issued codes. The answers are never stored: `duplicate_key` is an HMAC of
-- them with the salt, and identifies the same answers given again.
CREATE TABLE uic_records (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uic_code            TEXT NOT NULL,
    duplicate_key       TEXT NOT NULL UNIQUE,
    phone_number        TEXT NOT NULL,
    flow_id             TEXT NOT NULL,
    flow_version        BIGINT NOT NULL,
    formula_fingerprint TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_requested_at   TIMESTAMPTZ NOT NULL,
    request_count       BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX uic_records_uic_code ON uic_records (uic_code);
CREATE INDEX uic_records_created_at ON uic_records (created_at);

-- Different answers that made an existing code, for staff review.
CREATE TABLE uic_collisions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uic_code      TEXT NOT NULL,
    flow_id       TEXT NOT NULL,
    duplicate_key TEXT NOT NULL,
    phone_number  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX uic_collisions_uic_code ON uic_collisions (uic_code);
