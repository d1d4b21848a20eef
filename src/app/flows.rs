//! The flows `uic serve` runs: loaded at start-up and again on `SIGHUP`, by
//! the same rules. The flows that pass `uic lint` are served; one that fails
//! is left out and reported (an `error!` per diagnostic, `/health`,
//! `uic_flows_failing`). The server refuses only when the flow it is
//! configured to serve (`DEFAULT_FLOW`: channels have no flow of their own)
//! fails. On a reload that refusal keeps the last good flows serving.

use std::sync::Arc;

use anyhow::Context;
use chrono::{Datelike, Utc};

use crate::config::Config;
use crate::core::catalog::{Catalog, FailedFlow, Loaded};
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::engine::{Engine, EngineConfig};
use crate::core::salt::Salt;
use crate::http::{AppState, ReloadRefused};
use crate::integrations::dhis2::CheckTarget;
use crate::integrations::dhis2::targets::registration_targets;
use crate::lint::source::Sources;
use crate::store::Store;

/// A set of flows ready to serve.
pub struct Served {
    pub catalog: Catalog,
    pub engine: Engine,
    /// Flows left out: failing lint, or a formula changed under issued codes.
    pub failed: Vec<FailedFlow>,
    /// Every diagnostic of the load, `uic lint`'s and the database's.
    pub diagnostics: Vec<Diagnostic>,
    /// Where DHIS2 registrations go, when registration is on.
    pub dhis2_targets: Vec<CheckTarget>,
    /// Where the flows came from, for the log.
    pub origin: String,
}

impl Served {
    /// One log line per diagnostic: errors loudly, since a flow was left out.
    pub fn log(&self) {
        for diagnostic in &self.diagnostics {
            if diagnostic.is_error() {
                tracing::error!("{diagnostic}");
            } else {
                tracing::warn!("{diagnostic}");
            }
        }
        for failed in &self.failed {
            tracing::error!(
                file = %failed.file,
                flow = failed.id.as_deref().unwrap_or("?"),
                "flow not served: it fails `uic lint` (the other flows are served)"
            );
        }
        tracing::info!(sources = %self.origin, flows = self.catalog.flows.len(), failing = self.failed.len(), "flows loaded");
    }
}

/// Reads and checks the flows and texts; fails when the default flow does
/// not pass (lint, the codes the database issued, DHIS2 targets).
pub async fn load(config: &Config, salt: &Salt, store: &Store) -> anyhow::Result<Served> {
    load_linted(config, salt, store, lint(config)).await
}

/// The flows and texts read and linted, the part of [`load`] that needs no
/// database.
pub type Linted = tokio::task::JoinHandle<anyhow::Result<(Sources, Loaded)>>;

/// Starts reading and linting the flows and texts: it reads files and
/// compiles patterns, so it runs off the async workers (turns go on), and at
/// start-up while the database opens.
pub fn lint(config: &Config) -> Linted {
    let (flows_dir, locales_dir) = (config.flows_dir.clone(), config.locales_dir.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let sources = Sources::discover(flows_dir.as_deref(), locales_dir.as_deref())?;
        let loaded = Catalog::load_passing(&sources, Utc::now().year());
        Ok((sources, loaded))
    })
}

/// [`load`], the lint started before.
pub async fn load_linted(config: &Config, salt: &Salt, store: &Store, linted: Linted) -> anyhow::Result<Served> {
    let (sources, loaded) = linted.await??;
    let mut catalog = loaded.catalog;
    let mut failed = loaded.failed;
    let mut diagnostics = loaded.diagnostics;
    let default_flow = &config.default_flow;
    if !catalog.flows.contains_key(default_flow) && !failed.is_empty() {
        // Its file may not even say its id (broken YAML): every error is shown.
        return Err(FlowsRefused {
            heading: format!("DEFAULT_FLOW: flow `{default_flow}` is not among the flows that pass `uic lint`:"),
            errors: Diagnostics(diagnostics.into_iter().filter(Diagnostic::is_error).collect()),
        }
        .into());
    }

    // Codes already issued never change: a flow whose formula changed under
    // its version is left out like a flow failing lint, the default one refused.
    let changes = crate::app::versions::formula_changes_by_flow(&catalog, store).await?;
    for (id, change) in changes {
        if &id == default_flow {
            let heading = "the flows do not match the codes already issued:".to_string();
            return Err(FlowsRefused { heading, errors: Diagnostics(vec![change]) }.into());
        }
        catalog.flows.remove(&id);
        let origin = catalog.origins.remove(&id).map(|origin| origin.file().to_string());
        failed.push(FailedFlow { file: origin.unwrap_or_else(|| change.file.clone()), id: Some(id) });
        diagnostics.push(change);
    }

    let engine = Engine::new(
        &catalog,
        salt.clone(),
        EngineConfig {
            default_flow: default_flow.clone(),
            default_language: None,
            session_timeout_minutes: config.session_timeout_minutes,
            qr_codes: config.enable_qr_code,
        },
    )
    .context("DEFAULT_FLOW")?;
    let dhis2_targets = match &config.dhis2 {
        Some(dhis2) => {
            let found = registration_targets(&catalog, &dhis2.defaults);
            if !found.incomplete.is_empty() {
                anyhow::bail!("DHIS2_BASE_URL is set, but:\n{}", found.incomplete.join("\n"));
            }
            found.targets
        }
        None => Vec::new(),
    };
    Ok(Served { catalog, engine, failed, diagnostics, dhis2_targets, origin: sources.origin })
}

/// The default flow cannot serve: the lint errors (or the formula change)
/// that stop it, under a heading for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{heading}\n{errors}")]
pub struct FlowsRefused {
    pub heading: String,
    pub errors: Diagnostics,
}

/// What `uic serve` needs to load its flows again.
#[derive(Clone)]
pub struct Reloader {
    pub state: AppState,
    pub salt: Salt,
}

impl Reloader {
    /// Loads flows and texts again; the new set replaces the old only if the
    /// default flow passes, else the last good set keeps serving. Turns in
    /// progress finish on the flows they started with; a conversation whose
    /// flow changed version (or went away) restarts politely at its next message.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let state = &self.state;
        tracing::info!("reloading flows and texts");
        match load(&state.config, &self.salt, state.conversations.store()).await {
            Ok(served) => {
                served.log();
                state.conversations.replace_engine(Arc::new(served.engine));
                state.metrics.set_flows_failing(served.failed.len());
                state.flows.set(served.failed);
                tracing::info!("flows reloaded");
                Ok(())
            }
            Err(error) => {
                for line in format!("{error:#}").lines() {
                    tracing::error!("{line}");
                }
                tracing::error!("reload refused: the flows loaded before keep serving");
                Err(error)
            }
        }
    }
}

/// Reloads on every `SIGHUP` (`systemctl reload uic`, `kill -HUP <pid>`)
/// and every request from the console, one reload at a time.
pub async fn reload_on_hangup(
    reloader: Reloader,
    mut requests: tokio::sync::mpsc::Receiver<crate::http::ReloadRequest>,
) {
    #[cfg(unix)]
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(error) => {
            tracing::warn!(error = %error, "cannot listen for SIGHUP: flows are reloaded from the console only");
            None
        }
    };
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hangups.as_mut() {
                Some(hangups) => hangups.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        tokio::select! {
            Some(()) = hangup => {
                let _ = reloader.reload().await;
            }
            request = requests.recv() => {
                let Some(answer) = request else { return };
                let outcome = reloader.reload().await.map_err(|error| match error.downcast_ref::<FlowsRefused>() {
                    Some(refused) => ReloadRefused { errors: refused.errors.0.clone(), reason: refused.heading.clone() },
                    None => ReloadRefused { errors: Vec::new(), reason: format!("{error:#}") },
                });
                let _ = answer.send(outcome);
            }
        }
    }
}
