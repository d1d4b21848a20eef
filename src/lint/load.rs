//! Reading flow files: YAML syntax, the JSON Schema, `extends`, then the typed
//! build. Every problem becomes a diagnostic naming the file and line.

use std::collections::{BTreeMap, BTreeSet};

use jsonschema::error::{TypeKind, ValidationError, ValidationErrorKind};
use serde_json::Value;

use super::source::FLOW_SCHEMA;
use crate::core::diagnostic::{Diagnostic, LineMap, Origin, SourceFile, Wording};
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
pub fn load_flows(files: &[SourceFile], tables: &[SourceFile]) -> (Vec<LoadedFlow>, Vec<Diagnostic>) {
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
                document.origin.diagnostic(
                    "/id",
                    Wording::new("flow-id-taken").text("id", &id).text("file", &previous.origin.file),
                ),
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
                let message = Wording::new("flow-unreadable").text("detail", error);
                diagnostics.push(Diagnostic::error(origin.file.clone(), None, message));
                continue;
            }
        };
        let line_of = |pointer: &str| origin.locate(pointer).1;
        match Flow::build(raw, &line_of) {
            Ok(mut flow) => {
                if super::lookup::attach_tables(&mut flow, &origin, tables, &mut diagnostics) {
                    flows.push(LoadedFlow { flow, origin });
                }
            }
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
            Wording::new("schema-comment").text("comment", SCHEMA_COMMENT),
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
                        Wording::new("schema-unknown-key-hint").text("key", key).text("hint", hint)
                    }
                    None => Wording::new("schema-unknown-key").text("key", key),
                };
                diagnostics.push(origin.diagnostic(&format!("{path}/{key}"), message));
            }
        }
    }
    for error in &errors {
        let path = error.instance_path().as_str().to_string();
        let at = || match path.as_str() {
            "" => Wording::new("schema-at-root"),
            _ => Wording::new("schema-at-path").text("path", yaml_path(&path)),
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { .. } => {}
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
                if !meant.contains(&(path.clone(), key.clone())) {
                    let message = Wording::new("schema-required").wording("at", at()).text("key", key);
                    diagnostics.push(origin.diagnostic(&path, message));
                }
            }
            _ => diagnostics.push(origin.diagnostic(&path, schema_wording(error, at()))),
        }
    }
    errors.is_empty().then_some(Document { value, origin })
}

/// A schema violation other than a key missing or unknown, in plain words:
/// what is there and what is wanted, not the validator's terms.
fn schema_wording(error: &ValidationError, at: Wording) -> Wording {
    let value = shown(error.instance());
    let wording = |id: &'static str| Wording::new(id).wording("at", at.clone());
    match error.kind() {
        ValidationErrorKind::Type { kind: TypeKind::Single(wanted) } => {
            wording("schema-type").text("value", value).wording("expected", Wording::new(type_id(wanted.as_str())))
        }
        ValidationErrorKind::Enum { options } => {
            wording("schema-enum").text("value", value).text("options", shown(options))
        }
        ValidationErrorKind::Constant { expected_value } => {
            wording("schema-const").text("expected", shown(expected_value))
        }
        ValidationErrorKind::Pattern { pattern } => {
            wording("schema-pattern").text("value", value).text("pattern", pattern)
        }
        ValidationErrorKind::MinLength { limit } => {
            wording("schema-min-length").text("value", value).number("limit", *limit as usize)
        }
        ValidationErrorKind::Minimum { limit } => {
            wording("schema-minimum").text("value", value).text("limit", shown(limit))
        }
        ValidationErrorKind::MinItems { limit } => wording("schema-min-items").number("limit", *limit as usize),
        ValidationErrorKind::MinProperties { limit } => {
            wording("schema-min-properties").number("limit", *limit as usize)
        }
        ValidationErrorKind::UniqueItems => wording("schema-unique-items").text("value", value),
        _ => wording("schema-other").text("detail", error),
    }
}

/// The message id of a JSON type's name for staff ("a whole number").
fn type_id(name: &str) -> &'static str {
    match name {
        "integer" => "type-integer",
        "number" => "type-number",
        "string" => "type-string",
        "boolean" => "type-boolean",
        "array" => "type-array",
        "object" => "type-object",
        _ => "type-null",
    }
}

/// A value as written in JSON, cut short when long (a whole step, say).
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
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
fn plain_yaml_error(error: &serde_yaml::Error, text: &str) -> (Option<usize>, Wording) {
    let raw = yaml_error_text(error);
    let line = error.location().map(|l| l.line());
    // The position of what encloses the problem: "while parsing … at line 5 column 12".
    let opened = raw
        .rsplit_once(" at line ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|number| number.parse::<usize>().ok());
    let source_line = |n: Option<usize>| n.and_then(|n| text.lines().nth(n - 1)).unwrap_or_default();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let here = source_line(line);
    // Where what encloses the problem opened; 0 when unknown.
    let opened_line = opened.unwrap_or(0);
    let message = if raw.contains("did not find expected ',' or ']'") {
        Wording::new("yaml-list-unclosed").number("opened", opened_line)
    } else if raw.contains("did not find expected ',' or '}'") {
        Wording::new("yaml-mapping-unclosed").number("opened", opened_line)
    } else if raw.contains("tab character") || (raw.contains("cannot start any token") && here.contains('\t')) {
        Wording::new("yaml-tab")
    } else if raw.contains("unknown escape character") {
        match unknown_escape(here) {
            Some(c) => Wording::new("yaml-backslash-escape").text("char", c),
            None => Wording::new("yaml-backslash"),
        }
    } else if raw.contains("did not find expected '-' indicator") || raw.contains("did not find expected key") {
        // The item above that this one should line up with: the nearest
        // `-` indented more than this line.
        let item_above = line.and_then(|n| {
            let above: Vec<&str> = text.lines().take(n - 1).collect();
            above.iter().rposition(|l| l.trim_start().starts_with('-') && indent(l) > indent(here)).map(|i| i + 1)
        });
        if let (true, Some(item)) = (here.trim_start().starts_with('-'), item_above) {
            Wording::new("yaml-item-dedented").number("item", item)
        } else {
            Wording::new("yaml-not-aligned").number("opened", opened_line)
        }
    } else if raw.contains("mapping values are not allowed") {
        // A key indented deeper than the `key: value` above it reads as the
        // rest of that value: it is the indentation that is wrong, not quotes.
        let above = line.and_then(|n| {
            let lines: Vec<&str> = text.lines().take(n - 1).collect();
            lines
                .iter()
                .rposition(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|i| (i + 1, lines[i]))
        });
        let over_indented = above.and_then(|(number, above)| {
            let item = above.trim_start().strip_prefix("- ").map_or(0, |_| 2);
            let key_column = indent(above) + item;
            let (key, value) = above.trim_start().trim_start_matches("- ").split_once(':')?;
            (indent(here) > key_column && !value.trim().is_empty()).then(|| (number, key.trim().to_string()))
        });
        if let Some((number, key)) = over_indented {
            Wording::new("yaml-over-indented").text("key", key).number("line", number)
        } else {
            match here.split_once(": ") {
                Some((key, value)) => Wording::new("yaml-colon-in-value-example")
                    .text("key", key.trim())
                    .text("value", value.trim().replace('"', "\\\"")),
                None => Wording::new("yaml-colon-in-value"),
            }
        }
    } else if raw.contains("end of stream") && raw.contains("quoted scalar") {
        let quote = opened
            .map(|n| source_line(Some(n)))
            .and_then(|l| l.chars().find(|c| *c == '"' || *c == '\''))
            .unwrap_or('"');
        return (opened.or(line), Wording::new("yaml-quote-unclosed").text("quote", quote));
    } else if raw.contains("could not find expected ':'") {
        Wording::new("yaml-expected-colon")
    } else {
        Wording::new("yaml-other").text("detail", raw)
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
        let message = Wording::new("flow-extends-itself").text("id", id).text("base", base_id);
        diagnostics.push(document.origin.diagnostic("/extends", message));
        return None;
    }
    if !documents.contains_key(base_id) {
        let message = Wording::new("flow-extends-unknown").text("base", base_id);
        diagnostics.push(document.origin.diagnostic("/extends", message));
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
