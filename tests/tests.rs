//! One integration-test binary, so the tests link once.
//!
//! - `transcripts` — golden conversations of every shipped flow, in every language.
//! - `lint` — broken flows and locales with the exact messages `uic lint` prints.
//! - `storage` — the store on SQLite and PostgreSQL, a fresh database per test, and the seeds' SQL.
//! - `statistics` — the dashboard's counters after real conversations and the cleanup, on both backends: the funnel, started vs completed, agreement with `uic report`, no answer.
//! - `reload` — a broken extra flow left out while the default flow serves (`/health`, metrics, `uic chat`); a broken default flow refuses the start; `SIGHUP` reloads texts, a broken edit keeps the last good flows.
//! - `versions` — a formula changed without a new flow version is refused.
//! - `outbox` — jobs delivered in order, retried, given up and revived, paused, overtaken and forgotten, on both backends; the real binary killed mid-request, the silence until the reply measured.
//! - `choices` — a 26-choice question on Twilio and in `uic chat`: a numbered list; a typed number or name answers.
//! - `cli` — the `uic` binary as a person runs it.
//! - `quality` — `uic verify` (a check character catches every single wrong character), `uic analyze` against a known spread of codes on both backends, `uic collisions list` and the report's rate, without an answer.
//! - `http` — `uic serve` over a real socket: signed Twilio webhooks, TwiML, QR, health, cleanup, metrics.
//! - `meta` — the Meta Cloud API channel over real sockets: signed webhooks from Meta's own examples, a fake Graph API checking every body against Meta's schema.
//! - `layers` — the layers of ARCHITECTURE.md, read off the source: imports point inward, the core stays pure.
//! - `privacy` — the real `uic serve` at trace level, legacy and DRC flows on Twilio and Meta: no answer left in any table or the log, no phone number, salt or token in the log.
//! - `console` — the staff console over HTTP: sign-in, the cookie's flags, CSRF and other origins refused, no data without a session.
//! - `console_simulator` — the console's simulator over HTTP: DRC conversations to the code by typing and tapping, in a sandbox that leaves the real database untouched; flows edited on disk picked up, broken ones shown with their lint messages; no session, CSRF or origin, no turn; bad input answered with a page.
//! - `simulator_browser` — the simulator in a real Chromium: sign-in, a DRC conversation to the code by typing and tapping a list row, a language switch, an edited flow picked up and a broken one's lint messages; screenshots.
//! - `console_dashboard` — the console in a real Chromium: sign-in, the cookie as the browser keeps it, the dashboard's figures after webhook conversations, the language switch, screenshots.
//! - `dhis2_fake` — the fake DHIS2 of the registration tests over real HTTP: auth, both search generations, imports and their reports, faults; the import schema from DHIS2's own description.
//! - `dhis2` — registration in DHIS2 Tracker end to end: `uic serve`, the outbox and a fake DHIS2 checking every import against DHIS2's schema; faults, lost answers, a refused token, both API generations.
//! - `dhis2_check` — `uic dhis2 check` against the fake DHIS2 (each problem one line naming its variable and UID), and the DHIS2 client's search and import on both API generations, with faults.
//! - `browser` — the browser harness (headless Chromium through chromedriver) against a tiny page: navigation, forms, text, cookie flags, screenshots.
//! - `robust` — issue #14's attacks reproduced over real sockets: forged oversized forms, slow and idle clients, held bodies, a signature for another host, `/metrics` under a busy writer; then the limits that defeat them.
//! - `files` — the SQLite files of a real server: owner-only folder and files; no answer of an ended conversation readable from the database or its WAL.
//! - `properties` — proptest over what outsiders send and staff write: normalisation, flow and Fluent loading, the Twilio form and signature, Meta's envelope, arbitrary conversations on each shipped flow (the invariants of the `fuzz/` targets).
//! - `faults` — PostgreSQL cut mid-load behind a proxy (503, nothing half-written, recovery); `kill -9` mid-load.

mod support;

mod batches;
mod browser;
mod choices;
mod cli;
mod console;
mod console_dashboard;
mod console_simulator;
mod dhis2;
mod dhis2_check;
mod dhis2_fake;
mod faults;
mod files;
mod forgiving;
mod http;
mod layers;
mod lint;
mod lookup;
mod meta;
mod outbox;
mod privacy;
mod properties;
mod quality;
mod reload;
mod robust;
mod simulator_browser;
mod statistics;
mod storage;
mod transcripts;
mod versions;
