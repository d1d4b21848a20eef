//! Normalisation of answers (SPEC §7): the same person typing differently must
//! give the same value, so every answer goes through a small, explicit pipeline
//! before it is validated or used by a formula.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// One normalisation step, as named in a flow's `normalize:` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// Remove surrounding white space and collapse inner runs to one space.
    Trim,
    /// Decompose, drop combining marks, map letters without decomposition (Œ→OE, ß→SS, ...).
    Fold,
    /// Upper-case.
    Upper,
    /// Keep only A–Z (after `fold` and `upper`, everything else is dropped).
    Letters,
    /// Keep only ASCII digits (full-width and other decimal digits become ASCII first).
    Digits,
    /// Keep letters and digits only.
    Alnum,
    /// A whole number in canonical decimal form: full-width digits become ASCII,
    /// leading zeros go (`05` → `5`). Text that is not a number is left trimmed, so
    /// a validation rule can refuse it with its own message.
    Number,
}

impl Normalizer {
    /// Parses a name used in YAML.
    pub fn from_name(name: &str) -> Option<Normalizer> {
        Some(match name {
            "trim" => Normalizer::Trim,
            "fold" => Normalizer::Fold,
            "upper" => Normalizer::Upper,
            "letters" => Normalizer::Letters,
            "digits" => Normalizer::Digits,
            "alnum" => Normalizer::Alnum,
            "number" => Normalizer::Number,
            _ => return None,
        })
    }

    /// The pipelines behind the preset names a flow may use instead of a list.
    pub fn preset(name: &str) -> Option<Vec<Normalizer>> {
        use Normalizer::*;
        Some(match name {
            "name" | "place" => vec![Trim, Fold, Upper, Letters],
            "code" => vec![Trim, Fold, Upper, Alnum],
            "number" => vec![Trim, Number],
            "text" => vec![Trim, Fold, Upper],
            "none" => vec![Trim],
            _ => return None,
        })
    }

    pub fn apply(self, input: &str) -> String {
        match self {
            Normalizer::Trim => input.split_whitespace().collect::<Vec<_>>().join(" "),
            Normalizer::Fold => fold(input),
            Normalizer::Upper => input.to_uppercase(),
            Normalizer::Letters => input.chars().filter(char::is_ascii_alphabetic).collect(),
            Normalizer::Digits => ascii_digits(input).filter(char::is_ascii_digit).collect(),
            Normalizer::Alnum => input.chars().filter(char::is_ascii_alphanumeric).collect(),
            Normalizer::Number => canonical_number(input),
        }
    }
}

/// Applies a pipeline in order.
pub fn apply_all(pipeline: &[Normalizer], input: &str) -> String {
    pipeline.iter().fold(input.to_string(), |value, step| step.apply(&value))
}

/// Removes accents and maps the Latin letters that have no decomposition, so
/// `Gédéon` → `Gedeon`, `Œuvre` → `OEuvre`, `Łukasz` → `Lukasz`.
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'Œ' => out.push_str("OE"),
            'œ' => out.push_str("oe"),
            'Æ' => out.push_str("AE"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'ẞ' => out.push_str("SS"),
            'Ø' => out.push('O'),
            'ø' => out.push('o'),
            'Ł' => out.push('L'),
            'ł' => out.push('l'),
            'Đ' => out.push('D'),
            'đ' => out.push('d'),
            'Þ' => out.push_str("TH"),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            c => out.push(c),
        }
    }
    out
}

/// Maps every Unicode decimal digit we are likely to meet (ASCII, full-width,
/// Arabic-Indic) to its ASCII form; other characters pass through.
fn ascii_digits(input: &str) -> impl Iterator<Item = char> + '_ {
    input.chars().map(|c| match c {
        '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
        '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
        '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
        c => c,
    })
}

fn canonical_number(input: &str) -> String {
    let ascii: String = ascii_digits(input.trim()).collect();
    if ascii.is_empty() || !ascii.chars().all(|c| c.is_ascii_digit()) {
        return ascii;
    }
    let trimmed = ascii.trim_start_matches('0');
    if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }
}

/// The form used to compare a message with command words, greetings and choice
/// synonyms: folded, upper-case, punctuation dropped, single spaces.
pub fn comparable(input: &str) -> String {
    let folded = fold(input).to_uppercase();
    let cleaned: String = folded.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Drops control characters (keeping line breaks as spaces) so that nothing a
/// person sends can disturb a log line or a reply.
pub fn strip_controls(input: &str) -> String {
    input
        .chars()
        .map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .collect()
}

fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(input: &str) -> String {
        apply_all(&Normalizer::preset("name").unwrap(), input)
    }

    #[test]
    fn names_lose_accents_and_everything_but_letters() {
        assert_eq!(name("Gédéon"), "GEDEON");
        assert_eq!(name("N'Djamena"), "NDJAMENA");
        assert_eq!(name("Jean-Paul"), "JEANPAUL");
        assert_eq!(name("François"), "FRANCOIS");
        assert_eq!(name("  Mbengue  "), "MBENGUE");
        assert_eq!(name("St. Louis"), "STLOUIS");
    }

    #[test]
    fn letters_without_decomposition_are_mapped() {
        assert_eq!(name("Œdipe"), "OEDIPE");
        assert_eq!(name("Ærø"), "AERO");
        assert_eq!(name("Strauß"), "STRAUSS");
        assert_eq!(name("Øyvind"), "OYVIND");
        assert_eq!(name("Łukasz"), "LUKASZ");
        assert_eq!(name("Đorđe"), "DORDE");
    }

    #[test]
    fn numbers_take_canonical_decimal_form() {
        let number = Normalizer::preset("number").unwrap();
        assert_eq!(apply_all(&number, "05"), "5");
        assert_eq!(apply_all(&number, " 1997 "), "1997");
        assert_eq!(apply_all(&number, "１９９７"), "1997");
        assert_eq!(apply_all(&number, "٠٥"), "5");
        assert_eq!(apply_all(&number, "000"), "0");
        // Not a number: left for a validation rule to refuse.
        assert_eq!(apply_all(&number, "douze"), "douze");
    }

    #[test]
    fn digits_and_alnum_keep_what_they_say() {
        assert_eq!(Normalizer::Digits.apply("a1b２c3"), "123");
        assert_eq!(Normalizer::Alnum.apply("A-1 B"), "A1B");
        assert_eq!(Normalizer::Letters.apply("A-1 B"), "AB");
    }

    #[test]
    fn trim_collapses_inner_space() {
        assert_eq!(Normalizer::Trim.apply("  a \t b  "), "a b");
    }

    #[test]
    fn comparable_ignores_case_accents_and_punctuation() {
        assert_eq!(comparable("Français !"), "FRANCAIS");
        assert_eq!(comparable("  mbote na yo... "), "MBOTE NA YO");
        assert_eq!(comparable("Aide?"), "AIDE");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(strip_controls("a\u{0}b\u{7}c\nd\u{202E}e"), "abc de");
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(Normalizer::from_name("uppercase").is_none());
        assert!(Normalizer::preset("nom").is_none());
    }
}
