//! The flows and texts the engine runs. Only [`crate::lint`] makes one, of
//! the flows that pass every `uic lint` check, so a flow that fails lint never
//! runs (the others do).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::diagnostic::Origin;
use super::flow::Flow;
use super::i18n::Texts;

/// Checked flows and texts.
#[derive(Debug)]
pub struct Catalog {
    pub flows: BTreeMap<String, Arc<Flow>>,
    pub texts: Arc<Texts>,
    /// Where each flow was written, for diagnostics found later (e.g. against the database).
    pub origins: BTreeMap<String, Origin>,
}

/// A flow left out of a [`Catalog`] because it fails `uic lint` (or, at
/// `uic serve`, because its formula changed without a new version).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedFlow {
    /// The flow's file, as `uic lint` names it.
    pub file: String,
    /// The flow's `id`, when the file says one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What loading made of the sources: the flows that pass, those left out,
/// and every diagnostic (errors and warnings) in file order, as `uic lint`
/// prints them.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub failed: Vec<FailedFlow>,
    pub diagnostics: Vec<super::diagnostic::Diagnostic>,
}

impl Loaded {
    /// The errors, each a `file:line: error: …` line.
    pub fn errors(&self) -> impl Iterator<Item = &super::diagnostic::Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &super::diagnostic::Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}
