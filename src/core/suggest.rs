//! "Did you mean …?" for names staff misspell: step ids, keys, filters.

use std::collections::BTreeSet;

/// The known name nearest to a misspelt one, if it is close enough to be meant:
/// one edit for names of up to four characters (two edits would turn `fr`
/// into `id`: a guess, not a hint), two up to eight, a quarter of the name
/// beyond; a swap of two neighbours counts as one edit (optimal string alignment).
pub fn closest<'a>(name: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::osa_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| {
            let shorter = name.chars().count().min(candidate.chars().count());
            let allowed = match shorter {
                0..=4 => 1,
                5..=8 => 2,
                _ => shorter / 4,
            };
            *distance <= allowed && *distance < shorter
        })
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

    #[test]
    fn short_names_get_a_hint_only_when_one_edit_away() {
        let names = known(&["id", "pad", "steps", "uic"]);
        assert_eq!(closest("fr", &names), None);
        assert_eq!(closest("en", &names), None);
        assert_eq!(closest("padd", &names), Some("pad"));
        assert_eq!(closest("ud", &names), Some("id"));
    }
}
