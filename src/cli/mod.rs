//! The `uic` command line (SPEC §14). The only module that prints: commands
//! parse their arguments, call the library and map the result to an exit code.

mod chat;
mod db;
mod lint;
mod outbox;
mod report;
mod sessions;
mod spreadsheet;
mod table;
mod uics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::core::salt::Salt;

pub(crate) use db::{ensure_parent_dir, redact_url};

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
    /// Database commands: migrate, status, backup.
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Issued codes: list them or export them.
    Uics {
        #[command(subcommand)]
        command: uics::UicsCommand,
    },
    /// Codes per day of a month, unique phones, repeat requests and possible collisions.
    Report(report::ReportArgs),
    /// Conversations in progress.
    Sessions {
        #[command(subcommand)]
        command: sessions::SessionsCommand,
    },
    /// Work waiting to leave the process (API replies, registrations): list, retry, drop.
    Outbox {
        #[command(subcommand)]
        command: outbox::OutboxCommand,
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
            println!("{}", Salt::generate(crate::support::ids::random_index).expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::Db { command } => db::run(command),
        Command::Uics { command } => uics::run(command),
        Command::Report(args) => report::run(args),
        Command::Sessions { command } => sessions::run(command),
        Command::Outbox { command } => outbox::run(command),
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
        let application = crate::app::startup::Application::build(config).await?;
        let address = format!("{}:{}", application.state().config.host, application.port());
        let config = &application.state().config;
        let channels = [("twilio", config.twilio.enabled), ("meta", config.meta.is_some())]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(",");
        tracing::info!(address = %address, webhook = %config.webhook_path, channels = %channels, "uic serving");
        application.run_until(crate::app::startup::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
