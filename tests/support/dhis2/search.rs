//! `GET /api/tracker/trackedEntities` as DHIS2 answers it, in either of its
//! generations: from 2.41 `orgUnits`/`orgUnitMode` and results under
//! `trackedEntities` with a `pager`; before, `orgUnit` (semicolon-separated)
//! and `ouMode`, results under `instances` with `page`/`pageSize`.
//!
//! DHIS2 2.41 still accepts the old names (deprecated), 2.42 no longer knows
//! them; the fake refuses a parameter of the other generation with a 400, so
//! that a client talking to the wrong version fails a test instead of
//! silently searching another scope or reading an absent list.
//!
//! Simplifications: the org units have no hierarchy, and a tracked entity is
//! owned by its registration org unit (DHIS2 tracks ownership per program).

use serde_json::{Value, json};

use super::Version;
use super::metadata::{Metadata, MetadataKind};
use super::tracker::{Tracker, array, value_of};

/// The org units a search may see; `None` for all (`ALL`).
type Scope = Option<Vec<String>>;

/// A query's parameters, by name (a parameter may repeat, e.g. `filter`).
struct Query<'q>(&'q [(String, String)]);

impl<'q> Query<'q> {
    fn one(&self, name: &str) -> Option<&'q str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn all(&self, name: &'q str) -> impl Iterator<Item = &'q str> {
        self.0.iter().filter(move |(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.one(name).is_some()
    }

    /// A list parameter, its values separated by `separator`.
    fn list(&self, name: &str, separator: char) -> Vec<String> {
        let values = self.one(name).unwrap_or_default().split(separator);
        values.map(str::trim).filter(|value| !value.is_empty()).map(str::to_string).collect()
    }

    fn number(&self, name: &str, default: usize) -> Result<usize, String> {
        match self.one(name) {
            None => Ok(default),
            Some(text) => text.parse().ok().filter(|n| *n > 0).ok_or(format!("Invalid value for `{name}`: {text}")),
        }
    }
}

/// One attribute filter: `ATTR:op:value[:op:value...]`.
struct Filter {
    attribute: String,
    conditions: Vec<(String, Option<String>)>,
}

impl Filter {
    fn matches(&self, entity: &Value) -> bool {
        let held = value_of(entity, &self.attribute).map(str::to_lowercase);
        self.conditions.iter().all(|(operator, value)| {
            let value = value.as_deref().unwrap_or_default().to_lowercase();
            match (operator.as_str(), held.as_deref()) {
                ("null", held) => held.is_none(),
                ("!null", held) => held.is_some(),
                ("ne" | "neq" | "nieq", held) => held != Some(value.as_str()),
                (_, None) => false,
                ("eq" | "ieq", Some(held)) => held == value,
                ("like" | "ilike", Some(held)) => held.contains(&value),
                ("sw", Some(held)) => held.starts_with(&value),
                ("ew", Some(held)) => held.ends_with(&value),
                ("in", Some(held)) => value.split(';').any(|one| one == held),
                _ => false,
            }
        })
    }
}

/// The operators the fake understands; all matching ignores case, as DHIS2's.
const OPERATORS: [&str; 12] = ["eq", "ieq", "ne", "neq", "nieq", "like", "ilike", "sw", "ew", "in", "null", "!null"];

/// Splits `filter` values into filters: items separated by `,`, parts by
/// `:`, and `/` escaping either separator or itself inside a value.
fn parse_filters(text: &str) -> Result<Vec<Filter>, String> {
    let mut items: Vec<Vec<String>> = vec![vec![String::new()]];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let item = items.last_mut().expect("at least one item");
        match c {
            '/' if chars.peek().is_some_and(|next| matches!(next, ':' | ',' | '/')) => {
                item.last_mut().expect("at least one part").push(chars.next().expect("peeked"))
            }
            ',' => items.push(vec![String::new()]),
            ':' => item.push(String::new()),
            c => item.last_mut().expect("at least one part").push(c),
        }
    }
    items.into_iter().filter(|parts| parts.len() > 1 || !parts[0].is_empty()).map(filter).collect()
}

fn filter(parts: Vec<String>) -> Result<Filter, String> {
    let mut parts = parts.into_iter();
    let attribute = parts.next().unwrap_or_default();
    let mut conditions = Vec::new();
    while let Some(operator) = parts.next() {
        let operator = operator.to_lowercase();
        if !OPERATORS.contains(&operator.as_str()) {
            return Err(format!(
                "Query item or filter is invalid: operator `{operator}` (the fake knows {OPERATORS:?})"
            ));
        }
        let value = match operator.as_str() {
            "null" | "!null" => None,
            _ => Some(parts.next().ok_or(format!("Operator `{operator}` in filter for `{attribute}` needs a value"))?),
        };
        conditions.push((operator, value));
    }
    if conditions.is_empty() {
        return Err(format!("Filter for `{attribute}` has no operator"));
    }
    Ok(Filter { attribute, conditions })
}

/// The org unit scope of a search, by the rules of `version`.
fn scope(query: &Query, metadata: &Metadata, version: &Version, accessible: &[&str]) -> Result<Scope, String> {
    let (mode_name, units_name, separator) =
        if version.new_search() { ("orgUnitMode", "orgUnits", ',') } else { ("ouMode", "orgUnit", ';') };
    let units = query.list(units_name, separator);
    if let Some(unknown) = units.iter().find(|unit| !metadata.exists(MetadataKind::OrganisationUnit, unit)) {
        return Err(format!("Organisation unit does not exist: {unknown}"));
    }
    let mode = query.one(mode_name).map(str::to_uppercase);
    let accessible = || Ok(Some(accessible.iter().map(|unit| unit.to_string()).collect()));
    match (mode.as_deref(), units.is_empty()) {
        (None, false) => Ok(Some(units)),
        // Defaults to ACCESSIBLE only from 2.42.
        (None, true) if version.minor >= 42 => accessible(),
        (None, true) => Err(format!(
            "At least one organisation unit must be specified with `{units_name}`, \
             or `{mode_name}` ACCESSIBLE, CAPTURE or ALL"
        )),
        (Some("ACCESSIBLE" | "CAPTURE"), true) => accessible(),
        (Some("ALL"), true) => Ok(None),
        (Some(mode @ ("ACCESSIBLE" | "CAPTURE" | "ALL")), false) => {
            Err(format!("`{units_name}` cannot be specified with `{mode_name}` {mode}"))
        }
        // The fake's org units have no children: the hierarchy adds nothing.
        (Some("SELECTED" | "CHILDREN" | "DESCENDANTS"), false) => Ok(Some(units)),
        (Some(mode @ ("SELECTED" | "CHILDREN" | "DESCENDANTS")), true) => {
            Err(format!("At least one organisation unit must be specified with `{mode_name}` {mode}"))
        }
        (Some(other), _) => Err(format!(
            "Value '{other}' is not valid for parameter {mode_name}. \
             Valid values are: [SELECTED, CHILDREN, DESCENDANTS, ACCESSIBLE, CAPTURE, ALL]"
        )),
    }
}

/// Refuses the parameter names of the other generation.
fn check_generation(query: &Query, version: &Version) -> Result<(), String> {
    let (foreign, own) = if version.new_search() {
        ([("ouMode", "orgUnitMode"), ("orgUnit", "orgUnits")], "2.41 and later")
    } else {
        ([("orgUnitMode", "ouMode"), ("orgUnits", "orgUnit")], "before 2.41")
    };
    match foreign.iter().find(|(name, _)| query.has(name)) {
        Some((name, instead)) => {
            Err(format!("Parameter `{name}` is not one of DHIS2 {}'s ({own} the name is `{instead}`)", version.text))
        }
        None => Ok(()),
    }
}

/// Whether the loosely read `fields` asks for enrollments: DHIS2's default
/// fields leave them out.
pub fn wants_enrollments(fields: Option<&str>) -> bool {
    let fields = fields.unwrap_or_default();
    !fields.contains("!enrollments") && (fields.contains("enrollments") || fields.split(',').any(|f| f.trim() == "*"))
}

impl Tracker {
    /// The answer to a search; `Err` is the message of DHIS2's 400.
    pub fn search(
        &self,
        metadata: &Metadata,
        query: &[(String, String)],
        version: &Version,
        accessible: &[&str],
    ) -> Result<Value, String> {
        let query = Query(query);
        check_generation(&query, version)?;
        let program = query.one("program");
        let kind = query.one("trackedEntityType");
        let uids = query.list("trackedEntities", ',');
        if program.is_none() && kind.is_none() && uids.is_empty() {
            return Err("Either `program`, `trackedEntityType` or `trackedEntities` should be specified".into());
        }
        if let Some(program) = program.filter(|program| !metadata.exists(MetadataKind::Program, program)) {
            return Err(format!("Program is specified but does not exist: {program}"));
        }
        if let Some(kind) = kind.filter(|kind| !metadata.exists(MetadataKind::TrackedEntityType, kind)) {
            return Err(format!("Tracked entity type is specified but does not exist: {kind}"));
        }
        let scope = scope(&query, metadata, version, accessible)?;
        let filters: Vec<Filter> =
            query.all("filter").map(parse_filters).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
        if let Some(unknown) =
            filters.iter().find(|filter| !metadata.exists(MetadataKind::TrackedEntityAttribute, &filter.attribute))
        {
            return Err(format!("Attribute does not exist: {}", unknown.attribute));
        }
        let page = query.number("page", 1)?;
        let page_size = query.number("pageSize", 50)?;
        let with_enrollments = wants_enrollments(query.one("fields"));
        let found: Vec<Value> = self
            .entities
            .iter()
            .filter(|entity| {
                program.is_none_or(|program| array(&entity["enrollments"]).any(|e| e["program"] == program))
            })
            .filter(|entity| kind.is_none_or(|kind| entity["trackedEntityType"] == kind))
            .filter(|entity| uids.is_empty() || uids.iter().any(|uid| entity["trackedEntity"] == uid.as_str()))
            .filter(|entity| {
                scope.as_ref().is_none_or(|units| units.iter().any(|unit| entity["orgUnit"] == unit.as_str()))
            })
            .filter(|entity| filters.iter().all(|filter| filter.matches(entity)))
            .skip((page - 1) * page_size)
            .take(page_size)
            .map(|entity| self.export(metadata, entity, with_enrollments))
            .collect();
        Ok(if version.new_search() {
            json!({"pager": {"page": page, "pageSize": page_size}, "trackedEntities": found})
        } else {
            json!({"instances": found, "page": page, "pageSize": page_size})
        })
    }
}
