//! The bound on argon2id work (issue 15, defect 1). One argon2id computation holds 19 MiB for
//! tens of milliseconds; left unbounded, a burst of wrong-password requests ran up to 512 of
//! them at once on tokio's blocking threads (1.66 GB of RSS for 128 requests, never returned to
//! the system because glibc keeps freed arenas per thread).
//!
//! [`HashPool`] fixes both halves:
//!
//! - **time and concurrency**: at most `limit` hashes run at once (a semaphore, default one per
//!   CPU core: more would not finish sooner). A request waits for a slot at most
//!   `queue_timeout`; after that it is refused with [`HashFailure::Busy`] (503 with
//!   `Retry-After` at the HTTP layer), so a flood turns into quick refusals instead of an
//!   ever-growing queue;
//! - **memory**: each slot owns one argon2 block buffer, allocated on first use and then reused
//!   for every later hash ([`argon2::Argon2::hash_password_into_with_memory`]), so the memory
//!   for hashing is at most `limit` × 19 MiB for the life of the process, whatever thread runs
//!   the hash and whatever the allocator does with freed memory.
//!
//! The pool counts hashes in flight and the highest count seen ([`HashPool::peak`]), so tests
//! and `/healthz` can show the bound holds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use tokio::sync::Semaphore;

/// Why a hash did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashFailure {
    /// Every slot stayed busy for the whole queue timeout.
    #[error("too many password checks at once; try again in {retry_after} s")]
    Busy {
        /// Seconds to wait before trying again.
        retry_after: u64,
    },
    /// The worker thread failed (a panic inside argon2); the cause, never a password.
    #[error("hashing worker: {0}")]
    Worker(String),
}

/// At most `limit` argon2id computations at once, each with a reused block buffer.
#[derive(Debug)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    /// Buffers not in use; never more than `limit` exist (one per permit).
    buffers: Mutex<Vec<Box<[Block]>>>,
    block_count: usize,
    limit: usize,
    queue_timeout: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// One slot per CPU core (at least one).
pub fn default_limit() -> usize {
    std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1).max(1)
}

impl HashPool {
    /// A pool of `limit` slots (`0`: [`default_limit`]) whose buffers hold `block_count` argon2
    /// blocks (1 KiB each; [`crate::service::passwords::BLOCK_COUNT`] for our parameters).
    pub fn new(limit: usize, queue_timeout: Duration, block_count: usize) -> Self {
        let limit = if limit == 0 { default_limit() } else { limit };
        HashPool {
            permits: Arc::new(Semaphore::new(limit)),
            buffers: Mutex::new(Vec::with_capacity(limit)),
            block_count,
            limit,
            queue_timeout,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// The number of slots.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Hashes running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The `Retry-After` of a refusal: the queue timeout rounded up to whole seconds.
    fn retry_after(&self) -> u64 {
        self.queue_timeout.as_millis().div_ceil(1000).max(1) as u64
    }

    /// Runs `f` with a block buffer on a blocking thread once a slot is free, or refuses after
    /// the queue timeout.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashFailure> {
        let permit =
            match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; treat it like a full queue all the same.
                Ok(Err(_)) | Err(_) => return Err(HashFailure::Busy { retry_after: self.retry_after() }),
            };
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let slot = Slot::take(&pool);
            let mut buffer = slot.buffer();
            let out = f(&mut buffer);
            slot.give_back(buffer);
            // Out of the in-flight count before the slot is released, so the count never
            // exceeds the limit even for a moment.
            drop(slot);
            drop(permit);
            out
        })
        .await
        .map_err(|e| HashFailure::Worker(e.to_string()))
    }
}

/// A running hash: counted in flight until dropped (also on a panic inside argon2).
struct Slot<'p> {
    pool: &'p HashPool,
}

impl<'p> Slot<'p> {
    fn take(pool: &'p HashPool) -> Self {
        let now = pool.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        pool.peak.fetch_max(now, Ordering::SeqCst);
        Slot { pool }
    }

    /// A free buffer, or a new one when every existing buffer is in use (at most `limit`
    /// exist, since a caller holds a permit).
    fn buffer(&self) -> Box<[Block]> {
        let reused = self.pool.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        reused.unwrap_or_else(|| vec![Block::default(); self.pool.block_count].into_boxed_slice())
    }

    fn give_back(&self, buffer: Box<[Block]>) {
        self.pool.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(buffer);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_limit_and_buffers_are_reused() {
        let pool = Arc::new(HashPool::new(2, Duration::from_secs(10), 8));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                pool.run(|blocks| {
                    std::thread::sleep(Duration::from_millis(5));
                    blocks.len()
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 8);
        }
        assert!(pool.peak() <= 2 && pool.peak() >= 1, "peak {}", pool.peak());
        assert_eq!(pool.in_flight(), 0);
        assert!(pool.buffers.lock().unwrap().len() <= 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_after_the_timeout() {
        let pool = Arc::new(HashPool::new(1, Duration::from_millis(20), 1));
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|_| std::thread::sleep(Duration::from_millis(300))).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        match pool.run(|_| ()).await {
            Err(HashFailure::Busy { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("{other:?}"),
        }
        busy.await.unwrap().unwrap();
        // Free again: runs.
        pool.run(|_| ()).await.unwrap();
        assert_eq!(pool.peak(), 1);
    }

    #[test]
    fn zero_means_one_per_core() {
        assert_eq!(HashPool::new(0, Duration::from_secs(1), 1).limit(), default_limit());
        assert!(default_limit() >= 1);
    }
}
