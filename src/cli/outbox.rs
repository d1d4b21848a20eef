//! `uic outbox list|retry|drop`: what waits to leave the process, and what
//! was given up.

use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};

use super::db::{block_on, open_existing, redact_url};
use super::table::table;
use crate::config::DatabaseArgs;
use crate::store::{JobFilter, JobStatus};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List jobs, newest first.
    List(ListArgs),
    /// Make a pending or given-up job due now, with a fresh set of attempts
    /// (or, with --dead, every given-up job). An overtaken job is not sent.
    Retry(RetryArgs),
    /// Delete a job for good.
    Drop(JobArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    Pending,
    Dead,
    Done,
    Overtaken,
    All,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which jobs: pending (waiting or retrying), dead (given up), done,
    /// overtaken (given up, then a later message to the same person was
    /// delivered: never sent), or all.
    #[arg(long, value_enum, default_value = "all")]
    pub status: Status,
    /// Show at most this many jobs.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The job's id, as `uic outbox list` shows it.
    #[arg(required_unless_present = "dead", conflicts_with = "dead")]
    pub id: Option<i64>,
    /// Every given-up job, e.g. once a refused access token is replaced.
    #[arg(long)]
    pub dead: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job's id, as `uic outbox list` shows it.
    pub id: i64,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn run(command: OutboxCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        let url = match &command {
            OutboxCommand::List(args) => args.db.url(),
            OutboxCommand::Retry(args) => args.db.url(),
            OutboxCommand::Drop(args) => args.db.url(),
        };
        let store = open_existing(&url).await?;
        let result = run_on(&store, &command).await;
        store.close().await;
        result.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))
    })
}

async fn run_on(store: &crate::store::Store, command: &OutboxCommand) -> Result<ExitCode, crate::store::StoreError> {
    match command {
        OutboxCommand::List(args) => {
            let filter = match args.status {
                Status::Pending => JobFilter::Only(JobStatus::Pending),
                Status::Dead => JobFilter::Only(JobStatus::Dead),
                Status::Done => JobFilter::Only(JobStatus::Done),
                Status::Overtaken => JobFilter::Only(JobStatus::Overtaken),
                Status::All => JobFilter::All,
            };
            let jobs = store.list_jobs(filter, args.limit).await?;
            if jobs.is_empty() {
                println!("no jobs");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 7]> = jobs
                .into_iter()
                .map(|job| {
                    // A registration names its code; a message, its masked recipient.
                    let subject = match job.recipient.strip_prefix("dhis2:") {
                        Some(code) => code.to_string(),
                        None => crate::support::privacy::mask_phone(&job.recipient),
                    };
                    [
                        job.id.to_string(),
                        job.kind,
                        subject,
                        job.status.to_string(),
                        job.attempts.to_string(),
                        job.next_attempt_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        job.last_error.unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["id", "kind", "for", "status", "attempts", "next attempt (UTC)", "last error"];
            print!("{}", table(&header, &rows, &[true, false, false, false, true, false, false]));
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry(RetryArgs { id: None, .. }) => {
            let revived = store.retry_dead_jobs(Utc::now()).await?;
            println!("{revived} given-up job(s) are due now");
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry(RetryArgs { id: Some(id), .. }) => {
            if store.retry_job(*id, Utc::now()).await? {
                println!("job {id} is due now");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no pending or given-up job {id}");
                Ok(ExitCode::FAILURE)
            }
        }
        OutboxCommand::Drop(args) => {
            if store.drop_job(args.id).await? {
                println!("job {} deleted", args.id);
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no job {}", args.id);
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
