//! DHIS2 Tracker over HTTP (SPEC §11): registering a code as a tracked entity
//! enrolled in a program, and checking that a deployment's program, tracked
//! entity type, UIC attribute and org units fit together.
//!
//! - [`protocol`] — pure: versions and their API generation, request URLs
//!   and bodies, every answer read into a typed result or an [`ApiError`]
//!   that says whether to retry.
//! - [`client`] — [`Dhis2Client`]: reqwest with rustls, the credentials in
//!   a header that never prints.
//! - [`deliver`] — the outbox's deliverer of `dhis2` jobs: search, link or
//!   import, the code's state kept, faults retried, a refused token in `/health`.
//! - [`targets`] — where each loaded flow registers its codes, for start-up
//!   and `uic dhis2 check`.
//! - [`check`] — `uic dhis2 check`: a [`CheckReport`] of what was found, or
//!   one line per problem naming the variable (or flow) and the UID.
//!
//! What is sent is the code, the UIDs and the attributes a flow maps (never
//! a name or a place); what is kept of an answer is cut short, never a whole
//! body.

pub mod check;
pub mod client;
pub mod deliver;
pub mod protocol;
pub mod targets;

pub use check::{CheckReport, CheckTarget, Origin, Sourced, check};
pub use client::{BuildError, Dhis2Client};
pub use protocol::{ApiError, Generation, ImportError, ImportOutcome};
