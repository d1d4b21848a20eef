//! `uic collisions list`: the codes that different answers made (possible
//! collisions), for staff to review: the code, when it was first issued and
//! last made by other answers, how many answer sets made it. Never an answer
//! or a phone number: the database keeps neither for a collision beyond an
//! HMAC and the number, and this prints neither.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::db::{block_on, open_existing, redact_url};
use super::table::table;
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum CollisionsCommand {
    /// Show the codes different answers made, the latest first (no answers, no phone numbers).
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most this many codes.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn run(command: CollisionsCommand) -> anyhow::Result<ExitCode> {
    let CollisionsCommand::List(args) = command;
    let url = args.db.url();
    block_on(async {
        let store = open_existing(&url).await?;
        let collisions = store.collisions(args.limit).await;
        store.close().await;
        let collisions = collisions.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))?;
        if collisions.codes.is_empty() {
            println!("no possible collisions recorded: no code was made by two different sets of answers");
            return Ok(ExitCode::SUCCESS);
        }
        let header = ["code", "flow", "first issued (UTC)", "latest other answers (UTC)", "answer sets", "times"];
        let rows: Vec<[String; 6]> = collisions
            .codes
            .iter()
            .map(|code| {
                [
                    code.uic_code.clone(),
                    code.flow_id.clone(),
                    time(code.first_at),
                    time(code.latest_at),
                    code.answer_sets.to_string(),
                    code.times.to_string(),
                ]
            })
            .collect();
        print!("{}", table(&header, &rows, &[false, false, false, false, true, true]));
        let shown = if collisions.codes.len() as i64 == collisions.total_codes {
            String::new()
        } else {
            format!(" (the latest {} shown; --limit shows more)", collisions.codes.len())
        };
        println!(
            "{} code(s) were made by different answers{shown}, {} time(s) in all.",
            collisions.total_codes, collisions.total_times
        );
        println!(
            "answer sets: how many people with different answers hold the code, its first owner included; \
             times: how often other answers made it (a person asking again counts again). \
             These people share one code: check their cards and records before merging anything."
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}
