//! Properties of everything that reads what outsiders send or staff write
//! (issue #14, point 9), with proptest: arbitrary and mutated inputs into
//! answer normalisation, flow loading (YAML, schema, build), Fluent loading,
//! the Twilio form and signature, Meta's envelope, and arbitrary message
//! sequences through the engine on each shipped flow. The same invariants are
//! the `cargo fuzz` targets of `fuzz/` (see `fuzz/README.md`); these run in
//! the normal suite, a few hundred cases each, in seconds. A case proptest
//! finds is shrunk and printed, and becomes a named regression test beside
//! the code it broke (`normalize::tests::text_is_trimmed_after_folding`).
//!
//! Seeds come from the fixtures: the shipped flows and locales, the inputs of
//! the golden transcripts, Meta's bodies of `support::meta`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::Config;
use uic::channels::meta::inbound;
use uic::channels::twilio;
use uic::core::diagnostic::SourceFile;
use uic::core::engine::{CONFIRM_STEP, Content, Engine, Session};
use uic::core::i18n::Texts;
use uic::core::normalize::{self, Cleaner, Normalizer};
use uic::lint::source::Sources;

use crate::support::{self, meta, t0};

/// Cases per property: enough to find what a few seconds can, cheap enough
/// that the whole file runs in seconds in a debug build. `PROPTEST_CASES`
/// sets every property's count instead, for a long run:
/// `PROPTEST_CASES=100000 cargo test --release --test tests properties::`.
fn cases(n: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(n);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Text as phones send it: any character, weighted towards the ones that
/// make normalisation and parsers work (accents, look-alikes, spaces of every
/// width, digits of other scripts, invisible characters, markup).
fn phone_text() -> impl Strategy<Value = String> {
    let tricky = prop::sample::select(vec![
        'a',
        'Z',
        'é',
        'È',
        'ß',
        'ẞ',
        'Œ',
        'ø',
        'Ł',
        'İ',
        'ı',
        'ŉ',
        'ǅ',
        '¨',
        '´',
        'М',
        'о',
        'Α',
        ' ',
        '\u{a0}',
        '\u{2007}',
        '\u{200b}',
        '\u{200e}',
        '\u{202e}',
        '\u{ad}',
        '\t',
        '\n',
        '\r',
        '0',
        '7',
        '٣',
        '１',
        '²',
        '½',
        '-',
        '—',
        '\'',
        '’',
        '<',
        '&',
        '"',
        '=',
        '+',
        '%',
        '\u{fdfd}',
        '\u{1f600}',
        '\u{301}',
        '\u{0}',
    ]);
    prop_oneof![
        2 => prop::collection::vec(tricky, 0..24).prop_map(|chars| chars.into_iter().collect()),
        1 => any::<String>(),
    ]
}

// ---------------------------------------------------------------------------
// Answer normalisation

const NORMALIZERS: [Normalizer; 8] = [
    Normalizer::Trim,
    Normalizer::Fold,
    Normalizer::Upper,
    Normalizer::Letters,
    Normalizer::Digits,
    Normalizer::Alnum,
    Normalizer::Number,
    Normalizer::NumberInText,
];

proptest! {
    #![proptest_config(cases(2000))]

    /// No input makes a normaliser or cleaner panic; the presets give what
    /// they promise, and giving their output again changes nothing (the same
    /// person typing the same thing twice gets the same value).
    #[test]
    fn normalisation_never_panics_and_presets_are_stable(input in phone_text()) {
        for normalizer in NORMALIZERS {
            let _ = normalizer.apply(&input);
        }
        for cleaner in [Cleaner::Typography, Cleaner::LookAlikes] {
            let _ = cleaner.apply(&input);
        }
        let _ = normalize::clean_all(&[Cleaner::Typography, Cleaner::LookAlikes], &input);
        let _ = normalize::fold(&input);
        for preset in ["name", "place", "code", "number", "text", "none"] {
            let pipeline = Normalizer::preset(preset).unwrap();
            let once = normalize::apply_all(&pipeline, &input);
            let twice = normalize::apply_all(&pipeline, &once);
            prop_assert_eq!(&twice, &once, "preset {} is not stable on {:?}", preset, input);
        }
        let name = normalize::apply_all(&Normalizer::preset("name").unwrap(), &input);
        prop_assert!(name.bytes().all(|b| b.is_ascii_uppercase()), "{:?} → {:?}", input, name);
        let code = normalize::apply_all(&Normalizer::preset("code").unwrap(), &input);
        prop_assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{:?} → {:?}", input, code);
        let digits = Normalizer::Digits.apply(&input);
        prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{:?} → {:?}", input, digits);
    }
}

// ---------------------------------------------------------------------------
// Flow loading and Fluent loading: the shipped files, mutated

static SOURCES: LazyLock<Sources> = LazyLock::new(support::project_sources);

/// A mutation of a text file: lines dropped, duplicated or swapped, a cut, or
/// bytes of another kind spliced in, so that inputs stay close enough to a
/// real file to reach the schema, the build and the checks.
#[derive(Debug, Clone)]
enum Edit {
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    CutAt(usize),
    Insert(usize, String),
    ReplaceLine(usize, String),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::DropLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::CutAt),
        (any::<usize>(), yaml_bits()).prop_map(|(at, text)| Edit::Insert(at, text)),
        (any::<usize>(), yaml_bits()).prop_map(|(at, text)| Edit::ReplaceLine(at, text)),
    ];
    prop::collection::vec(edit, 1..4)
}

/// Fragments that mean something to YAML, the flow schema, Fluent or minijinja.
fn yaml_bits() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            ": ",
            "- ",
            "  ",
            "\t",
            "{",
            "}",
            "[",
            "]",
            "&a",
            "*a",
            "<<: *a",
            "!!binary",
            "~",
            "null",
            "'",
            "\"",
            "#",
            "|",
            ">",
            "---",
            "...",
            "{{",
            "}}",
            "{%",
            "%}",
            "{ $x }",
            "-term",
            "= ",
            "*[other]",
            ".attr",
            "\\u{0}",
            "extends: drc-fr",
            "regex: '('",
            "min: -1",
            "max: 99999999999999999999",
            "id: x",
            "version: 0",
            "normalize: [trim]",
            "output: '{{ x | first(3) }}'",
        ])
        .prop_map(str::to_string),
        phone_text(),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for edit in edits {
        let n = lines.len().max(1);
        match edit {
            Edit::DropLine(at) if !lines.is_empty() => {
                lines.remove(at % n);
            }
            Edit::DuplicateLine(at) if !lines.is_empty() => {
                let line = lines[at % n].clone();
                lines.insert(at % n, line);
            }
            Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::CutAt(at) => lines.truncate(at % (n + 1)),
            Edit::Insert(at, bit) => {
                let at = at % (lines.len() + 1);
                lines.insert(at, bit.clone());
            }
            Edit::ReplaceLine(at, bit) if !lines.is_empty() => {
                // Keep the indentation, so the line stays in its block.
                let line = &lines[at % n];
                let indent = &line[..line.len() - line.trim_start().len()];
                lines[at % n] = format!("{indent}{bit}");
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(cases(48))]

    /// A mutated flow file is loaded, checked against the schema, built and
    /// linted without a panic: a broken flow is a diagnostic, never a crash.
    #[test]
    fn flow_loading_never_panics_on_mutated_flows(file in 0..3usize, edits in edits()) {
        let mut sources = SOURCES.clone();
        let index = file % sources.flows.len();
        sources.flows[index].text = apply(&sources.flows[index].text, &edits);
        let _ = uic::lint::checks::check(&sources, 2026);
    }
}

proptest! {
    #![proptest_config(cases(300))]

    /// Any text as a flow file: diagnostics, no panic.
    #[test]
    fn flow_loading_never_panics_on_any_text(text in prop_oneof![any::<String>(), yaml_bits()]) {
        let file = SourceFile { path: "flows/fuzz.yaml".into(), text };
        let _ = uic::lint::load::load_flows(&[file], &[]);
    }

    /// Mutated and arbitrary Fluent files load into texts and diagnostics,
    /// and every message that loaded formats, without a panic.
    #[test]
    fn fluent_loading_never_panics(file in any::<usize>(), edits in edits(), extra in any::<String>()) {
        let mut locales = SOURCES.locales.clone();
        let index = file % locales.len();
        locales[index].1.text = apply(&locales[index].1.text, &edits);
        locales.push(("fr".to_string(), SourceFile { path: "locales/fr/fuzz.ftl".into(), text: extra }));
        let (texts, _) = Texts::load(&locales);
        let language = locales[index].0.clone();
        let ids: Vec<String> = texts.messages(&language).map(|(id, _)| id.clone()).collect();
        for id in ids {
            let _ = texts.format(&language, &id, &Vec::new());
        }
    }
}

// ---------------------------------------------------------------------------
// Twilio: the form and the signature

const AUTH_TOKEN: &str = "fuzz-twilio-auth-token";
const URL: &str = "https://bot.example.org/whatsapp/webhook";

/// A Twilio form body: the fields Twilio sends, with arbitrary values, plus
/// arbitrary fields, percent-encoded or not.
fn twilio_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "From",
            "WaId",
            "Body",
            "MessageSid",
            "SmsMessageSid",
            "ProfileName",
            "NumMedia",
            "MediaContentType0",
            "ButtonPayload",
            "ButtonText",
            "Latitude",
            "Longitude",
            "To",
            "AccountSid",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            "whatsapp:+243810000001",
            "whatsapp:",
            "+243810000001",
            "whatsapp: +1 (555) 000",
            "1",
            "0",
            "-1",
            "99999999999999999999",
            "image/jpeg",
            "/",
            "",
        ])
        .prop_map(str::to_string),
        phone_text(),
    ];
    prop::collection::vec((name, value), 0..12)
}

proptest! {
    #![proptest_config(cases(1000))]

    /// Raw bytes as a form: parsed and read without a panic.
    #[test]
    fn twilio_form_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), given in any::<String>()) {
        let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let _ = twilio::parse(&params);
        prop_assert!(!twilio::verify(AUTH_TOKEN, URL, &params, &given) || given == twilio::signature(AUTH_TOKEN, URL, &params));
    }

    /// A form survives encoding and decoding; Twilio's signature of it is
    /// accepted, and the same signature over any other value or URL is not.
    #[test]
    fn twilio_signature_covers_every_parameter(params in twilio_params(), at in any::<usize>(), other in any::<String>()) {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let decoded: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        prop_assert_eq!(&decoded, &params);
        if let Ok(message) = twilio::parse(&decoded) {
            prop_assert!(message.phone.starts_with('+') && message.phone.len() <= 16, "{:?}", message.phone);
        }
        let signature = twilio::signature(AUTH_TOKEN, URL, &decoded);
        prop_assert!(twilio::verify(AUTH_TOKEN, URL, &decoded, &signature));
        prop_assert!(!twilio::verify(AUTH_TOKEN, "https://other.example.org/whatsapp/webhook", &decoded, &signature));
        if !decoded.is_empty() {
            let mut changed = decoded.clone();
            let index = at % changed.len();
            if changed[index].1 != other {
                changed[index].1 = other;
                // Twilio signs the parameters sorted and concatenated: a change
                // that leaves that concatenation as it was is not a change.
                let concatenated = |params: &[(String, String)]| {
                    let mut sorted = params.to_vec();
                    sorted.sort();
                    sorted.into_iter().map(|(k, v)| k + &v).collect::<String>()
                };
                if concatenated(&changed) != concatenated(&decoded) {
                    prop_assert!(!twilio::verify(AUTH_TOKEN, URL, &changed, &signature));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Meta: the envelope and its signature

/// Meta's bodies as `support::meta` builds them from Meta's own examples.
static META_SEEDS: LazyLock<Vec<serde_json::Value>> = LazyLock::new(|| {
    let phone = "+243810000001";
    vec![
        meta::text(phone, "wamid.A", "Bonjour"),
        meta::list_reply(phone, "wamid.B", "KI", "Kinshasa"),
        meta::button_reply(phone, "wamid.C", "oui", "Oui"),
        meta::template_button(phone, "wamid.D", "restart", "Recommencer"),
        meta::image(phone, "wamid.E"),
        meta::location(phone, "wamid.F"),
        meta::contacts(phone, "wamid.G"),
        meta::reaction(phone, "wamid.H"),
        meta::unsupported(phone, "wamid.I"),
        meta::status("wamid.J", "failed", phone, Some((131026, "Message undeliverable"))),
        meta::status("wamid.K", "read", phone, None),
    ]
});

/// A JSON value changed somewhere: a field removed, a value replaced by
/// another JSON value of any type.
fn mutate_json(value: &mut serde_json::Value, path: &[usize], replacement: serde_json::Value, remove: bool) {
    use serde_json::Value;
    let Some((&step, rest)) = path.split_first() else {
        *value = replacement;
        return;
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap_or_default();
            if rest.is_empty() && remove {
                map.remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                mutate_json(child, rest, replacement, remove);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let len = items.len();
            if rest.is_empty() && remove {
                items.remove(step % len);
            } else {
                mutate_json(&mut items[step % len], rest, replacement, remove);
            }
        }
        _ => *value = replacement,
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        phone_text().prop_map(Value::String),
        prop::sample::select(vec!["whatsapp_business_account", "messages", "text", "interactive", "button", "1e309"])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cases(800))]

    /// Raw bytes, and Meta's own bodies changed anywhere, are read into an
    /// envelope or refused (400) without a panic; no message comes out
    /// without a sender and an id.
    #[test]
    fn meta_envelope_never_panics(
        seed in any::<usize>(),
        path in prop::collection::vec(any::<usize>(), 0..7),
        replacement in json_value(),
        remove in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        header in any::<String>(),
    ) {
        let _ = inbound::parse(&bytes);
        let mut body = META_SEEDS[seed % META_SEEDS.len()].clone();
        mutate_json(&mut body, &path, replacement, remove);
        let encoded = serde_json::to_vec(&body).unwrap();
        if let Ok(envelope) = inbound::parse(&encoded) {
            for message in &envelope.messages {
                prop_assert!(!message.phone.is_empty() && !message.id.is_empty(), "{:?}", message);
            }
        }
        prop_assert!(!inbound::signature_valid("secret", &encoded, Some(&header)) || header == inbound::signature("secret", &encoded));
        prop_assert!(inbound::signature_valid("secret", &encoded, Some(&inbound::signature("secret", &encoded))));
    }
}

// ---------------------------------------------------------------------------
// The engine: arbitrary conversations on each shipped flow

/// The flows `uic` ships, each run as the default flow.
const FLOWS: [&str; 3] = ["drc-fr", "drc-ln", "legacy"];

static ENGINES: LazyLock<Vec<Arc<Engine>>> =
    LazyLock::new(|| FLOWS.iter().map(|flow| support::engine(flow, None)).collect());

/// What people send in the golden transcripts of every flow: answers that
/// pass, answers that do not, commands, greetings in every language.
static SAID: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut said = std::collections::BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    for dir in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            for line in text.lines() {
                if let Some(message) = line.strip_prefix("> ") {
                    said.insert(message.to_string());
                }
            }
        }
    }
    said.into_iter().collect()
});

/// One thing a person does.
#[derive(Debug, Clone)]
enum Act {
    /// Something said in a transcript.
    Said(usize),
    /// A choice of the flow tapped, by its index among all the flow's choices.
    Tap(usize),
    /// A choice id nobody offered.
    TapUnknown(String),
    Typed(String),
    Media,
    /// Time passes: minutes.
    Wait(u16),
}

fn acts() -> impl Strategy<Value = Vec<Act>> {
    let act = prop_oneof![
        8 => any::<usize>().prop_map(Act::Said),
        3 => any::<usize>().prop_map(Act::Tap),
        1 => phone_text().prop_map(Act::TapUnknown),
        2 => phone_text().prop_map(Act::Typed),
        1 => Just(Act::Media),
        1 => (0u16..90).prop_map(Act::Wait),
    ];
    prop::collection::vec(act, 1..40)
}

/// The session a turn leaves is one the engine can carry on from.
fn check_session(engine: &Engine, session: &Session) -> Result<(), TestCaseError> {
    let flow = engine.flow(&session.flow_id);
    prop_assert!(flow.is_some(), "unknown flow {}", session.flow_id);
    let flow = flow.unwrap();
    prop_assert_eq!(session.flow_version, flow.version);
    prop_assert!(flow.supports(&session.language), "language {}", session.language);
    prop_assert!(
        session.current_step == CONFIRM_STEP || flow.step_index(&session.current_step).is_some(),
        "step {}",
        session.current_step
    );
    for id in session.answers.keys() {
        prop_assert!(flow.step_index(id).is_some(), "an answer to no step: {}", id);
    }
    let step = flow.step_index(&session.current_step).map(|i| &flow.steps[i]);
    if let Some(cap) = step.and_then(|step| step.max_invalid_attempts.or(flow.max_invalid_attempts)) {
        prop_assert!(session.invalid_attempts <= cap, "{} invalid attempts, cap {}", session.invalid_attempts, cap);
    }
    prop_assert!(session.started_at <= session.updated_at);
    Ok(())
}

/// Runs `acts` through `engine` from no session: every session valid, every
/// turn answered; returns each turn's result and the codes issued by key.
fn converse(engine: &Engine, acts: &[Act]) -> Result<(Vec<String>, HashMap<String, String>), TestCaseError> {
    let flow = engine.default_flow().clone();
    let choices: Vec<String> = flow.steps.iter().flat_map(|s| s.choices.iter().map(|c| c.value.clone())).collect();
    let mut session: Option<Session> = None;
    let mut now = t0();
    let mut turns = Vec::new();
    let mut codes: HashMap<String, String> = HashMap::new();
    for act in acts {
        now += Duration::seconds(10);
        let content = match act {
            Act::Said(i) => Content::Text(SAID[i % SAID.len()].clone()),
            Act::Tap(i) if !choices.is_empty() => Content::Choice { id: choices[i % choices.len()].clone() },
            Act::Tap(_) => Content::Text(String::new()),
            Act::TapUnknown(id) => Content::Choice { id: id.clone() },
            Act::Typed(text) => Content::Text(text.clone()),
            Act::Media => Content::Media { kind: "image".into() },
            Act::Wait(minutes) => {
                now += Duration::minutes(i64::from(*minutes));
                continue;
            }
        };
        let turn = engine.turn(session.take(), &content, now);
        prop_assert!(!turn.replies.is_empty(), "no reply to {:?}", content);
        if let Some(next) = &turn.session {
            check_session(engine, next)?;
        }
        if let Some(completion) = &turn.completion {
            prop_assert!(turn.session.is_none(), "a completed conversation keeps no answers");
            let code = codes.entry(completion.duplicate_key.clone()).or_insert_with(|| completion.uic.clone());
            prop_assert_eq!(&*code, &completion.uic, "the same answers gave two codes");
        }
        turns.push(format!("{turn:?}"));
        session = turn.session;
    }
    Ok((turns, codes))
}

proptest! {
    #![proptest_config(cases(120))]

    /// Any sequence of messages on any shipped flow: no panic, a reply to each,
    /// a valid session after each; the same answers always give the same code,
    /// and the same messages at the same times give the same conversation.
    #[test]
    fn engine_conversations_stay_valid_and_codes_follow_answers(flow in 0..FLOWS.len(), acts in acts()) {
        let engine = &ENGINES[flow];
        let (turns, codes) = converse(engine, &acts)?;
        let (again, codes_again) = converse(engine, &acts)?;
        prop_assert_eq!(turns, again);
        prop_assert_eq!(codes, codes_again);
    }

    /// A conversation completed by the transcript answers, then the same
    /// answers again after anything at all: the code is the same.
    #[test]
    fn the_same_answers_give_the_same_code_whatever_happened_between(flow in 0..FLOWS.len(), between in acts()) {
        let engine = &ENGINES[flow];
        let answers = complete_answers(FLOWS[flow]);
        let run: Vec<Act> = answers.iter().cloned().map(Act::Typed).collect();
        let (_, first) = converse(engine, &run)?;
        prop_assert_eq!(first.len(), 1, "the answers complete the flow {}", FLOWS[flow]);
        let mut all = run.clone();
        all.extend(between);
        all.push(Act::Typed("RESTART".into()));
        all.push(Act::Wait(60 * 24));
        all.extend(run);
        let (_, codes) = converse(engine, &all)?;
        for (key, code) in &first {
            prop_assert_eq!(codes.get(key), Some(code));
        }
    }
}

/// Messages that take a new person on `flow` to a code.
fn complete_answers(flow: &str) -> Vec<String> {
    let words: &[&str] = match flow {
        "legacy" => &["Bonjour", "1985", "Kinshasa", "Jean", "15", "Kabila", "oui"],
        _ => &["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "1"],
    };
    words.iter().map(|w| w.to_string()).collect()
}
