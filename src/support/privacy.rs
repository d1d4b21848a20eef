//! What may appear in a log or an error record about a person: never a full
//! phone number; and what a provider wrote, only on one line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `+243810000001` → `+243*******01`: enough to follow one conversation in the
/// logs, not enough to call anyone.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

/// A provider's error text made fit to store and log: at most 200
/// characters, any run of 8 or more digits (a phone number, in an error
/// about a recipient) replaced by `…`, and control characters shown escaped
/// ([`printable`]).
pub fn without_phone_numbers(text: &str) -> String {
    printable(&without_digit_runs(text)).into_owned()
}

/// `text` with every character that could start a new log line or change how
/// a terminal shows it written as an escape: `\n`, `\r`, `\t`, and
/// `\u{…}` for other control characters, Unicode line and paragraph
/// separators and bidirectional overrides. A provider's text (Meta's error
/// titles, DHIS2's messages) can then not forge a log line.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn without_digit_runs(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().take(200).chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 8 {
            out.push('…');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_only_country_code_and_last_two_digits() {
        assert_eq!(mask_phone("+243810000001"), "+243*******01");
        assert_eq!(mask_phone("12345"), "*****");
        assert!(!mask_phone("+14158675310").contains("867"));
    }

    #[test]
    fn error_texts_lose_phone_numbers_and_keep_short_numbers() {
        assert_eq!(
            without_phone_numbers("Recipient +243810000001 (243810000001) is not a WhatsApp user; code 131026"),
            "Recipient +… (…) is not a WhatsApp user; code 131026"
        );
        assert_eq!(without_phone_numbers(&"x".repeat(300)).chars().count(), 200);
        assert_eq!(without_phone_numbers("Failed\n2026 INFO forged"), "Failed\\n2026 INFO forged");
    }

    #[test]
    fn printable_escapes_what_could_start_a_line_or_drive_a_terminal() {
        assert!(matches!(printable("Réponse déjà reçue"), Cow::Borrowed(_)));
        assert_eq!(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(printable("\u{1b}[2K\u{0}\u{85}"), "\\u{1b}[2K\\u{0}\\u{85}");
        assert_eq!(printable("x\u{2028}y\u{202e}z"), "x\\u{2028}y\\u{202e}z");
        assert!(!printable("\u{7f}").chars().any(char::is_control));
    }
}
