//! The router served over TCP within [`ServerLimits`] (issue #14): a client
//! may hold a connection only so long without sending its headers (or between
//! two requests), a request only so long with its body, and only so many
//! connections at once; on shutdown, requests in flight get a bounded wait.
//! HTTP/1.1 only: nginx, Twilio and Meta speak it.
//!
//! `axum::serve` sets none of these, so a thousand slow clients used up the
//! file descriptors and a client stuck in its headers held the shutdown
//! forever. The pieces are hyper's own: its header-read timeout and timer,
//! `hyper_util`'s graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ServerLimits;

/// The first pause after a failed accept; it doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then waits at
/// most `limits.shutdown_timeout` for the connections still open. At most
/// `max_connections` are served at once (`limits.max_connections` checked
/// against the open-file limit at start-up).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    tokio::pin!(shutdown);
    loop {
        // A free slot first: past the cap, new clients wait in the kernel's
        // queue rather than take a file descriptor each.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of file descriptors, most likely: pause rather than spin.
                        tracing::error!(error = %error, pause_ms = backoff.as_millis() as u64, "accepting a connection failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        backoff = ACCEPT_BACKOFF_MIN;
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection that ends badly (a timeout, a reset) concerns only its client.
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            waited_s = limits.shutdown_timeout.as_secs(),
            "requests still in flight at SHUTDOWN_TIMEOUT_SECONDS; stopping anyway"
        );
    }
    Ok(())
}

/// Errors of one connection that the next accept does not share.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
