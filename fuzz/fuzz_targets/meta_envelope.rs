//! Meta's webhook body: read into an envelope or refused, never a panic; no
//! message without a sender and an id; the signature of the raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uic::channels::meta::inbound;

fuzz_target!(|body: &[u8]| {
    if let Ok(envelope) = inbound::parse(body) {
        for message in &envelope.messages {
            assert!(!message.phone.is_empty() && !message.id.is_empty(), "{message:?}");
        }
    }
    let signature = inbound::signature("secret", body);
    assert!(inbound::signature_valid("secret", body, Some(&signature)));
    let header = String::from_utf8_lossy(body);
    assert!(!inbound::signature_valid("secret", body, Some(&header)) || header == signature);
});
