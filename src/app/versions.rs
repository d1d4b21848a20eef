//! Codes already issued never change (SPEC §7): a flow whose formula changed
//! while its version did not, after codes were issued under that version, is
//! refused, by `uic serve` at start-up and by `uic lint --db`.

use crate::core::catalog::Catalog;
use crate::core::diagnostic::{Diagnostic, Wording};
use crate::store::{Store, StoreError};

/// One error per flow whose formula differs from the one that issued its
/// version's codes.
pub async fn formula_changes(catalog: &Catalog, store: &Store) -> Result<Vec<Diagnostic>, StoreError> {
    Ok(formula_changes_by_flow(catalog, store).await?.into_iter().map(|(_, diagnostic)| diagnostic).collect())
}

/// [`formula_changes`], each with the id of its flow.
pub async fn formula_changes_by_flow(
    catalog: &Catalog,
    store: &Store,
) -> Result<Vec<(String, Diagnostic)>, StoreError> {
    let mut problems = Vec::new();
    for (id, flow) in &catalog.flows {
        let changed = store.issued_with_other_formula(id, flow.version, &flow.uic.fingerprint).await?;
        if changed {
            let message = Wording::new("version-formula-changed")
                .text("id", id)
                .text("version", flow.version)
                .text("next", flow.version + 1);
            let diagnostic = match catalog.origins.get(id) {
                Some(origin) => origin.diagnostic("/version", message),
                None => Diagnostic::error(id.clone(), None, message),
            };
            problems.push((id.clone(), diagnostic));
        }
    }
    Ok(problems)
}
