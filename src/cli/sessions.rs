//! `uic sessions cleanup`: removes conversations left idle, as `uic serve`
//! does every `CLEANUP_INTERVAL_MINUTES`.

use std::process::ExitCode;

use chrono::{Duration, Utc};
use clap::{Args, Subcommand};

use super::db::{block_on, open_existing, redact_url};
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Remove sessions idle for longer than the timeout and print how many.
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Remove sessions idle for longer than this many minutes (serve's session timeout by default).
    #[arg(
        long,
        value_name = "N",
        env = "SESSION_TIMEOUT_MINUTES",
        default_value = "30",
        value_parser = crate::config::session_timeout_minutes
    )]
    pub older_than_minutes: u32,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn run(command: SessionsCommand) -> anyhow::Result<ExitCode> {
    let SessionsCommand::Cleanup(args) = command;
    let url = args.db.url();
    block_on(async {
        let store = open_existing(&url).await?;
        let now = Utc::now();
        let cutoff = now - Duration::minutes(i64::from(args.older_than_minutes));
        let removed = store.cleanup_sessions(cutoff, now).await;
        store.close().await;
        let removed = removed.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))?;
        println!("removed {removed} session(s) idle for more than {} minute(s)", args.older_than_minutes);
        Ok(ExitCode::SUCCESS)
    })
}
