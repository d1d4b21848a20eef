//! The fake's metadata: one tracker program, its tracked entity type, two
//! attributes and two org units, as DHIS2's metadata API shows them. Imports
//! are checked against it, so a test that alters it (an attribute no longer
//! unique, an org unit taken out of the program) changes what an import does.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{GENDER_ATTRIBUTE, ORG_UNIT, OTHER_ORG_UNIT, PROGRAM, TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE};

/// The kinds of metadata the fake serves, each under its own collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetadataKind {
    Program,
    TrackedEntityType,
    TrackedEntityAttribute,
    OrganisationUnit,
}

impl MetadataKind {
    const ALL: [MetadataKind; 4] = [
        MetadataKind::Program,
        MetadataKind::TrackedEntityType,
        MetadataKind::TrackedEntityAttribute,
        MetadataKind::OrganisationUnit,
    ];

    /// The collection under `/api/`, e.g. `programs`.
    pub fn collection(self) -> &'static str {
        match self {
            MetadataKind::Program => "programs",
            MetadataKind::TrackedEntityType => "trackedEntityTypes",
            MetadataKind::TrackedEntityAttribute => "trackedEntityAttributes",
            MetadataKind::OrganisationUnit => "organisationUnits",
        }
    }

    /// The class DHIS2 names in its messages, e.g. `Program`.
    pub fn class(self) -> &'static str {
        match self {
            MetadataKind::Program => "Program",
            MetadataKind::TrackedEntityType => "TrackedEntityType",
            MetadataKind::TrackedEntityAttribute => "TrackedEntityAttribute",
            MetadataKind::OrganisationUnit => "OrganisationUnit",
        }
    }

    pub fn from_collection(collection: &str) -> Option<MetadataKind> {
        MetadataKind::ALL.into_iter().find(|kind| kind.collection() == collection)
    }
}

/// Metadata objects by kind and UID, each as `GET /api/<collection>/<uid>` answers.
pub struct Metadata {
    objects: BTreeMap<(MetadataKind, String), Value>,
}

impl Metadata {
    pub fn seeded() -> Metadata {
        let mut metadata = Metadata { objects: BTreeMap::new() };
        metadata.put(
            MetadataKind::Program,
            json!({
                "id": PROGRAM,
                "name": "UIC registration",
                "programType": "WITH_REGISTRATION",
                "trackedEntityType": {"id": TRACKED_ENTITY_TYPE},
                "programTrackedEntityAttributes": [
                    {"trackedEntityAttribute": {"id": UIC_ATTRIBUTE}, "mandatory": false, "searchable": true},
                    {"trackedEntityAttribute": {"id": GENDER_ATTRIBUTE}, "mandatory": false, "searchable": false},
                ],
                "organisationUnits": [{"id": ORG_UNIT}],
                "onlyEnrollOnce": false,
            }),
        );
        metadata.put(
            MetadataKind::TrackedEntityType,
            json!({
                "id": TRACKED_ENTITY_TYPE,
                "name": "Person",
                "trackedEntityTypeAttributes": [{"trackedEntityAttribute": {"id": UIC_ATTRIBUTE}}],
            }),
        );
        for (id, name, unique) in [(UIC_ATTRIBUTE, "Unique Identifier Code", true), (GENDER_ATTRIBUTE, "Gender", false)]
        {
            let attribute = json!({"id": id, "name": name, "unique": unique, "valueType": "TEXT"});
            metadata.put(MetadataKind::TrackedEntityAttribute, attribute);
        }
        for (id, name) in [(ORG_UNIT, "Kinshasa Health Centre"), (OTHER_ORG_UNIT, "Lubumbashi Health Centre")] {
            let unit = json!({"id": id, "name": name, "path": format!("/{id}"), "level": 1});
            metadata.put(MetadataKind::OrganisationUnit, unit);
        }
        metadata
    }

    pub fn get(&self, kind: MetadataKind, uid: &str) -> Option<&Value> {
        self.objects.get(&(kind, uid.to_string()))
    }

    pub fn exists(&self, kind: MetadataKind, uid: &str) -> bool {
        self.get(kind, uid).is_some()
    }

    /// Adds `object`, or replaces the one with its `id`.
    pub fn put(&mut self, kind: MetadataKind, object: Value) {
        let uid = object["id"].as_str().expect("a metadata object has an id").to_string();
        self.objects.insert((kind, uid), object);
    }

    pub fn get_mut(&mut self, kind: MetadataKind, uid: &str) -> Option<&mut Value> {
        self.objects.get_mut(&(kind, uid.to_string()))
    }

    pub fn attribute_unique(&self, uid: &str) -> bool {
        self.get(MetadataKind::TrackedEntityAttribute, uid).is_some_and(|attribute| attribute["unique"] == true)
    }

    /// The program's tracked entity type.
    pub fn program_type(&self, program: &str) -> Option<&str> {
        self.get(MetadataKind::Program, program)?["trackedEntityType"]["id"].as_str()
    }

    pub fn program_has_org_unit(&self, program: &str, org_unit: &str) -> bool {
        self.get(MetadataKind::Program, program)
            .is_some_and(|program| ids(&program["organisationUnits"], |unit| &unit["id"]).any(|id| id == org_unit))
    }

    pub fn program_has_attribute(&self, program: &str, attribute: &str) -> bool {
        self.get(MetadataKind::Program, program).is_some_and(|program| {
            ids(&program["programTrackedEntityAttributes"], |link| &link["trackedEntityAttribute"]["id"])
                .any(|id| id == attribute)
        })
    }
}

/// The string found by `pick` in each element of `list`.
fn ids<'v>(list: &'v Value, pick: impl Fn(&'v Value) -> &'v Value) -> impl Iterator<Item = &'v str> {
    list.as_array().into_iter().flatten().filter_map(move |item| pick(item).as_str())
}
