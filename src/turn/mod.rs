//! A turn and what follows it: [`conversation`] runs one message end to end
//! in one transaction, [`outbox`] delivers the jobs turns wrote,
//! [`maintenance`] removes what has outlived its use, [`metrics`] counts
//! it all, and [`throttle`] keeps one phone number from taking everyone's turns.

pub mod conversation;
pub mod maintenance;
pub mod metrics;
pub mod outbox;
pub mod throttle;
