//! The flows an operator command reads (`uic verify`, `uic analyze`): those
//! `uic serve` would load, from the same folders, that pass `uic lint`.

use chrono::{Datelike, Utc};

use crate::config::SourceArgs;
use crate::core::catalog::Catalog;
use crate::core::diagnostic::Diagnostics;
use crate::lint::source::Sources;

/// The flows that pass `uic lint`; when `wanted` names a flow, it must be one
/// of them (an unknown id names the flows there are).
pub fn load(sources: &SourceArgs, wanted: Option<&str>) -> anyhow::Result<Catalog> {
    let sources = Sources::discover(sources.flows_dir(), sources.locales_dir())?;
    let loaded = Catalog::load_passing(&sources, Utc::now().year());
    if let Some(id) = wanted
        && !loaded.catalog.flows.contains_key(id)
    {
        if loaded.failed.iter().any(|failed| failed.id.as_deref() == Some(id)) {
            let errors = Diagnostics(loaded.errors().cloned().collect());
            anyhow::bail!("flow `{id}` does not pass `uic lint`:\n{errors}");
        }
        let known = loaded.catalog.flows.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        anyhow::bail!("no flow `{id}` (the flows are: {known})");
    }
    Ok(loaded.catalog)
}
