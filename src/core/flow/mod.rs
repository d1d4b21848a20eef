//! Flows: the language staff write (SPEC §5). [`raw`] is its shape as serde
//! reads it; [`Flow`] is the validated form the engine runs, built once by
//! [`crate::lint::load`] with errors that name their path.

mod model;
pub mod raw;
mod texts;

pub use model::{
    Check, Choice, Command, CompletionOptions, Dhis2Mapping, Example, Expected, Flow, FlowProblem, Lookup, MessageUse,
    OrgUnitLookup, Refusal, Rule, Step, Suggestion, UicSpec,
};
pub use texts::{Role, TextIds};
