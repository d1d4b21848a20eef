//! Forgiving input never changes a code (issue #13): the answers people type
//! on phones and that carry the same facts are accepted at the first try and
//! give the same code, and every answer the DRC flow accepted before the
//! forgiving rules (`tests/data/before-forgiving/drc-fr.yaml`, the flow that
//! issued version 1's codes) is still accepted with the same value.
//!
//! Both are checked on generated corpora (proptest): arbitrary text from the
//! characters people type, and realistic people written in the ways phone
//! keyboards, copy-paste and habits vary.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Datelike;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uic::core::catalog::Catalog;
use uic::core::flow::Flow;
use uic::core::formula::Formulas;
use uic::core::salt::Salt;
use uic::lint::source::Sources;

fn flow_from(flows: &Path) -> Flow {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = Sources::from_paths(Some(flows), Some(&root.join("locales"))).unwrap();
    let mut loaded = Catalog::load_passing(&sources, 2026);
    assert!(loaded.failed.is_empty(), "{:?}", loaded.diagnostics);
    let flow = loaded.catalog.flows.remove("drc-fr").expect("drc-fr loads");
    std::sync::Arc::try_unwrap(flow).unwrap_or_else(|_| panic!("one owner"))
}

fn before() -> Flow {
    flow_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/before-forgiving"))
}

fn now() -> Flow {
    flow_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"))
}

/// `cases` generated inputs; a failure is shown, not written to a file.
fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

fn year() -> i32 {
    chrono::Utc::now().year()
}

/// What people type for a step: letters with and without accents, the
/// punctuation of names, digits in several scripts, spaces of every kind,
/// invisible characters, look-alike letters, and words.
fn typed(step: &str) -> BoxedStrategy<String> {
    match step {
        "birth_year" => prop_oneof![
            "[0-9]{1,4}",
            " ?0{0,2}[0-9]{1,4}[ .]?",
            "[０-９]{1,4}",
            "(né en |en |year |)[0-9]{2,4}( ans|\\.|)",
            "[0-9a-z .,/-]{1,8}",
        ]
        .boxed(),
        "gender" => prop_oneof![
            "(homme|femme|h|f|m|masculin|féminin|mobali|mwasi|male|female|man|woman|trans|autre|other|o|a|t|[1-5])",
            "(Homme|FEMME|Masculin|Féminin|Mobali|Man)[.!]?",
            "[a-zA-Zéè1-4 .’'-]{1,10}",
        ]
        .boxed(),
        _ => prop_oneof![
            "[A-Za-z]{1,12}",
            "[A-Za-zÀ-ÿ '’.-]{1,16}",
            "[A-Za-zéèêëïîôöüç]{2,8}[-’' ][A-Za-z]{2,8}",
            "[A-Za-z\u{00A0}\u{2013}\u{2019}\u{200B}\u{041C}\u{043E}0-9]{1,10}",
        ]
        .boxed(),
    }
}

/// Every answer the flow accepted before is accepted now with the same value,
/// so with the same formula it makes the same code.
#[test]
fn no_answer_accepted_before_changes_its_value() {
    let (before, now) = (before(), now());
    assert_eq!(before.uic.formula, now.uic.formula, "the formula is the same");
    for step in &before.steps {
        let mut runner = TestRunner::new(config(4000));
        let new_step = now.steps.iter().find(|s| s.id == step.id).expect("the same steps");
        let accepted = std::cell::Cell::new(0usize);
        runner
            .run(&typed(&step.id), |answer| {
                if let Ok(value) = step.evaluate(&answer, year()) {
                    accepted.set(accepted.get() + 1);
                    let new_value = new_step.evaluate(&answer, year());
                    prop_assert_eq!(new_value.as_ref().ok(), Some(&value), "{}: {:?}", step.id, answer);
                }
                Ok(())
            })
            .unwrap();
        // The corpus holds many answers accepted before, or the check says nothing.
        let accepted = accepted.get();
        assert!(accepted >= 500, "{}: only {accepted} generated answers were accepted before", step.id);
    }
}

const LAST_NAMES: &[&str] = &["Mukendi", "Kabila", "Tshisekedi", "Ilunga", "Mbuyi", "Kalala", "N'Sele", "Ngoy-Mwamba"];
const FIRST_NAMES: &[&str] =
    &["Jean-Paul", "Marie", "Gédéon", "Bénédicte", "Chantal", "Fiston", "Patience", "Dieu merci"];
const CITIES: &[&str] = &["Kinshasa", "Lubumbashi", "Mbuji-Mayi", "Kisangani", "Goma", "Bukavu", "Kananga", "Matadi"];
const GENDER_WORDS: &[&[&str]] = &[
    &["1", "homme", "Homme", "H", "M", "masculin", "Masculin.", "mobali", "male", "man"],
    &["2", "femme", "Femme", "F", "féminin", "Feminin", "mwasi", "female", "woman"],
    &["3", "trans", "transgenre", "transgender"],
    &["4", "autre", "Autre", "mosusu", "other"],
];

/// How a phone or a habit may write a name: case, typographic apostrophes
/// and dashes, no-break spaces, invisible characters, a look-alike letter.
fn written_name(name: &'static str) -> BoxedStrategy<String> {
    (any::<bool>(), 0..6usize, any::<bool>())
        .prop_map(move |(upper, way, padded)| {
            let text = if upper { name.to_uppercase() } else { name.to_string() };
            let text = match way {
                0 => text.replace('\'', "\u{2019}").replace('-', "\u{2013}"),
                1 => text.replace(' ', "\u{00A0}").replace('-', "\u{2011}"),
                2 => format!("{text}\u{200B}"),
                3 => text.replacen('M', "\u{041C}", 1).replacen('o', "\u{043E}", 1).replacen('a', "\u{0430}", 1),
                4 => text.replace('\'', "\u{02BC}"),
                _ => text,
            };
            if padded { format!("  {text} ") } else { text }
        })
        .boxed()
}

/// How a year may be written: whole, last two or last digit, among words,
/// with a full stop, in full-width digits.
fn written_year(year: i32) -> BoxedStrategy<String> {
    (0..6usize)
        .prop_map(move |way| match way {
            0 => year.to_string(),
            1 => format!("{:02}", year % 100),
            2 => (year % 10).to_string(),
            3 => format!("né en {year}"),
            4 => format!("{year}."),
            _ => {
                year.to_string().chars().map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap()).collect()
            }
        })
        .boxed()
}

/// A person's facts, canonical answers, and the same facts written another way.
fn people() -> impl Strategy<Value = (BTreeMap<String, String>, BTreeMap<String, String>)> {
    (0..LAST_NAMES.len(), 0..FIRST_NAMES.len(), 1940..2012i32, 0..CITIES.len(), 0..GENDER_WORDS.len())
        .prop_flat_map(|(last, first, year, city, gender)| {
            let canonical: BTreeMap<String, String> = [
                ("last_name", LAST_NAMES[last].to_string()),
                ("first_name", FIRST_NAMES[first].to_string()),
                ("birth_year", year.to_string()),
                ("birth_city", CITIES[city].to_string()),
                ("gender", (gender + 1).to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let words = GENDER_WORDS[gender];
            (
                Just(canonical),
                written_name(LAST_NAMES[last]),
                written_name(FIRST_NAMES[first]),
                written_year(year),
                written_name(CITIES[city]),
                (0..words.len()).prop_map(move |i| words[i].to_string()),
            )
        })
        .prop_map(|(canonical, last, first, year, city, gender)| {
            let written = [
                ("last_name", last),
                ("first_name", first),
                ("birth_year", year),
                ("birth_city", city),
                ("gender", gender),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            (canonical, written)
        })
}

/// The same facts, however typed, are accepted at the first try and give the same code.
#[test]
fn the_same_facts_typed_differently_give_the_same_code_at_the_first_try() {
    let flow = now();
    let formulas = Formulas::new([&flow], Salt::for_tests()).unwrap();
    let code = |answers: &BTreeMap<String, String>| -> Result<String, String> {
        let mut values = BTreeMap::new();
        for step in &flow.steps {
            let value = step
                .evaluate(&answers[&step.id], year())
                .map_err(|refusal| format!("{}: {:?} refused ({})", step.id, answers[&step.id], refusal.message))?;
            values.insert(step.id.clone(), value);
        }
        formulas.uic(&flow, &values).map_err(|error| error.to_string())
    };
    let mut runner = TestRunner::new(config(3000));
    runner
        .run(&people(), |(canonical, written)| {
            let expected = code(&canonical).expect("canonical answers are accepted");
            prop_assert_eq!(code(&written), Ok(expected), "{:?}", written);
            Ok(())
        })
        .unwrap();
}
