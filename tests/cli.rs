//! The `uic` binary as a person runs it: piped chat, salt, help, serve's
//! start-up errors, and the operator commands on a database `uic chat` filled.

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
    assert!(uic::core::salt::Salt::parse(one.trim()).is_ok());
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
        vec!["db", "status", "--help"],
        vec!["db", "backup", "--help"],
        vec!["uics", "list", "--help"],
        vec!["uics", "export", "--help"],
        vec!["report", "--help"],
        vec!["collisions", "list", "--help"],
        vec!["analyze", "--help"],
        vec!["verify", "--help"],
        vec!["sessions", "cleanup", "--help"],
        vec!["serve", "--help"],
        vec!["outbox", "list", "--help"],
        vec!["outbox", "retry", "--help"],
        vec!["outbox", "drop", "--help"],
    ] {
        let output = uic().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(String::from_utf8(output.stdout).unwrap().contains("Usage:"), "{args:?}");
    }
}

fn serve_in(dir: &std::path::Path, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = uic();
    command.arg("serve").current_dir(dir).stdin(Stdio::null());
    for name in [
        "ENVIRONMENT",
        "PORT",
        "ADMIN_TOKEN",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "PUBLIC_BASE_URL",
        "FLOWS_DIR",
        "LOCALES_DIR",
    ] {
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
    assert!(
        err.contains(
            "ENVIRONMENT=production needs ADMIN_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL"
        ),
        "{err}"
    );
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
    assert!(err.contains("is not among the flows that pass `uic lint`"), "{err}");
    assert!(err.contains("duplicate step id `year`"), "{err}");
}

/// Runs `uic` with `args`; (stdout, stderr, success).
fn run(args: &[&str]) -> (String, String, bool) {
    let output = uic().args(args).stdin(Stdio::null()).output().unwrap();
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

/// A SQLite file as `uic chat --db` leaves it: `MBEIBR7DA1` asked for twice
/// by +243810000001, `MBEIBR7DA2` by +243810000002, and +243810000003 in
/// the middle of a conversation.
fn chat_database(dir: &std::path::Path) -> String {
    let db = format!("sqlite://{}", dir.join("chat.db").display());
    let answers = "Bonjour\nMBE\nIBR\n7\nDA\n1\n";
    for (from, input) in [
        ("+243810000001", format!("{answers}{answers}")),
        ("+243810000002", "Bonjour\nMBE\nIBR\n7\nDA\n2\n".to_string()),
        ("+243810000003", "Bonjour\nMOB\n".to_string()),
    ] {
        let (_, err, ok) = chat(&["--db", &db, "--from", from], &input);
        assert!(ok, "{err}");
    }
    db
}

#[test]
fn uics_list_shows_a_chat_database_newest_first_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    let (out, err, ok) = run(&["uics", "list", "--db", &db]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header: Vec<&str> = lines[0].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(
        header,
        ["code", "phone number", "flow", "version", "created (UTC)", "last requested (UTC)", "requests", "DHIS2"]
    );
    let today = chrono::Utc::now().date_naive().to_string();
    let second: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&second[..4], ["MBEIBR7DA2", "+243810000002", "drc-fr", "1"], "{out}");
    assert_eq!(second[4], today);
    let first: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&first[..4], ["MBEIBR7DA1", "+243810000001", "drc-fr", "1"], "{out}");
    // Issued by `chat`, which never registers in DHIS2.
    assert_eq!(&first[first.len() - 2..], ["2", "-"], "asked for twice, not registered: {out}");

    let (out, _, ok) = run(&["uics", "list", "--db", &db, "--limit", "1", "--since", &today, "--flow", "drc-fr"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("MBEIBR7DA2") && !out.contains("MBEIBR7DA1"), "{out}");
    let (out, _, ok) = run(&["uics", "list", "--db", &db, "--flow", "legacy"]);
    assert!(ok);
    assert_eq!(out, "no codes\n");
    let (out, _, ok) = run(&["uics", "list", "--db", &db, "--since", "2999-01-01"]);
    assert!(ok);
    assert_eq!(out, "no codes\n");
    let (_, err, ok) = run(&["uics", "list", "--db", &db, "--since", "14/03/2026"]);
    assert!(!ok);
    assert!(err.contains("`14/03/2026` is not a date: use YYYY-MM-DD"), "{err}");
}

#[test]
fn uics_export_writes_spreadsheet_safe_csv_to_stdout_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    let (out, err, ok) = run(&["uics", "export", "--format", "csv", "--db", &db]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_eq!(
        lines[0],
        "uic_code,phone_number,flow_id,flow_version,created_at,last_requested_at,request_count,dhis2_status,dhis2_tracked_entity,dhis2_error"
    );
    let first: Vec<&str> = lines[1].split(',').collect();
    // A phone number starts with `+`: written as text, never a formula.
    assert_eq!(
        [first[0], first[1], first[2], first[3], first[6]],
        ["MBEIBR7DA1", "'+243810000001", "drc-fr", "1", "2"]
    );
    let created = chrono::DateTime::parse_from_rfc3339(first[4]).expect("RFC 3339 time");
    assert!(first[4].ends_with('Z') && created.date_naive() == chrono::Utc::now().date_naive(), "{}", first[4]);
    assert!(lines[2].starts_with("MBEIBR7DA2,'+243810000002,drc-fr,1,"), "oldest first: {out:?}");

    // To a file, replacing what was there; the same bytes.
    let file = dir.path().join("codes.csv");
    std::fs::write(&file, "old").unwrap();
    let (_, err, ok) = run(&[
        "uics",
        "export",
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
        "--db",
        &db,
        "--flow",
        "drc-fr",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("exported 2 code(s)"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!leftovers.iter().any(|name| name.to_string_lossy().contains("partial")), "{leftovers:?}");

    let (out, _, ok) = run(&["uics", "export", "--format", "csv", "--db", &db, "--flow", "legacy"]);
    assert!(ok);
    assert_eq!(
        out,
        "uic_code,phone_number,flow_id,flow_version,created_at,last_requested_at,request_count,dhis2_status,dhis2_tracked_entity,dhis2_error\r\n"
    );
    let (out, err, ok) = run(&["uics", "export", "--format", "json", "--db", &db]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.contains("invalid value 'json' for '--format <FORMAT>'") && err.contains("[possible values: csv]"),
        "{err}"
    );
}

#[test]
fn report_counts_the_months_codes_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    let now = chrono::Utc::now();
    let (out, err, ok) = run(&["report", "--db", &db]);
    assert!(ok, "{err}");
    let lines: Vec<Vec<&str>> = out.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(lines[0], [format!("{}", now.format("%Y-%m")).as_str(), "(UTC", "days)"], "{out}");
    assert_eq!(lines[1], ["date", "codes", "unique", "phones", "repeat", "requests", "possible", "collisions"]);
    let today = now.date_naive().to_string();
    assert_eq!(lines[2], [today.as_str(), "2", "2", "1", "0"], "{out}");
    assert_eq!(lines[3], ["total", "2", "2", "1", "0"], "{out}");
    assert_eq!(lines.len(), 4);

    let (out, _, ok) = run(&["report", "--db", &db, "--month", "2020-01"]);
    assert!(ok);
    assert!(out.starts_with("2020-01 (UTC days)\n"), "{out}");
    assert_eq!(out.lines().last().unwrap().split_whitespace().collect::<Vec<_>>(), ["total", "0", "0", "0", "0"]);
    let (_, err, ok) = run(&["report", "--db", &db, "--month", "2026-13"]);
    assert!(!ok);
    assert!(err.contains("`2026-13` is not a month: use YYYY-MM"), "{err}");
}

#[test]
fn sessions_cleanup_removes_only_idle_sessions_and_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    let cleanup = |extra: &[&str]| {
        let output = uic()
            .args(["sessions", "cleanup", "--db", &db])
            .args(extra)
            .env_remove("SESSION_TIMEOUT_MINUTES")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(cleanup(&[]), "removed 0 session(s) idle for more than 30 minute(s)\n");
    // The conversation in progress last moved two hours ago.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&db).await.unwrap();
        let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
        let done = sqlx::query("UPDATE conversation_sessions SET updated_at = $1")
            .bind(uic_time(two_hours_ago))
            .execute(&mut connection)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        connection.close().await.unwrap();
    });
    assert_eq!(cleanup(&["--older-than-minutes", "180"]), "removed 0 session(s) idle for more than 180 minute(s)\n");
    assert_eq!(cleanup(&["--older-than-minutes", "90"]), "removed 1 session(s) idle for more than 90 minute(s)\n");
    assert_eq!(cleanup(&[]), "removed 0 session(s) idle for more than 30 minute(s)\n");
}

/// A time as the store writes it.
fn uic_time(time: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(time, 0)
}

#[test]
fn db_backup_makes_a_readable_copy_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    let backup = dir.path().join("backup of 'chat'.db");
    let (out, err, ok) = run(&["db", "backup", backup.to_str().unwrap(), "--db", &db]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("backed up {db} into {}", backup.display())), "{out}");
    let (original, _, _) = run(&["uics", "list", "--db", &db]);
    let (copy, err, ok) = run(&["uics", "list", "--db", &format!("sqlite://{}", backup.display())]);
    assert!(ok, "{err}");
    assert_eq!(copy, original);
    assert!(copy.contains("MBEIBR7DA1"));

    let before = std::fs::read(&backup).unwrap();
    let (_, err, ok) = run(&["db", "backup", backup.to_str().unwrap(), "--db", &db]);
    assert!(!ok);
    assert!(err.contains("already exists; a backup never overwrites a file"), "{err}");
    assert_eq!(std::fs::read(&backup).unwrap(), before);
}

#[test]
fn a_wrong_url_or_an_unreachable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let missing_url = format!("sqlite://{}", missing.display());
    let unreachable = "postgres://postgres@127.0.0.1:1/nope";
    for args in [
        vec!["uics", "list"],
        vec!["uics", "export", "--format", "csv"],
        vec!["report"],
        vec!["collisions", "list"],
        vec!["analyze"],
        vec!["sessions", "cleanup"],
        vec!["db", "status"],
    ] {
        let (out, err, ok) = run(&[args.clone(), vec!["--db", &missing_url]].concat());
        assert!(!ok && out.is_empty(), "{args:?}");
        assert!(err.contains(&format!("error: {missing_url}: no such database file")), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the file");

        let (out, err, ok) = run(&[args.clone(), vec!["--db", unreachable]].concat());
        assert!(!ok && out.is_empty(), "{args:?}");
        assert!(err.contains("error: cannot open postgres://***@127.0.0.1:1/nope: database error:"), "{args:?}: {err}");
        assert!(err.contains("refused"), "{args:?}: {err}");

        let (_, err, ok) = run(&[args.clone(), vec!["--db", "mysql://root:secret@db/uic"]].concat());
        assert!(!ok, "{args:?}");
        assert!(err.contains("mysql://***@db/uic: not a database URL uic knows"), "{args:?}: {err}");
        assert!(!err.contains("secret"), "{err}");
    }

    // A database without uic's tables.
    std::fs::write(&missing, "").unwrap();
    let (_, err, ok) = run(&["uics", "list", "--db", &missing_url]);
    assert!(!ok);
    assert!(err.contains("no uic tables in this database (run `uic db migrate` first)"), "{err}");

    // PostgreSQL is backed up by pg_dump, which the message spells out.
    let (_, err, ok) = run(&["db", "backup", "uic.sql", "--db", "postgres://uic:secret@db.example.org/uic"]);
    assert!(!ok);
    assert!(err.contains("is a PostgreSQL database: back it up with pg_dump"), "{err}");
    assert!(err.contains("pg_dump --file=uic.sql 'postgres://***@db.example.org/uic'"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

/// `uic` started in `dir` with nothing in its environment but `vars`, as a
/// person starts it in the folder that holds the `.env`.
fn uic_in(dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uic"));
    command.current_dir(dir).env_clear().stdin(Stdio::null());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// (stdout, stderr, success) of `uic args` in `dir`.
fn run_in(dir: &std::path::Path, vars: &[(&str, &str)], args: &[&str]) -> (String, String, bool) {
    let output = uic_in(dir, vars).args(args).output().unwrap();
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.success())
}

/// Starts `uic serve` in `dir` (its `.env` must set `PORT=0`), waits until it
/// serves, then stops it: whatever it created is then on disk.
fn serve_once_in(dir: &std::path::Path, vars: &[(&str, &str)]) {
    use std::io::BufRead;
    let mut child = uic_in(dir, vars).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains("uic serving") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("uic serve did not start:\n{}", seen.join("\n"));
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn every_command_opens_the_database_serve_uses_from_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "DATA_DIR=state\nPORT=0\n").unwrap();
    serve_once_in(dir.path(), &[]);
    assert!(dir.path().join("state/uic.db").exists(), "serve made its database in DATA_DIR");
    assert!(!dir.path().join("data").exists(), "and nothing in the default folder");

    // A code in that database, as a conversation through serve would leave it.
    let (_, err, ok) = chat(
        &["--db", &format!("sqlite://{}", dir.path().join("state/uic.db").display())],
        "Bonjour\nMBE\nIBR\n7\nDA\n1\n",
    );
    assert!(ok, "{err}");

    let (out, err, ok) = run_in(dir.path(), &[], &["db", "status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("sqlite://state/uic.db\n") && out.contains("applied"), "{out}");
    let (out, err, ok) = run_in(dir.path(), &[], &["uics", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("MBEIBR7DA1"), "{out}");
    let (out, err, ok) = run_in(dir.path(), &[], &["report"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().last().unwrap().split_whitespace().collect::<Vec<_>>(), ["total", "1", "1", "0", "0"]);
}

#[test]
fn a_wrong_value_in_dot_env_is_refused_naming_its_variable_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "SESSION_TIMEOUT_MINUTES=soon\n").unwrap();
    let expected = "SESSION_TIMEOUT_MINUTES: `soon` is not valid: a number of minutes from 1 to 10080";
    for args in [vec!["sessions", "cleanup"], vec!["chat"]] {
        let (out, err, ok) = run_in(dir.path(), &[], &args);
        assert!(!ok && out.is_empty(), "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let (ok, err) = serve_in(dir.path(), &[]);
    assert!(!ok);
    assert!(err.contains(expected), "{err}");

    // The salt of `uic chat` comes from `.env` too, checked as serve checks it.
    std::fs::write(dir.path().join(".env"), "UIC_SALT=short\n").unwrap();
    let (_, err, ok) = run_in(dir.path(), &[], &["chat"]);
    assert!(!ok);
    assert!(err.contains("UIC_SALT must be at least 16 characters"), "{err}");
}

#[test]
fn lint_checks_the_flows_and_with_db_the_database_serve_uses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "DATA_DIR=state\n").unwrap();
    // Without --db, no database is looked at.
    let (_, err, ok) = run_in(dir.path(), &[], &["lint"]);
    assert!(ok, "{err}");
    let (_, err, ok) = run_in(dir.path(), &[], &["lint", "--db"]);
    assert!(!ok);
    assert!(err.contains("--db sqlite://state/uic.db: no such database"), "{err}");
    let (_, err, ok) = run_in(dir.path(), &[], &["db", "migrate"]);
    assert!(ok, "{err}");
    assert!(dir.path().join("state/uic.db").exists());
    let (_, err, ok) = run_in(dir.path(), &[], &["lint", "--db"]);
    assert!(ok, "{err}");

    // The flows serve would load: FLOWS_DIR and LOCALES_DIR from .env.
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/duplicate_step_id");
    let dot_env =
        format!("FLOWS_DIR={}\nLOCALES_DIR={}\n", case.join("flows").display(), case.join("locales").display());
    std::fs::write(dir.path().join(".env"), dot_env).unwrap();
    let (out, _, ok) = run_in(dir.path(), &[], &["lint"]);
    assert!(!ok);
    assert!(out.contains("duplicate step id `year`"), "{out}");
}

#[test]
fn the_environment_wins_over_dot_env_and_the_db_flag_over_both() {
    let dir = tempfile::tempdir().unwrap();
    let db = chat_database(dir.path());
    std::fs::write(dir.path().join(".env"), "DATABASE_URL=sqlite://nowhere/uic.db\n").unwrap();
    let (_, err, ok) = run_in(dir.path(), &[], &["uics", "list"]);
    assert!(!ok);
    assert!(err.contains("sqlite://nowhere/uic.db: no such database file"), "{err}");
    let (out, err, ok) = run_in(dir.path(), &[("DATABASE_URL", &db)], &["uics", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("MBEIBR7DA1"), "{out}");
    let (out, err, ok) =
        run_in(dir.path(), &[("DATABASE_URL", "sqlite://elsewhere.db")], &["uics", "list", "--db", &db]);
    assert!(ok, "{err}");
    assert!(out.contains("MBEIBR7DA1"), "{out}");
    // An empty variable is an unset one: `.env` then applies.
    let (_, err, ok) = run_in(dir.path(), &[("DATABASE_URL", "")], &["uics", "list"]);
    assert!(!ok);
    assert!(err.contains("sqlite://nowhere/uic.db"), "{err}");
}

#[test]
fn a_copy_of_env_example_is_a_working_dot_env_for_serve_and_the_operator_commands() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example");
    std::fs::copy(example, dir.path().join(".env")).unwrap();
    // Its empty lines (FLOWS_DIR=, DATABASE_URL=, ...) are unset variables; PORT from the
    // environment wins over its 8000.
    serve_once_in(dir.path(), &[("PORT", "0")]);
    let (out, err, ok) = run_in(dir.path(), &[], &["db", "status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("sqlite://data/uic.db\n") && out.contains("applied"), "{out}");
    let (out, err, ok) = run_in(dir.path(), &[], &["report"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().last().unwrap().split_whitespace().collect::<Vec<_>>(), ["total", "0", "0", "0", "0"]);
}

#[test]
fn help_lists_each_variable_with_its_default_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = run_in(dir.path(), &[], &["report", "--help"]);
    assert!(ok, "{err}");
    assert!(out.contains("--db <URL>") && out.contains("[env: DATABASE_URL]"), "{out}");
    assert!(out.contains("[env: DATA_DIR=] [default: data]"), "{out}");

    let secrets = [
        ("UIC_SALT", "Salt-Never-Shown-0123456789"),
        ("ADMIN_TOKEN", "admin-never-shown"),
        ("TWILIO_AUTH_TOKEN", "twilio-never-shown"),
        ("META_ACCESS_TOKEN", "meta-token-never-shown"),
        ("META_APP_SECRET", "meta-secret-never-shown"),
        ("META_WEBHOOK_VERIFY_TOKEN", "verify-never-shown"),
        ("DATABASE_URL", "postgres://uic:password-never-shown@db/uic"),
    ];
    let vars: Vec<(&str, &str)> = [("PORT", "9001")].into_iter().chain(secrets).collect();
    let (out, err, ok) = run_in(dir.path(), &vars, &["serve", "--help"]);
    assert!(ok, "{err}");
    assert!(out.contains("[env: PORT=9001] [default: 8000]"), "{out}");
    let example =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example")).unwrap();
    for line in example.lines().filter(|line| !line.starts_with('#') && line.contains('=')) {
        let name = line.split('=').next().unwrap();
        assert!(out.contains(&format!("[env: {name}")), "{name} in uic serve --help:\n{out}");
    }
    for (name, value) in secrets {
        assert!(out.contains(&format!("[env: {name}]")), "{name}");
        assert!(!out.contains(value), "{name}'s value shown:\n{out}");
    }
}

#[test]
fn a_broken_dot_env_line_is_named_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "PORT=0\nUIC_SALT=Secret value-never-shown\n").unwrap();
    let (out, err, ok) = run_in(dir.path(), &[], &["report"]);
    assert!(!ok && out.is_empty());
    assert_eq!(
        err,
        "error: .env: line 2 (`UIC_SALT`) cannot be read: write NAME=value, in quotes if the value has spaces\n"
    );
}

/// A password in a database URL's query string never reaches the log, even
/// in a parameter sqlx does not know (which it logs with its value).
#[test]
fn a_password_in_the_database_url_is_never_logged() {
    let server =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let separator = if server.contains('?') { '&' } else { '?' };
    for secret in ["sslpassword=Hidden-Pass-7731", "password=Hidden-Pass-7731"] {
        let url = format!("{server}{separator}{secret}");
        let dir = tempfile::tempdir().unwrap();
        let (out, err, _) = run_in(dir.path(), &[("LOG_LEVEL", "trace"), ("DATABASE_URL", &url)], &["db", "status"]);
        assert!(!out.contains("Hidden-Pass") && !err.contains("Hidden-Pass"), "{secret}:\n{out}\n{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let url = "mysql://root:Hidden-Pass-7731@db/uic?password=Hidden-Pass-7731";
    let (_, err, ok) = run_in(dir.path(), &[("LOG_LEVEL", "trace"), ("DATABASE_URL", url)], &["db", "status"]);
    assert!(!ok && err.contains("mysql://***@db/uic") && !err.contains("Hidden-Pass"), "{err}");
}

#[test]
fn version_names_the_git_revision_and_completions_cover_every_command() {
    let (out, _, ok) = run(&["--version"]);
    assert!(ok);
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(out.trim(), format!("uic {} ({})", env!("CARGO_PKG_VERSION"), head.trim()));
    for shell in ["bash", "zsh", "fish"] {
        let (script, err, ok) = run(&["completions", shell]);
        assert!(ok, "{err}");
        for command in ["serve", "chat", "lint", "dhis2", "outbox", "uics", "collisions", "analyze", "verify"] {
            assert!(script.contains(command), "{shell} completes `{command}`");
        }
    }
    let (_, err, ok) = run(&["completions", "powershell-9"]);
    assert!(!ok && err.contains("invalid value"), "{err}");
}
