//! The HTTP ceiling for `benches/throughput.sh`: an axum server whose one
//! route takes a Twilio webhook form, parses it and answers a fixed TwiML
//! message, with no engine, no database and no signature check. Whatever
//! `uic serve` answers per second is read as a share of what this answers,
//! measured in the same round with the same load, so the machine's speed
//! cancels out. The load generator's cost does not: it shares the cores, so
//! a cheaper client (wrk) raises this ceiling more than it raises `uic`.
//!
//! ```sh
//! cargo run --release --example bare_route -- 127.0.0.1:8100
//! ```

use std::collections::HashMap;

use axum::Router;
use axum::extract::Form;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;

/// Parses the form as `uic serve` does before its turn, and answers with a
/// reply as long as a question of the DRC flow.
async fn webhook(Form(form): Form<HashMap<String, String>>) -> impl IntoResponse {
    let body = form.get("Body").map_or(0, String::len);
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Merci. Quelle est votre année de naissance ? ({body})</Message></Response>"
    );
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], twiml)
}

#[tokio::main]
async fn main() {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8100".to_string());
    let listener = tokio::net::TcpListener::bind(&address).await.unwrap_or_else(|error| {
        eprintln!("bare_route: cannot listen on {address}: {error}");
        std::process::exit(2)
    });
    let app = Router::new().route("/whatsapp/webhook", post(webhook));
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("bare_route: {error}");
        std::process::exit(1)
    }
}
