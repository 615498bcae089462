//! Order-preserving parallel map over a slice, on scoped std threads.
//!
//! Encryption computes one independent ABE row per policy row; at 192 and 256-bit a row
//! costs 8–50 ms, so spreading the rows over the machine's cores is the largest single saving
//! (docs/performance.md). No thread pool is kept: a few scoped threads per call cost tens of
//! microseconds, far below the work they share.

/// Most threads one call uses (a service encrypting for many users should not take every
/// core for one of them).
const MAX_THREADS: usize = 4;

/// Below this many items the work runs on the calling thread.
const MIN_PARALLEL: usize = 4;

/// The cores this process may use, asked once (`available_parallelism` reads the affinity
/// mask and cgroup quota, tens of microseconds: too slow to ask at every decryption).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `items.iter().map(f).collect()`, computed on up to [`MAX_THREADS`] threads, results in
/// input order. Falls back to the calling thread when there is little work or one core.
pub(crate) fn map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = cores().min(MAX_THREADS);
    if threads < 2 || items.len() < MIN_PARALLEL {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> =
            chunks.map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<U>>())).collect();
        let mut out: Vec<U> = first.iter().map(f).collect();
        for (h, c) in handles.into_iter().zip(items.chunks(chunk).skip(1)) {
            // A worker only panics if `f` does; redo its share here so a result is never lost
            // (and the panic, if `f` panics again, surfaces on the caller's thread).
            match h.join() {
                Ok(part) => out.extend(part),
                Err(_) => out.extend(c.iter().map(f)),
            }
        }
        out
    })
}

/// `f(item, slot)` for each item and its output slot, on up to [`MAX_THREADS`] threads. The
/// results are written in place: unlike [`map`], no result is moved between buffers, so a
/// secret result leaves no copy in freed memory (the caller wipes `out` when done).
pub(crate) fn fill<T: Sync, U: Send>(items: &[T], out: &mut [U], f: impl Fn(&T, &mut U) + Sync) {
    let threads = cores().min(MAX_THREADS);
    if threads < 2 || items.len() < MIN_PARALLEL {
        items.iter().zip(out.iter_mut()).for_each(|(item, slot)| f(item, slot));
        return;
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let mut pairs = items.chunks(chunk).zip(out.chunks_mut(chunk));
        let first = pairs.next();
        for (items, slots) in pairs {
            scope.spawn(move || items.iter().zip(slots.iter_mut()).for_each(|(item, slot)| f(item, slot)));
        }
        if let Some((items, slots)) = first {
            items.iter().zip(slots.iter_mut()).for_each(|(item, slot)| f(item, slot));
        }
        // A worker that panicked (only if `f` does) re-raises its panic when the scope ends.
    });
}

/// Runs `a` on a scoped thread and `b` on this one; `None` from `a` if it panicked.
pub(crate) fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (Option<A>, B) {
    std::thread::scope(|scope| {
        let handle = scope.spawn(a);
        let b = b();
        (handle.join().ok(), b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn preserves_order_for_every_length() {
        for n in 0..40usize {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(super::map(&items, |x| x * 3), items.iter().map(|x| x * 3).collect::<Vec<_>>());
        }
    }

    #[test]
    fn fills_every_slot_in_order_for_every_length() {
        for n in 0..40usize {
            let items: Vec<usize> = (0..n).collect();
            let mut out = vec![usize::MAX; n];
            super::fill(&items, &mut out, |x, slot| *slot = x * 3);
            assert_eq!(out, items.iter().map(|x| x * 3).collect::<Vec<_>>());
        }
    }
}
