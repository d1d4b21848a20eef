//! `/console/simulator`: a flow tried as on a phone, in a sandbox.
//!
//! A simulator is one pretend person (`+000 simulator N`, never a real
//! number) talking to an engine built from the flows on disk when its
//! conversation started, over a SQLite database in memory of its own and
//! without DHIS2. Its turns run the channels' own code
//! ([`Conversations::handle`]), yet never reach the real sessions, codes,
//! counters, outbox or DHIS2: nothing here holds the server's store.
//!
//! Simulators live in memory, keyed by the staff session and a random id (in
//! the page's URL, so two tabs are two simulators and no one else's session
//! reaches them); at most [`MAX_SIMULATORS`], the least recently used
//! dropped first, each forgotten after [`IDLE_LIFETIME`] unused.
//!
//! Replies are drawn from what the Meta channel would send
//! ([`outbound::outgoing`]): the same cuts, reply buttons, lists and QR image
//! a person sees. A tapped button answers with its id, as WhatsApp does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::Value as Json;

use super::auth::Staff;
use super::{AddIf, PageQuery, language_of, lint_lines, page, signed_in_context};
use crate::channels::meta::outbound::{self, Outgoing};
use crate::core::catalog::{self, Catalog};
use crate::core::diagnostic::Diagnostic;
use crate::core::engine::{Content, Engine, EngineConfig, Registration, Reply, ReplyOption, Session};
use crate::core::salt::Salt;
use crate::http::AppState;
use crate::store::Store;
use crate::turn::conversation::Conversations;

/// Reads the flows as they are on disk now and checks them as `uic lint`
/// does: the flows that pass, and the lint errors of those left out (or why
/// the folder could not be read). Given by start-up: loading flows belongs
/// to `lint`, a layer above this one.
pub type LoadFlows = Arc<dyn Fn() -> Result<catalog::Loaded, String> + Send + Sync>;

/// Most simulators kept at once (all staff together).
pub const MAX_SIMULATORS: usize = 50;
/// A simulator unused this long is forgotten.
pub const IDLE_LIFETIME: Duration = Duration::from_secs(3600);
/// Largest form accepted: any message WhatsApp can carry (4,096 characters,
/// up to 12 bytes each once URL-encoded) fits; more gets a page saying so.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Messages kept in a simulator's chat.
const MAX_BUBBLES: usize = 200;
/// Characters of a message shown in the chat; the rest is said to be there.
const MAX_SHOWN_CHARS: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/simulator", get(show).post(turn))
        .route("/console/simulator/new", post(start))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// The salt of simulated codes: the public test salt, which `uic lint` uses
/// to check each flow's examples (so a simulated code can be compared with
/// them), never the server's. The engine does not give its salt away, and it
/// should not: a staff member typing someone's answers here cannot learn
/// that person's real code wherever a formula is keyed by the salt. A formula
/// without the salt (the DRC one) gives the real code anyway, as it would by
/// hand. The page says so.
fn simulator_salt() -> Salt {
    Salt::for_tests()
}

/// Every open simulator, and how to read the flows.
pub struct Simulators {
    load: LoadFlows,
    open: Mutex<HashMap<(String, String), Open>>,
    /// The flows of the last load that passed lint, for the chooser while
    /// the flows on disk do not.
    known: Mutex<Vec<FlowChoice>>,
}

impl std::fmt::Debug for Simulators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulators").field("open", &lock(&self.open).len()).finish()
    }
}

struct Open {
    simulator: Arc<tokio::sync::Mutex<Simulator>>,
    used: Instant,
}

/// A flow as the chooser offers it.
#[derive(Debug, Clone)]
struct FlowChoice {
    id: String,
    version: u32,
    languages: Vec<String>,
}

/// What happened when reading the flows.
enum Loaded {
    /// The flows that pass, and the lint errors of those left out.
    Flows(Catalog, Vec<Diagnostic>),
    /// The folders could not be read.
    Unreadable(String),
    /// The loader panicked: a bug, logged.
    Failed,
}

impl Simulators {
    pub fn new(load: LoadFlows) -> Simulators {
        Simulators { load, open: Mutex::default(), known: Mutex::default() }
    }

    /// The flows on disk, read and checked away from the async workers.
    async fn load(&self) -> Loaded {
        let load = self.load.clone();
        match tokio::task::spawn_blocking(move || load()).await {
            Ok(Ok(loaded)) => {
                let errors: Vec<Diagnostic> = loaded.errors().cloned().collect();
                let catalog = loaded.catalog;
                let mut known = lock(&self.known);
                // A flow broken by an edit stays offered as it was: chosen, it shows what to fix.
                let failing: Vec<&str> = loaded.failed.iter().filter_map(|flow| flow.id.as_deref()).collect();
                let still_offered = known.iter().filter(|flow| failing.contains(&flow.id.as_str())).cloned();
                let mut offered: Vec<FlowChoice> = catalog
                    .flows
                    .values()
                    .map(|flow| FlowChoice {
                        id: flow.id.clone(),
                        version: flow.version,
                        languages: flow.languages.clone(),
                    })
                    .chain(still_offered)
                    .collect();
                offered.sort_by(|a, b| a.id.cmp(&b.id));
                *known = offered;
                drop(known);
                Loaded::Flows(catalog, errors)
            }
            Ok(Err(reason)) => Loaded::Unreadable(reason),
            Err(error) => {
                tracing::error!(error = %error, "simulator: reading the flows failed");
                Loaded::Failed
            }
        }
    }

    fn known(&self) -> Vec<FlowChoice> {
        lock(&self.known).clone()
    }

    /// A staff member's simulator, if it is still open.
    fn get(&self, staff: &str, id: &str) -> Option<Arc<tokio::sync::Mutex<Simulator>>> {
        let mut open = lock(&self.open);
        open.retain(|_, open| open.used.elapsed() < IDLE_LIFETIME);
        let entry = open.get_mut(&(staff.to_string(), id.to_string()))?;
        entry.used = Instant::now();
        Some(entry.simulator.clone())
    }

    /// Opens (or replaces) a simulator; the least recently used goes when full.
    fn put(&self, staff: &str, id: &str, simulator: Simulator) {
        let mut open = lock(&self.open);
        open.retain(|_, open| open.used.elapsed() < IDLE_LIFETIME);
        let key = (staff.to_string(), id.to_string());
        if !open.contains_key(&key) && open.len() >= MAX_SIMULATORS {
            let oldest = open.iter().min_by_key(|(_, open)| open.used).map(|(key, _)| key.clone());
            open.remove(&oldest.expect("a full map has an oldest entry"));
        }
        open.insert(key, Open { simulator: Arc::new(tokio::sync::Mutex::new(simulator)), used: Instant::now() });
    }

    fn remove(&self, staff: &str, id: &str) {
        lock(&self.open).remove(&(staff.to_string(), id.to_string()));
    }

    /// How many simulators are open (for tests).
    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One pretend person's conversation, with its own engine and database.
struct Simulator {
    conversations: Conversations,
    flow: String,
    /// The language chosen at the start, `None` for the flow's default.
    language: Option<String>,
    /// The pretend person's number: `+000 simulator <person>`.
    person: u32,
    bubbles: Vec<Bubble>,
    /// The last code the flow issued here.
    code: Option<IssuedCode>,
}

/// A message in the chat, as a person sees it.
#[derive(Debug, Clone, Default)]
struct Bubble {
    /// Sent by the person (right, green) rather than the bot (left, white).
    mine: bool,
    text: String,
    /// The message's length in characters when the chat shows only its start.
    cut: Option<usize>,
    /// Reply buttons (up to three).
    buttons: Vec<ReplyOption>,
    /// A list: the button that opens it, and its rows.
    list_button: Option<String>,
    rows: Vec<ReplyOption>,
    /// The QR image, as a `data:` URL, and the code it holds.
    image: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Clone)]
struct IssuedCode {
    uic: String,
    /// The message id saying how the store registered it.
    registration: &'static str,
}

impl Bubble {
    fn value(&self) -> Value {
        context! {
            mine => self.mine,
            text => self.text.clone(),
            cut => self.cut,
            buttons => options_value(&self.buttons),
            list_button => self.list_button.clone(),
            rows => options_value(&self.rows),
            // Base64 behind a fixed prefix: nothing to escape.
            image => self.image.clone().map(Value::from_safe_string),
            code => self.code.clone(),
        }
    }

    fn text(mine: bool, text: &str) -> Bubble {
        let length = text.chars().count();
        let (text, cut) = if length > MAX_SHOWN_CHARS {
            (text.chars().take(MAX_SHOWN_CHARS).collect(), Some(length))
        } else {
            (text.to_string(), None)
        };
        Bubble { mine, text, cut, ..Bubble::default() }
    }
}

impl Simulator {
    fn phone(&self) -> String {
        format!("+000 simulator {}", self.person)
    }

    /// The person's session, read and left as it was.
    async fn session(&self) -> Option<Session> {
        let mut tx = self.conversations.store().begin(&self.phone()).await.ok()?;
        // Dropped without commit: the read changes nothing.
        tx.session().await.ok().flatten()
    }

    /// One message from the person, through the channels' own turn.
    async fn turn(&mut self, content: Content, now: DateTime<Utc>) {
        let shown = match &content {
            Content::Choice { id } => self.title_of(id).unwrap_or_else(|| id.clone()),
            Content::Text(text) => text.clone(),
            Content::Media { kind } => kind.clone(),
        };
        self.push(Bubble::text(true, &shown));
        let phone = self.phone();
        let before = self.session().await;
        match self.conversations.handle(&phone, &content, now).await {
            Ok(handled) => {
                if let Some(registered) = handled.registration {
                    // The engine is pure: the same session, message and time
                    // give again the completion the store just registered.
                    let completion = self.conversations.engine().turn(before, &content, now).completion;
                    self.code =
                        completion.map(|completion| IssuedCode { uic: completion.uic, registration: said(registered) });
                }
                self.push_replies(&handled.replies);
            }
            Err(error) => {
                tracing::error!(error = %error, "simulator: a turn failed");
                let apology = self.conversations.apology(&phone, &content).await;
                self.push_replies(&[apology]);
            }
        }
    }

    /// The title of the choice `id` among the bot's latest buttons or rows.
    fn title_of(&self, id: &str) -> Option<String> {
        self.bubbles
            .iter()
            .rev()
            .filter(|bubble| !bubble.mine)
            .flat_map(|bubble| bubble.buttons.iter().chain(&bubble.rows))
            .find(|option| option.id == id)
            .map(|option| option.title.clone())
    }

    fn push(&mut self, bubble: Bubble) {
        self.bubbles.push(bubble);
        if self.bubbles.len() > MAX_BUBBLES {
            self.bubbles.drain(..self.bubbles.len() - MAX_BUBBLES);
        }
    }

    /// The replies as the Meta channel would send them.
    fn push_replies(&mut self, replies: &[Reply]) {
        for request in outbound::outgoing(&self.phone(), replies) {
            if let Some(bubble) = bubble_of(&request) {
                self.push(bubble);
            }
        }
    }
}

/// How a registration is said on the page.
fn said(registration: Registration) -> &'static str {
    match registration {
        Registration::New => "simulator-registration-new",
        Registration::SameAnswers => "simulator-registration-same-answers",
        Registration::SameCode => "simulator-registration-same-code",
    }
}

/// A Graph API request, read back as the message a phone shows.
fn bubble_of(request: &Outgoing) -> Option<Bubble> {
    match request {
        Outgoing::Message(body) => match body["type"].as_str()? {
            "text" => Some(Bubble::text(false, body["text"]["body"].as_str().unwrap_or(""))),
            "interactive" => {
                let interactive = &body["interactive"];
                let mut bubble = Bubble::text(false, interactive["body"]["text"].as_str().unwrap_or(""));
                let action = &interactive["action"];
                if interactive["type"] == "button" {
                    bubble.buttons = options(&action["buttons"], |button| &button["reply"]);
                } else {
                    bubble.list_button = action["button"].as_str().map(str::to_string);
                    bubble.rows = options(&action["sections"][0]["rows"], |row| row);
                }
                Some(bubble)
            }
            _ => None,
        },
        Outgoing::QrImage { uic, caption, .. } => {
            let mut bubble = Bubble::text(false, caption.as_deref().unwrap_or(""));
            match crate::support::qr::png(uic) {
                Ok(png) => bubble.image = Some(format!("data:image/png;base64,{}", STANDARD.encode(png))),
                Err(error) => tracing::error!(error = %error, "simulator: no QR image"),
            }
            bubble.code = Some(uic.clone());
            Some(bubble)
        }
        Outgoing::Read { .. } => None,
    }
}

fn options_value(options: &[ReplyOption]) -> Vec<Value> {
    options.iter().map(|option| context! { id => option.id.clone(), title => option.title.clone() }).collect()
}

fn options(list: &Json, option: impl Fn(&Json) -> &Json) -> Vec<ReplyOption> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .map(option)
        .map(|option| ReplyOption {
            id: option["id"].as_str().unwrap_or("").to_string(),
            title: option["title"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
struct At {
    sim: Option<String>,
    ended: Option<String>,
}

/// What a page shows besides the chat: a notice, the lint messages.
#[derive(Default)]
struct Extra {
    notice: Option<&'static str>,
    flow: Option<String>,
    language: Option<String>,
    lint: Option<String>,
    /// Lint lines of flows left out while others can be tried.
    left_out: Option<String>,
}

/// `GET /console/simulator`: the chat of `?sim=`, or the chooser with the
/// flows on disk now (or what lint says of them).
async fn show(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    Query(at): Query<At>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
) -> Response {
    let (lang, remember) = language_of(&query, &jar, &headers);
    let open = at.sim.as_deref().and_then(|id| state.console.simulators.get(&staff.session, id));
    let mut extra = Extra::default();
    if open.is_none() {
        match state.console.simulators.load().await {
            // Nothing to try: only what to fix.
            Loaded::Flows(catalog, errors) if catalog.flows.is_empty() => extra.lint = Some(lint_lines(&errors, lang)),
            Loaded::Flows(_, errors) if !errors.is_empty() => extra.left_out = Some(lint_lines(&errors, lang)),
            Loaded::Flows(..) => {}
            Loaded::Unreadable(reason) => extra.lint = Some(reason),
            Loaded::Failed => extra.notice = Some("simulator-unavailable"),
        }
        if at.ended.is_some() || at.sim.is_some() {
            extra.notice = Some("simulator-ended");
        }
    }
    let sim = at.sim.filter(|_| open.is_some());
    let body = render(&state, &staff, lang, sim.as_deref(), open, extra).await;
    (jar.add_if(remember), body).into_response()
}

#[derive(Debug, Deserialize)]
struct StartForm {
    csrf: String,
    flow: String,
    #[serde(default)]
    language: String,
    /// `person`: a new pretend person beside the earlier ones (the codes
    /// issued so far stay); anything else: everything afresh.
    #[serde(default)]
    start: String,
}

/// `POST /console/simulator/new`: reads the flows from disk and starts a
/// conversation (or a new person) in the chosen flow and language.
async fn start(
    State(state): State<AppState>,
    Query(at): Query<At>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
    form: Result<Form<StartForm>, FormRejection>,
) -> Response {
    let (lang, _) = language_of(&PageQuery::default(), &jar, &headers);
    let simulators = &state.console.simulators;
    let open = at.sim.as_deref().and_then(|id| simulators.get(&staff.session, id));
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => return refused(&state, &staff, lang, at.sim.as_deref(), open, &rejection).await,
    };
    if !staff.may_post(&form.csrf, &headers) {
        let extra = Extra { notice: Some("forbidden"), ..Extra::default() };
        return (StatusCode::FORBIDDEN, render(&state, &staff, lang, None, None, extra).await).into_response();
    }
    let catalog = match simulators.load().await {
        // The flow chosen fails lint: what to fix in it (and in the others).
        Loaded::Flows(catalog, errors) if !catalog.flows.contains_key(&form.flow) && !errors.is_empty() => {
            let extra = Extra { lint: Some(lint_lines(&errors, lang)), flow: Some(form.flow), ..Extra::default() };
            return render(&state, &staff, lang, None, None, extra).await;
        }
        Loaded::Flows(catalog, _) => catalog,
        Loaded::Unreadable(reason) => {
            let extra = Extra { lint: Some(reason), flow: Some(form.flow), ..Extra::default() };
            return render(&state, &staff, lang, None, None, extra).await;
        }
        Loaded::Failed => return unavailable(&state, &staff, lang).await,
    };
    let Some(flow) = catalog.flows.get(&form.flow) else {
        let extra = Extra { notice: Some("simulator-unknown-flow"), flow: Some(form.flow), ..Extra::default() };
        return (StatusCode::UNPROCESSABLE_ENTITY, render(&state, &staff, lang, None, None, extra).await)
            .into_response();
    };
    let language = Some(form.language.trim().to_string()).filter(|language| !language.is_empty());
    if let Some(language) = &language
        && !flow.supports(language)
    {
        let extra = Extra {
            notice: Some("simulator-unknown-language"),
            flow: Some(form.flow),
            language: Some(language.clone()),
            ..Extra::default()
        };
        return (StatusCode::UNPROCESSABLE_ENTITY, render(&state, &staff, lang, None, None, extra).await)
            .into_response();
    }
    let config = EngineConfig {
        default_flow: form.flow.clone(),
        default_language: language.clone(),
        session_timeout_minutes: state.config.session_timeout_minutes,
        qr_codes: state.config.enable_qr_code,
    };
    let engine = match Engine::new(&catalog, simulator_salt(), config) {
        Ok(engine) => Arc::new(engine),
        Err(error) => {
            // Lint checks formulas as the engine does: this is not expected.
            let extra = Extra { lint: Some(error.to_string()), ..Extra::default() };
            return render(&state, &staff, lang, None, None, extra).await;
        }
    };
    // A new person shares the earlier people's database, so the same answers
    // again are told apart from a new code as in the field.
    let earlier = match (&open, form.start.as_str()) {
        (Some(open), "person") => {
            let open = open.lock().await;
            Some((open.conversations.store().clone(), open.person + 1))
        }
        _ => None,
    };
    let (store, person) = match earlier {
        Some(earlier) => earlier,
        None => match Store::in_memory().await {
            Ok(store) => (store, 1),
            Err(error) => {
                tracing::error!(error = %error, "simulator: no database in memory");
                return unavailable(&state, &staff, lang).await;
            }
        },
    };
    // Never `.with_dhis2`: nothing simulated is registered anywhere.
    let conversations = Conversations::new(engine, store);
    let simulator = Simulator { conversations, flow: form.flow, language, person, bubbles: Vec::new(), code: None };
    let id = match (&open, form.start.as_str(), at.sim) {
        (Some(_), "person", Some(id)) => id,
        (_, _, old) => {
            if let Some(old) = old {
                simulators.remove(&staff.session, &old);
            }
            crate::support::ids::token()
        }
    };
    simulators.put(&staff.session, &id, simulator);
    Redirect::to(&format!("/console/simulator?sim={id}")).into_response()
}

#[derive(Debug, Deserialize)]
struct TurnForm {
    csrf: String,
    /// Typed.
    #[serde(default)]
    text: Option<String>,
    /// A reply button or list row tapped: its id.
    #[serde(default)]
    choice: Option<String>,
}

/// `POST /console/simulator?sim=…`: one message, one turn, then the chat
/// again by a redirect (so a refresh does not send the message twice).
async fn turn(
    State(state): State<AppState>,
    Query(at): Query<At>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
    form: Result<Form<TurnForm>, FormRejection>,
) -> Response {
    let (lang, _) = language_of(&PageQuery::default(), &jar, &headers);
    let open = at.sim.as_deref().and_then(|id| state.console.simulators.get(&staff.session, id));
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => return refused(&state, &staff, lang, at.sim.as_deref(), open, &rejection).await,
    };
    if !staff.may_post(&form.csrf, &headers) {
        let extra = Extra { notice: Some("forbidden"), ..Extra::default() };
        let sim = at.sim.as_deref().filter(|_| open.is_some());
        return (StatusCode::FORBIDDEN, render(&state, &staff, lang, sim, open, extra).await).into_response();
    }
    let (Some(open), Some(id)) = (open, at.sim) else {
        return Redirect::to("/console/simulator?ended=1").into_response();
    };
    let content = match (form.choice, form.text) {
        (Some(choice), _) if !choice.is_empty() => Content::Choice { id: choice },
        // WhatsApp sends no blank message.
        (_, Some(text)) if !text.trim().is_empty() => Content::Text(text),
        _ => return Redirect::to(&format!("/console/simulator?sim={id}")).into_response(),
    };
    // In a task of its own, as the webhook's turns: a panic ends there, and
    // the page still answers.
    let simulator = open.clone().lock_owned().await;
    let task = tokio::spawn(async move {
        let mut simulator = simulator;
        simulator.turn(content, Utc::now()).await;
    });
    if let Err(error) = task.await {
        tracing::error!(error = %error, "simulator: a turn panicked");
        let mut simulator = open.lock().await;
        let apology = simulator.conversations.engine().internal_error_reply(None, &Content::Text(String::new()));
        simulator.push_replies(&[apology]);
    }
    Redirect::to(&format!("/console/simulator?sim={id}")).into_response()
}

/// A form that could not be read: too large, or not a form.
async fn refused(
    state: &AppState,
    staff: &Staff,
    lang: &str,
    sim: Option<&str>,
    open: Option<Arc<tokio::sync::Mutex<Simulator>>>,
    rejection: &FormRejection,
) -> Response {
    let status = rejection.status();
    let notice = if status == StatusCode::PAYLOAD_TOO_LARGE { "simulator-too-long" } else { "simulator-refused" };
    let sim = sim.filter(|_| open.is_some());
    let extra = Extra { notice: Some(notice), ..Extra::default() };
    (status, render(state, staff, lang, sim, open, extra).await).into_response()
}

async fn unavailable(state: &AppState, staff: &Staff, lang: &str) -> Response {
    let extra = Extra { notice: Some("simulator-unavailable"), ..Extra::default() };
    (StatusCode::SERVICE_UNAVAILABLE, render(state, staff, lang, None, None, extra).await).into_response()
}

/// The session as the state panel shows it.
#[derive(Debug)]
struct SessionShown {
    step: String,
    language: String,
    attempts: u32,
    max_attempts: Option<u32>,
    /// (step, normalised answer), in the flow's order.
    answers: Vec<(String, String)>,
}

impl SessionShown {
    fn value(&self) -> Value {
        let answers: Vec<Vec<Value>> = self
            .answers
            .iter()
            .map(|(step, value)| vec![Value::from(step.as_str()), Value::from(value.as_str())])
            .collect();
        context! {
            step => self.step.clone(),
            language => self.language.clone(),
            attempts => self.attempts,
            max_attempts => self.max_attempts,
            answers,
        }
    }
}

impl FlowChoice {
    fn value(&self) -> Value {
        context! { id => self.id.clone(), version => self.version, languages => self.languages.clone() }
    }
}

/// The simulator page: the chooser, and the chat with its state panel when
/// a simulator is open.
async fn render(
    state: &AppState,
    staff: &Staff,
    lang: &str,
    sim: Option<&str>,
    open: Option<Arc<tokio::sync::Mutex<Simulator>>>,
    extra: Extra,
) -> Response {
    let flows = state.console.simulators.known();
    let mut languages: Vec<&String> = flows.iter().flat_map(|flow| &flow.languages).collect();
    languages.sort();
    languages.dedup();
    let mut chosen_flow = extra.flow.clone().unwrap_or_else(|| state.config.default_flow.clone());
    let mut chosen_language = extra.language.clone().unwrap_or_default();
    let mut chat = Value::UNDEFINED;
    if let (Some(sim), Some(open)) = (sim, open) {
        let simulator = open.lock().await;
        chosen_flow = simulator.flow.clone();
        chosen_language = simulator.language.clone().unwrap_or_default();
        let session = simulator.session().await.map(|session| {
            let engine = simulator.conversations.engine();
            let flow = engine.flow(&session.flow_id);
            let answers = flow
                .map(|flow| {
                    flow.steps
                        .iter()
                        .filter_map(|step| session.answers.get(&step.id).map(|value| (step.id.clone(), value.clone())))
                        .collect()
                })
                .unwrap_or_default();
            SessionShown {
                step: session.current_step.clone(),
                language: session.language.clone(),
                attempts: session.invalid_attempts,
                max_attempts: flow.and_then(|flow| flow.max_invalid_attempts),
                answers,
            }
        });
        let engine = simulator.conversations.engine();
        let flow = engine.default_flow();
        chat = context! {
            sim,
            flow => flow.id.clone(),
            version => flow.version,
            phone => simulator.phone(),
            bubbles => simulator.bubbles.iter().map(Bubble::value).collect::<Vec<_>>(),
            session => session.map(|session| session.value()),
            code => simulator.code.as_ref().map(|code| context! { uic => code.uic.clone(), registration => code.registration }),
        };
    }
    let context = context! {
        flows => flows.iter().map(FlowChoice::value).collect::<Vec<_>>(),
        languages => languages.iter().map(|language| Value::from(language.as_str())).collect::<Vec<_>>(),
        chosen_flow,
        chosen_language,
        chat,
        notice => extra.notice,
        notice_flow => extra.flow,
        notice_language => extra.language,
        lint => extra.lint,
        left_out => extra.left_out,
        max_kb => MAX_FORM_BYTES / 1024,
        ..signed_in_context(staff, lang, "simulator")
    };
    page(state, "simulator.html", context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(id: &str, title: &str) -> ReplyOption {
        ReplyOption { id: id.into(), title: title.into() }
    }

    #[test]
    fn replies_are_shown_as_whatsapp_shows_them() {
        let buttons = Reply::Text {
            text: "Oui ou non ?".into(),
            options: vec![option("yes", "Oui"), option("no", "Non")],
            list_button: None,
            paging: None,
        };
        let list = Reply::Text {
            text: "Votre genre ?".into(),
            options: (1..=4).map(|i| option(&i.to_string(), &format!("Choix {i}"))).collect(),
            list_button: Some("Choisir".into()),
            paging: None,
        };
        let qr = Reply::QrCode { uic: "MBEIBR7DA1".into(), caption: "Votre code".into() };
        let bubbles: Vec<Bubble> =
            outbound::outgoing("+000 simulator 1", &[buttons, list, qr]).iter().filter_map(bubble_of).collect();
        assert_eq!(bubbles.len(), 3);
        assert_eq!(bubbles[0].text, "Oui ou non ?");
        assert_eq!(bubbles[0].buttons, vec![option("yes", "Oui"), option("no", "Non")]);
        assert_eq!(bubbles[1].list_button.as_deref(), Some("Choisir"));
        assert_eq!(bubbles[1].rows.len(), 4);
        assert!(bubbles[1].buttons.is_empty());
        assert!(bubbles[2].image.as_deref().is_some_and(|url| url.starts_with("data:image/png;base64,iVBOR")));
        assert_eq!((bubbles[2].text.as_str(), bubbles[2].code.as_deref()), ("Votre code", Some("MBEIBR7DA1")));
    }

    #[tokio::test]
    async fn simulators_are_each_staff_members_own_and_the_least_recently_used_go_first() {
        let sources = crate::lint::source::Sources::embedded();
        let (catalog, _) = Catalog::load(&sources, 2026).unwrap();
        let config = EngineConfig {
            default_flow: "drc-fr".into(),
            default_language: None,
            session_timeout_minutes: 30,
            qr_codes: true,
        };
        let engine = Arc::new(Engine::new(&catalog, simulator_salt(), config).unwrap());
        let store = Store::in_memory().await.unwrap();
        let simulator = || Simulator {
            conversations: Conversations::new(engine.clone(), store.clone()),
            flow: "drc-fr".into(),
            language: None,
            person: 1,
            bubbles: Vec::new(),
            code: None,
        };
        let simulators = Simulators::new(Arc::new(|| Err("unused".into())));
        simulators.put("staff-a", "first", simulator());
        assert!(simulators.get("staff-a", "first").is_some());
        assert!(simulators.get("staff-b", "first").is_none(), "another staff session reaches nothing");
        for i in 1..MAX_SIMULATORS {
            simulators.put("staff-b", &i.to_string(), simulator());
        }
        assert_eq!(simulators.len(), MAX_SIMULATORS);
        // "first" was used since "1" was opened: "1" goes.
        simulators.get("staff-a", "first");
        simulators.put("staff-b", "one more", simulator());
        assert_eq!(simulators.len(), MAX_SIMULATORS);
        assert!(simulators.get("staff-b", "1").is_none());
        assert!(simulators.get("staff-a", "first").is_some());
    }

    #[test]
    fn a_long_message_is_shown_cut_with_its_length() {
        let bubble = Bubble::text(true, &"é".repeat(10_000));
        assert_eq!(bubble.text.chars().count(), MAX_SHOWN_CHARS);
        assert_eq!(bubble.cut, Some(10_000));
    }
}
