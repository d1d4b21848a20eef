//! The shared moments of a conversation (welcome, acknowledgement, help, ...),
//! the Fluent message each one shows, and the variables the engine gives it.
//! A flow may point a moment at another message in its `texts:` map.

use std::collections::BTreeMap;

macro_rules! roles {
    ($($variant:ident = $name:literal [$($var:literal),*];)*) => {
        /// A moment of the conversation that shows a message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role { $($variant),* }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$variant),*];

            /// The key in a flow's `texts:` map, and the default message id.
            pub fn name(self) -> &'static str {
                match self { $(Role::$variant => $name),* }
            }

            /// The variables the engine passes to this message.
            pub fn variables(self) -> &'static [&'static str] {
                match self { $(Role::$variant => &[$($var),*]),* }
            }
        }
    };
}

roles! {
    Welcome = "welcome" ["total"];
    Question = "question" ["number", "total", "text"];
    Ack = "ack" [];
    Help = "help" ["total"];
    Restarted = "restarted" [];
    Back = "back" [];
    BackAtStart = "back-at-start" [];
    LanguageSwitched = "language-switched" [];
    Timeout = "timeout" ["minutes"];
    FlowUpdated = "flow-updated" [];
    NonText = "non-text" [];
    EmptyAnswer = "empty-answer" [];
    AnswerTooLong = "answer-too-long" ["max"];
    ReceivedAll = "received-all" [];
    Completion = "completion" ["uic"];
    CompletionQr = "completion-qr" [];
    ExistingCode = "existing-code" ["uic"];
    QrCaption = "qr-caption" ["uic"];
    Escalation = "escalation" [];
    InternalError = "internal-error" [];
    SlowDown = "slow-down" [];
    Confirm = "confirm" ["summary"];
    ConfirmLine = "confirm-line" ["number", "answer"];
    ConfirmInvalid = "confirm-invalid" [];
    ChoicesButton = "choices-button" [];
    ChoicesMore = "choices-more" [];
    // An answer close to a name of a step's lookup table: is it that one?
    LookupConfirm = "lookup-confirm" ["name"];
    LookupYes = "lookup-yes" [];
    LookupNo = "lookup-no" [];
}

impl Role {
    /// Variables a step prompt receives.
    pub const PROMPT_VARIABLES: &'static [&'static str] = &["number", "total"];

    pub fn names() -> Vec<&'static str> {
        Role::ALL.iter().map(|role| role.name()).collect()
    }

    fn from_name(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| role.name() == name)
    }
}

/// The message id of each moment, for one flow.
#[derive(Debug, Clone, Default)]
pub struct TextIds {
    overrides: BTreeMap<Role, String>,
}

impl TextIds {
    /// Reads a flow's `texts:` map; returns the first unknown key as the error.
    pub fn from_overrides(map: &BTreeMap<String, String>) -> Result<TextIds, String> {
        let mut overrides = BTreeMap::new();
        for (name, id) in map {
            let role = Role::from_name(name).ok_or_else(|| name.clone())?;
            overrides.insert(role, id.clone());
        }
        Ok(TextIds { overrides })
    }

    pub fn is_overridden(&self, role: Role) -> bool {
        self.overrides.contains_key(&role)
    }

    pub fn id(&self, role: Role) -> &str {
        self.overrides.get(&role).map(String::as_str).unwrap_or(role.name())
    }
}
