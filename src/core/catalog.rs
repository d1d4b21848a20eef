//! The flows and texts the engine runs. Only [`crate::lint`] makes one, after
//! every `uic lint` check passed, so a flow that fails lint never runs.

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
