//! The values that cross the engine's boundary: what comes in, what goes out,
//! and the session carried between turns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::dhis2::MappedValues;

/// What a person sent, as a channel understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A reply button or list row: `id` is the option's id (the choice value).
    Choice {
        id: String,
    },
    /// An image, audio, location, sticker, ...: not an answer.
    Media {
        kind: String,
    },
}

/// One person's progress through a flow. Answers live here only until the
/// conversation completes or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub flow_id: String,
    pub flow_version: u32,
    pub language: String,
    /// The id of the step being asked, or [`CONFIRM_STEP`].
    pub current_step: String,
    pub answers: BTreeMap<String, String>,
    pub invalid_attempts: u32,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `current_step` while a flow asks to confirm the answers.
pub const CONFIRM_STEP: &str = "confirm";

/// A message to send back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Text; `options` are all the choices of the question it asks, for
    /// channels that show buttons or lists (or, without them, a numbered list:
    /// [`Reply::numbered`]), and `list_button` labels the button that opens
    /// such a list. `paging` is set when there are more choices than a list
    /// holds.
    Text {
        text: String,
        options: Vec<ReplyOption>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        list_button: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paging: Option<Paging>,
    },
    /// A QR code image of a UIC, with a caption.
    QrCode { uic: String, caption: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOption {
    pub id: String,
    pub title: String,
}

/// Which page of a long list of choices to show, and the title of the row
/// that leads to the next page ([`crate::core::whatsapp::list_page`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    pub page: usize,
    pub more: String,
}

impl Reply {
    pub fn text(text: String) -> Reply {
        Reply::Text { text, options: Vec::new(), list_button: None, paging: None }
    }

    /// The text as a channel without buttons or lists shows it (Twilio, `uic
    /// chat`): the choices follow as a numbered list, and typing a number
    /// picks the choice at that position. A QR code gives its caption.
    pub fn numbered(&self) -> String {
        match self {
            Reply::Text { text, options, .. } if !options.is_empty() => {
                let lines: Vec<String> =
                    options.iter().enumerate().map(|(i, option)| format!("{}. {}", i + 1, option.title)).collect();
                format!("{text}\n\n{}", lines.join("\n"))
            }
            Reply::Text { text, .. } => text.clone(),
            Reply::QrCode { caption, .. } => caption.clone(),
        }
    }
}

/// A code the answers made; the store registers it, then
/// [`super::Engine::completion_replies`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub flow_id: String,
    pub flow_version: u32,
    pub uic: String,
    /// HMAC of the answers that define the code; never the answers themselves.
    pub duplicate_key: String,
    pub formula_fingerprint: String,
    pub language: String,
    /// What the flow sends to DHIS2 besides the code (its `dhis2:` block),
    /// computed while the answers are known; never a typed answer.
    pub dhis2: MappedValues,
}

/// What the store found when registering a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A new code.
    New,
    /// The same answers were given before: the same record.
    SameAnswers,
    /// Different answers made a code that already exists: recorded as a
    /// possible collision for staff to review; the person gets the code.
    SameCode,
}

/// What happened in a turn, for metrics and logs (never the answer itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Started,
    Answered,
    Refused,
    Escalated,
    /// HELP, BACK or a language.
    Command,
    /// RESTART, or NON at a confirmation: the conversation starts again.
    Restarted,
    NonText,
    TimedOut,
    Completed,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Answered => "answered",
            Outcome::Refused => "refused",
            Outcome::Escalated => "escalated",
            Outcome::Command => "command",
            Outcome::Restarted => "restarted",
            Outcome::NonText => "non_text",
            Outcome::TimedOut => "timed_out",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
        }
    }
}

/// The result of one turn: the session to keep (or none), replies, and a code
/// to register when the flow completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub session: Option<Session>,
    pub replies: Vec<Reply>,
    pub completion: Option<Completion>,
    pub outcome: Outcome,
}
