//! The browser harness (`support::browser`) against a tiny page of its own,
//! served by axum on a loopback port: what the console's end-to-end tests will
//! lean on — navigation, a form typed and submitted, text read back, a
//! cookie's flags as Chromium keeps them, a screenshot, a failure that names
//! the page, and no browser left behind.

use std::time::Duration;

use axum::Router;
use axum::extract::Form;
use axum::http::{HeaderMap, header};
use axum::response::{AppendHeaders, Html, IntoResponse};
use axum::routing::get;
use serde::Deserialize;

use crate::support::browser::{Browser, WINDOW, is_running, screenshot_dir};

/// Long enough for a loaded machine, short enough to fail fast.
const WAIT: Duration = Duration::from_secs(10);

/// `http://127.0.0.1:<port>`, serving the test page until the test ends.
async fn serve() -> String {
    let app =
        Router::new().route("/", get(home).post(submit)).route("/cookie", get(set_cookies)).route("/late", get(late));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn home(headers: HeaderMap) -> Html<String> {
    let language = headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok()).unwrap_or("");
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Essai</title></head><body>
<h1 id="title">Bonjour</h1>
<p id="accept-language">{}</p>
<form method="post" action="/">
  <label>Nom <input id="name" name="name" value="à remplacer"></label>
  <button id="send" type="submit">Envoyer</button>
</form>
</body></html>"#,
        escape(language)
    ))
}

#[derive(Deserialize)]
struct Submitted {
    name: String,
}

async fn submit(Form(form): Form<Submitted>) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Reçu</title></head><body>
<p id="greeting">Merci, {}.</p></body></html>"#,
        escape(&form.name)
    ))
}

/// One cookie as a sign-in would set it, one a script may read; the page
/// shows what its script sees.
async fn set_cookies() -> impl IntoResponse {
    (
        // Appended: an array of headers would keep only the last `Set-Cookie`.
        AppendHeaders([
            (header::SET_COOKIE, "session=s3cr3t; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict"),
            (header::SET_COOKIE, "theme=dark; Path=/; SameSite=Lax"),
        ]),
        Html(
            r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<p id="script-sees"></p>
<script>document.getElementById("script-sees").textContent = document.cookie;</script>
</body></html>"#,
        ),
    )
}

/// An element that appears a moment after the page loads, as after a fetch.
async fn late() -> Html<&'static str> {
    Html(
        r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<p id="early">Chargement…</p>
<script>setTimeout(() => {
  const p = document.createElement("p"); p.id = "late"; p.textContent = "Prêt"; document.body.append(p);
}, 300);</script>
</body></html>"#,
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[tokio::test]
async fn a_form_is_typed_into_submitted_and_its_answer_read() {
    let base = serve().await;
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.text("#title").await, "Bonjour");
    // The browser speaks French, as the console's French pages will expect.
    assert!(browser.text("#accept-language").await.starts_with("fr"), "Accept-Language: {}", browser.html().await);
    assert_eq!(navigator_language(&browser).await, "fr");

    // `fill` replaces what the field held; accents and markup typed as such.
    browser.fill("#name", "Amani <b>Kabila</b> & Léa").await;
    browser.click("#send").await;
    browser.wait_for("#greeting", WAIT).await;
    assert_eq!(browser.text("#greeting").await, "Merci, Amani <b>Kabila</b> & Léa.");
    assert_eq!(browser.url().await, format!("{base}/"));

    let path = browser.screenshot("harness-form").await;
    assert_eq!(path.parent(), Some(screenshot_dir().as_path()));
    let png = std::fs::read(&path).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // The IHDR chunk's width: the window's, so pages are seen at a laptop's size.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, WINDOW.0, "{}", path.display());
    assert!(png.len() > 1000, "{} bytes", png.len());

    browser.close().await;
}

#[tokio::test]
async fn cookie_flags_are_read_as_the_browser_keeps_them() {
    let base = serve().await;
    // In passing: a browser in another language.
    let browser = Browser::start_in("en").await;
    browser.goto(&format!("{base}/cookie")).await;
    assert_eq!(navigator_language(&browser).await, "en");

    let session = browser.cookie("session").await.expect("the session cookie is kept");
    assert_eq!(session.value, "s3cr3t");
    assert!(session.http_only && !session.secure, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    let now = chrono::Utc::now().timestamp();
    let expiry = session.expiry.expect("Max-Age gives an expiry");
    assert!((now + 3500..=now + 3700).contains(&expiry), "expires {expiry}, now {now}");

    let theme = browser.cookie("theme").await.expect("the other cookie is kept");
    assert!(!theme.http_only, "{theme:?}");
    assert_eq!(theme.same_site.as_deref(), Some("Lax"));
    assert_eq!(theme.expiry, None, "a session cookie");

    // HttpOnly as the browser enforces it: the page's script sees only the other.
    assert_eq!(browser.text("#script-sees").await, "theme=dark");

    browser.close().await;
}

#[tokio::test]
async fn waiting_succeeds_when_the_element_comes_and_names_the_page_when_not() {
    let base = serve().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/late")).await;
    let late = browser.wait_for("#late", WAIT).await;
    assert_eq!(late.text().await.expect("its text"), "Prêt");

    // A failing wait fails the test (here, a task of it) naming the URL and the HTML.
    let browser = std::sync::Arc::new(browser);
    let waiting = browser.clone();
    let failed = tokio::spawn(async move {
        waiting.wait_for("#never", Duration::from_millis(300)).await;
    })
    .await
    .expect_err("the wait fails");
    let message = failed.into_panic();
    let message = message.downcast_ref::<String>().expect("a message");
    assert!(message.starts_with("no element `#never` within 300ms"), "{message}");
    assert!(message.contains(&format!("at {base}/late")), "{message}");
    assert!(message.contains(r#"<p id="late">Prêt</p>"#), "{message}");
}

#[tokio::test]
async fn a_browser_dropped_unclosed_leaves_no_process_or_file_behind() {
    let base = serve().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    let chromium = chromium_pid(&browser);
    let dir = browser.dir().to_path_buf();
    assert!(is_running(chromium));
    // As when a test fails before `close`.
    drop(browser);
    assert!(!is_running(chromium), "Chromium ({chromium}) still runs after its Browser was dropped");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

async fn navigator_language(browser: &Browser) -> String {
    let language = browser.client().execute("return navigator.language", vec![]).await.expect("the script runs");
    language.as_str().expect("a string").to_string()
}

fn chromium_pid(browser: &Browser) -> u32 {
    let pid = browser.client().capabilities().and_then(|c| c.get("goog:processID")).and_then(|pid| pid.as_u64());
    u32::try_from(pid.expect("chromedriver reports Chromium's process")).unwrap()
}
