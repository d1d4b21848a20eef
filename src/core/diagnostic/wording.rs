//! What a diagnostic says, kept as a Fluent id and its arguments until it is
//! read, then written in the reader's language (`uic lint --lang fr|en`),
//! from the Fluent files beside this module like every other text: staff
//! read lint in French, operators' logs read it in English.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The languages lint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    #[default]
    English,
    French,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::French];

    /// `fr` or `en` (a region or encoding after it is ignored: `fr_CD.UTF-8`).
    pub fn parse(code: &str) -> Option<Language> {
        let primary = code.split(['_', '-', '.', '@']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "fr" => Some(Language::French),
            "en" => Some(Language::English),
            _ => None,
        }
    }

    /// The language of the locale (`LC_ALL`, then `LC_MESSAGES`, then
    /// `LANG`, as POSIX orders them): French for a French locale, otherwise English.
    pub fn from_locale(variable: impl Fn(&str) -> Option<String>) -> Language {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| variable(name).filter(|value| !value.is_empty()))
            .next()
            .and_then(|value| Language::parse(&value))
            .unwrap_or_default()
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::French => "fr",
        }
    }

    /// The Fluent source of this language's diagnostics.
    pub fn source(self) -> &'static str {
        match self {
            Language::English => include_str!("en.ftl"),
            Language::French => include_str!("fr.ftl"),
        }
    }
}

/// One value given to a wording.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Number(i64),
    /// Another wording, written in the same language (e.g. "the flow" or a path).
    Wording(Box<Wording>),
}

/// A diagnostic's text: a Fluent id of `en.ftl` / `fr.ftl` and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    id: &'static str,
    args: Vec<(&'static str, Part)>,
}

impl Wording {
    pub fn new(id: &'static str) -> Wording {
        Wording { id, args: Vec::new() }
    }

    /// Gives `$name` a text.
    pub fn text(mut self, name: &'static str, value: impl fmt::Display) -> Wording {
        self.args.push((name, Part::Text(value.to_string())));
        self
    }

    /// Gives `$name` a number (Fluent picks plural forms with it).
    pub fn number(mut self, name: &'static str, value: usize) -> Wording {
        self.args.push((name, Part::Number(i64::try_from(value).unwrap_or(i64::MAX))));
        self
    }

    /// Gives `$name` another wording, written in the same language.
    pub fn wording(mut self, name: &'static str, value: Wording) -> Wording {
        self.args.push((name, Part::Wording(Box::new(value))));
        self
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The text in `language`. An id missing from its file (a bug a unit
    /// test prevents) still says something: the id and its arguments.
    pub fn render(&self, language: Language) -> String {
        let bundle = &BUNDLES[&language];
        let mut args = FluentArgs::new();
        for (name, part) in &self.args {
            let value = match part {
                Part::Text(text) => FluentValue::from(text.clone()),
                Part::Number(number) => FluentValue::from(*number),
                Part::Wording(inner) => FluentValue::from(inner.render(language)),
            };
            args.set(*name, value);
        }
        let Some(pattern) = bundle.get_message(self.id).and_then(|message| message.value()) else {
            let given: Vec<String> = self.args.iter().map(|(name, _)| format!("${name}")).collect();
            return format!("{} {}", self.id, given.join(" "));
        };
        let mut errors = Vec::new();
        bundle.format_pattern(pattern, Some(&args), &mut errors).into_owned()
    }
}

/// Logs and errors (`Display`) are in English; `uic lint` picks with [`Wording::render`].
impl fmt::Display for Wording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Language::English))
    }
}

static BUNDLES: LazyLock<HashMap<Language, FluentBundle<FluentResource>>> = LazyLock::new(|| {
    Language::ALL
        .iter()
        .map(|language| {
            let langid: LanguageIdentifier = language.code().parse().expect("a language code");
            let mut bundle = FluentBundle::new_concurrent(vec![langid]);
            // Terminals and editors show text as it is: no Unicode isolation marks.
            bundle.set_use_isolating(false);
            let resource =
                FluentResource::try_new(language.source().to_string()).unwrap_or_else(|(resource, _)| resource);
            let _ = bundle.add_resource(resource);
            (*language, bundle)
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::core::diagnostic::SourceFile;
    use crate::core::i18n::Texts;

    /// Each message of a language's diagnostics and the variables it uses,
    /// read as every locale file is read.
    fn messages(language: Language) -> BTreeMap<String, BTreeSet<String>> {
        let file = SourceFile { path: format!("{}.ftl", language.code()), text: language.source().to_string() };
        let (texts, problems) = Texts::load(&[(language.code().to_string(), file)]);
        assert!(problems.is_empty(), "{}.ftl: {problems:?}", language.code());
        texts.messages(language.code()).map(|(id, info)| (id.clone(), info.variables.clone())).collect()
    }

    #[test]
    fn both_languages_have_the_same_messages_with_the_same_variables() {
        let english = messages(Language::English);
        let french = messages(Language::French);
        assert!(english.len() > 50, "en.ftl has {} messages", english.len());
        let only_english: Vec<&String> = english.keys().filter(|id| !french.contains_key(*id)).collect();
        let only_french: Vec<&String> = french.keys().filter(|id| !english.contains_key(*id)).collect();
        assert!(only_english.is_empty(), "missing in fr.ftl: {only_english:?}");
        assert!(only_french.is_empty(), "missing in en.ftl: {only_french:?}");
        for (id, variables) in &english {
            assert_eq!(&french[id], variables, "message `{id}` uses other variables in fr.ftl than in en.ftl");
        }
    }

    /// Every id a `Wording` is made with in the sources names a message of en.ftl.
    #[test]
    fn every_wording_in_the_code_has_a_message() {
        let english = messages(Language::English);
        let mut missing = Vec::new();
        let mut found = 0;
        let mut folders = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("src is readable") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("a source file");
                for tail in text.split("Wording::new(\"").skip(1) {
                    let id = tail.split('"').next().unwrap_or_default();
                    found += 1;
                    if !english.contains_key(id) {
                        missing.push(format!("{}: {id}", path.display()));
                    }
                }
            }
        }
        assert!(found > 50, "only {found} wordings found in src/");
        assert!(missing.is_empty(), "wordings without a message in en.ftl: {missing:?}");
    }

    #[test]
    fn numbers_and_nested_wordings_are_written_in_the_language() {
        let at = Wording::new("schema-at-root");
        let wording = Wording::new("schema-required").wording("at", at).text("key", "steps");
        assert_eq!(wording.render(Language::English), "the flow is missing the required key `steps`");
        assert_eq!(wording.render(Language::French), "le questionnaire : il manque la clé obligatoire `steps`");
    }

    #[test]
    fn the_locale_picks_the_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
        };
        assert_eq!(Language::from_locale(env(&[("LANG", "fr_CD.UTF-8")])), Language::French);
        assert_eq!(Language::from_locale(env(&[("LC_ALL", "en_US.UTF-8"), ("LANG", "fr_FR")])), Language::English);
        assert_eq!(Language::from_locale(env(&[("LC_ALL", ""), ("LANG", "fr")])), Language::French);
        assert_eq!(Language::from_locale(env(&[("LANG", "C.UTF-8")])), Language::English);
        assert_eq!(Language::from_locale(env(&[])), Language::English);
    }
}
