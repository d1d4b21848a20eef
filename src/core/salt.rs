//! The secret salt behind every keyed hash (SPEC §7). It is a type of its own so
//! that it can never be printed or logged by accident.

use std::fmt;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The secret salt. `Debug` prints `Salt(***)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(String);

/// Why a salt was refused; the message names the variable the operator set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaltError {
    #[error("UIC_SALT must be at least 16 characters long (it has {0}); `uic salt` prints a good one")]
    TooShort(usize),
    #[error(
        "UIC_SALT must mix at least three kinds of characters (lower-case, upper-case, digits, symbols); `uic salt` prints a good one"
    )]
    TooPlain,
}

/// The salt used by `uic lint` to evaluate examples and by tests: public, so
/// never used for real codes.
pub const TEST_SALT: &str = "Test-Salt-For-Examples-0123";

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.~";

impl Salt {
    /// Checks the rules of SPEC §7: at least 16 characters of mixed kinds.
    pub fn parse(value: &str) -> Result<Salt, SaltError> {
        let length = value.chars().count();
        if length < 16 {
            return Err(SaltError::TooShort(length));
        }
        let kinds = [
            value.chars().any(|c| c.is_lowercase()),
            value.chars().any(|c| c.is_uppercase()),
            value.chars().any(|c| c.is_ascii_digit()),
            value.chars().any(|c| !c.is_alphanumeric()),
        ];
        if kinds.iter().filter(|k| **k).count() < 3 {
            return Err(SaltError::TooPlain);
        }
        Ok(Salt(value.to_string()))
    }

    /// A new salt of 32 characters that passes [`Salt::parse`]; `random(n)`
    /// picks an index below `n` (the caller's randomness: the core has none).
    pub fn generate(mut random: impl FnMut(usize) -> usize) -> Salt {
        loop {
            let value: String = (0..32).map(|_| ALPHABET[random(ALPHABET.len())] as char).collect();
            if let Ok(salt) = Salt::parse(&value) {
                return salt;
            }
        }
    }

    /// The public salt used for examples and tests.
    pub fn for_tests() -> Salt {
        Salt(TEST_SALT.to_string())
    }

    /// The secret itself, for the one place that must write it down (`uic salt`,
    /// the development salt file).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// HMAC-SHA-256 of `message` keyed with the salt, as lower-case hex.
    pub fn hmac_hex(&self, message: &str) -> String {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// SHA-256 of `message` followed by the salt, as lower-case hex (the legacy
    /// format of seed 002 hashes this way).
    pub fn salted_sha256_hex(&self, message: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(message.as_bytes());
        hasher.update(self.0.as_bytes());
        hex::encode(hasher.finalize())
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_plain_salts_are_refused() {
        assert_eq!(Salt::parse("Ab1-short"), Err(SaltError::TooShort(9)));
        assert_eq!(Salt::parse("aaaaaaaaaaaaaaaaaaaa"), Err(SaltError::TooPlain));
        assert_eq!(Salt::parse("aaaaaaaaaaAAAAAAAAAA"), Err(SaltError::TooPlain));
        assert!(Salt::parse("aaaaaaaaaaAAAAAAAAA1").is_ok());
        assert!(Salt::parse(TEST_SALT).is_ok());
    }

    #[test]
    fn generated_salts_pass_the_rules_and_differ() {
        let a = Salt::generate(crate::support::ids::random_index);
        let b = Salt::generate(crate::support::ids::random_index);
        assert!(Salt::parse(a.expose()).is_ok());
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let salt = Salt::parse("Very-Secret-Salt-123").unwrap();
        assert_eq!(format!("{salt:?}"), "Salt(***)");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let salt = Salt("Jefe".to_string());
        assert_eq!(
            salt.hmac_hex("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn salted_sha256_appends_the_salt() {
        let salt = Salt("salt".to_string());
        // sha256("abcsalt")
        let expected = hex::encode(Sha256::digest(b"abcsalt"));
        assert_eq!(salt.salted_sha256_hex("abc"), expected);
    }
}
