//! Where the loaded flows register their codes: the `DHIS2_*` defaults, and
//! each flow's `dhis2:` block over them. Start-up refuses a flow whose target
//! stays incomplete (its codes could never be registered); `uic dhis2 check`
//! and the start-up check confirm the rest against DHIS2.

use super::check::{CheckTarget, Origin, Sourced};
use crate::core::catalog::Catalog;
use crate::core::dhis2::Target;
use crate::core::flow::Flow;

/// Where the flows register: the targets to check, and the flows whose target is incomplete.
#[derive(Debug, Clone, Default)]
pub struct RegistrationTargets {
    /// The defaults when some flow uses them all, and one per flow with a
    /// `dhis2:` block (with the org units of its lookup and its mapped
    /// attributes); an incomplete one too (the check names what is not set).
    pub targets: Vec<CheckTarget>,
    /// One line per flow whose target is incomplete, naming what is missing.
    pub incomplete: Vec<String>,
}

/// Where each loaded flow registers its codes.
pub fn registration_targets(catalog: &Catalog, defaults: &Target) -> RegistrationTargets {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    let mut defaults_used = false;
    for flow in catalog.flows.values() {
        let missing = missing_parts(flow, defaults);
        if !missing.is_empty() {
            problems.push(format!(
                "flow `{}` registers its codes in DHIS2 but nothing gives its {}: set {} or give the flow a `dhis2:` block",
                flow.id,
                missing.join(", "),
                if missing.len() > 1 { "them" } else { "it" }
            ));
        }
        let mapping = &flow.dhis2;
        if mapping.target == Target::default() && mapping.org_unit_from.is_none() && mapping.attributes.is_empty() {
            defaults_used = true;
            continue;
        }
        let mut target = CheckTarget::flow(&flow.id, &mapping.target, defaults);
        if let Some(lookup) = &mapping.org_unit_from {
            let origin = || Origin::Flow(flow.id.clone());
            let mut chosen: Vec<&String> = lookup.lookup.values().chain(lookup.default.iter()).collect();
            chosen.sort();
            chosen.dedup();
            target.org_units = chosen.into_iter().map(|uid| Sourced::new(uid, origin())).collect();
        }
        target.attributes =
            mapping.attributes.iter().map(|(uid, _)| Sourced::new(uid, Origin::Flow(flow.id.clone()))).collect();
        targets.push(target);
    }
    if defaults_used {
        targets.insert(0, CheckTarget::defaults(defaults));
    }
    RegistrationTargets { targets, incomplete: problems }
}

/// The variables of the parts of `flow`'s target nothing gives.
fn missing_parts(flow: &Flow, defaults: &Target) -> Vec<&'static str> {
    let chosen_by_answer = flow.dhis2.org_unit_from.is_some();
    let target = flow.dhis2.target.over(defaults);
    target.missing().into_iter().filter(|name| !(chosen_by_answer && *name == "DHIS2_ORG_UNIT")).collect()
}
