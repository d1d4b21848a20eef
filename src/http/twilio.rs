//! `POST {WEBHOOK_PATH}` with a form: Twilio (SPEC §9). Verify the
//! signature, run the turn once per `MessageSid`, answer in TwiML.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tower_http::catch_panic::CatchPanicLayer;

use super::{
    AppState, HttpError, MAX_TWILIO_FORM_BYTES, MAX_TWILIO_PARAMS, TurnEnd, finish_turn, header_text, log_limited,
    log_turn, read_body, request_id,
};
use crate::channels::twilio;
use crate::core::engine::{Content, Reply};
use crate::turn::conversation::{Handled, Inbound};
use crate::turn::throttle::Admit;

const CHANNEL: &str = "twilio";

pub async fn receive(state: &AppState, headers: &HeaderMap, uri: &Uri, body: Body) -> Response {
    let request = request_id();
    match handle(state, headers, uri, body, &request).await {
        Ok(response) => response,
        Err(error) => {
            state.metrics.error(error.kind());
            tracing::warn!(request = %request, channel = CHANNEL, error = %error, "webhook refused");
            error.into_response()
        }
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
    request: &str,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
        || !state.config.twilio.enabled
    {
        return Err(HttpError::UnsupportedMediaType);
    }
    // Size and parameter count first, on the raw bytes: a forged form costs
    // no parsing, no sorting and no signature (issue #14).
    let body = read_body(headers, body, MAX_TWILIO_FORM_BYTES, "a Twilio form is at most 64 KB").await?;
    if body.iter().filter(|&&byte| byte == b'&').count() >= MAX_TWILIO_PARAMS {
        return Err(HttpError::TooLarge("a Twilio form has at most 256 parameters"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| HttpError::BadRequest("the form body is not UTF-8".into()))?;
    let params: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes()).into_owned().collect();

    if let Some(token) = &state.config.twilio.auth_token {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
        let url = public_url(state, headers, path);
        let given = header_text(headers, "x-twilio-signature").unwrap_or("");
        let valid = url.is_some_and(|url| twilio::verify(token.expose(), &url, &params, given));
        if !valid {
            return Err(HttpError::Forbidden);
        }
    }

    let message = twilio::parse(&params).map_err(|error| HttpError::BadRequest(error.to_string()))?;
    state.metrics.message_received(CHANNEL);
    // Over the phone's pace: one polite reply, then silence; no turn either way.
    match state.limiter.admit(&message.phone, Instant::now()) {
        Admit::Yes => {}
        Admit::SlowDown => {
            state.metrics.error("rate_limited");
            log_limited(request, &message.phone, true);
            let reply = state.conversations.slow_down(&message.phone, &message.content).await;
            return Ok(twiml_response(twilio::twiml(&[reply], &|_| None)));
        }
        Admit::Drop => {
            state.metrics.error("rate_limited");
            log_limited(request, &message.phone, false);
            return Ok(twiml_response(twilio::twiml(&[], &|_| None)));
        }
    }
    // The turn runs in a task of its own, so that a panic in it is caught
    // here and answered in the person's language.
    let turn = {
        let conversations = state.conversations.clone();
        let message = message.clone();
        let now = Utc::now();
        let links_since = super::ops::retention(&state.config).qr_links_valid_since(now);
        tokio::spawn(async move {
            let inbound = Inbound {
                channel: CHANNEL,
                message_id: message.message_sid.as_deref(),
                phone: &message.phone,
                content: message.content.clone(),
                outbox: None,
                qr_links_since: Some(links_since),
            };
            conversations.handle_message(inbound, now).await
        })
    };
    let handled = match finish_turn(state, request, turn).await {
        TurnEnd::Handled(handled) => handled,
        TurnEnd::Unavailable => return Err(HttpError::Unavailable),
        TurnEnd::Failed => {
            let reply = state.conversations.apology(&message.phone, &message.content).await;
            return Ok(twiml_response(twilio::twiml(&[reply], &|_| None)));
        }
    };

    let qr_urls = qr_urls(state, headers, &handled).await;
    let xml = twilio::twiml(&handled.replies, &|uic| qr_urls.get(uic).cloned());
    let latency = started.elapsed();
    if !handled.replayed {
        state.metrics.turn(handled.outcome, handled.registration, latency);
        state.metrics.committed_with(handled.shared_commit_with);
    }
    state.metrics.replies_sent(CHANNEL, handled.replies.len());
    log_turn(request, CHANNEL, &message.phone, &handled, latency);
    Ok(twiml_response(xml))
}

/// Absolute URLs of the QR images among the replies: the link the turn made
/// with its commit, else (a redelivery answered again) one asked of the
/// store now. A failure here costs the image, not the reply: the
/// caption is sent alone.
async fn qr_urls(state: &AppState, headers: &HeaderMap, handled: &Handled) -> HashMap<String, String> {
    let mut urls = HashMap::new();
    for reply in &handled.replies {
        let Reply::QrCode { uic, .. } = reply else { continue };
        let linked = handled.qr_link.as_ref().filter(|(code, _)| code == uic).map(|(_, token)| token.clone());
        let token = match linked {
            Some(token) => token,
            None => {
                let now = Utc::now();
                let valid_since = super::ops::retention(&state.config).qr_links_valid_since(now);
                match state.conversations.store().qr_token(uic, now, valid_since).await {
                    Ok(token) => token,
                    Err(error) => {
                        tracing::error!(error = %error, "QR token failed; sending the caption alone");
                        continue;
                    }
                }
            }
        };
        if let Some(url) = public_url(state, headers, &format!("/qr/{token}.png")) {
            urls.insert(uic.clone(), url);
        }
    }
    urls
}

/// The URL Twilio called: `PUBLIC_BASE_URL`, else (development) the `Host`
/// header, and the `X-Forwarded-*` ones only when `TRUST_FORWARDED_HEADERS`
/// says a proxy overwrites them: a client could otherwise name the host of
/// another server of the same Twilio account and replay what it signed.
fn public_url(state: &AppState, headers: &HeaderMap, path_and_query: &str) -> Option<String> {
    let forwarded = |name: &str| state.config.trust_forwarded_headers.then(|| header_text(headers, name)).flatten();
    twilio::public_url(
        state.config.public_base_url.as_deref(),
        header_text(headers, header::HOST.as_str()),
        forwarded("x-forwarded-proto"),
        forwarded("x-forwarded-host"),
        path_and_query,
    )
}

fn twiml_response(xml: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], xml).into_response()
}

/// A panic outside the turn (which catches its own, see [`handle`]) still
/// gets a polite TwiML reply, in the default language since nothing of the
/// person is known here (and a 200, so Twilio shows our words, not an error).
pub fn panic_reply(
    state: &AppState,
) -> CatchPanicLayer<impl Fn(Box<dyn std::any::Any + Send>) -> Response + Clone + use<>> {
    let xml = twilio::twiml(
        &[state.conversations.engine().internal_error_reply(None, &Content::Text(String::new()))],
        &|_| None,
    );
    let metrics = state.metrics.clone();
    CatchPanicLayer::custom(move |_panic: Box<dyn std::any::Any + Send>| {
        metrics.error("panic");
        tracing::error!("a webhook handler panicked; answered politely");
        twiml_response(xml.clone())
    })
}
