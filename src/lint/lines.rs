//! Where each node of a YAML file starts, so a problem found in the parsed
//! value (by the schema or by our checks) can name its line.

use std::collections::HashMap;

use crate::core::diagnostic::LineMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

impl LineMap {
    /// Maps a YAML text; a text that does not parse maps nothing (the syntax
    /// error is reported elsewhere, with its own line).
    pub fn of(text: &str) -> LineMap {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return LineMap::default();
        }
        LineMap { lines: builder.lines }
    }
}

enum Frame {
    Map { key: Option<String> },
    Seq { next: usize },
}

#[derive(Default)]
struct Builder {
    lines: HashMap<String, usize>,
    stack: Vec<(String, Frame)>,
}

impl Builder {
    /// The pointer of the node about to start, and whether it is a mapping key.
    fn place(&mut self) -> (Option<String>, bool) {
        match self.stack.last_mut() {
            None => (Some(String::new()), false),
            Some((path, Frame::Map { key: None })) => (Some(path.clone()), true),
            Some((path, Frame::Map { key: Some(key) })) => (Some(format!("{path}/{}", escape(key))), false),
            Some((path, Frame::Seq { next })) => (Some(format!("{path}/{next}")), false),
        }
    }

    /// Called when a value node is complete: the parent moves on.
    fn finish_value(&mut self) {
        match self.stack.last_mut() {
            Some((_, Frame::Map { key })) => *key = None,
            Some((_, Frame::Seq { next })) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(value, ..) => {
                let (pointer, is_key) = self.place();
                if is_key {
                    if let Some((path, Frame::Map { key })) = self.stack.last_mut() {
                        self.lines.insert(format!("{path}/{}", escape(&value)), line);
                        *key = Some(value);
                    }
                } else {
                    if let Some(pointer) = pointer {
                        self.lines.entry(pointer).or_insert(line);
                    }
                    self.finish_value();
                }
            }
            Event::Alias(_) => self.finish_value(),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let (pointer, is_key) = self.place();
                // A complex key is legal YAML but never valid in a flow: map it under
                // a placeholder so the rest of the file still maps.
                let pointer = if is_key { None } else { pointer };
                let path = pointer.unwrap_or_else(|| "/?".to_string());
                self.lines.entry(path.clone()).or_insert(line);
                let frame = match event {
                    Event::MappingStart(..) => Frame::Map { key: None },
                    _ => Frame::Seq { next: 0 },
                };
                self.stack.push((path, frame));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.finish_value();
            }
            _ => {}
        }
    }
}

/// JSON-pointer escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
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
    fn broken_yaml_maps_nothing() {
        let map = LineMap::of("a: [1, 2\nb: c");
        assert_eq!(map.line("/a"), None);
    }
}
