//! `uic lint` against broken flows and locales, with the exact messages it
//! prints, word for word.
//!
//! Each folder `tests/lint/<case>/` is a small project (`flows/*.yaml`,
//! `locales/<lang>/*.ftl`) with one thing wrong, and `expected.txt` holds
//! exactly what `uic lint --lang en tests/lint/<case>` prints on stdout when
//! run from the crate root; `expected.fr.txt` what `--lang fr` prints. The
//! command fails (exit 1) when a line is an error, and succeeds (exit 0)
//! otherwise.
//!
//! `UIC_REWRITE_GOLDEN_FILES=1 cargo test --test tests lint` rewrites the `expected*.txt` files (never under `CI`);
//! read the diff like any change: each line is a message someone will have to
//! understand. [`CASES`] pins the message each case exists for, so an update
//! cannot quietly bless a wrong one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every case folder, the lines its `expected.txt` must contain (after the
/// `tests/lint/<case>/` prefix of each path), and how many lines it has.
const CASES: &[(&str, &[&str], usize)] = &[
    ("valid", &[], 0),
    (
        "dhis2_sends_a_name",
        &[
            "flows/demo.yaml:29: error: DHIS2 attribute NameAttrib1 would send the answer to `name`, which is typed freely and may name the person or a place: only `uic` and answers chosen from a list may be sent to DHIS2",
        ],
        1,
    ),
    (
        "dhis2_org_unit_from_typed_answer",
        &[
            "flows/demo.yaml:29: error: the org unit can only come from a step with choices: `year` is answered freely, and a place typed by a person is never sent to DHIS2",
        ],
        1,
    ),
    (
        "schema_violation",
        &[
            "flows/demo.yaml:3: error: `version`: \"one\" is not a whole number",
            "flows/demo.yaml:14: error: `steps[2]` is missing the required key `prompt`",
        ],
        2,
    ),
    ("duplicate_step_id", &["flows/demo.yaml:20: error: duplicate step id `year` (first defined on line 14)"], 1),
    (
        "whatsapp_limits",
        &[
            "flows/demo.yaml:27: error: choice label `demo-consent-no` is 26 characters in `en`; WhatsApp reply buttons allow 20: shorten it (details can go in the prompt)",
            "flows/demo.yaml:32: warning: step `district` has 11 choices: WhatsApp lists show 10 rows, so they will be paged (9 per page + `choices-more`); people may also type a choice or its number",
            "flows/demo.yaml:38: error: choice label `demo-district-3` is 32 characters in `fr`; WhatsApp list rows allow 24: shorten it (details can go in the prompt)",
            "flows/demo.yaml:51: warning: choice value `11` is choice number 10 of step `district`, but a typed 11 picks choice number 11 (as Twilio and chat number them); put numeric values in order (1, 2, 3…) or use words",
            "locales/en/common.ftl:26: error: message `choices-more` is 26 characters in `en`; the last row of a paged WhatsApp list allows 24: shorten it",
        ],
        6,
    ),
    (
        "list_button_too_long",
        &[
            "locales/en/common.ftl:25: error: message `choices-button` is 27 characters in `en`; the WhatsApp button that opens a list allows 20: shorten it",
        ],
        1,
    ),
    ("misspelled_key", &["flows/demo.yaml:7: error: unknown key `stpes` (did you mean `steps`?)"], 1),
    (
        "missing_message",
        &[
            "flows/demo.yaml:15: error: message `demo-year` is missing in `en` (flow `demo`): add it to tests/lint/missing_message/locales/en/demo.ftl",
        ],
        1,
    ),
    (
        "missing_shared_message",
        &[
            "flows/demo.yaml:5: error: message `ack` is missing in `en` (flow `demo`): add it to tests/lint/missing_shared_message/locales/en/common.ftl",
        ],
        1,
    ),
    (
        "duplicate_choice_value",
        &["flows/demo.yaml:29: error: choices 1 and 2 have the same value `1`: give each choice its own value"],
        1,
    ),
    (
        "duplicate_synonym",
        &[
            "flows/demo.yaml:31: error: synonym `h` is given to choices 1 and 2: an answer `h` would always pick choice 1; keep it in one choice",
        ],
        1,
    ),
    (
        "unused_step",
        &[
            "flows/demo.yaml:20: warning: the answer to step `sex` is used by neither the formula nor the duplicate key: use it in `uic`, or remove the step",
        ],
        1,
    ),
    (
        "variables_differ",
        &[
            "locales/en/demo.ftl:2: error: message `demo-name-too-short` uses no variables in `en` but $min in `fr` (tests/lint/variables_differ/locales/fr/demo.ftl:2)",
        ],
        1,
    ),
    (
        "unknown_variable",
        &[
            "locales/en/demo.ftl:4: error: message `demo-year-digits` uses variable `$max`, which is not provided (it is given no variables)",
            "locales/en/demo.ftl:4: error: message `demo-year-digits` uses variable `$min`, which is not provided (it is given no variables)",
            "locales/fr/demo.ftl:4: error: message `demo-year-digits` uses variable `$max`, which is not provided (it is given no variables)",
            "locales/fr/demo.ftl:4: error: message `demo-year-digits` uses variable `$min`, which is not provided (it is given no variables)",
        ],
        4,
    ),
    (
        "bad_regex",
        &[
            "flows/demo.yaml:18: error: invalid regular expression: a `{` is never closed by a `}`, at character 7 (`{`) of `^[0-9]{4$`",
        ],
        1,
    ),
    (
        "bad_output_pattern",
        &[
            "flows/demo.yaml:23: error: invalid regular expression: in `{min,max}` the first number must not be larger than the second, at character 14 (`{`) of `[A-Z]{3}[0-9]{2,1}`",
        ],
        1,
    ),
    (
        "formula_unknown_step",
        &["flows/demo.yaml:22: error: formula names unknown step `birth_year` (the steps are: name, year)"],
        1,
    ),
    (
        "formula_unknown_filter",
        &["flows/demo.yaml:22: error: formula uses unknown filter `padd` (did you mean `pad`?)"],
        1,
    ),
    ("example_fails", &["flows/demo.yaml:27: error: example 1 gives `MBE97`, expected `MBE1997`"], 1),
    (
        "pattern_mismatch",
        &[
            "flows/demo.yaml:27: error: example 1: the formula makes `MBE97`, which does not match the output pattern `[A-Z]{3}[0-9]{4}`",
        ],
        1,
    ),
    (
        "yaml_syntax",
        &[
            "flows/demo.yaml:7: error: a list in square brackets is not closed (opened on line 5): add the `]` at its end, and commas between its items",
        ],
        1,
    ),
    (
        "yaml_tab",
        &[
            "flows/demo.yaml:16: error: this line is indented with a tab: YAML needs spaces, replace the tab with spaces",
        ],
        1,
    ),
    (
        "yaml_backslash",
        &[
            "flows/demo.yaml:18: error: a backslash inside double quotes must be doubled — write `\\\\d` instead of `\\d`, or put the text in single quotes",
        ],
        1,
    ),
    (
        "yaml_dedented_list",
        &[
            "flows/demo.yaml:14: error: this line is indented less than the list it belongs to: line up its `-` with the `-` on line 12",
        ],
        1,
    ),
    (
        "yaml_colon_in_value",
        &[
            "flows/demo.yaml:16: error: a colon followed by a space starts a new key, and this line already has one: put the value in quotes, e.g. `note: \"Year: four digits\"`",
        ],
        1,
    ),
    (
        "yaml_mapping_unclosed",
        &[
            "flows/demo.yaml:28: error: a mapping in curly braces is not closed (opened on line 27): add the `}` at its end, and commas between its entries",
        ],
        1,
    ),
    (
        "yaml_expected_colon",
        &[
            "flows/demo.yaml:17: error: a key must be followed by `: `; if this line continues the text above, put that text in quotes",
        ],
        1,
    ),
    (
        "yaml_not_aligned",
        &[
            "flows/demo.yaml:16: error: this line is not indented like the entries around it (in the block starting on line 8): line it up with the keys it belongs with",
        ],
        1,
    ),
    (
        "yaml_over_indented",
        &[
            "flows/demo.yaml:16: error: this line is indented more than `prompt` on line 15, so it reads as the rest of its value: line it up with `prompt`",
        ],
        1,
    ),
    (
        "formula_filter_argument",
        &[
            "flows/demo.yaml:22: error: formula fails: filter `pad` has no argument `width` (its arguments: `n`, `fill`)",
        ],
        1,
    ),
    (
        "lookup_table",
        &[
            "flows/data/names.csv:3: warning: `MBENGUE` is already on line 2 with the same code: remove one",
            "flows/data/names.csv:5: error: `kab` gives `KBL` here but `KAB` on line 4: a name must give one code",
            "flows/data/names.csv:6: error: the formula turns code `ILUN` (of `Ilunga`) into `ILU` ({{ name | first(3) | pad(3) }}): write each code as the formula keeps it",
        ],
        3,
    ),
    (
        "yaml_unclosed_quote",
        &["flows/demo.yaml:23: error: this quote `\"` is never closed: add the closing `\"` at the end of the value"],
        1,
    ),
    (
        "unused_message",
        &[
            "locales/en/demo.ftl:5: warning: message `demo-city` is not used by any flow",
            "locales/fr/demo.ftl:5: warning: message `demo-city` is not used by any flow",
        ],
        2,
    ),
    (
        "fluent_syntax",
        &[
            "locales/en/demo.ftl:2: error: Fluent syntax error in message `demo-name-too-short`: a `{` is not closed: add the `}`",
        ],
        1,
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `uic lint ARGS...` from the crate root, as a person would.
fn uic_lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uic"))
        .current_dir(root())
        .arg("lint")
        .args(args)
        .env_remove("LOCALES_DIR")
        .env_remove("FLOWS_DIR")
        .output()
        .expect("the uic binary runs")
}

/// The case folders under `tests/lint/`, sorted.
fn case_folders() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(root().join("tests/lint"))
        .expect("tests/lint exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().expect("a folder name").to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// The languages lint speaks and the file of each case that holds its output.
const LANGUAGES: &[(&str, &str)] = &[("en", "expected.txt"), ("fr", "expected.fr.txt")];

fn expected_path(case: &str) -> PathBuf {
    expected_path_in(case, "expected.txt")
}

fn expected_path_in(case: &str, file: &str) -> PathBuf {
    root().join("tests/lint").join(case).join(file)
}

#[test]
fn lint_prints_the_expected_messages() {
    let update = crate::support::rewrite_golden_files();
    let cases = case_folders();
    assert!(!cases.is_empty(), "no cases under tests/lint");
    let mut failures = Vec::new();
    for (case, (language, file)) in cases.iter().flat_map(|case| LANGUAGES.iter().map(move |l| (case, l))) {
        let output = uic_lint(&["--lang", language, &format!("tests/lint/{case}")]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let path = expected_path_in(case, file);
        let expected = if update {
            std::fs::write(&path, &stdout).expect("expected.txt is writable");
            stdout.clone()
        } else {
            match std::fs::read_to_string(&path) {
                Ok(expected) => expected,
                Err(error) => {
                    failures.push(format!("{case}: cannot read {}: {error}", path.display()));
                    continue;
                }
            }
        };
        if stdout != expected {
            failures.push(format!(
                "{case}: stdout differs from {}\n--- expected\n{expected}--- actual\n{stdout}--- stderr\n{stderr}",
                path.display()
            ));
        }
        let has_errors = expected.lines().any(|line| line.contains(": error: ") || line.contains(": erreur: "));
        let wanted = if has_errors { 1 } else { 0 };
        if output.status.code() != Some(wanted) {
            failures.push(format!(
                "{case}: exit status {:?}, expected {wanted} (expected.txt has {} error line)\n--- stderr\n{stderr}",
                output.status.code(),
                if has_errors { "an" } else { "no" },
            ));
        }
        let prefix = format!("tests/lint/{case}/");
        for line in stdout.lines().filter(|line| !line.starts_with(&prefix)) {
            failures.push(format!("{case}: a line names a file outside the case: {line}"));
        }
    }
    assert!(
        failures.is_empty(),
        "uic lint output differs ({} rewrites expected.txt; then read every line):\n\n{}",
        crate::support::REWRITE_VAR,
        failures.join("\n\n")
    );
}

/// What each case exists to show, checked apart from `expected.txt` so that
/// a rewrite cannot bless a wrong, vaguer or noisier message.
#[test]
fn each_case_pins_its_message() {
    let listed: BTreeSet<&str> = CASES.iter().map(|(case, _, _)| *case).collect();
    let folders = case_folders();
    let found: BTreeSet<&str> = folders.iter().map(String::as_str).collect();
    assert_eq!(found, listed, "every folder under tests/lint is listed in CASES, and only those");

    let mut failures = Vec::new();
    for (case, lines, count) in CASES {
        let expected = std::fs::read_to_string(expected_path(case)).unwrap_or_default();
        let printed: Vec<&str> = expected.lines().collect();
        for line in *lines {
            let full = format!("tests/lint/{case}/{line}");
            if !printed.contains(&full.as_str()) {
                failures.push(format!("{case}: expected.txt lacks the line\n  {full}"));
            }
        }
        if printed.len() != *count {
            failures.push(format!(
                "{case}: expected.txt has {} line(s), not {count}:\n  {}",
                printed.len(),
                printed.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every line is said in French in `expected.fr.txt`: the same places, in
/// the same order, and a different text from the English one (a message
/// left in English would read the same).
#[test]
fn lint_speaks_french() {
    let mut failures = Vec::new();
    for case in case_folders() {
        let english = std::fs::read_to_string(expected_path(&case)).unwrap_or_default();
        let french = std::fs::read_to_string(expected_path_in(&case, "expected.fr.txt")).unwrap_or_default();
        let english: Vec<&str> = english.lines().collect();
        let french: Vec<&str> = french.lines().collect();
        if english.len() != french.len() {
            failures.push(format!("{case}: {} English lines but {} French ones", english.len(), french.len()));
            continue;
        }
        for (en, fr) in english.iter().zip(&french) {
            let (en_place, en_text) = en.split_once(": error: ").or_else(|| en.split_once(": warning: ")).unwrap();
            let (fr_place, fr_text) =
                fr.split_once(": erreur: ").or_else(|| fr.split_once(": avertissement: ")).unwrap_or(("", ""));
            if en_place != fr_place || en_text == fr_text || fr_text.is_empty() {
                failures.push(format!("{case}: not said in French:\n  {en}\n  {fr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lint_refuses_a_language_it_does_not_speak() {
    let output = uic_lint(&["--lang", "ln", "tests/lint/valid"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`ln` is not a language lint speaks: use fr or en"), "{stderr}");
}

#[test]
fn the_project_passes_lint() {
    let output = uic_lint(&[]);
    assert!(
        output.status.success(),
        "`uic lint` fails on the project itself:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
