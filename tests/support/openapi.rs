//! What the providers' OpenAPI descriptions share in the tests: compiling one
//! named component among all of them, so that `$ref`s resolve.

use jsonschema::Validator;
use serde_json::{Value, json};

/// A draft 2020-12 validator of `components.schemas.<name>` among `schemas`,
/// so that `$ref`s resolve against the whole document.
pub fn compile(schemas: Value, name: &str) -> Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": {"schemas": schemas},
    });
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema {name} compiles: {e}"))
}
