//! What may appear in a log about a person: never a full phone number.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_only_country_code_and_last_two_digits() {
        assert_eq!(mask_phone("+243810000001"), "+243*******01");
        assert_eq!(mask_phone("12345"), "*****");
        assert!(!mask_phone("+14158675310").contains("867"));
    }
}
