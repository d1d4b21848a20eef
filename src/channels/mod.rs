//! Channels turn a provider's webhook request into an [`crate::core::engine::Content`]
//! and the engine's [`crate::core::engine::Reply`]s back into what that provider
//! expects. They are pure: the HTTP server hands them the request's parts and
//! sends what they return. Twilio answers in the webhook's response (TwiML);
//! Meta's Cloud API is answered through the Graph API, from the outbox.

pub mod meta;
pub mod twilio;

/// `+` and 1 to 15 digits (E.164), adding the `+` that `WaId` lacks.
pub(crate) fn e164(number: &str) -> Option<String> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let valid = (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("+{digits}"))
}

/// Cuts `text` into pieces of at most `max` characters whose concatenation is
/// `text`: after the last line break that fits, else after the last space,
/// else at `max` characters. Empty text gives no piece (Twilio refuses an
/// empty body).
pub(crate) fn split(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some((limit, _)) = rest.char_indices().nth(max) {
        let window = &rest[..limit];
        let cut = window.rfind('\n').or_else(|| window.rfind(' ')).map_or(limit, |i| i + 1);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}
