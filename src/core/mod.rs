//! The pure core: the flow language, the conversation rules, formulas,
//! normalisation, texts and the salt. No I/O: nothing here knows tokio, sqlx,
//! axum, reqwest, clap or the clock (time comes in as `now`, the salt as a
//! value), and nothing here imports a module outside `core`
//! (`tests/layers.rs` checks both).

pub mod catalog;
pub mod check_character;
pub mod dhis2;
pub mod diagnostic;
pub mod engine;
pub mod flow;
pub mod formula;
pub mod i18n;
pub mod lookup;
pub mod normalize;
pub mod salt;
pub mod suggest;
pub mod uniqueness;
pub mod whatsapp;
