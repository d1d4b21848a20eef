//! The `uic` command line (SPEC §14). The only module that prints: commands
//! parse their arguments, call the library and map the result to an exit code.

mod chat;
mod db;
mod lint;
mod outbox;
mod report;
mod sessions;
mod table;
mod uics;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Config, Settings};
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
    /// Serve WhatsApp webhooks; every setting is a flag, an environment variable or a line of .env.
    Serve(Box<Settings>),
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

/// Loads `.env`, parses the arguments and runs the command.
pub fn main() -> ExitCode {
    // Before clap reads the environment, so every command sees the same settings.
    // SAFETY: the first thing the process does; no other thread exists yet.
    if let Err(error) = unsafe { crate::config::load_dotenv(&variables(&Cli::command())) } {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // Quieter than serve's `info`: these commands print their own results.
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
        Command::Serve(settings) => serve(*settings),
        Command::Chat(args) => chat::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Salt => {
            println!("{}", Salt::generate().expose());
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

/// Every environment variable a command of `command` reads, each once.
pub fn variables(command: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    collect_variables(command, &mut names);
    names.sort();
    names.dedup();
    names
}

fn collect_variables(command: &clap::Command, names: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(name) = arg.get_env().and_then(|name| name.to_str()) {
            names.push(name.to_string());
        }
    }
    for subcommand in command.get_subcommands() {
        collect_variables(subcommand, names);
    }
}

/// `uic serve`: the settings checked, then the server until SIGTERM.
fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let config = Config::from_settings(settings)?;
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
