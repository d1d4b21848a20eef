//! The staff console over HTTP, as a browser would reach it without running
//! its scripts: who gets in, what the cookie says, what a visitor without
//! one sees. The pages themselves are tried in a real Chromium elsewhere.

use reqwest::redirect::Policy;

use crate::support::server::{ADMIN_TOKEN, TestServer};

/// A URL-encoded form body, as a browser posts one.
trait FormOf {
    fn form_of(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormOf for reqwest::RequestBuilder {
    fn form_of(self, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.header("content-type", "application/x-www-form-urlencoded").body(body)
    }
}

fn client() -> reqwest::Client {
    crate::support::http_client().redirect(Policy::none()).build().unwrap()
}

/// Signs in; the session cookie's `name=value`.
async fn signed_in(server: &TestServer) -> String {
    let response = client()
        .post(format!("{}/console/sign-in", server.base))
        .form_of(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn a_visitor_without_a_session_sees_the_sign_in_page_and_never_data() {
    let server = TestServer::start().await;
    let home = client().get(format!("{}/console", server.base)).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("name=\"token\"") && html.contains("Connexion du personnel"), "{html}");
    for page in ["/console/simulator", "/console/dashboard"] {
        let response = client().get(format!("{}{page}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/console");
        let forged = client()
            .get(format!("{}{page}", server.base))
            .header("cookie", "uic_console=0123456789abcdef0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 303, "{page} with a forged cookie");
        assert_eq!(forged.headers()["location"], "/console?expired=1");
    }
    let post =
        client().post(format!("{}/console/sign-out", server.base)).form_of(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(post.status(), 401);
}

#[tokio::test]
async fn the_right_token_gives_a_locked_down_cookie_and_a_wrong_one_a_clear_refusal() {
    let server = TestServer::start().await;
    let wrong = client()
        .post(format!("{}/console/sign-in", server.base))
        .header("accept-language", "en")
        .form_of(&[("token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("That is not the right token"));

    let response = client()
        .post(format!("{}/console/sign-in", server.base))
        .form_of(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http without PUBLIC_BASE_URL: {cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let dashboard =
        client().get(format!("{}/console/dashboard", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(dashboard.status(), 200);
    assert_eq!(dashboard.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_posts_from_elsewhere_are_refused() {
    let server = TestServer::start_with(&[("PUBLIC_BASE_URL", "https://uic.example.org")]).await;
    let response = client()
        .post(format!("{}/console/sign-in", server.base))
        .form_of(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
    let forged = client()
        .post(format!("{}/console/sign-in", server.base))
        .header("origin", "https://evil.example.com")
        .form_of(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());

    let session = signed_in(&server).await;
    let without_csrf = client()
        .post(format!("{}/console/sign-out", server.base))
        .header("cookie", &session)
        .form_of(&[("csrf", "guessed")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_csrf.status(), 403);
    let page = client().get(format!("{}/console", server.base)).header("cookie", &session).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let out = client()
        .post(format!("{}/console/sign-out", server.base))
        .header("cookie", &session)
        .form_of(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after =
        client().get(format!("{}/console/dashboard", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out: the session is gone");
}

#[tokio::test]
async fn the_stylesheet_is_embedded_and_cached() {
    let server = TestServer::start().await;
    let css = client().get(format!("{}/console/assets/console.css", server.base)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "public, max-age=86400");
    assert!(css.text().await.unwrap().contains("--brand"));
}

/// The text of the element with `id` in a page (its first text node).
fn element(html: &str, id: &str) -> String {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the page"));
    let after = &html[start..];
    let text = &after[after.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()].trim().to_string()
}

#[tokio::test]
async fn the_dashboard_shows_what_uic_report_says_and_no_phone_number() {
    let server = TestServer::start().await;
    let texts = ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "1"];
    server.conversation(&crate::support::server::phone(1), &texts).await;
    server.conversation(&crate::support::server::phone(2), &texts).await;
    server
        .conversation(&crate::support::server::phone(3), &["Bonjour", "Kabila", "Joseph", "1971", "Kinshasa", "1"])
        .await;
    let session = signed_in(&server).await;
    for days in ["30", "90"] {
        let page = client()
            .get(format!("{}/console/dashboard?days={days}", server.base))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert_eq!(element(&html, "codes"), "2", "two codes");
        assert_eq!(element(&html, "phones"), "2");
        assert_eq!(element(&html, "repeats"), "1", "the same answers from a second phone");
        assert_eq!(element(&html, "collisions"), "0");
        assert!(html.contains("<svg class=\"chart\""), "the chart is inline SVG");
        assert_eq!(html.matches("<rect ").count(), days.parse::<usize>().unwrap(), "a bar per day");
        assert!(
            !html.contains("+243") && !html.contains("MBENGUE") && !html.contains("Mbengue"),
            "no number, no answer"
        );
    }

    // The same figures as `uic report` for this month, read from the same database.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_uic"))
        .args(["report", "--db", &server.database_url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let report = String::from_utf8(output.stdout).unwrap();
    let total: Vec<&str> = report.lines().find(|line| line.starts_with("total")).unwrap().split_whitespace().collect();
    assert_eq!(total, ["total", "2", "2", "1", "0"], "{report}");
}
