//! `uic uics list|export`: the issued codes, as a table for reading or as CSV
//! for a spreadsheet. The export reads the table a page at a time, so a
//! million codes never sit in memory at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};

use super::db::{block_on, open_existing, redact_url};
use super::spreadsheet::SafeCsv;
use super::table::table;
use crate::config::DatabaseArgs;
use crate::core::dhis2::RegistrationState;
use crate::store::{Store, UicFilter, UicRecord};

/// Codes read per query while exporting.
const EXPORT_PAGE_SIZE: u32 = 1_000;

#[derive(Debug, Subcommand)]
pub enum UicsCommand {
    /// Show issued codes as a table, newest first.
    List(ListArgs),
    /// Write issued codes as CSV (RFC 4180, with a header), oldest first, to standard output or a file.
    Export(ExportArgs),
}

/// Which codes: the filters shared by `list` and `export`.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only codes created on or after this UTC day.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub since: Option<NaiveDate>,
    /// Only codes of this flow (e.g. drc-fr).
    #[arg(long, value_name = "ID")]
    pub flow: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> UicFilter {
        UicFilter {
            since: self.since.map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc()),
            flow_id: self.flow.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show at most this many codes.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values, RFC 4180.
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output format; only csv for now.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write to this file (replaced once the export is complete) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn run(command: UicsCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        match command {
            UicsCommand::List(args) => list(args).await,
            UicsCommand::Export(args) => export(args).await,
        }
    })
}

/// A `--since` day.
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date: use YYYY-MM-DD (a UTC day), e.g. 2026-03-14"))
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let url = args.db.url();
    let store = open_existing(&url).await?;
    let records = store.list_uics(&args.filter.filter(), args.limit).await;
    store.close().await;
    let records = records.map_err(|error| anyhow::anyhow!("{}: {error}", redact_url(&url)))?;
    if records.is_empty() {
        println!("no codes");
        return Ok(ExitCode::SUCCESS);
    }
    let header =
        ["code", "phone number", "flow", "version", "created (UTC)", "last requested (UTC)", "requests", "DHIS2"];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                r.uic_code.clone(),
                r.phone_number.clone(),
                r.flow_id.clone(),
                r.flow_version.to_string(),
                table_time(r.created_at),
                table_time(r.last_requested_at),
                r.request_count.to_string(),
                r.registration.as_ref().map_or_else(|| "-".to_string(), ToString::to_string),
            ]
        })
        .collect();
    // Numbers right-aligned, text left-aligned.
    let right = [false, false, false, true, false, false, true, false];
    print!("{}", table(&header, &rows, &right));
    Ok(ExitCode::SUCCESS)
}

fn table_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let Format::Csv = args.format;
    let url = args.db.url();
    let shown = redact_url(&url);
    let store = open_existing(&url).await?;
    let filter = args.filter.filter();
    let result = match &args.output {
        None => {
            let stdout = std::io::stdout().lock();
            match write_csv(&store, &filter, std::io::BufWriter::new(stdout)).await {
                // `uic uics export … | head`: the reader has seen enough.
                Err(ExportError::Write(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
                other => other,
            }
        }
        Some(path) => export_to_file(&store, &filter, path).await,
    };
    store.close().await;
    let count = result.map_err(|error| match error {
        ExportError::Store(error) => anyhow::anyhow!("{shown}: {error}"),
        ExportError::Write(error) => {
            let target = args.output.as_ref().map_or("standard output".into(), |p| p.display().to_string());
            anyhow::anyhow!("{target}: {error}")
        }
    })?;
    if let Some(path) = &args.output {
        eprintln!("exported {count} code(s) to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug)]
enum ExportError {
    Store(crate::store::StoreError),
    Write(std::io::Error),
}

impl From<std::io::Error> for ExportError {
    fn from(error: std::io::Error) -> Self {
        ExportError::Write(error)
    }
}

/// Writes beside `path`, then renames: `path` is either the whole export or untouched.
async fn export_to_file(store: &Store, filter: &UicFilter, path: &Path) -> Result<u64, ExportError> {
    let mut name = path.file_name().map(|name| name.to_os_string()).unwrap_or_else(|| "export".into());
    name.push(format!(".{}.partial", std::process::id()));
    let partial = path.with_file_name(name);
    let file = std::fs::File::create(&partial)?;
    let result = write_csv(store, filter, std::io::BufWriter::new(file)).await;
    match result {
        Ok(count) => match std::fs::rename(&partial, path) {
            Ok(()) => Ok(count),
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                Err(error.into())
            }
        },
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// The header, then every matching code, [`EXPORT_PAGE_SIZE`] at a time; returns how many.
async fn write_csv(store: &Store, filter: &UicFilter, out: impl Write) -> Result<u64, ExportError> {
    let mut csv = SafeCsv::new(out);
    csv.record([
        "uic_code",
        "phone_number",
        "flow_id",
        "flow_version",
        "created_at",
        "last_requested_at",
        "request_count",
        "dhis2_status",
        "dhis2_tracked_entity",
        "dhis2_error",
    ])?;
    let mut count = 0;
    let mut after = None;
    loop {
        let page = store.uic_page(filter, after, EXPORT_PAGE_SIZE).await.map_err(ExportError::Store)?;
        for record in &page.records {
            write_record(&mut csv, record)?;
        }
        count += page.records.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    csv.flush()?;
    Ok(count)
}

fn write_record(csv: &mut SafeCsv<impl Write>, record: &UicRecord) -> std::io::Result<()> {
    let (status, tracked_entity, error) = match &record.registration {
        None => ("", "", ""),
        Some(state @ RegistrationState::Pending) => (state.as_str(), "", ""),
        Some(state @ RegistrationState::Registered { tracked_entity }) => (state.as_str(), tracked_entity.as_str(), ""),
        Some(state @ RegistrationState::Failed { error }) => (state.as_str(), "", error.as_str()),
    };
    csv.record([
        record.uic_code.as_str(),
        &record.phone_number,
        &record.flow_id,
        &record.flow_version.to_string(),
        &csv_time(record.created_at),
        &csv_time(record.last_requested_at),
        &record.request_count.to_string(),
        status,
        tracked_entity,
        error,
    ])
}

/// RFC 3339 in UTC, e.g. `2026-03-14T09:00:00Z`.
fn csv_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert_eq!(parse_date("2026-03-14"), Ok(NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()));
        assert!(parse_date("14/03/2026").unwrap_err().contains("use YYYY-MM-DD"));
        assert!(parse_date("2026-02-30").is_err());
    }
}
