//! A turn and what follows it: [`conversation`] runs one message end to end
//! in one transaction, [`outbox`] delivers the jobs turns wrote,
//! [`maintenance`] removes what has outlived its use, and [`metrics`] counts
//! it all.

pub mod conversation;
pub mod maintenance;
pub mod metrics;
pub mod outbox;
