-- The dashboard's counters in shards (issue 15): every turn adds to the
-- counters of its step, so on PostgreSQL turns running beside each other
-- queued on those few rows' locks until each other's commit (a WAL flush),
-- which held throughput to some 2,000 turns a second. A turn now adds to one
-- of 8 rows of each counter, chosen by its phone number; readers sum them.
-- SQLite (one writer) keeps shard 0.
ALTER TABLE flow_statistics ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE flow_statistics DROP CONSTRAINT flow_statistics_pkey;
ALTER TABLE flow_statistics ADD PRIMARY KEY (day, flow_id, step_id, outcome, shard);
