//! The `uic` command line (SPEC §14). The only module that prints: commands
//! parse their arguments, call the library and map the result to an exit code.

mod analyze;
mod chat;
mod collisions;
mod db;
mod dhis2;
mod figures;
mod flows;
mod lint;
mod outbox;
mod reload;
mod report;
mod resync;
mod sessions;
mod spreadsheet;
mod table;
mod uics;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, Settings};
use crate::core::salt::Salt;

pub(crate) use db::{ensure_parent_dir, redact_url};

/// The version `uic --version` prints: the release and the git revision built.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("UIC_GIT_REVISION"), ")");

/// uic: WhatsApp question flows that issue Unique Identifier Codes.
#[derive(Debug, Parser)]
#[command(name = "uic", version = VERSION, about, long_about = None)]
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
    /// Ask the running `uic serve` to load flows and texts again (as SIGHUP does).
    Reload(reload::ReloadArgs),
    /// Print a new random salt for UIC_SALT.
    Salt,
    /// Print the completion script of a shell: `uic completions bash > /etc/bash_completion.d/uic`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// Codes that different answers made (possible collisions), for staff to review.
    Collisions {
        #[command(subcommand)]
        command: collisions::CollisionsCommand,
    },
    /// How unique a flow's codes are: each part's spread and the chance of a shared code.
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Check codes typed from cards: their form and, where the flow has one, their check character.
    Verify(verify::VerifyArgs),
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
    /// DHIS2 Tracker: check the settings against the server.
    Dhis2 {
        #[command(subcommand)]
        command: dhis2::Dhis2Command,
    },
}

/// Loads `.env`, parses the arguments and runs the command.
pub fn main() -> ExitCode {
    // `.env` first, so every command reads the same settings the same way.
    let dotenv = match crate::config::read_dotenv() {
        Ok(dotenv) => dotenv,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let matches = crate::config::with_dotenv(Cli::command(), &dotenv).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if !matches!(cli.command, Command::Serve(_)) {
        // Quieter than serve's `info`: these commands print their own results.
        let level = crate::config::variable("LOG_LEVEL", &dotenv).unwrap_or_else(|| "warn".into());
        init_logging(&level, false);
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
        Command::Reload(args) => reload::run(args),
        Command::Salt => {
            println!("{}", Salt::generate(crate::support::ids::random_index).expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "uic", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Db { command } => db::run(command),
        Command::Uics { command } => uics::run(command),
        Command::Report(args) => report::run(args),
        Command::Collisions { command } => collisions::run(command),
        Command::Analyze(args) => analyze::run(*args),
        Command::Verify(args) => verify::run(args),
        Command::Sessions { command } => sessions::run(command),
        Command::Outbox { command } => outbox::run(command),
        Command::Dhis2 { command } => dhis2::run(command),
    }
}

fn init_logging(level: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // sqlx logs a connect parameter it does not know with its value, which
    // may be a password (`?sslpassword=…`): never, whatever the level.
    let filter = match "sqlx_postgres::options::parse=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // JSON escapes control characters itself; plain text is escaped here.
    let _ = if json { builder.json().try_init() } else { builder.fmt_fields(one_line_fields()).try_init() };
}

/// The fields of a plain-text log line, each value written with its control
/// characters escaped: a text from outside (a provider's error, a database's
/// message) can neither end the line nor start a forged one.
fn one_line_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = crate::support::privacy::printable(&text);
        if field.name() == "message" { write!(writer, "{text}") } else { write!(writer, "{field}={text}") }
    })
    .delimited(" ")
}

/// `uic serve`: the settings checked, then the server until SIGTERM.
fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let config = Config::from_settings(settings)?;
    init_logging(&config.log_level, config.log_json);
    for warning in config.warnings() {
        match config.environment {
            crate::config::Environment::Production => tracing::warn!("{warning}"),
            crate::config::Environment::Development => tracing::warn!("development shortcut: {warning}"),
        }
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
        // What is running, said once at start-up (never a password, token or salt).
        let engine = application.state().conversations.engine();
        let flows: Vec<String> = engine
            .flows()
            .map(|flow| format!("{} v{} ({})", flow.id, flow.version, flow.languages.join(", ")))
            .collect();
        let dhis2 = config.dhis2.as_ref().map_or_else(|| "off".to_string(), |dhis2| dhis2.base_url.clone());
        tracing::info!(
            database = %crate::store::redact_url(&config.database_url),
            flows = %flows.join("; "),
            default_flow = %config.default_flow,
            dhis2 = %dhis2,
            "running with"
        );
        tracing::info!(address = %address, webhook = %config.webhook_path, channels = %channels, "uic serving");
        // On the terminal, never in the log: the token opens the console.
        if let Some(token) = application.development_console_token() {
            println!("Staff console: http://{address}/console (development: sign in with {token}; set ADMIN_TOKEN to choose it)");
        }
        application.run_until(crate::app::startup::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The flows that pass `uic lint`, as `uic serve` serves them; each flow
/// left out is named on stderr. Fails when `needed` is among those left
/// out, with its lint errors.
fn flows_that_pass(
    sources: &crate::lint::source::Sources,
    needed: Option<&str>,
) -> anyhow::Result<crate::core::catalog::Catalog> {
    use chrono::Datelike;
    let loaded = crate::core::catalog::Catalog::load_passing(sources, chrono::Utc::now().year());
    if let Some(flow_id) = needed
        && !loaded.catalog.flows.contains_key(flow_id)
        && !loaded.failed.is_empty()
    {
        let errors = crate::core::diagnostic::Diagnostics(loaded.errors().cloned().collect());
        anyhow::bail!("flow `{flow_id}` is not among the flows that pass `uic lint`:\n{errors}");
    }
    for failed in &loaded.failed {
        eprintln!("warning: {} is left out: it does not pass `uic lint`", failed.file);
    }
    Ok(loaded.catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every argument of every command that has an environment variable.
    fn variable_args(command: &clap::Command) -> Vec<clap::Arg> {
        let mut args: Vec<clap::Arg> = command.get_arguments().filter(|arg| arg.get_env().is_some()).cloned().collect();
        for subcommand in command.get_subcommands() {
            args.extend(variable_args(subcommand));
        }
        args
    }

    fn env_name(arg: &clap::Arg) -> String {
        arg.get_env().unwrap().to_string_lossy().into_owned()
    }

    /// `NAME=value` lines of `.env.example`, in order.
    fn env_example() -> Vec<(String, String)> {
        include_str!("../../.env.example")
            .lines()
            .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (name, value) = line.split_once('=').unwrap_or_else(|| panic!("not NAME=value: {line}"));
                (name.trim().to_string(), value.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn env_example_documents_every_variable_with_its_default_and_nothing_else() {
        let example = env_example();
        let documented: Vec<&str> = example.iter().map(|(name, _)| name.as_str()).collect();
        let mut unique = documented.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), documented.len(), "a variable twice in .env.example");

        let args = variable_args(&Cli::command());
        // The alias is a hidden flag: mentioned in a comment, not a line of its own.
        let (aliases, args): (Vec<_>, Vec<_>) = args.into_iter().partition(clap::Arg::is_hide_set);
        let mut read: Vec<String> = args.iter().map(env_name).collect();
        read.sort();
        read.dedup();
        assert_eq!(unique, read, ".env.example and the variables the commands read");
        for alias in aliases {
            assert!(include_str!("../../.env.example").contains(&format!("Alias: {}", env_name(&alias))));
        }

        // The same default wherever a variable is read, and that default in .env.example
        // (empty when the default is worked out, e.g. DATABASE_URL from DATA_DIR).
        for arg in &args {
            let name = env_name(arg);
            let default: Vec<String> =
                arg.get_default_values().iter().map(|value| value.to_string_lossy().into_owned()).collect();
            let example = &example.iter().find(|(documented, _)| *documented == name).unwrap().1;
            assert_eq!(&default.join(","), example, "{name}: the default of --{}", arg.get_long().unwrap());
            assert!(arg.get_help().is_some(), "{name} has a help line");
        }
    }

    #[test]
    fn secrets_never_show_in_help() {
        let secrets = [
            "DATABASE_URL",
            "UIC_SALT",
            "ADMIN_TOKEN",
            "TWILIO_AUTH_TOKEN",
            "META_ACCESS_TOKEN",
            "META_APP_SECRET",
            "META_WEBHOOK_VERIFY_TOKEN",
            "META_VERIFY_TOKEN",
            "METRICS_TOKEN",
            "DHIS2_API_TOKEN",
            "DHIS2_API_PASSWORD",
        ];
        for arg in variable_args(&Cli::command()) {
            let name = env_name(&arg);
            assert_eq!(arg.is_hide_env_values_set(), secrets.contains(&name.as_str()), "{name}");
        }
    }
}
