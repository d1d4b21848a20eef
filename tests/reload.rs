//! Flows that fail lint never take the service down: a broken extra flow is
//! left out and reported (`/health` degraded, `uic_flows_failing`) while the
//! default flow serves; a broken default flow refuses the start; `SIGHUP`
//! reloads flows and texts, and a broken edit keeps the last good set serving.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uic::channels::twilio;

use crate::support::process::{ServerProcess, read};
use crate::support::server::{AUTH_TOKEN, Message, TestServer, Twiml, bounded, form, phone};

/// A draft flow that fails lint: the keys a flow needs are missing.
const DRAFT: &str = "# yaml-language-server: $schema=../schemas/flow.schema.json\nid: draft\nversion: 1\n";

/// A project folder: the shipped flows and locales, and `extra` flow files.
fn project(extra: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = dir.path().join("flows");
    let locales = dir.path().join("locales");
    crate::support::copy_dir(&root.join("flows"), &flows);
    crate::support::copy_dir(&root.join("locales"), &locales);
    for (name, text) in extra {
        std::fs::write(flows.join(name), text).unwrap();
    }
    (dir, flows, locales)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test]
async fn a_broken_extra_flow_does_not_stop_the_default_flow() {
    let (_dir, flows, locales) = project(&[("draft.yaml", DRAFT)]);
    let server =
        TestServer::start_with(&[("FLOWS_DIR", flows.to_str().unwrap()), ("LOCALES_DIR", locales.to_str().unwrap())])
            .await;

    let answer = server.conversation(&phone(1), &["Bonjour", "MBE", "IBR", "7", "DA", "1"]).await;
    assert!(answer.text().contains("MBEIBR7DA1"), "the default flow issues its code: {}", answer.text());

    let response = server.get("/health").await;
    assert_eq!(response.status(), 200, "a failing extra flow degrades, it does not fail the health check");
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["flows"]["failing"], 1, "{health}");
    let failed = health["flows"]["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{health}");
    assert!(failed[0]["file"].as_str().unwrap().ends_with("flows/draft.yaml"), "{health}");
    assert_eq!(failed[0]["id"], "draft", "{health}");

    assert_eq!(server.metrics().await.value("uic_flows_failing"), 1.0);
}

#[tokio::test]
async fn the_shipped_flows_are_healthy_with_no_failing_flow() {
    let server = TestServer::start().await;
    let health: serde_json::Value = server.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
    assert!(health.get("flows").is_none(), "{health}");
    assert_eq!(server.metrics().await.value("uic_flows_failing"), 0.0);
}

#[test]
fn a_broken_default_flow_refuses_the_start_with_the_lint_lines() {
    let (dir, flows, locales) = project(&[]);
    edit(&flows.join("drc-fr.yaml"), "\nsteps:", "\nstpes:");
    let output = Command::new(env!("CARGO_BIN_EXE_uic"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", dir.path())
        .env("UIC_SALT", uic::core::salt::TEST_SALT)
        .env("FLOWS_DIR", &flows)
        .env("LOCALES_DIR", &locales)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{err}");
    assert!(err.contains("DEFAULT_FLOW: flow `drc-fr` is not among the flows that pass `uic lint`"), "{err}");
    assert!(
        err.contains("drc-fr.yaml:") && err.contains("error: unknown key `stpes` (did you mean `steps`?)"),
        "{err}"
    );
}

#[test]
fn chat_runs_its_flow_when_another_fails() {
    let (dir, flows, locales) = project(&[("draft.yaml", DRAFT)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_uic"))
        .args(["chat", "--flow", "drc-fr"])
        .current_dir(dir.path())
        .env_remove("UIC_SALT")
        .env_remove("DEFAULT_FLOW")
        .env("FLOWS_DIR", &flows)
        .env("LOCALES_DIR", &locales)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"Bonjour\nMBE\nIBR\n7\nDA\n1\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{err}");
    assert!(out.contains("MBEIBR7DA1"), "{out}");
    assert!(err.contains("draft.yaml is left out"), "{err}");

    // The flow asked for failing is refused, with its errors.
    let output = Command::new(env!("CARGO_BIN_EXE_uic"))
        .args(["chat", "--flow", "draft"])
        .current_dir(dir.path())
        .env("FLOWS_DIR", &flows)
        .env("LOCALES_DIR", &locales)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(err.contains("flow `draft` is not among the flows that pass `uic lint`"), "{err}");
    assert!(err.contains("draft.yaml"), "{err}");
}

/// A Twilio message to a server process, signed as Twilio signs it.
async fn say(server: &ServerProcess, from: &str, text: &str) -> Twiml {
    let url = format!("{}/whatsapp/webhook", server.base);
    let params = Message::text(from, text).params();
    let signature = twilio::signature(AUTH_TOKEN, &url, &params);
    let client = crate::support::http_client().build().unwrap();
    let request = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(form(&params));
    let response = bounded("webhook", request.send()).await.unwrap();
    assert_eq!(response.status(), 200);
    Twiml::parse(&response.text().await.unwrap())
}

fn hangup(server: &ServerProcess) {
    let pid = server.child.id().expect("a running server");
    let status = Command::new("kill").arg("-HUP").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const QUESTION: &str = "Quelles sont les 3 premières lettres de votre nom de famille?";
const EDITED: &str = "Les 3 premières lettres de votre nom de famille, s'il vous plaît?";

#[tokio::test]
async fn sighup_reloads_texts_and_a_broken_edit_keeps_the_last_good_flows() {
    let (dir, flows, locales) = project(&[]);
    let database = format!("sqlite://{}", dir.path().join("uic.db").display());
    let vars = [("FLOWS_DIR", flows.display().to_string()), ("LOCALES_DIR", locales.display().to_string())];
    let server = ServerProcess::start_with(dir.path(), &database, &vars).await;
    let first = say(&server, &phone(1), "Bonjour").await;
    assert!(first.text().contains(QUESTION), "{}", first.text());

    // A text edited, then SIGHUP: the new text is served, the conversation goes on.
    let drc = locales.join("fr/drc.ftl");
    edit(&drc, QUESTION, EDITED);
    hangup(&server);
    let mut n = 10;
    until("the edited text is served after SIGHUP", async || {
        n += 1;
        say(&server, &phone(n), "Bonjour").await.text().contains(EDITED)
    })
    .await;
    let next = say(&server, &phone(1), "MBE").await;
    assert!(next.text().contains("prénom"), "the conversation in progress goes on: {}", next.text());

    // A broken edit, then SIGHUP: refused, logged, the last good flows serve.
    edit(&drc, "drc-first-name =\n", "drc-first-name = { $\n");
    hangup(&server);
    until("the refused reload is logged", async || read(&server.log).contains("reload refused")).await;
    let log = read(&server.log);
    assert!(log.contains("drc.ftl:") && log.contains("Fluent syntax error in message `drc-first-name`"), "{log}");
    let after = say(&server, &phone(2), "Bonjour").await;
    assert!(after.text().contains(EDITED), "{}", after.text());
    let next = say(&server, &phone(1), "IBR").await;
    assert!(!next.text().is_empty());
    let health: serde_json::Value = crate::support::http_client()
        .build()
        .unwrap()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy", "the set served is the last good one: {health}");
    server.stop().await;
}

/// A staff member's session cookie and the page's CSRF token, signed in over HTTP.
async fn staff_session(server: &TestServer) -> (reqwest::Client, String, String) {
    let client = crate::support::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = |pairs: &[(&str, &str)]| form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let signed = client
        .post(format!("{}/console/sign-in", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", crate::support::server::ADMIN_TOKEN)]))
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let home = client.get(format!("{}/console", server.base)).header("cookie", &cookie).send().await.unwrap();
    let html = home.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (client, cookie, csrf)
}

#[tokio::test]
async fn staff_reload_from_the_console_and_see_what_was_refused() {
    let (_dir, flows, locales) = project(&[]);
    let server =
        TestServer::start_with(&[("FLOWS_DIR", flows.to_str().unwrap()), ("LOCALES_DIR", locales.to_str().unwrap())])
            .await;
    let (client, cookie, csrf) = staff_session(&server).await;
    let reload_in = |csrf: String, language: &'static str| {
        let client = client.clone();
        let cookie = cookie.clone();
        let url = format!("{}/console/reload", server.base);
        async move {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs([("csrf", csrf.as_str())]).finish();
            let response = client
                .post(url)
                .header("cookie", cookie)
                .header("accept-language", language)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let reload = |csrf: String| reload_in(csrf, "en");
    assert_eq!(reload("forged".into()).await.0, 403, "the CSRF token is checked");

    // An edited question, reloaded from the console, is what the next person reads.
    edit(
        &locales.join("fr/drc.ftl"),
        "Quelles sont les 3 premières lettres de votre nom de famille?",
        "Votre nom de famille, 3 lettres?",
    );
    let (status, page) = reload(csrf.clone()).await;
    assert_eq!(status, 200);
    assert!(page.contains("Flows and texts reloaded"), "{page}");
    assert!(server.conversation(&phone(7), &["Bonjour"]).await.text().contains("Votre nom de famille, 3 lettres?"));

    // A broken extra flow is left out and named; the others keep serving.
    std::fs::write(flows.join("draft.yaml"), DRAFT).unwrap();
    let (_, page) = reload(csrf.clone()).await;
    assert!(page.contains("Flows and texts reloaded") && page.contains("draft.yaml"), "{page}");

    // A broken default flow: refused, with the lint lines to fix; the last good set serves.
    edit(&flows.join("drc-fr.yaml"), "steps:", "stpes:");
    let (_, page) = reload(csrf.clone()).await;
    assert!(page.contains("Reload refused"), "{page}");
    assert!(page.contains("drc-fr.yaml:") && page.contains("stpes"), "the lint line: {page}");
    // In French for staff who read French.
    let (_, page) = reload_in(csrf, "fr").await;
    assert!(page.contains("drc-fr.yaml:") && page.contains(": erreur: clé inconnue `stpes`"), "{page}");
    assert!(server.conversation(&phone(8), &["Bonjour"]).await.text().contains("Votre nom de famille, 3 lettres?"));
}

/// `uic reload` as an operator types it beside the server: the token and
/// the address from the environment, the answer on the terminal.
async fn uic_reload(vars: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uic"));
    command.arg("reload").current_dir(dir.path()).env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output()).await.expect("uic reload ends").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn uic_reload_asks_the_running_server_and_says_what_it_answered() {
    let (_dir, flows, locales) = project(&[]);
    let server =
        TestServer::start_with(&[("FLOWS_DIR", flows.to_str().unwrap()), ("LOCALES_DIR", locales.to_str().unwrap())])
            .await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let token = crate::support::server::ADMIN_TOKEN;
    let text = |output: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };

    // An edited question, reloaded with HOST and PORT as `uic serve` reads them.
    edit(
        &locales.join("fr/drc.ftl"),
        "Quelles sont les 3 premières lettres de votre nom de famille?",
        "Votre nom de famille, 3 lettres?",
    );
    let output = uic_reload(&[("ADMIN_TOKEN", token), ("HOST", "0.0.0.0"), ("PORT", &port)]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "flows and texts reloaded\n");
    assert!(server.conversation(&phone(21), &["Bonjour"]).await.text().contains("Votre nom de famille, 3 lettres?"));

    // A broken default flow: refused, the lint lines in French, the last good set serving.
    edit(&flows.join("drc-fr.yaml"), "steps:", "stpes:");
    let output = uic_reload(&[("ADMIN_TOKEN", token), ("PORT", &port), ("LANG", "fr_CD.UTF-8")]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("drc-fr.yaml:") && stdout.contains(": erreur: clé inconnue `stpes`"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("reload refused: the flows loaded before keep serving"));
    assert!(server.conversation(&phone(22), &["Bonjour"]).await.text().contains("Votre nom de famille, 3 lettres?"));

    // A wrong or missing token is named, and changes nothing.
    let output = uic_reload(&[("ADMIN_TOKEN", "not-the-token"), ("PORT", &port)]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("ADMIN_TOKEN is not the one `uic serve` was started with"), "{}", text(&output));
    let output = uic_reload(&[("PORT", &port)]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("ADMIN_TOKEN is not set"), "{}", text(&output));
    assert!(!text(&output).contains(token));
}
