//! Meta's own description of the WhatsApp Cloud API as JSON Schemas: the
//! vendored OpenAPI file (`tests/fixtures/meta`), read once, repaired in
//! memory, and compiled into the checks the fake Graph API applies to every
//! body the app sends, and the tests apply to every webhook fixture.
//!
//! The file itself is never edited, so a newer version can be dropped in and
//! the repairs below show what still needs them.

use std::cmp::Reverse;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Value, json};

use super::openapi::compile;

const SPEC: &str = "tests/fixtures/meta/meta-business-messaging-api_v23.0.yaml";

/// The OpenAPI document, as JSON.
pub fn spec() -> &'static Value {
    static SPEC_JSON: OnceLock<Value> = OnceLock::new();
    SPEC_JSON.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
        to_json(yaml)
    })
}

/// YAML to JSON by hand: the document has integer map keys (`200:` under
/// `responses`), which `serde_json::Value` refuses to deserialise.
fn to_json(yaml: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().expect("a YAML number is an integer or a float"))
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(s) => s,
                        Yaml::Number(n) => n.to_string(),
                        Yaml::Bool(b) => b.to_string(),
                        other => panic!("{SPEC}: unexpected map key {other:?}"),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => to_json(tagged.value),
    }
}

/// `components.schemas`, untouched.
fn schemas() -> Value {
    spec()["components"]["schemas"].clone()
}

/// The documented repair (`tests/fixtures/meta/README.md`). Each outgoing
/// message schema is `allOf: [BaseMessageProperties, {additionalProperties:
/// false, ...}]`; a branch's `additionalProperties` only sees that branch's
/// own `properties`, so `to`, `messaging_product`... are "additional" there
/// and every real body fails. `unevaluatedProperties: false` on the parent sees
/// the properties of every branch, and still closes the object. Only where a
/// branch closed itself: objects the authors left open stay open.
fn move_closed_branches(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Array(branches)) = object.get_mut("allOf") {
                let mut moved = false;
                for branch in branches.iter_mut().filter_map(Value::as_object_mut) {
                    if branch.get("additionalProperties") == Some(&Value::Bool(false)) {
                        branch.remove("additionalProperties");
                        moved = true;
                    }
                }
                if moved {
                    object.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
            }
            object.values_mut().for_each(move_closed_branches);
        }
        Value::Array(items) => items.iter_mut().for_each(move_closed_branches),
        _ => {}
    }
}

/// The webhook schemas came from a second document merged into this one: its
/// names that clashed were renamed (`TextMessage_2`, `BaseMessageProperties_1`,
/// ...) but the `$ref`s to them were not, so `IncomingMessage` points at the
/// outgoing message schemas and every incoming message "lacks" `to` and
/// `recipient_type`. Not in Meta's README: found by validating its own
/// examples. This points the webhook side back at its own schemas.
fn repoint_webhook_refs(schemas: &mut Value) {
    const MESSAGES: [(&str, &str); 8] = [
        ("TextMessage", "TextMessage_2"),
        ("ReactionMessage", "ReactionMessage_1"),
        ("AudioMessage", "AudioMessage_1"),
        ("DocumentMessage", "DocumentMessage_1"),
        ("ImageMessage", "ImageMessage_1"),
        ("StickerMessage", "StickerMessage_1"),
        ("VideoMessage", "VideoMessage_1"),
        ("LocationMessage", "LocationMessage_1"),
    ];
    const INSIDE: [(&str, &str); 3] = [
        ("BaseMessageProperties", "BaseMessageProperties_1"),
        ("ContactObject", "ContactObject_1"),
        ("ErrorObject", "ErrorObject_2"),
    ];
    const ONLY_INCOMING: [&str; 6] = [
        "ContactSharingMessage",
        "UnsupportedMessage",
        "ButtonMessage",
        "InteractiveMessageReply",
        "OrderMessage",
        "SystemMessage",
    ];
    repoint(&mut schemas["IncomingMessage"], &MESSAGES);
    for name in MESSAGES.iter().map(|(_, renamed)| *renamed).chain(ONLY_INCOMING) {
        repoint(&mut schemas[name], &INSIDE);
    }
}

/// Rewrites references (`$ref`s and discriminator mappings alike) to the
/// schemas named in `renames`.
fn repoint(schema: &mut Value, renames: &[(&str, &str)]) {
    const PREFIX: &str = "#/components/schemas/";
    match schema {
        Value::String(reference) => {
            let target = reference.strip_prefix(PREFIX);
            if let Some((_, to)) = renames.iter().find(|(from, _)| Some(*from) == target) {
                *reference = format!("{PREFIX}{to}");
            }
        }
        Value::Object(object) => object.values_mut().for_each(|value| repoint(value, renames)),
        Value::Array(items) => items.iter_mut().for_each(|item| repoint(item, renames)),
        _ => {}
    }
}

fn message_validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut schemas = schemas();
        move_closed_branches(&mut schemas);
        compile(schemas, "Message")
    })
}

fn webhook_validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut schemas = schemas();
        repoint_webhook_refs(&mut schemas);
        move_closed_branches(&mut schemas);
        compile(schemas, "WebhookPayload")
    })
}

/// Checks a body of `POST /{version}/{phone-number-id}/messages` against
/// `Message`; the error names each failing instance path.
pub fn validate_message(body: &Value) -> Result<(), String> {
    check(message_validator(), body)
}

/// Checks a webhook payload against `WebhookPayload`, with both repairs.
pub fn validate_webhook(payload: &Value) -> Result<(), String> {
    check(webhook_validator(), payload)
}

/// Mark-as-read shares the `/messages` endpoint but is not in the document:
/// exactly these fields, as Meta's guide shows them.
pub fn validate_mark_as_read(body: &Value) -> Result<(), String> {
    let object = body.as_object().ok_or("/: not an object")?;
    let mut errors = Vec::new();
    if object.get("messaging_product") != Some(&json!("whatsapp")) {
        errors.push("/messaging_product: must be \"whatsapp\"".to_string());
    }
    if object.get("status") != Some(&json!("read")) {
        errors.push("/status: must be \"read\"".to_string());
    }
    if object.get("message_id").and_then(Value::as_str).is_none_or(str::is_empty) {
        errors.push("/message_id: must be a non-empty string".to_string());
    }
    if let Some(indicator) = object.get("typing_indicator")
        && indicator != &json!({"type": "text"})
    {
        errors.push(format!("/typing_indicator: must be {{\"type\":\"text\"}}, not {indicator}"));
    }
    let known = ["messaging_product", "status", "message_id", "typing_indicator"];
    for unknown in object.keys().filter(|key| !known.contains(&key.as_str())) {
        errors.push(format!("/{unknown}: not a field of mark-as-read"));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

fn check(validator: &Validator, instance: &Value) -> Result<(), String> {
    let leaves: Vec<Leaf> = validator.iter_errors(instance).flat_map(|error| leaves(&error)).collect();
    // A property that fails its own schema is also "unevaluated" for its
    // parent; saying so a second time only hides the first error.
    let explained = |leaf: &Leaf| {
        !leaf.unexpected.is_empty()
            && leaf.unexpected.iter().all(|name| {
                let child = format!("{}/{name}", leaf.path);
                leaves.iter().any(|other| other.path == child || other.path.starts_with(&format!("{child}/")))
            })
    };
    let errors: Vec<String> = leaves
        .iter()
        .filter(|leaf| !explained(leaf))
        .map(|leaf| format!("{}: {}", if leaf.path.is_empty() { "/" } else { &leaf.path }, leaf.message))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// One precise error: where, what, and for `unevaluatedProperties` which properties.
struct Leaf {
    /// JSON pointer of the instance, `""` for the whole body.
    path: String,
    message: String,
    unexpected: Vec<String>,
}

/// The leaves of an error. A failed `oneOf` is explained by the branch the
/// body meant rather than by all eleven: the one whose `type` matched, else
/// the one with the fewest errors, else the one that got deepest.
fn leaves(error: &ValidationError<'_>) -> Vec<Leaf> {
    let leaf = || {
        let unexpected = match error.kind() {
            ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected.clone(),
            _ => Vec::new(),
        };
        vec![Leaf { path: error.instance_path().as_str().to_string(), message: error.to_string(), unexpected }]
    };
    let branches = match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => context,
        _ => return leaf(),
    };
    // `type` is the discriminator of both `Message` and `IncomingMessage`.
    let discriminator = format!("{}/type", error.instance_path().as_str());
    let other_type =
        |branch: &Vec<ValidationError<'static>>| branch.iter().any(|e| e.instance_path().as_str() == discriminator);
    let depth = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().map(|e| e.instance_path().as_str().matches('/').count()).max().unwrap_or(0)
    };
    match branches.iter().min_by_key(|branch| (other_type(branch), branch.len(), Reverse(depth(branch)))) {
        Some(closest) if !closest.is_empty() => closest.iter().flat_map(leaves).collect(),
        _ => leaf(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn to(kind: &str, content: Value) -> Value {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "243810000001",
            "type": kind,
        });
        body[kind] = content;
        body
    }

    fn text() -> Value {
        to("text", json!({"body": "Bonjour ! Quel est votre nom ?", "preview_url": false}))
    }

    fn buttons(titles: &[&str]) -> Value {
        let buttons: Vec<Value> = titles
            .iter()
            .enumerate()
            .map(|(i, title)| json!({"type": "reply", "reply": {"id": format!("choice_{i}"), "title": title}}))
            .collect();
        to(
            "interactive",
            json!({"type": "button", "body": {"text": "Avez-vous un enfant ?"}, "action": {"buttons": buttons}}),
        )
    }

    fn list(rows: usize) -> Value {
        let rows: Vec<Value> = (0..rows)
            .map(|i| json!({"id": format!("row_{i}"), "title": format!("Province {i}"), "description": "RDC"}))
            .collect();
        to(
            "interactive",
            json!({
                "type": "list",
                "header": {"type": "text", "text": "Province"},
                "body": {"text": "Dans quelle province vivez-vous ?"},
                "footer": {"text": "Choisissez une ligne"},
                "action": {"button": "Choisir", "sections": [{"title": "Provinces", "rows": rows}]},
            }),
        )
    }

    #[test]
    fn real_bodies_pass() {
        let image = to("image", json!({"id": "1003383421387256", "caption": "Votre code UIC"}));
        for body in [text(), image, buttons(&["Oui", "Non", "Je ne sais pas"]), list(10)] {
            assert_eq!(validate_message(&body), Ok(()), "{body}");
        }
    }

    #[test]
    fn what_whatsapp_refuses_is_rejected_at_its_path() {
        let four = validate_message(&buttons(&["Un", "Deux", "Trois", "Quatre"])).unwrap_err();
        assert!(four.starts_with("/interactive/action/buttons: "), "{four}");
        // Only the cause: not also "/: 'interactive' was unexpected".
        assert!(!four.contains("; "), "{four}");
        let long = validate_message(&buttons(&["Oui", "Je ne sais pas encore"])).unwrap_err();
        assert!(long.contains("/interactive/action/buttons/1/reply/title"), "{long}");
        let rows = validate_message(&list(11)).unwrap_err();
        assert!(rows.contains("/interactive/action/sections/0/rows"), "{rows}");
    }

    #[test]
    fn misspelled_fields_are_rejected() {
        let mut txt = text();
        let content = txt.as_object_mut().unwrap().remove("text").unwrap();
        txt["txt"] = content;
        let error = validate_message(&txt).unwrap_err();
        assert!(error.contains("txt"), "{error}");
        let bodyy = to("text", json!({"bodyy": "Bonjour"}));
        let error = validate_message(&bodyy).unwrap_err();
        assert!(error.contains("/text") && error.contains("bodyy"), "{error}");
    }

    #[test]
    fn without_the_repair_a_real_text_fails() {
        let as_shipped = compile(schemas(), "Message");
        let error = check(&as_shipped, &text()).unwrap_err();
        assert!(error.contains("messaging_product"), "{error}");
    }

    #[test]
    fn mark_as_read_is_exact() {
        let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgM"});
        assert_eq!(validate_mark_as_read(&read), Ok(()));
        let mut typing = read.clone();
        typing["typing_indicator"] = json!({"type": "text"});
        assert_eq!(validate_mark_as_read(&typing), Ok(()));
        let mut extra = read.clone();
        extra["to"] = json!("243810000001");
        assert!(validate_mark_as_read(&extra).unwrap_err().contains("/to"));
        let mut empty = read;
        empty["message_id"] = json!("");
        assert!(validate_mark_as_read(&empty).unwrap_err().contains("/message_id"));
    }

    /// Meta's own message examples, except the group ones, whose examples
    /// disagree with their schema (integer timestamps, numeric ids) and which
    /// the app does not receive.
    fn message_examples() -> Map<String, Value> {
        let examples =
            &spec()["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]["application/json"]["examples"];
        let examples = examples.as_object().expect("the webhook has examples").clone();
        examples.into_iter().filter(|(name, _)| !name.starts_with("Group")).collect()
    }

    #[test]
    fn the_webhook_examples_pass_once_repaired_and_not_before() {
        let mut only_documented = schemas();
        move_closed_branches(&mut only_documented);
        let only_documented = compile(only_documented, "WebhookPayload");
        for (name, example) in message_examples() {
            assert_eq!(validate_webhook(&example["value"]), Ok(()), "{name}");
            let error = check(&only_documented, &example["value"]).unwrap_err();
            assert!(error.contains("/entry/0/changes/0/value"), "{name}: {error}");
        }
    }
}
