//! Benchmarks of start-up and of one conversation turn.
//!
//! - `load/flows_and_locales`: `Sources::embedded()`, `Catalog::load` (every
//!   lint check) and `Engine::new`, as at start-up.
//! - `engine/turn_answer`: `Engine::turn` with a valid answer mid-flow (drc-fr,
//!   step `first_name`, "Ibrahima"): acknowledgement + next question.
//! - `engine/turn_refused`: an invalid answer (step `birth_year`, "abc"):
//!   error message + the question again.
//! - `engine/turn_complete`: the last answer (step `gender`, "Homme"): formula,
//!   HMAC duplicate key, then `Engine::completion_replies` (text + QR code).
//! - `engine/first_contact`: `turn(None, "Bonjour")`: welcome + question 1.
//! - `conversation/turn_sqlite_memory`: one `Conversations::handle` on an
//!   in-memory SQLite store, cycling through a complete 6-message conversation
//!   with a new phone number (and new answers, so a new code) each time, so
//!   sessions are created, updated and deleted and codes registered.
//!
//! The `engine/*` turns take a prepared session by value: it is cloned in
//! `iter_batched`'s setup, which is not timed. The clock is fixed (no timeout).
//!
//! Run with `cargo bench --bench engine` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use uic::core::catalog::Catalog;
use uic::core::engine::{Content, Engine, EngineConfig, Outcome, Registration, Session};
use uic::core::salt::Salt;
use uic::lint::source::Sources;
use uic::store::Store;
use uic::turn::conversation::Conversations;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap()
}

fn load() -> Engine {
    let sources = Sources::embedded();
    let (catalog, _warnings) = Catalog::load(&sources, 2026).expect("the shipped flows pass lint");
    let config = EngineConfig {
        default_flow: "drc-fr".into(),
        default_language: None,
        session_timeout_minutes: 30,
        qr_codes: true,
    };
    Engine::new(&catalog, Salt::for_tests(), config).expect("engine builds")
}

fn text(text: &str) -> Content {
    Content::Text(text.to_string())
}

/// The session after first contact and `answers`, built by the engine itself.
fn session_after(engine: &Engine, answers: &[&str]) -> Session {
    let mut session = engine.turn(None, &text("Bonjour"), now()).session;
    for answer in answers {
        let turn = engine.turn(session, &text(answer), now());
        assert_eq!(turn.outcome, Outcome::Answered, "{answer}");
        session = turn.session;
    }
    session.expect("mid-flow")
}

/// Times one turn on a clone of `session`.
fn bench_turn(c: &mut Criterion, name: &str, engine: &Engine, session: &Session, answer: &str, expected: Outcome) {
    let content = text(answer);
    assert_eq!(engine.turn(Some(session.clone()), &content, now()).outcome, expected);
    c.bench_function(name, |b| {
        b.iter_batched(
            || session.clone(),
            |session| engine.turn(Some(session), black_box(&content), now()),
            BatchSize::SmallInput,
        )
    });
}

fn engine_benches(c: &mut Criterion) {
    c.bench_function("load/flows_and_locales", |b| b.iter(load));

    let engine = load();
    let at_first_name = session_after(&engine, &["Mbengue"]);
    bench_turn(c, "engine/turn_answer", &engine, &at_first_name, "Ibrahima", Outcome::Answered);
    let at_birth_year = session_after(&engine, &["Mbengue", "Ibrahima"]);
    bench_turn(c, "engine/turn_refused", &engine, &at_birth_year, "abc", Outcome::Refused);

    let at_gender = session_after(&engine, &["Mbengue", "Ibrahima", "1997", "Dakar"]);
    let last = text("Homme");
    c.bench_function("engine/turn_complete", |b| {
        b.iter_batched(
            || at_gender.clone(),
            |session| {
                let turn = engine.turn(Some(session), black_box(&last), now());
                let completion = turn.completion.expect("completes");
                (turn.replies, engine.completion_replies(&completion, Registration::New))
            },
            BatchSize::SmallInput,
        )
    });

    let hello = text("Bonjour");
    c.bench_function("engine/first_contact", |b| b.iter(|| engine.turn(None, black_box(&hello), now())));
}

/// Three letters for `n` (base 26), so each conversation gives its own code.
fn letters(n: u64) -> String {
    (0..3).map(|i| char::from(b'A' + (n / 26u64.pow(i) % 26) as u8)).collect()
}

/// The phone and message of the `n`th turn: 6 turns per person, from
/// "Bonjour" to the completing answer.
fn nth_turn(n: u64) -> (String, Content) {
    let person = n / 6;
    let content = match n % 6 {
        0 => text("Bonjour"),
        1 => Content::Text(letters(person)),
        2 => Content::Text(letters(person / 17_576)),
        3 => text("1997"),
        4 => text("Dakar"),
        _ => text("Homme"),
    };
    (format!("+243{person:09}"), content)
}

fn conversation_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = rt.block_on(Store::in_memory()).expect("store opens");
    let conversations = Conversations::new(Arc::new(load()), store);
    let mut n = 0u64;
    c.bench_function("conversation/turn_sqlite_memory", |b| {
        b.iter(|| {
            let (phone, content) = nth_turn(n);
            let handled = rt.block_on(conversations.handle(&phone, &content, now())).expect("turn");
            assert!(n % 6 != 5 || handled.registration == Some(Registration::New), "a new code");
            n += 1;
            handled
        })
    });
}

criterion_group!(benches, engine_benches, conversation_benches);
criterion_main!(benches);
