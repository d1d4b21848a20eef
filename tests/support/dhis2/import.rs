//! `POST /api/tracker` as DHIS2 runs it, for tracked entities and
//! enrollments: the payload flattened, every object validated against the
//! metadata and the stored data (with DHIS2's error codes and messages), then
//! committed all or nothing (`atomicMode=ALL`) or object by object, and
//! described in a `TrackerImportReport`.
//!
//! The messages are those of dhis2-core's `ValidationCode` (2.41+).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::metadata::{Metadata, MetadataKind};
use super::new_uid;
use super::tracker::{Tracker, array, holds, now, status};

/// What an import does with objects that exist or not (`importStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Create,
    Update,
    CreateAndUpdate,
    Delete,
}

/// Whether one error stops everything (`atomicMode=ALL`, the default) or
/// only the object in error (`OBJECT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomic {
    All,
    Object,
}

/// The query parameters of an import that change what the fake does.
#[derive(Debug, Clone, Copy)]
pub struct ImportParams {
    /// `async`, true unless the client says `false`, as in DHIS2.
    pub asynchronous: bool,
    pub strategy: Strategy,
    pub atomic: Atomic,
    /// `reportMode=FULL`: the report includes `timingsStats`.
    pub full: bool,
}

impl ImportParams {
    /// `Err` is DHIS2's message for a value it does not accept.
    pub fn from_query(query: &[(String, String)]) -> Result<ImportParams, String> {
        let param = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
        let invalid = |name: &str, value: &str, valid: &str| {
            format!("Value '{value}' is not valid for parameter {name}. Valid values are: [{valid}]")
        };
        let asynchronous = match param("async").unwrap_or("true") {
            value if value.eq_ignore_ascii_case("true") => true,
            value if value.eq_ignore_ascii_case("false") => false,
            other => return Err(invalid("async", other, "true, false")),
        };
        let strategy = match param("importStrategy").unwrap_or("CREATE_AND_UPDATE") {
            "CREATE" => Strategy::Create,
            "UPDATE" => Strategy::Update,
            "CREATE_AND_UPDATE" => Strategy::CreateAndUpdate,
            "DELETE" => Strategy::Delete,
            other => return Err(invalid("importStrategy", other, "CREATE, UPDATE, CREATE_AND_UPDATE, DELETE")),
        };
        let atomic = match param("atomicMode").unwrap_or("ALL") {
            "ALL" => Atomic::All,
            "OBJECT" => Atomic::Object,
            other => return Err(invalid("atomicMode", other, "ALL, OBJECT")),
        };
        let full = match param("reportMode").unwrap_or("ERRORS") {
            "FULL" => true,
            "ERRORS" | "WARNINGS" => false,
            other => return Err(invalid("reportMode", other, "FULL, ERRORS, WARNINGS")),
        };
        Ok(ImportParams { asynchronous, strategy, atomic, full })
    }
}

/// One validation error, as it appears in `validationReport.errorReports`.
struct Problem {
    code: &'static str,
    tracker_type: &'static str,
    uid: String,
    args: Vec<String>,
}

impl Problem {
    fn new(code: &'static str, tracker_type: &'static str, uid: &str, args: &[&str]) -> Problem {
        Problem { code, tracker_type, uid: uid.to_string(), args: args.iter().map(|arg| arg.to_string()).collect() }
    }

    fn to_json(&self) -> Value {
        let template = MESSAGES.iter().find(|(code, _)| *code == self.code).map_or("", |(_, message)| message);
        let message = self
            .args
            .iter()
            .enumerate()
            .fold(template.to_string(), |message, (i, arg)| message.replace(&format!("{{{i}}}"), arg));
        json!({
            "message": message,
            "errorCode": self.code,
            "trackerType": self.tracker_type,
            "uid": self.uid,
            "args": self.args,
        })
    }
}

/// The codes the fake raises, with dhis2-core's wording.
const MESSAGES: [(&str, &str); 20] = [
    ("E1000", "User: `{0}` has no capture scope access to OrganisationUnit: `{1}`."),
    ("E1002", "TrackedEntity: `{0}`, already exists."),
    ("E1005", "Could not find TrackedEntityType: `{0}`."),
    ("E1006", "Attribute: `{0}` does not exist."),
    ("E1015", "TrackedEntity: `{0}` already has an active Enrollment in Program `{1}`."),
    ("E1019", "Only ProgramAttributes are allowed for Enrollment, invalid Attribute: `{0}`."),
    ("E1022", "TrackedEntity: `{0}` must have same TrackedEntityType as Program `{1}`."),
    ("E1025", "Property enrolledAt is null."),
    ("E1041", "Enrollment OrganisationUnit: `{0}` and Program: `{1}` do not match."),
    ("E1049", "Could not find OrganisationUnit: `{0}` linked to TrackedEntity."),
    ("E1063", "TrackedEntity: `{0}`, does not exist."),
    ("E1064", "Non-unique attribute value `{0}` for attribute `{1}`."),
    ("E1068", "Could not find TrackedEntity: `{0}` linked to Enrollment."),
    ("E1069", "Could not find Program: `{0}` linked to Enrollment."),
    ("E1070", "Could not find OrganisationUnit: `{0}` linked to Enrollment."),
    ("E1080", "Enrollment: `{0}` already exists."),
    ("E1081", "Enrollment: `{0}` do not exist."),
    ("E1121", "Missing required trackedEntity property: `{0}`."),
    ("E1122", "Missing required enrollment property: `{0}`."),
    ("E5000", "{0} `{1}` cannot be created because {2} `{3}` referenced by it could not be created."),
];

const TRACKED_ENTITY: &str = "TRACKED_ENTITY";
const ENROLLMENT: &str = "ENROLLMENT";

/// The payload flattened: nested enrollments moved out and pointed at their
/// tracked entity, and a UID given to every object that came without one,
/// as DHIS2 does before validating.
struct Payload {
    entities: Vec<Value>,
    enrollments: Vec<Value>,
}

impl Payload {
    fn flatten(body: &Value) -> Payload {
        let mut entities = Vec::new();
        let mut enrollments = Vec::new();
        for entity in array(&body["trackedEntities"]).filter(|entity| entity.is_object()) {
            let mut entity = entity.clone();
            let uid = given_uid(&mut entity, "trackedEntity");
            let nested = entity.as_object_mut().and_then(|object| object.remove("enrollments"));
            for enrollment in array(&nested.unwrap_or_default()).filter(|enrollment| enrollment.is_object()) {
                let mut enrollment = enrollment.clone();
                given_uid(&mut enrollment, "enrollment");
                enrollment["trackedEntity"] = json!(uid);
                enrollments.push(enrollment);
            }
            entities.push(entity);
        }
        for enrollment in array(&body["enrollments"]).filter(|enrollment| enrollment.is_object()) {
            let mut enrollment = enrollment.clone();
            given_uid(&mut enrollment, "enrollment");
            enrollments.push(enrollment);
        }
        Payload { entities, enrollments }
    }

    fn entity(&self, uid: &str) -> Option<&Value> {
        self.entities.iter().find(|entity| entity["trackedEntity"] == uid)
    }

    fn len(&self) -> usize {
        self.entities.len() + self.enrollments.len()
    }
}

/// The object's UID under `key`, generated when missing.
fn given_uid(object: &mut Value, key: &str) -> String {
    if let Some(uid) = object[key].as_str() {
        return uid.to_string();
    }
    let uid = new_uid("Gen");
    object[key] = json!(uid);
    uid
}

fn uid_of<'v>(object: &'v Value, key: &str) -> &'v str {
    object[key].as_str().unwrap_or_default()
}

/// What validation found: the errors, and which objects they make invalid.
#[derive(Default)]
struct Validation {
    problems: Vec<Problem>,
    invalid: HashSet<String>,
    /// Unique attribute values claimed so far in this payload:
    /// (attribute, lowercased value) → tracked entity.
    claims: HashMap<(String, String), String>,
    /// (tracked entity, program) pairs given a new active enrollment in this payload.
    new_active: HashSet<(String, String)>,
}

impl Validation {
    fn raise(&mut self, code: &'static str, tracker_type: &'static str, uid: &str, args: &[&str]) {
        self.problems.push(Problem::new(code, tracker_type, uid, args));
        self.invalid.insert(uid.to_string());
    }
}

/// Counts and UIDs of one tracker type, for `bundleReport.typeReportMap`.
#[derive(Default)]
struct TypeReport {
    created: usize,
    updated: usize,
    deleted: usize,
    ignored: usize,
    uids: Vec<String>,
}

impl TypeReport {
    fn to_json(&self, tracker_type: &str) -> Value {
        let objects: Vec<Value> =
            self.uids.iter().map(|uid| json!({"trackerType": tracker_type, "uid": uid, "errorReports": []})).collect();
        json!({
            "trackerType": tracker_type,
            "stats": stats(self.created, self.updated, self.deleted, self.ignored),
            "objectReports": objects,
        })
    }
}

fn stats(created: usize, updated: usize, deleted: usize, ignored: usize) -> Value {
    let total = created + updated + deleted + ignored;
    json!({"created": created, "updated": updated, "deleted": deleted, "ignored": ignored, "total": total})
}

impl Tracker {
    /// Imports `body` (already checked against the schema) and returns the
    /// report. Nothing is committed when the report's status is `ERROR` and
    /// the import is atomic.
    pub fn import(&mut self, metadata: &Metadata, body: &Value, params: &ImportParams) -> Value {
        let payload = Payload::flatten(body);
        let validation = self.validate(metadata, &payload, params.strategy);
        if !validation.problems.is_empty() && params.atomic == Atomic::All {
            return refused(&validation.problems, payload.len(), params.full);
        }
        let (entities, enrollments) = self.commit(&payload, &validation.invalid, params.strategy);
        let status = if validation.problems.is_empty() { "OK" } else { "ERROR" };
        let total = |field: fn(&TypeReport) -> usize| field(&entities) + field(&enrollments);
        let empty = TypeReport::default();
        let mut report = json!({
            "status": status,
            "validationReport": {
                "errorReports": validation.problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
                "warningReports": [],
            },
            "stats": stats(total(|r| r.created), total(|r| r.updated), total(|r| r.deleted), total(|r| r.ignored)),
            "bundleReport": {"typeReportMap": {
                TRACKED_ENTITY: entities.to_json(TRACKED_ENTITY),
                ENROLLMENT: enrollments.to_json(ENROLLMENT),
                "EVENT": empty.to_json("EVENT"),
                "RELATIONSHIP": empty.to_json("RELATIONSHIP"),
            }},
        });
        if params.full {
            report["timingsStats"] = timings();
        }
        report
    }

    fn validate(&self, metadata: &Metadata, payload: &Payload, strategy: Strategy) -> Validation {
        let mut found = Validation::default();
        for entity in &payload.entities {
            self.validate_entity(metadata, entity, strategy, &mut found);
        }
        for enrollment in &payload.enrollments {
            self.validate_enrollment(metadata, payload, enrollment, strategy, &mut found);
        }
        found
    }

    fn validate_entity(&self, metadata: &Metadata, entity: &Value, strategy: Strategy, found: &mut Validation) {
        let uid = uid_of(entity, "trackedEntity");
        let exists = self.find(uid).is_some();
        match (strategy, exists) {
            (Strategy::Create, true) => found.raise("E1002", TRACKED_ENTITY, uid, &[uid]),
            (Strategy::Update | Strategy::Delete, false) => found.raise("E1063", TRACKED_ENTITY, uid, &[uid]),
            _ => {}
        }
        if strategy == Strategy::Delete {
            return;
        }
        match entity["trackedEntityType"].as_str() {
            None => found.raise("E1121", TRACKED_ENTITY, uid, &["trackedEntityType"]),
            Some(kind) if !metadata.exists(MetadataKind::TrackedEntityType, kind) => {
                found.raise("E1005", TRACKED_ENTITY, uid, &[kind])
            }
            Some(_) => {}
        }
        match entity["orgUnit"].as_str() {
            None => found.raise("E1121", TRACKED_ENTITY, uid, &["orgUnit"]),
            Some(unit) if !metadata.exists(MetadataKind::OrganisationUnit, unit) => {
                found.raise("E1049", TRACKED_ENTITY, uid, &[unit])
            }
            Some(_) => {}
        }
        self.validate_attributes(metadata, &entity["attributes"], uid, (TRACKED_ENTITY, uid), None, found);
    }

    fn validate_enrollment(
        &self,
        metadata: &Metadata,
        payload: &Payload,
        enrollment: &Value,
        strategy: Strategy,
        found: &mut Validation,
    ) {
        let uid = uid_of(enrollment, "enrollment");
        let stored_owner = self.owner_of(uid);
        match (strategy, stored_owner.is_some()) {
            (Strategy::Create, true) => found.raise("E1080", ENROLLMENT, uid, &[uid]),
            (Strategy::Update | Strategy::Delete, false) => found.raise("E1081", ENROLLMENT, uid, &[uid]),
            _ => {}
        }
        if strategy == Strategy::Delete {
            return;
        }
        let entity_uid =
            enrollment["trackedEntity"].as_str().or(stored_owner.map(|owner| uid_of(owner, "trackedEntity")));
        let entity = entity_uid.and_then(|entity| payload.entity(entity).or(self.find(entity)));
        match entity_uid {
            None => found.raise("E1122", ENROLLMENT, uid, &["trackedEntity"]),
            Some(missing) if entity.is_none() => found.raise("E1068", ENROLLMENT, uid, &[missing]),
            Some(_) => {}
        }
        let program = enrollment["program"].as_str();
        match program {
            None => found.raise("E1122", ENROLLMENT, uid, &["program"]),
            Some(unknown) if !metadata.exists(MetadataKind::Program, unknown) => {
                found.raise("E1069", ENROLLMENT, uid, &[unknown])
            }
            Some(_) => {}
        }
        let program = program.filter(|program| metadata.exists(MetadataKind::Program, program));
        match enrollment["orgUnit"].as_str() {
            None => found.raise("E1122", ENROLLMENT, uid, &["orgUnit"]),
            Some(unit) if !metadata.exists(MetadataKind::OrganisationUnit, unit) => {
                found.raise("E1070", ENROLLMENT, uid, &[unit])
            }
            Some(unit) => {
                if let Some(program) = program
                    && !metadata.program_has_org_unit(program, unit)
                {
                    found.raise("E1041", ENROLLMENT, uid, &[unit, program]);
                }
            }
        }
        if enrollment["enrolledAt"].is_null() {
            found.raise("E1025", ENROLLMENT, uid, &[]);
        }
        if let (Some(entity_uid), Some(entity), Some(program)) = (entity_uid, entity, program) {
            if entity["trackedEntityType"].as_str() != metadata.program_type(program) {
                found.raise("E1022", ENROLLMENT, uid, &[entity_uid, program]);
            }
            // DHIS2 allows one active enrollment per program: a retry that
            // makes a new enrollment UID for the same person fails here.
            if stored_owner.is_none() && status(enrollment) == "ACTIVE" {
                let stored_active = self.find(entity_uid).is_some_and(|stored| {
                    array(&stored["enrollments"]).any(|other| {
                        other["program"] == program && status(other) == "ACTIVE" && other["enrollment"] != uid
                    })
                });
                let key = (entity_uid.to_string(), program.to_string());
                if stored_active || found.new_active.contains(&key) {
                    found.raise("E1015", ENROLLMENT, uid, &[entity_uid, program]);
                } else {
                    found.new_active.insert(key);
                }
            }
        }
        if let Some(entity_uid) = entity_uid {
            self.validate_attributes(
                metadata,
                &enrollment["attributes"],
                entity_uid,
                (ENROLLMENT, uid),
                program,
                found,
            );
            if found.invalid.contains(entity_uid) {
                found.raise("E5000", ENROLLMENT, uid, &["Enrollment", uid, "TrackedEntity", entity_uid]);
            }
        }
    }

    /// Checks attribute values held by tracked entity `owner`, sent on
    /// `object` (a tracked entity, or an enrollment into `program`).
    fn validate_attributes(
        &self,
        metadata: &Metadata,
        attributes: &Value,
        owner: &str,
        object: (&'static str, &str),
        program: Option<&str>,
        found: &mut Validation,
    ) {
        let (tracker_type, uid) = object;
        for value in array(attributes) {
            let attribute = uid_of(value, "attribute");
            if !metadata.exists(MetadataKind::TrackedEntityAttribute, attribute) {
                found.raise("E1006", tracker_type, uid, &[attribute]);
                continue;
            }
            if let Some(program) = program
                && !metadata.program_has_attribute(program, attribute)
            {
                found.raise("E1019", tracker_type, uid, &[attribute]);
                continue;
            }
            let Some(text) = value["value"].as_str().filter(|text| !text.is_empty()) else { continue };
            if !metadata.attribute_unique(attribute) {
                continue;
            }
            let held =
                self.entities.iter().any(|other| other["trackedEntity"] != owner && holds(other, attribute, text));
            let key = (attribute.to_string(), text.to_lowercase());
            let claimed = found.claims.get(&key).is_some_and(|claimant| claimant != owner);
            if held || claimed {
                found.raise("E1064", tracker_type, uid, &[text, attribute]);
            } else {
                found.claims.insert(key, owner.to_string());
            }
        }
    }

    /// Writes every valid object; returns what happened to each type.
    fn commit(&mut self, payload: &Payload, invalid: &HashSet<String>, strategy: Strategy) -> (TypeReport, TypeReport) {
        let mut entities = TypeReport::default();
        for entity in &payload.entities {
            let uid = uid_of(entity, "trackedEntity");
            if invalid.contains(uid) {
                entities.ignored += 1;
                continue;
            }
            if strategy == Strategy::Delete {
                self.entities.retain(|stored| stored["trackedEntity"] != uid);
                entities.deleted += 1;
            } else if let Some(stored) = self.find_mut(uid) {
                merge(stored, entity, &["trackedEntity", "enrollments"]);
                entities.updated += 1;
            } else {
                let mut created = json!({"attributes": [], "enrollments": [], "createdAt": now()});
                merge(&mut created, entity, &["enrollments"]);
                self.entities.push(created);
                entities.created += 1;
            }
            entities.uids.push(uid.to_string());
        }
        let mut enrollments = TypeReport::default();
        for enrollment in &payload.enrollments {
            let uid = uid_of(enrollment, "enrollment");
            // An enrollment stays with the tracked entity that holds it.
            let owner = self.owner_of(uid).map(|owner| uid_of(owner, "trackedEntity").to_string());
            let entity_uid = owner.or(enrollment["trackedEntity"].as_str().map(str::to_string));
            let entity = entity_uid.and_then(|entity| self.find_mut(&entity));
            let Some(entity) = entity.filter(|_| !invalid.contains(uid)) else {
                enrollments.ignored += 1;
                continue;
            };
            let list = entity["enrollments"].as_array_mut().expect("stored enrollments are a list");
            if strategy == Strategy::Delete {
                list.retain(|stored| stored["enrollment"] != uid);
                enrollments.deleted += 1;
            } else if let Some(stored) = list.iter_mut().find(|stored| stored["enrollment"] == uid) {
                merge(stored, enrollment, &["enrollment", "trackedEntity"]);
                enrollments.updated += 1;
            } else {
                let mut created = json!({"status": "ACTIVE", "attributes": [], "createdAt": now()});
                merge(&mut created, enrollment, &[]);
                list.push(created);
                enrollments.created += 1;
            }
            // Attribute values belong to the tracked entity, whichever object carried them.
            merge_attributes(entity, &enrollment["attributes"]);
            entity["updatedAt"] = json!(now());
            enrollments.uids.push(uid.to_string());
        }
        (entities, enrollments)
    }
}

/// Copies the fields of `incoming` onto `stored`, but `skip`; attribute
/// values are merged one by one.
fn merge(stored: &mut Value, incoming: &Value, skip: &[&str]) {
    let Some(fields) = incoming.as_object() else { return };
    for (key, value) in fields.iter().filter(|(key, _)| !skip.contains(&key.as_str())) {
        match key.as_str() {
            "attributes" => merge_attributes(stored, value),
            _ => stored[key] = value.clone(),
        }
    }
    stored["updatedAt"] = json!(now());
}

/// Sets each attribute value of `incoming` on `stored`; an empty or null
/// value deletes it, as in DHIS2.
fn merge_attributes(stored: &mut Value, incoming: &Value) {
    if !stored["attributes"].is_array() {
        stored["attributes"] = json!([]);
    }
    let list = stored["attributes"].as_array_mut().expect("made a list above");
    for value in array(incoming) {
        let attribute = uid_of(value, "attribute");
        let text = value["value"].as_str().filter(|text| !text.is_empty());
        let position = list.iter().position(|held| held["attribute"] == attribute);
        match (position, text) {
            (Some(i), Some(text)) => list[i]["value"] = json!(text),
            (Some(i), None) => {
                list.remove(i);
            }
            (None, Some(text)) => list.push(json!({"attribute": attribute, "value": text})),
            (None, None) => {}
        }
    }
}

/// The report of an import refused as a whole: every object ignored, nothing persisted.
fn refused(problems: &[Problem], objects: usize, full: bool) -> Value {
    let mut report = json!({
        "status": "ERROR",
        "validationReport": {
            "errorReports": problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
            "warningReports": [],
        },
        "stats": stats(0, 0, 0, objects),
        "bundleReport": {"typeReportMap": {}},
    });
    if full {
        report["timingsStats"] = timings();
    }
    report
}

/// A refusal the payload does not explain (`Fault::OkWithError`): the user
/// lacks capture access to each tracked entity's org unit.
pub fn refused_for_access(body: &Value, username: &str, full: bool) -> Value {
    let payload = Payload::flatten(body);
    let problems: Vec<Problem> = payload
        .entities
        .iter()
        .map(|entity| {
            let uid = uid_of(entity, "trackedEntity");
            Problem::new("E1000", TRACKED_ENTITY, uid, &[username, uid_of(entity, "orgUnit")])
        })
        .collect();
    refused(&problems, payload.len(), full)
}

fn timings() -> Value {
    let timers = [("preheat", "0.001"), ("validation", "0.001"), ("commit", "0.001"), ("totalImport", "0.003")];
    let timers: serde_json::Map<String, Value> =
        timers.into_iter().map(|(step, seconds)| (step.to_string(), json!(format!("{seconds}000 sec.")))).collect();
    json!({"timers": timers})
}
