-- Messages sent through a provider's API (the Meta channel), by the id the
-- provider gave them, with the latest status it reported: accepted (by the
-- API), sent, delivered, read, or failed with the provider's error code.
-- A status may arrive before the send is recorded, so either may create the row.
CREATE TABLE sent_messages (
    channel     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    -- The outbox job that sent it (none when a status came first).
    job_id      BIGINT,
    status      TEXT NOT NULL,
    error_code  BIGINT,
    error_title TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (channel, message_id)
) WITHOUT ROWID;
CREATE INDEX sent_messages_updated_at ON sent_messages (updated_at);
-- Delivered jobs are removed by the cleanup an hour after delivery.
CREATE INDEX outbox_done ON outbox (status, updated_at);
-- Claims walk the pending jobs oldest first and stop at the first due heads of
-- their recipients: a partial index in that order keeps a claim a short scan
-- however large a backlog grows (the index on (status, next_attempt_at) made
-- the planner sort every pending job first, slower with each one).
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
