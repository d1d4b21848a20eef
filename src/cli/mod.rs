//! The `uic` command line (SPEC §14). The only module that prints: commands
//! parse their arguments, call the library and map the result to an exit code.

mod chat;
mod lint;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::salt::Salt;

/// uic: WhatsApp question flows that issue Unique Identifier Codes.
#[derive(Debug, Parser)]
#[command(name = "uic", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve WhatsApp webhooks (configured by environment variables and .env; see .env.example).
    Serve,
    /// Try a flow in the terminal: one message per line in, the bot's replies out.
    Chat(chat::ChatArgs),
    /// Check flows and locales; prints `file:line: error: message` for each problem.
    Lint(lint::LintArgs),
    /// Print a new random salt for UIC_SALT.
    Salt,
    /// Database commands.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Create the database if needed and apply the migrations.
    Migrate {
        /// Database URL (sqlite://PATH or postgres://USER@HOST/DB).
        #[arg(long = "db", env = "DATABASE_URL", default_value = "sqlite://data/uic.db")]
        url: String,
    },
    /// Show which migrations the database has applied (changes nothing).
    Status {
        /// Database URL (sqlite://PATH or postgres://USER@HOST/DB).
        #[arg(long = "db", env = "DATABASE_URL", default_value = "sqlite://data/uic.db")]
        url: String,
    },
}

/// Where flows and locales come from; shared by the commands that load them.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Folder of flow files (default: ./flows if present, else the built-in flows).
    #[arg(long, env = "FLOWS_DIR")]
    pub flows_dir: Option<PathBuf>,
    /// Folder of locales, one sub-folder per language (default: ./locales if present, else built-in).
    #[arg(long, env = "LOCALES_DIR")]
    pub locales_dir: Option<PathBuf>,
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
        init_logging(&std::env::var("LOG_LEVEL").unwrap_or_else(|_| "warn".into()), false);
    }
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve(),
        Command::Chat(args) => chat::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Salt => {
            println!("{}", Salt::generate().expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::Db { command } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(database(command))
        }
    }
}

/// `uic db migrate|status`.
async fn database(command: DbCommand) -> anyhow::Result<ExitCode> {
    let (url, migrate) = match &command {
        DbCommand::Migrate { url } => (url, true),
        DbCommand::Status { url } => (url, false),
    };
    let shown = redact_url(url);
    let store = if migrate {
        ensure_parent_dir(url)?;
        crate::store::Store::connect(url).await
    } else {
        if let Some(path) = sqlite_path(url)
            && !std::path::Path::new(path).exists()
        {
            anyhow::bail!("{shown}: no such database (run `uic db migrate` to create it)");
        }
        crate::store::Store::connect_unmigrated(url).await
    }
    .map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
    let status = store.migration_status().await.map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
    println!("{shown}");
    for migration in &status {
        let state = if migration.applied { "applied" } else { "pending" };
        println!("  {:>4}  {state:<7}  {}", migration.version, migration.description);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The file of a SQLite URL (`None` for memory and other databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// `sqlite://data/uic.db` needs `data/` to exist before SQLite can create the file.
pub(crate) fn ensure_parent_dir(url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", parent.display()))?;
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn init_logging(level: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// `uic serve`: `.env`, then the environment, then the server until SIGTERM.
fn serve() -> anyhow::Result<ExitCode> {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(error) if error.not_found() => {}
        Err(error) => anyhow::bail!(".env: {error}"),
    }
    let config = crate::config::Config::from_env()?;
    init_logging(&config.log_level, config.log_json);
    for warning in config.warnings() {
        tracing::warn!("development shortcut: {warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let application = crate::server::Application::build(config).await?;
        let address = format!("{}:{}", application.state().config.host, application.port());
        tracing::info!(address = %address, webhook = %application.state().config.webhook_path, "uic serving");
        application.run_until(crate::server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("postgres://u:secret@host/db"), "postgres://***@host/db");
        assert_eq!(redact_url("sqlite://data/uic.db"), "sqlite://data/uic.db");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
