//! The console's pages: minijinja templates and Fluent texts, both embedded
//! in the binary (staff need nothing beside it), rendered in the staff
//! member's language. A template says `{{ t("nav-simulator") }}`; the texts
//! live in `texts/<lang>.ftl`, apart from the conversations' `locales/`.

use std::sync::Arc;

use axum::http::HeaderMap;
use minijinja::value::Kwargs;
use minijinja::{Environment, State, Value};

use crate::core::diagnostic::SourceFile;
use crate::core::i18n::{Arg, Args, Texts};

/// The languages of the console, the first being the default.
pub const LANGUAGES: [&str; 2] = ["fr", "en"];

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("home.html", include_str!("templates/home.html")),
    ("simulator.html", include_str!("templates/simulator.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
];

/// Every language's texts.
/// Every language's texts: the shared ones, then each page's.
const TEXTS: &[(&str, &str)] = &[
    ("fr", include_str!("texts/fr.ftl")),
    ("en", include_str!("texts/en.ftl")),
    ("fr", include_str!("texts/simulator.fr.ftl")),
    ("en", include_str!("texts/simulator.en.ftl")),
    ("fr", include_str!("texts/dashboard.fr.ftl")),
    ("en", include_str!("texts/dashboard.en.ftl")),
];

/// The variables the console's texts use (Fluent's `$name`): a template
/// passes them by keyword, `t("dashboard-codes", count=12)`.
const VARIABLES: &[&str] = &["count", "flow", "step", "language", "code", "error", "days", "date", "total"];

/// The stylesheet, served with a long cache lifetime.
pub const STYLESHEET: &str = include_str!("assets/console.css");

/// Templates and texts, ready to render.
pub struct Pages {
    env: Environment<'static>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

impl Pages {
    /// Loads the embedded templates and texts. Both are checked by the tests
    /// below, so a failure here is a bug in this file, caught before release.
    pub fn new() -> Pages {
        let files: Vec<(String, SourceFile)> = TEXTS
            .iter()
            .enumerate()
            .map(|(i, (lang, text))| {
                let file = SourceFile { path: format!("console/{i}.{lang}.ftl"), text: text.to_string() };
                (lang.to_string(), file)
            })
            .collect();
        let (texts, _) = Texts::load(&files);
        let texts = Arc::new(texts);
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("the console's templates parse");
        }
        env.add_function("t", move |state: &State, id: &str, kwargs: Kwargs| -> String {
            let lang = state.lookup("lang").and_then(|value| value.as_str().map(str::to_string));
            let mut args: Args = Vec::new();
            for name in kwargs.args() {
                let value: Value = kwargs.get(name).unwrap_or_default();
                if let Some(known) = VARIABLES.iter().find(|known| **known == name) {
                    args.push((known, arg_of(&value)));
                }
            }
            texts.format(lang.as_deref().unwrap_or(LANGUAGES[0]), id, &args)
        });
        Pages { env }
    }

    /// Renders template `name` with `context` (which names `lang`).
    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

impl Default for Pages {
    fn default() -> Pages {
        Pages::new()
    }
}

fn arg_of(value: &Value) -> Arg {
    match i64::try_from(value.clone()) {
        Ok(number) if value.is_number() => Arg::Number(number),
        _ => Arg::Text(value.to_string()),
    }
}

/// The console's language: `?lang=` when given (and remembered in a
/// cookie by the caller), else the cookie, else the browser's first
/// supported language, else French.
pub fn language(asked: Option<&str>, cookie: Option<&str>, headers: &HeaderMap) -> &'static str {
    let supported = |code: &str| LANGUAGES.into_iter().find(|lang| code.trim().to_ascii_lowercase().starts_with(lang));
    if let Some(lang) = asked.and_then(supported).or_else(|| cookie.and_then(supported)) {
        return lang;
    }
    let accepted = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok());
    accepted.into_iter().flat_map(|list| list.split(',')).find_map(supported).unwrap_or(LANGUAGES[0])
}

/// The other language, for the switch in the header.
pub fn other_language(lang: &str) -> &'static str {
    if lang == "en" { "fr" } else { "en" }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Ids the templates name in `t("…")`.
    fn used_ids() -> BTreeSet<String> {
        let call = regex::Regex::new(r#"t\("([a-z0-9-]+)""#).unwrap();
        let mut ids = BTreeSet::new();
        for (_, source) in TEMPLATES {
            ids.extend(call.captures_iter(source).map(|c| c[1].to_string()));
        }
        // Messages chosen in Rust and given to a template by name.
        let quoted = regex::Regex::new(r#""(forbidden|(?:sign-in|simulator|dashboard|home)-[a-z0-9-]+)""#).unwrap();
        let sources = [
            include_str!("auth.rs"),
            include_str!("mod.rs"),
            include_str!("simulator.rs"),
            include_str!("dashboard.rs"),
        ];
        for source in sources {
            ids.extend(quoted.captures_iter(source).map(|c| c[1].to_string()));
        }
        ids
    }

    #[test]
    fn every_text_exists_in_every_language_and_is_used() {
        let files: Vec<(String, SourceFile)> = TEXTS
            .iter()
            .enumerate()
            .map(|(i, (lang, text))| {
                (lang.to_string(), SourceFile { path: format!("{i}.{lang}.ftl"), text: text.to_string() })
            })
            .collect();
        let (texts, problems) = Texts::load(&files);
        assert!(problems.is_empty(), "{problems:?}");
        let used = used_ids();
        for lang in LANGUAGES {
            let defined: BTreeSet<String> = texts.messages(lang).map(|(id, _)| id.clone()).collect();
            let missing: Vec<&String> = used.difference(&defined).collect();
            assert!(missing.is_empty(), "{lang}: used but not defined: {missing:?}");
            let unused: Vec<&String> = defined.difference(&used).collect();
            assert!(unused.is_empty(), "{lang}: defined but never used: {unused:?}");
        }
    }

    #[test]
    fn pages_render_in_both_languages() {
        let pages = Pages::new();
        for lang in LANGUAGES {
            let context = minijinja::context! { lang, message => "sign-in-refused" };
            let html = pages.render("sign_in.html", context).unwrap();
            assert!(html.contains(&format!("<html lang=\"{lang}\">")));
            assert!(!html.contains("sign-in-refused"), "the message id was formatted: {html}");
        }
    }

    #[test]
    fn the_language_comes_from_the_query_the_cookie_or_the_browser() {
        let mut headers = HeaderMap::new();
        assert_eq!(language(None, None, &headers), "fr");
        headers.insert(axum::http::header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9,fr;q=0.8".parse().unwrap());
        assert_eq!(language(None, None, &headers), "en");
        assert_eq!(language(None, Some("fr"), &headers), "fr");
        assert_eq!(language(Some("en"), Some("fr"), &headers), "en");
        assert_eq!(language(Some("ln"), None, &HeaderMap::new()), "fr");
    }
}
