//! Start-up of `uic serve`: configuration → salt → store → flows (the
//! default one must pass lint) → engine → a bound socket; then serving until
//! shutdown, with the periodic cleanup and the reload on `SIGHUP` beside it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{Datelike, Utc};
use tokio::sync::Notify;

use crate::app::flows::{self, Reloader, reload_on_hangup};
use crate::channels::meta::graph::{GraphApi, JOB_KIND, MetaDeliverer, MetaHealth};
use crate::config::{Config, Dhis2Config, SaltSource};
use crate::core::catalog::Catalog;
use crate::core::dhis2;
use crate::core::salt::Salt;
use crate::http::console::simulator::LoadFlows;
use crate::http::console::{Console, console_token};
use crate::http::{self, AppState, FailingFlows, Shared};
use crate::integrations::dhis2::deliver::{Dhis2Deliverer, Dhis2Health};
use crate::integrations::dhis2::{CheckTarget, Dhis2Client, check};
use crate::lint::source::Sources;
use crate::store::{Kinds, Store};
use crate::turn::conversation::Conversations;
use crate::turn::maintenance::run_cleanup;
use crate::turn::metrics::Metrics;
use crate::turn::outbox::{RetryPolicy, Worker};
use crate::turn::throttle::PhoneLimiter;

/// How often `uic_active_sessions` is counted.
const ACTIVE_SESSIONS_EVERY: Duration = Duration::from_secs(15);

/// Registrations delivered at once at most: DHIS2 is one server, and a
/// program's codes come a few a minute.
const DHIS2_IN_FLIGHT: i64 = 8;

/// A server bound to its port, ready to run.
pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    /// Loads the flows again on `SIGHUP`.
    reloader: Reloader,
    /// Reloads asked for from the console.
    reload_requests: tokio::sync::mpsc::Receiver<crate::http::ReloadRequest>,
    port: u16,
    /// The Graph API client, when the Meta channel is configured.
    graph_api: Option<GraphApi>,
    /// The DHIS2 client, when registration is on, and the targets to check at start.
    dhis2: Option<(Dhis2Client, Dhis2Config, Vec<CheckTarget>)>,
    outbox_policy: RetryPolicy,
    /// How often the active sessions of `/metrics` are counted.
    active_sessions_every: Duration,
    /// The console's token when made for this run (development without ADMIN_TOKEN).
    development_console_token: Option<String>,
    /// `MAX_CONNECTIONS`, checked against the open-file limit.
    max_connections: usize,
    /// On SQLite, the lock that makes this the only `uic serve` on the file.
    sole_server: Option<std::fs::File>,
}

impl Application {
    /// Loads everything and binds the socket; every failure names its cause.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let salt = match &config.salt {
            SaltSource::Environment(salt) => salt.clone(),
            SaltSource::DataFolder => development_salt(&config.data_dir)?,
        };
        crate::store::ensure_parent_dir(&config.database_url)?;
        // The flows are linted while the database opens: together they are
        // most of the time before the first request is answered.
        let linted = flows::lint(&config);
        let store = Store::connect(&config.database_url)
            .await
            .with_context(|| format!("DATABASE_URL: cannot open {}", crate::store::redact_url(&config.database_url)))?;
        let sole_server = sole_server_lock(&config.database_url);
        if sole_server.is_some() {
            // The only server on this file: a claim in it is a stopped process's
            // (`kill -9`, a power cut), and its job can go now, not when the claim lapses.
            let freed = store.release_claims().await.context("DATABASE_URL: cannot free the outbox's claims")?;
            if freed > 0 {
                tracing::warn!(freed, "outbox: jobs claimed by a process that stopped are due again");
            }
        }
        // The flows that pass lint; refused only when the default flow fails.
        let served = flows::load_linted(&config, &salt, &store, linted).await?;
        served.log();
        let dhis2 = match &config.dhis2 {
            Some(dhis2) => {
                let client = Dhis2Client::new(dhis2).context("DHIS2_BASE_URL: cannot build the DHIS2 client")?;
                Some((client, dhis2.clone(), served.dhis2_targets))
            }
            None => None,
        };
        let graph_api = match &config.meta {
            Some(meta) => Some(GraphApi::new(meta).context("META_API_BASE_URL: cannot build the Graph API client")?),
            None => None,
        };
        let max_connections = config.limits.max_connections.within(open_files_limit())?;
        let address = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("HOST/PORT: cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        let (console_token, generated) = console_token(config.admin_token.as_ref().map(|token| token.expose()));
        let secure_cookies = config.public_base_url.as_deref().is_some_and(|url| url.starts_with("https://"));
        let load_flows = simulator_flows(config.flows_dir.clone(), config.locales_dir.clone());
        let console = Arc::new(Console::new(console_token.clone(), secure_cookies, load_flows));
        let mut conversations = Conversations::new(Arc::new(served.engine), store);
        if let Some(dhis2) = &config.dhis2 {
            conversations = conversations.with_dhis2(dhis2.defaults.clone());
        }
        let metrics = Arc::new(Metrics::new());
        metrics.set_flows_failing(served.failed.len());
        let failing = Arc::new(FailingFlows::default());
        failing.set(served.failed);
        // Few at once: a reload takes a moment, and a second one asked meanwhile waits its turn.
        let (reload_requests, reload_receiver) = tokio::sync::mpsc::channel(4);
        let limiter = Arc::new(PhoneLimiter::new(config.phone_limit.per_minute, config.phone_limit.burst));
        let state = AppState::new(Shared {
            conversations,
            config: Arc::new(config),
            metrics,
            flows: failing,
            outbox_wakeup: Arc::new(Notify::new()),
            meta_health: Arc::new(MetaHealth::default()),
            dhis2_wakeup: Arc::new(Notify::new()),
            reload_requests,
            dhis2_health: Arc::new(Dhis2Health::default()),
            console,
            limiter,
            write_probe: Arc::default(),
        });
        let development_console_token = generated.then_some(console_token);
        Ok(Application {
            listener,
            reloader: Reloader { state: state.clone(), salt },
            reload_requests: reload_receiver,
            state,
            port,
            graph_api,
            dhis2,
            outbox_policy: RetryPolicy::default(),
            active_sessions_every: ACTIVE_SESSIONS_EVERY,
            development_console_token,
            max_connections,
            sole_server,
        })
    }

    /// Connections served at once: `MAX_CONNECTIONS` within the open-file limit.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Loads flows and texts again, as `SIGHUP` does (for tests).
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// The token of the staff console when it was made for this run
    /// (development without `ADMIN_TOKEN`), for the terminal.
    pub fn development_console_token(&self) -> Option<&str> {
        self.development_console_token.as_deref()
    }

    /// The port bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Paces the outbox worker otherwise (tests retry in milliseconds).
    pub fn with_outbox_policy(mut self, policy: RetryPolicy) -> Application {
        self.outbox_policy = policy;
        self
    }

    /// Counts the active sessions of `/metrics` this often instead (tests count often).
    pub fn with_active_sessions_every(mut self, every: Duration) -> Application {
        self.active_sessions_every = every;
        self
    }

    /// Serves until `shutdown` completes; requests in flight are finished first.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Held until the outbox workers have stopped.
        let _sole_server = self.sole_server;
        let cleanup = tokio::spawn(periodic_cleanup(self.state.clone()));
        let counting = tokio::spawn(count_active_sessions(self.state.clone(), self.active_sessions_every));
        let reloads = tokio::spawn(reload_on_hangup(self.reloader, self.reload_requests));
        // The outbox workers stop after the server: their passes in progress finish.
        let (stop_outbox, outbox_stopped) = tokio::sync::watch::channel(false);
        let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        };
        let store = self.state.conversations.store().clone();
        let mut worker =
            Worker::new(store.clone(), self.outbox_policy.clone()).with_wakeup(self.state.outbox_wakeup.clone());
        if let Some(api) = self.graph_api {
            let health = self.state.meta_health.clone();
            let deliverer = MetaDeliverer::new(api, store.clone(), health, self.state.metrics.clone());
            worker = worker.with(JOB_KIND, Arc::new(deliverer));
        }
        let mut workers = Vec::new();
        if let Some((client, config, targets)) = self.dhis2 {
            // DHIS2 may be briefly down: a failed check warns, it does not stop the start.
            tokio::spawn(warn_about_dhis2(config, targets));
            // Registrations have a worker of their own: a DHIS2 that answers
            // slowly holds up other registrations, never a person's replies.
            worker = worker.claiming(Kinds::Except(dhis2::JOB_KIND));
            let deliverer = Dhis2Deliverer::new(client, store.clone(), self.state.dhis2_health.clone());
            let policy = RetryPolicy { batch: DHIS2_IN_FLIGHT, ..self.outbox_policy.clone() };
            let registrations = Worker::new(store.clone(), policy)
                .with_wakeup(self.state.dhis2_wakeup.clone())
                .claiming(Kinds::Only(dhis2::JOB_KIND))
                .with(dhis2::JOB_KIND, Arc::new(deliverer));
            workers.push(tokio::spawn(registrations.run(stopped(outbox_stopped.clone()))));
        }
        workers.push(tokio::spawn(worker.run(stopped(outbox_stopped))));
        let limits = self.state.config.limits;
        let router = http::router(self.state);
        let served = http::serve::serve(self.listener, router, limits, self.max_connections, shutdown).await;
        cleanup.abort();
        counting.abort();
        reloads.abort();
        let _ = stop_outbox.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        served
    }
}

/// The console simulator's flows: read from disk again at each new
/// conversation, so a flow edited while the server runs can be tried at once.
fn simulator_flows(flows: Option<PathBuf>, locales: Option<PathBuf>) -> LoadFlows {
    Arc::new(move || {
        let sources = Sources::discover(flows.as_deref(), locales.as_deref()).map_err(|error| error.to_string())?;
        // As `uic serve` loads: the flows that pass can be tried while a draft is broken.
        Ok(Catalog::load_passing(&sources, Utc::now().year()))
    })
}

/// The start-up's `uic dhis2 check`: problems become warnings.
async fn warn_about_dhis2(config: Dhis2Config, targets: Vec<CheckTarget>) {
    let report = check(&config, &targets).await;
    if report.is_ok() {
        tracing::info!("DHIS2: {}", report.lines.join("; "));
    }
    for problem in &report.problems {
        tracing::warn!("DHIS2 check: {problem} (codes are still issued; registrations wait in the outbox)");
    }
}

/// Counts the sessions active within the session timeout for `/metrics`, at
/// start and then every `every`: one scan of the sessions per period, however
/// many scrapers ask (a scan per scrape, under SQLite's one writer, made every
/// turn wait behind the scrapers).
async fn count_active_sessions(state: AppState, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let timeout = state.conversations.engine().config().session_timeout_minutes;
        let since = Utc::now() - chrono::Duration::minutes(timeout.into());
        let count = state.conversations.store().count_sessions_since(since).await.unwrap_or_else(|error| {
            tracing::error!(error = %error, "metrics: cannot count the active sessions");
            -1
        });
        state.metrics.set_active_sessions(count);
    }
}

async fn periodic_cleanup(state: AppState) {
    let every = Duration::from_secs(u64::from(state.config.cleanup_interval_minutes) * 60);
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(error) = run_cleanup(&state.conversations, crate::http::retention(&state.config), Utc::now()).await {
            tracing::error!(error = %error, "periodic cleanup failed; will try again");
        }
    }
}

/// On SQLite, an exclusive lock on `<database>.serve-lock`, taken for the
/// life of the process (the kernel frees it when the process ends, `kill -9`
/// included): held, no other `uic serve` runs on this database, so no other
/// worker holds a claim. `None` on PostgreSQL (several servers share one
/// database: a dead one's claims lapse) or when another server holds it.
fn sole_server_lock(database_url: &str) -> Option<std::fs::File> {
    let path = format!("{}.serve-lock", crate::store::sqlite_path(database_url)?);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = match options.open(&path) {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(%path, %error, "outbox: cannot open the lock file; claims of a stopped process will lapse");
            return None;
        }
    };
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::warn!(%path, "another `uic serve` runs on this database: its outbox claims are left alone");
            None
        }
        Err(std::fs::TryLockError::Error(error)) => {
            tracing::warn!(%path, %error, "outbox: cannot lock; claims of a stopped process will lapse");
            None
        }
    }
}

/// Development only: a salt generated on first start and kept in the data
/// folder, so codes stay the same across restarts.
fn development_salt(data_dir: &Path) -> anyhow::Result<Salt> {
    let path = data_dir.join("dev-salt");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Salt::parse(text.trim()).with_context(|| format!("{} holds an invalid salt", path.display()));
    }
    crate::support::files::create_private_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let salt = Salt::generate(crate::support::ids::random_index);
    write_private(&path, salt.expose()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(salt)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    crate::support::files::create_private_file(path)?.write_all(text.as_bytes())
}

/// The soft limit on open files of this process ("Max open files" in
/// `/proc/self/limits`); `None` where unknown or unlimited.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
