-- Each code's registration in DHIS2 Tracker (SPEC §11): NULL when it was
-- issued while registration was off (`uic dhis2 resync` queues it), then
-- 'pending' (an outbox job of kind 'dhis2' is on its way), 'registered' with
-- the tracked entity that holds it, or 'failed' with DHIS2's error code and
-- message. The pending state and its job are written in the transaction that
-- issues the code, so a job exists if and only if the code does.
ALTER TABLE uic_records ADD COLUMN dhis2_status TEXT;
ALTER TABLE uic_records ADD COLUMN dhis2_tracked_entity TEXT;
ALTER TABLE uic_records ADD COLUMN dhis2_error TEXT;
