-- The dashboard's counters in shards, as on PostgreSQL (see its 0016): the
-- key gains `shard` (last, as PostgreSQL adds it), always 0 here (one writer: no turn waits on another's
-- counters). SQLite cannot change a primary key: the table is rebuilt.
CREATE TABLE flow_statistics_sharded (
    day     TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    shard   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, flow_id, step_id, outcome, shard)
) WITHOUT ROWID;
INSERT INTO flow_statistics_sharded (day, flow_id, step_id, outcome, count, shard)
    SELECT day, flow_id, step_id, outcome, count, 0 FROM flow_statistics;
DROP TABLE flow_statistics;
ALTER TABLE flow_statistics_sharded RENAME TO flow_statistics;
