//! What Meta sends the app: webhook payloads built from the examples in Meta's
//! OpenAPI description (`tests/fixtures/meta`), serialised byte for byte as
//! Meta does and signed with `X-Hub-Signature-256`; and the credentials the
//! test servers and the fake Graph API ([`super::graph`]) share.
//!
//! Fixtures start from Meta's own examples rather than hand-written JSON, so a
//! field the app forgets to ignore, or expects and Meta never sends, shows up.
//! The schemas themselves live in [`super::meta_schema`].

use std::sync::atomic::{AtomicU64, Ordering};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub use super::meta_schema::{spec, validate_mark_as_read, validate_message, validate_webhook};

/// `META_APP_SECRET`: keys the webhook signatures.
pub const APP_SECRET: &str = "test-meta-app-secret-0123456789abcdef";
/// `META_WEBHOOK_VERIFY_TOKEN`: what Meta echoes when subscribing the webhook.
pub const VERIFY_TOKEN: &str = "test-meta-verify-token";
/// `META_ACCESS_TOKEN`: the bearer the fake Graph API expects.
pub const ACCESS_TOKEN: &str = "EAAtestmetaaccesstoken0123456789";
/// `META_PHONE_NUMBER_ID`: the id in every example of Meta's file.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// `META_API_VERSION`: the version of the vendored description.
pub const API_VERSION: &str = "v23.0";

/// The example `name` of `POST /whatsapp/webhooks`, e.g. `"Text Message"`.
pub fn example(name: &str) -> Value {
    let examples =
        &spec()["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]["application/json"]["examples"];
    match examples.get(name) {
        Some(example) => example["value"].clone(),
        None => {
            let names: Vec<&String> = examples.as_object().into_iter().flat_map(|map| map.keys()).collect();
            panic!("no webhook example {name:?}; there are {names:?}")
        }
    }
}

/// A message id in Meta's shape, different for every call in the test binary.
pub fn wamid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("wamid.HBgM{}", STANDARD.encode(format!("{:08X}{n:012X}", std::process::id())))
}

/// Meta's `from` and `wa_id`: the E.164 number without its `+`.
pub fn wa_id(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

fn now() -> String {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    since_epoch.as_secs().to_string()
}

/// The `value` of the single change of a payload.
fn value_mut(payload: &mut Value) -> &mut Value {
    &mut payload["entry"][0]["changes"][0]["value"]
}

/// The example `name`, now from `phone` with message id `id`, sent now.
fn incoming(name: &str, phone: &str, id: &str) -> Value {
    let mut payload = example(name);
    let value = value_mut(&mut payload);
    value["contacts"][0]["wa_id"] = json!(wa_id(phone));
    let message = &mut value["messages"][0];
    message["from"] = json!(wa_id(phone));
    message["id"] = json!(id);
    message["timestamp"] = json!(now());
    payload
}

fn message_mut(payload: &mut Value) -> &mut Value {
    &mut value_mut(payload)["messages"][0]
}

/// A person types `body`.
pub fn text(phone: &str, id: &str, body: &str) -> Value {
    let mut payload = incoming("Text Message", phone, id);
    message_mut(&mut payload)["text"]["body"] = json!(body);
    payload
}

/// A person picks the row `row_id` of an interactive list (Meta adds the row's
/// `description` only when it has one).
pub fn list_reply(phone: &str, id: &str, row_id: &str, title: &str) -> Value {
    let mut payload = incoming("Interactive List Reply Message", phone, id);
    message_mut(&mut payload)["interactive"]["list_reply"] = json!({"id": row_id, "title": title});
    payload
}

/// A person taps the reply button `button_id` of an interactive message.
pub fn button_reply(phone: &str, id: &str, button_id: &str, title: &str) -> Value {
    let mut payload = incoming("Interactive Button Reply Message", phone, id);
    message_mut(&mut payload)["interactive"]["button_reply"] = json!({"id": button_id, "title": title});
    payload
}

/// A person taps a quick-reply button of a template: a `button` message, not
/// an `interactive` one.
pub fn template_button(phone: &str, id: &str, payload: &str, text: &str) -> Value {
    let mut webhook = incoming("Button Message", phone, id);
    message_mut(&mut webhook)["button"] = json!({"payload": payload, "text": text});
    webhook
}

/// A photo with a caption, as in Meta's example.
pub fn image(phone: &str, id: &str) -> Value {
    incoming("Image Message", phone, id)
}

pub fn location(phone: &str, id: &str) -> Value {
    incoming("Location Message", phone, id)
}

pub fn contacts(phone: &str, id: &str) -> Value {
    incoming("Contact Sharing Message", phone, id)
}

pub fn reaction(phone: &str, id: &str) -> Value {
    incoming("Reaction Message", phone, id)
}

/// What WhatsApp cannot describe (a poll, a view-once photo...): `type: unsupported` and error 131051.
pub fn unsupported(phone: &str, id: &str) -> Value {
    incoming("Unsupported Message", phone, id)
}

/// An `audio`, `video`, `document` or `sticker` message. Meta's file has no
/// example of these, so the image example is reshaped into what the webhook
/// schemas (`AudioMessage_1`...) require on top of the media fields.
pub fn media(phone: &str, id: &str, kind: &str) -> Value {
    let mut payload = incoming("Image Message", phone, id);
    let message = message_mut(&mut payload);
    let image = message.as_object_mut().expect("a message is an object").remove("image").expect("an image");
    let mut object = json!({"sha256": image["sha256"], "id": image["id"]});
    let (mime_type, extra) = match kind {
        "audio" => ("audio/ogg; codecs=opus", json!({"voice": true})),
        "video" => ("video/mp4", json!({"caption": "Regardez"})),
        "document" => ("application/pdf", json!({"filename": "carte.pdf"})),
        "sticker" => ("image/webp", json!({"animated": false})),
        other => panic!("no {other} media in WhatsApp: audio, video, document or sticker"),
    };
    object["mime_type"] = json!(mime_type);
    for (field, value) in extra.as_object().expect("an object") {
        object[field] = value.clone();
    }
    message["type"] = json!(kind);
    message[kind] = object;
    payload
}

/// Meta reporting on a message the app sent (`outgoing_id`, a wamid the Graph
/// API returned): `sent`, `delivered`, `read` or `failed`, with an error
/// `(code, title)` when it failed. The file has no status example, so this
/// follows the schemas `StatusMessageValue`, `Statuses` and `StatusError`.
pub fn status(outgoing_id: &str, status: &str, recipient_phone: &str, error: Option<(i64, &str)>) -> Value {
    let mut payload = example("Text Message");
    let metadata = value_mut(&mut payload)["metadata"].clone();
    let mut entry = json!({
        "id": outgoing_id,
        "status": status,
        "timestamp": now(),
        "recipient_id": wa_id(recipient_phone),
    });
    if status == "sent" {
        entry["conversation"] = json!({"id": "ebd2d5a0e5c0cf6a1e4d0f4b5d1e2a3c", "origin": {"type": "service"}});
        entry["pricing"] = json!({"billable": false, "pricing_model": "PMP", "category": "service"});
    }
    if let Some((code, title)) = error {
        entry["errors"] = json!([{
            "code": code,
            "title": title,
            "message": title,
            "error_data": {"details": title},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]);
    }
    *value_mut(&mut payload) = json!({"messaging_product": "whatsapp", "metadata": metadata, "statuses": [entry]});
    payload
}

/// Several payloads as the one request Meta may send them in: the first one's
/// envelope, with the messages (and statuses, and senders) of all of them.
pub fn batch(values: &[Value]) -> Value {
    let mut payload = values.first().expect("at least one payload").clone();
    let value = value_mut(&mut payload);
    for field in ["contacts", "messages", "statuses"] {
        let mut all: Vec<Value> = Vec::new();
        for item in values.iter().filter_map(|v| v["entry"][0]["changes"][0]["value"][field].as_array()).flatten() {
            // A sender appears once per request, however many messages they sent.
            if field != "contacts" || !all.contains(item) {
                all.push(item.clone());
            }
        }
        if !all.is_empty() {
            value[field] = Value::Array(all);
        }
    }
    payload
}

/// `value` as Meta puts it on the wire: compact, every non-ASCII character as
/// `\uXXXX` (surrogate pairs beyond the BMP) and `/` as `\/`. The signature
/// covers these bytes, so an app that re-serialises before checking it fails.
pub fn meta_bytes(value: &Value) -> Vec<u8> {
    let compact = serde_json::to_string(value).expect("a JSON value serialises");
    let mut out = String::with_capacity(compact.len());
    // Outside strings JSON has neither `/` nor non-ASCII, so escaping every
    // occurrence only touches string contents.
    for c in compact.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

/// `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body,
/// keyed with the app secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = "+243810000001";

    fn message(payload: &Value) -> &Value {
        &payload["entry"][0]["changes"][0]["value"]["messages"][0]
    }

    fn every_fixture(phone: &str) -> Vec<Value> {
        let mut fixtures = vec![
            text(phone, &wamid(), "Bonjour"),
            list_reply(phone, &wamid(), "kinshasa", "Kinshasa"),
            button_reply(phone, &wamid(), "yes", "Oui"),
            template_button(phone, &wamid(), "STOP", "Arrêter"),
            image(phone, &wamid()),
            location(phone, &wamid()),
            contacts(phone, &wamid()),
            reaction(phone, &wamid()),
            unsupported(phone, &wamid()),
        ];
        fixtures.extend(["audio", "video", "document", "sticker"].map(|kind| media(phone, &wamid(), kind)));
        fixtures
    }

    #[test]
    fn every_fixture_is_a_valid_webhook_from_the_phone() {
        for payload in every_fixture(PHONE) {
            assert_eq!(validate_webhook(&payload), Ok(()), "{payload}");
            let value = &payload["entry"][0]["changes"][0]["value"];
            assert_eq!(value["contacts"][0]["wa_id"], "243810000001");
            assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
            assert_eq!(message(&payload)["from"], "243810000001");
            assert!(message(&payload)["id"].as_str().unwrap().starts_with("wamid."));
            assert!(message(&payload)["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
        }
    }

    #[test]
    fn builders_put_the_content_where_meta_does() {
        let id = wamid();
        let reply = button_reply(PHONE, &id, "yes", "Oui");
        assert_eq!(message(&reply)["id"], json!(id));
        assert_eq!(
            message(&reply)["interactive"],
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Oui"}})
        );
        let row = list_reply(PHONE, &wamid(), "kinshasa", "Kinshasa");
        assert_eq!(message(&row)["interactive"]["list_reply"]["id"], "kinshasa");
        assert_eq!(message(&text(PHONE, &wamid(), "Gédéon"))["text"]["body"], "Gédéon");
        let audio = media(PHONE, &wamid(), "audio");
        assert_eq!(message(&audio)["type"], "audio");
        assert_eq!(message(&audio)["audio"]["voice"], true);
        assert!(message(&audio).get("image").is_none());
    }

    #[test]
    fn a_fixture_missing_what_the_schema_requires_is_caught() {
        let mut audio = media(PHONE, &wamid(), "audio");
        audio["entry"][0]["changes"][0]["value"]["messages"][0]["audio"].as_object_mut().unwrap().remove("voice");
        let error = validate_webhook(&audio).unwrap_err();
        assert!(error.contains("/entry/0/changes/0/value/messages/0/audio") && error.contains("voice"), "{error}");
    }

    #[test]
    fn statuses_are_valid_webhooks() {
        let outgoing = wamid();
        let sent = status(&outgoing, "sent", PHONE, None);
        let failed = status(&outgoing, "failed", PHONE, Some((131047, "Re-engagement message")));
        for payload in [&sent, &failed, &status(&outgoing, "read", PHONE, None)] {
            assert_eq!(validate_webhook(payload), Ok(()), "{payload}");
        }
        let entry = &failed["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(entry["id"], json!(outgoing));
        assert_eq!(entry["recipient_id"], "243810000001");
        assert_eq!(entry["errors"][0]["code"], 131047);
        assert!(sent["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"].is_object());
    }

    #[test]
    fn a_batch_holds_every_message_and_each_sender_once() {
        let first = text(PHONE, &wamid(), "un");
        let second = text(PHONE, &wamid(), "deux");
        let other = image("+243810000002", &wamid());
        let payload = batch(&[first.clone(), second.clone(), other]);
        assert_eq!(validate_webhook(&payload), Ok(()));
        let value = &payload["entry"][0]["changes"][0]["value"];
        let messages = value["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0], *message(&first));
        assert_eq!(messages[1], *message(&second));
        assert_eq!(messages[2]["type"], "image");
        assert_eq!(value["contacts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn wamids_differ() {
        let (a, b) = (wamid(), wamid());
        assert_ne!(a, b);
        assert!(a.starts_with("wamid.HBgM"), "{a}");
    }

    #[test]
    fn meta_bytes_escape_like_meta_and_read_back() {
        let value = json!({"name": "Gédéon", "emoji": "👋", "url": "https://example.org/a/b"});
        let bytes = meta_bytes(&value);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(bytes.is_ascii(), "{text}");
        assert!(text.contains(r"G\u00e9d\u00e9on"), "{text}");
        assert!(text.contains(r"\ud83d\udc4b"), "{text}");
        assert!(text.contains(r"https:\/\/example.org\/a\/b"), "{text}");
        assert!(!text.contains(' '), "{text}");
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);
    }

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // The example of Wikipedia's HMAC article.
        let signature = sign("key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(signature, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    }
}
