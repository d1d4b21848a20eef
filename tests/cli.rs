//! The `uic` binary as a person runs it: piped chat, salt, help.

use std::io::Write;
use std::process::{Command, Stdio};

fn uic() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uic"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("UIC_SALT").env_remove("DATABASE_URL");
    command
}

fn chat(args: &[&str], input: &str) -> (String, String, bool) {
    let mut child = uic()
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("uic runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

#[test]
fn piped_chat_runs_two_conversations_and_detects_the_duplicate() {
    let answers = "Bonjour\nMBE\nIBR\n7\nDA\n1\n";
    let (out, err, ok) = chat(&[], &format!("{answers}{answers}"));
    assert!(ok, "{err}");
    assert!(err.contains("UIC_SALT is not set"), "warns about the development salt: {err}");
    assert_eq!(out.matches("MBEIBR7DA1").count(), 6, "code in two messages and two QR lines:\n{out}");
    assert!(out.contains("Votre Code d'Identification Unique a été généré!"));
    assert!(out.contains("Ce CIU a déjà été généré auparavant."));
}

#[test]
fn chat_takes_a_flow_by_id_or_path_and_a_start_language() {
    let (out, err, ok) = chat(&["--flow", "drc-ln"], "?\n");
    assert!(ok, "{err}");
    assert!(out.contains("Boyei malamu"), "{out}");
    let (out, err, ok) = chat(&["--flow", "flows/legacy.yaml", "--locale", "en"], "x\n1985\n");
    assert!(ok, "{err}");
    assert!(out.contains("Where was your mother born?"), "{out}");
    let (_, err, ok) = chat(&["--flow", "nope"], "x\n");
    assert!(!ok);
    assert!(err.contains("default flow `nope` is not among the loaded flows"), "{err}");
}

#[test]
fn chat_with_a_salt_and_a_database_file_keeps_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("chat.db").display());
    let run = || {
        let mut child = uic()
            .args(["chat", "--flow", "legacy", "--db", &db])
            .env("UIC_SALT", "Another-Salt-For-Tests-42")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"x\n1985\nKinshasa\nJean\n15\nKabila\noui\n").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert!(!String::from_utf8_lossy(&output.stderr).contains("UIC_SALT is not set"));
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    let second = run();
    assert!(first.contains("985-KINS-15-JEA-KABI-"));
    assert!(second.contains("déjà été généré"), "the file database remembers the code:\n{second}");
}

#[test]
fn a_weak_salt_is_refused_naming_the_variable() {
    let output = uic().args(["chat"]).env("UIC_SALT", "short").stdin(Stdio::null()).output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains("UIC_SALT must be at least 16 characters"), "{err}");
}

#[test]
fn salt_prints_a_new_strong_salt_each_time() {
    let one = uic().arg("salt").output().unwrap();
    let two = uic().arg("salt").output().unwrap();
    let one = String::from_utf8(one.stdout).unwrap();
    let two = String::from_utf8(two.stdout).unwrap();
    assert!(uic::salt::Salt::parse(one.trim()).is_ok());
    assert_ne!(one, two);
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["chat", "--help"],
        vec!["lint", "--help"],
        vec!["salt", "--help"],
        vec!["db", "migrate", "--help"],
    ] {
        let output = uic().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(String::from_utf8(output.stdout).unwrap().contains("Usage:"), "{args:?}");
    }
}

fn serve_in(dir: &std::path::Path, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = uic();
    command.arg("serve").current_dir(dir).stdin(Stdio::null());
    for name in
        ["ENVIRONMENT", "PORT", "ADMIN_TOKEN", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "FLOWS_DIR", "LOCALES_DIR"]
    {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    // Every case below must stop at start-up; a server that runs is a failure.
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("uic serve did not stop at start-up");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
}

#[test]
fn serve_refuses_production_without_its_secrets_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = serve_in(dir.path(), &[("ENVIRONMENT", "production"), ("UIC_SALT", "Prod-Salt-0123456789")]);
    assert!(!ok);
    assert!(err.contains("ENVIRONMENT=production needs ADMIN_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"), "{err}");
}

#[test]
fn serve_reads_dot_env_and_names_a_wrong_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "PORT=eighty\n").unwrap();
    let (ok, err) = serve_in(dir.path(), &[]);
    assert!(!ok);
    assert!(err.contains("PORT: `eighty` is not valid"), "{err}");
}

#[test]
fn serve_refuses_a_flow_that_fails_lint() {
    let dir = tempfile::tempdir().unwrap();
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/duplicate_step_id");
    let flows = case.join("flows");
    let locales = case.join("locales");
    let (ok, err) = serve_in(
        dir.path(),
        &[("FLOWS_DIR", flows.to_str().unwrap()), ("LOCALES_DIR", locales.to_str().unwrap()), ("PORT", "0")],
    );
    assert!(!ok);
    assert!(err.contains("the flows do not pass `uic lint`"), "{err}");
    assert!(err.contains("duplicate step id `year`"), "{err}");
}
