//! `uic dhis2 resync [--since DATE]`: queues again the registration of codes
//! DHIS2 refused, or that were issued before registration was on. A refused
//! code's given-up job is revived (it keeps the UIDs and mapped values chosen
//! when the code was issued); a code without one gets a new job carrying the
//! code alone, its answers being long gone. `uic serve` delivers them.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::Args;

use super::db::{block_on, open_existing, redact_url};
use crate::config::{DatabaseArgs, Dhis2Args, Dhis2Config, SourceArgs};
use crate::core::catalog::Catalog;
use crate::core::dhis2::{self, MappedValues, RegistrationJob, Target};
use crate::lint::source::Sources;
use crate::store::{NewJob, Requeued};

#[derive(Debug, Args)]
pub struct ResyncArgs {
    /// Only codes issued on or after this UTC day (YYYY-MM-DD); default: all.
    #[arg(long, value_name = "DATE", value_parser = super::uics::parse_date)]
    pub since: Option<NaiveDate>,
    #[command(flatten)]
    pub dhis2: Dhis2Args,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn run(args: ResyncArgs) -> anyhow::Result<ExitCode> {
    let Some(config) = Dhis2Config::from_args(args.dhis2)? else {
        anyhow::bail!("DHIS2_BASE_URL is not set: registration is off (README, \"DHIS2\")");
    };
    let sources = Sources::discover(args.sources.flows_dir(), args.sources.locales_dir())?;
    let catalog = super::flows_that_pass(&sources, None)?;
    let url = args.db.url();
    block_on(async {
        let store = open_existing(&url).await?;
        let result = resync(&store, &catalog, &config.defaults, args.since).await;
        store.close().await;
        let tally = result.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))?;
        println!(
            "{} revived, {} queued anew, {} already on their way",
            tally.revived, tally.queued, tally.already_pending
        );
        for (uic, missing) in &tally.skipped {
            eprintln!("{uic}: not queued: set {} (or the flow's `dhis2:` block)", missing.join(", "));
        }
        if tally.revived + tally.queued > 0 {
            println!("`uic serve` registers them now; `uic uics list` shows each code's state");
        }
        Ok(if tally.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

#[derive(Debug, Default)]
struct Tally {
    revived: usize,
    queued: usize,
    already_pending: usize,
    /// Codes whose target is incomplete, with the variables missing.
    skipped: Vec<(String, Vec<&'static str>)>,
}

async fn resync(
    store: &crate::store::Store,
    catalog: &Catalog,
    defaults: &Target,
    since: Option<NaiveDate>,
) -> Result<Tally, crate::store::StoreError> {
    let since = since.map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc());
    let mut tally = Tally::default();
    for code in store.unregistered(since).await? {
        // The flow's target, with the org unit its lookup gives when no answer chose one.
        let (target, org_unit) = match catalog.flows.get(&code.flow_id) {
            Some(flow) => {
                let default = flow.dhis2.org_unit_from.as_ref().and_then(|from| from.default.clone());
                (flow.dhis2.target.over(defaults), default)
            }
            None => (defaults.clone(), None),
        };
        let values = MappedValues { org_unit, attributes: Vec::new() };
        let issued = code.created_at.date_naive();
        let job = RegistrationJob::new(&code.uic, &target, &values, issued, crate::support::ids::random_index);
        let (payload, missing) = match job {
            Ok(job) => (serde_json::to_string(&job).ok(), Vec::new()),
            Err(missing) => (None, missing),
        };
        let recipient = dhis2::job_recipient(&code.uic);
        let new_job =
            payload.as_deref().map(|payload| NewJob { kind: dhis2::JOB_KIND, recipient: &recipient, payload });
        match store.requeue_registration(&code.uic, new_job, Utc::now()).await? {
            Some(Requeued::Revived) => tally.revived += 1,
            Some(Requeued::Queued) => tally.queued += 1,
            Some(Requeued::AlreadyPending) => tally.already_pending += 1,
            None => tally.skipped.push((code.uic, missing)),
        }
    }
    Ok(tally)
}
