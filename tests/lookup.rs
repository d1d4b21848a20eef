//! Lookup tables: a flow whose city step maps the names people use to their
//! code (`flows/data/drc-cities.csv`), tried as staff would, with `uic lint`
//! and `uic chat` on a project folder: names and nicknames give the table's
//! code, a letter wrong still does, a name further off is asked about, and
//! anything else follows the flow's rule.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A project: the shipped flows (and their `data/`) and locales, plus
/// `drc-cities`, the DRC flow (as a new version) whose city step looks its
/// answer up in the shipped table.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate::support::copy_dir(&root.join("flows"), &dir.path().join("flows"));
    crate::support::copy_dir(&root.join("locales"), &dir.path().join("locales"));
    let drc = std::fs::read_to_string(root.join("flows/drc-fr.yaml")).unwrap();
    let step = "  - id: birth_city\n    prompt: drc-birth-city\n";
    assert!(drc.contains(step));
    let cities = drc.replacen("id: drc-fr", "id: drc-cities", 1).replacen("version: 1", "version: 2", 1).replacen(
        step,
        &format!("{step}    lookup: {{ table: data/drc-cities.csv }}\n"),
        1,
    );
    std::fs::write(dir.path().join("flows/drc-cities.yaml"), cities).unwrap();
    dir
}

fn uic(dir: &Path, args: &[&str], input: &str) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uic"))
        .current_dir(dir)
        .args(args)
        .env_remove("FLOWS_DIR")
        .env_remove("LOCALES_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

/// The code `uic chat --flow drc-cities` gives for these answers (one per line).
fn code(dir: &Path, city_lines: &str) -> String {
    let input = format!("Bonjour\nMukendi\nJean\n1997\n{city_lines}\n1\n");
    let (out, err, ok) = uic(dir, &["chat", "--flow", "drc-cities"], &input);
    assert!(ok, "{err}");
    let found = out.split_whitespace().find(|word| word.len() == 10 && word.starts_with("MUKJEA7")).map(str::to_string);
    found.unwrap_or_else(|| panic!("no code in:\n{out}"))
}

#[test]
fn a_flow_with_a_table_passes_lint() {
    let dir = project();
    let (out, err, ok) = uic(dir.path(), &["lint", "--lang", "en"], "");
    assert!(ok, "{out}{err}");
    assert_eq!(out, "", "no problem at all");
}

#[test]
fn names_nicknames_and_old_names_give_the_tables_code() {
    let dir = project();
    for (typed, expected) in [
        ("Kinshasa", "MUKJEA7KI1"),
        ("Kin", "MUKJEA7KI1"),
        ("L'shi", "MUKJEA7LU1"),
        ("L’shi", "MUKJEA7LU1"),
        ("Élisabethville", "MUKJEA7LU1"),
        ("Bakwanga", "MUKJEA7MB1"),
        ("MBUJIMAYI", "MUKJEA7MB1"),
        // One letter wrong, missing or swapped.
        ("Lubumbashu", "MUKJEA7LU1"),
        ("Stanlyville", "MUKJEA7KI1"),
        // Not in the table: the flow's rule, the first two letters.
        ("Dakar", "MUKJEA7DA1"),
        ("Kasai", "MUKJEA7KA1"),
    ] {
        assert_eq!(code(dir.path(), typed), expected, "{typed}");
    }
    // The flow without the table is unchanged: L'shi makes LS there.
    let (out, _, _) = uic(dir.path(), &["chat"], "Bonjour\nMukendi\nJean\n1997\nL'shi\n1\n");
    assert!(out.contains("MUKJEA7LS1"), "{out}");
}

#[test]
fn a_name_further_off_is_asked_about() {
    let dir = project();
    let input = "Bonjour\nMukendi\nJean\n1997\nLouboumbashi\n";
    let (out, err, ok) = uic(dir.path(), &["chat", "--flow", "drc-cities"], input);
    assert!(ok, "{err}");
    assert!(out.contains("Vouliez-vous dire Lubumbashi ?"), "{out}");
    assert!(out.contains("1. Oui") && out.contains("2. Non"), "the choices are numbered: {out}");
    // Yes (typed, or its number) takes the table's code; no, the flow's rule.
    assert_eq!(code(dir.path(), "Louboumbashi\noui"), "MUKJEA7LU1");
    assert_eq!(code(dir.path(), "Louboumbashi\n1"), "MUKJEA7LU1");
    assert_eq!(code(dir.path(), "Louboumbashi\nnon"), "MUKJEA7LO1");
    // Another answer instead is a new answer to the same question.
    assert_eq!(code(dir.path(), "Louboumbashi\nGoma"), "MUKJEA7GO1");
}

#[test]
fn lint_names_a_missing_table() {
    let dir = project();
    std::fs::remove_file(dir.path().join("flows/data/drc-cities.csv")).unwrap();
    let (out, _, ok) = uic(dir.path(), &["lint", "--lang", "en"], "");
    assert!(!ok);
    let flow = std::fs::read_to_string(dir.path().join("flows/drc-cities.yaml")).unwrap();
    let line = flow.lines().position(|line| line.contains("lookup:")).unwrap() + 1;
    let expected = format!(
        "flows/drc-cities.yaml:{line}: error: there is no table `data/drc-cities.csv` beside this flow: put the CSV file in flows/data"
    );
    assert!(out.contains(&expected), "{out}");
}
