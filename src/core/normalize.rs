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
    /// The one number written among words or punctuation (`né en 1997`,
    /// `1997.` → `1997`); text with no number, or with two, is left as it is,
    /// for a validation rule to refuse.
    NumberInText,
}

/// What is done to an answer as typed, before it is validated (`on: raw`
/// rules included) and normalised: the characters phone keyboards and
/// copy-paste put in place of the ones people mean. Declared per step
/// (`clean:`), so a flow says which forgiveness it grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleaner {
    /// Typographic dashes and apostrophes become `-` and `'`; non-breaking and
    /// other wide spaces become spaces; invisible characters (zero-width,
    /// soft hyphen, direction marks) go.
    Typography,
    /// Cyrillic and Greek letters drawn like Latin ones (`М`, `о`, `Α`) become
    /// those Latin letters, in an answer that also has Latin letters: a word
    /// wholly in another script is left alone.
    LookAlikes,
}

impl Cleaner {
    pub const NAMES: &'static [&'static str] = &["typography", "look_alikes"];

    pub fn from_name(name: &str) -> Option<Cleaner> {
        match name {
            "typography" => Some(Cleaner::Typography),
            "look_alikes" => Some(Cleaner::LookAlikes),
            _ => None,
        }
    }

    pub fn apply(self, input: &str) -> String {
        match self {
            Cleaner::Typography => input.chars().filter_map(typographic).collect(),
            Cleaner::LookAlikes if input.chars().any(|c| c.is_ascii_alphabetic()) => {
                input.chars().map(|c| latin_look_alike(c).unwrap_or(c)).collect()
            }
            Cleaner::LookAlikes => input.to_string(),
        }
    }
}

/// The plain character a typographic one stands for; `None` to drop it.
fn typographic(c: char) -> Option<char> {
    match c {
        // Hyphens and dashes: ‐ ‑ ‒ – — ― − (minus).
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some('-'),
        // Apostrophes and single quotes: ‘ ’ ‚ ‛ ′ ʼ ʹ ˈ ` ´.
        '\u{2018}'..='\u{201B}' | '\u{2032}' | '\u{02BC}' | '\u{02B9}' | '\u{02C8}' | '`' | '\u{00B4}' => Some('\''),
        // Spaces a keyboard or a paste may insert: no-break, en/em and thin spaces, ideographic.
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => Some(' '),
        // Invisible: soft hyphen, zero-width spaces and joiners, direction marks, word joiner, BOM.
        '\u{00AD}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}' => None,
        c => Some(c),
    }
}

/// The Latin letter a Cyrillic or Greek one is drawn like, when they look the same.
fn latin_look_alike(c: char) -> Option<char> {
    Some(match c {
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'Ј' => 'J',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'Ν' => 'N',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'Υ' | 'Ү' => 'Y',
        'Ζ' => 'Z',
        'а' => 'a',
        'с' => 'c',
        'е' => 'e',
        'і' => 'i',
        'ј' => 'j',
        'о' | 'ο' => 'o',
        'р' => 'p',
        'ѕ' => 's',
        'х' => 'x',
        'у' => 'y',
        _ => return None,
    })
}

/// Applies a step's cleaners in order.
pub fn clean_all(cleaners: &[Cleaner], input: &str) -> String {
    cleaners.iter().fold(input.to_string(), |text, cleaner| cleaner.apply(&text))
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
            "number_in_text" => Normalizer::NumberInText,
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
            // Fold before Trim: folding can leave spaces (`¨` is a space and
            // a mark), which Trim then collapses.
            "text" => vec![Fold, Trim, Upper],
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
            Normalizer::NumberInText => number_in_text(input),
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

fn number_in_text(input: &str) -> String {
    let ascii: String = ascii_digits(input).collect();
    let mut runs = ascii.split(|c: char| !c.is_ascii_digit()).filter(|run| !run.is_empty());
    match (runs.next(), runs.next()) {
        (Some(number), None) => number.to_string(),
        _ => input.to_string(),
    }
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

    /// Regression (tests/properties.rs): `text` trimmed before folding, and
    /// folding an accent typed alone leaves a space: `"¨"` gave `" "` (then
    /// `""` for that), and `"Jean ¨"` was not `"Jean"`.
    #[test]
    fn text_is_trimmed_after_folding() {
        let text = |input: &str| apply_all(&Normalizer::preset("text").unwrap(), input);
        assert_eq!(text("¨"), "");
        assert_eq!(text("Jean ¨"), "JEAN");
        assert_eq!(text("Jean ´ Paul"), "JEAN PAUL");
        assert_eq!(text(" Gédéon\u{a0}\u{a0}Kasa "), "GEDEON KASA");
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
    fn the_one_number_in_a_text_is_kept() {
        let year = |text| Normalizer::NumberInText.apply(text);
        assert_eq!(year("né en 1997"), "1997");
        assert_eq!(year("1997."), "1997");
        assert_eq!(year("１９９７ "), "1997");
        assert_eq!(year("1997"), "1997");
        // Two numbers, or none: left for a rule to refuse.
        assert_eq!(year("19 97"), "19 97");
        assert_eq!(year("douze"), "douze");
    }

    #[test]
    fn typography_gives_the_characters_people_mean() {
        let clean = |text| Cleaner::Typography.apply(text);
        assert_eq!(clean("Jean\u{2013}Paul"), "Jean-Paul");
        assert_eq!(clean("N\u{2019}Djamena N\u{02BC}Sele"), "N'Djamena N'Sele");
        assert_eq!(clean("Mbuji\u{00A0}Mayi"), "Mbuji Mayi");
        assert_eq!(clean("Mu\u{200B}kendi\u{00AD}\u{FEFF}"), "Mukendi");
    }

    #[test]
    fn look_alike_letters_become_latin_only_beside_latin_ones() {
        let clean = |text| Cleaner::LookAlikes.apply(text);
        assert_eq!(clean("\u{041C}bengue"), "Mbengue", "a Cyrillic М in a Latin name");
        assert_eq!(clean("K\u{0456}nshasa"), "Kinshasa");
        assert_eq!(clean("Мама"), "Мама", "a word in Cyrillic is left alone");
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(Normalizer::from_name("uppercase").is_none());
        assert!(Normalizer::preset("nom").is_none());
    }
}
