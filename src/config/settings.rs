//! Every setting as clap declares it: its flag, its environment variable, its
//! default and its help line, in one place. `uic serve` takes them all
//! ([`Settings`]); the other commands flatten the groups they share with it
//! ([`DatabaseArgs`], [`SourceArgs`]), so a variable means the same thing, with
//! the same default, whichever command reads it.
//!
//! Values stay text here: [`super::Config::from_settings`] checks them, so a
//! wrong one is refused with a message naming its variable.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::{Args, FromArgMatches};

use super::{ConfigError, Secret};

/// The database a command works on, found the same way by `uic serve` and by
/// every operator command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (default: sqlite://DATA_DIR/uic.db).
    // Hidden in --help: a PostgreSQL URL may hold a password.
    #[arg(long = "db", value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Folder of the default SQLite database (uic.db) and of the development salt.
    #[arg(long, value_name = "DIR", env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

impl DatabaseArgs {
    /// `--db`, else `DATABASE_URL` (clap has already preferred the flag), else
    /// `sqlite://DATA_DIR/uic.db`.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("uic.db").display()),
        }
    }

    /// The database settings from the environment alone (`.env` included), for a
    /// command whose own `--db` flag means something else (`uic lint --db`).
    pub fn from_env() -> Result<DatabaseArgs, ConfigError> {
        let command = DatabaseArgs::augment_args(clap::Command::new("uic").no_binary_name(true));
        let command = super::with_dotenv(command, &super::read_dotenv()?);
        let matches =
            command.try_get_matches_from(Vec::<String>::new()).map_err(|e| ConfigError::Arguments(e.to_string()))?;
        DatabaseArgs::from_arg_matches(&matches).map_err(|error| ConfigError::Arguments(error.to_string()))
    }
}

/// Where flows and locales come from; shared by the commands that load them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Flows")]
pub struct SourceArgs {
    /// Folder of flow files (default: ./flows if present, else the built-in flows).
    #[arg(long, value_name = "DIR", env = "FLOWS_DIR")]
    pub flows_dir: Option<PathBuf>,
    /// Folder of locales, one sub-folder per language (default: ./locales if present, else built-in).
    #[arg(long, value_name = "DIR", env = "LOCALES_DIR")]
    pub locales_dir: Option<PathBuf>,
}

impl SourceArgs {
    pub fn flows_dir(&self) -> Option<&Path> {
        self.flows_dir.as_deref()
    }

    pub fn locales_dir(&self) -> Option<&Path> {
        self.locales_dir.as_deref()
    }
}

/// Every setting of `uic serve`: a flag each, or its environment variable, or
/// its line in `.env` (see `.env.example`). Secrets are better kept out of
/// flags, where `ps` shows them.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub codes: CodeArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub twilio: TwilioArgs,
    #[command(flatten)]
    pub meta: MetaArgs,
    #[command(flatten)]
    pub dhis2: Dhis2Args,
    #[command(flatten)]
    pub logs: LogArgs,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// development (each shortcut allowed with a warning) or production (refuses to start
    /// without UIC_SALT, ADMIN_TOKEN and the credentials of each enabled channel).
    #[arg(long, value_name = "NAME", env = "ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDRESS", env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks any free port.
    #[arg(long, value_name = "PORT", env = "PORT", default_value = "8000")]
    pub port: String,
    /// Public address of this server as Twilio reaches it, e.g. https://bot.example.org (default:
    /// rebuilt from the Host and X-Forwarded-* headers); for signatures and QR image URLs.
    #[arg(long, value_name = "URL", env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Behind a proxy that overwrites X-Forwarded-Proto and X-Forwarded-Host (the README's nginx):
    /// rebuild public URLs from them when PUBLIC_BASE_URL is not set (true or false). Off, a client
    /// could name any host in them and pass a signature made for another server.
    #[arg(long, value_name = "BOOL", env = "TRUST_FORWARDED_HEADERS", default_value = "false")]
    pub trust_forwarded_headers: String,
    /// Path of the webhook, for Twilio and Meta alike.
    #[arg(long, value_name = "PATH", env = "WEBHOOK_PATH", default_value = "/whatsapp/webhook")]
    pub webhook_path: String,
    /// Bearer token of POST /whatsapp/cleanup (unset: it answers 401).
    #[arg(long, value_name = "TOKEN", env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Bearer token GET /metrics asks for (unset: /metrics is open; keep it off the public side).
    #[arg(long, value_name = "TOKEN", env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Connections served at once; more wait in the kernel's queue (default: 512, fewer when the
    /// open-file limit, systemd's LimitNOFILE, leaves less room). Above that limit: a start-up error.
    #[arg(long, value_name = "N", env = "MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// Seconds a client has to send a request's headers; a connection idle that long between
    /// requests is closed too.
    #[arg(long, value_name = "N", env = "HEADER_READ_TIMEOUT_SECONDS", default_value = "10")]
    pub header_read_timeout_seconds: String,
    /// Seconds a request may take, its body included, before it is answered 408 and closed.
    #[arg(long, value_name = "N", env = "REQUEST_TIMEOUT_SECONDS", default_value = "30")]
    pub request_timeout_seconds: String,
    /// Seconds requests in flight are given to finish on SIGTERM before the server stops anyway.
    #[arg(long, value_name = "N", env = "SHUTDOWN_TIMEOUT_SECONDS", default_value = "20")]
    pub shutdown_timeout_seconds: String,
    /// Messages a minute one phone number may send, sustained; past its burst a person gets
    /// one "slow down" reply and the rest are dropped until the pace is back.
    #[arg(long, value_name = "N", env = "PHONE_MESSAGES_PER_MINUTE", default_value = "60")]
    pub phone_messages_per_minute: String,
    /// Messages one phone number may send at once before PHONE_MESSAGES_PER_MINUTE applies.
    #[arg(long, value_name = "N", env = "PHONE_BURST", default_value = "30")]
    pub phone_burst: String,
    /// Minutes between two removals of expired sessions and old message ids.
    #[arg(long, value_name = "N", env = "CLEANUP_INTERVAL_MINUTES", default_value = "15")]
    pub cleanup_interval_minutes: String,
    /// Hours processed message ids (and their replies) are kept for redeliveries.
    #[arg(long, value_name = "N", env = "MESSAGE_RETENTION_HOURS", default_value = "192")]
    pub message_retention_hours: String,
    /// Hours a QR image link (`/qr/<token>.png`, sent to Twilio) works; then it answers 404 and
    /// its row is removed by the cleanup. Long enough for the provider to fetch the image.
    #[arg(long, value_name = "N", env = "QR_LINK_HOURS", default_value = "24")]
    pub qr_link_hours: String,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Codes")]
pub struct CodeArgs {
    /// Secret salt of every keyed hash (`uic salt` prints one); never change it once codes are
    /// issued. Unset in development: one is generated and kept in DATA_DIR/dev-salt.
    #[arg(long, value_name = "SALT", env = "UIC_SALT", hide_env_values = true)]
    pub uic_salt: Option<Secret>,
    /// The flow a new conversation starts in.
    #[arg(long, value_name = "ID", env = "DEFAULT_FLOW", default_value = "drc-fr")]
    pub default_flow: String,
    /// Minutes of silence after which a conversation starts over.
    #[arg(long, value_name = "N", env = "SESSION_TIMEOUT_MINUTES", default_value = "30")]
    pub session_timeout_minutes: String,
    /// Send each new code as a QR image too (true or false).
    #[arg(long, value_name = "BOOL", env = "ENABLE_QR_CODE", default_value = "true")]
    pub enable_qr_code: String,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Twilio")]
pub struct TwilioArgs {
    /// true or false (default: on, unless only META_* is set).
    #[arg(long, value_name = "BOOL", env = "TWILIO_ENABLED")]
    pub twilio_enabled: Option<String>,
    /// The account's SID (required in production while Twilio is on).
    #[arg(long, value_name = "SID", env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// With it, X-Twilio-Signature is checked on every webhook (required in production).
    #[arg(long, value_name = "TOKEN", env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<Secret>,
    /// The WhatsApp number people write to, e.g. whatsapp:+14155238886 (informational:
    /// replies are TwiML answers to the number written to).
    #[arg(long, value_name = "NUMBER", env = "TWILIO_WHATSAPP_NUMBER")]
    pub twilio_whatsapp_number: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Meta WhatsApp Cloud API")]
pub struct MetaArgs {
    /// A permanent system-user token with whatsapp_business_messaging; with
    /// META_PHONE_NUMBER_ID, turns the Meta channel on.
    #[arg(long, value_name = "TOKEN", env = "META_ACCESS_TOKEN", hide_env_values = true)]
    pub meta_access_token: Option<Secret>,
    /// WhatsApp Manager's "Phone number ID" (digits, not the number itself).
    #[arg(long, value_name = "ID", env = "META_PHONE_NUMBER_ID")]
    pub meta_phone_number_id: Option<String>,
    /// The app secret X-Hub-Signature-256 is checked with (required in production).
    #[arg(long, value_name = "SECRET", env = "META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<Secret>,
    /// The token typed in Meta's webhook settings; the GET subscription check is refused
    /// without it (required in production). Alias: META_VERIFY_TOKEN.
    #[arg(long, value_name = "TOKEN", env = "META_WEBHOOK_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_webhook_verify_token: Option<Secret>,
    /// The older name of META_WEBHOOK_VERIFY_TOKEN (which wins when both are set).
    // Hidden: one documented name; kept so configurations written with it still work.
    #[arg(long, value_name = "TOKEN", env = "META_VERIFY_TOKEN", hide = true, hide_env_values = true)]
    pub meta_verify_token: Option<Secret>,
    /// Where the Graph API is (a stand-in in tests).
    #[arg(long, value_name = "URL", env = "META_API_BASE_URL", default_value = "https://graph.facebook.com")]
    pub meta_api_base_url: String,
    /// The Graph API version requests name.
    #[arg(long, value_name = "VERSION", env = "META_API_VERSION", default_value = "v21.0")]
    pub meta_api_version: String,
    /// Longest wait for one Graph API request, in seconds; past it the request is retried.
    #[arg(long, value_name = "N", env = "META_API_TIMEOUT_SECONDS", default_value = "10")]
    pub meta_api_timeout_seconds: String,
}

/// DHIS2 Tracker registration (SPEC §11): on when DHIS2_BASE_URL is set.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "DHIS2 Tracker")]
pub struct Dhis2Args {
    /// The DHIS2 server, e.g. https://dhis2.example.org (with its context path, if any);
    /// setting it turns registration of new codes on.
    #[arg(long, value_name = "URL", env = "DHIS2_BASE_URL")]
    pub dhis2_base_url: Option<String>,
    /// A personal access token (d2pat_…), sent as `Authorization: ApiToken …`; preferred to a password.
    #[arg(long, value_name = "TOKEN", env = "DHIS2_API_TOKEN", hide_env_values = true)]
    pub dhis2_api_token: Option<Secret>,
    /// A user name for Basic authentication, with DHIS2_API_PASSWORD, when no token is set.
    #[arg(long, value_name = "NAME", env = "DHIS2_API_USERNAME")]
    pub dhis2_api_username: Option<String>,
    /// The password of DHIS2_API_USERNAME.
    #[arg(long, value_name = "PASSWORD", env = "DHIS2_API_PASSWORD", hide_env_values = true)]
    pub dhis2_api_password: Option<Secret>,
    /// UID of the tracker program clients are enrolled in (a flow's `dhis2:` block may name another).
    #[arg(long, value_name = "UID", env = "DHIS2_PROGRAM")]
    pub dhis2_program: Option<String>,
    /// UID of the org unit clients are registered at (a flow may choose it from an answer).
    #[arg(long, value_name = "UID", env = "DHIS2_ORG_UNIT")]
    pub dhis2_org_unit: Option<String>,
    /// UID of the tracked entity type of clients (e.g. Person).
    #[arg(long, value_name = "UID", env = "DHIS2_TRACKED_ENTITY_TYPE")]
    pub dhis2_tracked_entity_type: Option<String>,
    /// UID of the unique TEXT attribute that holds the code.
    #[arg(long, value_name = "UID", env = "DHIS2_UIC_ATTRIBUTE")]
    pub dhis2_uic_attribute: Option<String>,
    /// Longest wait for one DHIS2 request, in seconds; past it the registration is retried.
    #[arg(long, value_name = "N", env = "DHIS2_TIMEOUT_SECONDS", default_value = "20")]
    pub dhis2_timeout_seconds: String,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logs")]
pub struct LogArgs {
    /// error, warn, info, debug, or a filter such as uic=debug,tower_http=info.
    #[arg(long, value_name = "FILTER", env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// One JSON object per line, for journald and log shippers (true or false).
    #[arg(long, value_name = "BOOL", env = "LOG_JSON", default_value = "false")]
    pub log_json: String,
}

impl Settings {
    /// The settings `var` gives, with clap's defaults, as if they were the
    /// environment of `uic serve`: tests configure a server without touching
    /// the process's environment, through the very declarations above.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let command = Settings::augment_args(clap::Command::new("uic serve").no_binary_name(true));
        let mut argv = Vec::new();
        for arg in command.get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env().and_then(OsStr::to_str), arg.get_long()) else {
                continue;
            };
            // An empty variable is an unset one, as for the real environment (see `with_dotenv`).
            if let Some(value) = var(name).filter(|value| !value.trim().is_empty()) {
                argv.push(format!("--{long}={value}"));
            }
        }
        // Only `var` speaks: clap would otherwise fill the gaps from this process's environment.
        let command = command.mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command.try_get_matches_from(argv).map_err(|error| ConfigError::Arguments(error.to_string()))?;
        Settings::from_arg_matches(&matches).map_err(|error| ConfigError::Arguments(error.to_string()))
    }
}
