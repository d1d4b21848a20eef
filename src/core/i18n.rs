//! Every word a person reads comes from Fluent files under `locales/<lang>/`.
//! This module loads them, formats messages, and describes each message (file,
//! line, variables) for `uic lint`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use fluent_syntax::ast;
use fluent_syntax::parser::ErrorKind as ParserErrorKind;
use unic_langid::LanguageIdentifier;

use crate::core::diagnostic::{Diagnostic, SourceFile, Wording};

/// A value given to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Number(i64),
}

pub type Args = Vec<(&'static str, Arg)>;

/// Where a message is defined and which variables it uses.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub file: String,
    pub line: usize,
    pub variables: BTreeSet<String>,
}

/// All messages of all languages.
pub struct Texts {
    bundles: HashMap<String, FluentBundle<FluentResource>>,
    catalog: BTreeMap<String, BTreeMap<String, MessageInfo>>,
    /// Language → ids of messages written with a syntax error (reported by `load`).
    broken: BTreeMap<String, BTreeSet<String>>,
    /// File → its language and the ids of the messages it defines or tries
    /// to (broken ones included), to tell which flows an error in it affects.
    files: BTreeMap<String, (String, BTreeSet<String>)>,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Texts").field("languages", &self.catalog.keys().collect::<Vec<_>>()).finish()
    }
}

impl Texts {
    /// Loads locale files (language, file). Problems come back as diagnostics;
    /// what did parse is kept, so one bad message does not hide the others.
    pub fn load(files: &[(String, SourceFile)]) -> (Texts, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut bundles: HashMap<String, FluentBundle<FluentResource>> = HashMap::new();
        let mut catalog: BTreeMap<String, BTreeMap<String, MessageInfo>> = BTreeMap::new();
        let mut broken: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut files_ids: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();

        for (language, file) in files {
            let Ok(langid) = language.parse::<LanguageIdentifier>() else {
                let message = Wording::new("fluent-not-a-language").text("language", language);
                diagnostics.push(Diagnostic::error(&file.path, None, message));
                continue;
            };
            let resource = match FluentResource::try_new(file.text.clone()) {
                Ok(resource) => resource,
                Err((resource, errors)) => {
                    for error in errors {
                        let line = line_at(&file.text, error_offset(&file.text, error.pos.start));
                        let what = fluent_reason(&error.kind);
                        let entry = error.slice.clone().and_then(|slice| file.text.get(slice)).and_then(entry_id);
                        let message = match entry {
                            Some(id) => {
                                broken.entry(language.clone()).or_default().insert(id.to_string());
                                let (_, ids) = files_ids
                                    .entry(file.path.clone())
                                    .or_insert_with(|| (language.clone(), BTreeSet::new()));
                                ids.insert(id.to_string());
                                Wording::new("fluent-syntax-in-message").text("id", id).wording("detail", what)
                            }
                            None => Wording::new("fluent-syntax").wording("detail", what),
                        };
                        diagnostics.push(Diagnostic::error(&file.path, Some(line), message));
                    }
                    resource
                }
            };
            let messages = catalog.entry(language.clone()).or_default();
            for (id, info) in describe(&file.path, &file.text) {
                let (_, ids) =
                    files_ids.entry(file.path.clone()).or_insert_with(|| (language.clone(), BTreeSet::new()));
                ids.insert(id.clone());
                if let Some(previous) = messages.get(&id) {
                    diagnostics.push(Diagnostic::error(
                        &file.path,
                        Some(info.line),
                        Wording::new("message-defined-twice")
                            .text("id", &id)
                            .text("language", language)
                            .text("place", format!("{}:{}", previous.file, previous.line)),
                    ));
                    continue;
                }
                messages.insert(id, info);
            }
            let bundle = bundles.entry(language.clone()).or_insert_with(|| {
                let mut bundle = FluentBundle::new_concurrent(vec![langid]);
                // WhatsApp shows text as it is: no Unicode isolation marks around values.
                bundle.set_use_isolating(false);
                bundle
            });
            // `add_resource` refuses only ids already defined, which were reported
            // above; the first definition stays.
            let _ = bundle.add_resource(resource);
        }
        (Texts { bundles, catalog, broken, files: files_ids }, diagnostics)
    }

    /// Whether `id` is written in `language` but with a syntax error, which
    /// [`Texts::load`] reported: not missing, only broken.
    pub fn is_broken(&self, language: &str, id: &str) -> bool {
        self.broken.get(language).is_some_and(|ids| ids.contains(id))
    }

    /// The language of a locale file and the ids of the messages written in
    /// it (those with a syntax error included); `None` for a file not loaded.
    pub fn written_in(&self, file: &str) -> Option<(&str, &BTreeSet<String>)> {
        self.files.get(file).map(|(language, ids)| (language.as_str(), ids))
    }

    /// The languages that have at least one file.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.catalog.keys().map(String::as_str)
    }

    pub fn message(&self, language: &str, id: &str) -> Option<&MessageInfo> {
        self.catalog.get(language)?.get(id)
    }

    /// Every message of a language.
    pub fn messages(&self, language: &str) -> impl Iterator<Item = (&String, &MessageInfo)> {
        self.catalog.get(language).into_iter().flatten()
    }

    /// Formats a message. A message missing in `language` (which `uic lint`
    /// prevents) falls back to any language that has it, then to its id: a
    /// person always gets some text.
    pub fn format(&self, language: &str, id: &str, args: &Args) -> String {
        let fluent_args = (!args.is_empty()).then(|| {
            let mut fluent_args = FluentArgs::new();
            for (name, value) in args {
                match value {
                    Arg::Text(text) => fluent_args.set(*name, FluentValue::from(text.as_str())),
                    Arg::Number(number) => fluent_args.set(*name, FluentValue::from(*number)),
                }
            }
            fluent_args
        });
        let candidates = std::iter::once(language).chain(self.bundles.keys().map(String::as_str));
        for candidate in candidates {
            let Some(bundle) = self.bundles.get(candidate) else { continue };
            let Some(pattern) = bundle.get_message(id).and_then(|message| message.value()) else { continue };
            let mut errors = Vec::new();
            return bundle.format_pattern(pattern, fluent_args.as_ref(), &mut errors).into_owned();
        }
        id.to_string()
    }
}

/// The messages of one file, with their line and variables.
fn describe(path: &str, text: &str) -> Vec<(String, MessageInfo)> {
    let resource = match fluent_syntax::parser::parse(text) {
        Ok(resource) => resource,
        Err((resource, _)) => resource,
    };
    let mut found = Vec::new();
    for entry in resource.body {
        let ast::Entry::Message(message) = entry else { continue };
        let mut variables = BTreeSet::new();
        if let Some(pattern) = &message.value {
            collect_pattern(pattern, &mut variables);
        }
        for attribute in &message.attributes {
            collect_pattern(&attribute.value, &mut variables);
        }
        let id = message.id.name.to_string();
        let line = definition_line(text, &id).unwrap_or(1);
        found.push((id, MessageInfo { file: path.to_string(), line, variables }));
    }
    found
}

fn collect_pattern(pattern: &ast::Pattern<&str>, into: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            collect_expression(expression, into);
        }
    }
}

fn collect_expression(expression: &ast::Expression<&str>, into: &mut BTreeSet<String>) {
    match expression {
        ast::Expression::Select { selector, variants } => {
            collect_inline(selector, into);
            for variant in variants {
                collect_pattern(&variant.value, into);
            }
        }
        ast::Expression::Inline(inline) => collect_inline(inline, into),
    }
}

fn collect_inline(inline: &ast::InlineExpression<&str>, into: &mut BTreeSet<String>) {
    match inline {
        ast::InlineExpression::VariableReference { id } => {
            into.insert(id.name.to_string());
        }
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for argument in &arguments.positional {
                collect_inline(argument, into);
            }
            for argument in &arguments.named {
                collect_inline(&argument.value, into);
            }
        }
        ast::InlineExpression::Placeable { expression } => collect_expression(expression, into),
        _ => {}
    }
}

/// The line where `id = ...` starts.
fn definition_line(text: &str, id: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.strip_prefix(id).is_some_and(|rest| rest.trim_start().starts_with('=')))
        .map(|index| index + 1)
}

/// The id of the message an unparsable entry (`id = ...`, after any comment) starts with.
fn entry_id(entry: &str) -> Option<&str> {
    let entry = entry.lines().map(str::trim_start).find(|line| !line.is_empty() && !line.starts_with('#'))?;
    let end = entry.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(entry.len());
    let id = &entry[..end];
    let starts_well = id.starts_with(|c: char| c.is_ascii_alphabetic());
    (starts_well && entry[end..].trim_start_matches([' ', '\t']).starts_with('=')).then_some(id)
}

/// What is wrong in a Fluent file, in plain words where the mistake is a
/// common one; the parser's own words otherwise.
fn fluent_reason(kind: &ParserErrorKind) -> Wording {
    match kind {
        ParserErrorKind::ExpectedToken('}') => Wording::new("fluent-brace-unclosed"),
        ParserErrorKind::ExpectedToken(token) => Wording::new("fluent-expected-token").text("token", token),
        ParserErrorKind::MissingDefaultVariant => Wording::new("fluent-default-variant-missing"),
        ParserErrorKind::MultipleDefaultVariants => Wording::new("fluent-default-variant-twice"),
        ParserErrorKind::MissingValue | ParserErrorKind::ExpectedMessageField { .. } => Wording::new("fluent-no-text"),
        ParserErrorKind::UnterminatedStringLiteral => Wording::new("fluent-quote-unclosed"),
        ParserErrorKind::UnbalancedClosingBrace => Wording::new("fluent-brace-unopened"),
        ParserErrorKind::ExpectedInlineExpression => Wording::new("fluent-empty-placeable"),
        other => Wording::new("fluent-parser-says").text("detail", lowercase_first(&other.to_string())),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Where a syntax error is: the parser's position or, when nothing follows it
/// on its line (a `}` missing at the end of a message), the end of what precedes.
fn error_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    let rest_of_line = text[offset..].split('\n').next().unwrap_or("");
    if rest_of_line.trim().is_empty() { text[..offset].trim_end().len() } else { offset }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.to_string(), text: text.to_string() }
    }

    #[test]
    fn formats_with_variables_and_no_isolation_marks() {
        let (texts, problems) = Texts::load(&[(
            "fr".into(),
            file(
                "fr/a.ftl",
                "hello = Bonjour { $name }!\ncount = { $n ->\n    [one] un\n   *[other] { $n } choses\n}\n",
            ),
        )]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(texts.format("fr", "hello", &vec![("name", Arg::Text("Ana".into()))]), "Bonjour Ana!");
        assert_eq!(texts.format("fr", "count", &vec![("n", Arg::Number(3))]), "3 choses");
        assert_eq!(texts.format("fr", "count", &vec![("n", Arg::Number(1))]), "un");
    }

    #[test]
    fn describes_lines_and_variables() {
        let (texts, _) = Texts::load(&[(
            "en".into(),
            file(
                "en/a.ftl",
                "# c\n\nfirst = One { $a }\nsecond =\n    { $b ->\n        [x] { $c }\n       *[y] y\n    }\n",
            ),
        )]);
        let second = texts.message("en", "second").unwrap();
        assert_eq!(second.line, 4);
        assert_eq!(second.variables.iter().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(texts.message("en", "first").unwrap().line, 3);
    }

    #[test]
    fn syntax_errors_and_duplicates_name_file_and_line() {
        let (_, problems) = Texts::load(&[
            ("fr".into(), file("fr/a.ftl", "ok = fine\nbroken = { $x\n")),
            ("fr".into(), file("fr/b.ftl", "ok = again\n")),
        ]);
        let printed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(printed[0].starts_with("fr/a.ftl:2: error: Fluent syntax error in message `broken`:"), "{printed:?}");
        assert_eq!(printed[1], "fr/b.ftl:1: error: message `ok` is defined twice in `fr` (also fr/a.ftl:1)");
    }

    #[test]
    fn missing_messages_fall_back_instead_of_failing() {
        let (texts, _) = Texts::load(&[("fr".into(), file("fr/a.ftl", "only-fr = Seulement\n"))]);
        assert_eq!(texts.format("ln", "only-fr", &Vec::new()), "Seulement");
        assert_eq!(texts.format("fr", "nowhere", &Vec::new()), "nowhere");
    }
}
