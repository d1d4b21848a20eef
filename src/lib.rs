//! `uic`: a declarative conversation engine for WhatsApp question flows that
//! issue deterministic, privacy-preserving Unique Identifier Codes.
//!
//! Data flows one way: a channel turns a request into
//! [`core::engine::Content`]; the engine (no I/O) turns flow + session +
//! content into a new session, replies and a code to register; the [`store`]
//! commits that in one transaction ([`turn::conversation`] joins the two);
//! the channel delivers the replies, in the response or through the outbox.
//!
//! Layers, from the inside out; each may use only those above it in this list
//! (`tests/layers.rs` checks it):
//!
//! - [`support`] — small helpers: masked phone numbers, random tokens, QR PNGs.
//! - [`core`] — pure: the flow language, the conversation rules (engine),
//!   formulas, normalisation and the cleaners of what phones type, lookup
//!   tables, Fluent texts, the salt, the checked catalog, diagnostics worded
//!   in English or French, check characters and the uniqueness model of
//!   `uic analyze`.
//! - [`lint`] — flows, locales and lookup tables from disk or embedded, YAML
//!   with line numbers, every `uic lint` check; the only maker of a catalog.
//! - [`store`] — sessions, codes, collisions, the outbox, sent messages and
//!   the dashboard's counters through sqlx, on SQLite or PostgreSQL; the only
//!   module with SQL. Runs each turn's logic (`TurnWork`) itself, and
//!   commits the turns waiting together, several people's in one
//!   transaction (group commit); on SQLite each batch's WAL is synced beside
//!   the writer before its requests are answered.
//! - [`turn`] — one turn end to end in one transaction, the outbox worker,
//!   cleanup, metrics, each phone number's rate limit.
//! - [`config`] — settings from the environment and `.env`, each error naming its variable.
//! - [`integrations`] — the systems codes are sent to: DHIS2 Tracker (pure
//!   protocol, the HTTP client, the outbox's deliverer of registrations,
//!   `uic dhis2 check`).
//! - [`channels`] — providers: Twilio (pure protocol), Meta (pure inbound and
//!   outbound, and the Graph API client that delivers outbox jobs).
//! - [`http`] — axum routes: webhook, health, cleanup, reload, metrics, QR images, the
//!   staff console (sign-in, simulator, dashboard), served within timeouts and a
//!   connection cap; the only module with status codes.
//! - [`app`] — start-up of `uic serve`, the flows it serves (reloaded on
//!   `SIGHUP`, `uic reload` or the console) and the flows-against-database check.
//! - [`cli`] — the `uic` command line, code quality included (`verify`,
//!   `analyze`, `collisions list`); the only module that prints.

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod core;
pub mod http;
pub mod integrations;
pub mod lint;
pub mod store;
pub mod support;
pub mod turn;
