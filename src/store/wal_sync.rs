//! Durable commits of batched turns, with the sync off the writer's path.
//!
//! With `synchronous=FULL` SQLite syncs the WAL inside `COMMIT`, and the
//! writer waits for the disk before it can begin the next batch: under load
//! the writer spent as long syncing as working. So a batch commits with
//! `synchronous=NORMAL` (its frames written, not yet synced), the writer goes
//! on with the next batch at once, and the WAL file is synced here, beside it;
//! the batch's requests are answered only once that sync returns. A reply a
//! person got is as durable as with `FULL`: its frames, commit mark included,
//! are on disk before it leaves. Every other write of the store keeps `FULL`
//! (the writer is set back before anyone else uses it).
//!
//! The sync is `fdatasync` on a descriptor of our own of the `-wal` file:
//! it flushes the file, not the descriptor, so it covers frames SQLite wrote
//! through its own. Should the WAL be started over in the meantime, the
//! frames were first checkpointed into the database file and synced there
//! (a checkpoint syncs whatever `synchronous` says); should the file be
//! replaced (only when every connection closed), the next sync opens the new
//! one.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Put before a write synced beside the writer when the writer still syncs
/// its own commits (see [`Writer::relaxing`](super::sqlite::Writer::relaxing)).
pub(super) const RELAX: &str = "PRAGMA synchronous = NORMAL;\n";

/// The `-wal` file of one database, synced on request.
pub(super) struct WalSync {
    path: PathBuf,
    file: Mutex<File>,
    /// Tests: runs before each sync (to hold it, or to count it).
    #[cfg(test)]
    pub(super) before_sync: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl std::fmt::Debug for WalSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalSync").field("path", &self.path).finish_non_exhaustive()
    }
}

impl WalSync {
    /// The WAL of the database at `database`, which must be open in WAL mode
    /// (so that its `-wal` file exists); `None` if it cannot be opened, and
    /// then commits keep syncing themselves.
    pub(super) fn open(database: &Path) -> Option<WalSync> {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        let path = PathBuf::from(path);
        let file = File::open(&path).ok()?;
        Some(WalSync {
            path,
            file: Mutex::new(file),
            #[cfg(test)]
            before_sync: Mutex::new(None),
        })
    }

    /// Syncs everything written to the WAL before the call (on tokio's
    /// blocking threads: a sync can take milliseconds).
    pub(super) async fn sync(self: &Arc<Self>) -> io::Result<()> {
        let wal = self.clone();
        tokio::task::spawn_blocking(move || wal.sync_now())
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the WAL sync was cancelled")))
    }

    fn sync_now(&self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(before) = self.before_sync.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            before();
        }
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let current = std::fs::metadata(&self.path)?;
        let ours = file.metadata()?;
        if (current.dev(), current.ino()) != (ours.dev(), ours.ino()) {
            *file = File::open(&self.path)?;
        }
        file.sync_data()
    }
}
