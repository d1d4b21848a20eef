-- Processed messages stored in the order they came (a rowid table, as
-- PostgreSQL stores every table), no longer in the order of their ids: the
-- ids are random, so each new message was written into a page of its own,
-- and so was the earlier message whose replies it forgets. Now a batch's new
-- rows share the table's last pages, an earlier message of the same
-- conversation is most often among them, and only the small index of
-- (channel, message id) is written at random.
DROP INDEX processed_messages_created_at;
DROP INDEX processed_messages_phone_number;
ALTER TABLE processed_messages RENAME TO processed_messages_by_id;
CREATE TABLE processed_messages (
    channel      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    replies      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    phone_number TEXT,
    UNIQUE (channel, message_id)
);
INSERT INTO processed_messages (channel, message_id, replies, created_at, phone_number)
    SELECT channel, message_id, replies, created_at, phone_number FROM processed_messages_by_id ORDER BY created_at;
DROP TABLE processed_messages_by_id;
CREATE INDEX processed_messages_created_at ON processed_messages (created_at);
CREATE INDEX processed_messages_phone_number ON processed_messages (phone_number)
    WHERE phone_number IS NOT NULL;
