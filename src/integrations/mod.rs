//! Clients of the systems codes are sent to once issued. Each speaks one
//! outside API over the network; none decides what a conversation says or
//! touches the database itself (the outbox worker hands it a job and stores
//! what it answers).
//!
//! - [`dhis2`] — DHIS2 Tracker: the tracked-entity search, the synchronous
//!   import of a tracked entity with its enrollment, the metadata
//!   look-ups of `uic dhis2 check`.

pub mod dhis2;
