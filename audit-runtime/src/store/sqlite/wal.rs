//! Copies the write-ahead log into the database file on a thread of its own.
//!
//! In WAL mode every committed page is written twice: into the log by the commit, and later into
//! the database file by a checkpoint. SQLite runs that checkpoint inside the commit that crosses
//! `wal_autocheckpoint`, on the thread that commits: the emitters' next group commit waits for
//! it (page copies and an fsync of the database file). This thread runs passive checkpoints
//! between commits instead, after [`EVERY_COMMITS`] commits or [`IDLE`] after the last commit,
//! so that the log is mostly copied already when the writer reaches `wal_autocheckpoint`; the
//! writer's own checkpoint then copies only the rest, and its next transaction starts the log
//! over once every frame is copied.
//!
//! A passive checkpoint takes no lock that a writer or reader waits for. If one fails (the
//! database is busy, the disk is full), nothing is lost: the frames stay in the log, and the
//! writer's automatic checkpoint copies them as it did without this thread.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::store::StoreError;

/// Commits between two passive checkpoints while the writer is busy.
const EVERY_COMMITS: u64 = 8;
/// How long after its last commit an idle writer's log is copied.
const IDLE: Duration = Duration::from_millis(250);

#[derive(Default)]
struct State {
    commits: u64,
    /// Commits the last checkpoint covered.
    copied: u64,
    /// When the last commit was made.
    last_commit: Option<Instant>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The checkpointing thread of one store; stopped and joined on drop.
#[derive(Debug)]
pub(super) struct WalCopier {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl WalCopier {
    /// Opens a connection of its own to `path` and starts the thread.
    ///
    /// # Errors
    /// The connection could not be opened, or the thread not started.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = super::connect(path)?;
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ai-audit-wal".into())
            .spawn(move || run(&conn, &theirs))
            .map_err(|source| StoreError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Called after each commit.
    pub(super) fn committed(&self) {
        let wake = {
            let mut s = self.shared.lock();
            s.commits += 1;
            s.last_commit = Some(Instant::now());
            // The first commit after a copy starts the idle timer; the count is due at
            // EVERY_COMMITS.
            let pending = s.commits - s.copied;
            pending == 1 || pending == EVERY_COMMITS
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for WalCopier {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        let upto = {
            let mut s = shared.lock();
            loop {
                if s.stop {
                    return;
                }
                let pending = s.commits - s.copied;
                // Nothing to copy: sleep until a commit wakes the thread.
                let Some(last) = s.last_commit.filter(|_| pending > 0) else {
                    s = shared.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                let idle = last.elapsed();
                if pending >= EVERY_COMMITS || idle >= IDLE {
                    break s.commits;
                }
                s = shared
                    .wake
                    .wait_timeout(s, IDLE - idle)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        // A failure leaves the frames for the writer's own checkpoint (see the module docs).
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        shared.lock().copied = upto;
    }
}
