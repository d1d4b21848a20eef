//! "Did you mean …?" for names staff misspell: step ids, keys, filters.

use std::collections::BTreeSet;

/// The known name nearest to a misspelt one, if it is close enough to be meant:
/// at most two edits, or a quarter of the name for long ones, a swap of two
/// neighbours counting as one edit (optimal string alignment).
pub fn closest<'a>(name: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::osa_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_swap_of_neighbours_is_one_edit() {
        let names = known(&["prompt", "choices", "normalize"]);
        assert_eq!(closest("promtp", &names), Some("prompt"));
        assert_eq!(closest("normalise", &names), Some("normalize"));
        assert_eq!(closest("colour", &names), None);
    }
}
