//! [`Dhis2Client`]: the requests of [`super::protocol`] over reqwest with
//! rustls, one client (and its connection pool) per process.
//!
//! The token or password lives only in a header value marked sensitive;
//! the client's `Debug` shows the server, never the credentials, and no
//! error built here quotes a request or a whole answer.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use tokio::sync::OnceCell;

use super::protocol::{
    self, ApiError, Attribute, Generation, ImportOutcome, Me, Metadata, OrgUnit, Program, SystemInfo,
};
use super::protocol::{TrackedEntityType, cut};
use crate::config::{Dhis2Auth, Dhis2Config};
use crate::core::dhis2::RegistrationJob;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The credential cannot travel in an HTTP header (a line break, a
    /// control character); names the variable.
    #[error("{0} holds a character an HTTP header cannot carry (a line break?)")]
    Credentials(&'static str),
    /// reqwest could not build its client (no TLS roots, …).
    #[error("the HTTP client cannot be built: {0}")]
    Http(String),
}

/// A DHIS2 server, as the credentials of a [`Dhis2Config`] reach it.
#[derive(Clone)]
pub struct Dhis2Client {
    http: reqwest::Client,
    /// Without a trailing slash; the API is at `/api/…` below it.
    base_url: String,
    authorization: HeaderValue,
    timeout_seconds: u32,
    /// Learnt from `/api/system/info` once, shared by the clones.
    generation: Arc<OnceCell<Generation>>,
}

impl fmt::Debug for Dhis2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dhis2Client")
            .field("base_url", &self.base_url)
            .field("authorization", &"***")
            .field("generation", &self.generation.get())
            .finish()
    }
}

impl Dhis2Client {
    pub fn new(config: &Dhis2Config) -> Result<Dhis2Client, BuildError> {
        let (value, variable) = match &config.auth {
            Dhis2Auth::Token(token) => (format!("ApiToken {}", token.expose()), "DHIS2_API_TOKEN"),
            Dhis2Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                (format!("Basic {}", STANDARD.encode(pair)), "DHIS2_API_PASSWORD")
            }
        };
        let mut authorization = HeaderValue::from_str(&value).map_err(|_| BuildError::Credentials(variable))?;
        authorization.set_sensitive(true);
        let timeout = Duration::from_secs(config.timeout_seconds.into());
        crate::support::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("uic/", env!("CARGO_PKG_VERSION")))
            // A redirect would be to a login page: better seen as what it is.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| BuildError::Http(error.without_url().to_string()))?;
        Ok(Dhis2Client {
            http,
            base_url: config.base_url.trim_end_matches('/').to_string(),
            authorization,
            timeout_seconds: config.timeout_seconds,
            generation: Arc::new(OnceCell::new()),
        })
    }

    /// The server's address, as configured.
    /// The longest one request takes (`DHIS2_TIMEOUT_SECONDS`).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.into())
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `/api/system/info`: the version, and with it the generation, which
    /// [`Dhis2Client::generation`] then knows without asking again.
    pub async fn system_info(&self) -> Result<SystemInfo, ApiError> {
        let (status, body) = self.get(&format!("{}{}", self.base_url, protocol::SYSTEM_INFO_PATH)).await?;
        let info = protocol::read_system_info(status, &body)?;
        let generation = Generation::from_version(&info.version)?;
        let _ = self.generation.set(generation);
        Ok(info)
    }

    /// The tracker API the server speaks; asks `/api/system/info` the first time.
    pub async fn generation(&self) -> Result<Generation, ApiError> {
        if let Some(generation) = self.generation.get() {
            return Ok(*generation);
        }
        self.system_info().await?;
        self.generation.get().copied().ok_or_else(|| ApiError::Transient("no version known".into()))
    }

    /// `/api/me`: who the credentials are.
    pub async fn me(&self) -> Result<Me, ApiError> {
        let (status, body) = self.get(&format!("{}{}", self.base_url, protocol::ME_PATH)).await?;
        protocol::read_me(status, &body)
    }

    /// The tracked entities of type `tracked_entity_type` whose
    /// `uic_attribute` holds `code`, in every org unit the user may search.
    pub async fn find_by_code(
        &self,
        tracked_entity_type: &str,
        uic_attribute: &str,
        code: &str,
    ) -> Result<Vec<String>, ApiError> {
        let generation = self.generation().await?;
        let url = protocol::search_url(&self.base_url, generation, tracked_entity_type, uic_attribute, code);
        let (status, body) = self.get(&url).await?;
        protocol::read_search(generation, status, &body, uic_attribute, code)
    }

    /// Imports the job's tracked entity and enrollment, synchronously, under
    /// the job's UIDs (a retry updates what an earlier attempt created).
    pub async fn import(&self, job: &RegistrationJob) -> Result<ImportOutcome, ApiError> {
        let request = self
            .http
            .post(protocol::import_url(&self.base_url))
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json")
            .json(&protocol::import_body(job));
        let (status, body) = self.send(request).await?;
        protocol::read_import(status, &body, &job.tracked_entity, &job.enrollment)
    }

    /// A program, `None` when DHIS2 has none with this UID (or hides it).
    pub async fn program(&self, uid: &str) -> Result<Option<Program>, ApiError> {
        let (status, body) = self.metadata(Metadata::Program, uid).await?;
        protocol::read_program(status, &body)
    }

    pub async fn tracked_entity_type(&self, uid: &str) -> Result<Option<TrackedEntityType>, ApiError> {
        let (status, body) = self.metadata(Metadata::TrackedEntityType, uid).await?;
        protocol::read_tracked_entity_type(status, &body)
    }

    pub async fn attribute(&self, uid: &str) -> Result<Option<Attribute>, ApiError> {
        let (status, body) = self.metadata(Metadata::Attribute, uid).await?;
        protocol::read_attribute(status, &body)
    }

    pub async fn org_unit(&self, uid: &str) -> Result<Option<OrgUnit>, ApiError> {
        let (status, body) = self.metadata(Metadata::OrgUnit, uid).await?;
        protocol::read_org_unit(status, &body)
    }

    async fn metadata(&self, kind: Metadata, uid: &str) -> Result<(u16, Vec<u8>), ApiError> {
        if !crate::core::dhis2::is_uid(uid) {
            // Never put something else in a path; config checks UIDs, this keeps it so.
            return Ok((404, Vec::new()));
        }
        self.get(&format!("{}{}", self.base_url, kind.path(uid))).await
    }

    async fn get(&self, url: &str) -> Result<(u16, Vec<u8>), ApiError> {
        let request =
            self.http.get(url).header(AUTHORIZATION, self.authorization.clone()).header(ACCEPT, "application/json");
        self.send(request).await
    }

    /// The status and body of an answer, or the transport failure in a few words.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), ApiError> {
        let response = request.send().await.map_err(|error| self.transport(&error))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|error| self.transport(&error))?;
        tracing::debug!(status, bytes = body.len(), "DHIS2 answered");
        Ok((status, body.to_vec()))
    }

    /// A transport failure in words that name neither the request nor its
    /// credentials: reqwest's own message adds the URL, so only the
    /// innermost cause is kept ("connection refused", a DNS or TLS error).
    fn transport(&self, error: &reqwest::Error) -> ApiError {
        if error.is_timeout() {
            return ApiError::Transient(format!("no answer within {} s", self.timeout_seconds));
        }
        let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
        let mut source = error.source();
        while let Some(cause) = source {
            innermost = Some(cause);
            source = cause.source();
        }
        let io_kind = innermost.and_then(|cause| cause.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
        let description = match (io_kind, innermost) {
            (Some(std::io::ErrorKind::ConnectionRefused), _) => "connection refused".to_string(),
            (Some(std::io::ErrorKind::TimedOut), _) => format!("no answer within {} s", self.timeout_seconds),
            (_, Some(cause)) => cut(&cause.to_string(), protocol::MESSAGE_LIMIT),
            (_, None) if error.is_connect() => "could not connect".to_string(),
            (_, None) => "the request failed".to_string(),
        };
        let description = if error.is_body() || error.is_decode() {
            format!("the answer broke off: {description}")
        } else {
            description
        };
        ApiError::Transient(description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::core::dhis2::Target;

    fn config(auth: Dhis2Auth, base_url: &str) -> Dhis2Config {
        Dhis2Config { base_url: base_url.into(), auth, defaults: Target::default(), timeout_seconds: 2 }
    }

    #[test]
    fn credentials_never_print() {
        let token = Dhis2Auth::Token(Secret::from("d2pat_SECRETSECRET".to_string()));
        let client = Dhis2Client::new(&config(token, "https://dhis2.example.org/")).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://dhis2.example.org\""), "the trailing slash is dropped: {shown}");
        let basic =
            Dhis2Auth::Basic { username: "admin".into(), password: Secret::from("district-SECRET".to_string()) };
        let client = Dhis2Client::new(&config(basic, "https://dhis2.example.org")).unwrap();
        assert!(!format!("{client:?}").contains("SECRET"));
        assert_eq!(
            client.authorization.to_str().unwrap(),
            format!("Basic {}", STANDARD.encode("admin:district-SECRET"))
        );
        let broken = Dhis2Auth::Token(Secret::from("d2pat_\nX".to_string()));
        let error = Dhis2Client::new(&config(broken, "https://h")).unwrap_err().to_string();
        assert_eq!(error, "DHIS2_API_TOKEN holds a character an HTTP header cannot carry (a line break?)");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_connection() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let token = Dhis2Auth::Token(Secret::from("d2pat_x".to_string()));
        let client = Dhis2Client::new(&config(token, &format!("http://127.0.0.1:{port}"))).unwrap();
        assert_eq!(client.system_info().await, Err(ApiError::Transient("connection refused".into())));
        assert_eq!(
            client.find_by_code("IpHINAT79UW", "lZGmxYbs97q", "X").await,
            Err(ApiError::Transient("connection refused".into()))
        );
    }
}
