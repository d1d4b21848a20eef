//! Codes already issued never change: a formula edited without a new flow
//! version is refused by `uic lint --db` and by `uic serve`.

use std::path::Path;
use std::process::{Command, Stdio};

fn uic(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uic"));
    command.current_dir(dir).env_remove("UIC_SALT").env_remove("DATABASE_URL").env_remove("FLOWS_DIR");
    command.env_remove("LOCALES_DIR");
    command
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_formula_changed_without_a_new_version_is_refused_once_codes_exist() {
    let project = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate::support::copy_dir(&root.join("flows"), &project.path().join("flows"));
    crate::support::copy_dir(&root.join("locales"), &project.path().join("locales"));
    let db = format!("sqlite://{}", project.path().join("uic.db").display());

    // Before any code is issued, the database has nothing to say.
    assert!(uic(project.path()).args(["db", "migrate", "--db", &db]).output().unwrap().status.success());
    let lint = |dir: &Path| uic(dir).args(["lint", ".", "--db", &db]).output().unwrap();
    let fresh = lint(project.path());
    assert!(fresh.status.success(), "{}", String::from_utf8_lossy(&fresh.stdout));

    // Issue a code with the shipped drc-fr formula.
    let mut chat = uic(project.path())
        .args(["chat", "--db", &db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    chat.stdin.take().unwrap().write_all(b"Bonjour\nMBE\nIBR\n7\nDA\n1\n").unwrap();
    assert!(chat.wait_with_output().unwrap().status.success());

    // The duplicate key is part of the formula: change it, keep the version.
    let flow = project.path().join("flows/drc-fr.yaml");
    edit(&flow, "    - birth_year | last(1)\n", "    - birth_year\n");
    let changed = lint(project.path());
    let printed = String::from_utf8_lossy(&changed.stdout).to_string();
    assert!(!changed.status.success());
    let version_line =
        std::fs::read_to_string(&flow).unwrap().lines().position(|l| l.starts_with("version:")).unwrap() + 1;
    assert!(
        printed.contains(&format!(
            "flows/drc-fr.yaml:{version_line}: error: flow `drc-fr` version 1 already issued codes with another formula; bump `version` to 2"
        )),
        "{printed}"
    );
    assert!(!printed.contains("drc-ln"), "drc-ln issued nothing: {printed}");

    // uic serve refuses to start on it, saying why.
    let serve = uic(project.path())
        .arg("serve")
        .env("DATABASE_URL", &db)
        .env("PORT", "0")
        .env("DATA_DIR", project.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!serve.status.success());
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(err.contains("the flows do not match the codes already issued"), "{err}");

    // A new version is a new family of codes: accepted.
    edit(&flow, "version: 1\n", "version: 2\n");
    let bumped = lint(project.path());
    assert!(bumped.status.success(), "{}", String::from_utf8_lossy(&bumped.stdout));
}

#[test]
fn lint_against_a_missing_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    let output = uic(Path::new(env!("CARGO_MANIFEST_DIR"))).args(["lint", "--db", &missing]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such database"));
    assert!(!dir.path().join("none.db").exists(), "lint creates nothing");
}
