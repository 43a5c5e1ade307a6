//! Heavy calls off the async runtime, on a bounded pool with back-pressure.
//!
//! A call that verifies (admission: a signature and, for a result, the k-row proof), reads a
//! whole block or walks the pool ([`crate::HEAVY_METHODS`]; a batch holding one) runs on a
//! thread taken out of the runtime, at most [`HEAVY_SLOTS`] at a time;
//! the runtime's threads stay free for every other connection, the producer's clock and
//! `/health`. A call that finds every slot taken waits in line, at most [`HEAVY_QUEUE`] of
//! them and at most [`HEAVY_WAIT`]; beyond either it gets a clear `busy` error
//! ([`crate::codes::BUSY`], EIP-1474's -32005 "limit exceeded") instead of a stall, and retries.
//! reth gates its heaviest calls the same way (a semaphore before a blocking pool).
//! A batch takes one slot for all its calls (jsonrpsee runs them one after another), so one
//! 10 000-call batch pays one hop off the runtime, not 10 000.

use crate::ApiError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Heavy calls running at once: one per core (at least 2), as the block builder and the
/// verifier use the rest of the time.
pub static HEAVY_SLOTS: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get()).max(2));
/// Heavy calls waiting for a slot before more are refused as busy.
pub const HEAVY_QUEUE: usize = 256;
/// The longest a heavy call waits for a slot before it is refused as busy.
pub const HEAVY_WAIT: Duration = Duration::from_secs(2);

/// A bounded pool of blocking slots.
pub struct HeavyPool {
    slots: Arc<Semaphore>,
    total: usize,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

/// The process's pool, shared by the HTTP and the WebSocket server.
pub static HEAVY: LazyLock<HeavyPool> = LazyLock::new(|| HeavyPool::new(*HEAVY_SLOTS, HEAVY_QUEUE, HEAVY_WAIT));

impl HeavyPool {
    pub fn new(slots: usize, queue: usize, wait: Duration) -> HeavyPool {
        HeavyPool { slots: Arc::new(Semaphore::new(slots)), total: slots, waiting: AtomicUsize::new(0), queue, wait }
    }

    /// A slot, once one is free; `Busy` when the line is full or the wait too long.
    async fn acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(self.busy("the line of waiting calls is full"));
        }
        let got = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(Ok(p)) => Ok(p),
            _ => Err(self.busy(&format!("no slot freed within {} ms", self.wait.as_millis()))),
        }
    }

    /// Once a slot is free, makes the future with `make` and drives it to its end on this
    /// thread, taken out of the runtime for the while (`block_in_place`: the runtime hands this
    /// worker's other tasks to another thread). `make` runs there too: jsonrpsee executes a
    /// synchronous method inside `call` itself, not when its future is polled. One hop for a
    /// whole batch. On a current-thread runtime (some tests) it simply awaits.
    pub async fn run_in_place<F: std::future::Future>(&self, make: impl FnOnce() -> F) -> Result<F::Output, ApiError> {
        let _slot = self.acquire().await?;
        let handle = tokio::runtime::Handle::current();
        Ok(match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| handle.block_on(make())),
            _ => make().await,
        })
    }

    fn busy(&self, why: &str) -> ApiError {
        ApiError::Busy(format!(
            "busy: every one of the {} verification slots is taken and {why}; retry later",
            self.total
        ))
    }

    /// Calls waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_answers_busy_and_the_runtime_stays_free() {
        let pool = Arc::new(HeavyPool::new(1, 1, Duration::from_millis(300)));
        // One call holds the only slot for a second.
        let p = pool.clone();
        let holder = tokio::spawn(async move { p.run_in_place(|| async { std::thread::sleep(Duration::from_millis(1_000)) }).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One may wait in line, and gives up after 300 ms; the next is refused at once.
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.run_in_place(|| async { 1 }).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = Instant::now();
        let refused = pool.run_in_place(|| async { 2 }).await;
        assert!(matches!(&refused, Err(ApiError::Busy(m)) if m.contains("line of waiting calls is full")), "{refused:?}");
        assert!(t.elapsed() < Duration::from_millis(100), "refused at once, not after a wait");
        // The runtime is not blocked by the heavy call: a timer fires on time meanwhile.
        let t = Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(t.elapsed() < Duration::from_millis(100));
        let waited = waiter.await.unwrap();
        assert!(matches!(&waited, Err(ApiError::Busy(m)) if m.contains("no slot freed within 300 ms")), "{waited:?}");
        holder.await.unwrap().unwrap();
        // Free again: calls run.
        assert_eq!(pool.run_in_place(|| async { 3 }).await.unwrap(), 3);
        assert_eq!(pool.waiting(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_beyond_the_slots_wait_their_turn_and_all_finish() {
        let pool = Arc::new(HeavyPool::new(2, 64, Duration::from_secs(5)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for i in 0..16 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            calls.push(tokio::spawn(async move {
                pool.run_in_place(|| async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
                .await
            }));
        }
        let mut sum = 0;
        for c in calls {
            sum += c.await.unwrap().unwrap();
        }
        assert_eq!(sum, (0..16).sum::<i32>());
        assert_eq!(most.load(Ordering::SeqCst), 2, "never more calls at once than slots");
    }
}
