//! Where each node of a YAML file starts, so a problem found in the parsed
//! value (by the schema or by our checks) can name its line.
//!
//! serde_yaml, the parser that reads flow files, says it: an error that a
//! `Deserialize` implementation raises (`de::Error::custom`) comes back with
//! the position of the node being read. So the text is read again along the
//! JSON pointer, skipping everything else, and the reading fails on purpose
//! at the node sought: the error's line is the node's. A mapping entry's line
//! is its key's; a sequence item's is where the item starts.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::core::diagnostic::{LineMap, Located};

impl LineMap {
    /// The lines of a YAML text, each found when asked; a text that does not
    /// parse has none (the syntax error is reported elsewhere, with its own line).
    pub fn of(text: &str) -> LineMap {
        LineMap { text: Arc::from(text), locate }
    }
}

/// The message of the error raised on reaching the node sought; nothing
/// serde_yaml says of a YAML text contains it.
const FOUND: &str = "\u{0}the node sought";

/// The line of the node at `pointer` in `text`.
fn locate(text: &str, pointer: &str) -> Located {
    // serde_yaml reads a document up to a syntax error and reports it only
    // after the reading succeeded: a node before it would seem to have a line.
    if serde_yaml::from_str::<IgnoredAny>(text).is_err() {
        return Located::Unreadable;
    }
    let path: Vec<String> = match pointer.strip_prefix('/') {
        None if pointer.is_empty() => Vec::new(),
        None => return Located::Absent,
        Some(path) => path.split('/').map(|segment| segment.replace("~1", "/").replace("~0", "~")).collect(),
    };
    let seek = Seek { path: &path };
    match seek.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(()) => Located::Absent,
        Err(error) if error.to_string().contains(FOUND) => {
            error.location().map_or(Located::Unreadable, |location| Located::Line(location.line()))
        }
        Err(_) => Located::Unreadable,
    }
}

/// Reads one node: `Ok` when the node at `path` (relative to this one) is not
/// there, the error [`FOUND`] when it is this node or below it.
struct Seek<'p> {
    path: &'p [String],
}

impl Seek<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() { Err(E::custom(FOUND)) } else { Ok(()) }
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return Err(de::Error::custom(FOUND)) };
        // A JSON-pointer index: digits, without leading zeros.
        let wanted = first
            .parse::<usize>()
            .ok()
            .filter(|_| first.bytes().all(|b| b.is_ascii_digit()) && (first == "0" || !first.starts_with('0')));
        // Every item is read, even past the one sought: serde_yaml wants a sequence read to its end.
        for index in 0.. {
            let more = if Some(index) == wanted {
                items.next_element_seed(Seek { path: rest })?.is_some()
            } else {
                items.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return Err(de::Error::custom(FOUND)) };
        while let Some(matches) = entries.next_key_seed(Key { wanted: first, last: rest.is_empty() })? {
            if matches {
                entries.next_value_seed(Seek { path: rest })?;
            } else {
                entries.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads a mapping key, as serde_json reads it into a `Value` (a string):
/// whether it is the one sought, or the error [`FOUND`] when the entry is the
/// node sought (its line is its key's).
struct Key<'a> {
    wanted: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        match key == self.wanted {
            true if self.last => Err(E::custom(FOUND)),
            matches => Ok(matches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# comment\nid: demo\nsteps:\n  - id: one\n    validate:\n      - regex: 'a'\n        error: e\n  - id: two\nnested: {a: 1, b: [x, y]}\n";

    #[test]
    fn keys_and_items_map_to_their_lines() {
        let map = LineMap::of(TEXT);
        assert_eq!(map.line("/id"), Some(2));
        assert_eq!(map.line("/steps"), Some(3));
        assert_eq!(map.line("/steps/0"), Some(4));
        assert_eq!(map.line("/steps/0/id"), Some(4));
        assert_eq!(map.line("/steps/0/validate/0/regex"), Some(6));
        assert_eq!(map.line("/steps/0/validate/0/error"), Some(7));
        assert_eq!(map.line("/steps/1/id"), Some(8));
        assert_eq!(map.line("/nested/b/1"), Some(9));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_closest_ancestor() {
        let map = LineMap::of(TEXT);
        assert_eq!(map.line("/steps/1/prompt"), Some(8));
        assert_eq!(map.line("/nope"), map.line(""));
    }

    #[test]
    fn escaped_keys_aliases_and_bad_indices() {
        let text = "a/b: 1\n\"t~x\": 2\nbase: &b\n  k: v\nuse: *b\nlist:\n  - x\n  -\n    y: z\n";
        let map = LineMap::of(text);
        assert_eq!(map.line("/a~1b"), Some(1));
        assert_eq!(map.line("/t~0x"), Some(2));
        // Through an alias, the node is where its anchor is.
        assert_eq!(map.line("/use"), Some(5));
        assert_eq!(map.line("/use/k"), Some(4));
        assert_eq!(map.line("/list/1/y"), Some(9));
        // Not indices: the list itself.
        assert_eq!(map.line("/list/01"), Some(6));
        assert_eq!(map.line("/list/+1"), Some(6));
        assert_eq!(map.line("/list/9"), Some(6));
    }

    #[test]
    fn broken_yaml_maps_nothing() {
        let map = LineMap::of("a: [1, 2\nb: c");
        assert_eq!(map.line("/a"), None);
    }
}
