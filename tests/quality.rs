//! The quality of codes, as staff check it with the real binary: `uic verify`
//! on codes typed from cards (a flow with a check character catches every
//! single wrong character and the swaps of neighbours), `uic analyze` on a
//! database filled with a known spread of codes and on a flow alone, checked
//! against figures computed here, and `uic collisions list` and `uic report`
//! showing possible collisions without an answer or a phone number.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uic::core::engine::{Completion, Registration};
use uic::store::Store;

use crate::support::both;

/// (stdout, stderr, success) of `uic args`, run in the repository without a salt or database set.
fn run(args: &[&str]) -> (String, String, bool) {
    let output = Command::new(env!("CARGO_BIN_EXE_uic"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("UIC_SALT")
        .env_remove("DATABASE_URL")
        .env_remove("DEFAULT_FLOW")
        .env_remove("FLOWS_DIR")
        .env_remove("LOCALES_DIR")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

/// A project folder: the shipped flows and locales, and the fixture flow
/// `drc-check` (the DRC code and a Luhn mod 36 check character).
fn project_with_check_flow() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    crate::support::copy_shipped_flows(&flows);
    std::fs::copy(root.join("tests/fixtures/check_character/drc-check.yaml"), flows.join("drc-check.yaml")).unwrap();
    for language in std::fs::read_dir(root.join("locales")).unwrap() {
        let language = language.unwrap();
        let target = dir.path().join("locales").join(language.file_name());
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(language.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
        }
    }
    dir
}

/// The fixture's example codes, their check characters computed outside the
/// project (a Python Luhn mod N over 0-9A-Z) and checked by `uic lint`.
const CHECKED_CODES: [&str; 5] = ["MBEIBR7DA1A", "MOBMAR3KI2U", "GEDNDJ5KI2S", "LIXJEA0MB4O", "KABJOS3GO2I"];

/// `uic verify --flow drc-check` on `codes`, in the project folder `dir`.
fn verify_checked(dir: &Path, codes: &[String]) -> (Vec<String>, String, bool) {
    let flows = dir.join("flows").display().to_string();
    let locales = dir.join("locales").display().to_string();
    let mut args = vec!["verify", "--flow", "drc-check", "--flows-dir", &flows, "--locales-dir", &locales];
    args.extend(codes.iter().map(String::as_str));
    let (out, err, ok) = run(&args);
    (out.lines().map(str::to_string).collect(), err, ok)
}

/// Whether `code` has the DRC check flow's form, `[A-Z]{3}[A-Z]{3}[0-9][A-Z]{2}[1-4][0-9A-Z]`, spelled out.
fn has_check_form(code: &str) -> bool {
    let c: Vec<char> = code.chars().collect();
    c.len() == 11
        && c[..6].iter().all(char::is_ascii_uppercase)
        && c[6].is_ascii_digit()
        && c[7..9].iter().all(char::is_ascii_uppercase)
        && ('1'..='4').contains(&c[9])
        && (c[10].is_ascii_digit() || c[10].is_ascii_uppercase())
}

#[test]
fn the_check_character_flow_passes_lint_and_verify_accepts_its_codes_as_typed() {
    let dir = project_with_check_flow();
    let (out, err, ok) = run(&["lint", "--lang", "en", dir.path().to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("ok: no errors, 0 warnings"), "{out}{err}");

    // As typed from a card: lower case, a space.
    let typed: Vec<String> =
        CHECKED_CODES.iter().map(|code| format!("{} {}", &code[..6], &code[6..]).to_lowercase()).collect();
    let (lines, err, ok) = verify_checked(dir.path(), &typed);
    assert!(ok, "{lines:?} {err}");
    assert_eq!(lines.len(), 5);
    for (line, code) in lines.iter().zip(CHECKED_CODES) {
        assert_eq!(line, &format!("{code}  ok: a code of drc-check, and its check character is right"));
    }
}

#[test]
fn verify_catches_every_single_wrong_character_and_swap_on_a_flow_with_a_check_character() {
    let dir = project_with_check_flow();
    let alphabet: Vec<char> = ('0'..='9').chain('A'..='Z').collect();
    let mut single = Vec::new();
    let mut swapped = Vec::new();
    for code in CHECKED_CODES {
        let chars: Vec<char> = code.chars().collect();
        for at in 0..chars.len() {
            for other in alphabet.iter().filter(|c| **c != chars[at]) {
                let mut typo = chars.clone();
                typo[at] = *other;
                single.push(typo.into_iter().collect::<String>());
            }
            if at + 1 < chars.len() && chars[at] != chars[at + 1] {
                let mut typo = chars.clone();
                typo.swap(at, at + 1);
                swapped.push(typo.into_iter().collect::<String>());
            }
        }
    }
    assert_eq!(single.len(), 5 * 11 * 35);
    for typos in [&single, &swapped] {
        let (lines, err, ok) = verify_checked(dir.path(), typos);
        assert!(!ok, "a wrong code fails the command");
        assert_eq!(lines.len(), typos.len());
        assert!(err.contains(&format!("{n} of {n} code(s) wrong", n = typos.len())), "{err}");
        for (line, typo) in lines.iter().zip(typos.iter()) {
            // A typo that keeps the code's form is caught by the check character alone.
            let expected = if has_check_form(typo) {
                "WRONG: the check character does not match (drc-check)"
            } else {
                "WRONG: not the form of a code (drc-check: [A-Z]{3}[A-Z]{3}[0-9][A-Z]{2}[1-4][0-9A-Z] like MBEIBR7DA1A)"
            };
            assert!(line.starts_with(&format!("{typo}  {expected}")), "{line}");
        }
    }
    // Most typos keep the form: the check character is what catches them.
    let caught_by_check = single.iter().filter(|typo| has_check_form(typo)).count();
    assert!(caught_by_check > 5 * 150, "{caught_by_check}");
    assert!(swapped.iter().filter(|typo| has_check_form(typo)).count() >= 5 * 5);
}

#[test]
fn verify_without_a_check_character_says_only_whether_the_form_is_right() {
    let (out, err, ok) = run(&["verify", "MBEIBR7DA1", "mbeibr7da2"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "MBEIBR7DA1  ok: a code of drc-fr, drc-ln (no check character in this flow, so a wrong letter of the right kind cannot be caught: compare with the card)\n\
         MBEIBR7DA2  ok: a code of drc-fr, drc-ln (no check character in this flow, so a wrong letter of the right kind cannot be caught: compare with the card)\n"
    );
    // Too short, and a letter where the year's digit goes.
    let (out, err, ok) = run(&["verify", "--flow", "drc-fr", "MBEIBR7DA", "MBEIBRXDA1"]);
    assert!(!ok);
    for code in ["MBEIBR7DA", "MBEIBRXDA1"] {
        assert!(
            out.contains(&format!(
                "{code}  WRONG: not the form of a code (drc-fr: [A-Z]{{3}}[A-Z]{{3}}[0-9][A-Z]{{2}}[1-4] like MBEIBR7DA1)\n"
            )),
            "{out}"
        );
    }
    assert!(err.contains("2 of 2 code(s) wrong"), "{err}");
    let (out, err, ok) = run(&["verify", "--flow", "drc-xx", "MBEIBR7DA1"]);
    assert!(!ok && out.is_empty());
    assert!(err.contains("error: no flow `drc-xx` (the flows are: drc-fr, drc-ln, legacy)"), "{err}");
}

/// A drc-fr completion of `uic` by answers whose HMAC is `key`.
fn completion(uic: &str, key: &str, fingerprint: &str) -> Completion {
    Completion {
        flow_id: "drc-fr".into(),
        flow_version: 1,
        uic: uic.into(),
        duplicate_key: key.into(),
        formula_fingerprint: fingerprint.into(),
        language: "fr".into(),
        dhis2: Default::default(),
    }
}

/// The known spread: every last name × first name × year digit × city ×
/// gender of small lists, but KAB only with gender 1 and LUM only with gender
/// 1 in KI, so that parts are unevenly spread: 24 + 12 + 6 = 42 codes.
fn known_codes() -> Vec<String> {
    let mut codes = Vec::new();
    for last in ["MBE", "KAB", "LUM"] {
        for first in ["IBR", "JEA"] {
            for year in ["1", "2", "3"] {
                for city in ["KI", "GO"] {
                    for gender in ["1", "2"] {
                        let kept = match last {
                            "MBE" => true,
                            "KAB" => gender == "1",
                            _ => gender == "1" && city == "KI",
                        };
                        if kept {
                            codes.push(format!("{last}{first}{year}{city}{gender}"));
                        }
                    }
                }
            }
        }
    }
    codes
}

/// Other answers that made an existing code: (code, their key, their phone).
/// The second person asks twice; a repeat is not a new answer set.
const COLLIDING: [(&str, &str, &str); 4] = [
    ("MBEIBR1KI1", "other-answers-1", "+243899000001"),
    ("MBEIBR1KI1", "other-answers-2", "+243899000002"),
    ("MBEIBR1KI1", "other-answers-2", "+243899000002"),
    ("KABJEA2GO1", "other-answers-3", "+243899000003"),
];

/// People holding each code: its owner, and each other answer set.
fn people_per_code() -> BTreeMap<String, u32> {
    let mut people: BTreeMap<String, u32> = known_codes().into_iter().map(|code| (code, 1)).collect();
    *people.get_mut("MBEIBR1KI1").unwrap() += 2;
    *people.get_mut("KABJEA2GO1").unwrap() += 1;
    people
}

/// Fills `url` through the store, as turns do: the known codes, then the
/// colliding answers. Returns when the first code was issued.
async fn fill(url: &str) -> DateTime<Utc> {
    let fingerprint = crate::support::catalog().flows["drc-fr"].uic.fingerprint.clone();
    let store = Store::connect(url).await.unwrap();
    let start = (Utc::now() - Duration::minutes(30)).trunc_subsecs(0);
    for (i, code) in known_codes().iter().enumerate() {
        let mut tx = store.begin(&format!("+24381{i:07}")).await.unwrap();
        let registered = tx.register(&completion(code, &format!("owner-{i}"), &fingerprint), false, start).await;
        assert_eq!(registered.unwrap(), Registration::New);
        tx.commit().await.unwrap();
    }
    for (minutes, (code, key, phone)) in COLLIDING.iter().enumerate() {
        let mut tx = store.begin(phone).await.unwrap();
        let at = start + Duration::minutes(minutes as i64 + 1);
        assert_eq!(tx.register(&completion(code, key, &fingerprint), false, at).await.unwrap(), Registration::SameCode);
        tx.commit().await.unwrap();
    }
    store.close().await;
    start
}

/// Σ p² of the part at `range` of the codes, each weighed by its people: counted here by slicing.
fn sum_of_squares(people: &BTreeMap<String, u32>, range: std::ops::Range<usize>) -> f64 {
    let mut counts: BTreeMap<&str, f64> = BTreeMap::new();
    for (code, n) in people {
        *counts.entry(&code[range.clone()]).or_default() += f64::from(*n);
    }
    let total: f64 = counts.values().sum();
    counts.values().map(|count| (count / total) * (count / total)).sum()
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(((actual - expected) / expected).abs() < 1e-9, "{what}: {actual} instead of {expected}");
}

both!(analyze_reports_a_known_spread_of_codes_and_its_recorded_collisions, |db| async move {
    fill(&db.url).await;
    let (out, err, ok) = run(&["analyze", "--flow", "drc-fr", "--db", &db.url, "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();

    let people = people_per_code();
    let total: u32 = people.values().sum();
    assert_eq!(total, 45);
    assert_eq!(report["codes"], 42);
    assert_eq!(report["people"], 45);
    assert_eq!(report["source"], "database");
    // MBEIBR1KI1 by 3 answer sets (3 pairs), KABJEA2GO1 by 2 (1 pair).
    assert_eq!(report["recorded_collisions"], serde_json::json!({ "codes": 2, "people": 5, "pairs": 4 }));

    let parts =
        [("last_name", 0..3), ("first_name", 3..6), ("birth_year", 6..7), ("birth_city", 7..9), ("gender", 9..10)];
    let mut q = 1.0;
    for (i, (name, range)) in parts.iter().enumerate() {
        let part = &report["parts"][i];
        assert_eq!(part["name"], *name);
        let expected = sum_of_squares(&people, range.clone());
        close(part["sum_of_squares"].as_f64().unwrap(), expected, name);
        q *= expected;
    }
    // By hand for the last name: MBE 24 + 2 colliders, KAB 12 + 1, LUM 6, of 45.
    close(q / sum_of_squares(&people, 0..3), q / ((26.0f64.powi(2) + 13.0f64.powi(2) + 36.0) / 2025.0), "last name");
    close(report["pair_probability"].as_f64().unwrap(), q, "pair probability");

    let populations = report["populations"].as_array().unwrap();
    let sizes: Vec<f64> = populations.iter().map(|p| p["people"].as_f64().unwrap()).collect();
    assert_eq!(sizes, [45.0, 10_000.0, 100_000.0]);
    assert_eq!(populations[0]["now"], true);
    for population in populations {
        let n = population["people"].as_f64().unwrap();
        close(population["collision_probability_new_person"].as_f64().unwrap(), 1.0 - (1.0 - q).powf(n), "new person");
        close(population["expected_colliding_pairs"].as_f64().unwrap(), n * (n - 1.0) / 2.0 * q, "pairs");
    }

    // The same figures in words; no answer (there is none to print) and no phone number.
    let (out, err, ok) = run(&["analyze", "--flow", "drc-fr", "--db", &db.url, "--population", "50"]);
    assert!(ok, "{err}");
    let p50 = 1.0 - (1.0 - q).powf(50.0);
    let expected = if p50 >= 0.995 {
        "At 50 clients, nearly all new clients".to_string()
    } else if p50 >= 0.5 {
        format!("At 50 clients, about {:.0}% of new clients", p50 * 100.0)
    } else {
        format!("At 50 clients, about 1 in {} new clients", (1.0 / p50).round())
    };
    assert!(out.contains(&expected), "{expected}\n{out}");
    assert!(out.contains("From "), "{out}");
    assert!(out.contains("42 code(s) issued by this formula, held by 45 people."), "{out}");
    assert!(
        out.contains(
            "Recorded possible collisions: 2 code(s) held by people with different answers (5 people, 4 pair(s))"
        ),
        "{out}"
    );
    assert!(out.contains("with only 45 people so far, each part's spread is rough"), "{out}");
    assert!(!out.contains("+243") && !out.contains("other-answers"), "{out}");
});

both!(collisions_list_shows_codes_times_and_answer_sets_without_answers, |db| async move {
    let start = fill(&db.url).await;
    let (out, err, ok) = run(&["collisions", "list", "--db", &db.url]);
    assert!(ok, "{err}");
    let time = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S").to_string();
    let lines: Vec<Vec<String>> = out
        .lines()
        .map(|line| line.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).map(str::to_string).collect())
        .collect();
    assert_eq!(lines[0], ["code", "flow", "first issued (UTC)", "latest other answers (UTC)", "answer sets", "times"]);
    // The latest first: KABJEA2GO1's other answers came 4 minutes after the start.
    let latest = |minutes| time(start + Duration::minutes(minutes));
    assert_eq!(lines[1], ["KABJEA2GO1", "drc-fr", &time(start), &latest(4), "2", "1"], "{out}");
    assert_eq!(lines[2], ["MBEIBR1KI1", "drc-fr", &time(start), &latest(3), "3", "3"], "{out}");
    assert!(out.contains("2 code(s) were made by different answers, 4 time(s) in all."), "{out}");
    assert!(!out.contains("+243") && !out.contains("other-answers") && !out.contains("owner-"), "{out}");

    let (out, _, ok) = run(&["collisions", "list", "--db", &db.url, "--limit", "1"]);
    assert!(ok);
    assert!(out.contains("KABJEA2GO1") && !out.contains("MBEIBR1KI1"), "{out}");
    assert!(out.contains("(the latest 1 shown; --limit shows more)"), "{out}");

    // The report's rate: 4 possible collisions against 42 new codes in the month.
    let month = start.format("%Y-%m").to_string();
    let (out, err, ok) = run(&["report", "--db", &db.url, "--month", &month]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Possible collisions: 4 of the 46 codes given to new answers this month (8.7%, 1 in 12) already belonged to someone else"),
        "{out}"
    );
});

#[test]
fn collisions_list_on_a_database_without_any_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("uic.db").display());
    let (_, err, ok) = run(&["db", "migrate", "--db", &url]);
    assert!(ok, "{err}");
    let (out, _, ok) = run(&["collisions", "list", "--db", &url]);
    assert!(ok);
    assert_eq!(out, "no possible collisions recorded: no code was made by two different sets of answers\n");
    let (_, err, ok) = run(&["analyze", "--db", &url]);
    assert!(!ok);
    assert!(
        err.contains("no codes issued by flow `drc-fr`'s formula yet; run without --db to estimate from the flow"),
        "{err}"
    );
}

#[test]
fn analyze_from_the_flow_alone_uses_its_examples_or_a_distribution_file() {
    let (out, err, ok) = run(&["analyze", "--flow", "drc-fr", "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["source"], "flow");
    // drc-fr's examples make four codes (each person typed in several ways counts once).
    let examples = ["MBEIBR7DA1", "MOBMAR3KI2", "GEDNDJ5KI2", "LIXJEA0MB4"];
    let people: BTreeMap<String, u32> = examples.iter().fold(BTreeMap::new(), |mut people, code| {
        *people.entry(code.to_string()).or_default() += 1;
        people
    });
    let ranges = [0..3, 3..6, 6..7, 7..9, 9..10];
    let q: f64 = ranges.iter().map(|range| sum_of_squares(&people, range.clone())).product();
    close(report["pair_probability"].as_f64().unwrap(), q, "pair probability from the examples");
    assert_eq!(report["parts"][0]["source"], "4 example(s)");
    let sizes: Vec<f64> =
        report["populations"].as_array().unwrap().iter().map(|p| p["people"].as_f64().unwrap()).collect();
    assert_eq!(sizes, [10_000.0, 100_000.0], "no `now` without a database");
    assert!(report["assumptions"].to_string().contains("a handful of examples gives a rough, pessimistic estimate"));

    // A file for the last name and the year digit; the other parts from the examples.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spread.csv");
    std::fs::write(
        &file,
        "part,value,weight\nlast_name,MBE,50\nlast_name,KAB,30\nlast_name,LUM,20\n3,1,1\n3,2,1\n3,3,1\n3,4,1\n",
    )
    .unwrap();
    let (out, err, ok) =
        run(&["analyze", "--json", "--distribution", file.to_str().unwrap(), "--population", "1000,2000"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let last = 0.5f64.powi(2) + 0.3f64.powi(2) + 0.2f64.powi(2);
    close(report["parts"][0]["sum_of_squares"].as_f64().unwrap(), last, "last name from the file");
    close(report["parts"][2]["sum_of_squares"].as_f64().unwrap(), 0.25, "year digit from the file");
    assert_eq!(report["parts"][0]["source"], file.display().to_string());
    assert_eq!(report["parts"][1]["source"], "4 example(s)");
    let q =
        last * 0.25 * sum_of_squares(&people, 3..6) * sum_of_squares(&people, 7..9) * sum_of_squares(&people, 9..10);
    close(report["pair_probability"].as_f64().unwrap(), q, "pair probability with the file");
    let pairs = report["populations"][1]["expected_colliding_pairs"].as_f64().unwrap();
    close(pairs, 2000.0 * 1999.0 / 2.0 * q, "pairs at 2,000");

    // The sample file shipped in docs/: a uniform year digit, a 49/49/1/1 gender split.
    let (out, err, ok) = run(&["analyze", "--json", "--distribution", "docs/distribution-example.csv"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    close(report["parts"][2]["sum_of_squares"].as_f64().unwrap(), 10.0 * 0.01, "uniform year digit");
    close(report["parts"][4]["sum_of_squares"].as_f64().unwrap(), 2.0 * 0.49 * 0.49 + 2.0 * 0.01 * 0.01, "gender");

    // Mistakes in the file are named with their line.
    std::fs::write(&file, "part,value,weight\nsurname,MBE,5\n").unwrap();
    let (_, err, ok) = run(&["analyze", "--distribution", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("line 2: no part `surname` in flow `drc-fr` (its parts: 1 last_name, 2 first_name, 3 birth_year, 4 birth_city, 5 gender)"),
        "{err}"
    );
    std::fs::write(&file, "part,value,weight\n1,mbe,5\n").unwrap();
    let (_, err, ok) = run(&["analyze", "--distribution", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("line 2: `mbe` cannot be part 1 (last_name), whose values match [A-Z]{3}"), "{err}");
    let (_, err, ok) = run(&["analyze", "--flow", "nope"]);
    assert!(!ok);
    assert!(err.contains("no flow `nope` (the flows are: drc-fr, drc-ln, legacy)"), "{err}");
}

#[test]
fn a_check_character_adds_nothing_to_uniqueness() {
    let dir = project_with_check_flow();
    let flows = dir.path().join("flows").display().to_string();
    let locales = dir.path().join("locales").display().to_string();
    let args = |flow| vec!["analyze", "--json", "--flow", flow, "--flows-dir", &flows, "--locales-dir", &locales];
    let (checked, err, ok) = run(&args("drc-check"));
    assert!(ok, "{err}");
    let checked: serde_json::Value = serde_json::from_str(&checked).unwrap();
    let parts = checked["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 6);
    assert_eq!(parts[5]["name"], "check character");
    assert_eq!(parts[5]["check_character"], true);
    // Its examples are spread as drc-fr's but for one: the same parts' product.
    let people: BTreeMap<String, u32> = CHECKED_CODES.iter().map(|code| (code[..10].to_string(), 1)).collect();
    let q: f64 = [0..3, 3..6, 6..7, 7..9, 9..10].iter().map(|range| sum_of_squares(&people, range.clone())).product();
    close(checked["pair_probability"].as_f64().unwrap(), q, "the check character counts for nothing");
}

#[test]
fn verify_warns_when_the_check_character_is_not_last_in_the_formula() {
    let dir = project_with_check_flow();
    let file = dir.path().join("flows/drc-check.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let first = yaml
        .replace("{{ code }}{{ code | check_character }}", "{{ code | check_character }}{{ code }}")
        .replace("[A-Z]{3}[A-Z]{3}[0-9][A-Z]{2}[1-4][0-9A-Z]", "[0-9A-Z][A-Z]{3}[A-Z]{3}[0-9][A-Z]{2}[1-4]");
    // The examples' codes as this formula makes them: the same characters, the check character first.
    let first = CHECKED_CODES.iter().fold(first, |yaml, code| {
        yaml.replace(&format!("uic: {code}"), &format!("uic: {}{}", &code[10..], &code[..10]))
    });
    std::fs::write(&file, first).unwrap();
    let (out, err, _) = run(&["lint", dir.path().to_str().unwrap()]);
    assert!(err.contains("ok: no errors"), "lint cannot tell: {out}{err}");
    let (lines, err, ok) = verify_checked(dir.path(), &["AMBEIBR7DA1".to_string()]);
    assert!(!ok);
    assert!(lines[0].starts_with("AMBEIBR7DA1  WRONG: the check character does not match"), "{lines:?}");
    assert!(
        err.contains("warning: flow `drc-check`: its examples' codes do not end with their check character; write `{{ code | check_character }}` last in the formula"),
        "{err}"
    );
}

#[test]
fn verify_reads_codes_one_per_line_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_uic"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FLOWS_DIR")
        .env_remove("LOCALES_DIR")
        .args(["verify", "--flow", "drc-fr"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A column pasted from a spreadsheet: a blank line, lower case, a short code.
    child.stdin.take().unwrap().write_all(b"MBEIBR7DA1\n\nmobmar3ki2\nMOBMAR3K\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    let verdicts: Vec<&str> = out.lines().map(|line| line.split("  ").nth(1).unwrap_or_default()).collect();
    assert_eq!(
        out.lines().map(|line| line.split("  ").next().unwrap()).collect::<Vec<_>>(),
        ["MBEIBR7DA1", "MOBMAR3KI2", "MOBMAR3K"]
    );
    assert!(
        verdicts[0].starts_with("ok") && verdicts[1].starts_with("ok") && verdicts[2].starts_with("WRONG"),
        "{out}"
    );
    assert!(err.contains("1 of 3 code(s) wrong"), "{err}");

    let (_, err, ok) = run(&["verify"]);
    assert!(!ok);
    assert!(
        err.contains("no code to check: give codes after `uic verify`, or one per line on standard input"),
        "{err}"
    );
}

#[test]
fn analyze_cuts_a_code_into_the_parts_its_pattern_and_formula_say() {
    // legacy: 985-KINS-15-JEA-KABI-XXXXX, the dashes fixed, the last part a salted hash of every answer.
    let (out, err, ok) = run(&["analyze", "--flow", "legacy", "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let parts: Vec<(String, String)> = report["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| (part["name"].as_str().unwrap().to_string(), part["pattern"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("birth_year", "[0-9]{3}"),
        ("mother_place", "[A-Z]{4}"),
        ("birth_day", "[0-9]{2}"),
        ("first_name", "[A-Z]{3}"),
        ("last_name", "[A-Z]{4}"),
        ("birth_year+mother_place+first_name+birth_day+last_name", "[0-9A-F]{5}"),
    ];
    assert_eq!(parts, expected.map(|(name, pattern)| (name.to_string(), pattern.to_string())));
    // Its two examples differ in every part: each part's Σ p² is ½.
    for part in report["parts"].as_array().unwrap() {
        close(part["sum_of_squares"].as_f64().unwrap(), 0.5, part["name"].as_str().unwrap());
    }
    close(report["pair_probability"].as_f64().unwrap(), 0.5f64.powi(6), "legacy pair probability");
}

#[test]
fn analyze_makes_codes_of_a_file_of_answers_and_never_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("register.csv");
    // The last line's one-letter name is refused by the flow's questions.
    std::fs::write(
        &file,
        "last_name,first_name,birth_year,birth_city,gender\n\
         Mbengue,Ibrahima,1997,Dakar,Homme\n\
         Mbeki,Ibrahim,2007,Dakota,Homme\n\
         Mukendi,Jean,1990,Kinshasa,Femme\n\
         Kabila,Joseph,1971,Goma,Homme\n\
         X,Jean,1990,Kinshasa,Femme\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (out, err, ok) = run(&["analyze", "--json", "--answers", path]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["answers_left_out"], 1);
    // The codes these people get, worked out by hand from the DRC formula.
    let people: BTreeMap<String, u32> =
        [("MBEIBR7DA1", 2), ("MUKJEA0KI2", 1), ("KABJOS1GO1", 1)].map(|(code, n)| (code.to_string(), n)).into();
    let q: f64 = [0..3, 3..6, 6..7, 7..9, 9..10].iter().map(|range| sum_of_squares(&people, range.clone())).product();
    close(report["pair_probability"].as_f64().unwrap(), q, "pair probability of the register");
    assert_eq!(report["parts"][0]["source"], format!("4 people in {path}"));

    let (out, err, ok) = run(&["analyze", "--answers", path]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("1 line(s) of {path} left out: the flow refuses one of their answers.")), "{out}");
    for answer in ["Mbengue", "Ibrahim", "Kinshasa", "Dakota", "Homme", "1997"] {
        assert!(!out.contains(answer) && !err.contains(answer), "{answer} printed:\n{out}{err}");
    }

    std::fs::write(&file, "last_name,first_name,gender\nMbengue,Ibrahima,Homme\n").unwrap();
    let (_, err, ok) = run(&["analyze", "--answers", path]);
    assert!(!ok);
    assert!(
        err.contains("line 1 needs a column for each step of flow `drc-fr`; missing: birth_year, birth_city"),
        "{err}"
    );
    assert!(!err.contains("Mbengue"), "{err}");
}
