//! Twilio's WhatsApp webhook: checking `X-Twilio-Signature`, reading the
//! form-encoded message into [`Content`], and answering with TwiML.
//!
//! Nothing here logs: the parameters hold the person's phone number and message.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::{e164, split};
use crate::core::engine::{Content, Reply};

/// Twilio refuses a message body longer than this many characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// The value Twilio puts in `X-Twilio-Signature`: HMAC-SHA1, keyed with the
/// account's auth token, of the full URL Twilio called followed by every POST
/// parameter sorted by name (then value), each name immediately followed by its
/// value; base64 with padding.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Byte order of UTF-8 is the case-sensitive "Unix" order Twilio specifies.
    sorted.sort();
    let mut mac = hmac::Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` (the `X-Twilio-Signature` header) signs this request. The
/// comparison takes the same time wherever the strings differ, so a forger
/// cannot find the signature byte by byte.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let expected = signature(auth_token, url, params);
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The URL Twilio called, which the signature covers.
///
/// Behind a proxy the server sees neither the scheme nor the host Twilio used,
/// so `PUBLIC_BASE_URL` (e.g. `https://uic.example.org`) is preferred when set.
/// Otherwise the URL is rebuilt from `X-Forwarded-Proto` (default `http`) and
/// `X-Forwarded-Host` (else `Host`), the headers nginx sets. `None` when no host
/// is known. `path_and_query` is the request's, starting with `/`.
pub fn public_url(
    public_base_url: Option<&str>,
    host: Option<&str>,
    forwarded_proto: Option<&str>,
    forwarded_host: Option<&str>,
    path_and_query: &str,
) -> Option<String> {
    if let Some(base) = public_base_url.map(str::trim).filter(|base| !base.is_empty()) {
        return Some(format!("{}{path_and_query}", base.trim_end_matches('/')));
    }
    let proto = first(forwarded_proto).unwrap_or("http").to_ascii_lowercase();
    let host = first(forwarded_host).or_else(|| first(host))?;
    Some(format!("{proto}://{host}{path_and_query}"))
}

/// The first of a header's comma-separated values: a chain of proxies appends
/// to `X-Forwarded-*`, and the first is what the client (Twilio) used.
fn first(value: Option<&str>) -> Option<&str> {
    value.and_then(|value| value.split(',').next()).map(str::trim).filter(|value| !value.is_empty())
}

/// One incoming WhatsApp message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessage {
    /// E.164, with the `+`: the person's key in sessions and records.
    pub phone: String,
    /// `MessageSid`, to recognise a message Twilio delivers twice.
    pub message_sid: Option<String>,
    pub content: Content,
    /// The WhatsApp profile name (`ProfileName`); personal data, never logged.
    pub profile_name: Option<String>,
}

/// Why a webhook request is not a message. The server answers each with
/// `400 Bad Request` and an empty body; Twilio records the failure in its
/// debugger and the person gets no reply. Messages never contain the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// No `From` parameter, or an empty one: there is nobody to answer (400).
    #[error("the request has no From parameter")]
    MissingFrom,
    /// `From` (or `WaId`) is not a phone number of up to 15 digits (400).
    #[error("the From parameter is not a phone number")]
    InvalidFrom,
}

/// Reads Twilio's form parameters. Every field Twilio sends is accepted and
/// those not needed are ignored, so new fields never break the webhook.
pub fn parse(params: &[(String, String)]) -> Result<TwilioMessage, TwilioError> {
    let get = |name: &str| {
        params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    };
    let from = get("From").map(str::trim).filter(|from| !from.is_empty()).ok_or(TwilioError::MissingFrom)?;
    let phone = match from.strip_prefix("whatsapp:") {
        Some(number) => number.trim(),
        None => get("WaId").map(str::trim).unwrap_or(from),
    };
    let phone = e164(phone).ok_or(TwilioError::InvalidFrom)?;

    let message_sid = get("MessageSid").or_else(|| get("SmsMessageSid")).map(str::to_string);
    let profile_name = get("ProfileName").map(str::to_string);

    let body = get("Body").unwrap_or("");
    let has_media = get("NumMedia").and_then(|n| n.trim().parse::<u32>().ok()).is_some_and(|n| n > 0);
    let content = if let Some(id) = get("ButtonPayload").or_else(|| get("ButtonText")) {
        // A tapped button also fills Body with its title; the payload is the choice.
        Content::Choice { id: id.to_string() }
    } else if !body.trim().is_empty() {
        Content::Text(body.to_string())
    } else if has_media {
        // `image/jpeg` → `image`; the engine only needs to know it is not text.
        let kind = get("MediaContentType0").and_then(|mime| mime.split('/').next()).map(str::trim);
        Content::Media { kind: kind.filter(|kind| !kind.is_empty()).unwrap_or("media").to_ascii_lowercase() }
    } else if get("Latitude").is_some() || get("Longitude").is_some() {
        Content::Media { kind: "location".to_string() }
    } else {
        // Nothing usable (an unsupported message type): the engine asks again politely.
        Content::Text(String::new())
    };
    Ok(TwilioMessage { phone, message_sid, content, profile_name })
}

/// The TwiML answering a webhook: one `<Message>` per reply, in order. An empty
/// list gives `<Response></Response>`, which sends nothing.
///
/// Text longer than [`MAX_BODY_CHARS`] becomes several messages, cut at line
/// breaks when possible. TwiML cannot send buttons, so a question's choices
/// follow its text as a numbered list ([`Reply::numbered`]). A QR code becomes its
/// caption with the image at `qr_url(uic)`, an absolute URL Twilio fetches;
/// without one, the caption alone is sent.
pub fn twiml(replies: &[Reply], qr_url: &dyn Fn(&str) -> Option<String>) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
    for reply in replies {
        let media = match reply {
            Reply::Text { .. } => None,
            Reply::QrCode { uic, .. } => qr_url(uic),
        };
        let text = reply.numbered();
        let mut pieces = split(&text, MAX_BODY_CHARS).into_iter();
        // The image goes with the first piece of its caption, or alone.
        if let Some(url) = media {
            message(&mut xml, pieces.next(), Some(&url));
        }
        for piece in pieces {
            message(&mut xml, Some(piece), None);
        }
    }
    xml.push_str("</Response>");
    xml
}

fn message(xml: &mut String, body: Option<&str>, media: Option<&str>) {
    xml.push_str("<Message>");
    if let Some(body) = body {
        xml.push_str("<Body>");
        escape_into(xml, body);
        xml.push_str("</Body>");
    }
    if let Some(media) = media {
        xml.push_str("<Media>");
        escape_into(xml, media);
        xml.push_str("</Media>");
    }
    xml.push_str("</Message>");
}

/// Escapes the five XML specials and drops the control characters XML 1.0
/// forbids (an answer echoed back could hold one, and Twilio would reject the
/// whole response).
fn escape_into(xml: &mut String, text: &str) {
    // Runs of text that need nothing are copied whole.
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        let escaped = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\t' | '\n' | '\r' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "",
            _ => continue,
        };
        xml.push_str(&text[plain..at]);
        xml.push_str(escaped);
        plain = at + c.len_utf8();
    }
    xml.push_str(&text[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    const DOC_URL: &str = "https://example.com/myapp.php?foo=1&bar=2";
    const DOC_TOKEN: &str = "12345";
    const DOC_SIGNATURE: &str = "L/OH5YylLD5NRKLltdqwSvS0BnU=";

    /// Twilio's documented example, in a shuffled order.
    fn doc_params() -> Vec<(String, String)> {
        params(&[
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+14158675310"),
            ("Caller", "+14158675310"),
        ])
    }

    #[test]
    fn signature_matches_twilio_documented_example() {
        assert_eq!(signature(DOC_TOKEN, DOC_URL, &doc_params()), DOC_SIGNATURE);
        assert!(verify(DOC_TOKEN, DOC_URL, &doc_params(), DOC_SIGNATURE));
    }

    #[test]
    fn verify_fails_when_anything_changes() {
        let mut changed = doc_params();
        changed[1].1 = "1235".to_string();
        assert!(!verify(DOC_TOKEN, DOC_URL, &changed, DOC_SIGNATURE));

        let mut added = doc_params();
        added.push(("Body".to_string(), "hello".to_string()));
        assert!(!verify(DOC_TOKEN, DOC_URL, &added, DOC_SIGNATURE));

        assert!(!verify(DOC_TOKEN, "https://example.com/myapp.php?foo=1&bar=3", &doc_params(), DOC_SIGNATURE));
        assert!(!verify(DOC_TOKEN, "http://example.com/myapp.php?foo=1&bar=2", &doc_params(), DOC_SIGNATURE));
        assert!(!verify("12346", DOC_URL, &doc_params(), DOC_SIGNATURE));
        assert!(!verify(DOC_TOKEN, DOC_URL, &doc_params(), ""));
        assert!(!verify(DOC_TOKEN, DOC_URL, &doc_params(), "L/OH5YylLD5NRKLltdqwSvS0BnU"));
    }

    #[test]
    fn signature_sorts_by_name_then_value() {
        let one = params(&[("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "x")]);
        let other = params(&[("Body", "x"), ("MediaUrl", "a"), ("MediaUrl", "b")]);
        assert_eq!(signature("t", "https://h/p", &one), signature("t", "https://h/p", &other));
        // What is signed is the URL, then each name and value with nothing
        // between them, upper case before lower case.
        assert_eq!(
            signature("t", "https://h/p", &params(&[("a", "2"), ("B", "1"), ("a", "1")])),
            signature("t", "https://h/pB1a1a2", &[])
        );
    }

    #[test]
    fn public_url_prefers_public_base_url() {
        let url =
            public_url(Some("https://uic.example.org/"), Some("internal:8080"), Some("http"), None, "/twilio?x=1");
        assert_eq!(url.as_deref(), Some("https://uic.example.org/twilio?x=1"));
        let url = public_url(Some("https://uic.example.org/base"), None, None, None, "/twilio");
        assert_eq!(url.as_deref(), Some("https://uic.example.org/base/twilio"));
    }

    #[test]
    fn public_url_rebuilds_from_forwarded_headers() {
        let url = public_url(None, Some("127.0.0.1:8080"), Some("https"), Some("uic.example.org"), "/twilio");
        assert_eq!(url.as_deref(), Some("https://uic.example.org/twilio"));
        let url = public_url(None, Some("uic.example.org"), Some("https"), None, "/twilio?a=b");
        assert_eq!(url.as_deref(), Some("https://uic.example.org/twilio?a=b"));
        let url = public_url(None, Some("localhost:8080"), None, None, "/twilio");
        assert_eq!(url.as_deref(), Some("http://localhost:8080/twilio"));
        let url = public_url(None, None, Some("HTTPS, http"), Some("uic.example.org, proxy"), "/twilio");
        assert_eq!(url.as_deref(), Some("https://uic.example.org/twilio"));
        assert_eq!(public_url(Some(""), Some("h"), None, None, "/t").as_deref(), Some("http://h/t"));
        assert_eq!(public_url(None, None, Some("https"), None, "/twilio"), None);
        assert_eq!(public_url(None, Some(""), None, Some(" "), "/twilio"), None);
    }

    fn parsed(pairs: &[(&str, &str)]) -> TwilioMessage {
        parse(&params(pairs)).unwrap()
    }

    #[test]
    fn parse_reads_a_text_message_and_ignores_unknown_fields() {
        let message = parsed(&[
            ("SmsMessageSid", "SM1"),
            ("NumMedia", "0"),
            ("ProfileName", "Ibrahima"),
            ("MessageType", "text"),
            ("WaId", "243812345678"),
            ("Body", "Bonjour"),
            ("To", "whatsapp:+14155238886"),
            ("From", "whatsapp:+243812345678"),
            ("MessageSid", "SM2"),
            ("AccountSid", "AC1"),
            ("SomeFieldTwilioAddsLater", "x"),
            ("ApiVersion", "2010-04-01"),
        ]);
        assert_eq!(
            message,
            TwilioMessage {
                phone: "+243812345678".to_string(),
                message_sid: Some("SM2".to_string()),
                content: Content::Text("Bonjour".to_string()),
                profile_name: Some("Ibrahima".to_string()),
            }
        );
    }

    #[test]
    fn parse_finds_the_phone() {
        assert_eq!(parsed(&[("From", "whatsapp:+243812345678")]).phone, "+243812345678");
        assert_eq!(parsed(&[("From", "+243812345678"), ("WaId", "243812345678")]).phone, "+243812345678");
        assert_eq!(parsed(&[("From", "+14158675310")]).phone, "+14158675310");
        let message = parsed(&[("From", "whatsapp:+243812345678")]);
        assert_eq!((message.message_sid, message.profile_name), (None, None));
    }

    #[test]
    fn parse_refuses_a_missing_or_invalid_from() {
        assert_eq!(parse(&params(&[("Body", "hi")])), Err(TwilioError::MissingFrom));
        assert_eq!(parse(&params(&[("From", ""), ("Body", "hi")])), Err(TwilioError::MissingFrom));
        assert_eq!(parse(&params(&[("From", "whatsapp:")])), Err(TwilioError::InvalidFrom));
        assert_eq!(parse(&params(&[("From", "whatsapp:+243 81")])), Err(TwilioError::InvalidFrom));
        assert_eq!(parse(&params(&[("From", "whatsapp:+1234567890123456")])), Err(TwilioError::InvalidFrom));
        assert_eq!(parse(&params(&[("From", "messenger:42")])), Err(TwilioError::InvalidFrom));
    }

    const FROM: (&str, &str) = ("From", "whatsapp:+243812345678");

    #[test]
    fn parse_reads_buttons_as_choices() {
        let tapped = parsed(&[FROM, ("Body", "Homme"), ("ButtonText", "Homme"), ("ButtonPayload", "1")]);
        assert_eq!(tapped.content, Content::Choice { id: "1".to_string() });
        let without_payload = parsed(&[FROM, ("Body", "Homme"), ("ButtonText", "Homme"), ("ButtonPayload", "")]);
        assert_eq!(without_payload.content, Content::Choice { id: "Homme".to_string() });
    }

    #[test]
    fn parse_reads_media_and_locations() {
        let media = |mime: &str| parsed(&[FROM, ("Body", ""), ("NumMedia", "1"), ("MediaContentType0", mime)]).content;
        assert_eq!(media("image/jpeg"), Content::Media { kind: "image".to_string() });
        assert_eq!(media("audio/ogg"), Content::Media { kind: "audio".to_string() });
        assert_eq!(media("video/mp4"), Content::Media { kind: "video".to_string() });
        assert_eq!(media("application/pdf"), Content::Media { kind: "application".to_string() });
        assert_eq!(parsed(&[FROM, ("NumMedia", "2")]).content, Content::Media { kind: "media".to_string() });

        let captioned = parsed(&[FROM, ("Body", "MBE"), ("NumMedia", "1"), ("MediaContentType0", "image/jpeg")]);
        assert_eq!(captioned.content, Content::Text("MBE".to_string()));

        let location = parsed(&[FROM, ("Body", ""), ("NumMedia", "0"), ("Latitude", "-4.32"), ("Longitude", "15.31")]);
        assert_eq!(location.content, Content::Media { kind: "location".to_string() });
    }

    #[test]
    fn parse_gives_empty_text_for_an_empty_message() {
        assert_eq!(parsed(&[FROM, ("Body", ""), ("NumMedia", "0")]).content, Content::Text(String::new()));
        assert_eq!(parsed(&[FROM]).content, Content::Text(String::new()));
    }

    fn no_qr(_: &str) -> Option<String> {
        None
    }

    const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn twiml_of_no_reply_sends_nothing() {
        assert_eq!(twiml(&[], &no_qr), format!("{HEAD}<Response></Response>"));
    }

    #[test]
    fn twiml_escapes_text() {
        let replies = [Reply::text("Tom & Jerry <b> \"quoted\" it's".to_string()), Reply::text("2".to_string())];
        assert_eq!(
            twiml(&replies, &no_qr),
            format!(
                "{HEAD}<Response><Message><Body>Tom &amp; Jerry &lt;b&gt; &quot;quoted&quot; it&apos;s</Body></Message>\
                 <Message><Body>2</Body></Message></Response>"
            )
        );
        let controls = twiml(&[Reply::text("a\u{0}b\u{1b}c\nd\te".to_string())], &no_qr);
        assert!(controls.contains("<Body>abc\nd\te</Body>"), "{controls}");
        let accents = twiml(&[Reply::text("Né à Kinshasa\u{FFFE}, mbóka\u{FFFF}".to_string())], &no_qr);
        assert!(accents.contains("<Body>Né à Kinshasa, mbóka</Body>"), "{accents}");
    }

    #[test]
    fn twiml_attaches_qr_codes() {
        let replies = [Reply::QrCode { uic: "MBEIBR7DA1".to_string(), caption: "Votre CIU & QR".to_string() }];
        let url = |uic: &str| Some(format!("https://uic.example.org/qr/{uic}.png?t=a&u=b"));
        assert_eq!(
            twiml(&replies, &url),
            format!(
                "{HEAD}<Response><Message><Body>Votre CIU &amp; QR</Body>\
                 <Media>https://uic.example.org/qr/MBEIBR7DA1.png?t=a&amp;u=b</Media></Message></Response>"
            )
        );
        assert_eq!(
            twiml(&replies, &no_qr),
            format!("{HEAD}<Response><Message><Body>Votre CIU &amp; QR</Body></Message></Response>")
        );
        let uncaptioned = [Reply::QrCode { uic: "X".to_string(), caption: String::new() }];
        assert_eq!(
            twiml(&uncaptioned, &url),
            format!(
                "{HEAD}<Response><Message><Media>https://uic.example.org/qr/X.png?t=a&amp;u=b</Media></Message></Response>"
            )
        );
    }

    fn bodies(xml: &str) -> Vec<String> {
        xml.split("<Body>").skip(1).map(|part| part.split("</Body>").next().unwrap().to_string()).collect()
    }

    fn check_split(text: &str) -> Vec<String> {
        let pieces = bodies(&twiml(&[Reply::text(text.to_string())], &no_qr));
        assert!(pieces.iter().all(|piece| piece.chars().count() <= MAX_BODY_CHARS));
        assert_eq!(pieces.concat(), text, "pieces lose or reorder text");
        pieces
    }

    #[test]
    fn twiml_splits_long_text_at_lines() {
        let short = "é".repeat(MAX_BODY_CHARS);
        assert_eq!(check_split(&short).len(), 1, "1,600 characters (3,200 bytes) fit in one message");

        let lines: Vec<String> = (0..100).map(|i| format!("{i:03} {}", "é".repeat(40))).collect();
        let text = lines.join("\n");
        let pieces = check_split(&text);
        assert_eq!(pieces.len(), 3);
        for piece in &pieces[..pieces.len() - 1] {
            assert!(piece.ends_with('\n'), "cut inside a line");
        }
    }

    #[test]
    fn twiml_cuts_an_overlong_line_at_a_space_or_anywhere() {
        let words = vec!["mot"; 1000].join(" ");
        let pieces = check_split(&format!("début\n{words}\nfin"));
        assert_eq!(pieces[0], "début\n");
        assert!(pieces[1].ends_with(' '));

        let solid = "ü".repeat(MAX_BODY_CHARS * 2 + 5);
        let pieces = check_split(&solid);
        assert_eq!(pieces.iter().map(|piece| piece.chars().count()).collect::<Vec<_>>(), [1600, 1600, 5]);
    }
}
