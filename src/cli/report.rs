//! `uic report [--month YYYY-MM]`: the month's codes per UTC day, as the seeds'
//! runbook SQL counts them, with unique phones, repeat requests and possible
//! collisions, and the month's totals.

use std::process::ExitCode;

use chrono::{Datelike, Months, NaiveDate, Utc};
use clap::Args;

use super::db::{block_on, open_existing, redact_url};
use super::table::table;
use crate::config::DatabaseArgs;
use crate::store::ReportFigures;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The month to report on, in UTC (default: the current month).
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    pub month: Option<NaiveDate>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// The first day of a `YYYY-MM` month.
fn parse_month(text: &str) -> Result<NaiveDate, String> {
    let error = || format!("`{text}` is not a month: use YYYY-MM, e.g. 2026-03");
    let (year, month) = text.split_once('-').ok_or_else(error)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(error());
    }
    let year = year.parse().map_err(|_| error())?;
    let month = month.parse().map_err(|_| error())?;
    NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(error)
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let today = Utc::now().date_naive();
    let first = args.month.unwrap_or_else(|| today.with_day(1).expect("every month has a first day"));
    let next = first + Months::new(1);
    let url = args.db.url();
    block_on(async {
        let store = open_existing(&url).await?;
        let report = store.report(first, next).await;
        store.close().await;
        let report = report.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))?;

        println!("{} (UTC days)", first.format("%Y-%m"));
        let header = ["date", "codes", "unique phones", "repeat requests", "possible collisions"];
        let cells = |label: String, figures: &ReportFigures| {
            [
                label,
                figures.codes.to_string(),
                figures.unique_phones.to_string(),
                figures.repeat_requests.to_string(),
                figures.collisions.to_string(),
            ]
        };
        let mut rows: Vec<[String; 5]> =
            report.days.iter().map(|(day, figures)| cells(day.to_string(), figures)).collect();
        rows.push(cells("total".to_string(), &report.total));
        print!("{}", table(&header, &rows, &[false, true, true, true, true]));
        let total = report.total;
        let given = total.codes + total.collisions;
        if total.collisions > 0 && given > 0 {
            let share = total.collisions as f64 / given as f64;
            println!(
                "Possible collisions: {} of the {given} codes given to new answers this month ({:.1}%, 1 in {}) already \
                 belonged to someone else; `uic collisions list` shows them, `uic analyze` what to expect.",
                total.collisions,
                share * 100.0,
                (1.0 / share).round()
            );
        }
        let counts = report.registrations;
        // Silent where DHIS2 has never been configured.
        if counts.registered + counts.pending + counts.failed > 0 {
            println!(
                "DHIS2 registration of the month's codes: {} registered, {} pending, {} failed, {} not registered",
                counts.registered, counts.pending, counts.failed, counts.not_registered
            );
        }
        if counts.failed > 0 {
            println!("`uic uics list` shows DHIS2's error for each; `uic dhis2 resync` queues them again");
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_checked() {
        assert_eq!(parse_month("2026-03"), Ok(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()));
        assert!(parse_month("2026-13").unwrap_err().contains("use YYYY-MM"));
        assert!(parse_month("2026-3").is_err());
        assert!(parse_month("march").is_err());
    }
}
