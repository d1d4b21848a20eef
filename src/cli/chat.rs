//! `uic chat`: a flow in the terminal, interactive or piped. Each line is a
//! message; the bot's replies are printed as a person would read them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::Args;

use crate::config::{Secret, SourceArgs};
use crate::core::engine::{Content, Engine, EngineConfig, Reply};
use crate::core::salt::Salt;
use crate::lint::source::Sources;
use crate::store::Store;
use crate::turn::conversation::Conversations;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Flow id (e.g. drc-ln) or path to a flow file.
    #[arg(long, env = "DEFAULT_FLOW", default_value = "drc-fr")]
    pub flow: String,
    /// Start in this language instead of the flow's default (fr, ln, en).
    #[arg(long)]
    pub locale: Option<String>,
    /// The phone number the messages come from.
    #[arg(long, default_value = "+243000000001")]
    pub from: String,
    /// Database URL (default: a fresh SQLite database in memory; never DATABASE_URL, so trying a
    /// flow never writes to the database `uic serve` uses).
    #[arg(long = "db", value_name = "URL")]
    pub db: Option<String>,
    /// Minutes of silence after which a conversation starts over.
    #[arg(
        long,
        value_name = "N",
        env = "SESSION_TIMEOUT_MINUTES",
        default_value = "30",
        value_parser = crate::config::session_timeout_minutes
    )]
    pub session_timeout_minutes: u32,
    /// Secret salt of the codes (default: the public development salt, with a warning).
    #[arg(long, value_name = "SALT", env = "UIC_SALT", hide_env_values = true)]
    pub uic_salt: Option<Secret>,
    #[command(flatten)]
    pub sources: SourceArgs,
}

pub fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let flow_path = Some(Path::new(&args.flow)).filter(|p| p.is_file() || args.flow.ends_with(".yaml"));
    let sources = match flow_path {
        Some(path) => Sources::discover(Some(path), args.sources.locales_dir())?,
        None => Sources::discover(args.sources.flows_dir(), args.sources.locales_dir())?,
    };
    let flow_id = match flow_path {
        Some(path) => flow_id_of(path)?,
        None => args.flow.clone(),
    };
    // Another flow failing lint does not stop this one (`uic lint` lists them all).
    let catalog = super::flows_that_pass(&sources, Some(&flow_id))?;
    if let Some(language) = &args.locale
        && let Some(flow) = catalog.flows.get(&flow_id)
        && !flow.supports(language)
    {
        anyhow::bail!("flow `{flow_id}` does not support language `{language}` (it has {})", flow.languages.join(", "));
    }

    let salt = match &args.uic_salt {
        Some(value) => Salt::parse(value.expose())?,
        None => {
            eprintln!(
                "warning: UIC_SALT is not set; using the public development salt (codes are for trying flows only)"
            );
            Salt::for_tests()
        }
    };
    let config = EngineConfig {
        default_flow: flow_id,
        default_language: args.locale.clone(),
        session_timeout_minutes: args.session_timeout_minutes,
        qr_codes: true,
    };
    let engine = Arc::new(Engine::new(&catalog, salt, config)?);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = match &args.db {
            Some(url) => {
                super::ensure_parent_dir(url)?;
                Store::connect(url).await?
            }
            None => Store::in_memory().await?,
        };
        let conversations = Conversations::new(engine, store);
        converse(&conversations, &args.from).await
    })
}

async fn converse(conversations: &Conversations, from: &str) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut out = std::io::stdout().lock();
    if interactive {
        writeln!(out, "Type a message and press Enter (Ctrl-D to quit).")?;
    }
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            write!(out, "> ")?;
            out.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        if !interactive {
            // Piped: show what was sent, so the output reads as a conversation.
            writeln!(out, "> {line}\n")?;
        }
        let handled = conversations.handle(from, &Content::Text(line), Utc::now()).await?;
        for reply in &handled.replies {
            match reply {
                Reply::Text { .. } => writeln!(out, "{}\n", reply.numbered())?,
                Reply::QrCode { uic, caption } => writeln!(out, "[QR code: {uic}] {caption}\n")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `id:` of a flow file.
fn flow_id_of(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: YAML syntax: {e}", path.display()))?;
    value
        .get("id")
        .and_then(|id| id.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("{}: the flow has no `id`", PathBuf::from(path).display()))
}
