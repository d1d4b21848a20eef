//! The validated flow: what the engine runs. Built once from [`RawFlow`]; every
//! problem is reported with the JSON-pointer path of what is wrong.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::raw::{RawDhis2, RawFlow, RawNormalize, RawOrgUnit, RawRule, RawStep, Scalar};
use super::texts::{Role, TextIds};
use crate::core::dhis2::Target;
use crate::core::diagnostic::Wording;
use crate::core::i18n::{Arg, Args};
use crate::core::lookup::{Found, Table};
use crate::core::normalize::{self, Cleaner, Normalizer};
use crate::core::whatsapp::MAX_LIST_ROWS;

/// A flow ready to run.
#[derive(Debug)]
pub struct Flow {
    pub id: String,
    pub version: u32,
    pub description: Option<String>,
    pub default_language: String,
    pub languages: Vec<String>,
    pub session_timeout_minutes: Option<u32>,
    pub max_invalid_attempts: Option<u32>,
    pub texts: TextIds,
    /// Greeting (comparable form) → language it reveals.
    pub greetings: Vec<(String, String)>,
    /// Command word (comparable form) → command.
    pub commands: HashMap<String, Command>,
    pub steps: Vec<Step>,
    pub uic: UicSpec,
    pub completion: CompletionOptions,
    /// Where its codes go in DHIS2, over the `DHIS2_*` variables.
    pub dhis2: Dhis2Mapping,
    pub examples: Vec<Example>,
}

/// A flow's `dhis2:` block (empty without one): the parts of the target it
/// fixes, the org unit an answer chooses, and the attributes it sends.
#[derive(Debug, Clone, Default)]
pub struct Dhis2Mapping {
    pub target: Target,
    pub org_unit_from: Option<OrgUnitLookup>,
    /// Attribute UID → minijinja expression over `uic` and choice answers
    /// (`formula::check` refuses any other answer).
    pub attributes: Vec<(String, String)>,
}

/// The org unit chosen by the answer to a step with choices.
#[derive(Debug, Clone)]
pub struct OrgUnitLookup {
    pub step: String,
    /// Choice value → org unit UID.
    pub lookup: BTreeMap<String, String>,
    pub default: Option<String>,
}

impl OrgUnitLookup {
    /// The org unit of `answers`' value for the step, if the lookup (or its default) has one.
    pub fn org_unit(&self, answers: &BTreeMap<String, String>) -> Option<&str> {
        let value = answers.get(&self.step)?;
        self.lookup.get(value).or(self.default.as_ref()).map(String::as_str)
    }
}

/// What a person can say at any point of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Restart,
    Help,
    Back,
    /// Switch to this language.
    Language(String),
    /// Confirm the answers (flows with `completion.confirm`).
    Yes,
    /// Refuse the answers and start again.
    No,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub prompt: String,
    /// Done to the answer as typed, before the rules and the normalisers.
    pub clean: Vec<Cleaner>,
    pub normalize: Vec<Normalizer>,
    pub rules: Vec<Rule>,
    pub choices: Vec<Choice>,
    /// The message for an answer that matches no choice.
    pub choice_error: Option<String>,
    pub max_invalid_attempts: Option<u32>,
    /// The names people use and their codes (`lookup:`), once lint has read the file.
    pub lookup: Option<Lookup>,
}

/// A step's `lookup:` table: the file as the flow names it, and its entries.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub file: String,
    pub table: Option<Arc<Table>>,
}

/// What an answer is, for a step with a lookup table that is not sure of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The table's name the answer is close to, as written in the table.
    pub name: String,
    /// The value if the person says it is that name.
    pub code: String,
    /// The value if not: the answer by the step's rules.
    pub otherwise: String,
}

#[derive(Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
    /// Accepted words in every language, in comparable form.
    pub synonyms: Vec<String>,
}

#[derive(Debug)]
pub struct Rule {
    pub check: Check,
    /// Checked against the trimmed text as typed rather than the normalised value.
    pub on_raw: bool,
    pub error: String,
}

#[derive(Debug)]
pub enum Check {
    Regex(Regex),
    MinLength(usize),
    MaxLength(usize),
    Range {
        min: i64,
        max: i64,
    },
    /// A year from `min` to `max`, or to the current year when `max` is `None`.
    Year {
        min: i32,
        max: Option<i32>,
    },
    OneOf(Vec<String>),
    AnyOf(Vec<Check>),
}

#[derive(Debug)]
pub struct UicSpec {
    pub formula: String,
    pub pattern: Regex,
    /// Minijinja expressions over the answers whose values make the duplicate key.
    pub duplicate_key: Vec<String>,
    /// Identifies formula and key: records remember which made them, and two
    /// flows with the same formula (drc-fr, drc-ln) share their codes.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CompletionOptions {
    pub qr_code: bool,
    pub confirm: bool,
}

#[derive(Debug)]
pub struct Example {
    pub answers: BTreeMap<String, String>,
    pub expected: Expected,
}

#[derive(Debug)]
pub enum Expected {
    Uic(String),
    Pattern(Regex),
}

/// Why an answer was refused: the message to show and its variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    pub args: Args,
}

/// A problem in a flow, at a JSON-pointer path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowProblem {
    pub pointer: String,
    pub message: Wording,
}

impl Step {
    /// Normalises and validates one answer. Returns the value to keep.
    pub fn evaluate(&self, raw: &str, current_year: i32) -> Result<String, Refusal> {
        let cleaned = normalize::clean_all(&self.clean, raw);
        let typed = cleaned.trim();
        if !self.choices.is_empty() {
            return self
                .choose_typed(typed)
                .map(str::to_string)
                .ok_or_else(|| Refusal { message: self.choice_error.clone().unwrap_or_default(), args: Vec::new() });
        }
        let value = normalize::apply_all(&self.normalize, typed);
        for rule in &self.rules {
            let subject = if rule.on_raw { typed } else { value.as_str() };
            if !rule.check.accepts(subject, current_year) {
                return Err(Refusal { message: rule.error.clone(), args: rule.check.args(current_year) });
            }
        }
        match self.table().map(|table| table.find(&value)) {
            Some(Found::Code(code)) => Ok(code.to_string()),
            _ => Ok(value),
        }
    }

    /// For an answer the step accepts and its table is not sure of (a name
    /// close to one of the table's, not close enough): what to ask.
    pub fn suggestion(&self, raw: &str, current_year: i32) -> Option<Suggestion> {
        let table = self.table()?;
        let otherwise = self.evaluate(raw, current_year).ok()?;
        match table.find(&otherwise) {
            Found::Perhaps(entry) => Some(Suggestion { name: entry.name.clone(), code: entry.code.clone(), otherwise }),
            _ => None,
        }
    }

    /// A table's name in the form answers are compared in: through the
    /// step's cleaners and normalisers.
    pub fn key(&self, name: &str) -> String {
        normalize::apply_all(&self.normalize, normalize::clean_all(&self.clean, name).trim())
    }

    fn table(&self) -> Option<&Table> {
        self.lookup.as_ref().and_then(|lookup| lookup.table.as_deref())
    }

    /// The value of the choice this text names: its value, or a synonym in any language.
    pub fn choose(&self, typed: &str) -> Option<&str> {
        let wanted = normalize::comparable(typed);
        self.choices
            .iter()
            .find(|choice| normalize::comparable(&choice.value) == wanted || choice.synonyms.contains(&wanted))
            .map(|choice| choice.value.as_str())
    }

    /// The value of the choice typed: a whole number picks the choice at that
    /// position in the numbered list text channels show (so `17` is the 17th
    /// choice, whatever its value), else as [`Step::choose`].
    pub fn choose_typed(&self, typed: &str) -> Option<&str> {
        let position = typed.trim().parse::<usize>().ok().filter(|n| (1..=self.choices.len()).contains(n));
        match position {
            Some(n) => Some(self.choices[n - 1].value.as_str()),
            None => self.choose(typed),
        }
    }

    /// Every message this step may show; `pointer` is the step's path.
    pub fn messages(&self, pointer: &str) -> Vec<MessageUse<'_>> {
        let mut used = vec![MessageUse {
            id: &self.prompt,
            variables: Role::PROMPT_VARIABLES.to_vec(),
            pointer: Some(format!("{pointer}/prompt")),
        }];
        used.extend(self.rules.iter().enumerate().map(|(i, rule)| MessageUse {
            id: &rule.error,
            variables: rule.check.variables(),
            pointer: Some(format!("{pointer}/validate/{i}/error")),
        }));
        used.extend(self.choice_error.iter().map(|id| MessageUse {
            id,
            variables: Vec::new(),
            pointer: Some(format!("{pointer}/error")),
        }));
        used.extend(self.choices.iter().enumerate().map(|(i, choice)| MessageUse {
            id: &choice.label,
            variables: Vec::new(),
            pointer: Some(format!("{pointer}/choices/{i}/label")),
        }));
        used
    }
}

/// One place a flow shows a message: the id, the variables given, and where
/// the flow names it (`None` for a shared moment left at its default id).
#[derive(Debug, Clone)]
pub struct MessageUse<'a> {
    pub id: &'a str,
    pub variables: Vec<&'static str>,
    pub pointer: Option<String>,
}

impl Check {
    fn accepts(&self, value: &str, current_year: i32) -> bool {
        match self {
            Check::Regex(regex) => regex.is_match(value),
            Check::MinLength(min) => value.chars().count() >= *min,
            Check::MaxLength(max) => value.chars().count() <= *max,
            Check::Range { min, max } => value.parse::<i64>().is_ok_and(|n| (*min..=*max).contains(&n)),
            Check::Year { min, max } => {
                let max = max.unwrap_or(current_year);
                value.len() == 4 && value.parse::<i32>().is_ok_and(|n| (*min..=max).contains(&n))
            }
            Check::OneOf(values) => values.iter().any(|v| v == value),
            Check::AnyOf(checks) => checks.iter().any(|check| check.accepts(value, current_year)),
        }
    }

    /// The variables an error message of this rule receives.
    pub fn variables(&self) -> Vec<&'static str> {
        match self {
            Check::MinLength(_) => vec!["min"],
            Check::MaxLength(_) => vec!["max"],
            Check::Range { .. } | Check::Year { .. } => vec!["min", "max"],
            Check::Regex(_) | Check::OneOf(_) | Check::AnyOf(_) => Vec::new(),
        }
    }

    fn args(&self, current_year: i32) -> Args {
        match self {
            Check::MinLength(min) => vec![("min", Arg::Number(*min as i64))],
            Check::MaxLength(max) => vec![("max", Arg::Number(*max as i64))],
            Check::Range { min, max } => vec![("min", Arg::Number(*min)), ("max", Arg::Number(*max))],
            Check::Year { min, max } => vec![
                ("min", Arg::Number(i64::from(*min))),
                ("max", Arg::Number(i64::from(max.unwrap_or(current_year)))),
            ],
            Check::Regex(_) | Check::OneOf(_) | Check::AnyOf(_) => Vec::new(),
        }
    }
}

impl Flow {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }

    pub fn supports(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l == language)
    }

    /// The language a first message reveals by its greeting, if any.
    pub fn detect_language(&self, text: &str) -> Option<&str> {
        let said = normalize::comparable(text);
        self.greetings
            .iter()
            .filter(|(greeting, _)| {
                said == *greeting || said.strip_prefix(greeting.as_str()).is_some_and(|rest| rest.starts_with(' '))
            })
            .max_by_key(|(greeting, _)| greeting.len())
            .map(|(_, language)| language.as_str())
    }

    /// The command this text is, if it is one.
    pub fn command(&self, text: &str) -> Option<&Command> {
        self.commands.get(&normalize::comparable(text))
    }

    /// Every message the flow may show.
    pub fn messages(&self) -> Vec<MessageUse<'_>> {
        // The "more" row of a paged list is only needed by a flow that has one.
        let paged = self.steps.iter().any(|step| step.choices.len() > MAX_LIST_ROWS);
        // So is the question about a name close to a lookup table's.
        let looks_up = self.steps.iter().any(|step| step.lookup.is_some());
        let lookup_roles = [Role::LookupConfirm, Role::LookupYes, Role::LookupNo];
        let mut used: Vec<MessageUse<'_>> = Role::ALL
            .iter()
            .filter(|role| paged || **role != Role::ChoicesMore)
            .filter(|role| looks_up || !lookup_roles.contains(role))
            .map(|role| MessageUse {
                id: self.texts.id(*role),
                variables: role.variables().to_vec(),
                pointer: self.texts.is_overridden(*role).then(|| format!("/texts/{}", role.name())),
            })
            .collect();
        for (i, step) in self.steps.iter().enumerate() {
            used.extend(step.messages(&format!("/steps/{i}")));
        }
        used
    }

    /// Gives step `index` its lookup table, read by lint. What the table maps
    /// joins the fingerprint: a table edited under the same `version` would
    /// change codes as an edited formula would, and is refused the same way.
    pub fn attach_table(&mut self, index: usize, table: Table) {
        let mut mapped: Vec<(&str, &str)> =
            table.entries.iter().map(|entry| (entry.key.as_str(), entry.code.as_str())).collect();
        mapped.sort_unstable();
        let mut hasher = Sha256::new();
        hasher.update(self.uic.fingerprint.as_bytes());
        hasher.update(self.steps[index].id.as_bytes());
        for (key, code) in mapped {
            hasher.update([0x1e]);
            hasher.update(key.as_bytes());
            hasher.update([0x1f]);
            hasher.update(code.as_bytes());
        }
        self.uic.fingerprint = hex::encode(&hasher.finalize()[..8]);
        if let Some(lookup) = &mut self.steps[index].lookup {
            lookup.table = Some(Arc::new(table));
        }
    }

    /// Builds a flow; `line_of` finds the line of a path, for messages that refer
    /// to another place in the file.
    pub fn build(raw: RawFlow, line_of: &dyn Fn(&str) -> Option<usize>) -> Result<Flow, Vec<FlowProblem>> {
        let mut problems = Vec::new();
        let mut problem = |pointer: String, message: Wording| problems.push(FlowProblem { pointer, message });

        if !raw.languages.contains(&raw.default_language) {
            problem(
                "/default_language".into(),
                Wording::new("flow-default-language").text("language", &raw.default_language),
            );
        }
        let known_language = |language: &str| raw.languages.iter().any(|l| l == language);

        let texts = match TextIds::from_overrides(&raw.texts) {
            Ok(texts) => texts,
            Err(unknown) => {
                problem(
                    format!("/texts/{unknown}"),
                    Wording::new("flow-unknown-text").text("name", &unknown).text("known", Role::names().join(", ")),
                );
                TextIds::default()
            }
        };

        let mut greetings = Vec::new();
        for (language, words) in &raw.greetings {
            if !known_language(language) {
                problem(
                    format!("/greetings/{language}"),
                    Wording::new("flow-language-undeclared").text("language", language),
                );
            }
            greetings.extend(words.iter().map(|w| (normalize::comparable(w), language.clone())));
        }

        let mut commands = HashMap::new();
        for (name, by_language) in &raw.commands {
            for (language, words) in by_language {
                let pointer = format!("/commands/{name}/{language}");
                if !known_language(language) {
                    problem(pointer.clone(), Wording::new("flow-language-undeclared").text("language", language));
                }
                let command = match name.as_str() {
                    "restart" => Command::Restart,
                    "help" => Command::Help,
                    "back" => Command::Back,
                    "yes" => Command::Yes,
                    "no" => Command::No,
                    "language" => Command::Language(language.clone()),
                    other => {
                        problem(
                            format!("/commands/{other}"),
                            Wording::new("flow-unknown-command")
                                .text("name", other)
                                .text("known", "restart, help, back, language, yes, no"),
                        );
                        continue;
                    }
                };
                for word in words {
                    let key = normalize::comparable(word);
                    if let Some(previous) = commands.insert(key, command.clone())
                        && previous != command
                    {
                        problem(pointer.clone(), Wording::new("flow-command-word-taken").text("word", word));
                    }
                }
            }
        }

        let mut steps: Vec<Step> = Vec::new();
        let mut first_use: HashMap<String, usize> = HashMap::new();
        for (index, raw_step) in raw.steps.into_iter().enumerate() {
            let pointer = format!("/steps/{index}");
            if let Some(first) = first_use.get(&raw_step.id) {
                let first_line = line_of(&format!("/steps/{first}/id")).unwrap_or(0);
                problem(
                    format!("{pointer}/id"),
                    Wording::new("step-duplicate-id").text("id", &raw_step.id).number("first", first_line),
                );
            } else {
                first_use.insert(raw_step.id.clone(), index);
            }
            match build_step(raw_step, &pointer, &known_language) {
                Ok(step) => steps.push(step),
                Err(found) => found.into_iter().for_each(|p| problem(p.pointer, p.message)),
            }
        }

        let pattern_source = raw.uic.pattern.clone();
        let pattern = match Regex::new(&format!("^(?:{pattern_source})$")) {
            Ok(regex) => Some(regex),
            Err(error) => {
                problem("/uic/pattern".into(), regex_error(&error, true));
                None
            }
        };

        let mut examples = Vec::new();
        for (index, example) in raw.examples.into_iter().enumerate() {
            let pointer = format!("/examples/{index}");
            for step in example.answers.keys() {
                if !first_use.contains_key(step) {
                    problem(
                        format!("{pointer}/answers/{step}"),
                        Wording::new("example-unknown-step").text("step", step),
                    );
                }
            }
            let expected = match (example.uic, example.uic_pattern) {
                (Some(uic), None) => Expected::Uic(uic),
                (None, Some(pattern)) => match Regex::new(&format!("^(?:{pattern})$")) {
                    Ok(regex) => Expected::Pattern(regex),
                    Err(error) => {
                        problem(format!("{pointer}/uic_pattern"), regex_error(&error, true));
                        continue;
                    }
                },
                _ => {
                    problem(pointer, Wording::new("example-needs-one"));
                    continue;
                }
            };
            let answers = example.answers.into_iter().map(|(k, v)| (k, v.into_text())).collect();
            examples.push(Example { answers, expected });
        }

        let fingerprint = {
            let mut hasher = Sha256::new();
            hasher.update(raw.uic.formula.as_bytes());
            for part in &raw.uic.duplicate_key {
                hasher.update([0x1f]);
                hasher.update(part.as_bytes());
            }
            hex::encode(&hasher.finalize()[..8])
        };

        let dhis2 = match raw.dhis2 {
            Some(block) => build_dhis2(block, &steps).unwrap_or_else(|found| {
                found.into_iter().for_each(|p| problem(p.pointer, p.message));
                Dhis2Mapping::default()
            }),
            None => Dhis2Mapping::default(),
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Flow {
            id: raw.id,
            version: raw.version,
            description: raw.description,
            default_language: raw.default_language,
            languages: raw.languages,
            session_timeout_minutes: raw.session_timeout_minutes,
            max_invalid_attempts: raw.max_invalid_attempts,
            texts,
            greetings,
            commands,
            steps,
            uic: UicSpec {
                formula: raw.uic.formula,
                pattern: pattern.expect("checked above"),
                duplicate_key: raw.uic.duplicate_key,
                fingerprint,
            },
            completion: super::model::CompletionOptions {
                qr_code: raw.completion.qr_code,
                confirm: raw.completion.confirm,
            },
            dhis2,
            examples,
        })
    }
}

/// The `dhis2:` block; the schema has checked the UIDs' shape. Attribute
/// expressions are checked with the formulas (`formula::check`).
fn build_dhis2(raw: RawDhis2, steps: &[Step]) -> Result<Dhis2Mapping, Vec<FlowProblem>> {
    let mut problems = Vec::new();
    let (fixed_org_unit, org_unit_from) = match raw.org_unit {
        None => (None, None),
        Some(RawOrgUnit::Fixed(uid)) => (Some(uid), None),
        Some(RawOrgUnit::FromAnswer { from, lookup, default }) => {
            let pointer = "/dhis2/org_unit".to_string();
            match steps.iter().find(|step| step.id == from) {
                None => {
                    let known = steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ");
                    problems.push(FlowProblem {
                        pointer: format!("{pointer}/from"),
                        message: Wording::new("dhis2-org-unit-unknown-step").text("step", &from).text("known", known),
                    });
                }
                Some(step) if step.choices.is_empty() => problems.push(FlowProblem {
                    pointer: format!("{pointer}/from"),
                    message: Wording::new("dhis2-org-unit-typed").text("step", &from),
                }),
                Some(step) => {
                    let values: Vec<&str> = step.choices.iter().map(|c| c.value.as_str()).collect();
                    for key in lookup.keys().filter(|key| !values.contains(&key.as_str())) {
                        problems.push(FlowProblem {
                            pointer: format!("{pointer}/lookup/{key}"),
                            message: Wording::new("dhis2-lookup-not-a-choice")
                                .text("key", key)
                                .text("step", &from)
                                .text("values", values.join(", ")),
                        });
                    }
                    let unmapped: Vec<&str> = values.iter().filter(|v| !lookup.contains_key(**v)).copied().collect();
                    if default.is_none() && !unmapped.is_empty() {
                        problems.push(FlowProblem {
                            pointer: format!("{pointer}/lookup"),
                            message: Wording::new("dhis2-lookup-missing")
                                .number("count", unmapped.len())
                                .text("choices", unmapped.join(", "))
                                .text("step", &from),
                        });
                    }
                }
            }
            (None, Some(OrgUnitLookup { step: from, lookup, default }))
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Dhis2Mapping {
        target: Target {
            program: raw.program,
            org_unit: fixed_org_unit,
            tracked_entity_type: raw.tracked_entity_type,
            uic_attribute: raw.uic_attribute,
        },
        org_unit_from,
        attributes: raw.attributes.into_iter().collect(),
    })
}

fn build_step(raw: RawStep, pointer: &str, known_language: &dyn Fn(&str) -> bool) -> Result<Step, Vec<FlowProblem>> {
    let mut problems = Vec::new();
    let normalize = match &raw.normalize {
        None if raw.choices.is_empty() => Normalizer::preset("text").expect("known preset"),
        None => Vec::new(),
        Some(RawNormalize::Preset(name)) => {
            Normalizer::preset(name).or_else(|| Normalizer::from_name(name).map(|n| vec![n])).unwrap_or_else(|| {
                problems.push(FlowProblem {
                    pointer: format!("{pointer}/normalize"),
                    message: Wording::new("step-unknown-preset").text("name", name),
                });
                Vec::new()
            })
        }
        Some(RawNormalize::Steps(names)) => names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let found = Normalizer::from_name(name);
                if found.is_none() {
                    problems.push(FlowProblem {
                        pointer: format!("{pointer}/normalize/{i}"),
                        message: Wording::new("step-unknown-normaliser").text("name", name),
                    });
                }
                found
            })
            .collect(),
    };

    let mut clean = Vec::new();
    for (i, name) in raw.clean.iter().enumerate() {
        match Cleaner::from_name(name) {
            Some(cleaner) => clean.push(cleaner),
            None => problems.push(FlowProblem {
                pointer: format!("{pointer}/clean/{i}"),
                message: Wording::new("step-unknown-cleaner")
                    .text("name", name)
                    .text("known", Cleaner::NAMES.join(", ")),
            }),
        }
    }

    let mut rules = Vec::new();
    for (i, rule) in raw.validate.into_iter().enumerate() {
        let rule_pointer = format!("{pointer}/validate/{i}");
        let on_raw = match rule.on.as_deref() {
            None | Some("normalized") => false,
            Some("raw") => true,
            Some(other) => {
                problems.push(FlowProblem {
                    pointer: format!("{rule_pointer}/on"),
                    message: Wording::new("rule-on").text("value", other),
                });
                false
            }
        };
        let error = rule.error.clone();
        match build_check(rule, &rule_pointer) {
            Ok(check) => match error {
                Some(error) => rules.push(Rule { check, on_raw, error }),
                None => problems.push(FlowProblem { pointer: rule_pointer, message: Wording::new("rule-needs-error") }),
            },
            Err(mut found) => problems.append(&mut found),
        }
    }

    let mut choices = Vec::new();
    // Each synonym as written, for messages: the comparable form is uppercased.
    let mut written: HashMap<String, String> = HashMap::new();
    for (i, choice) in raw.choices.into_iter().enumerate() {
        let mut synonyms = Vec::new();
        for (language, words) in choice.synonyms {
            if !known_language(&language) {
                problems.push(FlowProblem {
                    pointer: format!("{pointer}/choices/{i}/synonyms/{language}"),
                    message: Wording::new("flow-language-undeclared").text("language", &language),
                });
            }
            for word in words {
                let word = word.into_text();
                let comparable = normalize::comparable(&word);
                written.entry(comparable.clone()).or_insert(word);
                synonyms.push(comparable);
            }
        }
        choices.push(Choice { value: choice.value.into_text(), label: choice.label, synonyms });
    }
    // An answer must mean one choice: a value or synonym shared by two would
    // silently pick the first.
    let mut values: HashMap<&str, usize> = HashMap::new();
    let mut words: HashMap<&str, usize> = HashMap::new();
    for (i, choice) in choices.iter().enumerate() {
        if let Some(&first) = values.get(choice.value.as_str()) {
            problems.push(FlowProblem {
                pointer: format!("{pointer}/choices/{i}/value"),
                message: Wording::new("choice-same-value")
                    .number("first", first + 1)
                    .number("second", i + 1)
                    .text("value", &choice.value),
            });
        } else {
            values.insert(&choice.value, i);
        }
        let mut own: Vec<&str> = choice.synonyms.iter().map(String::as_str).collect();
        own.sort_unstable();
        own.dedup();
        for word in own {
            let shown = written.get(word).map_or(word, String::as_str);
            match words.get(word) {
                Some(&first) if first != i => problems.push(FlowProblem {
                    pointer: format!("{pointer}/choices/{i}/synonyms"),
                    message: Wording::new("choice-same-synonym")
                        .text("synonym", shown)
                        .number("first", first + 1)
                        .number("second", i + 1),
                }),
                Some(_) => {}
                None => {
                    words.insert(word, i);
                }
            }
        }
    }
    if !choices.is_empty() && raw.error.is_none() {
        problems.push(FlowProblem { pointer: pointer.to_string(), message: Wording::new("step-choices-need-error") });
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Step {
        id: raw.id,
        prompt: raw.prompt,
        clean,
        normalize,
        rules,
        choices,
        choice_error: raw.error,
        max_invalid_attempts: raw.max_invalid_attempts,
        lookup: raw.lookup.map(|lookup| Lookup { file: lookup.table, table: None }),
    })
}

fn build_check(rule: RawRule, pointer: &str) -> Result<Check, Vec<FlowProblem>> {
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    if let Some(source) = rule.regex {
        match Regex::new(&source) {
            Ok(regex) => checks.push(Check::Regex(regex)),
            Err(error) => {
                problems.push(FlowProblem { pointer: format!("{pointer}/regex"), message: regex_error(&error, false) })
            }
        }
    }
    if let Some(min) = rule.min_length {
        checks.push(Check::MinLength(min));
    }
    if let Some(max) = rule.max_length {
        checks.push(Check::MaxLength(max));
    }
    if let Some(range) = rule.range {
        checks.push(Check::Range { min: range.min, max: range.max });
    }
    if let Some(year) = rule.year {
        let max = match year.max {
            Scalar::Text(text) if text == "current" => None,
            Scalar::Integer(year) => i32::try_from(year).ok(),
            other => {
                problems.push(FlowProblem {
                    pointer: format!("{pointer}/year/max"),
                    message: Wording::new("rule-year-max").text("value", other.into_text()),
                });
                None
            }
        };
        checks.push(Check::Year { min: year.min, max });
    }
    if let Some(values) = rule.one_of {
        checks.push(Check::OneOf(values.into_iter().map(Scalar::into_text).collect()));
    }
    if let Some(alternatives) = rule.any_of {
        let mut inner = Vec::new();
        for (i, alternative) in alternatives.into_iter().enumerate() {
            match build_check(alternative, &format!("{pointer}/any_of/{i}")) {
                Ok(check) => inner.push(check),
                Err(mut found) => problems.append(&mut found),
            }
        }
        checks.push(Check::AnyOf(inner));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match checks.len() {
        1 => Ok(checks.pop().expect("one check")),
        0 => Err(vec![FlowProblem { pointer: pointer.to_string(), message: Wording::new("rule-needs-a-check") }]),
        _ => Err(vec![FlowProblem { pointer: pointer.to_string(), message: Wording::new("rule-one-check") }]),
    }
}

/// The regex crate's message without its ASCII-art pointer lines.
/// The regex crate's reason, with the position in the pattern. `wrapped`:
/// the pattern was compiled as `^(?:…)$`, which staff did not write.
fn regex_error(error: &regex::Error, wrapped: bool) -> Wording {
    let text = error.to_string();
    let reason = text
        .lines()
        .rev()
        .find(|line| line.starts_with("error:"))
        .unwrap_or(text.lines().next().unwrap_or(""))
        .trim_start_matches("error: ");
    // The regex crate prints the pattern indented by four spaces and a caret
    // line under the position; staff get the position as a count and the
    // character, since a terminal's caret would not line up in a message.
    let lines: Vec<&str> = text.lines().collect();
    let position = lines.iter().enumerate().skip(1).find_map(|(i, line)| {
        let caret = line.find('^')?;
        let is_marker = line.trim().chars().all(|c| c == '^');
        let pattern = lines[i - 1].strip_prefix("    ")?;
        (is_marker && caret >= 4).then(|| (pattern, caret - 4))
    });
    let position = match position {
        Some((pattern, at)) if wrapped => pattern
            .strip_prefix("^(?:")
            .and_then(|p| p.strip_suffix(")$"))
            .map(|p| (p, at.checked_sub(4).filter(|at| *at < p.chars().count()))),
        Some((pattern, at)) => Some((pattern, Some(at))),
        None => None,
    };
    let wording = match position {
        // The problem lies in the wrapping (an unclosed group closed by it): no position.
        Some((pattern, None)) => Wording::new("regex-invalid-in").text("pattern", pattern),
        Some((pattern, Some(at))) => match pattern.chars().nth(at) {
            Some(c) => {
                Wording::new("regex-invalid-at").number("position", at + 1).text("char", c).text("pattern", pattern)
            }
            None => Wording::new("regex-invalid-at-end").text("pattern", pattern),
        },
        None => Wording::new("regex-invalid"),
    };
    match REGEX_REASONS.iter().find(|(said, _)| *said == reason) {
        Some((_, id)) => wording.wording("reason", Wording::new(id)),
        // A reason met rarely keeps the regex crate's words.
        None => wording.text("reason", reason),
    }
}

/// The regex crate's most frequent reasons, as it says them, and their
/// wording for staff.
const REGEX_REASONS: &[(&str, &str)] = &[
    ("unclosed character class", "regex-class-unclosed"),
    ("unclosed group", "regex-group-unclosed"),
    ("unopened group", "regex-group-unopened"),
    ("unclosed counted repetition", "regex-count-unclosed"),
    ("invalid repetition count range, the start must be <= the end", "regex-count-backwards"),
    ("repetition quantifier expects a valid decimal", "regex-count-not-a-number"),
    ("repetition operator missing expression", "regex-repeats-nothing"),
    ("unrecognized escape sequence", "regex-escape-unknown"),
    ("invalid escape sequence found in character class", "regex-escape-unknown"),
    ("incomplete escape sequence, reached end of pattern prematurely", "regex-escape-incomplete"),
    ("invalid character class range, the start must be <= the end", "regex-range-backwards"),
    ("look-around, including look-ahead and look-behind, is not supported", "regex-look-around"),
    ("backreferences are not supported", "regex-backreference"),
    ("unrecognized flag", "regex-flag-unknown"),
];
