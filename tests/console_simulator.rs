//! The console's simulator over HTTP, as a browser without scripts uses it:
//! whole conversations to the code, tapped choices, the sandbox (the real
//! database untouched), flows edited on disk picked up and broken ones shown
//! with their lint messages, and bad input answered with a page, never a 500.

use std::path::Path;

use reqwest::redirect::Policy;

use crate::support::server::{ADMIN_TOKEN, TestServer};

/// Every table a conversation could write to in the real database.
const TABLES: [&str; 7] = [
    "conversation_sessions",
    "uic_records",
    "uic_collisions",
    "processed_messages",
    "qr_codes",
    "outbox",
    "sent_messages",
];

fn client() -> reqwest::Client {
    crate::support::http_client().redirect(Policy::none()).build().unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A signed-in staff member, in English.
struct Console {
    base: String,
    cookie: String,
    csrf: String,
}

impl Console {
    async fn sign_in(server: &TestServer) -> Console {
        let response = client()
            .post(format!("{}/console/sign-in", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", ADMIN_TOKEN)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let mut console = Console { base: server.base.clone(), cookie, csrf: String::new() };
        let home = console.get("/console").await.text().await.unwrap();
        console.csrf = home.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        console
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("accept-language", "en")
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: String) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("accept-language", "en")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts a conversation; the simulator's id.
    async fn start(&self, flow: &str, language: &str) -> String {
        let response = self.post_start(None, flow, language, "conversation").await;
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
        sim_of(&response)
    }

    async fn post_start(&self, sim: Option<&str>, flow: &str, language: &str, start: &str) -> reqwest::Response {
        let path = match sim {
            Some(sim) => format!("/console/simulator/new?sim={sim}"),
            None => "/console/simulator/new".to_string(),
        };
        let body = form(&[("csrf", &self.csrf), ("flow", flow), ("language", language), ("start", start)]);
        self.post(&path, body).await
    }

    /// Sends `field=value` (`text` typed, `choice` tapped); the page it leads to.
    async fn send(&self, sim: &str, field: &str, value: &str) -> String {
        let response =
            self.post(&format!("/console/simulator?sim={sim}"), form(&[("csrf", &self.csrf), (field, value)])).await;
        assert_eq!(response.status(), 303, "{field}={value:.40}: {}", response.text().await.unwrap());
        assert_eq!(response.headers()["location"], format!("/console/simulator?sim={sim}"));
        self.page(sim).await
    }

    async fn say(&self, sim: &str, text: &str) -> String {
        self.send(sim, "text", text).await
    }

    async fn page(&self, sim: &str) -> String {
        let page = self.get(&format!("/console/simulator?sim={sim}")).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
        page.text().await.unwrap()
    }
}

fn sim_of(response: &reqwest::Response) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    location.strip_prefix("/console/simulator?sim=").unwrap_or_else(|| panic!("{location}")).to_string()
}

/// The person's messages on a page.
fn sent(html: &str) -> usize {
    html.matches("class=\"msg me").count()
}

async fn nothing_real_written(server: &TestServer) {
    for table in TABLES {
        assert_eq!(server.count(table).await, 0, "{table} of the real database");
    }
    let (statistics,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM flow_statistics").fetch_one(&server.raw().await).await.unwrap();
    assert_eq!(statistics, 0, "the dashboard's counts of the real database");
}

#[tokio::test]
async fn a_whole_drc_conversation_reaches_its_code_in_a_sandbox() {
    let server = TestServer::start().await;
    let console = Console::sign_in(&server).await;
    let chooser = console.get("/console/simulator").await.text().await.unwrap();
    for flow in ["drc-fr", "drc-ln", "legacy"] {
        assert!(chooser.contains(&format!("<option value=\"{flow}\"")), "{flow} offered: {chooser}");
    }
    let sim = console.start("drc-fr", "").await;
    let empty = console.page(&sim).await;
    assert!(empty.contains("Send a first message") && empty.contains("+000 simulator 1"), "{empty}");

    let page = console.say(&sim, "Bonjour").await;
    assert!(page.contains("3 premières lettres de votre nom de famille"), "{page}");
    assert!(page.contains("<code>last_name</code>"), "the current step: {page}");
    let page = console.say(&sim, "Mbengue").await;
    assert!(page.contains("<code>first_name</code>"), "{page}");
    assert!(page.contains("<th><code>last_name</code></th><td>MBE"), "the answer as normalised: {page}");
    console.say(&sim, "Ibrahima").await;
    console.say(&sim, "1997").await;
    let page = console.say(&sim, "Dakar").await;
    // Four genders: a list, its rows tappable, as WhatsApp shows them.
    assert!(page.contains("Choisir</summary>"), "the list's button: {page}");
    for (id, title) in [("1", "Homme"), ("2", "Femme"), ("3", "Trans"), ("4", "Autre")] {
        assert!(page.contains(&format!("name=\"choice\" value=\"{id}\">{title}</button>")), "{title}: {page}");
    }
    let page = console.send(&sim, "choice", "1").await;
    assert!(page.contains("<strong>MBEIBR7DA1</strong>"), "the code in the state panel: {page}");
    assert!(page.contains("a new code"), "{page}");
    assert!(page.contains("src=\"data:image/png;base64,iVBOR"), "the QR image inline: {page}");
    assert!(page.contains("<div class=\"text\">Homme</div>"), "the tapped row's title is what the person sent");
    assert!(page.contains("id=\"no-session\""), "the conversation is over: {page}");
    assert_eq!(sent(&page), 6);

    // A refresh shows the page again and sends nothing.
    let again = console.page(&sim).await;
    assert_eq!(sent(&again), 6);

    // A new person with the same answers: the same code, said to be so.
    let response = console.post_start(Some(&sim), "drc-fr", "", "person").await;
    assert_eq!(response.status(), 303);
    assert_eq!(sim_of(&response), sim, "the same simulator, a new person");
    for text in ["Bonjour", "mbengue", "IBRAHIMA", "1997", "Dakar"] {
        console.say(&sim, text).await;
    }
    let page = console.say(&sim, "homme").await;
    assert!(page.contains("+000 simulator 2"), "{page}");
    assert!(page.contains("<strong>MBEIBR7DA1</strong>") && page.contains("the same answers as before"), "{page}");
    // Other answers making the same code: a possible collision, as in the field.
    console.post_start(Some(&sim), "drc-fr", "", "person").await;
    for text in ["Bonjour", "MBE", "IBR", "7", "DA"] {
        console.say(&sim, text).await;
    }
    let page = console.say(&sim, "1").await;
    assert!(page.contains("+000 simulator 3") && page.contains("a possible collision"), "{page}");

    nothing_real_written(&server).await;
}

#[tokio::test]
async fn commands_and_the_chosen_language_work_as_on_the_phone() {
    let server = TestServer::start().await;
    let console = Console::sign_in(&server).await;
    let sim = console.start("drc-fr", "en").await;
    let page = console.say(&sim, "hi").await;
    assert!(page.contains("<dd id=\"language-now\"><code>en</code>"), "{page}");
    let page = console.say(&sim, "lingala").await;
    assert!(page.contains("<dd id=\"language-now\"><code>ln</code>"), "a language word switches: {page}");
    console.say(&sim, "Mbengue").await;
    let page = console.say(&sim, "zonga").await;
    assert!(page.contains("<dd id=\"step\"><code>last_name</code>"), "BACK in Lingala: {page}");
    assert!(page.contains("tozongi na motuna oyo eleki"), "{page}");
    let page = console.say(&sim, "nope 123").await;
    assert!(page.contains("<dd id=\"attempts\">1 / 5</dd>"), "an invalid answer counted: {page}");
    nothing_real_written(&server).await;
}

/// Copies the shipped flows into a folder of their own, to edit.
fn flows_copy(dir: &Path) {
    crate::support::copy_shipped_flows(dir);
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test]
async fn an_edited_flow_is_picked_up_and_a_broken_one_shows_its_lint_messages() {
    let flows = tempfile::tempdir().unwrap();
    flows_copy(flows.path());
    let flows_dir = flows.path().display().to_string();
    let server = TestServer::start_with(&[("FLOWS_DIR", flows_dir.as_str())]).await;
    let console = Console::sign_in(&server).await;
    let sim = console.start("drc-fr", "").await;
    let page = console.say(&sim, "Bonjour").await;
    assert!(page.contains("version 1") && page.contains("0 / 5"), "{page}");

    let file = flows.path().join("drc-fr.yaml");
    edit(&file, "version: 1", "version: 2");
    edit(&file, "max_invalid_attempts: 5", "max_invalid_attempts: 3");
    let page = console.page(&sim).await;
    assert!(page.contains("version 1"), "a conversation keeps the flows it started with");
    let sim = console.start("drc-fr", "").await;
    let page = console.say(&sim, "Bonjour").await;
    assert!(page.contains("version 2") && page.contains("0 / 3"), "the edit is picked up: {page}");

    edit(&file, "prompt: drc-last-name", "prompt: drc-no-such-message");
    let response = console.post_start(Some(&sim), "drc-fr", "", "conversation").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("The flows do not pass lint"), "{page}");
    let lint = page.split("<pre class=\"lint\">").nth(1).unwrap().split("</pre>").next().unwrap();
    assert!(
        lint.contains("drc-fr.yaml:") && lint.contains(": error: ") && lint.contains("drc-no-such-message"),
        "{lint}"
    );
    assert!(!page.contains("id=\"chat\""), "no chat beside the lint messages");
    let chooser = console.get("/console/simulator").await.text().await.unwrap();
    assert!(chooser.contains("<pre class=\"lint\">"), "the chooser says so too");
    assert!(chooser.contains("<option value=\"drc-fr\""), "the last good flows are still offered");

    edit(&file, "prompt: drc-no-such-message", "prompt: drc-last-name");
    console.start("drc-fr", "").await;
    nothing_real_written(&server).await;
}

/// A broken draft beside the shipped flows: the others can still be tried,
/// and the page says what to fix in the draft, in the staff member's language.
#[tokio::test]
async fn a_broken_draft_leaves_the_other_flows_to_try_and_says_what_to_fix() {
    let flows = tempfile::tempdir().unwrap();
    flows_copy(flows.path());
    std::fs::write(
        flows.path().join("draft.yaml"),
        "# yaml-language-server: $schema=../schemas/flow.schema.json\nid: draft\nversion: one\n",
    )
    .unwrap();
    let flows_dir = flows.path().display().to_string();
    let server = TestServer::start_with(&[("FLOWS_DIR", flows_dir.as_str())]).await;
    let console = Console::sign_in(&server).await;

    let page = console.get("/console/simulator?lang=fr").await.text().await.unwrap();
    let left_out =
        page.split("id=\"left-out\"").nth(1).expect("the flows left out are shown").split("</section>").next().unwrap();
    assert!(left_out.contains("Questionnaires mis de côté"), "{left_out}");
    assert!(
        left_out.contains("draft.yaml:3: erreur: `version` : &quot;one&quot; n&#x27;est pas un nombre entier"),
        "{left_out}"
    );
    assert!(!left_out.contains("drc-fr.yaml"), "only the draft is left out: {left_out}");
    assert!(page.contains("<option value=\"drc-fr\""), "the flows that pass are offered: {page}");
    assert!(!page.contains("<option value=\"draft\""), "{page}");
    let page = console.get("/console/simulator?lang=en").await.text().await.unwrap();
    assert!(page.contains("draft.yaml:3: error: `version`: &quot;one&quot; is not a whole number"), "{page}");

    let sim = console.start("drc-fr", "").await;
    let page = console.say(&sim, "Bonjour").await;
    assert!(page.contains("0 / 5"), "the default flow runs beside the broken draft: {page}");
    let response = console.post_start(None, "draft", "", "conversation").await;
    let page = response.text().await.unwrap();
    assert!(page.contains("The flows do not pass lint") && page.contains("draft.yaml:3: error:"), "{page}");
    nothing_real_written(&server).await;
}

#[tokio::test]
async fn an_unknown_flow_or_language_is_said_plainly() {
    let server = TestServer::start().await;
    let console = Console::sign_in(&server).await;
    let response = console.post_start(None, "no-such-flow", "", "conversation").await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("There is no flow “no-such-flow” on disk"), "{page}");
    let response = console.post_start(None, "drc-fr", "de", "conversation").await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("The flow drc-fr is not written in “de”"));
    let page = console.get("/console/simulator?sim=0123456789abcdef").await.text().await.unwrap();
    assert!(page.contains("This conversation is no longer open"), "{page}");
    let response = console.post("/console/simulator?sim=gone", form(&[("csrf", &console.csrf), ("text", "hi")])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/console/simulator?ended=1");
}

#[tokio::test]
async fn nothing_runs_without_a_session_the_csrf_token_or_the_same_origin() {
    let server = TestServer::start().await;
    let page = client().get(format!("{}/console/simulator", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/console");
    for path in ["/console/simulator?sim=x", "/console/simulator/new"] {
        let post = client()
            .post(format!("{}{path}", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf", "x"), ("text", "hi"), ("flow", "drc-fr")]))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 401, "{path}");
    }

    let console = Console::sign_in(&server).await;
    let sim = console.start("drc-fr", "").await;
    let forged =
        console.post(&format!("/console/simulator?sim={sim}"), form(&[("csrf", "guessed"), ("text", "hi")])).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("This action was refused"));
    let forged = console.post("/console/simulator/new", form(&[("csrf", "guessed"), ("flow", "drc-fr")])).await;
    assert_eq!(forged.status(), 403);
    let elsewhere = client()
        .post(format!("{}/console/simulator?sim={sim}", server.base))
        .header("cookie", &console.cookie)
        .header("origin", "https://evil.example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &console.csrf), ("text", "hi")]))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403);
    assert_eq!(sent(&console.page(&sim).await), 0, "nothing was sent");

    // Another staff session does not reach this simulator.
    let other = Console::sign_in(&server).await;
    let page = other.get(&format!("/console/simulator?sim={sim}")).await.text().await.unwrap();
    assert!(page.contains("This conversation is no longer open"), "{page}");
}

#[tokio::test]
async fn bad_input_gets_the_channels_polite_answers_and_never_a_500() {
    let server = TestServer::start().await;
    let console = Console::sign_in(&server).await;
    let sim = console.start("drc-fr", "").await;
    console.say(&sim, "Bonjour").await;

    let page = console.say(&sim, &"a".repeat(10_000)).await;
    assert!(page.contains("Votre message est trop long (300 caractères au plus)"), "{page}");
    assert!(page.contains("(10000 characters in all)"), "the chat shows the start of it");
    let page = console.say(&sim, "\u{0}\u{7}MB\u{1b}E\u{202e}").await;
    assert!(page.contains("<dd id=\"attempts\">"), "{page}");
    let page = console.say(&sim, "😀🎉👍🏽").await;
    assert!(page.contains("😀🎉👍🏽"), "{page}");
    assert!(page.contains("<code>last_name</code>"), "still asking the same question");

    // Over the simulator's cap: a page saying so, nothing sent.
    let before = sent(&console.page(&sim).await);
    let huge = form(&[("csrf", &console.csrf), ("text", &"é".repeat(20_000))]);
    let response = console.post(&format!("/console/simulator?sim={sim}"), huge).await;
    assert_eq!(response.status(), 413);
    let page = response.text().await.unwrap();
    assert!(page.contains("the simulator takes at most 64 KB at a time"), "{page}");
    assert!(page.contains("id=\"chat\""), "the chat is still there");
    assert_eq!(sent(&console.page(&sim).await), before);

    // Not a form at all.
    let response = client()
        .post(format!("{}/console/simulator?sim={sim}", server.base))
        .header("cookie", &console.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0xc3])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let response = client()
        .post(format!("{}/console/simulator?sim={sim}", server.base))
        .header("cookie", &console.cookie)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert!(response.text().await.unwrap().contains("Cette demande n&#x27;a pas pu être lue"));
    nothing_real_written(&server).await;
}
