//! Runs the search indexer (`Store::drain_search_index`) beside the harvests: woken after
//! every committed page, on its own connection, so stemming the stored records uses a
//! second database backend (and core) while the harvest fetches and stores the next pages.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// A handle to one background indexer task; clones share it. The task starts on the first
/// [`SearchIndexer::poke`] and stops after its current batch when the last handle is
/// dropped.
#[derive(Debug, Clone)]
pub struct SearchIndexer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    wake: Arc<Notify>,
    stop: CancellationToken,
    task: OnceLock<JoinHandle<()>>,
}

impl Drop for Inner {
    // Not `abort()`: a task cancelled inside `pool.begin()` can hand back a connection
    // that is still in a transaction, and the next statements on it never commit. The
    // task finishes its batch and returns.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SearchIndexer {
    /// An indexer over `store`; nothing runs until the first poke.
    pub fn new(store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                wake: Arc::new(Notify::new()),
                stop: CancellationToken::new(),
                task: OnceLock::new(),
            }),
        }
    }

    /// Asks the background task to index what has been committed (starting the task on
    /// first use). Returns at once; a poke during a catch-up leads to one more.
    pub fn poke(&self) {
        self.inner.task.get_or_init(|| {
            let (store, wake) = (self.inner.store.clone(), self.inner.wake.clone());
            tokio::spawn(run(store, wake, self.inner.stop.clone()))
        });
        self.inner.wake.notify_one();
    }

    /// Indexes everything committed so far before returning (waiting for a catch-up that
    /// is under way, since batches take turns).
    pub async fn drain(&self) -> Result<u64, StoreError> {
        self.inner.store.drain_search_index().await
    }
}

async fn run(store: Store, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
        }
        if let Err(e) = store.drain_search_index().await {
            // The changes stay after the cursor: the next poke retries them.
            tracing::warn!(error = %e, "search indexing failed; retrying later");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            wake.notify_one();
        }
    }
}
