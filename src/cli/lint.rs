//! `uic lint [PATH...]`: every problem as `file[:line]: level: message`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{Datelike, Utc};
use clap::Args;

use crate::lint::checks;
use crate::lint::source::Sources;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// A project folder (with flows/ and locales/), a folder of flows, or a flow file.
    /// Default: ./flows and ./locales if present, else the built-in flows.
    pub paths: Vec<PathBuf>,
    /// Locales folder to check the flows against (default: locales/ beside the flows).
    #[arg(long, env = "LOCALES_DIR")]
    pub locales_dir: Option<PathBuf>,
    /// Also check the flows against the codes this database has issued: a formula
    /// changed without a new `version` is an error.
    #[arg(long = "db")]
    pub db: Option<String>,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let targets: Vec<Option<PathBuf>> =
        if args.paths.is_empty() { vec![None] } else { args.paths.into_iter().map(Some).collect() };
    let mut errors = 0;
    let mut warnings = 0;
    for target in targets {
        let sources = sources_for(target.as_deref(), args.locales_dir.as_deref())?;
        let (catalog, mut diagnostics) = checks::check(&sources, Utc::now().year());
        if let Some(url) = &args.db {
            diagnostics.extend(issued_code_problems(&catalog, url)?);
        }
        for diagnostic in &diagnostics {
            println!("{diagnostic}");
            if diagnostic.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
        }
    }
    if errors > 0 {
        eprintln!("{errors} error(s), {warnings} warning(s)");
        Ok(ExitCode::FAILURE)
    } else {
        eprintln!("ok: no errors, {warnings} warning(s)");
        Ok(ExitCode::SUCCESS)
    }
}

fn sources_for(target: Option<&Path>, locales: Option<&Path>) -> anyhow::Result<Sources> {
    let Some(target) = target else {
        return Ok(Sources::discover(None, locales)?);
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
