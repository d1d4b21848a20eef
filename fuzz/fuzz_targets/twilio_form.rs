//! The Twilio path: a form body, its parameters read into a message, and its
//! signature: never a panic; Twilio's own signature of the parameters is
//! accepted, the same over another URL is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uic::channels::twilio;

const TOKEN: &str = "fuzz-twilio-auth-token";
const URL: &str = "https://bot.example.org/whatsapp/webhook";

fuzz_target!(|body: &[u8]| {
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    if let Ok(message) = twilio::parse(&params) {
        assert!(message.phone.starts_with('+') && message.phone.len() <= 16, "{:?}", message.phone);
    }
    let signature = twilio::signature(TOKEN, URL, &params);
    assert!(twilio::verify(TOKEN, URL, &params, &signature));
    assert!(!twilio::verify(TOKEN, "https://other.example.org/whatsapp/webhook", &params, &signature));
    let given = String::from_utf8_lossy(body);
    assert!(!twilio::verify(TOKEN, URL, &params, &given) || given == signature);
});
