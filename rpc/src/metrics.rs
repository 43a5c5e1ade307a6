//! The JSON-RPC servers' Prometheus series, beside the servers: calls by method and result,
//! and their latency. Method names come from clients, so labels are bounded.

use crate::RpcObserver;
use parking_lot::RwLock;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::collections::HashSet;

/// JSON-RPC call latency: 100 µs (a cached read) to 10 s (a large batch).
pub const RPC_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Distinct JSON-RPC method labels kept when the server's method list is not known; further
/// names count as `other` (method names come from clients: unbounded labels would grow the
/// registry without limit).
pub const MAX_RPC_METHOD_LABELS: usize = 64;

/// JSON-RPC method names that are labels: the server's list once told
/// ([`RpcMetrics::set_methods`]), else the first [`MAX_RPC_METHOD_LABELS`] names seen.
#[derive(Default)]
struct RpcMethods {
    fixed: bool,
    names: HashSet<String>,
}

/// Calls and latency by method.
pub struct RpcMetrics {
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    /// JSON-RPC method names used as labels.
    methods: RwLock<RpcMethods>,
}

/// Registers in a registry (the node's).
struct Reg<'a> {
    registry: &'a Registry,
}

impl Reg<'_> {
    fn counter_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
        self.registry.register(Box::new(c.clone())).expect("metric names are distinct");
        c
    }
    fn histogram_vec(&mut self, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
        let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid metric");
        self.registry.register(Box::new(h.clone())).expect("metric names are distinct");
        h
    }
}

impl RpcMetrics {
    /// Creates the series and registers them in `registry`.
    pub fn register(registry: &Registry) -> RpcMetrics {
        let mut r = Reg { registry };
        RpcMetrics {
            requests: r.counter_vec(
                "cpcd_rpc_requests_total",
                "JSON-RPC calls by method and result (ok or error) over HTTP and WebSocket (count); methods the \
                 server does not serve count as method=\"other\".",
                &["method", "result"],
            ),
            request_seconds: r.histogram_vec(
                "cpcd_rpc_request_seconds",
                "JSON-RPC call latency by method, in seconds (a batch's time is shared evenly among its calls).",
                RPC_BUCKETS,
                &["method"],
            ),
            methods: RwLock::new(RpcMethods::default()),
        }
    }

    /// The names of the series.
    pub fn names(&self) -> Vec<String> {
        let cs: [&dyn Collector; 2] = [&self.requests, &self.request_seconds];
        cs.iter().flat_map(|c| c.desc()).map(|d| d.fq_name.clone()).collect()
    }

    /// The JSON-RPC server's method names: from now on only these are labels, other names
    /// count as `other`.
    pub fn set_methods<S: AsRef<str>>(&self, methods: impl IntoIterator<Item = S>) {
        let mut m = self.methods.write();
        if !m.fixed {
            m.fixed = true;
            m.names.clear();
        }
        m.names.extend(methods.into_iter().map(|x| x.as_ref().to_string()));
    }

    /// The label for a called method name (bounded: see [`MAX_RPC_METHOD_LABELS`]).
    fn method_label(&self, method: &str) -> String {
        {
            let m = self.methods.read();
            if m.names.contains(method) {
                return method.to_string();
            }
            if m.fixed {
                return "other".into();
            }
        }
        // Without the server's list: keep the first few well-formed names.
        let well_formed =
            !method.is_empty() && method.len() <= 64 && method.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let mut m = self.methods.write();
        if well_formed && m.names.len() < MAX_RPC_METHOD_LABELS {
            m.names.insert(method.to_string());
            method.to_string()
        } else {
            "other".into()
        }
    }
}

impl RpcObserver for RpcMetrics {
    fn on_call(&self, method: &str, seconds: f64, ok: bool) {
        let m = self.method_label(method);
        self.requests.with_label_values(&[m.as_str(), if ok { "ok" } else { "error" }]).inc();
        self.request_seconds.with_label_values(&[m.as_str()]).observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_observer_counts_by_method_and_bounds_the_labels() {
                let m = RpcMetrics::register(&Registry::new());
        m.on_call("cpc_blockNumber", 0.001, true);
        m.on_call("cpc_blockNumber", 0.002, true);
        m.on_call("cpc_sendTransaction", 0.01, false);
        assert_eq!(m.requests.with_label_values(&["cpc_blockNumber", "ok"]).get(), 2);
        assert_eq!(m.requests.with_label_values(&["cpc_sendTransaction", "error"]).get(), 1);
        assert_eq!(m.request_seconds.with_label_values(&["cpc_blockNumber"]).get_sample_count(), 2);
        // Garbage names from clients never become labels.
        m.on_call("x\"} 1\n", 0.0, false);
        assert_eq!(m.requests.with_label_values(&["other", "error"]).get(), 1);
        for i in 0..2 * MAX_RPC_METHOD_LABELS {
            m.on_call(&format!("junk_{i}"), 0.0, false);
        }
        let distinct = m.request_seconds.collect()[0].get_metric().len();
        assert!(distinct <= MAX_RPC_METHOD_LABELS + 1, "{distinct}");
        assert_eq!(m.requests.with_label_values(&["cpc_blockNumber", "ok"]).get(), 2);
        m.on_call("cpc_blockNumber", 0.001, true);
        assert_eq!(
            m.requests.with_label_values(&["cpc_blockNumber", "ok"]).get(),
            3,
            "a known name keeps its label"
        );

        // With the server's method list, only those names are labels.
        let m = RpcMetrics::register(&Registry::new());
        m.set_methods(["cpc_blockNumber", "cpc_chainId"]);
        m.on_call("cpc_chainId", 0.0, true);
        m.on_call("cpc_nope", 0.0, false);
        assert_eq!(m.requests.with_label_values(&["cpc_chainId", "ok"]).get(), 1);
        assert_eq!(m.requests.with_label_values(&["other", "error"]).get(), 1);
    }
}
