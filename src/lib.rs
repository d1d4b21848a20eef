//! `uic`: a declarative conversation engine for WhatsApp question flows that
//! issue deterministic, privacy-preserving Unique Identifier Codes.
//!
//! Data flows one way: a channel turns a request into [`engine::Content`]; the
//! [`engine`] (no I/O) turns flow + session + content into a new session,
//! replies and a code to register; the [`store`] commits that in one
//! transaction ([`conversation`] joins the two); the channel delivers the replies.
//!
//! Modules, from the outside in:
//!
//! - [`cli`] — the `uic` command line; the only module that prints.
//! - [`server`] — start-up of `uic serve`: config → flows → salt → store → engine → socket; shutdown.
//! - [`config`] — environment variables (and `.env`), each error naming its variable.
//! - [`http`] — axum routes: webhook (Twilio and Meta), health, cleanup, metrics, QR images; the only module with status codes.
//! - [`channels`] — provider protocols, pure: Twilio and Meta requests to [`engine::Content`], replies back.
//! - [`meta_api`] — sending through Meta's Graph API: the outbox's deliverer for `meta` jobs (reqwest, rustls).
//! - [`conversation`] — one turn end to end: lock, read, run the engine, write, register.
//! - [`metrics`] — Prometheus counters and the turn-latency histogram, rendered by hand.
//! - [`outbox`] — the worker that delivers outbox jobs: backoff, order per recipient, leases.
//! - [`store`] — sessions, codes, collisions, the outbox and sent messages through sqlx; the only module with SQL.
//! - [`engine`] — the conversation rules (SPEC §4): first contact, commands,
//!   validation, timeout, completion. Pure: the clock comes in as an argument.
//! - [`catalog`] — loads flows and texts and runs every `uic lint` check.
//! - [`flow`] — the YAML flow language: schema, `extends`, the validated [`flow::Flow`].
//! - [`formula`] — minijinja UIC formulas, the project's filters, the duplicate key.
//! - [`i18n`] — Fluent texts: every word a person reads.
//! - [`normalize`] — how answers are normalised before validation and formulas.
//! - [`qr`] — QR code PNGs of UICs and the random tokens of their URLs.
//! - [`salt`] — the secret salt, which never prints.
//! - [`privacy`] — what a log may say about a person (masked phone numbers).
//! - [`source`] — where flows and locales come from (disk or built in).
//! - [`versions`] — refuses a formula changed without a new flow version once codes exist.
//! - [`diagnostic`] — a problem in a file, printed as `file:line: error: message`.

pub mod catalog;
pub mod channels;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod diagnostic;
pub mod engine;
pub mod flow;
pub mod formula;
pub mod http;
pub mod i18n;
pub mod meta_api;
pub mod metrics;
pub mod normalize;
pub mod outbox;
pub mod privacy;
pub mod qr;
pub mod salt;
pub mod server;
pub mod source;
pub mod store;
pub mod versions;
