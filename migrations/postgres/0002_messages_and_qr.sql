-- Inbound message ids already processed, per channel, with the replies they
-- got: a provider's redelivery gets the same replies and changes nothing.
-- Kept for MESSAGE_RETENTION_HOURS, then removed by the periodic cleanup.
CREATE TABLE processed_messages (
    channel    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    replies    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, message_id)
);
CREATE INDEX processed_messages_created_at ON processed_messages (created_at);

-- Unguessable names for QR code images: /qr/<token>.png, never the code itself.
CREATE TABLE qr_codes (
    token      TEXT PRIMARY KEY,
    uic_code   TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
