//! A question with 26 choices (the DRC's provinces, `tests/fixtures/provinces`)
//! on the channels without lists: a numbered list after the prompt on Twilio
//! and in `uic chat`, where typing a number picks the choice at that position
//! and typing a name picks it by its label. The Meta channel's paged list is
//! in `tests/meta.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::server::{TestServer, phone};

/// The fixture's flows folder, and a locales folder holding its texts with the
/// shipped shared messages (`common.ftl`); the temporary folder goes with it.
pub fn provinces() -> (String, String, tempfile::TempDir) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/provinces");
    let locales = tempfile::tempdir().unwrap();
    let french: PathBuf = locales.path().join("fr");
    std::fs::create_dir_all(&french).unwrap();
    std::fs::copy(root.join("locales/fr/common.ftl"), french.join("common.ftl")).unwrap();
    std::fs::copy(fixture.join("locales/fr/provinces.ftl"), french.join("provinces.ftl")).unwrap();
    let flows = fixture.join("flows").display().to_string();
    (flows, locales.path().display().to_string(), locales)
}

#[tokio::test]
async fn twilio_shows_a_numbered_list_and_a_typed_number_or_name_answers() {
    let (flows, locales, _dir) = provinces();
    let server =
        TestServer::start_with(&[("FLOWS_DIR", &flows), ("LOCALES_DIR", &locales), ("DEFAULT_FLOW", "provinces")])
            .await;
    let person = phone(140);
    server.say(&person, "Bonjour").await;
    let question = server.say(&person, "Mbengue").await.text();
    assert!(
        question.contains("Dans quelle province habitez-vous ?\n\n1. Kinshasa\n2. Kongo-Central\n3. Kwango"),
        "{question}"
    );
    assert!(question.contains("\n17. Maniema\n"), "{question}");
    assert!(question.ends_with("26. Kasaï-Oriental"), "{question}");
    assert!(!question.contains("Autres"), "no paging without lists: {question}");
    let done = server.say(&person, "17").await.text();
    assert!(done.contains("MBEMA"), "17 is Maniema: {done}");

    // A name is matched against the labels, ignoring case and accents.
    let other = phone(141);
    server.conversation(&other, &["Bonjour", "Kabila"]).await;
    let done = server.say(&other, "ituri").await.text();
    assert!(done.contains("KABIT"), "{done}");
    let third = phone(142);
    server.conversation(&third, &["Bonjour", "Tshisekedi"]).await;
    let done = server.say(&third, "kasai oriental").await.text();
    assert!(done.contains("TSHKO"), "{done}");

    // A number past the end is refused like any wrong answer.
    let fourth = phone(143);
    server.conversation(&fourth, &["Bonjour", "Lumumba"]).await;
    let refused = server.say(&fourth, "27").await.text();
    assert!(refused.contains("Choisissez une province de la liste."), "{refused}");
    assert!(refused.contains("26. Kasaï-Oriental"), "the list again: {refused}");
}

#[test]
fn chat_shows_the_numbered_list_and_takes_a_number() {
    let (flows, locales, _dir) = provinces();
    let mut child = Command::new(env!("CARGO_BIN_EXE_uic"))
        .args(["chat", "--flow", "provinces"])
        .env("FLOWS_DIR", &flows)
        .env("LOCALES_DIR", &locales)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("uic runs");
    child.stdin.take().unwrap().write_all(b"Bonjour\nMbengue\n17\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
    assert!(output.status.success(), "{err}");
    assert!(out.contains("Dans quelle province habitez-vous ?\n\n1. Kinshasa\n"), "{out}");
    assert!(out.contains("\n14. Ituri\n"), "{out}");
    assert!(out.contains("MBEMA"), "{out}");
}
