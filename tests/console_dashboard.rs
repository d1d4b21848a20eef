//! The staff console in a real Chromium: signing in as staff do (a wrong
//! token first), the cookie as the browser keeps it, the dashboard's figures
//! after real conversations over the webhook, the language switch, and a
//! screenshot of the dashboard to look at.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::server::{ADMIN_TOKEN, TestServer, phone};

const WAIT: Duration = Duration::from_secs(15);

/// Signs in through the page, as a staff member does.
async fn sign_in(browser: &Browser, server: &TestServer, token: &str) {
    browser.goto(&format!("{}/console", server.base)).await;
    browser.fill("#token", token).await;
    browser.click("#sign-in").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_sign_in_and_read_the_dashboard_in_a_real_browser() {
    let server = TestServer::start().await;
    let texts = ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "1"];
    server.conversation(&phone(1), &texts).await;
    server.conversation(&phone(2), &texts).await;
    server.conversation(&phone(3), &["Bonjour", "Kabila", "Joseph", "1971", "Kinshasa", "1"]).await;
    // One person stops at the second question, another types a wrong year first.
    server.conversation(&phone(4), &["Bonjour", "Lumumba"]).await;
    server.conversation(&phone(5), &["Bonjour", "Mobutu", "Sese", "l'an dernier", "1930", "Gbadolite", "1"]).await;

    let browser = Browser::start().await;
    sign_in(&browser, &server, "pas-le-bon-jeton").await;
    let message = browser.wait_for("#message", WAIT).await.text().await.unwrap();
    assert!(message.contains("Ce jeton n'est pas le bon"), "{message}");
    assert!(browser.cookie("uic_console").await.is_none(), "no session for a wrong token");

    sign_in(&browser, &server, ADMIN_TOKEN).await;
    browser.wait_for("#sign-out", WAIT).await;
    let cookie = browser.cookie("uic_console").await.expect("a session cookie");
    assert!(cookie.http_only && !cookie.secure, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert!(cookie.expiry.is_some(), "the session expires");

    browser.click("a[href='/console/dashboard']").await;
    browser.wait_for("#codes-chart", WAIT).await;
    assert_eq!(browser.text("#codes").await, "3");
    assert_eq!(browser.text("#phones").await, "3");
    assert_eq!(browser.text("#repeats").await, "1");
    assert_eq!(browser.text("#started").await, "5");
    assert_eq!(browser.text("#completed").await, "4");
    let year = browser.text("#step-drc-fr-birth_year").await;
    assert_eq!(year.split_whitespace().collect::<Vec<_>>(), ["birth_year", "4", "1", "0"], "reached, refused, gave up");
    let first_name = browser.text("#step-drc-fr-first_name").await;
    assert_eq!(first_name.split_whitespace().collect::<Vec<_>>(), ["first_name", "5", "0", "0"]);
    let html = browser.html().await;
    assert!(!html.contains("+243") && !html.contains("Mbengue"), "no number, no answer on the page");
    browser.screenshot("dashboard-fr").await;
    browser.client().execute("document.getElementById('funnel-drc-fr').scrollIntoView()", vec![]).await.unwrap();
    browser.screenshot("dashboard-fr-funnel").await;

    browser.click("#language").await;
    browser.wait_for("html[lang='en']", WAIT).await;
    assert!(browser.text("h1").await.contains("Dashboard"));
    browser.click("#days-90").await;
    browser.wait_for("#days-90.current", WAIT).await;
    assert_eq!(browser.text("#codes").await, "3");
    browser.screenshot("dashboard-en-90").await;

    browser.click("#sign-out").await;
    browser.wait_for("#token", WAIT).await;
    browser.goto(&format!("{}/console/dashboard", server.base)).await;
    browser.wait_for("#token", WAIT).await;
    browser.close().await;
}
