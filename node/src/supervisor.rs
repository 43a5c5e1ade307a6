//! One place that starts every long-running task of the node, by name (reth's
//! `spawn_critical_task`). A critical task that panics or returns an error stops the node: the
//! launcher sees [`Supervisor::failed`], shuts every service down in order, flushes the
//! database and exits with an error, so nothing runs on half-alive and nothing committed is
//! lost.
//!
//! Test hook: `CPCD_TEST_FAULT=<task>:panic` or `<task>:error` makes the named task fail after
//! `CPCD_TEST_FAULT_AFTER_MS` (default 1500) — how tests prove the stop is clean. Unset, it
//! costs one environment read per spawned task.

use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Why the node is stopping on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub task: String,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "critical task {:?} {}", self.task, self.reason)
    }
}

#[derive(Default)]
struct State {
    first: Mutex<Option<Failure>>,
    notify: Notify,
}

/// Reports failures of critical work that does not run as a tokio task (the miner's OS
/// threads report their panics through it).
#[derive(Clone, Default)]
pub struct FailureHandle(Arc<State>);

impl FailureHandle {
    /// Records the first failure and wakes the launcher; later ones are only logged.
    pub fn fail(&self, task: &str, reason: String) {
        tracing::error!(task, "critical task failed: {reason}");
        let mut first = self.0.first.lock();
        if first.is_none() {
            *first = Some(Failure { task: task.to_string(), reason });
        }
        drop(first);
        self.0.notify.notify_one();
    }

    /// Waits until something fails; returns the first failure.
    pub async fn wait(&self) -> Failure {
        loop {
            let notified = self.0.notify.notified();
            if let Some(f) = self.0.first.lock().clone() {
                return f;
            }
            notified.await;
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

/// The task supervisor.
pub struct Supervisor {
    failures: FailureHandle,
    stop_tx: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor { failures: FailureHandle::default(), stop_tx: watch::channel(false).0, tasks: Vec::new() }
    }

    /// Becomes `true` when the node starts shutting down: every task watches it.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    pub fn failures(&self) -> FailureHandle {
        self.failures.clone()
    }

    /// Spawns a critical task: its panic or error stops the node.
    pub fn spawn_critical<F>(&mut self, name: &'static str, fut: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let fault = injected_fault(name);
        let inner = tokio::spawn(async move {
            let Some((after, kind)) = fault else { return fut.await };
            // The task runs as usual until the injected fault strikes.
            tokio::select! {
                r = fut => r,
                _ = tokio::time::sleep(after) => match kind {
                    Fault::Panic => panic!("injected fault (CPCD_TEST_FAULT)"),
                    Fault::Error => anyhow::bail!("injected fault (CPCD_TEST_FAULT)"),
                },
            }
        });
        let failures = self.failures.clone();
        let mut stop = self.stop_tx.subscribe();
        let watcher = tokio::spawn(async move {
            match inner.await {
                Ok(Ok(())) => {
                    // Ending before shutdown is a failure too: a service silently gone.
                    if !*stop.borrow_and_update() {
                        failures.fail(name, "ended before the node stopped".into());
                    }
                }
                Ok(Err(e)) => failures.fail(name, format!("failed: {e:#}")),
                Err(e) if e.is_panic() => failures.fail(name, format!("panicked: {}", panic_message(&*e.into_panic()))),
                Err(_) => {} // cancelled at shutdown
            }
        });
        self.tasks.push((name, watcher));
    }

    /// Waits until a critical task fails; returns its failure.
    pub async fn failed(&self) -> Failure {
        self.failures.wait().await
    }

    /// The first failure, if any (also one that happened during shutdown).
    pub fn failure(&self) -> Option<Failure> {
        self.failures.0.first.lock().clone()
    }

    /// Signals every task to stop and waits for them (each at most `grace`, then aborted).
    pub async fn shutdown(&mut self, grace: Duration) {
        let _ = self.stop_tx.send(true);
        for (name, t) in self.tasks.drain(..) {
            let abort = t.abort_handle();
            if tokio::time::timeout(grace, t).await.is_err() {
                tracing::warn!(task = name, "task did not stop within {grace:?}: aborted");
                abort.abort();
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Panic,
    Error,
}

/// `CPCD_TEST_FAULT=<task>:panic|error` for this task name.
fn injected_fault(name: &str) -> Option<(Duration, Fault)> {
    let spec = std::env::var("CPCD_TEST_FAULT").ok()?;
    let (task, kind) = spec.split_once(':')?;
    if task != name {
        return None;
    }
    let kind = match kind {
        "panic" => Fault::Panic,
        "error" => Fault::Error,
        _ => return None,
    };
    let after = std::env::var("CPCD_TEST_FAULT_AFTER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    Some((Duration::from_millis(after), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_critical_task_is_reported_by_name() {
        let mut s = Supervisor::new();
        s.spawn_critical("quiet", async { futures_pending().await });
        s.spawn_critical("boom", async { panic!("kaboom") });
        let f = tokio::time::timeout(Duration::from_secs(5), s.failed()).await.expect("a failure");
        assert_eq!(f.task, "boom");
        assert!(f.reason.contains("panicked: kaboom"), "{f}");
        s.shutdown(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn an_error_or_an_early_end_is_a_failure_but_shutdown_is_not() {
        let mut s = Supervisor::new();
        s.spawn_critical("err", async { anyhow::bail!("disk full") });
        let f = tokio::time::timeout(Duration::from_secs(5), s.failed()).await.unwrap();
        assert_eq!((f.task.as_str(), f.reason.as_str()), ("err", "failed: disk full"));

        let mut s = Supervisor::new();
        s.spawn_critical("early", async { Ok(()) });
        let f = tokio::time::timeout(Duration::from_secs(5), s.failed()).await.unwrap();
        assert!(f.reason.contains("ended before the node stopped"), "{f}");

        let mut s = Supervisor::new();
        let mut stop = s.stop_signal();
        s.spawn_critical("polite", async move {
            let _ = stop.changed().await;
            Ok(())
        });
        s.shutdown(Duration::from_secs(5)).await;
        assert_eq!(s.failure(), None, "a task ending at shutdown is no failure");
    }


    async fn futures_pending() -> anyhow::Result<()> {
        std::future::pending::<()>().await;
        Ok(())
    }
}
