//! Consistent snapshots of a service's sled database, taken while it runs (issue 21 item 5).
//!
//! sled lets one process open a database, so a backup of a running service has to be made by
//! that process. Every service with a sled store listens on a Unix socket inside its database
//! directory ([`SOCKET_NAME`], mode 0600: whoever may read the database files may ask for a
//! snapshot, nobody else); `idaas backup` asks there, or opens the database itself when no
//! service runs on it.
//!
//! A snapshot is consistent: the store's writes pass a [`SnapshotGate`] shared, the snapshot
//! holds it exclusively while it copies the trees to a private temporary file (local disk
//! speed), and only then is the file streamed to the client, so a slow client never holds
//! the writers up.
//!
//! - [`snapshot`]: the snapshot stream (write, and read into a fresh database), bounded;
//! - [`control`]: the socket, both ends.

pub mod control;
pub mod snapshot;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

pub use control::{fetch_snapshot, ControlSocket, SOCKET_NAME};
pub use snapshot::{read_snapshot, write_snapshot, SnapshotError};

/// A store write under way ([`SnapshotGate::writing`]).
#[must_use = "the write is only protected while the guard lives"]
pub struct Writing<'a> {
    started: Instant,
    _shared: RwLockReadGuard<'a, ()>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        crate::metrics::observe_store("sled", "write", self.started.elapsed().as_secs_f64());
    }
}

/// Lets a snapshot see the store between two writes, never in the middle of one: every
/// write method of a sled store holds [`SnapshotGate::writing`] while it runs (writes still
/// run side by side), a snapshot holds [`SnapshotGate::frozen`].
#[derive(Debug, Default)]
pub struct SnapshotGate(RwLock<()>);

impl SnapshotGate {
    /// Held by a store write for its whole duration; its time (the wait for a snapshot
    /// included) goes to the store-latency metric when it is dropped.
    pub fn writing(&self) -> Writing<'_> {
        Writing { started: Instant::now(), _shared: self.0.read().unwrap_or_else(PoisonError::into_inner) }
    }

    /// Held by a snapshot: waits for the writes in flight, holds new ones back.
    pub fn frozen(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}
