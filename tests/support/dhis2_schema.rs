//! DHIS2's own description of a tracker import as a JSON Schema: the vendored
//! OpenAPI file (`tests/fixtures/dhis2`), read once, repaired in memory, and
//! compiled into the check the fake DHIS2 applies to every body the app posts
//! to `/api/tracker`.
//!
//! The file itself is never edited, so a newer version can be dropped in and
//! the repairs below show what still needs them.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};

use super::openapi::compile;

const SPEC: &str = "tests/fixtures/dhis2/dhis2-tracker-openapi-v42.json";

/// A UID as DHIS2's `CodeGenerator` makes and checks them.
const UID_PATTERN: &str = "^[a-zA-Z][a-zA-Z0-9]{10}$";

/// The OpenAPI document.
pub fn spec() -> &'static Value {
    static SPEC_JSON: OnceLock<Value> = OnceLock::new();
    SPEC_JSON.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SPEC}: {e}"))
    })
}

/// `components.schemas`, untouched.
fn schemas() -> Value {
    spec()["components"]["schemas"].clone()
}

/// Every object schema in `schema`, however deeply inlined.
fn each_object(schema: &mut Value, apply: &mut impl FnMut(&mut serde_json::Map<String, Value>)) {
    match schema {
        Value::Object(object) => {
            if object.contains_key("properties") {
                apply(object);
            }
            object.values_mut().for_each(|value| each_object(value, apply));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| each_object(item, apply)),
        _ => {}
    }
}

/// Removes `field` from the `required` list of `schema` and of its inlined copies.
fn not_required(schema: &mut Value, field: &str) {
    each_object(schema, &mut |object| {
        if let Some(Value::Array(required)) = object.get_mut("required") {
            required.retain(|name| name != field);
        }
    });
}

/// The repairs of `tests/fixtures/dhis2/README.md`.
///
/// 1. `TrackerAttribute` requires `valueType`, which the server fills in from
///    its metadata: an import sends `{attribute, value}` only.
/// 2. `TrackerEnrollment` and `TrackerEvent` require `status`, which the
///    developer manual documents as optional ("ACTIVE if not supplied"); the
///    generator marks every enum with a default as required.
/// 3. No object is closed, and DHIS2 ignores properties it does not know: a
///    misspelled `orgUnt` or `trackedEntites` is silently dropped, and the
///    import "succeeds" without what the app meant to send. Closing every
///    object (`additionalProperties: false`) turns that into an error here.
///    Objects without `properties` (`geometry`, GeoJSON) stay open.
/// 4. The `UID_*` schemas allow a digit first; DHIS2 refuses such a UID (and
///    the report schemas of the same file use the stricter pattern).
fn repair(schemas: &mut Value) {
    not_required(&mut schemas["TrackerAttribute"], "valueType");
    for name in ["TrackerEnrollment", "TrackerEvent", "TrackerRelationshipItem"] {
        not_required(&mut schemas[name], "status");
    }
    each_object(schemas, &mut |object| {
        object.entry("additionalProperties").or_insert(Value::Bool(false));
    });
    let names: Vec<String> = schemas.as_object().expect("schemas").keys().cloned().collect();
    for name in names.iter().filter(|name| name.starts_with("UID_")) {
        schemas[name]["pattern"] = json!(UID_PATTERN);
    }
}

fn import_validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut schemas = schemas();
        repair(&mut schemas);
        compile(schemas, "Body")
    })
}

/// Checks a body of `POST /api/tracker` against `Body`, repaired; each error
/// starts with the JSON pointer of what fails.
pub fn validate_import(body: &Value) -> Result<(), Vec<String>> {
    check(import_validator(), body)
}

fn check(validator: &Validator, instance: &Value) -> Result<(), Vec<String>> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| {
            let path = error.instance_path().as_str().to_string();
            format!("{}: {error}", if path.is_empty() { "/" } else { &path })
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The `Body` schema as shipped, for the tests that show each repair is needed.
pub fn validate_import_as_shipped(body: &Value) -> Result<(), Vec<String>> {
    check(&compile(schemas(), "Body"), body)
}
