//! Where flows and locales come from: folders on disk, or the copies embedded in
//! the binary (so `uic` runs the DRC flow with nothing beside it).

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

pub use crate::core::diagnostic::SourceFile;

static EMBEDDED_FLOWS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/flows");
static EMBEDDED_LOCALES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/locales");
/// The flow language this binary understands.
pub const FLOW_SCHEMA: &str = include_str!("../../schemas/flow.schema.json");

/// The flows and locales of one project.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub flows: Vec<SourceFile>,
    /// The lookup tables beside the flows (`data/*.csv` in the flows' folder).
    pub tables: Vec<SourceFile>,
    /// (language, file)
    pub locales: Vec<(String, SourceFile)>,
    /// Where these came from, for the start-up line.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}: no such file or folder")]
    Missing(String),
}

impl Sources {
    /// The flows and locales built into the binary.
    pub fn embedded() -> Sources {
        let flows = EMBEDDED_FLOWS
            .files()
            .filter(|file| is_flow(file.path()))
            .map(|file| SourceFile {
                path: format!("flows/{}", file.path().display()),
                text: file.contents_utf8().unwrap_or_default().to_string(),
            })
            .collect();
        let mut locales = Vec::new();
        for dir in EMBEDDED_LOCALES.dirs() {
            let language = dir.path().display().to_string();
            for file in dir.files().filter(|file| is_ftl(file.path())) {
                locales.push((
                    language.clone(),
                    SourceFile {
                        path: format!("locales/{}", file.path().display()),
                        text: file.contents_utf8().unwrap_or_default().to_string(),
                    },
                ));
            }
        }
        let tables = EMBEDDED_FLOWS
            .get_dir("data")
            .into_iter()
            .flat_map(|dir| dir.files())
            .filter(|file| is_table(file.path()))
            .map(|file| SourceFile {
                path: format!("flows/{}", file.path().display()),
                text: file.contents_utf8().unwrap_or_default().to_string(),
            })
            .collect();
        Sources { flows, tables, locales, origin: "the flows and locales built into uic".into() }
    }

    /// Reads flows and locales from disk, each from the embedded copy when not
    /// given. `flows` is a folder of `*.yaml` or one flow file (whose folder is
    /// read too, so it can build on a sibling); `locales` a folder of `<lang>/*.ftl`.
    pub fn from_paths(flows: Option<&Path>, locales: Option<&Path>) -> Result<Sources, SourceError> {
        let embedded = Sources::embedded();
        let (flow_files, tables) = match flows {
            Some(path) => {
                let folder = if path.is_file() { path.parent().unwrap_or(Path::new(".")) } else { path };
                (read_flows(path)?, read_tables(&folder.join("data"))?)
            }
            None => (embedded.flows, embedded.tables),
        };
        let locale_files = match locales {
            Some(path) => read_locales(path)?,
            None => embedded.locales,
        };
        let name = |path: Option<&Path>, what: &str| match path {
            Some(path) => path.display().to_string(),
            None => format!("the built-in {what}"),
        };
        Ok(Sources {
            flows: flow_files,
            tables,
            locales: locale_files,
            origin: format!("{} and {}", name(flows, "flows"), name(locales, "locales")),
        })
    }

    /// Explicit paths win; otherwise `./flows` and `./locales` when they exist
    /// here (a checkout being edited), or `locales` beside the given flows;
    /// otherwise the embedded copies.
    pub fn discover(flows: Option<&Path>, locales: Option<&Path>) -> Result<Sources, SourceError> {
        let here = |name: &str| Some(PathBuf::from(name)).filter(|p| p.is_dir());
        let flows = flows.map(Path::to_path_buf).or_else(|| here("flows"));
        let locales = locales
            .map(Path::to_path_buf)
            .or_else(|| flows.as_deref().map(sibling_locales).filter(|p| p.is_dir()))
            .or_else(|| here("locales"));
        Sources::from_paths(flows.as_deref(), locales.as_deref())
    }
}

fn read_flows(path: &Path) -> Result<Vec<SourceFile>, SourceError> {
    if path.is_file() {
        let mut files = read_flow_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        // The named file first: it is the one being worked on.
        files.sort_by_key(|file| Path::new(&file.path) != path);
        Ok(files)
    } else if path.is_dir() {
        read_flow_dir(path)
    } else {
        Err(SourceError::Missing(path.display().to_string()))
    }
}

fn read_locales(dir: &Path) -> Result<Vec<(String, SourceFile)>, SourceError> {
    if !dir.is_dir() {
        return Err(SourceError::Missing(dir.display().to_string()));
    }
    let mut languages: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    languages.sort();
    let mut found = Vec::new();
    for language_dir in languages {
        let language = language_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut files: Vec<PathBuf> = read_dir(&language_dir)?.into_iter().filter(|p| is_ftl(p)).collect();
        files.sort();
        for path in files {
            found.push((language.clone(), read(&path)?));
        }
    }
    Ok(found)
}

/// `x/flows/a.yaml` or `x/flows` → `x/locales`.
fn sibling_locales(flows: &Path) -> PathBuf {
    let dir = if flows.is_file() { flows.parent().unwrap_or(Path::new(".")) } else { flows };
    dir.parent().unwrap_or(Path::new(".")).join("locales")
}

fn is_flow(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn is_ftl(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("ftl")
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| SourceError::Read { path: dir.display().to_string(), source })?;
    Ok(entries.filter_map(|entry| entry.ok().map(|e| e.path())).collect())
}

fn read_flow_dir(dir: &Path) -> Result<Vec<SourceFile>, SourceError> {
    let mut paths: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(|p| p.is_file() && is_flow(p)).collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

/// The `*.csv` files of a folder, if it exists.
fn read_tables(dir: &Path) -> Result<Vec<SourceFile>, SourceError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(|p| p.is_file() && is_table(p)).collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

fn is_table(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("csv")
}

fn read(path: &Path) -> Result<SourceFile, SourceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SourceError::Read { path: path.display().to_string(), source })?;
    Ok(SourceFile { path: path.display().to_string(), text })
}
