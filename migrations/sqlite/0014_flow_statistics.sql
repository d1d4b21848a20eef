-- Counters for the staff dashboard's funnel (issue 11): how many conversations
-- started, reached each question, drew an invalid answer there, ended there
-- (restarted, expired, escalated) or completed, per UTC day and flow. Only
-- words and counts: a step id and an outcome are words of the flow and of the
-- code, never an answer, and no phone number is kept, so the counters may
-- outlive every conversation (ARCHITECTURE.md's privacy invariants).
-- `step_id` is '' for events of a whole conversation (started, completed).
-- A turn adds to its counters in its own transaction (an UPSERT per row),
-- so they agree with the sessions and codes it commits. The key is the
-- primary key: a turn's upsert is one seek, the dashboard's read a range of days.
CREATE TABLE flow_statistics (
    day     TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (day, flow_id, step_id, outcome)
) WITHOUT ROWID;
