//! The console's simulator in a real headless Chromium, as staff use it:
//! signing in (a wrong token refused, the cookie's flags), a DRC conversation
//! to its code by typing and by tapping a list row, a language switched by
//! typing its name, a flow edited on disk picked up and a broken one shown
//! with its lint messages; screenshots at a laptop's size and a phone's, in
//! `<target dir>/browser-screenshots/`, to look at.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::browser::Browser;
use crate::support::server::{ADMIN_TOKEN, TestServer};

/// Long enough for a loaded machine, short enough to fail fast.
const WAIT: Duration = Duration::from_secs(15);

/// Signs in through the form, after a wrong token first.
async fn sign_in(browser: &Browser, server: &TestServer, refusal: &str) {
    browser.goto(&format!("{}/console", server.base)).await;
    browser.fill("#token", "not-the-token").await;
    browser.click("#sign-in").await;
    browser.wait_for("#message", WAIT).await;
    let message = browser.text("#message").await;
    assert!(message.contains(refusal), "{message}");
    assert!(browser.cookie("uic_console").await.is_none(), "no session for a wrong token");
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in").await;
    browser.wait_for("#sign-out", WAIT).await;
    let cookie = browser.cookie("uic_console").await.expect("the session cookie");
    assert!(cookie.http_only && !cookie.secure, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert_eq!(cookie.path.as_deref(), Some("/console"));
}

/// Opens the simulator (a screenshot of the chooser when named) and starts a conversation.
async fn new_conversation(browser: &Browser, server: &TestServer, screenshot: Option<&str>) {
    browser.goto(&format!("{}/console/simulator", server.base)).await;
    if let Some(name) = screenshot {
        browser.screenshot(name).await;
    }
    start_afresh(browser, "#new-conversation").await;
}

/// Clicks `button`, which starts a conversation on a new page, and waits for
/// that page: one with no message of the person yet. (Waiting for the `#text`
/// box alone returned on the page before, which has one too.)
async fn start_afresh(browser: &Browser, button: &str) {
    browser.click(button).await;
    let deadline = Instant::now() + WAIT;
    while !browser.find_all(".msg.me").await.is_empty() {
        assert!(Instant::now() < deadline, "no new conversation: {}", browser.html().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.wait_for("#text", WAIT).await;
}

/// Waits until the chat shows more than `before` messages of the person.
async fn wait_for_sent(browser: &Browser, before: usize) {
    let deadline = Instant::now() + WAIT;
    while browser.find_all(".msg.me").await.len() <= before {
        assert!(Instant::now() < deadline, "the message did not arrive: {}", browser.html().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.wait_for("#text", WAIT).await;
}

/// Types `text` and sends it, as a person would.
async fn say(browser: &Browser, text: &str) {
    let before = browser.find_all(".msg.me").await.len();
    browser.fill("#text", text).await;
    browser.click("#send").await;
    wait_for_sent(browser, before).await;
}

/// The text of the bot's latest message.
async fn last_reply(browser: &Browser) -> String {
    let replies = browser.find_all(".msg.bot").await;
    replies.last().expect("a reply").text().await.unwrap()
}

async fn nothing_real_written(server: &TestServer) {
    for table in ["conversation_sessions", "uic_records", "processed_messages", "qr_codes", "outbox", "sent_messages"] {
        assert_eq!(server.count(table).await, 0, "{table} of the real database");
    }
    let (statistics,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM flow_statistics").fetch_one(&server.raw().await).await.unwrap();
    assert_eq!(statistics, 0, "the dashboard's counts of the real database");
}

#[tokio::test]
async fn a_conversation_to_the_code_by_typing_and_tapping() {
    let server = TestServer::start().await;
    let browser = Browser::start().await;
    sign_in(&browser, &server, "Ce jeton n'est pas le bon").await;
    new_conversation(&browser, &server, Some("simulator-empty")).await;
    assert!(browser.text("#chat").await.contains("Bac à sable"), "the sandbox is said");

    say(&browser, "Bonjour").await;
    assert!(last_reply(&browser).await.contains("3 premières lettres de votre nom de famille"));
    assert_eq!(browser.text("#step").await, "last_name");
    for answer in ["Mbengue", "Ibrahima", "1997", "Dakar"] {
        say(&browser, answer).await;
    }
    assert_eq!(browser.text("#step").await, "gender");
    assert!(browser.text("#answers").await.contains("MBENGUE"), "answers as normalised");
    browser.screenshot("simulator-list").await;

    // The genders are a list, open on the latest message: tap "Homme".
    let before = browser.find_all(".msg.me").await.len();
    browser.click("details.list[open] .rows button[value='1']").await;
    wait_for_sent(&browser, before).await;
    let mine = browser.find_all(".msg.me").await;
    assert_eq!(mine.last().unwrap().text().await.unwrap(), "Homme", "the row's title is what the person sent");
    assert_eq!(browser.text("#code strong").await, "MBEIBR7DA1");
    browser.wait_for(".msg img.qr", WAIT).await;
    assert!(browser.text("#state").await.contains("un nouveau code"));
    browser.screenshot("simulator").await;

    // The same answers again by a new person, typed: the same code.
    start_afresh(&browser, "#new-person").await;
    for answer in ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "homme"] {
        say(&browser, answer).await;
    }
    assert_eq!(browser.text("#code strong").await, "MBEIBR7DA1");
    assert!(browser.text("#state").await.contains("les mêmes réponses qu'avant"));

    // A phone-sized window: the chat first, the state below it.
    browser.client().set_window_size(400, 820).await.unwrap();
    browser.goto(&browser.url().await).await;
    browser.screenshot("simulator-narrow").await;
    browser.close().await;
    nothing_real_written(&server).await;
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test]
async fn a_language_switch_an_edited_flow_and_a_broken_one() {
    let flows = tempfile::tempdir().unwrap();
    crate::support::copy_shipped_flows(flows.path());
    let flows_dir = flows.path().display().to_string();
    let server = TestServer::start_with(&[("FLOWS_DIR", flows_dir.as_str())]).await;
    let browser = Browser::start_in("en").await;
    sign_in(&browser, &server, "That is not the right token").await;
    new_conversation(&browser, &server, None).await;

    say(&browser, "Bonjour").await;
    assert_eq!(browser.text("#language-now").await, "fr");
    say(&browser, "english").await;
    assert_eq!(browser.text("#language-now").await, "en");
    assert!(last_reply(&browser).await.contains("first 3 letters of your last name"));
    say(&browser, "lingala").await;
    assert_eq!(browser.text("#language-now").await, "ln");
    assert!(last_reply(&browser).await.contains("Mikanda 3 ya liboso"));
    say(&browser, "help").await;
    say(&browser, "12345").await;
    assert!(browser.text("#attempts").await.starts_with('1'), "an invalid answer counted");
    browser.screenshot("simulator-commands").await;

    // Edited on disk: a new conversation picks it up.
    let file = flows.path().join("drc-fr.yaml");
    edit(&file, "version: 1", "version: 2");
    start_afresh(&browser, "#new-conversation").await;
    assert!(browser.text(".phone-head").await.contains("version 2"));

    // Broken on disk: the lint messages instead of the chat.
    edit(&file, "prompt: drc-last-name", "prompt: drc-no-such-message");
    browser.click("#new-conversation").await;
    browser.wait_for("#lint", WAIT).await;
    let lint = browser.text("pre.lint").await;
    assert!(lint.contains("drc-fr.yaml:") && lint.contains("error") && lint.contains("drc-no-such-message"), "{lint}");
    assert!(browser.find_all("#chat").await.is_empty(), "no chat beside the lint messages");
    browser.screenshot("simulator-lint").await;
    browser.close().await;
    nothing_real_written(&server).await;
}
