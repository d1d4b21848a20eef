//! Files staff write and the problems found in them: a [`Diagnostic`] prints
//! as `file[:line]: level: message` so editors and CI logs can jump to it, its
//! message a [`Wording`] written in English or French when read; an
//! [`Origin`] remembers where each part of a flow was written, so a problem
//! found later (by the engine's checks or against the database) names its line.

mod wording;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use wording::{Language, Wording};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: Option<usize>,
    pub message: Wording,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, line: Option<usize>, message: Wording) -> Self {
        Diagnostic { severity: Severity::Error, file: file.into(), line, message }
    }

    pub fn warning(file: impl Into<String>, line: Option<usize>, message: Wording) -> Self {
        Diagnostic { severity: Severity::Warning, file: file.into(), line, message }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Each diagnostic as [`Diagnostic::render`] writes it.
    pub fn render_all(diagnostics: &[Diagnostic], language: Language) -> Vec<String> {
        diagnostics.iter().map(|diagnostic| diagnostic.render(language)).collect()
    }

    /// `file[:line]: level: message` in `language`.
    pub fn render(&self, language: Language) -> String {
        let level = match self.severity {
            Severity::Error => Wording::new("level-error"),
            Severity::Warning => Wording::new("level-warning"),
        };
        let (level, message) = (level.render(language), self.message.render(language));
        match self.line {
            Some(line) => format!("{}:{line}: {level}: {message}", self.file),
            None => format!("{}: {level}: {message}", self.file),
        }
    }
}

/// In English, as logs and errors are.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Language::English))
    }
}

/// Several diagnostics, returned when loading fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// One file's text and the path shown in messages about it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// JSON-pointer path (`/steps/2/validate/0/regex`) → 1-based line of a YAML
/// file. Lines are wanted only for the problems reported, so none is computed
/// ahead: the map keeps the text and asks `locate` (the loader's, reading the
/// text with the parser that read the file) for each line wanted.
#[derive(Clone)]
pub struct LineMap {
    pub(crate) text: Arc<str>,
    pub(crate) locate: Locate,
}

/// Where the node at a JSON pointer starts in a YAML text.
pub(crate) type Locate = fn(text: &str, pointer: &str) -> Located;

/// What [`Locate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    /// The node starts on this line (1-based).
    Line(usize),
    /// The text has no node at that pointer.
    Absent,
    /// The text does not parse: no node has a line.
    Unreadable,
}

impl LineMap {
    /// The line of the node at `pointer`, or of its closest ancestor that has one.
    pub fn line(&self, pointer: &str) -> Option<usize> {
        let mut path = pointer;
        loop {
            match (self.locate)(&self.text, path) {
                Located::Line(line) => return Some(line),
                Located::Unreadable => return None,
                Located::Absent if path.is_empty() => return None,
                Located::Absent => {}
            }
            path = match path.rfind('/') {
                Some(cut) => &path[..cut],
                None => "",
            };
        }
    }
}

impl fmt::Debug for LineMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LineMap({} bytes of YAML)", self.text.len())
    }
}

/// Where each part of a (possibly merged) flow was written.
#[derive(Debug, Clone)]
pub struct Origin {
    pub(crate) file: String,
    pub(crate) lines: LineMap,
    /// Top-level keys that came from the flow this one builds on.
    pub(crate) inherited: BTreeMap<String, Origin>,
}

impl Origin {
    /// The file and line of the node at a JSON-pointer path.
    pub fn locate(&self, pointer: &str) -> (String, Option<usize>) {
        let top = pointer.trim_start_matches('/').split('/').next().unwrap_or("");
        match self.inherited.get(top) {
            Some(base) => base.locate(pointer),
            None => (self.file.clone(), self.lines.line(pointer)),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn diagnostic(&self, pointer: &str, message: Wording) -> Diagnostic {
        let (file, line) = self.locate(pointer);
        Diagnostic::error(file, line, message)
    }

    /// A warning at `pointer`, located like [`Origin::diagnostic`].
    pub fn warning(&self, pointer: &str, message: Wording) -> Diagnostic {
        let (file, line) = self.locate(pointer);
        Diagnostic::warning(file, line, message)
    }
}
