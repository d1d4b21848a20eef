//! DHIS2 registration as the core knows it (SPEC §11): DHIS2's identifiers,
//! where a code is registered (program, org unit, tracked entity type, UIC
//! attribute), what a flow maps besides the code, and the registration job
//! the outbox carries. No HTTP here: `integrations::dhis2` speaks the API.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The letters and digits of a DHIS2 UID.
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LENGTH: usize = 11;

/// Whether `text` is a DHIS2 UID: 11 characters, a letter then 10 letters or digits.
pub fn is_uid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == LENGTH && bytes[0].is_ascii_alphabetic() && bytes.iter().all(u8::is_ascii_alphanumeric)
}

/// A new UID, chosen by the client as DHIS2 allows, so that a retried import
/// names the same objects and updates them instead of creating others.
/// `random_index(n)` is below `n` (the core draws no randomness itself).
pub fn new_uid(mut random_index: impl FnMut(usize) -> usize) -> String {
    let letters = &ALPHANUMERIC[..52];
    let mut uid = String::with_capacity(LENGTH);
    uid.push(letters[random_index(letters.len())] as char);
    for _ in 1..LENGTH {
        uid.push(ALPHANUMERIC[random_index(ALPHANUMERIC.len())] as char);
    }
    uid
}

/// Where codes are registered. Each part may be missing in one place (the
/// deployment's `DHIS2_*` variables, a flow's `dhis2:` block) and given in the
/// other: a flow's block wins ([`Target::over`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub program: Option<String>,
    pub org_unit: Option<String>,
    pub tracked_entity_type: Option<String>,
    pub uic_attribute: Option<String>,
}

/// Each part of a [`Target`] with the variable that sets it.
pub const TARGET_VARIABLES: [&str; 4] =
    ["DHIS2_PROGRAM", "DHIS2_ORG_UNIT", "DHIS2_TRACKED_ENTITY_TYPE", "DHIS2_UIC_ATTRIBUTE"];

impl Target {
    /// This target, its gaps filled from `defaults`.
    pub fn over(&self, defaults: &Target) -> Target {
        let pick = |mine: &Option<String>, theirs: &Option<String>| mine.clone().or_else(|| theirs.clone());
        Target {
            program: pick(&self.program, &defaults.program),
            org_unit: pick(&self.org_unit, &defaults.org_unit),
            tracked_entity_type: pick(&self.tracked_entity_type, &defaults.tracked_entity_type),
            uic_attribute: pick(&self.uic_attribute, &defaults.uic_attribute),
        }
    }

    /// The variables of the parts still missing, in [`TARGET_VARIABLES`] order.
    pub fn missing(&self) -> Vec<&'static str> {
        let parts = [&self.program, &self.org_unit, &self.tracked_entity_type, &self.uic_attribute];
        TARGET_VARIABLES.iter().zip(parts).filter(|(_, part)| part.is_none()).map(|(name, _)| *name).collect()
    }
}

/// What a flow sends besides the code, computed when the code is issued
/// (the answers are gone afterwards): the org unit chosen by an answer, and
/// the values of the attributes it maps. Never a name or a place: lint
/// refuses mappings over answers typed freely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedValues {
    /// The org unit an answer chose through the flow's lookup, if it maps one.
    pub org_unit: Option<String>,
    pub attributes: Vec<AttributeValue>,
}

/// One attribute of a tracked entity, as DHIS2's import names its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub attribute: String,
    pub value: String,
}

/// The payload of a `dhis2` outbox job: everything needed to register one
/// code, including the UIDs of the tracked entity and enrollment it creates,
/// chosen before the first attempt so that every retry names the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationJob {
    pub uic: String,
    pub tracked_entity: String,
    pub enrollment: String,
    pub program: String,
    pub org_unit: String,
    pub tracked_entity_type: String,
    pub uic_attribute: String,
    /// Attributes besides the code.
    #[serde(default)]
    pub attributes: Vec<AttributeValue>,
    /// The day the code was issued: the enrollment's date.
    pub enrolled_at: NaiveDate,
}

/// The outbox kind of registration jobs.
pub const JOB_KIND: &str = "dhis2";

/// The outbox recipient of a code's registration: one code's jobs run in
/// order, other codes' beside them.
pub fn job_recipient(uic: &str) -> String {
    format!("dhis2:{uic}")
}

impl RegistrationJob {
    /// The job registering `uic` into `target` with `values`, with fresh UIDs;
    /// `Err` names the variables of the missing parts of the target.
    pub fn new(
        uic: &str,
        target: &Target,
        values: &MappedValues,
        issued: NaiveDate,
        mut random_index: impl FnMut(usize) -> usize,
    ) -> Result<RegistrationJob, Vec<&'static str>> {
        let target = Target { org_unit: values.org_unit.clone(), ..Target::default() }.over(target);
        let (Some(program), Some(org_unit), Some(tracked_entity_type), Some(uic_attribute)) = (
            target.program.clone(),
            target.org_unit.clone(),
            target.tracked_entity_type.clone(),
            target.uic_attribute.clone(),
        ) else {
            return Err(target.missing());
        };
        Ok(RegistrationJob {
            uic: uic.to_string(),
            tracked_entity: new_uid(&mut random_index),
            enrollment: new_uid(&mut random_index),
            program,
            org_unit,
            tracked_entity_type,
            // The code's own attribute is never also a mapped one.
            attributes: values.attributes.iter().filter(|a| a.attribute != uic_attribute).cloned().collect(),
            uic_attribute,
            enrolled_at: issued,
        })
    }
}

/// Where a code's registration stands, kept with the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Queued: the outbox will register it.
    Pending,
    /// In DHIS2 as this tracked entity (created by us or found there).
    Registered { tracked_entity: String },
    /// DHIS2 refused it for good; the error code and message it gave.
    Failed { error: String },
}

impl RegistrationState {
    /// The stored word: `pending`, `registered` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistrationState::Pending => "pending",
            RegistrationState::Registered { .. } => "registered",
            RegistrationState::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for RegistrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationState::Pending => f.write_str("pending"),
            RegistrationState::Registered { tracked_entity } => write!(f, "registered {tracked_entity}"),
            RegistrationState::Failed { error } => write!(f, "failed: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut(usize) -> usize {
        let mut next = 0;
        move |n| {
            next += 7;
            next % n
        }
    }

    #[test]
    fn uids_are_eleven_characters_starting_with_a_letter() {
        let uid = new_uid(counter());
        assert!(is_uid(&uid), "{uid}");
        assert!(is_uid("IpHINAT79UW"));
        assert!(!is_uid("1pHINAT79UW"), "a digit first");
        assert!(!is_uid("IpHINAT79U"), "10 characters");
        assert!(!is_uid("IpHINAT79U-"), "a dash");
        assert!(!is_uid("IpHINAT79UWé"));
        let always_last = |n: usize| n - 1;
        assert_eq!(new_uid(always_last), "Z9999999999");
    }

    #[test]
    fn a_flow_fills_the_gaps_of_the_deployment_and_wins_where_both_speak() {
        let defaults = Target {
            program: Some("IpHINAT79UW".into()),
            org_unit: Some("DiszpKrYNg8".into()),
            tracked_entity_type: None,
            uic_attribute: Some("lZGmxYbs97q".into()),
        };
        assert_eq!(defaults.missing(), ["DHIS2_TRACKED_ENTITY_TYPE"]);
        let flow = Target {
            tracked_entity_type: Some("nEenWmSyUEp".into()),
            org_unit: Some("ImspTQPwCqd".into()),
            ..Target::default()
        };
        let target = flow.over(&defaults);
        assert!(target.missing().is_empty());
        assert_eq!(target.org_unit.as_deref(), Some("ImspTQPwCqd"));
        assert_eq!(Target::default().missing(), TARGET_VARIABLES);
    }

    #[test]
    fn a_job_takes_the_org_unit_an_answer_chose_and_fresh_uids() {
        let target = Target {
            program: Some("IpHINAT79UW".into()),
            org_unit: Some("DiszpKrYNg8".into()),
            tracked_entity_type: Some("nEenWmSyUEp".into()),
            uic_attribute: Some("lZGmxYbs97q".into()),
        };
        let values = MappedValues {
            org_unit: Some("ImspTQPwCqd".into()),
            attributes: vec![AttributeValue { attribute: "cejWyOfXge6".into(), value: "Male".into() }],
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let job = RegistrationJob::new("MBEIBR7DA1", &target, &values, day, counter()).unwrap();
        assert_eq!(job.org_unit, "ImspTQPwCqd");
        assert!(is_uid(&job.tracked_entity) && is_uid(&job.enrollment));
        assert_ne!(job.tracked_entity, job.enrollment);
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<RegistrationJob>(&json).unwrap(), job);
        let partial = Target { program: None, ..target };
        assert_eq!(RegistrationJob::new("X", &partial, &values, day, counter()), Err(vec!["DHIS2_PROGRAM"]));
    }
}
