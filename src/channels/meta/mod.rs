//! Meta's WhatsApp Cloud API (production): [`inbound`] reads what Meta posts
//! to the webhook, [`outbound`] builds the Graph API requests that answer,
//! both pure; [`graph`] sends them from the outbox (reqwest, rustls).

pub mod graph;
pub mod inbound;
pub mod outbound;

pub use inbound::{
    DeliveryStatus, Envelope, InboundMessage, StatusUpdate, WebhookError, parse, signature, signature_valid,
    subscription_challenge,
};
pub use outbound::{Failure, Outgoing, classify, image_message, outgoing, read_receipt};
