//! Channels turn a provider's webhook request into an [`crate::engine::Content`]
//! and the engine's [`crate::engine::Reply`]s back into what that provider
//! expects. They are pure: the HTTP server hands them the request's parts and
//! sends what they return. Twilio is the first; Meta's Cloud API joins later.

pub mod twilio;
