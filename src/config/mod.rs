//! Settings from flags, environment variables and an optional `.env`, the
//! same way for every command (SPEC §13). [`settings`] declares each one to
//! clap, with its variable and default; [`Config::from_settings`] checks the
//! values of `uic serve`, every wrong one refused with a message naming its
//! variable; secrets live in a type that never prints.

mod dotenv;
mod settings;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::dhis2::{Target, is_uid};
use crate::core::salt::{Salt, SaltError};

pub use dotenv::{DOTENV, read_dotenv, variable, with_dotenv};
pub use settings::{
    CodeArgs, DatabaseArgs, Dhis2Args, LogArgs, MetaArgs, ServerArgs, Settings, SourceArgs, TwilioArgs,
};

/// A secret setting (token, auth token). `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How clap reads a secret from its flag or variable.
impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Where the salt came from, for the start-up warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaltSource {
    /// `UIC_SALT`.
    Environment(Salt),
    /// Development only: generated once and kept in the data folder.
    DataFolder,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub database_url: String,
    /// Holds the SQLite file and the development salt.
    pub data_dir: PathBuf,
    pub salt: SaltSource,
    pub default_flow: String,
    pub flows_dir: Option<PathBuf>,
    pub locales_dir: Option<PathBuf>,
    pub session_timeout_minutes: u32,
    pub enable_qr_code: bool,
    /// e.g. `https://whatsapp.example.org`, without a trailing slash.
    pub public_base_url: Option<String>,
    /// `TRUST_FORWARDED_HEADERS`: public URLs may be rebuilt from
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` (when `public_base_url` is not set).
    pub trust_forwarded_headers: bool,
    pub webhook_path: String,
    pub admin_token: Option<Secret>,
    /// `METRICS_TOKEN`: the bearer `GET /metrics` asks for; `None` leaves it open.
    pub metrics_token: Option<Secret>,
    /// Connections, timeouts and the shutdown's wait.
    pub limits: ServerLimits,
    /// `PHONE_MESSAGES_PER_MINUTE` and `PHONE_BURST`: each phone number's token bucket.
    pub phone_limit: PhoneLimit,
    pub twilio: TwilioConfig,
    /// The Meta WhatsApp Cloud API channel; `None` when no `META_*` credential is set.
    pub meta: Option<MetaConfig>,
    /// DHIS2 Tracker registration; `None` when `DHIS2_BASE_URL` is not set.
    pub dhis2: Option<Dhis2Config>,
    /// `DHIS2_*` variables set while `DHIS2_BASE_URL` is not (registration is off).
    pub dhis2_ignored: Vec<&'static str>,
    pub log_level: String,
    pub log_json: bool,
    pub cleanup_interval_minutes: u32,
    /// Processed message ids (and their replies) are kept this long, for
    /// redeliveries: 8 days by default, past the 7 days Meta retries a webhook.
    pub message_retention_hours: u32,
    /// A QR image link works this long after it was made (24 hours by
    /// default: Twilio fetches the image when it sends the message); then it
    /// names nothing and the cleanup removes it.
    pub qr_link_hours: u32,
}

/// How fast one phone number may send messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneLimit {
    pub per_minute: u32,
    pub burst: u32,
}

/// What one client may hold of the server, and how long stopping may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// `MAX_CONNECTIONS`: connections served at once; more wait to be accepted.
    pub max_connections: MaxConnections,
    /// `HEADER_READ_TIMEOUT_SECONDS`: to send a request's headers, or between
    /// two requests of a kept-alive connection.
    pub header_read_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECONDS`: a whole request, its body included (408 past it).
    pub request_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECONDS`: the wait for requests in flight on SIGTERM.
    pub shutdown_timeout: Duration,
}

/// `MAX_CONNECTIONS`, which must leave file descriptors for the database,
/// the logs and the outbound clients: [`MaxConnections::within`] checks it
/// against the process's open-file limit, known only when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxConnections {
    /// Unset: [`MaxConnections::DEFAULT`], or fewer under a low open-file limit.
    Default,
    /// Set by the operator: refused if the open-file limit cannot hold it.
    Set(usize),
}

impl MaxConnections {
    pub const DEFAULT: usize = 512;
    /// File descriptors kept for everything but the clients' connections.
    pub const RESERVED_FILES: u64 = 64;

    /// The cap under an open-file limit of `open_files` (`None`: unknown).
    pub fn within(self, open_files: Option<u64>) -> Result<usize, ConfigError> {
        let room = open_files.map(|limit| limit.saturating_sub(Self::RESERVED_FILES) as usize);
        match (self, room) {
            (MaxConnections::Default, room) => Ok(room.map_or(Self::DEFAULT, |room| Self::DEFAULT.min(room.max(1)))),
            (MaxConnections::Set(n), Some(room)) if n > room => {
                Err(ConfigError::TooManyConnections { set: n, limit: open_files.unwrap_or_default(), room })
            }
            (MaxConnections::Set(n), _) => Ok(n),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub enabled: bool,
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub whatsapp_number: Option<String>,
}

/// The Meta WhatsApp Cloud API (SPEC §9). Present when `META_ACCESS_TOKEN`
/// and `META_PHONE_NUMBER_ID` are set; setting only one of them is an error.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// `META_ACCESS_TOKEN`: a permanent system-user token, sent as a bearer.
    pub access_token: Secret,
    /// `META_PHONE_NUMBER_ID`: the sending number's id (not the number itself).
    pub phone_number_id: String,
    /// `META_WEBHOOK_VERIFY_TOKEN` (alias `META_VERIFY_TOKEN`): answers Meta's
    /// subscription check; without it every check is refused.
    pub verify_token: Option<Secret>,
    /// `META_APP_SECRET`: keys `X-Hub-Signature-256`; required in production.
    pub app_secret: Option<Secret>,
    /// `META_API_BASE_URL`, without a trailing slash.
    pub api_base_url: String,
    /// `META_API_VERSION`, e.g. `v21.0`.
    pub api_version: String,
    /// `META_API_TIMEOUT_SECONDS`: longest wait for one Graph API request.
    pub api_timeout_seconds: u32,
}

/// DHIS2 Tracker (SPEC §11), on when `DHIS2_BASE_URL` is set.
#[derive(Debug, Clone)]
pub struct Dhis2Config {
    /// `DHIS2_BASE_URL`, without a trailing slash (the API is at `/api/…` below it).
    pub base_url: String,
    pub auth: Dhis2Auth,
    /// `DHIS2_PROGRAM`, `DHIS2_ORG_UNIT`, `DHIS2_TRACKED_ENTITY_TYPE`,
    /// `DHIS2_UIC_ATTRIBUTE`: where codes are registered unless a flow says
    /// otherwise. Start-up checks that every flow's target is complete.
    pub defaults: Target,
    /// `DHIS2_TIMEOUT_SECONDS`: longest wait for one request.
    pub timeout_seconds: u32,
}

/// How `uic` proves who it is to DHIS2.
#[derive(Debug, Clone)]
pub enum Dhis2Auth {
    /// `DHIS2_API_TOKEN`: a personal access token, `Authorization: ApiToken …`.
    Token(Secret),
    /// `DHIS2_API_USERNAME` and `DHIS2_API_PASSWORD`: Basic authentication.
    Basic { username: String, password: Secret },
}

impl Dhis2Config {
    /// The DHIS2 settings alone (`uic dhis2 check`, `uic dhis2 resync`): `None`
    /// when `DHIS2_BASE_URL` is not set, an error naming the variable when a
    /// value is wrong or a credential is missing.
    pub fn from_args(args: Dhis2Args) -> Result<Option<Dhis2Config>, ConfigError> {
        Ok(dhis2_config(args)?.0)
    }
}

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name}: `{value}` is not valid: {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
    // Transparent: its message is the salt's, said once (an error chain would repeat it).
    #[error(transparent)]
    Salt(#[from] SaltError),
    #[error("ENVIRONMENT=production needs {}; set {}", .0.join(", "), if .0.len() > 1 { "them" } else { "it" })]
    MissingInProduction(Vec<&'static str>),
    #[error("{given} is set but {missing} is not: the Meta channel needs both")]
    IncompleteMeta { given: &'static str, missing: &'static str },
    #[error("{0}")]
    IncompleteDhis2(String),
    #[error(
        "MAX_CONNECTIONS: `{set}` is more than the open-file limit ({limit}, systemd's LimitNOFILE or `ulimit -n`) \
         allows with {} files kept for the database and logs; set MAX_CONNECTIONS to at most {room} or raise the limit",
        MaxConnections::RESERVED_FILES
    )]
    TooManyConnections { set: usize, limit: u64, room: usize },
    #[error("{DOTENV}: {0}")]
    DotEnv(String),
    /// Settings given to [`Settings::from_vars`] that clap refused.
    #[error("{0}")]
    Arguments(String),
}

impl Config {
    /// Reads settings through `var` (tests need not touch the environment),
    /// with the defaults and checks of `uic serve`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::from_settings(Settings::from_vars(var)?)
    }

    /// Checks the settings clap read; the first wrong value stops, naming its variable.
    pub fn from_settings(settings: Settings) -> Result<Config, ConfigError> {
        let Settings { server, codes, sources, database, twilio, meta, dhis2, logs } = settings;
        let environment = match server.environment.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            _ => return Err(invalid("ENVIRONMENT", server.environment, "`development` or `production`")),
        };
        let database_url = database.url();
        // The store knows which URLs it opens; the message shows the URL redacted.
        if crate::store::DatabaseUrl::parse(&database_url).is_err() {
            let shown = crate::store::redact_url(&database_url);
            return Err(invalid("DATABASE_URL", shown, "sqlite://PATH or postgres://USER@HOST/DB"));
        }
        let salt = match given_secret(codes.uic_salt) {
            Some(value) => SaltSource::Environment(Salt::parse(value.expose())?),
            None => SaltSource::DataFolder,
        };
        let public_base_url = match given(server.public_base_url) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(url) => return Err(invalid("PUBLIC_BASE_URL", url, "an absolute URL like https://bot.example.org")),
            None => None,
        };
        let webhook_path = server.webhook_path;
        if !webhook_path.starts_with('/') || webhook_path.contains('?') {
            return Err(invalid("WEBHOOK_PATH", webhook_path, "a path starting with / such as /whatsapp/webhook"));
        }
        let meta = meta_config(meta)?;
        let (dhis2, dhis2_ignored) = dhis2_config(dhis2)?;
        let account_sid = given(twilio.twilio_account_sid);
        let auth_token = given_secret(twilio.twilio_auth_token);
        // Twilio is on by default, unless only Meta is configured: moving to
        // Meta is then a matter of setting META_* and removing TWILIO_*.
        let twilio_by_default = meta.is_none() || account_sid.is_some() || auth_token.is_some();
        let twilio_enabled = match given(twilio.twilio_enabled) {
            Some(value) => flag("TWILIO_ENABLED", value)?,
            None => twilio_by_default,
        };
        let log_level = logs.log_level;
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid("LOG_LEVEL", log_level, "a level such as info, debug or warn"));
        }
        let config = Config {
            environment,
            host: server.host,
            port: number("PORT", server.port, 0, u16::MAX.into())? as u16,
            database_url,
            data_dir: database.data_dir,
            salt,
            default_flow: codes.default_flow,
            flows_dir: sources.flows_dir,
            locales_dir: sources.locales_dir,
            session_timeout_minutes: session_timeout_minutes(&codes.session_timeout_minutes)?,
            enable_qr_code: flag("ENABLE_QR_CODE", codes.enable_qr_code)?,
            public_base_url,
            trust_forwarded_headers: flag("TRUST_FORWARDED_HEADERS", server.trust_forwarded_headers)?,
            webhook_path,
            admin_token: given_secret(server.admin_token),
            metrics_token: given_secret(server.metrics_token),
            limits: ServerLimits {
                max_connections: match given(server.max_connections) {
                    Some(value) => MaxConnections::Set(number("MAX_CONNECTIONS", value, 1, 1_000_000)? as usize),
                    None => MaxConnections::Default,
                },
                header_read_timeout: seconds("HEADER_READ_TIMEOUT_SECONDS", server.header_read_timeout_seconds)?,
                request_timeout: seconds("REQUEST_TIMEOUT_SECONDS", server.request_timeout_seconds)?,
                shutdown_timeout: seconds("SHUTDOWN_TIMEOUT_SECONDS", server.shutdown_timeout_seconds)?,
            },
            phone_limit: PhoneLimit {
                per_minute: number("PHONE_MESSAGES_PER_MINUTE", server.phone_messages_per_minute, 1, 60_000)? as u32,
                burst: number("PHONE_BURST", server.phone_burst, 1, 10_000)? as u32,
            },
            twilio: TwilioConfig {
                enabled: twilio_enabled,
                account_sid,
                auth_token,
                whatsapp_number: given(twilio.twilio_whatsapp_number),
            },
            meta,
            dhis2,
            dhis2_ignored,
            log_level,
            log_json: flag("LOG_JSON", logs.log_json)?,
            cleanup_interval_minutes: number("CLEANUP_INTERVAL_MINUTES", server.cleanup_interval_minutes, 1, 24 * 60)?
                as u32,
            message_retention_hours: number("MESSAGE_RETENTION_HOURS", server.message_retention_hours, 1, 24 * 365)?
                as u32,
            qr_link_hours: number("QR_LINK_HOURS", server.qr_link_hours, 1, 24 * 30)? as u32,
        };
        if config.environment == Environment::Production {
            let mut missing = Vec::new();
            if config.salt == SaltSource::DataFolder {
                missing.push("UIC_SALT");
            }
            if config.admin_token.is_none() {
                missing.push("ADMIN_TOKEN");
            }
            if config.twilio.enabled {
                if config.twilio.account_sid.is_none() {
                    missing.push("TWILIO_ACCOUNT_SID");
                }
                if config.twilio.auth_token.is_none() {
                    missing.push("TWILIO_AUTH_TOKEN");
                }
                // The URL a signature covers must not come from the request's headers.
                if config.public_base_url.is_none() {
                    missing.push("PUBLIC_BASE_URL");
                }
            }
            if let Some(meta) = &config.meta {
                if meta.app_secret.is_none() {
                    missing.push("META_APP_SECRET");
                }
                if meta.verify_token.is_none() {
                    missing.push("META_WEBHOOK_VERIFY_TOKEN");
                }
            }
            if !missing.is_empty() {
                return Err(ConfigError::MissingInProduction(missing));
            }
            if let Some(given) = config.dhis2_ignored.first() {
                return Err(ConfigError::IncompleteDhis2(format!(
                    "{given} is set but DHIS2_BASE_URL is not: set DHIS2_BASE_URL to register codes in DHIS2, or remove the DHIS2_* variables"
                )));
            }
        }
        Ok(config)
    }

    /// The development shortcuts in force, one warning each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.environment == Environment::Production {
            // A production server started in a development folder: its codes would
            // be keyed by whatever salt is set now, not the one the file kept.
            let dev_salt = self.data_dir.join("dev-salt");
            if self.database_url.starts_with("sqlite:") && dev_salt.exists() {
                warnings.push(format!(
                    "PRODUCTION ON A DEVELOPMENT FOLDER: {} holds a development salt and the database is SQLite in {}; codes issued there used that salt, not UIC_SALT. Move production to its own DATA_DIR (or PostgreSQL) and remove the development files",
                    dev_salt.display(),
                    self.data_dir.display()
                ));
            }
            return warnings;
        }
        if self.salt == SaltSource::DataFolder {
            warnings.push(format!(
                "UIC_SALT is not set: using a development salt kept in {} (set UIC_SALT in production)",
                self.data_dir.join("dev-salt").display()
            ));
        }
        if self.admin_token.is_none() {
            warnings.push(
                "ADMIN_TOKEN is not set: POST /whatsapp/cleanup answers 401 to everyone, and the staff console opens with a token made for this run (printed below)".into(),
            );
        }
        if self.twilio.enabled && self.twilio.auth_token.is_none() {
            warnings.push("TWILIO_AUTH_TOKEN is not set: Twilio signatures are NOT checked".into());
        }
        if let Some(meta) = &self.meta {
            if meta.app_secret.is_none() {
                warnings.push("META_APP_SECRET is not set: Meta signatures are NOT checked".into());
            }
            if meta.verify_token.is_none() {
                warnings.push("META_WEBHOOK_VERIFY_TOKEN is not set: Meta's webhook verification is refused".into());
            }
        }
        if let Some(given) = self.dhis2_ignored.first() {
            warnings.push(format!("{given} is set but DHIS2_BASE_URL is not: codes are NOT registered in DHIS2"));
        }
        // Only Twilio needs public URLs (its signatures, its QR images); Meta's are uploaded.
        if self.twilio.enabled && self.public_base_url.is_none() {
            let from = if self.trust_forwarded_headers { "X-Forwarded-* and Host headers" } else { "Host header" };
            warnings.push(format!("PUBLIC_BASE_URL is not set: public URLs are rebuilt from the {from}"));
        }
        warnings
    }
}

/// The Meta channel's settings, if its credentials are set.
fn meta_config(meta: MetaArgs) -> Result<Option<MetaConfig>, ConfigError> {
    let access_token = given_secret(meta.meta_access_token);
    let phone_number_id = given(meta.meta_phone_number_id);
    let (access_token, phone_number_id) = match (access_token, phone_number_id) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::IncompleteMeta { given: "META_ACCESS_TOKEN", missing: "META_PHONE_NUMBER_ID" });
        }
        (None, Some(_)) => {
            return Err(ConfigError::IncompleteMeta { given: "META_PHONE_NUMBER_ID", missing: "META_ACCESS_TOKEN" });
        }
        (Some(token), Some(id)) => (token.expose().trim().to_string(), id.trim().to_string()),
    };
    if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "META_PHONE_NUMBER_ID",
            phone_number_id,
            "the phone number's id from the WhatsApp Manager (digits only, not the number itself)",
        ));
    }
    let api_base_url = meta.meta_api_base_url;
    if !api_base_url.starts_with("https://") && !api_base_url.starts_with("http://") {
        return Err(invalid("META_API_BASE_URL", api_base_url, "an absolute URL like https://graph.facebook.com"));
    }
    let api_version = meta.meta_api_version;
    let version_ok =
        api_version.strip_prefix('v').and_then(|rest| rest.split_once('.')).is_some_and(|(major, minor)| {
            [major, minor].iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        });
    if !version_ok {
        return Err(invalid("META_API_VERSION", api_version, "a Graph API version such as v21.0"));
    }
    Ok(Some(MetaConfig {
        access_token: Secret(access_token),
        phone_number_id,
        verify_token: given_secret(meta.meta_webhook_verify_token).or_else(|| given_secret(meta.meta_verify_token)),
        app_secret: given_secret(meta.meta_app_secret),
        api_base_url: api_base_url.trim_end_matches('/').to_string(),
        api_version,
        // The outbox's claim of a Meta job lasts two requests (a QR code is
        // an upload and a message) and a margin: a longer timeout holds a
        // killed worker's jobs back longer.
        api_timeout_seconds: number("META_API_TIMEOUT_SECONDS", meta.meta_api_timeout_seconds, 1, 50)? as u32,
    }))
}

/// The DHIS2 settings, if `DHIS2_BASE_URL` is set; otherwise the `DHIS2_*`
/// variables given in vain.
fn dhis2_config(args: Dhis2Args) -> Result<(Option<Dhis2Config>, Vec<&'static str>), ConfigError> {
    let token = given_secret(args.dhis2_api_token);
    let username = given(args.dhis2_api_username);
    let password = given_secret(args.dhis2_api_password);
    let mut uids = Vec::new();
    for (name, value) in [
        ("DHIS2_PROGRAM", args.dhis2_program),
        ("DHIS2_ORG_UNIT", args.dhis2_org_unit),
        ("DHIS2_TRACKED_ENTITY_TYPE", args.dhis2_tracked_entity_type),
        ("DHIS2_UIC_ATTRIBUTE", args.dhis2_uic_attribute),
    ] {
        let value = given(value).map(|value| value.trim().to_string());
        if let Some(uid) = value.as_deref().filter(|uid| !is_uid(uid)) {
            return Err(invalid(name, uid.to_string(), "a DHIS2 UID: 11 letters or digits, the first a letter"));
        }
        uids.push((name, value));
    }
    let Some(base_url) = given(args.dhis2_base_url) else {
        let mut ignored: Vec<&'static str> = uids.iter().filter(|(_, v)| v.is_some()).map(|(name, _)| *name).collect();
        let credentials = [("DHIS2_API_TOKEN", token.is_some()), ("DHIS2_API_USERNAME", username.is_some())];
        ignored.extend(credentials.iter().filter(|(_, set)| *set).map(|(name, _)| *name));
        return Ok((None, ignored));
    };
    let base_url = base_url.trim().trim_end_matches('/').to_string();
    if !base_url.starts_with("https://") && !base_url.starts_with("http://") {
        return Err(invalid("DHIS2_BASE_URL", base_url, "an absolute URL like https://dhis2.example.org"));
    }
    let auth = match (token, username, password) {
        (Some(token), _, _) => Dhis2Auth::Token(Secret(token.expose().trim().to_string())),
        (None, Some(username), Some(password)) => Dhis2Auth::Basic { username, password },
        (None, Some(_), None) => {
            return Err(ConfigError::IncompleteDhis2(
                "DHIS2_API_USERNAME is set but DHIS2_API_PASSWORD is not: Basic authentication needs both".into(),
            ));
        }
        (None, None, _) => {
            return Err(ConfigError::IncompleteDhis2(
                "DHIS2_BASE_URL is set but neither DHIS2_API_TOKEN nor DHIS2_API_USERNAME and DHIS2_API_PASSWORD are: \
                 registration needs a personal access token (or a user name and password)"
                    .into(),
            ));
        }
    };
    let mut values = uids.into_iter().map(|(_, value)| value);
    let mut next = || values.next().flatten();
    let defaults = Target { program: next(), org_unit: next(), tracked_entity_type: next(), uic_attribute: next() };
    let timeout_seconds = number("DHIS2_TIMEOUT_SECONDS", args.dhis2_timeout_seconds, 1, 60)? as u32;
    Ok((Some(Dhis2Config { base_url, auth, defaults, timeout_seconds }), Vec::new()))
}

/// `SESSION_TIMEOUT_MINUTES`, checked alike for `serve`, `chat` and
/// `sessions cleanup` (a clap value parser for the last two).
pub fn session_timeout_minutes(value: &str) -> Result<u32, ConfigError> {
    Ok(number("SESSION_TIMEOUT_MINUTES", value.to_string(), 1, 7 * 24 * 60)? as u32)
}

/// An optional setting; an empty value (`NAME=` in `.env`, `--name ""`) is an unset one.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

fn given_secret(value: Option<Secret>) -> Option<Secret> {
    value.filter(|value| !value.expose().trim().is_empty())
}

fn invalid(name: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::Invalid { name, value, expected }
}

fn number(name: &'static str, value: String, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid { name, value, expected: range_text(name) }),
    }
}

/// A number of seconds from 1 to an hour.
fn seconds(name: &'static str, value: String) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(number(name, value, 1, 3600)?))
}

fn range_text(name: &str) -> &'static str {
    match name {
        "PORT" => "a port number from 0 (any free port) to 65535",
        "SESSION_TIMEOUT_MINUTES" => "a number of minutes from 1 to 10080",
        "CLEANUP_INTERVAL_MINUTES" => "a number of minutes from 1 to 1440",
        "MESSAGE_RETENTION_HOURS" => "a number of hours from 1 to 8760",
        "QR_LINK_HOURS" => "a number of hours from 1 to 720",
        "META_API_TIMEOUT_SECONDS" => "a number of seconds from 1 to 50",
        "DHIS2_TIMEOUT_SECONDS" => "a number of seconds from 1 to 60",
        "MAX_CONNECTIONS" => "a number of connections from 1 to 1000000",
        "PHONE_MESSAGES_PER_MINUTE" => "a number of messages from 1 to 60000",
        "PHONE_BURST" => "a number of messages from 1 to 10000",
        "HEADER_READ_TIMEOUT_SECONDS" | "REQUEST_TIMEOUT_SECONDS" | "SHUTDOWN_TIMEOUT_SECONDS" => {
            "a number of seconds from 1 to 3600"
        }
        _ => "a whole number in range",
    }
}

fn flag(name: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid { name, value, expected: "true or false" }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_the_embedded_development_default() {
        let config = config(&[]).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 8000));
        assert_eq!(config.database_url, "sqlite://data/uic.db");
        assert_eq!(config.default_flow, "drc-fr");
        assert_eq!(config.webhook_path, "/whatsapp/webhook");
        assert_eq!(config.salt, SaltSource::DataFolder);
        assert!(config.enable_qr_code);
        assert_eq!(config.warnings().len(), 4);
    }

    #[test]
    fn wrong_values_name_their_variable() {
        let error = config(&[("PORT", "eighty")]).unwrap_err().to_string();
        assert_eq!(error, "PORT: `eighty` is not valid: a port number from 0 (any free port) to 65535");
        let error = config(&[("ENABLE_QR_CODE", "maybe")]).unwrap_err().to_string();
        assert_eq!(error, "ENABLE_QR_CODE: `maybe` is not valid: true or false");
        let error = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err().to_string();
        assert!(error.starts_with("DATABASE_URL:"), "{error}");
        let error = config(&[("UIC_SALT", "short")]).unwrap_err().to_string();
        assert!(error.starts_with("UIC_SALT must be at least 16 characters"), "{error}");
        let error = config(&[("PUBLIC_BASE_URL", "bot.example.org")]).unwrap_err().to_string();
        assert!(error.starts_with("PUBLIC_BASE_URL:"), "{error}");
        let error = config(&[("SESSION_TIMEOUT_MINUTES", "0")]).unwrap_err().to_string();
        assert!(error.starts_with("SESSION_TIMEOUT_MINUTES:"), "{error}");
        // A value that looks like a flag is still a value.
        let error = config(&[("PORT", "--help")]).unwrap_err().to_string();
        assert!(error.starts_with("PORT: `--help` is not valid"), "{error}");
    }

    #[test]
    fn production_names_every_missing_secret() {
        let error = config(&[("ENVIRONMENT", "production")]).unwrap_err().to_string();
        assert_eq!(
            error,
            "ENVIRONMENT=production needs UIC_SALT, ADMIN_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL; set them"
        );
        let complete = config(&[
            ("ENVIRONMENT", "production"),
            ("UIC_SALT", "Prod-Salt-0123456789"),
            ("ADMIN_TOKEN", "admin"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
            ("PUBLIC_BASE_URL", "https://bot.example.org"),
        ])
        .unwrap();
        assert!(complete.warnings().is_empty());
        assert_eq!(format!("{:?}", complete.admin_token), "Some(***)");
    }

    #[test]
    fn meta_is_configured_by_its_variables_and_turns_twilio_off_when_alone() {
        let meta = [("META_ACCESS_TOKEN", "EAAG-token"), ("META_PHONE_NUMBER_ID", "106540352242922")];
        let config = config(&meta).unwrap();
        let settings = config.meta.as_ref().expect("Meta is configured");
        assert_eq!(settings.api_base_url, "https://graph.facebook.com");
        assert_eq!(settings.api_version, "v21.0");
        assert_eq!(format!("{:?}", settings.access_token), "***");
        assert!(!config.twilio.enabled, "only Meta is configured: Twilio is off");
        assert!(config.warnings().iter().any(|w| w.starts_with("META_APP_SECRET is not set")));

        let both = config_with(&meta, &[("TWILIO_AUTH_TOKEN", "secret")]);
        assert!(both.twilio.enabled && both.meta.is_some(), "both channels at once");
        let alias = config_with(&meta, &[("META_VERIFY_TOKEN", "verify-me")]);
        assert_eq!(alias.meta.unwrap().verify_token.unwrap().expose(), "verify-me");
        assert!(config_with(&meta, &[("TWILIO_ENABLED", "true")]).twilio.enabled);
    }

    #[test]
    fn meta_mistakes_name_their_variable() {
        let error = config(&[("META_ACCESS_TOKEN", "EAAG")]).unwrap_err().to_string();
        assert_eq!(error, "META_ACCESS_TOKEN is set but META_PHONE_NUMBER_ID is not: the Meta channel needs both");
        let meta = [("META_ACCESS_TOKEN", "EAAG"), ("META_PHONE_NUMBER_ID", "1065")];
        let error = |extra: &[(&str, &str)]| {
            let pairs: Vec<(&str, &str)> = meta.iter().chain(extra).copied().collect();
            config(&pairs).unwrap_err().to_string()
        };
        assert!(error(&[("META_API_VERSION", "21")]).starts_with("META_API_VERSION: `21` is not valid"));
        assert!(error(&[("META_API_BASE_URL", "graph.facebook.com")]).starts_with("META_API_BASE_URL:"));
        assert!(error(&[("META_PHONE_NUMBER_ID", "+243 81")]).starts_with("META_PHONE_NUMBER_ID:"));
        let production =
            error(&[("ENVIRONMENT", "production"), ("UIC_SALT", "Prod-Salt-0123456789"), ("ADMIN_TOKEN", "admin")]);
        assert_eq!(production, "ENVIRONMENT=production needs META_APP_SECRET, META_WEBHOOK_VERIFY_TOKEN; set them");
    }

    fn config_with(base: &[(&str, &str)], extra: &[(&str, &str)]) -> Config {
        let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        config(&pairs).unwrap()
    }

    #[test]
    fn the_database_is_the_one_every_command_finds() {
        let url = |pairs: &[(&str, &str)]| config(pairs).unwrap().database_url;
        assert_eq!(url(&[("DATA_DIR", "state")]), "sqlite://state/uic.db");
        assert_eq!(url(&[("DATA_DIR", "state"), ("DATABASE_URL", "postgres://u@h/db")]), "postgres://u@h/db");
        // Empty is unset, as a copied .env.example has it.
        assert_eq!(url(&[("DATABASE_URL", " "), ("PORT", ""), ("DATA_DIR", "")]), "sqlite://data/uic.db");
        let error = config(&[("DATABASE_URL", "mysql://root:secret@db/uic")]).unwrap_err().to_string();
        assert!(
            error.starts_with("DATABASE_URL: `mysql://***@db/uic` is not valid") && !error.contains("secret"),
            "{error}"
        );
    }

    #[test]
    fn dhis2_is_configured_by_its_variables_and_mistakes_name_them() {
        let base = [("DHIS2_BASE_URL", "https://dhis2.example.org/hmis/"), ("DHIS2_API_TOKEN", "d2pat_abc")];
        let dhis2 = config_with(&base, &[("DHIS2_PROGRAM", "IpHINAT79UW")]).dhis2.expect("DHIS2 is on");
        assert_eq!(dhis2.base_url, "https://dhis2.example.org/hmis");
        assert!(matches!(&dhis2.auth, Dhis2Auth::Token(token) if token.expose() == "d2pat_abc"));
        assert_eq!(format!("{:?}", dhis2.auth), "Token(***)");
        assert_eq!(dhis2.defaults.program.as_deref(), Some("IpHINAT79UW"));
        assert_eq!(dhis2.timeout_seconds, 20);

        let basic = config(&[
            ("DHIS2_BASE_URL", "http://127.0.0.1:8080"),
            ("DHIS2_API_USERNAME", "admin"),
            ("DHIS2_API_PASSWORD", "district"),
        ])
        .unwrap();
        assert!(matches!(basic.dhis2.unwrap().auth, Dhis2Auth::Basic { username, .. } if username == "admin"));

        let error = |pairs: &[(&str, &str)]| config(pairs).unwrap_err().to_string();
        assert!(
            error(&[("DHIS2_BASE_URL", "https://d")]).starts_with("DHIS2_BASE_URL is set but neither DHIS2_API_TOKEN")
        );
        let no_password = error(&[("DHIS2_BASE_URL", "https://d"), ("DHIS2_API_USERNAME", "admin")]);
        assert!(no_password.starts_with("DHIS2_API_USERNAME is set but DHIS2_API_PASSWORD is not"), "{no_password}");
        let bad_uid = error(&[("DHIS2_PROGRAM", "program-1")]);
        assert!(bad_uid.starts_with("DHIS2_PROGRAM: `program-1` is not valid: a DHIS2 UID"), "{bad_uid}");
        let bad_url = error(&[("DHIS2_BASE_URL", "dhis2.example.org"), ("DHIS2_API_TOKEN", "d2pat_abc")]);
        assert!(bad_url.starts_with("DHIS2_BASE_URL:"), "{bad_url}");

        let ignored = config(&[("DHIS2_PROGRAM", "IpHINAT79UW")]).unwrap();
        assert!(ignored.dhis2.is_none());
        assert!(ignored.warnings().iter().any(|w| w.starts_with("DHIS2_PROGRAM is set but DHIS2_BASE_URL is not")));
        let production = [
            ("ENVIRONMENT", "production"),
            ("UIC_SALT", "Prod-Salt-0123456789"),
            ("ADMIN_TOKEN", "admin"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
            ("PUBLIC_BASE_URL", "https://bot.example.org"),
            ("DHIS2_API_TOKEN", "d2pat_abc"),
        ];
        let refused = config(&production).unwrap_err().to_string();
        assert!(refused.starts_with("DHIS2_API_TOKEN is set but DHIS2_BASE_URL is not"), "{refused}");
    }

    #[test]
    fn production_in_a_development_folder_is_a_loud_warning_and_a_salt_error_is_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let production = [
            ("ENVIRONMENT", "production"),
            ("UIC_SALT", "Prod-Salt-0123456789"),
            ("ADMIN_TOKEN", "admin"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
            ("PUBLIC_BASE_URL", "https://bot.example.org"),
            ("DATA_DIR", data.as_str()),
        ];
        assert!(config(&production).unwrap().warnings().is_empty());
        std::fs::write(dir.path().join("dev-salt"), "Dev-Salt-0123456789").unwrap();
        let warnings = config(&production).unwrap().warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("PRODUCTION ON A DEVELOPMENT FOLDER"), "{warnings:?}");
        let salt = anyhow::Error::from(config(&[("UIC_SALT", "short")]).unwrap_err());
        let said = format!("{salt:#}");
        assert_eq!(said.matches("at least 16 characters").count(), 1, "{said}");
    }

    #[test]
    fn server_limits_have_defaults_and_mistakes_name_their_variable() {
        let limits = config(&[]).unwrap().limits;
        assert_eq!(limits.max_connections, MaxConnections::Default);
        assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(20));
        let set = config(&[("MAX_CONNECTIONS", "64"), ("REQUEST_TIMEOUT_SECONDS", "5")]).unwrap().limits;
        assert_eq!((set.max_connections, set.request_timeout), (MaxConnections::Set(64), Duration::from_secs(5)));
        for name in
            ["MAX_CONNECTIONS", "HEADER_READ_TIMEOUT_SECONDS", "REQUEST_TIMEOUT_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS"]
        {
            let error = config(&[(name, "0")]).unwrap_err().to_string();
            assert!(error.starts_with(&format!("{name}: `0` is not valid: a number of")), "{error}");
        }
        assert_eq!(config(&[]).unwrap().phone_limit, PhoneLimit { per_minute: 60, burst: 30 });
        let error = config(&[("PHONE_BURST", "none")]).unwrap_err().to_string();
        assert_eq!(error, "PHONE_BURST: `none` is not valid: a number of messages from 1 to 10000");
        let error = config(&[("PHONE_MESSAGES_PER_MINUTE", "0")]).unwrap_err().to_string();
        assert!(error.starts_with("PHONE_MESSAGES_PER_MINUTE: `0` is not valid"), "{error}");
        let error = config(&[("TRUST_FORWARDED_HEADERS", "nginx")]).unwrap_err().to_string();
        assert_eq!(error, "TRUST_FORWARDED_HEADERS: `nginx` is not valid: true or false");
        assert!(!config(&[]).unwrap().trust_forwarded_headers, "off unless the operator says so");
        assert_eq!(format!("{:?}", config(&[("METRICS_TOKEN", "t")]).unwrap().metrics_token), "Some(***)");
    }

    #[test]
    fn qr_links_live_a_day_by_default_and_a_mistake_names_its_variable() {
        assert_eq!(config(&[]).unwrap().qr_link_hours, 24);
        assert_eq!(config(&[("QR_LINK_HOURS", "2")]).unwrap().qr_link_hours, 2);
        for wrong in ["0", "721", "a day"] {
            let error = config(&[("QR_LINK_HOURS", wrong)]).unwrap_err().to_string();
            assert_eq!(error, format!("QR_LINK_HOURS: `{wrong}` is not valid: a number of hours from 1 to 720"));
        }
    }

    #[test]
    fn max_connections_fits_the_open_file_limit() {
        assert_eq!(MaxConnections::Default.within(None), Ok(512));
        assert_eq!(MaxConnections::Default.within(Some(65536)), Ok(512));
        assert_eq!(MaxConnections::Default.within(Some(256)), Ok(192), "a low limit lowers the default");
        assert_eq!(MaxConnections::Default.within(Some(10)), Ok(1));
        assert_eq!(MaxConnections::Set(4000).within(Some(65536)), Ok(4000));
        let error = MaxConnections::Set(1000).within(Some(1024)).unwrap_err().to_string();
        assert_eq!(
            error,
            "MAX_CONNECTIONS: `1000` is more than the open-file limit (1024, systemd's LimitNOFILE or `ulimit -n`) \
             allows with 64 files kept for the database and logs; set MAX_CONNECTIONS to at most 960 or raise the limit"
        );
    }

    #[test]
    fn production_with_twilio_needs_public_base_url_and_meta_alone_does_not() {
        let base = [
            ("ENVIRONMENT", "production"),
            ("UIC_SALT", "Prod-Salt-0123456789"),
            ("ADMIN_TOKEN", "admin"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
        ];
        let error = config(&base).unwrap_err().to_string();
        assert_eq!(error, "ENVIRONMENT=production needs PUBLIC_BASE_URL; set it");
        let meta = [
            ("ENVIRONMENT", "production"),
            ("UIC_SALT", "Prod-Salt-0123456789"),
            ("ADMIN_TOKEN", "admin"),
            ("META_ACCESS_TOKEN", "EAAG"),
            ("META_PHONE_NUMBER_ID", "1065"),
            ("META_APP_SECRET", "s"),
            ("META_WEBHOOK_VERIFY_TOKEN", "v"),
        ];
        assert!(config(&meta).is_ok(), "Meta signs the raw body, not a URL");
    }

    #[test]
    fn public_base_url_loses_its_trailing_slash() {
        let config = config(&[("PUBLIC_BASE_URL", "https://bot.example.org/")]).unwrap();
        assert_eq!(config.public_base_url.as_deref(), Some("https://bot.example.org"));
    }
}
