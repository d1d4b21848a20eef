//! Randomness: the unguessable part of a QR image's URL, request ids in logs,
//! names of in-memory databases, new salts.

use rand::RngExt;

/// 128 random bits as 32 lower-case hex characters.
pub fn token() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// A random index below `n` (for a new salt).
pub fn random_index(n: usize) -> usize {
    rand::rng().random_range(0..n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_32_lower_case_hex_and_random() {
        let token = token();
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_ne!(token, super::token());
    }
}
