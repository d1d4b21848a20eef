//! `uic dhis2 check`: the DHIS2 settings tried against the server, one line
//! per problem naming the variable (or the flow) to change.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::db::block_on;
use crate::config::{Dhis2Args, Dhis2Config, SourceArgs};
use crate::core::catalog::Catalog;
use crate::integrations::dhis2::targets::registration_targets;
use crate::integrations::dhis2::{self, CheckTarget};
use crate::lint::source::Sources;

#[derive(Debug, Subcommand)]
pub enum Dhis2Command {
    /// Connect, authenticate and confirm that the program, tracked entity type, UIC attribute
    /// and org unit exist and fit together; exit 1 with one line per problem.
    Check(CheckArgs),
    /// Queue again the registration of codes DHIS2 refused, or issued before registration was on.
    Resync(super::resync::ResyncArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub dhis2: Dhis2Args,
    #[command(flatten)]
    pub sources: SourceArgs,
}

pub fn run(command: Dhis2Command) -> anyhow::Result<ExitCode> {
    match command {
        Dhis2Command::Check(args) => check(args),
        Dhis2Command::Resync(args) => super::resync::run(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let Some(config) = Dhis2Config::from_args(args.dhis2)? else {
        eprintln!("error: DHIS2_BASE_URL is not set: registration in DHIS2 is off, there is nothing to check");
        return Ok(ExitCode::FAILURE);
    };
    let sources = Sources::discover(args.sources.flows_dir(), args.sources.locales_dir())?;
    // A draft failing lint is not served, so it registers nothing: the others are checked.
    let catalog = super::flows_that_pass(&sources, None)?;
    let targets = targets_to_check(&config, &catalog);
    let report = block_on(async { Ok(dhis2::check(&config, &targets).await) })?;
    for line in &report.lines {
        println!("{line}");
    }
    if report.is_ok() {
        println!("ok: DHIS2 is ready to register codes");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    eprintln!("{} problem(s)", report.problems.len());
    Ok(ExitCode::FAILURE)
}

/// Every place the loaded flows register codes (a part nothing sets is a
/// problem the check names).
fn targets_to_check(config: &Dhis2Config, catalog: &Catalog) -> Vec<CheckTarget> {
    registration_targets(catalog, &config.defaults).targets
}
