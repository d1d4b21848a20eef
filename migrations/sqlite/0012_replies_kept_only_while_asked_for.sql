-- Replies that answered a message are kept only while the provider may ask
-- for them again (ARCHITECTURE.md, "Exactly once, without keeping what people
-- typed"): `phone_number` links a stored reply to its conversation, so that
-- the turn that ends it can empty them, and is cleared with them. A row
-- whose replies are '[]' is still a processed message: a redelivery gets no
-- reply and runs nothing.
ALTER TABLE processed_messages ADD COLUMN phone_number TEXT;
CREATE INDEX processed_messages_phone_number ON processed_messages (phone_number)
    WHERE phone_number IS NOT NULL;

-- Replies stored before this version may repeat answers: forget them now.
UPDATE processed_messages SET replies = '[]' WHERE replies <> '[]';

-- A delivered job's texts went with it.
UPDATE outbox SET payload = '' WHERE status = 'done';
