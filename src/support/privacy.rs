//! What may appear in a log or an error record about a person: never a full
//! phone number.

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
/// characters, and any run of 8 or more digits (a phone number, in an error
/// about a recipient) replaced by `…`.
pub fn without_phone_numbers(text: &str) -> String {
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
    }
}
