//! The layers of `ARCHITECTURE.md`, checked on the source rather than only
//! written down: each module imports only the layers beneath it, the pure core
//! knows no runtime, database, web framework, command line or clock, and SQL,
//! status codes and printing stay where they belong.
//!
//! The check reads `src/` as text. Test modules (from a file's `#[cfg(test)]`
//! on) are skipped: a unit test may build what it needs from any layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer and the layers it may import, innermost first.
const LAYERS: &[(&str, &[&str])] = &[
    ("support", &[]),
    ("core", &[]),
    ("lint", &["core", "support"]),
    ("store", &["core", "support"]),
    ("turn", &["core", "support", "store"]),
    ("config", &["core", "support", "store"]),
    ("integrations", &["core", "support", "store", "turn", "config"]),
    ("channels", &["core", "support", "store", "turn", "config"]),
    ("http", &["core", "support", "store", "turn", "config", "channels", "integrations"]),
    ("app", &["core", "support", "lint", "store", "turn", "config", "channels", "integrations", "http"]),
    ("cli", &["core", "support", "lint", "store", "turn", "config", "channels", "integrations", "http", "app"]),
];

/// What the pure core must not name: the runtime, the database, the web, the
/// command line, randomness and the clock (time comes in as `now`).
const NOT_IN_CORE: &[&str] = &[
    "tokio::",
    "sqlx::",
    "axum::",
    "reqwest::",
    "hyper::",
    "tower",
    "clap::",
    "rand::",
    "std::fs",
    "std::net",
    "std::env",
    "Utc::now",
    "Local::now",
    "SystemTime::now",
    "Instant::now",
];

struct Source {
    /// Path under `src/`, with `/` separators.
    path: String,
    /// The file without its test module.
    code: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            let path = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            Source { path, code }
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The layer a file belongs to: its top folder or file name under `src/`.
fn layer_of(path: &str) -> &str {
    let top = path.split('/').next().unwrap();
    top.strip_suffix(".rs").unwrap_or(top)
}

/// Lines of code, without `//` comments (docs may name any module).
fn code_lines(code: &str) -> impl Iterator<Item = (usize, &str)> {
    code.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("")))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// The top-level modules a line names through `crate::`, including grouped
/// imports such as `use crate::{store::Store, turn};`.
fn crate_modules(line: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item at the group's own depth.
            let (mut depth, mut item_start) = (0, true);
            for (at, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        let name: String =
                            group[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        modules.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            modules.insert(name);
        }
    }
    modules
}

#[test]
fn every_module_imports_only_the_layers_beneath_it() {
    let known: BTreeSet<&str> = LAYERS.iter().map(|(layer, _)| *layer).collect();
    let mut wrong = Vec::new();
    let mut seen_layers = BTreeSet::new();
    for source in sources() {
        let layer = layer_of(&source.path);
        if matches!(layer, "lib" | "main") {
            continue;
        }
        assert!(known.contains(layer), "src/{} is in no layer of tests/layers.rs", source.path);
        seen_layers.insert(layer.to_string());
        let allowed = LAYERS.iter().find(|(name, _)| *name == layer).unwrap().1;
        for (number, line) in code_lines(&source.code) {
            for module in crate_modules(line) {
                if module != layer && !allowed.contains(&module.as_str()) {
                    wrong.push(format!("src/{}:{number}: {layer} imports {module}: {}", source.path, line.trim()));
                }
            }
        }
    }
    assert_eq!(seen_layers.len(), LAYERS.len(), "every layer has code");
    assert!(wrong.is_empty(), "imports that point outward:\n{}", wrong.join("\n"));
}

#[test]
fn the_core_knows_no_runtime_database_web_command_line_or_clock() {
    let mut wrong = Vec::new();
    let mut files = 0;
    for source in sources().iter().filter(|source| layer_of(&source.path) == "core") {
        files += 1;
        for (number, line) in code_lines(&source.code) {
            for name in NOT_IN_CORE.iter().filter(|name| line.contains(*name)) {
                wrong.push(format!("src/{}:{number}: {name}: {}", source.path, line.trim()));
            }
        }
    }
    assert!(files >= 10, "the core has its modules ({files} files)");
    assert!(wrong.is_empty(), "the core must stay pure:\n{}", wrong.join("\n"));
}

/// `ARCHITECTURE.md`'s "only" rules: SQL in the store, status codes in HTTP,
/// printing in the command line.
#[test]
fn sql_status_codes_and_printing_stay_in_their_layer() {
    let rules: &[(&str, &[&str], &str)] = &[
        ("sqlx", &["sqlx::", "sqlx;"], "store"),
        ("status codes", &["StatusCode"], "http"),
        ("printing", &["println!", "print!(", "eprintln!", "eprint!(", "std::io::stdout", "std::io::stderr"], "cli"),
    ];
    let mut wrong = Vec::new();
    for source in sources() {
        let layer = layer_of(&source.path);
        for (what, needles, home) in rules {
            if layer == *home || layer == "main" {
                continue;
            }
            for (number, line) in code_lines(&source.code) {
                if needles.iter().any(|needle| line.contains(needle)) {
                    wrong.push(format!("src/{}:{number}: {what} outside {home}: {}", source.path, line.trim()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checker_reads_imports_as_rust_writes_them() {
    let names = |line: &str| crate_modules(line).into_iter().collect::<Vec<_>>();
    assert_eq!(names("use crate::store::{Job, Store};"), ["store"]);
    assert_eq!(names("use crate::{http::{self, AppState}, turn};"), ["http", "turn"]);
    assert_eq!(names("let x = crate::support::ids::token(); crate::core::salt::Salt::new()"), ["core", "support"]);
    assert_eq!(layer_of("channels/meta/graph.rs"), "channels");
    assert_eq!(layer_of("config.rs"), "config");
    let mut comment = code_lines("// crate::cli is named here\nuse crate::store;");
    assert_eq!(comment.next().map(|(n, _)| n), Some(2));
}

/// "No text a person reads is written in Rust": outside the engine nothing
/// makes a reply's text, and the engine makes it from Fluent messages only
/// (`texts.format`), never from a string literal.
#[test]
fn reply_texts_come_from_fluent_through_the_engine() {
    let mut wrong = Vec::new();
    for source in sources() {
        let in_engine = source.path.starts_with("core/engine/");
        for (number, line) in code_lines(&source.code) {
            let makes_text = line.contains("Reply::text(");
            let literal = ["Reply::text(\"", "Reply::text(String::from(\"", "text: \"", "text: String::from(\""]
                .iter()
                .any(|pattern| line.contains(pattern));
            if (makes_text && !in_engine) || literal {
                wrong.push(format!("src/{}:{number}: {}", source.path, line.trim()));
            }
        }
    }
    assert!(wrong.is_empty(), "reply texts written in Rust:\n{}", wrong.join("\n"));
}
