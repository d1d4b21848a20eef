//! Flows: the YAML language staff write (SPEC §5), checked against
//! `schemas/flow.schema.json`, merged with the flow they build on, and turned
//! into [`Flow`]s the engine runs. Knows nothing of I/O beyond the text it is given.

mod lines;
mod load;
mod model;
mod raw;
mod texts;

pub use lines::LineMap;
pub(crate) use load::closest;
pub use load::{LoadedFlow, Origin, SCHEMA_COMMENT, load_flows};
pub use model::{
    Check, Choice, Command, CompletionOptions, Example, Expected, Flow, FlowProblem, MessageUse, Refusal, Rule, Step,
    UicSpec,
};
pub use texts::{Role, TextIds};
