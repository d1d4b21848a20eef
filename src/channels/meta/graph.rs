//! Sending through Meta's Graph API: the outbox's [`Deliverer`] for jobs of
//! kind [`JOB_KIND`], each one Graph API request ([`meta::Outgoing`]), so a
//! retry never sends twice what already went. reqwest with rustls.
//!
//! Throttling (429), Meta's passing faults (5xx) and timeouts are retried by
//! the outbox with backoff; other errors are permanent and kept with Meta's
//! code. A rejected access token pauses every Meta job (they wait, one
//! request per pause asks again), and shows in `/health` and the logs until
//! a send succeeds again. Only Meta's code and title are
//! logged or stored, never a request (it holds a phone number and a text).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::channels::meta::{self, Failure, Outgoing};
use crate::config::{MetaConfig, Secret};
use crate::store::{Job, MessageStatus, SentStatus, Store};
use crate::turn::metrics::Metrics;
use crate::turn::outbox::{Deliverer, DeliveryError};

/// The outbox kind of Graph API requests.
pub const JOB_KIND: &str = "meta";
/// The channel name in metrics, processed message ids and sent messages.
pub const CHANNEL: &str = "meta";

/// What the Meta channel's sends look like from outside, for `/health`.
#[derive(Debug, Default)]
pub struct MetaHealth {
    token_error: Mutex<Option<String>>,
}

impl MetaHealth {
    /// Meta's last word on `META_ACCESS_TOKEN`, when it refused it and no
    /// send has succeeded since.
    pub fn token_error(&self) -> Option<String> {
        self.token_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set_token_error(&self, error: Option<String>) {
        *self.token_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = error;
    }
}

/// A Graph API client for one phone number.
#[derive(Debug, Clone)]
pub struct GraphApi {
    client: reqwest::Client,
    messages_url: String,
    media_url: String,
    token: Secret,
    /// `META_API_TIMEOUT_SECONDS`: the longest one request takes.
    timeout: Duration,
}

impl GraphApi {
    pub fn new(config: &MetaConfig) -> Result<GraphApi, reqwest::Error> {
        let timeout = Duration::from_secs(config.api_timeout_seconds.into());
        crate::support::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("uic/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let base = format!("{}/{}/{}", config.api_base_url, config.api_version, config.phone_number_id);
        Ok(GraphApi {
            client,
            messages_url: format!("{base}/messages"),
            media_url: format!("{base}/media"),
            token: config.access_token.clone(),
            timeout,
        })
    }

    /// Posts one `/messages` body; the id Meta gave the message (none for a read receipt).
    async fn send(&self, body: &Value) -> Result<Option<String>, GraphFailure> {
        let request = self.client.post(&self.messages_url).bearer_auth(self.token.expose()).json(body);
        let answer = read(request.send().await).await?;
        Ok(answer.pointer("/messages/0/id").and_then(Value::as_str).map(str::to_string))
    }

    /// Uploads a PNG to `/media`; its media id.
    async fn upload_png(&self, png: Vec<u8>, file_name: &str) -> Result<String, GraphFailure> {
        let file = reqwest::multipart::Part::bytes(png)
            .file_name(file_name.to_string())
            .mime_str("image/png")
            .expect("image/png is a valid MIME type");
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", "image/png")
            .part("file", file);
        let request = self.client.post(&self.media_url).bearer_auth(self.token.expose()).multipart(form);
        let answer = read(request.send().await).await?;
        answer["id"].as_str().map(str::to_string).ok_or_else(|| GraphFailure {
            failure: Failure::Retry,
            description: "the Graph API answered an upload without a media id".into(),
            answer_lost: false,
        })
    }
}

/// A request that did not succeed, and what to do about it.
#[derive(Debug)]
struct GraphFailure {
    failure: Failure,
    description: String,
    /// The request went out and its answer was lost (a timeout, a broken
    /// answer): Meta may have acted on it.
    answer_lost: bool,
}

impl GraphFailure {
    /// For a request that is harmless to repeat (a read receipt, an upload):
    /// whether it got through does not matter.
    fn harmless(self) -> GraphFailure {
        GraphFailure { answer_lost: false, ..self }
    }
}

/// The JSON of a successful answer, or why there is none.
async fn read(response: Result<reqwest::Response, reqwest::Error>) -> Result<Value, GraphFailure> {
    // A connection never made sent nothing; any other failure may have come after Meta read the request.
    let response = response.map_err(|error| GraphFailure {
        failure: Failure::Retry,
        description: transport(&error),
        answer_lost: !error.is_connect(),
    })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|error| GraphFailure {
        failure: Failure::Retry,
        description: transport(&error),
        answer_lost: true,
    })?;
    if (200..300).contains(&status) {
        return Ok(serde_json::from_slice(&body).unwrap_or(Value::Null));
    }
    let (failure, description) = meta::classify(status, &body);
    Err(GraphFailure { failure, description, answer_lost: false })
}

/// A transport failure in words; reqwest's own message would add the URL.
fn transport(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "broke off while reading the answer"
    } else {
        "failed"
    };
    format!("Graph API request {what}")
}

/// Delivers jobs of kind [`JOB_KIND`].
pub struct MetaDeliverer {
    api: GraphApi,
    store: Store,
    health: Arc<MetaHealth>,
    metrics: Arc<Metrics>,
}

impl MetaDeliverer {
    pub fn new(api: GraphApi, store: Store, health: Arc<MetaHealth>, metrics: Arc<Metrics>) -> MetaDeliverer {
        MetaDeliverer { api, store, health, metrics }
    }

    async fn deliver_job(&self, job: &Job) -> Result<(), GraphFailure> {
        let outgoing: Outgoing = serde_json::from_str(&job.payload).map_err(|error| GraphFailure {
            failure: Failure::Permanent,
            description: format!("the job's payload cannot be read: {error}"),
            answer_lost: false,
        })?;
        let body = match outgoing {
            Outgoing::Read { message_id } => {
                self.api.send(&meta::read_receipt(&message_id)).await.map_err(GraphFailure::harmless)?;
                return Ok(());
            }
            Outgoing::Message(body) => body,
            Outgoing::QrImage { to, uic, caption } => {
                let png = crate::support::qr::png(&uic).map_err(|error| GraphFailure {
                    failure: Failure::Permanent,
                    description: format!("the QR image cannot be made: {error}"),
                    answer_lost: false,
                })?;
                // The file name is what the person sees if they save it; not the code.
                let media_id = self.api.upload_png(png, "ciu-qr.png").await.map_err(GraphFailure::harmless)?;
                meta::image_message(&to, &media_id, caption.as_deref())
            }
        };
        let message_id = self.api.send(&body).await?;
        self.metrics.replies_sent(CHANNEL, 1);
        if let Some(message_id) = message_id {
            let record = SentStatus {
                channel: CHANNEL,
                message_id: &message_id,
                job_id: Some(job.id),
                status: MessageStatus::Accepted,
                error: None,
            };
            // The message left: a failure to note it must not send it again.
            if let Err(error) = self.store.record_sent(record, Utc::now()).await {
                tracing::warn!(job = job.id, error = %error, "message sent but not recorded");
            }
        }
        Ok(())
    }
}

/// Time an attempt has, beyond its requests, to note the message it sent.
const RECORD_TIME: Duration = Duration::from_secs(5);

impl Deliverer for MetaDeliverer {
    /// A QR image is two requests (the upload, then the message); then the
    /// send is noted.
    fn longest_attempt(&self) -> Duration {
        2 * self.api.timeout + RECORD_TIME
    }

    fn deliver<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(async move {
            match self.deliver_job(job).await {
                Ok(()) => {
                    if self.health.token_error().is_some() {
                        tracing::info!("META_ACCESS_TOKEN accepted again");
                        self.health.set_token_error(None);
                    }
                    Ok(())
                }
                Err(GraphFailure { failure: Failure::Retry, description, answer_lost }) => {
                    self.metrics.error("meta_api");
                    // Meta may have the message: wait for its status before sending it again.
                    Err(if answer_lost {
                        DeliveryError::Unsure(description)
                    } else {
                        DeliveryError::Retry(description)
                    })
                }
                Err(GraphFailure { failure: Failure::Permanent, description, .. }) => {
                    self.metrics.error("meta_api");
                    Err(DeliveryError::Permanent(description))
                }
                Err(GraphFailure { failure: Failure::TokenRejected, description, .. }) => {
                    self.metrics.error("meta_token");
                    tracing::error!(
                        error = %description,
                        "Meta refused META_ACCESS_TOKEN: replies wait until it is replaced"
                    );
                    self.health.set_token_error(Some(description.clone()));
                    Err(DeliveryError::Paused(description))
                }
            }
        })
    }
}
