//! The conversation engine (SPEC §4): given a flow, the person's session and
//! what they sent, it returns the new session, the replies and any code to
//! register. It does no I/O: the clock comes in as `now`, the store and the
//! channels live outside.

pub mod stats;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};

pub use types::{CONFIRM_STEP, Completion, Content, Outcome, Paging, Registration, Reply, ReplyOption, Session, Turn};

use crate::core::catalog::Catalog;
use crate::core::flow::{Command, Flow, Role, Step, Suggestion};
use crate::core::formula::Formulas;
use crate::core::i18n::{Arg, Args, Texts};
use crate::core::normalize;
use crate::core::salt::Salt;
use crate::core::whatsapp::{MAX_LIST_ROWS, PAGE_ROW_PREFIX};

/// Longest answer read; longer texts are refused politely, never cut silently.
pub const MAX_ANSWER_CHARS: usize = 300;

/// The ids of the buttons of a lookup suggestion's question.
pub const LOOKUP_YES: &str = "__lookup:yes";
pub const LOOKUP_NO: &str = "__lookup:no";

/// A suggestion waiting for yes or no is kept with the answers (forgotten
/// with them) under `?<step id>`, which no step id can be: code, the value
/// otherwise, and the table's name, apart.
const PENDING_PREFIX: char = '?';
const PENDING_SEPARATOR: &str = "\u{1f}";

fn pending_key(step: &str) -> String {
    format!("{PENDING_PREFIX}{step}")
}

/// Settings that are the operator's, not the flow's.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The flow a new conversation starts in.
    pub default_flow: String,
    /// Language of a new conversation, instead of the flow's default (a
    /// greeting or a language command still wins).
    pub default_language: Option<String>,
    /// Sliding inactivity timeout, unless the flow sets its own.
    pub session_timeout_minutes: u32,
    /// `ENABLE_QR_CODE`: send a QR code with the code when the flow asks for it.
    pub qr_codes: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("default flow `{0}` is not among the loaded flows ({1})")]
    UnknownDefaultFlow(String, String),
    #[error(transparent)]
    Formula(#[from] crate::core::formula::FormulaError),
}

/// Runs conversations over a checked [`Catalog`].
pub struct Engine {
    flows: BTreeMap<String, Arc<Flow>>,
    texts: Arc<Texts>,
    formulas: Formulas,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("flows", &self.flows.keys()).field("config", &self.config).finish()
    }
}

/// The context of one turn: the flow, the session being built, the replies.
struct Conversation<'a> {
    engine: &'a Engine,
    flow: &'a Flow,
    session: Session,
    parts: Vec<String>,
    /// The page of a long list of choices to show (a tap on its "more" row).
    page: usize,
}

impl Engine {
    pub fn new(catalog: &Catalog, salt: Salt, config: EngineConfig) -> Result<Engine, EngineError> {
        if !catalog.flows.contains_key(&config.default_flow) {
            let known = catalog.flows.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(EngineError::UnknownDefaultFlow(config.default_flow, known));
        }
        let formulas = Formulas::new(catalog.flows.values().map(|flow| flow.as_ref()), salt)?;
        Ok(Engine { flows: catalog.flows.clone(), texts: catalog.texts.clone(), formulas, config })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn flow(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.get(id)
    }

    /// Every flow it runs, by id.
    pub fn flows(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }

    pub fn default_flow(&self) -> &Arc<Flow> {
        &self.flows[&self.config.default_flow]
    }

    /// The inactivity timeout of a flow, in minutes.
    pub fn timeout_minutes(&self, flow: &Flow) -> u32 {
        flow.session_timeout_minutes.unwrap_or(self.config.session_timeout_minutes)
    }

    /// The longest inactivity timeout of any flow: sessions idle longer are
    /// expired whatever their flow.
    pub fn longest_timeout_minutes(&self) -> u32 {
        self.flows.values().map(|flow| self.timeout_minutes(flow)).max().unwrap_or(self.config.session_timeout_minutes)
    }

    /// Whether a stored session has expired at `now`.
    pub fn is_expired(&self, session: &Session, now: DateTime<Utc>) -> bool {
        let minutes =
            self.flows.get(&session.flow_id).map_or(self.config.session_timeout_minutes, |f| self.timeout_minutes(f));
        now.signed_duration_since(session.updated_at).num_seconds() > i64::from(minutes) * 60
    }

    /// One turn of a conversation.
    pub fn turn(&self, session: Option<Session>, content: &Content, now: DateTime<Utc>) -> Turn {
        let Some(session) = session else {
            // First contact: welcome and question 1, whatever was said. The first
            // message is never an answer, but its greeting may reveal a language.
            let flow = self.default_flow();
            let language = self.first_contact_language(content).to_string();
            let mut conversation = Conversation::start(self, flow, language, now);
            conversation.say(Role::Welcome, vec![("total", Arg::Number(flow.steps.len() as i64))]);
            return conversation.ask_current(Outcome::Started);
        };

        let current = self.flows.get(&session.flow_id).filter(|flow| {
            flow.version == session.flow_version
                && (session.current_step == CONFIRM_STEP || flow.step_index(&session.current_step).is_some())
        });
        let Some(flow) = current else {
            // The flow changed (or went away) under a conversation: start again politely.
            let flow = self.flows.get(&session.flow_id).unwrap_or(self.default_flow());
            let language =
                if flow.supports(&session.language) { session.language } else { flow.default_language.clone() };
            let mut conversation = Conversation::start(self, flow, language, now);
            conversation.say(Role::FlowUpdated, Vec::new());
            return conversation.ask_current(Outcome::Started);
        };

        if self.is_expired(&session, now) {
            let mut conversation = Conversation::start(self, flow, session.language, now);
            let minutes = self.timeout_minutes(flow);
            conversation.say(Role::Timeout, vec![("minutes", Arg::Number(i64::from(minutes)))]);
            return conversation.ask_current(Outcome::TimedOut);
        }

        let mut conversation = Conversation { engine: self, flow, session, parts: Vec::new(), page: 0 };
        conversation.session.updated_at = now;
        conversation.respond(content, now)
    }

    /// The replies that announce a registered code.
    pub fn completion_replies(&self, completion: &Completion, registration: Registration) -> Vec<Reply> {
        let language = &completion.language;
        let uic = vec![("uic", Arg::Text(completion.uic.clone()))];
        let flow = self.flows.get(&completion.flow_id).unwrap_or(self.default_flow());
        let qr = self.config.qr_codes && flow.completion.qr_code;
        let mut text = match registration {
            Registration::New => self.texts.format(language, flow.texts.id(Role::Completion), &uic),
            Registration::SameAnswers | Registration::SameCode => {
                self.texts.format(language, flow.texts.id(Role::ExistingCode), &uic)
            }
        };
        if qr {
            text.push_str("\n\n");
            text.push_str(&self.texts.format(language, flow.texts.id(Role::CompletionQr), &Vec::new()));
        }
        let mut replies = vec![Reply::text(text)];
        if qr {
            let caption = self.texts.format(language, flow.texts.id(Role::QrCaption), &uic);
            replies.push(Reply::QrCode { uic: completion.uic.clone(), caption });
        }
        replies
    }

    /// The language of a first message: a language command or a greeting
    /// the default flow recognises, else the configured or the flow's default.
    fn first_contact_language(&self, content: &Content) -> &str {
        let flow = self.default_flow();
        let text = match content {
            Content::Text(text) => text.as_str(),
            _ => "",
        };
        flow.command(text)
            .and_then(|command| match command {
                Command::Language(language) => Some(language.as_str()),
                _ => None,
            })
            .or_else(|| flow.detect_language(text))
            .or(self.config.default_language.as_deref().filter(|l| flow.supports(l)))
            .unwrap_or(&flow.default_language)
    }

    /// The polite message for a failure outside the engine, in the person's
    /// language: their session's when it is known, else the one their message
    /// reveals (as on first contact), else the default.
    pub fn internal_error_reply(&self, session_language: Option<&str>, content: &Content) -> Reply {
        self.reply_outside_a_turn(Role::InternalError, session_language, content)
    }

    /// The one reply to a person who sends messages faster than the server
    /// takes them (the rest are dropped unanswered), in their language as
    /// for [`Engine::internal_error_reply`].
    pub fn slow_down_reply(&self, session_language: Option<&str>, content: &Content) -> Reply {
        self.reply_outside_a_turn(Role::SlowDown, session_language, content)
    }

    fn reply_outside_a_turn(&self, role: Role, session_language: Option<&str>, content: &Content) -> Reply {
        let flow = self.default_flow();
        let language = session_language
            .filter(|language| self.texts.languages().any(|known| known == *language))
            .unwrap_or_else(|| self.first_contact_language(content));
        Reply::text(self.texts.format(language, flow.texts.id(role), &Vec::new()))
    }
}

impl<'a> Conversation<'a> {
    fn start(engine: &'a Engine, flow: &'a Flow, language: String, now: DateTime<Utc>) -> Self {
        let session = Session {
            flow_id: flow.id.clone(),
            flow_version: flow.version,
            language,
            current_step: flow.steps[0].id.clone(),
            answers: BTreeMap::new(),
            invalid_attempts: 0,
            started_at: now,
            updated_at: now,
        };
        Conversation { engine, flow, session, parts: Vec::new(), page: 0 }
    }

    fn text(&self, id: &str, args: &Args) -> String {
        self.engine.texts.format(&self.session.language, id, args)
    }

    /// Adds a paragraph to the reply being built.
    fn say(&mut self, role: Role, args: Args) {
        let text = self.text(self.flow.texts.id(role), &args);
        self.parts.push(text);
    }

    fn step_index(&self) -> Option<usize> {
        self.flow.step_index(&self.session.current_step)
    }

    /// Ends the turn asking the current question (or the confirmation).
    fn ask_current(mut self, outcome: Outcome) -> Turn {
        let mut options = Vec::new();
        let pending = self.step_index().and_then(|index| self.pending(&self.flow.steps[index].id));
        match self.step_index() {
            Some(_) if let Some(pending) = pending => {
                self.say(Role::LookupConfirm, vec![("name", Arg::Text(pending.name))]);
                options = vec![
                    ReplyOption {
                        id: LOOKUP_YES.into(),
                        title: self.text(self.flow.texts.id(Role::LookupYes), &Vec::new()),
                    },
                    ReplyOption {
                        id: LOOKUP_NO.into(),
                        title: self.text(self.flow.texts.id(Role::LookupNo), &Vec::new()),
                    },
                ];
            }
            Some(index) => {
                let step = &self.flow.steps[index];
                let position = vec![
                    ("number", Arg::Number(index as i64 + 1)),
                    ("total", Arg::Number(self.flow.steps.len() as i64)),
                ];
                let prompt = self.text(&step.prompt, &position);
                let mut args = position;
                args.push(("text", Arg::Text(prompt)));
                self.say(Role::Question, args);
                options = step
                    .choices
                    .iter()
                    .map(|choice| ReplyOption {
                        id: choice.value.clone(),
                        title: self.text(&choice.label, &Vec::new()),
                    })
                    .collect();
            }
            None => {
                let summary = self.summary();
                self.say(Role::Confirm, vec![("summary", Arg::Text(summary))]);
            }
        }
        let text = self.parts.join("\n\n");
        let list_button =
            (!options.is_empty()).then(|| self.text(self.flow.texts.id(Role::ChoicesButton), &Vec::new()));
        let paging = (options.len() > MAX_LIST_ROWS)
            .then(|| Paging { page: self.page, more: self.text(self.flow.texts.id(Role::ChoicesMore), &Vec::new()) });
        let reply = Reply::Text { text, options, list_button, paging };
        Turn { session: Some(self.session), replies: vec![reply], completion: None, outcome }
    }

    /// The answers so far, one line each, for the confirmation question.
    fn summary(&self) -> String {
        self.flow
            .steps
            .iter()
            .enumerate()
            .filter_map(|(index, step)| {
                let answer = self.session.answers.get(&step.id)?;
                let shown = step
                    .choices
                    .iter()
                    .find(|choice| &choice.value == answer)
                    .map(|choice| self.text(&choice.label, &Vec::new()))
                    .unwrap_or_else(|| answer.clone());
                Some(self.text(
                    self.flow.texts.id(Role::ConfirmLine),
                    &vec![("number", Arg::Number(index as i64 + 1)), ("answer", Arg::Text(shown))],
                ))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn restart(mut self, role: Role, now: DateTime<Utc>) -> Turn {
        let language = std::mem::take(&mut self.session.language);
        let mut fresh = Conversation::start(self.engine, self.flow, language, now);
        fresh.say(role, Vec::new());
        fresh.ask_current(Outcome::Restarted)
    }

    fn respond(mut self, content: &Content, now: DateTime<Utc>) -> Turn {
        let typed = match content {
            Content::Text(text) => normalize::strip_controls(text),
            Content::Choice { id } => id.clone(),
            Content::Media { .. } => {
                self.say(Role::NonText, Vec::new());
                return self.ask_current(Outcome::NonText);
            }
        };
        if typed.trim().is_empty() {
            self.say(Role::EmptyAnswer, Vec::new());
            return self.ask_current(Outcome::Refused);
        }
        if typed.chars().count() > MAX_ANSWER_CHARS {
            self.say(Role::AnswerTooLong, vec![("max", Arg::Number(MAX_ANSWER_CHARS as i64))]);
            return self.ask_current(Outcome::Refused);
        }
        let confirming = self.step_index().is_none();
        if let Content::Choice { id } = content {
            // The "more" row of a paged list: the same question, next page; not an answer.
            if let Some(page) = id.strip_prefix(PAGE_ROW_PREFIX).and_then(|page| page.parse().ok())
                && !confirming
            {
                self.page = page;
                return self.ask_current(Outcome::Command);
            }
        }
        match self.flow.command(&typed).cloned() {
            Some(Command::Restart) => return self.restart(Role::Restarted, now),
            Some(Command::Help) => {
                self.say(Role::Help, vec![("total", Arg::Number(self.flow.steps.len() as i64))]);
                return self.ask_current(Outcome::Command);
            }
            Some(Command::Back) => {
                self.session.answers.retain(|key, _| !key.starts_with(PENDING_PREFIX));
                let previous = match self.step_index() {
                    Some(0) => None,
                    Some(index) => Some(index - 1),
                    None => Some(self.flow.steps.len() - 1),
                };
                self.session.invalid_attempts = 0;
                match previous {
                    Some(index) => {
                        self.session.current_step = self.flow.steps[index].id.clone();
                        self.say(Role::Back, Vec::new());
                    }
                    None => self.say(Role::BackAtStart, Vec::new()),
                }
                return self.ask_current(Outcome::Command);
            }
            Some(Command::Language(language)) => {
                self.session.language = language;
                self.say(Role::LanguageSwitched, Vec::new());
                return self.ask_current(Outcome::Command);
            }
            Some(Command::Yes) if confirming => return self.complete(),
            Some(Command::No) if confirming => return self.restart(Role::Restarted, now),
            // Yes and no are only words of a confirmation; elsewhere they are answers.
            Some(Command::Yes | Command::No) | None => {}
        }
        if confirming {
            self.say(Role::ConfirmInvalid, Vec::new());
            return self.ask_current(Outcome::Refused);
        }
        let tapped = matches!(content, Content::Choice { .. });
        self.answer(&typed, tapped, now)
    }

    /// The value of the choice whose label (in any of the flow's languages)
    /// is this text, ignoring case, accents and punctuation.
    fn choice_by_label(&self, step: &Step, typed: &str) -> Option<String> {
        let wanted = normalize::comparable(typed);
        step.choices.iter().find_map(|choice| {
            let named = self.flow.languages.iter().any(|language| {
                normalize::comparable(&self.engine.texts.format(language, &choice.label, &Vec::new())) == wanted
            });
            named.then(|| choice.value.clone())
        })
    }

    /// The suggestion a step's lookup table is waiting to hear about, if any.
    fn pending(&self, step: &str) -> Option<Suggestion> {
        let kept = self.session.answers.get(&pending_key(step))?;
        let mut parts = kept.split(PENDING_SEPARATOR);
        let (code, otherwise, name) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Suggestion { name: name.into(), code: code.into(), otherwise: otherwise.into() })
    }

    /// Yes or no to a suggestion: a tapped button, or the flow's yes and no words.
    fn verdict(&self, typed: &str, tapped: bool) -> Option<bool> {
        // Tapped, or typed as the numbered list of text channels shows them.
        match (tapped, typed.trim()) {
            (true, LOOKUP_YES) | (false, "1") => return Some(true),
            (true, LOOKUP_NO) | (false, "2") => return Some(false),
            _ => {}
        }
        let said = |role: Role| {
            let word = self.text(self.flow.texts.id(role), &Vec::new());
            normalize::comparable(&word) == normalize::comparable(typed)
        };
        match self.flow.command(typed) {
            Some(Command::Yes) => Some(true),
            Some(Command::No) => Some(false),
            _ if said(Role::LookupYes) => Some(true),
            _ if said(Role::LookupNo) => Some(false),
            _ => None,
        }
    }

    fn answer(mut self, typed: &str, tapped: bool, now: DateTime<Utc>) -> Turn {
        let index = self.step_index().expect("answer is only called on a step");
        let step = &self.flow.steps[index];
        // A suggestion asked about: yes takes the table's code, no the answer
        // by the step's rules; anything else is a new answer.
        if let Some(pending) = self.pending(&step.id) {
            self.session.answers.remove(&pending_key(&step.id));
            match self.verdict(typed, tapped) {
                Some(true) => return self.accept(index, pending.code),
                Some(false) => return self.accept(index, pending.otherwise),
                None => {}
            }
        }
        if !tapped && let Some(suggestion) = step.suggestion(typed, now.year()) {
            let kept = [suggestion.code, suggestion.otherwise, suggestion.name].join(PENDING_SEPARATOR);
            self.session.answers.insert(pending_key(&step.id), kept);
            return self.ask_current(Outcome::Command);
        }
        // A tapped button or row sends the choice's value itself (not its
        // position); typed text may also be a choice's label.
        let chosen = if tapped {
            step.choices.iter().find(|choice| choice.value == typed).map(|choice| Ok(choice.value.clone()))
        } else {
            None
        };
        let chosen = chosen.or_else(|| {
            let by_label = step.choose_typed(typed).is_none().then(|| self.choice_by_label(step, typed)).flatten();
            by_label.map(Ok)
        });
        match chosen.unwrap_or_else(|| step.evaluate(typed, now.year())) {
            Ok(value) => self.accept(index, value),
            Err(refusal) => {
                self.session.invalid_attempts += 1;
                let cap = step.max_invalid_attempts.or(self.flow.max_invalid_attempts);
                if cap.is_some_and(|cap| self.session.invalid_attempts >= cap) {
                    // Past the cap: where to get help, and the conversation ends
                    // rather than looping; the next message starts afresh.
                    self.say(Role::Escalation, Vec::new());
                    let text = self.parts.join("\n\n");
                    return Turn {
                        session: None,
                        replies: vec![Reply::text(text)],
                        completion: None,
                        outcome: Outcome::Escalated,
                    };
                }
                let message = self.text(&refusal.message, &refusal.args);
                self.parts.push(message);
                self.ask_current(Outcome::Refused)
            }
        }
    }

    /// The answer to step `index` is `value`: on to the next step, the
    /// confirmation, or the code.
    fn accept(mut self, index: usize, value: String) -> Turn {
        let step = &self.flow.steps[index];
        self.session.answers.insert(step.id.clone(), value);
        self.session.invalid_attempts = 0;
        if let Some(next) = self.flow.steps.get(index + 1) {
            self.session.current_step = next.id.clone();
            self.say(Role::Ack, Vec::new());
            self.ask_current(Outcome::Answered)
        } else if self.flow.completion.confirm {
            self.session.current_step = CONFIRM_STEP.to_string();
            self.say(Role::Ack, Vec::new());
            self.ask_current(Outcome::Answered)
        } else {
            self.complete()
        }
    }

    /// All answers are in: make the code. The session ends; its answers go.
    fn complete(mut self) -> Turn {
        let made = self.engine.formulas.uic(self.flow, &self.session.answers).and_then(|uic| {
            let key = self.engine.formulas.duplicate_key(self.flow, &self.session.answers)?;
            let dhis2 = self.engine.formulas.dhis2_values(self.flow, &self.session.answers, &uic)?;
            Ok((uic, key, dhis2))
        });
        match made {
            Ok((uic, duplicate_key, dhis2)) => {
                self.say(Role::ReceivedAll, Vec::new());
                let text = self.parts.join("\n\n");
                Turn {
                    session: None,
                    replies: vec![Reply::text(text)],
                    completion: Some(Completion {
                        flow_id: self.flow.id.clone(),
                        flow_version: self.flow.version,
                        uic,
                        duplicate_key,
                        formula_fingerprint: self.flow.uic.fingerprint.clone(),
                        language: self.session.language.clone(),
                        dhis2,
                    }),
                    outcome: Outcome::Completed,
                }
            }
            Err(error) => {
                // Lint checks examples, so this is a formula bug on unusual input:
                // keep the session (nothing lost) and apologise.
                tracing::error!(flow = %self.flow.id, error = %error, "could not make a code");
                self.say(Role::InternalError, Vec::new());
                let text = self.parts.join("\n\n");
                Turn {
                    session: Some(self.session),
                    replies: vec![Reply::text(text)],
                    completion: None,
                    outcome: Outcome::Failed,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::lint::source::Sources;

    fn engine(flow: &str) -> Engine {
        let (catalog, _) = Catalog::load(&Sources::embedded(), 2026).expect("embedded flows pass lint");
        let config = EngineConfig {
            default_flow: flow.into(),
            default_language: None,
            session_timeout_minutes: 30,
            qr_codes: false,
        };
        Engine::new(&catalog, Salt::for_tests(), config).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
    }

    fn say(engine: &Engine, session: Option<Session>, text: &str) -> Turn {
        engine.turn(session, &Content::Text(text.into()), now())
    }

    fn text(turn: &Turn) -> String {
        turn.replies
            .iter()
            .map(|reply| match reply {
                Reply::Text { text, .. } => text.clone(),
                Reply::QrCode { uic, .. } => format!("[QR {uic}]"),
            })
            .collect::<Vec<_>>()
            .join("\n~~~\n")
    }

    #[test]
    fn the_first_message_is_never_an_answer() {
        let engine = engine("drc-fr");
        let turn = say(&engine, None, "MBE");
        let session = turn.session.unwrap();
        assert_eq!(session.current_step, "last_name");
        assert!(session.answers.is_empty());
        assert_eq!(turn.outcome, Outcome::Started);
    }

    #[test]
    fn a_language_command_as_first_message_picks_the_language() {
        let engine = engine("drc-fr");
        let turn = say(&engine, None, "LINGALA");
        assert_eq!(turn.session.as_ref().unwrap().language, "ln");
        assert!(text(&turn).contains("Motuna 1 na 5"));
    }

    #[test]
    fn an_error_is_shown_once_with_the_question_once() {
        let engine = engine("drc-fr");
        let session = say(&engine, None, "Bonjour").session;
        let turn = say(&engine, session, "1");
        let shown = text(&turn);
        assert_eq!(turn.replies.len(), 1);
        assert_eq!(shown.matches("Quelles sont les 3 premières lettres de votre nom de famille?").count(), 1);
        assert_eq!(shown.matches("Veuillez n'utiliser que des lettres").count(), 1);
        assert_eq!(turn.session.unwrap().invalid_attempts, 1);
    }

    #[test]
    fn a_session_of_an_older_flow_version_restarts_politely() {
        let engine = engine("drc-fr");
        let mut session = say(&engine, None, "Bonjour").session.unwrap();
        session.flow_version = 0;
        session.answers.insert("last_name".into(), "MBE".into());
        let turn = say(&engine, Some(session), "IBR");
        assert!(text(&turn).starts_with("Les questions ont été mises à jour."), "{}", text(&turn));
        let session = turn.session.unwrap();
        assert_eq!(session.flow_version, 1);
        assert!(session.answers.is_empty());
    }

    #[test]
    fn choice_steps_offer_their_options_for_buttons() {
        let engine = engine("drc-fr");
        let mut session = say(&engine, None, "Bonjour").session;
        for answer in ["MBE", "IBR", "7"] {
            session = say(&engine, session, answer).session;
        }
        let turn = say(&engine, session, "DA");
        let Reply::Text { options, .. } = &turn.replies[0] else { panic!("text reply") };
        let titles: Vec<&str> = options.iter().map(|o| o.title.as_str()).collect();
        assert_eq!(titles, ["Homme", "Femme", "Trans", "Autre"]);
        assert_eq!(options[1].id, "2");
    }

    #[test]
    fn completion_carries_the_code_and_a_keyed_hash_not_the_answers() {
        let engine = engine("drc-fr");
        let mut session = say(&engine, None, "Bonjour").session;
        for answer in ["Mbengue", "Ibrahima", "1997", "Dakar"] {
            session = say(&engine, session, answer).session;
        }
        let turn = say(&engine, session, "Homme");
        assert!(turn.session.is_none(), "the session and its answers end here");
        let completion = turn.completion.unwrap();
        assert_eq!(completion.uic, "MBEIBR7DA1");
        assert_eq!(completion.duplicate_key.len(), 64);
        assert!(!completion.duplicate_key.contains("MBENGUE"));
        // The same person typing the short answers gets the same code, another key.
        let mut session = say(&engine, None, "Bonjour").session;
        for answer in ["MBE", "IBR", "7", "DA"] {
            session = say(&engine, session, answer).session;
        }
        let short = say(&engine, session, "1").completion.unwrap();
        assert_eq!(short.uic, completion.uic);
        assert_ne!(short.duplicate_key, completion.duplicate_key);
    }

    #[test]
    fn drc_ln_and_drc_fr_share_codes_and_keys() {
        let fr = engine("drc-fr");
        let ln = engine("drc-ln");
        let run = |engine: &Engine| {
            let mut session = say(engine, None, "?").session;
            for answer in ["MBE", "IBR", "7", "DA"] {
                session = say(engine, session, answer).session;
            }
            say(engine, session, "1").completion.unwrap()
        };
        let (a, b) = (run(&fr), run(&ln));
        assert_eq!(a.uic, b.uic);
        assert_eq!(a.duplicate_key, b.duplicate_key, "one program, one register");
        assert_eq!(b.language, "ln");
    }

    #[test]
    fn completion_replies_say_whether_the_code_is_new() {
        let engine = engine("drc-fr");
        let completion = Completion {
            flow_id: "drc-fr".into(),
            flow_version: 1,
            uic: "MBEIBR7DA1".into(),
            duplicate_key: "k".into(),
            formula_fingerprint: "f".into(),
            language: "en".into(),
            dhis2: Default::default(),
        };
        let new = engine.completion_replies(&completion, Registration::New);
        let again = engine.completion_replies(&completion, Registration::SameAnswers);
        assert!(
            matches!(&new[0], Reply::Text { text, .. } if text.contains("has been generated") && text.contains("MBEIBR7DA1"))
        );
        assert!(matches!(&again[0], Reply::Text { text, .. } if text.contains("already generated")));
        assert_eq!(new.len(), 1, "no QR code when ENABLE_QR_CODE is off");
    }
}
