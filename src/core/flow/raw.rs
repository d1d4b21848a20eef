//! The flow file as written (serde types). The JSON Schema has already checked
//! its shape; [`super::model`] turns it into a [`super::Flow`] once, with errors
//! that name the path of what is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub id: String,
    pub version: u32,
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub default_language: String,
    pub languages: Vec<String>,
    #[serde(default)]
    pub session_timeout_minutes: Option<u32>,
    #[serde(default)]
    pub max_invalid_attempts: Option<u32>,
    #[serde(default)]
    pub texts: BTreeMap<String, String>,
    #[serde(default)]
    pub greetings: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub commands: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub steps: Vec<RawStep>,
    pub uic: RawUic,
    #[serde(default)]
    pub completion: RawCompletion,
    #[serde(default)]
    pub dhis2: Option<RawDhis2>,
    #[serde(default)]
    pub examples: Vec<RawExample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: String,
    pub prompt: String,
    /// Cleaners applied to the answer as typed, before anything else.
    #[serde(default)]
    pub clean: Vec<String>,
    #[serde(default)]
    pub normalize: Option<RawNormalize>,
    #[serde(default)]
    pub validate: Vec<RawRule>,
    #[serde(default)]
    pub choices: Vec<RawChoice>,
    /// The message for an answer that matches no choice.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub max_invalid_attempts: Option<u32>,
    /// A table of the names people use and their codes.
    #[serde(default)]
    pub lookup: Option<RawLookup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    /// The CSV file, relative to the flow's folder (`data/drc-cities.csv`).
    pub table: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawNormalize {
    Preset(String),
    Steps(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub max_length: Option<usize>,
    #[serde(default)]
    pub range: Option<RawRange>,
    #[serde(default)]
    pub year: Option<RawYear>,
    #[serde(default)]
    pub one_of: Option<Vec<Scalar>>,
    #[serde(default)]
    pub any_of: Option<Vec<RawRule>>,
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawYear {
    pub min: i32,
    /// A year, or `current` for the year of the conversation.
    pub max: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChoice {
    pub value: Scalar,
    pub label: String,
    #[serde(default)]
    pub synonyms: BTreeMap<String, Vec<Scalar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUic {
    pub formula: String,
    pub pattern: String,
    pub duplicate_key: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompletion {
    #[serde(default)]
    pub qr_code: bool,
    #[serde(default)]
    pub confirm: bool,
}

/// Where the flow's codes go in DHIS2; each part over its `DHIS2_*` variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDhis2 {
    #[serde(default)]
    pub program: Option<String>,
    #[serde(default)]
    pub tracked_entity_type: Option<String>,
    #[serde(default)]
    pub uic_attribute: Option<String>,
    #[serde(default)]
    pub org_unit: Option<RawOrgUnit>,
    /// Attribute UID → expression.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawOrgUnit {
    Fixed(String),
    FromAnswer {
        from: String,
        lookup: BTreeMap<String, String>,
        #[serde(default)]
        default: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExample {
    pub answers: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub uic: Option<String>,
    #[serde(default)]
    pub uic_pattern: Option<String>,
}

/// Staff write `value: 1` as often as `value: "1"`; both mean the text `1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Bool(bool),
}

impl Scalar {
    pub fn into_text(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Integer(number) => number.to_string(),
            Scalar::Bool(flag) => flag.to_string(),
        }
    }
}
