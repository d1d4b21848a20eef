//! Loading and checking what staff write: flows and locales from disk or
//! embedded ([`source`]), YAML to typed flows with line numbers ([`load`],
//! [`lines`]), and every `uic lint` check ([`checks`]), which alone makes a
//! [`crate::core::catalog::Catalog`] the engine runs.

pub mod checks;
pub mod lines;
pub mod load;
pub mod lookup;
pub mod source;

pub use load::SCHEMA_COMMENT;
