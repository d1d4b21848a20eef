//! The outbox's deliverer of `dhis2` jobs: registers one code in DHIS2
//! Tracker, idempotently. Each attempt searches first (a clinic may hold the
//! code already; an earlier attempt may have committed before its answer was
//! lost), links to what it finds, and otherwise imports the tracked entity
//! and its enrollment under the UIDs chosen when the code was issued, so a
//! retry updates rather than duplicates. The code's state follows: registered
//! with its tracked entity, or failed with DHIS2's error code.
//!
//! Faults of the network or of DHIS2 (5xx, 429, timeouts, HTML instead of a
//! report) are retried with backoff, forever; a refused token stops the job
//! at once and shows in `/health`, so a wrong token is one request per code,
//! not a storm. Errors stored or logged hold DHIS2's code and message (which
//! may quote the code, never a name: nothing else is sent).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::client::Dhis2Client;
use super::protocol::{ApiError, ImportError, ImportOutcome};
use crate::core::dhis2::{RegistrationJob, RegistrationState};
use crate::store::{Job, Store};
use crate::turn::outbox::{Deliverer, DeliveryError};

/// DHIS2's last word on the credentials, for `/health`.
#[derive(Debug, Default)]
pub struct Dhis2Health {
    token_refused: Mutex<Option<String>>,
}

impl Dhis2Health {
    /// Why DHIS2 refused the credentials, when it did and nothing succeeded since.
    pub fn token_refused(&self) -> Option<String> {
        self.token_refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set_token_refused(&self, refused: Option<String>) {
        *self.token_refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = refused;
    }
}

/// Delivers `dhis2` jobs.
pub struct Dhis2Deliverer {
    client: Dhis2Client,
    store: Store,
    health: Arc<Dhis2Health>,
}

/// Why an attempt did not register the code.
enum Failure {
    /// DHIS2 refused the credentials (401, 403).
    TokenRefused(u16),
    /// DHIS2 refused the data for good: its error codes and messages.
    Refused(String),
    /// Worth another attempt later.
    Transient(String),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        match error {
            ApiError::TokenRefused { status } => Failure::TokenRefused(status),
            // A 4xx other than a validation report: the request itself is
            // wrong (a program that is gone, a parameter this version does not
            // know). Retrying cannot mend it; an operator must.
            ApiError::Rejected { status, message } => Failure::Refused(format!("HTTP {status}: {message}")),
            ApiError::Transient(description) => Failure::Transient(description),
            // A server older than 2.38 will not grow younger: an operator must act.
            ApiError::Unsupported(description) => Failure::Refused(description),
        }
    }
}

impl Dhis2Deliverer {
    pub fn new(client: Dhis2Client, store: Store, health: Arc<Dhis2Health>) -> Dhis2Deliverer {
        Dhis2Deliverer { client, store, health }
    }

    async fn deliver_job(&self, job: &Job) -> Result<(), DeliveryError> {
        let registration: RegistrationJob = serde_json::from_str(&job.payload)
            .map_err(|error| DeliveryError::Permanent(format!("the job's payload cannot be read: {error}")))?;
        let uic = registration.uic.as_str();
        match self.attempt(&registration).await {
            Ok(tracked_entity) => {
                self.health.set_token_refused(None);
                self.record(uic, RegistrationState::Registered { tracked_entity }).await
            }
            Err(Failure::Transient(description)) => Err(DeliveryError::Retry(description)),
            Err(Failure::TokenRefused(status)) => {
                let error = format!("token refused (HTTP {status}): check DHIS2_API_TOKEN, then `uic dhis2 resync`");
                tracing::error!(status, "DHIS2 refused the token: registrations stop until it is replaced");
                self.health.set_token_refused(Some(format!("token refused (HTTP {status})")));
                self.record(uic, RegistrationState::Failed { error: error.clone() }).await?;
                Err(DeliveryError::Permanent(error))
            }
            Err(Failure::Refused(error)) => {
                self.record(uic, RegistrationState::Failed { error: error.clone() }).await?;
                Err(DeliveryError::Permanent(error))
            }
        }
    }

    /// One attempt: the tracked entity that holds the code afterwards.
    async fn attempt(&self, job: &RegistrationJob) -> Result<String, Failure> {
        if let Some(found) = self.find(job).await? {
            return Ok(found);
        }
        match self.client.import(job).await? {
            ImportOutcome::Imported => Ok(job.tracked_entity.clone()),
            // Another record took the code between our search and our import
            // (a clinic, another server): link to it.
            ImportOutcome::Refused(errors) if errors.iter().any(|error| error.code == ImportError::NON_UNIQUE) => {
                self.find(job).await?.ok_or_else(|| {
                    Failure::Transient(
                        "E1064: DHIS2 says another record holds the code, but the search does not find it yet".into(),
                    )
                })
            }
            ImportOutcome::Refused(errors) => {
                let described: Vec<String> =
                    errors.iter().map(|error| format!("{}: {}", error.code, error.message)).collect();
                Err(Failure::Refused(if described.is_empty() {
                    "DHIS2 refused the import without saying why".to_string()
                } else {
                    described.join("; ")
                }))
            }
        }
    }

    /// The tracked entity already holding the code, if any: ours if it is
    /// among them (a retry after a lost answer), else the first found.
    async fn find(&self, job: &RegistrationJob) -> Result<Option<String>, Failure> {
        let mut found = self.client.find_by_code(&job.tracked_entity_type, &job.uic_attribute, &job.uic).await?;
        if found.contains(&job.tracked_entity) {
            return Ok(Some(job.tracked_entity.clone()));
        }
        if found.len() > 1 {
            tracing::warn!(count = found.len(), "several DHIS2 records hold one code: linked to the first");
        }
        found.sort();
        Ok(found.into_iter().next())
    }

    /// Keeps the code's new state; the job is tried again if it cannot be kept.
    async fn record(&self, uic: &str, state: RegistrationState) -> Result<(), DeliveryError> {
        self.store
            .set_registration(uic, &state)
            .await
            .map_err(|error| DeliveryError::Retry(format!("the registration state cannot be recorded: {error}")))
    }
}

impl Deliverer for Dhis2Deliverer {
    fn deliver<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>> {
        Box::pin(self.deliver_job(job))
    }

    fn retries_forever(&self) -> bool {
        true
    }

    /// The version (asked once), a search, an import and a search again.
    fn longest_attempt(&self) -> std::time::Duration {
        4 * self.client.timeout() + std::time::Duration::from_secs(5)
    }
}
