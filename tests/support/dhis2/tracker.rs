//! The fake's tracker data: tracked entities, each with its attribute values
//! and enrollments nested, in memory and in the order they were created. The
//! import (`import.rs`) and the search (`search.rs`) work on it; this file
//! holds the store and how a tracked entity is shown on the way out.

use serde_json::{Map, Value, json};

use super::metadata::{Metadata, MetadataKind};

/// Every tracked entity, as stored:
/// `{trackedEntity, trackedEntityType, orgUnit, attributes: [{attribute, value}],
/// enrollments: [{enrollment, program, orgUnit, enrolledAt, status, trackedEntity,
/// attributes, ...}], createdAt, updatedAt}`.
#[derive(Default)]
pub struct Tracker {
    pub(super) entities: Vec<Value>,
}

impl Tracker {
    pub fn entities(&self) -> &[Value] {
        &self.entities
    }

    pub fn insert(&mut self, entity: Value) {
        self.entities.push(entity);
    }

    pub(super) fn find(&self, uid: &str) -> Option<&Value> {
        self.entities.iter().find(|entity| entity["trackedEntity"] == uid)
    }

    pub(super) fn find_mut(&mut self, uid: &str) -> Option<&mut Value> {
        self.entities.iter_mut().find(|entity| entity["trackedEntity"] == uid)
    }

    /// The tracked entity that holds enrollment `uid`.
    pub(super) fn owner_of(&self, enrollment: &str) -> Option<&Value> {
        self.entities.iter().find(|entity| array(&entity["enrollments"]).any(|e| e["enrollment"] == enrollment))
    }

    /// A tracked entity as `GET /api/tracker/trackedEntities` shows it;
    /// enrollments only when `fields` asks for them, as DHIS2's default
    /// fields leave them out.
    pub fn export(&self, metadata: &Metadata, entity: &Value, with_enrollments: bool) -> Value {
        let mut out = Map::new();
        for key in ["trackedEntity", "trackedEntityType", "createdAt", "updatedAt", "orgUnit"] {
            out.insert(key.into(), entity[key].clone());
        }
        for key in ["inactive", "deleted", "potentialDuplicate"] {
            out.insert(key.into(), json!(entity[key].as_bool().unwrap_or(false)));
        }
        out.insert("attributes".into(), export_attributes(metadata, &entity["attributes"]));
        if with_enrollments {
            let enrollments = array(&entity["enrollments"])
                .map(|enrollment| {
                    let mut enrollment = enrollment.clone();
                    enrollment["attributes"] = export_attributes(metadata, &enrollment["attributes"]);
                    enrollment["deleted"] = json!(false);
                    enrollment
                })
                .collect();
            out.insert("enrollments".into(), Value::Array(enrollments));
        }
        Value::Object(out)
    }
}

/// Attribute values with the name and value type the server adds from its metadata.
fn export_attributes(metadata: &Metadata, attributes: &Value) -> Value {
    let exported = array(attributes).map(|value| {
        let uid = value["attribute"].as_str().unwrap_or_default();
        let attribute = metadata.get(MetadataKind::TrackedEntityAttribute, uid).cloned().unwrap_or(Value::Null);
        json!({
            "attribute": uid,
            "displayName": attribute["name"],
            "valueType": attribute["valueType"],
            "value": value["value"],
        })
    });
    Value::Array(exported.collect())
}

/// The elements of `list`, or none when it is not an array.
pub fn array(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

/// The value `entity` holds for `attribute`.
pub fn value_of<'e>(entity: &'e Value, attribute: &str) -> Option<&'e str> {
    array(&entity["attributes"]).find(|value| value["attribute"] == attribute)?["value"].as_str()
}

/// Whether `entity` holds `value` for `attribute`, ignoring case as DHIS2's
/// uniqueness check and `eq` filter do.
pub fn holds(entity: &Value, attribute: &str, value: &str) -> bool {
    value_of(entity, attribute).is_some_and(|held| held.to_lowercase() == value.to_lowercase())
}

/// An enrollment's status: `ACTIVE` unless the client said otherwise.
pub fn status(enrollment: &Value) -> &str {
    enrollment["status"].as_str().unwrap_or("ACTIVE")
}

/// DHIS2's timestamp format: local time, milliseconds, no zone.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}
