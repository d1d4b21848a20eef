//! What Meta sends us, pure: checking `X-Hub-Signature-256` and the
//! subscription challenge, and reading webhook envelopes into messages and
//! statuses. Nothing here logs: payloads hold the person's phone number and message.

use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::channels::e164;
use crate::core::engine::Content;
use crate::support::privacy::without_phone_numbers;

/// Whether `header` (`X-Hub-Signature-256`, `sha256=<hex>`) is the
/// HMAC-SHA256 of exactly these body bytes, keyed with the app secret. The
/// bytes are never parsed and re-serialised first: Meta signs what it sent,
/// escapes (`\u00e9`, `\/`) included. The comparison takes constant time.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|value| value.trim().strip_prefix("sha256=")) else { return false };
    let Ok(given) = hex::decode(given) else { return false };
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// `X-Hub-Signature-256` for a body: what Meta sends (tests and tools sign with it).
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The challenge to echo when Meta's subscription check
/// (`hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`) names our token;
/// `None` (answered 403) otherwise, or when no token is configured.
pub fn subscription_challenge(params: &[(String, String)], verify_token: Option<&str>) -> Option<String> {
    let get = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let token = verify_token.filter(|token| !token.is_empty())?;
    let given = get("hub.verify_token")?;
    let matches: bool = token.as_bytes().ct_eq(given.as_bytes()).into();
    (get("hub.mode") == Some("subscribe") && matches).then(|| get("hub.challenge").unwrap_or("").to_string())
}

/// One message a person sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// `wamid.…`: a redelivery carries the same id.
    pub id: String,
    /// E.164 with the `+`: the person's key in sessions and records.
    pub phone: String,
    /// What to answer; `None` for notices that are not the person talking
    /// (`system` messages such as a changed number), which get no reply.
    pub content: Option<Content>,
    /// The id of the business number it was sent to (`metadata.phone_number_id`):
    /// a WhatsApp account may hold several numbers, and an app subscribed to it
    /// hears them all.
    pub to_phone_number_id: Option<String>,
}

/// What happened to a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The `wamid.…` the Graph API gave when the message was sent.
    pub message_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: DeliveryStatus,
    /// Unix seconds, when Meta says.
    pub timestamp: Option<i64>,
    /// Meta's error code and title, for a failure.
    pub error: Option<(i64, String)>,
    /// Whom the message was sent to (`recipient_id`), in E.164.
    pub recipient: Option<String>,
}

/// The statuses Meta reports, in the order a message goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "sent" => Some(DeliveryStatus::Sent),
            "delivered" => Some(DeliveryStatus::Delivered),
            "read" => Some(DeliveryStatus::Read),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// A webhook request's messages and statuses, in the order Meta listed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<StatusUpdate>,
    /// Entries that could not be read (no sender, no id): counted, not fatal.
    pub skipped: usize,
}

/// Why a JSON POST is not a webhook at all (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is not JSON")]
    NotJson,
    #[error("the body is not a JSON object")]
    NotAnObject,
}

/// Reads Meta's envelope (`object` / `entry[]` / `changes[]` /
/// `value.messages[]|statuses[]`). Everything unknown — another `object`,
/// another `field`, extra keys — is ignored, so Meta adding to its payloads
/// never breaks the webhook.
pub fn parse(body: &[u8]) -> Result<Envelope, WebhookError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| WebhookError::NotJson)?;
    let object = value.as_object().ok_or(WebhookError::NotAnObject)?;
    let mut envelope = Envelope::default();
    if object.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Ok(envelope);
    }
    for change in array(&value["entry"]).iter().flat_map(|entry| array(&entry["changes"])) {
        if change.get("field").and_then(Value::as_str).is_some_and(|field| field != "messages") {
            continue;
        }
        let change = &change["value"];
        let to_phone_number_id = text_at(change, "/metadata/phone_number_id");
        for message in array(&change["messages"]) {
            match inbound_message(message, to_phone_number_id) {
                Some(message) => envelope.messages.push(message),
                None => envelope.skipped += 1,
            }
        }
        for status in array(&change["statuses"]) {
            match status_update(status) {
                Some(status) => envelope.statuses.push(status),
                None => envelope.skipped += 1,
            }
        }
    }
    Ok(envelope)
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|text| !text.is_empty())
}

fn inbound_message(message: &Value, to_phone_number_id: Option<&str>) -> Option<InboundMessage> {
    let id = text_at(message, "/id")?.to_string();
    let phone = e164(text_at(message, "/from")?)?;
    let kind = text_at(message, "/type").unwrap_or("unknown");
    let content = match kind {
        "text" => Some(Content::Text(text_at(message, "/text/body").unwrap_or("").to_string())),
        "interactive" => {
            let choice = text_at(message, "/interactive/button_reply/id")
                .or_else(|| text_at(message, "/interactive/list_reply/id"));
            Some(match choice {
                Some(id) => Content::Choice { id: id.to_string() },
                None => Content::Media { kind: "interactive".into() },
            })
        }
        // A template's quick-reply button: its payload, else its text.
        "button" => Some(match text_at(message, "/button/payload").or_else(|| text_at(message, "/button/text")) {
            Some(id) => Content::Choice { id: id.to_string() },
            None => Content::Media { kind: "button".into() },
        }),
        "system" => None,
        // image, audio, video, document, sticker, location, contacts,
        // reaction, order, unsupported, and kinds Meta adds later.
        other => Some(Content::Media { kind: other.to_string() }),
    };
    Some(InboundMessage { id, phone, content, to_phone_number_id: to_phone_number_id.map(str::to_string) })
}

fn status_update(status: &Value) -> Option<StatusUpdate> {
    let message_id = text_at(status, "/id")?.to_string();
    let status_kind = DeliveryStatus::parse(text_at(status, "/status")?)?;
    let timestamp = text_at(status, "/timestamp").and_then(|text| text.parse().ok());
    let error = array(&status["errors"]).first().map(|error| {
        let code = error["code"].as_i64().unwrap_or(0);
        // Stored and logged: no phone number may ride along (Meta's texts can quote one).
        let title =
            without_phone_numbers(text_at(error, "/title").or_else(|| text_at(error, "/message")).unwrap_or(""));
        (code, title)
    });
    let recipient = text_at(status, "/recipient_id").and_then(e164);
    Some(StatusUpdate { message_id, status: status_kind, timestamp, error, recipient })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_cover_the_raw_bytes() {
        let body = br#"{"text":"G\u00e9d\u00e9on","url":"https:\/\/x"}"#;
        let header = signature("app-secret", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64, "{header}");
        assert!(signature_valid("app-secret", body, Some(&header)));
        assert!(!signature_valid("other-secret", body, Some(&header)));
        assert!(!signature_valid("app-secret", r#"{"text":"Gédéon","url":"https://x"}"#.as_bytes(), Some(&header)));
        assert!(!signature_valid("app-secret", body, Some(&header[7..])), "the sha256= prefix is required");
        assert!(!signature_valid("app-secret", body, Some("sha256=zz")));
        assert!(!signature_valid("app-secret", body, None));
    }

    #[test]
    fn the_subscription_check_needs_the_mode_and_our_token() {
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let good = params(&[("hub.mode", "subscribe"), ("hub.verify_token", "tok"), ("hub.challenge", "1158201444")]);
        assert_eq!(subscription_challenge(&good, Some("tok")).as_deref(), Some("1158201444"));
        assert_eq!(subscription_challenge(&good, Some("other")), None);
        assert_eq!(subscription_challenge(&good, None), None);
        let wrong_mode = params(&[("hub.mode", "unsubscribe"), ("hub.verify_token", "tok"), ("hub.challenge", "1")]);
        assert_eq!(subscription_challenge(&wrong_mode, Some("tok")), None);
    }

    #[test]
    fn every_kind_of_message_becomes_content() {
        let envelope = |messages: Value| {
            let body = json!({ "object": "whatsapp_business_account",
                "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": { "messages": messages } }] }] });
            parse(body.to_string().as_bytes()).unwrap()
        };
        let parsed = envelope(json!([
            { "from": "243810000001", "id": "wamid.1", "type": "text", "text": { "body": "Bonjour" } },
            { "from": "243810000001", "id": "wamid.2", "type": "interactive",
              "interactive": { "type": "list_reply", "list_reply": { "id": "2", "title": "Femme" } } },
            { "from": "243810000001", "id": "wamid.3", "type": "interactive",
              "interactive": { "type": "button_reply", "button_reply": { "id": "yes", "title": "Oui" } } },
            { "from": "243810000001", "id": "wamid.4", "type": "button", "button": { "payload": "1", "text": "Homme" } },
            { "from": "243810000001", "id": "wamid.5", "type": "sticker", "sticker": { "id": "9" } },
            { "from": "243810000001", "id": "wamid.6", "type": "system", "system": { "body": "changed" } },
            { "from": "243810000001", "id": "wamid.7", "type": "hologram", "hologram": {} },
            { "id": "wamid.8", "type": "text", "text": { "body": "no sender" } },
        ]));
        let contents: Vec<Option<Content>> = parsed.messages.iter().map(|m| m.content.clone()).collect();
        assert_eq!(
            contents,
            [
                Some(Content::Text("Bonjour".into())),
                Some(Content::Choice { id: "2".into() }),
                Some(Content::Choice { id: "yes".into() }),
                Some(Content::Choice { id: "1".into() }),
                Some(Content::Media { kind: "sticker".into() }),
                None,
                Some(Content::Media { kind: "hologram".into() }),
            ]
        );
        assert_eq!(parsed.messages[0].phone, "+243810000001");
        assert_eq!(parsed.skipped, 1);
    }

    #[test]
    fn other_objects_and_fields_are_ignored_and_non_json_refused() {
        let other = json!({ "object": "page", "entry": [{ "changes": [{ "value": { "messages": [
            { "from": "1", "id": "x", "type": "text", "text": { "body": "hi" } }] } }] }] });
        assert_eq!(parse(other.to_string().as_bytes()).unwrap(), Envelope::default());
        let field = json!({ "object": "whatsapp_business_account", "entry": [{ "changes": [
            { "field": "account_update", "value": { "messages": [{ "from": "1", "id": "x", "type": "text" }] } }] }] });
        assert_eq!(parse(field.to_string().as_bytes()).unwrap(), Envelope::default());
        assert_eq!(parse(b"{\"entry\": 5}").unwrap(), Envelope::default());
        assert_eq!(parse(b"not json"), Err(WebhookError::NotJson));
        assert_eq!(parse(b"[1, 2]"), Err(WebhookError::NotAnObject));
    }

    #[test]
    fn statuses_keep_their_error_code() {
        let body = json!({ "object": "whatsapp_business_account", "entry": [{ "changes": [{ "field": "messages",
            "value": { "statuses": [
                { "id": "wamid.out", "status": "failed", "timestamp": "1750000000", "recipient_id": "243810000001",
                  "errors": [{ "code": 131047, "title": "Re-engagement message" }] },
                { "id": "wamid.out", "status": "deleted", "timestamp": "1750000001", "recipient_id": "1" } ] } }] }] });
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            parsed.statuses,
            [StatusUpdate {
                message_id: "wamid.out".into(),
                status: DeliveryStatus::Failed,
                timestamp: Some(1_750_000_000),
                error: Some((131047, "Re-engagement message".into())),
                recipient: Some("+243810000001".into()),
            }]
        );
        assert_eq!(parsed.skipped, 1, "an unknown status is skipped");

        // An error text that quotes the recipient keeps no phone number.
        let body = json!({ "object": "whatsapp_business_account", "entry": [{ "changes": [{ "field": "messages",
            "value": { "statuses": [
                { "id": "wamid.out", "status": "failed", "timestamp": "1750000000", "recipient_id": "243810000001",
                  "errors": [{ "code": 131026, "title": "Message undeliverable to 243810000001" }] } ] } }] }] });
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.statuses[0].error, Some((131026, "Message undeliverable to …".into())));
    }
}
