//! Reading flow files: YAML syntax, the JSON Schema, `extends`, then the typed
//! build. Every problem becomes a diagnostic naming the file and line.

use std::collections::{BTreeMap, BTreeSet};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::source::FLOW_SCHEMA;
use crate::core::diagnostic::{Diagnostic, LineMap, Origin, SourceFile};
use crate::core::flow::Flow;
use crate::core::flow::raw::RawFlow;
use crate::core::suggest::closest;

/// The first line every flow file carries so editors validate it.
pub const SCHEMA_COMMENT: &str = "# yaml-language-server: $schema=";

/// A flow and where it was written.
#[derive(Debug)]
pub struct LoadedFlow {
    pub flow: Flow,
    pub origin: Origin,
}

struct Document {
    value: Value,
    origin: Origin,
}

/// Loads every flow it can; problems come back as diagnostics.
pub fn load_flows(files: &[SourceFile]) -> (Vec<LoadedFlow>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let schema: Value = serde_json::from_str(FLOW_SCHEMA).expect("the embedded schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the embedded schema is valid");
    let known_keys = schema_keys(&schema);

    let mut documents: BTreeMap<String, Document> = BTreeMap::new();
    for file in files {
        let Some(document) = read_document(file, &validator, &known_keys, &mut diagnostics) else { continue };
        let id = document.value.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(previous) = documents.get(&id) {
            diagnostics.push(
                document.origin.diagnostic("/id", format!("flow id `{id}` is also used by {}", previous.origin.file)),
            );
            continue;
        }
        documents.insert(id, document);
    }

    let mut flows = Vec::new();
    for id in documents.keys() {
        let Some((value, origin)) = resolve(id, &documents, &mut Vec::new(), &mut diagnostics) else { continue };
        let raw: RawFlow = match serde_json::from_value(value) {
            Ok(raw) => raw,
            Err(error) => {
                diagnostics.push(Diagnostic::error(origin.file.clone(), None, format!("cannot read flow: {error}")));
                continue;
            }
        };
        let line_of = |pointer: &str| origin.locate(pointer).1;
        match Flow::build(raw, &line_of) {
            Ok(flow) => flows.push(LoadedFlow { flow, origin }),
            Err(problems) => {
                diagnostics.extend(problems.into_iter().map(|p| origin.diagnostic(&p.pointer, p.message)));
            }
        }
    }
    (flows, diagnostics)
}

fn read_document(
    file: &SourceFile,
    validator: &jsonschema::Validator,
    known_keys: &BTreeSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Document> {
    let value: Value = match serde_yaml::from_str(&file.text) {
        Ok(value) => value,
        Err(error) => {
            let (line, message) = plain_yaml_error(&error, &file.text);
            diagnostics.push(Diagnostic::error(&file.path, line, message));
            return None;
        }
    };
    let origin = Origin { file: file.path.clone(), lines: LineMap::of(&file.text), inherited: BTreeMap::new() };
    if !file.text.starts_with(SCHEMA_COMMENT) {
        diagnostics.push(Diagnostic::warning(
            &file.path,
            Some(1),
            format!("the first line should be `{SCHEMA_COMMENT}../schemas/flow.schema.json` so editors check the file"),
        ));
    }
    let errors: Vec<_> = validator.iter_errors(&value).collect();
    // A misspelt key also leaves the key meant missing: the "did you mean" says it all.
    let mut meant: BTreeSet<(String, String)> = BTreeSet::new();
    for error in &errors {
        if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind() {
            let path = error.instance_path().as_str();
            for key in unexpected {
                let message = match closest(key, known_keys) {
                    Some(hint) => {
                        meant.insert((path.to_string(), hint.to_string()));
                        format!("unknown key `{key}` (did you mean `{hint}`?)")
                    }
                    None => format!("unknown key `{key}`"),
                };
                diagnostics.push(origin.diagnostic(&format!("{path}/{key}"), message));
            }
        }
    }
    for error in &errors {
        let path = error.instance_path().as_str().to_string();
        let at = if path.is_empty() { "the flow".to_string() } else { format!("`{}`", yaml_path(&path)) };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { .. } => {}
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
                if !meant.contains(&(path.clone(), key.clone())) {
                    diagnostics.push(origin.diagnostic(&path, format!("{at} is missing the required key `{key}`")));
                }
            }
            _ => diagnostics.push(origin.diagnostic(&path, format!("{at}: {error}"))),
        }
    }
    errors.is_empty().then_some(Document { value, origin })
}

/// serde_yaml's message without the position of the problem, which the
/// diagnostic gives as its line; the position of what encloses it
/// (`while parsing a flow sequence at line 5 column 12`) stays.
fn yaml_error_text(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    let Some(location) = error.location() else { return text };
    text.replacen(&format!(" at line {} column {}", location.line(), location.column()), "", 1)
}

/// A JSON pointer as the path staff see in the YAML: `/steps/5/choices/1`
/// is `steps[6].choices[2]`, items counted from 1 as people count them.
pub fn yaml_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        match segment.parse::<usize>() {
            Ok(index) => path.push_str(&format!("[{}]", index + 1)),
            Err(_) if path.is_empty() => path.push_str(&segment),
            Err(_) => path.push_str(&format!(".{segment}")),
        }
    }
    path
}

/// A YAML syntax error in words staff understand: what is wrong on the line
/// and how to fix it, instead of the parser's terms. The line is the one to
/// edit (for an unclosed quote, where the quote opens). Errors not recognised
/// keep the parser's text.
fn plain_yaml_error(error: &serde_yaml::Error, text: &str) -> (Option<usize>, String) {
    let raw = yaml_error_text(error);
    let line = error.location().map(|l| l.line());
    // The position of what encloses the problem: "while parsing … at line 5 column 12".
    let opened = raw
        .rsplit_once(" at line ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|number| number.parse::<usize>().ok());
    let source_line = |n: Option<usize>| n.and_then(|n| text.lines().nth(n - 1)).unwrap_or_default();
    let here = source_line(line);
    let since = |what: &str| opened.map_or(String::new(), |n| format!(" ({what} line {n})"));
    let message = if raw.contains("did not find expected ',' or ']'") {
        format!(
            "a list in square brackets is not closed{}: add the `]` at its end, and commas between its items",
            since("opened on")
        )
    } else if raw.contains("did not find expected ',' or '}'") {
        format!(
            "a mapping in curly braces is not closed{}: add the `}}` at its end, and commas between its entries",
            since("opened on")
        )
    } else if raw.contains("tab character") || (raw.contains("cannot start any token") && here.contains('\t')) {
        "this line is indented with a tab: YAML needs spaces, replace the tab with spaces".to_string()
    } else if raw.contains("unknown escape character") {
        let escape = unknown_escape(here).map_or(String::new(), |c| format!(" — write `\\\\{c}` instead of `\\{c}`"));
        format!("a backslash inside double quotes must be doubled{escape}, or put the text in single quotes")
    } else if raw.contains("did not find expected '-' indicator") || raw.contains("did not find expected key") {
        let indent = |l: &str| l.len() - l.trim_start().len();
        // The item above that this one should line up with: the nearest
        // `-` indented more than this line.
        let item_above = line.and_then(|n| {
            let above: Vec<&str> = text.lines().take(n - 1).collect();
            above.iter().rposition(|l| l.trim_start().starts_with('-') && indent(l) > indent(here)).map(|i| i + 1)
        });
        if let (true, Some(item)) = (here.trim_start().starts_with('-'), item_above) {
            format!(
                "this line is indented less than the list it belongs to: line up its `-` with the `-` on line {item}"
            )
        } else {
            format!(
                "this line is not indented like the entries around it{}: line it up with the keys it belongs with",
                since("in the block starting on")
            )
        }
    } else if raw.contains("mapping values are not allowed") {
        let example = here.split_once(": ").map_or(String::new(), |(key, value)| {
            format!(", e.g. `{}: \"{}\"`", key.trim(), value.trim().replace('"', "\\\""))
        });
        format!(
            "a colon followed by a space starts a new key, and this line already has one: put the value in quotes{example}"
        )
    } else if raw.contains("end of stream") && raw.contains("quoted scalar") {
        let quote = opened
            .map(|n| source_line(Some(n)))
            .and_then(|l| l.chars().find(|c| *c == '"' || *c == '\''))
            .unwrap_or('"');
        let message =
            format!("this quote `{quote}` is never closed: add the closing `{quote}` at the end of the value");
        return (opened.or(line), message);
    } else if raw.contains("could not find expected ':'") {
        "a key must be followed by `: `; if this line continues the text above, put that text in quotes".to_string()
    } else {
        format!("YAML syntax: {raw}")
    };
    (line, message)
}

/// The first character after a backslash that YAML's double quotes do not know.
fn unknown_escape(line: &str) -> Option<char> {
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next()?;
            if !"0abtnvfre \"/\\N_LPxuU\t".contains(next) {
                return Some(next);
            }
        }
    }
    None
}

/// The flow `id` with what it builds on merged in: its own top-level keys win.
fn resolve(
    id: &str,
    documents: &BTreeMap<String, Document>,
    chain: &mut Vec<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Value, Origin)> {
    let document = documents.get(id)?;
    let Some(base_id) = document.value.get("extends").and_then(Value::as_str) else {
        return Some((document.value.clone(), document.origin.clone()));
    };
    chain.push(id.to_string());
    if chain.iter().any(|seen| seen == base_id) {
        diagnostics
            .push(document.origin.diagnostic("/extends", format!("flow `{id}` builds on itself through `{base_id}`")));
        return None;
    }
    if !documents.contains_key(base_id) {
        diagnostics.push(document.origin.diagnostic("/extends", format!("`extends` names unknown flow `{base_id}`")));
        return None;
    }
    // A base that fails is reported on its own; the flow building on it is skipped.
    let (base_value, base_origin) = resolve(base_id, documents, chain, &mut Vec::new())?;
    let mut merged = base_value.as_object().cloned().unwrap_or_default();
    let mut origin = document.origin.clone();
    for key in merged.keys() {
        if document.value.get(key).is_none() {
            origin.inherited.insert(key.clone(), base_origin.clone());
        }
    }
    if let Some(own) = document.value.as_object() {
        for (key, value) in own {
            merged.insert(key.clone(), value.clone());
        }
    }
    merged.remove("extends");
    Some((Value::Object(merged), origin))
}

/// Every property name the schema knows, for "did you mean" hints.
fn schema_keys(schema: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut stack = vec![schema];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    keys.extend(properties.keys().cloned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_the_paths_staff_see() {
        assert_eq!(yaml_path("/steps/5/choices/1/synonyms"), "steps[6].choices[2].synonyms");
        assert_eq!(yaml_path("/version"), "version");
        assert_eq!(yaml_path("/steps/0"), "steps[1]");
        assert_eq!(yaml_path("/dhis2/attributes/a~1b"), "dhis2.attributes.a/b");
    }

    #[test]
    fn misspellings_find_the_key_meant() {
        let known: BTreeSet<String> =
            ["steps", "prompt", "validate", "version"].iter().map(|s| s.to_string()).collect();
        assert_eq!(closest("stpes", &known), Some("steps"));
        assert_eq!(closest("promt", &known), Some("prompt"));
        assert_eq!(closest("validation", &known), None);
        assert_eq!(closest("colour", &known), None);
    }
}
