//! Check characters: a last character computed from the rest of a code
//! (Luhn mod 36 over `0–9A–Z`), so that a code typed from a card can be
//! checked before it is searched for in DHIS2 (`uic verify`).
//!
//! A flow asks for one in its formula, with the `check_character` filter over
//! the code made so far, last:
//!
//! ```text
//! {% set code %}{{ last_name | first(3) | pad(3) }}{{ gender }}{% endset %}{{ code }}{{ code | check_character }}
//! ```
//!
//! Luhn mod N catches every single wrong character, and every swap of two
//! neighbouring characters but one: `0` and `Z` (the first and last
//! characters of the alphabet, as `0` and `9` for the card-number Luhn).
//! Characters outside `0–9A–Z` (dashes, spaces) are skipped; lower case
//! counts as upper case.

use std::sync::LazyLock;

use regex::Regex;

use crate::core::flow::Flow;

/// The filter's name in formulas.
pub const FILTER: &str = "check_character";

/// The characters a check character covers and is chosen from, in the order
/// of their values (0 to 35).
pub const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const N: u32 = 36;

/// The Luhn mod 36 sum of `text`, doubling every second character from the
/// right, starting with the rightmost when `double_first`.
fn luhn_sum(text: &str, double_first: bool) -> u32 {
    let mut double = double_first;
    let mut sum = 0;
    for value in text.chars().rev().filter_map(|c| c.to_digit(N)) {
        let addend = if double { value * 2 } else { value };
        // The "digits" of the addend in base 36 (it is below 72, so two at most).
        sum += addend / N + addend % N;
        double = !double;
    }
    sum
}

/// The check character of `text`: the character that makes the Luhn mod 36
/// sum of `text` followed by it a multiple of 36.
pub fn check_character(text: &str) -> char {
    let remainder = luhn_sum(text, true) % N;
    let value = (N - remainder) % N;
    ALPHABET.as_bytes()[value as usize] as char
}

/// Whether the last character of `code` is the check character of the rest.
pub fn is_consistent(code: &str) -> bool {
    code.chars().any(|c| c.is_digit(N)) && luhn_sum(code, false).is_multiple_of(N)
}

/// Whether a flow's formula ends its codes with a check character.
pub fn has_check_character(flow: &Flow) -> bool {
    static USE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\|\s*check_character\b").expect("a valid regular expression"));
    USE.is_match(&flow.uic.formula)
}

/// What `uic verify` says of a code typed for a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It has the flow's form, and the flow has no check character.
    WellFormed,
    /// It has the flow's form and its check character is right.
    Consistent,
    /// It has the flow's form but its check character is wrong: a character
    /// was mistyped, or two swapped.
    Inconsistent,
    /// It does not have the flow's form (length, letters and digits in their places).
    Malformed,
}

impl Verdict {
    /// Whether the code may be searched for.
    pub fn is_good(self) -> bool {
        matches!(self, Verdict::WellFormed | Verdict::Consistent)
    }
}

/// `code` (already upper case, without spaces) against `flow`'s pattern and check character.
pub fn verify(flow: &Flow, code: &str) -> Verdict {
    if !flow.uic.pattern.is_match(code) {
        Verdict::Malformed
    } else if !has_check_character(flow) {
        Verdict::WellFormed
    } else if is_consistent(code) {
        Verdict::Consistent
    } else {
        Verdict::Inconsistent
    }
}

/// A code as a staff member may type it: spaces dropped, upper case.
pub fn typed(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_character_matches_a_published_luhn_mod_36_example() {
        // The Luhn mod N article's base-36 example, also in the npm package
        // calculate-luhn-mod-n: 1134806PJFB000010013CD18 → D.
        assert_eq!(check_character("1134806PJFB000010013CD18"), 'D');
        assert!(is_consistent("1134806PJFB000010013CD18D"));
        assert!(!is_consistent("1134806PJFB000010013CD18E"));
    }

    #[test]
    fn every_single_wrong_character_is_caught() {
        let code = format!("MBEIBR7DA1{}", check_character("MBEIBR7DA1"));
        assert!(is_consistent(&code));
        for at in 0..code.len() {
            for other in ALPHABET.chars().filter(|c| *c != code.as_bytes()[at] as char) {
                let mut typed = code.clone().into_bytes();
                typed[at] = other as u8;
                let typed = String::from_utf8(typed).unwrap();
                assert!(!is_consistent(&typed), "{typed} passes");
            }
        }
    }

    #[test]
    fn every_swap_of_neighbours_is_caught_but_zero_and_z() {
        // Every pair of different characters, swapped at an odd and an even
        // distance from the check character.
        let mut missed = Vec::new();
        for a in ALPHABET.chars() {
            for b in ALPHABET.chars().filter(|b| *b != a) {
                for body in [format!("KI{a}{b}"), format!("K{a}{b}")] {
                    let code = format!("{body}{}", check_character(&body));
                    let swapped = code.replacen(&format!("{a}{b}"), &format!("{b}{a}"), 1);
                    if is_consistent(&swapped) {
                        missed.push(format!("{a}{b}"));
                    }
                }
            }
        }
        missed.sort();
        missed.dedup();
        assert_eq!(missed, ["0Z", "Z0"]);
    }

    #[test]
    fn separators_and_case_do_not_count() {
        assert_eq!(check_character("mbeibr7da1"), check_character("MBEIBR7DA1"));
        assert_eq!(check_character("MBE-IBR-7-DA-1"), check_character("MBEIBR7DA1"));
        assert!(!is_consistent(""));
        assert_eq!(typed(" mbe ibr7da1a "), "MBEIBR7DA1A");
    }
}
