//! `uic lint [PATH...]`: every problem as `file[:line]: level: message`, in
//! French or English (`--lang`, else the locale).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{Datelike, Utc};
use clap::Args;

use crate::config::{DatabaseArgs, SourceArgs};
use crate::core::diagnostic::{Language, Wording};
use crate::lint::checks;
use crate::lint::source::Sources;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// A project folder (with flows/ and locales/), a folder of flows, or a flow file, checked
    /// against the locales beside it unless --locales-dir. Default: the flows and locales
    /// `uic serve` loads.
    pub paths: Vec<PathBuf>,
    /// Also check the flows against the codes a database has issued: a formula changed without a
    /// new `version` is an error. Without URL: the database `uic serve` uses (DATABASE_URL, else
    /// sqlite://DATA_DIR/uic.db). Put it after the paths.
    #[arg(long = "db", value_name = "URL", num_args = 0..=1)]
    pub db: Option<Option<String>>,
    /// The language of the messages: fr or en. Default: the locale's (LC_ALL, LC_MESSAGES, LANG),
    /// French for a French locale, English otherwise.
    #[arg(long, value_name = "fr|en", value_parser = parse_language)]
    pub lang: Option<Language>,
    #[command(flatten)]
    pub sources: SourceArgs,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    // `--db` alone reads DATABASE_URL and DATA_DIR as `uic serve` does; `uic lint`
    // alone checks no database (it runs where none exists, in CI).
    let database = match args.db {
        None => None,
        Some(Some(url)) => Some(url),
        Some(None) => Some(DatabaseArgs::from_env()?.url()),
    };
    let targets: Vec<Option<PathBuf>> =
        if args.paths.is_empty() { vec![None] } else { args.paths.into_iter().map(Some).collect() };
    let language = args.lang.unwrap_or_else(|| Language::from_locale(|name| std::env::var(name).ok()));
    let mut errors = 0;
    let mut warnings = 0;
    for target in targets {
        let sources = sources_for(target.as_deref(), &args.sources)?;
        let (catalog, mut diagnostics) = checks::check(&sources, Utc::now().year());
        if let Some(url) = &database {
            diagnostics.extend(issued_code_problems(&catalog, url)?);
        }
        for diagnostic in &diagnostics {
            println!("{}", diagnostic.render(language));
            if diagnostic.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
        }
    }
    let summary = if errors > 0 { "lint-failed" } else { "lint-passed" };
    eprintln!("{}", Wording::new(summary).number("errors", errors).number("warnings", warnings).render(language));
    Ok(if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub(super) fn parse_language(code: &str) -> Result<Language, String> {
    Language::parse(code).ok_or_else(|| format!("`{code}` is not a language lint speaks: use fr or en"))
}

fn sources_for(target: Option<&Path>, sources: &SourceArgs) -> anyhow::Result<Sources> {
    let locales = sources.locales_dir();
    let Some(target) = target else {
        // No path: what `uic serve` would load, FLOWS_DIR and LOCALES_DIR included.
        return Ok(Sources::discover(sources.flows_dir(), locales)?);
    };
    if !target.exists() {
        anyhow::bail!("{}: no such file or folder", target.display());
    }
    let project_flows = target.join("flows");
    if target.is_dir() && project_flows.is_dir() {
        let locales = locales.map(Path::to_path_buf).unwrap_or_else(|| target.join("locales"));
        return Ok(Sources::from_paths(
            Some(&project_flows),
            Some(&locales).filter(|p| p.is_dir()).map(|p| p.as_path()),
        )?);
    }
    Ok(Sources::discover(Some(target), locales)?)
}

/// The flows checked against the codes a database has issued.
fn issued_code_problems(
    catalog: &crate::core::catalog::Catalog,
    url: &str,
) -> anyhow::Result<Vec<crate::core::diagnostic::Diagnostic>> {
    let shown = super::redact_url(url);
    if let Some(path) = super::db::sqlite_path(url)
        && !Path::new(path).exists()
    {
        anyhow::bail!("--db {shown}: no such database");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = crate::store::Store::connect_unmigrated(url)
            .await
            .map_err(|error| anyhow::anyhow!("--db {shown}: {error}"))?;
        let migrated = store.migration_status().await?.iter().any(|migration| migration.applied);
        // A database without the schema has issued nothing.
        let problems =
            if migrated { crate::app::versions::formula_changes(catalog, &store).await? } else { Vec::new() };
        store.close().await;
        Ok(problems)
    })
}
