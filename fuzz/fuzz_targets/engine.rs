//! The engine: an arbitrary sequence of messages (texts, taps, media, time
//! passing) against each shipped flow. Never a panic, a reply to every
//! message, a session the engine can carry on from after every turn, and the
//! same answers (the same duplicate key) always give the same code.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{Duration, TimeZone, Utc};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use uic::core::catalog::Catalog;
use uic::core::engine::{CONFIRM_STEP, Content, Engine, EngineConfig};
use uic::core::salt::Salt;
use uic::lint::source::Sources;

const FLOWS: [&str; 3] = ["drc-fr", "drc-ln", "legacy"];

static ENGINES: LazyLock<Vec<Engine>> = LazyLock::new(|| {
    let (catalog, _) = Catalog::load(&Sources::embedded(), 2026).expect("the shipped flows pass lint");
    FLOWS
        .iter()
        .map(|flow| {
            let config = EngineConfig {
                default_flow: flow.to_string(),
                default_language: None,
                session_timeout_minutes: 30,
                qr_codes: true,
            };
            Engine::new(&catalog, Salt::for_tests(), config).expect("engine builds")
        })
        .collect()
});

/// Words the flows know, so that short inputs reach deep into a conversation.
const WORDS: &[&str] = &[
    "Bonjour", "Hello", "Mbote", "RESTART", "AIDE", "HELP", "RETOUR", "BACK", "oui", "non", "EN", "FR", "LN",
    "Mbengue", "Ibrahima", "1997", "1985", "Kinshasa", "Dakar", "Jean", "15", "Kabila", "1", "2", "3", "Mobali",
    "Mwasi",
];

#[derive(Debug, Arbitrary)]
enum Act {
    Word(u8),
    Typed(String),
    Tap(u8),
    TapId(String),
    Media,
    Wait(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    flow: u8,
    acts: Vec<Act>,
}

fuzz_target!(|input: Input| {
    let engine = &ENGINES[usize::from(input.flow) % ENGINES.len()];
    let flow = engine.default_flow().clone();
    let choices: Vec<String> = flow.steps.iter().flat_map(|s| s.choices.iter().map(|c| c.value.clone())).collect();
    let mut session = None;
    let mut now = Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap();
    let mut codes: HashMap<String, String> = HashMap::new();
    for act in input.acts.iter().take(64) {
        now += Duration::seconds(10);
        let content = match act {
            Act::Word(i) => Content::Text(WORDS[usize::from(*i) % WORDS.len()].to_string()),
            Act::Typed(text) => Content::Text(text.clone()),
            Act::Tap(i) if !choices.is_empty() => {
                Content::Choice { id: choices[usize::from(*i) % choices.len()].clone() }
            }
            Act::Tap(_) => Content::Text(String::new()),
            Act::TapId(id) => Content::Choice { id: id.clone() },
            Act::Media => Content::Media { kind: "image".into() },
            Act::Wait(minutes) => {
                now += Duration::minutes(i64::from(*minutes));
                continue;
            }
        };
        let turn = engine.turn(session.take(), &content, now);
        assert!(!turn.replies.is_empty(), "no reply to {content:?}");
        if let Some(next) = &turn.session {
            let flow = engine.flow(&next.flow_id).expect("a known flow");
            assert_eq!(next.flow_version, flow.version);
            assert!(flow.supports(&next.language));
            assert!(next.current_step == CONFIRM_STEP || flow.step_index(&next.current_step).is_some());
            assert!(next.answers.keys().all(|id| flow.step_index(id).is_some()));
        }
        if let Some(completion) = &turn.completion {
            assert!(turn.session.is_none());
            let code = codes.entry(completion.duplicate_key.clone()).or_insert_with(|| completion.uic.clone());
            assert_eq!(*code, completion.uic, "the same answers gave two codes");
        }
        session = turn.session;
    }
});
