//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod browser;
pub mod db;
pub mod dhis2;
pub mod dhis2_schema;
pub mod graph;
pub mod meta;
pub mod meta_schema;
pub mod openapi;
pub mod plans;
pub mod process;
pub mod prometheus;
pub mod server;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use uic::core::catalog::Catalog;
use uic::core::engine::{Engine, EngineConfig};
use uic::core::salt::Salt;
use uic::lint::source::Sources;
use uic::store::Store;
use uic::turn::conversation::Conversations;

/// The variable that lets a run rewrite golden files (transcripts, lint
/// outputs) from what the code produces, for a human to review as a diff.
pub const REWRITE_VAR: &str = "UIC_REWRITE_GOLDEN_FILES";

/// Whether this run rewrites golden files: only when [`REWRITE_VAR`] is `1`,
/// and never under `CI`, where a rewrite would turn every failure into a pass.
pub fn rewrite_golden_files() -> bool {
    let asked = std::env::var(REWRITE_VAR).is_ok_and(|value| value == "1");
    if asked && std::env::var_os("CI").is_some() {
        panic!("{REWRITE_VAR} is set under CI: golden files are never rewritten there");
    }
    asked
}

/// An HTTP client builder for the tests, past proxies. reqwest is built without
/// a rustls crypto provider of its own: this installs uic's first.
pub fn http_client() -> reqwest::ClientBuilder {
    uic::support::tls::install_crypto_provider();
    reqwest::Client::builder().no_proxy()
}

/// The project's own flows and locales, as on disk.
pub fn project_sources() -> Sources {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Sources::from_paths(Some(&root.join("flows")), Some(&root.join("locales"))).expect("project sources load")
}

/// A fixed moment, so transcripts do not depend on the day they run.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap()
}

pub fn catalog() -> Catalog {
    let (catalog, _) = Catalog::load(&project_sources(), 2026).expect("the shipped flows pass lint");
    catalog
}

pub fn engine(flow: &str, language: Option<&str>) -> Arc<Engine> {
    let config = EngineConfig {
        default_flow: flow.to_string(),
        default_language: language.map(str::to_string),
        session_timeout_minutes: 30,
        qr_codes: true,
    };
    Arc::new(Engine::new(&catalog(), Salt::for_tests(), config).expect("engine builds"))
}

pub async fn conversations(flow: &str, language: Option<&str>) -> Conversations {
    Conversations::new(engine(flow, language), Store::in_memory().await.expect("store opens"))
}

/// Reads a QR code PNG back to its text.
pub fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).expect("a decodable image").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("the QR code decodes").1
}

/// `both!(name, |db| async move { … })`: a test run twice, on a fresh SQLite
/// file and on a fresh PostgreSQL database (which says loudly when it cannot run).
macro_rules! both {
    ($name:ident, |$db:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $db = crate::support::db::TestDb::new(crate::support::db::Backend::Sqlite)
                    .await
                    .expect("SQLite always runs");
                $body.await
            }

            #[tokio::test]
            async fn postgres() {
                let Some($db) = crate::support::db::TestDb::new(crate::support::db::Backend::Postgres).await else {
                    return;
                };
                $body.await
            }
        }
    };
}
pub(crate) use both;

/// Copies a folder and everything in it (a project's `flows/` with its
/// `data/` tables, its `locales/`).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Copies the shipped flows (and their tables) into `to`, to edit.
pub fn copy_shipped_flows(to: &std::path::Path) {
    copy_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"), to);
}
