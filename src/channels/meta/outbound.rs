//! What we send Meta, pure: replies as Graph API request bodies (text cut to
//! WhatsApp's limits, reply buttons, lists, the QR image by id, read receipts),
//! and Graph API errors sorted into retry, permanent and token rejected.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::channels::split;
use crate::core::engine::{Paging, Reply, ReplyOption};
use crate::core::whatsapp::{
    MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_INTERACTIVE_BODY_CHARS, MAX_LIST_ROW_TITLE, MAX_LIST_ROWS, MAX_TEXT_CHARS,
    PAGE_ROW_PREFIX, list_page,
};
use crate::support::privacy::without_phone_numbers;
/// Longest id of a reply button (list rows allow 200).
const MAX_BUTTON_ID: usize = 200;

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
/// button labelled by the reply's `list_button`), more a paged list: 9
/// choices and a last row (`paging.more`, id `__page:n`) whose tap asks the
/// same question with the next page; the choice's id is what a tap sends
/// back. Titles over WhatsApp's limits (which `uic lint` refuses) fall back
/// to plain text with the choices numbered: never a request Meta would refuse.
pub fn outgoing(phone: &str, replies: &[Reply]) -> Vec<Outgoing> {
    let to = phone.trim_start_matches('+');
    let mut requests = Vec::new();
    for reply in replies {
        match reply {
            Reply::Text { text, options, list_button, paging } => {
                let action = choices_action(options, list_button.as_deref(), paging.as_ref());
                let Some((kind, action)) = action else {
                    let text = reply.numbered();
                    requests.extend(split(&text, MAX_TEXT_CHARS).into_iter().map(|piece| text_message(to, piece)));
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
fn choices_action(
    options: &[ReplyOption],
    list_button: Option<&str>,
    paging: Option<&Paging>,
) -> Option<(&'static str, Value)> {
    let fits = |options: &[ReplyOption], limit: usize, id_limit: usize| {
        options.iter().all(|option| {
            let title = option.title.chars().count();
            (1..=limit).contains(&title) && (1..=id_limit).contains(&option.id.len())
        })
    };
    if let (true, Some(paging)) = (options.len() > MAX_LIST_ROWS, paging) {
        let (shown, next) = list_page(options.len(), paging.page);
        let mut rows = options[shown].to_vec();
        if let Some(next) = next {
            rows.push(ReplyOption { id: format!("{PAGE_ROW_PREFIX}{next}"), title: paging.more.clone() });
        }
        let options = rows.as_slice();
        if !fits(options, MAX_LIST_ROW_TITLE, MAX_BUTTON_ID) {
            return None;
        }
        let button = list_button.filter(|label| (1..=MAX_BUTTON_TITLE).contains(&label.chars().count()))?;
        let rows: Vec<Value> = options.iter().map(|option| json!({ "id": option.id, "title": option.title })).collect();
        return Some(("list", json!({ "button": button, "sections": [{ "rows": rows }] })));
    }
    let fits = |limit: usize, id_limit: usize| fits(options, limit, id_limit);
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
    let message = without_phone_numbers(error["message"].as_str().unwrap_or(""));
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
    fn choices_become_buttons_or_a_list() {
        let two = Reply::Text {
            text: "Consent?".into(),
            options: vec![option("1", "Oui"), option("2", "Non")],
            list_button: Some("Choisir".into()),
            paging: None,
        };
        let four = Reply::Text {
            text: "Genre?".into(),
            options: (1..=4).map(|n| option(&n.to_string(), &format!("Choix {n}"))).collect(),
            list_button: Some("Choisir".into()),
            paging: None,
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
    fn long_lists_are_paged_with_a_more_row() {
        let reply = |page| Reply::Text {
            text: "Province?".into(),
            options: (1..=26).map(|n| option(&n.to_string(), &format!("P{n}"))).collect(),
            list_button: Some("Choisir".into()),
            paging: Some(Paging { page, more: "Autres…".into() }),
        };
        let rows =
            |page| body(&outgoing("+1", &[reply(page)])[0])["interactive"]["action"]["sections"][0]["rows"].clone();
        let first = rows(0);
        assert_eq!(first.as_array().unwrap().len(), 10);
        assert_eq!(first[8], json!({ "id": "9", "title": "P9" }));
        assert_eq!(first[9], json!({ "id": "__page:1", "title": "Autres…" }));
        assert_eq!(rows(1)[0], json!({ "id": "10", "title": "P10" }));
        let last = rows(2);
        assert_eq!(last.as_array().unwrap().len(), 8);
        assert_eq!(last[7], json!({ "id": "26", "title": "P26" }));
    }

    #[test]
    fn too_long_titles_fall_back_to_text() {
        let reply = Reply::Text {
            text: "Q?".into(),
            options: vec![option("1", "A title of more than twenty"), option("2", "B")],
            list_button: None,
            paging: None,
        };
        let requests = outgoing("+1", &[reply]);
        assert_eq!(body(&requests[0])["type"], "text");
        assert_eq!(body(&requests[0])["text"]["body"], "Q?\n\n1. A title of more than twenty\n2. B");
    }

    #[test]
    fn long_texts_are_cut_and_the_choices_ride_on_the_last_piece() {
        let long = format!("{}\n{}", "a".repeat(4000), "b".repeat(1500));
        let reply =
            Reply::Text { text: long.clone(), options: vec![option("1", "Oui")], list_button: None, paging: None };
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
