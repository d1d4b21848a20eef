//! Meta's WhatsApp Cloud API, pure: checking `X-Hub-Signature-256` and the
//! subscription challenge, reading webhook envelopes into messages and
//! statuses, turning replies into Graph API request bodies, and reading Graph
//! API errors. The HTTP calls themselves are in [`crate::meta_api`].
//!
//! Nothing here logs: payloads hold the person's phone number and message.

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{e164, split};
use crate::catalog::{MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_LIST_ROW_TITLE, MAX_LIST_ROWS};
use crate::engine::{Content, Reply, ReplyOption};

/// Longest text message body.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest body of an interactive (buttons or list) message, and of a caption.
pub const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;
/// Longest id of a reply button (list rows allow 200).
const MAX_BUTTON_ID: usize = 200;

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
        let title = text_at(error, "/title").or_else(|| text_at(error, "/message")).unwrap_or("").to_string();
        (code, title)
    });
    Some(StatusUpdate { message_id, status: status_kind, timestamp, error })
}

/// One request to the Graph API, as an outbox job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outgoing {
    /// `POST /messages` with this body: a message to the person.
    Message(Value),
    /// The read receipt of the person's message `message_id` (blue ticks).
    Read { message_id: String },
    /// Upload the QR code image of `uic` to `/media`, then send it by id.
    QrImage { to: String, uic: String, caption: Option<String> },
}

/// The body of a read receipt (not in Meta's `Message` schema: a request of its own).
pub fn read_receipt(message_id: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id })
}

/// The Graph API requests that deliver `replies` to `phone` (E.164), in order.
///
/// Text longer than a message allows is cut at line breaks into several. A
/// question with up to 3 choices gets reply buttons, up to 10 a list (its
/// button labelled by the reply's `list_button`); the choice's id is what a tap
/// sends back. Titles over WhatsApp's limits (which `uic lint` refuses) fall
/// back to plain text, which lists the choices anyway: never a request Meta
/// would refuse.
pub fn outgoing(phone: &str, replies: &[Reply]) -> Vec<Outgoing> {
    let to = phone.trim_start_matches('+');
    let mut requests = Vec::new();
    for reply in replies {
        match reply {
            Reply::Text { text, options, list_button } => {
                let action = choices_action(options, list_button.as_deref());
                let Some((kind, action)) = action else {
                    requests.extend(split(text, MAX_TEXT_CHARS).into_iter().map(|piece| text_message(to, piece)));
                    continue;
                };
                // Everything but the last piece goes as text; the last one,
                // short enough for an interactive body, carries the choices.
                let mut pieces = split(text, MAX_TEXT_CHARS);
                let last = pieces.pop().unwrap_or("");
                let mut tail = split(last, MAX_INTERACTIVE_BODY_CHARS);
                let body = tail.pop().unwrap_or("");
                pieces.extend(tail);
                requests.extend(pieces.into_iter().map(|piece| text_message(to, piece)));
                requests.push(Outgoing::Message(json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "interactive",
                    "interactive": { "type": kind, "body": { "text": non_empty(body) }, "action": action },
                })));
            }
            Reply::QrCode { uic, caption } => {
                let caption = if caption.chars().count() > MAX_INTERACTIVE_BODY_CHARS {
                    requests.extend(split(caption, MAX_TEXT_CHARS).into_iter().map(|piece| text_message(to, piece)));
                    None
                } else {
                    Some(caption.clone()).filter(|caption| !caption.is_empty())
                };
                requests.push(Outgoing::QrImage { to: to.to_string(), uic: uic.clone(), caption });
            }
        }
    }
    requests
}

/// The body of a QR image sent by its uploaded media id.
pub fn image_message(to: &str, media_id: &str, caption: Option<&str>) -> Value {
    let mut image = json!({ "id": media_id });
    if let Some(caption) = caption {
        image["caption"] = json!(caption);
    }
    json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "image", "image": image })
}

fn text_message(to: &str, body: &str) -> Outgoing {
    Outgoing::Message(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "body": body, "preview_url": false },
    }))
}

/// An interactive body may not be empty; a question always has text, but a
/// flow's message could be blank.
fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() { "…" } else { text }
}

/// `("button" | "list", action)` for these choices, or `None` for plain text.
fn choices_action(options: &[ReplyOption], list_button: Option<&str>) -> Option<(&'static str, Value)> {
    let fits = |limit: usize, id_limit: usize| {
        options.iter().all(|option| {
            let title = option.title.chars().count();
            (1..=limit).contains(&title) && (1..=id_limit).contains(&option.id.len())
        })
    };
    match options.len() {
        0 => None,
        count if count <= MAX_BUTTONS && fits(MAX_BUTTON_TITLE, MAX_BUTTON_ID) => {
            let buttons: Vec<Value> = options
                .iter()
                .map(|option| json!({ "type": "reply", "reply": { "id": option.id, "title": option.title } }))
                .collect();
            Some(("button", json!({ "buttons": buttons })))
        }
        count if count <= MAX_LIST_ROWS && fits(MAX_LIST_ROW_TITLE, MAX_BUTTON_ID) => {
            let button = list_button.filter(|label| (1..=MAX_BUTTON_TITLE).contains(&label.chars().count()))?;
            let rows: Vec<Value> =
                options.iter().map(|option| json!({ "id": option.id, "title": option.title })).collect();
            Some(("list", json!({ "button": button, "sections": [{ "rows": rows }] })))
        }
        _ => None,
    }
}

/// What to do about a failed Graph API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Throttled or a passing fault: try again later.
    Retry,
    /// The request will never succeed as it is.
    Permanent,
    /// `META_ACCESS_TOKEN` is expired or revoked: nothing will be sent until
    /// an operator replaces it.
    TokenRejected,
}

/// Reads a Graph API error answer: what to do, and a description for
/// operators (Meta's code and title; never the request).
pub fn classify(http_status: u16, body: &[u8]) -> (Failure, String) {
    let error = serde_json::from_slice::<Value>(body).ok().map(|value| value["error"].clone()).unwrap_or(Value::Null);
    let code = error["code"].as_i64();
    let message = without_long_numbers(error["message"].as_str().unwrap_or(""));
    let failure = match (http_status, code) {
        (_, Some(190)) | (401, _) => Failure::TokenRejected,
        // Throttling: app, account, pair and spam rate limits.
        (429, _) | (_, Some(4 | 80007 | 130429 | 131048 | 131056)) => Failure::Retry,
        // Meta's own passing faults.
        (500..=599, _) | (_, Some(1 | 2 | 131000 | 131016 | 133004)) => Failure::Retry,
        _ => Failure::Permanent,
    };
    let description = match code {
        Some(code) if message.is_empty() => format!("Meta error {code} (HTTP {http_status})"),
        Some(code) => format!("Meta error {code} (HTTP {http_status}): {message}"),
        None => format!("HTTP {http_status} from the Graph API"),
    };
    (failure, description)
}

/// Meta's error text, short, with any run of 8 or more digits (a phone
/// number, in an error about a recipient) cut out: it is stored and logged.
fn without_long_numbers(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().take(200).chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 8 {
            out.push('…');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(id: &str, title: &str) -> ReplyOption {
        ReplyOption { id: id.into(), title: title.into() }
    }

    fn body(outgoing: &Outgoing) -> &Value {
        match outgoing {
            Outgoing::Message(body) => body,
            other => panic!("not a message: {other:?}"),
        }
    }

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
            }]
        );
        assert_eq!(parsed.skipped, 1, "an unknown status is skipped");
    }

    #[test]
    fn choices_become_buttons_or_a_list() {
        let two = Reply::Text {
            text: "Consent?".into(),
            options: vec![option("1", "Oui"), option("2", "Non")],
            list_button: Some("Choisir".into()),
        };
        let four = Reply::Text {
            text: "Genre?".into(),
            options: (1..=4).map(|n| option(&n.to_string(), &format!("Choix {n}"))).collect(),
            list_button: Some("Choisir".into()),
        };
        let requests = outgoing("+243810000001", &[two, four]);
        assert_eq!(requests.len(), 2);
        let buttons = body(&requests[0]);
        assert_eq!(buttons["to"], "243810000001");
        assert_eq!(buttons["interactive"]["type"], "button");
        assert_eq!(buttons["interactive"]["action"]["buttons"][1]["reply"], json!({ "id": "2", "title": "Non" }));
        let list = body(&requests[1]);
        assert_eq!(list["interactive"]["type"], "list");
        assert_eq!(list["interactive"]["action"]["button"], "Choisir");
        assert_eq!(list["interactive"]["action"]["sections"][0]["rows"][3], json!({ "id": "4", "title": "Choix 4" }));
    }

    #[test]
    fn too_long_titles_fall_back_to_text() {
        let reply = Reply::Text {
            text: "Q?".into(),
            options: vec![option("1", "A title of more than twenty"), option("2", "B")],
            list_button: None,
        };
        let requests = outgoing("+1", &[reply]);
        assert_eq!(body(&requests[0])["type"], "text");
    }

    #[test]
    fn long_texts_are_cut_and_the_choices_ride_on_the_last_piece() {
        let long = format!("{}\n{}", "a".repeat(4000), "b".repeat(1500));
        let reply = Reply::Text { text: long.clone(), options: vec![option("1", "Oui")], list_button: None };
        let requests = outgoing("+1", &[reply]);
        let texts: Vec<String> = requests
            .iter()
            .map(|request| {
                let body = body(request);
                body["text"]["body"].as_str().or(body["interactive"]["body"]["text"].as_str()).unwrap().to_string()
            })
            .collect();
        assert_eq!(texts.concat(), long, "nothing is lost");
        assert!(texts.iter().all(|text| text.chars().count() <= MAX_TEXT_CHARS));
        let last = body(requests.last().unwrap());
        assert_eq!(last["type"], "interactive");
        assert!(texts.last().unwrap().chars().count() <= MAX_INTERACTIVE_BODY_CHARS);
    }

    #[test]
    fn a_qr_code_is_uploaded_then_sent_by_id() {
        let requests =
            outgoing("+243810000001", &[Reply::QrCode { uic: "MBEIBR7DA1".into(), caption: "CIU: MBEIBR7DA1".into() }]);
        assert_eq!(
            requests,
            [Outgoing::QrImage {
                to: "243810000001".into(),
                uic: "MBEIBR7DA1".into(),
                caption: Some("CIU: MBEIBR7DA1".into())
            }]
        );
        let image = image_message("243810000001", "4490709327384033", Some("CIU: MBEIBR7DA1"));
        assert_eq!(image["image"], json!({ "id": "4490709327384033", "caption": "CIU: MBEIBR7DA1" }));
    }

    #[test]
    fn graph_errors_are_sorted_into_retry_permanent_and_token() {
        let error = |code: i64| format!(r#"{{"error":{{"message":"m","type":"OAuthException","code":{code}}}}}"#);
        assert_eq!(
            classify(400, error(131047).as_bytes()),
            (Failure::Permanent, "Meta error 131047 (HTTP 400): m".into())
        );
        assert_eq!(classify(400, error(100).as_bytes()).0, Failure::Permanent);
        assert_eq!(classify(401, error(190).as_bytes()).0, Failure::TokenRejected);
        assert_eq!(classify(400, error(130429).as_bytes()).0, Failure::Retry);
        assert_eq!(classify(429, b"").0, Failure::Retry);
        assert_eq!(classify(503, b"<html>").1, "HTTP 503 from the Graph API");
        assert_eq!(classify(500, error(2).as_bytes()).0, Failure::Retry);
        let with_number =
            r#"{"error":{"message":"(#131030) Recipient 243810000001 not in allowed list","code":131030}}"#;
        assert_eq!(
            classify(400, with_number.as_bytes()).1,
            "Meta error 131030 (HTTP 400): (#131030) Recipient … not in allowed list"
        );
    }
}
