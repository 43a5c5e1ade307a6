//! Prometheus metrics and the operator endpoints of `--metrics ADDR:PORT`
//! (docs/OPERATIONS.md, "Metrics"):
//!
//! - `GET /metrics`: every series below, in the Prometheus text format;
//! - `GET /health`: `200 ok` while the process is up;
//! - `GET /ready`: `200` when the node follows the tip with at least one peer (always under
//!   `--dev`), else `503` and the reason;
//! - anything else: `404`.
//!
//! Counters and histograms are recorded where their events happen (block import and production
//! in `chain.rs` / `node.rs`, admission in `node.rs`, sync in `net.rs`, JSON-RPC calls through
//! [`cpc_rpc::RpcObserver`]). Gauges that mirror state (height, mempool, peers, sync, miner)
//! are refreshed when scraped ([`Metrics::refresh`]), so they are exact and cost nothing
//! between scrapes. GPU sensors come from NVML, loaded at run time (no build-time dependency on
//! the driver), polled by [`spawn_gpu_poller`] only while GPUs mine.

use crate::node::Node;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use prometheus::core::Collector;
use prometheus::{
    Encoder, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Concurrent connections to the metrics server; more are closed at once (a scraper and a
/// health checker need a handful).
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Every series the node exports, in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Metric names registered (for tests and the dashboard check).
    #[cfg_attr(not(test), allow(dead_code))]
    names: Vec<String>,
    /// The miner's series, once a miner runs (they live beside it, in cpc-miner).
    pub miner: std::sync::OnceLock<Arc<cpc_miner::MinerMetrics>>,
    pub info: IntGaugeVec,
    pub peers: IntGauge,
    pub syncing: IntGauge,
    pub peer_best_height: IntGauge,
    /// The JSON-RPC servers' series (they live beside the servers, in cpc-rpc).
    pub rpc: Arc<cpc_rpc::RpcMetrics>,
}


/// Registers metrics and remembers their names.
struct Reg {
    registry: Registry,
    names: Vec<String>,
}

impl Reg {
    fn add<C: Collector + Clone + 'static>(&mut self, c: C) -> C {
        for d in c.desc() {
            self.names.push(d.fq_name.clone());
        }
        self.registry.register(Box::new(c.clone())).expect("metric names are distinct");
        c
    }
    fn int_gauge(&mut self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("valid metric"))
    }
    fn int_gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
}


impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Reg { registry: Registry::new(), names: Vec::new() };
        let rpc = Arc::new(cpc_rpc::RpcMetrics::register(&r.registry));
        r.names.extend(rpc.names());
        
        Metrics {
            rpc,
            info: r.int_gauge_vec(
                "cpcd_info",
                "Always 1; labels: the node's version and chain id.",
                &["version", "chain_id"],
            ),
            peers: r.int_gauge("cpcd_peers", "Connected P2P peers (count)."),
            syncing: r.int_gauge("cpcd_syncing", "1 while catching up with a peer at least 2 blocks ahead, else 0."),
            peer_best_height: r.int_gauge(
                "cpcd_peer_best_height",
                "Highest head height reported by a connected peer (blocks; 0 without peers).",
            ),
            registry: r.registry,
            names: r.names,
            miner: std::sync::OnceLock::new(),
        }
    }

    /// Names of every registered metric family.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }





    /// Refreshes the gauges that mirror the node's state (called on every scrape).
    pub fn refresh(&self, node: &Node) {
        self.info.with_label_values(&[env!("CARGO_PKG_VERSION"), node.engine.params().chain_id.as_str()]).set(1);
        node.engine.refresh_metrics();
        self.peers.set(node.net.get().map_or(0, |n| n.peer_count()) as i64);
        self.syncing.set(node.is_syncing() as i64);
        if let (Some(m), Some(mm)) = (node.miner.get(), self.miner.get()) {
            mm.export(&m.status());
        }
    }


    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("encoding to memory");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}




/// `/ready`: whether this node should receive traffic. `Err` says why not.
pub fn readiness(dev: bool, syncing: bool, peers: usize) -> Result<(), &'static str> {
    if dev {
        return Ok(());
    }
    if syncing {
        return Err("syncing");
    }
    if peers == 0 {
        return Err("no peers");
    }
    Ok(())
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// Answers one request of the metrics server.
fn respond(node: &Node, dev: bool, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    match path {
        "/metrics" => {
            node.metrics.refresh(node);
            let mut r = text(StatusCode::OK, node.metrics.encode());
            r.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(prometheus::TEXT_FORMAT));
            r
        }
        "/health" => text(StatusCode::OK, "ok\n"),
        "/ready" => {
            if let Some(why) = node.engine.production_paused() {
                return text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n"));
            }
            let peers = node.net.get().map_or(0, |n| n.peer_count());
            match readiness(dev, node.is_syncing(), peers) {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Binds the metrics server's address (port 0 picks a free port); returns the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::net::TcpListener)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    Ok((l.local_addr()?, l))
}

/// Serves `/metrics`, `/health` and `/ready` on `listener` until `stop`.
pub async fn serve(listener: tokio::net::TcpListener, node: Arc<Node>, dev: bool, mut stop: watch::Receiver<bool>) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!("metrics server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let node = node.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let res = respond(&node, dev, req.method(), req.uri().path());
                async move { Ok::<_, std::convert::Infallible>(res) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}



#[cfg(test)]
mod tests {
    use super::*;
    use cpc_mempool::AdmitError;

    /// The node's series, the engine's and the miner's, in one registry as a mining node has them.
    fn with_engine() -> (Metrics, cpc_engine::EngineMetrics, Vec<String>) {
        let m = Metrics::new();
        let e = cpc_engine::EngineMetrics::register(m.registry());
        let miner = cpc_miner::MinerMetrics::register(m.registry());
        let _bft = cpc_bft::metrics::BftMetrics::register(m.registry());
        let names = m
            .names()
            .iter()
            .cloned()
            .chain(e.names())
            .chain(miner.names().iter().cloned())
            .chain(cpc_bft::metrics::NAMES.iter().map(|n| n.to_string()))
            .collect();
        (m, e, names)
    }

    #[test]
    fn every_series_has_the_prefix_and_a_help_text() {
        let (m, _e, names) = with_engine();
        assert!(names.len() >= 25, "{names:?}");
        for f in m.registry().gather() {
            assert!(f.name().starts_with("cpcd_"), "{}", f.name());
            assert!(f.help().len() > 20, "{} needs a help text", f.name());
        }
        for c in &names {
            assert!(c.starts_with("cpcd_"), "{c}");
        }
        let text = m.encode();
        assert!(text.contains("# TYPE cpcd_chain_height gauge"), "{text}");
        assert!(text.contains("cpcd_mempool_transactions{state=\"queued\"} 0"), "{text}");
        assert!(text.contains("cpcd_block_import_seconds_bucket{source=\"own\",le=\"0.001\"} 0"), "{text}");
    }

    #[test]
    fn readiness_needs_sync_and_a_peer_except_under_dev() {
        assert_eq!(readiness(false, false, 3), Ok(()));
        assert_eq!(readiness(false, true, 3), Err("syncing"));
        assert_eq!(readiness(false, false, 0), Err("no peers"));
        assert_eq!(readiness(false, true, 0), Err("syncing"));
        assert_eq!(readiness(true, true, 0), Ok(()));
    }


    #[test]
    fn admission_reasons_are_short_and_bounded() {
        let (_n, m, _) = with_engine();
        m.record_poc_admission::<()>(&Ok(()));
        m.record_poc_admission::<()>(&Err(AdmitError::NonceTooLow { expected: 5, found: 1 }));
        m.record_poc_admission::<()>(&Err(AdmitError::TaskOnChain("t".into())));
        m.record_poc_admission::<()>(&Err(AdmitError::AlreadyKnown(cpc_primitives::H256([1; 32]))));
        assert_eq!(m.poc_results.with_label_values(&["accepted", "none"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "nonce"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "rule 4"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "known"]).get(), 1);
    }




    /// Every `cpcd_…` name in `$expr` of the Grafana dashboard.
    fn dashboard_metric_names(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::String(s) => {
                let b = s.as_bytes();
                let mut i = 0;
                while let Some(j) = s[i..].find("cpcd_").map(|j| i + j) {
                    let boundary = j == 0 || !(b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_');
                    let end = j + s[j..].bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
                    if boundary {
                        out.insert(s[j..end].to_string());
                    }
                    i = end;
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_metric_names(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| dashboard_metric_names(x, out)),
            _ => {}
        }
    }

    #[test]
    fn grafana_dashboard_queries_only_registered_series() {
        let json: serde_json::Value = serde_json::from_str(include_str!("../../../contrib/grafana/cpcd.json"))
            .expect("contrib/grafana/cpcd.json parses");
        assert_eq!(json["__inputs"][0]["name"], "DS_PROMETHEUS");
        let panels = json["panels"].as_array().expect("panels");
        assert!(panels.len() >= 12);
        let mut used = std::collections::BTreeSet::new();
        dashboard_metric_names(&json, &mut used);
        let (_m, _e, names) = with_engine();
        let registered: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        for name in &used {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            assert!(
                registered.contains(name.as_str()) || registered.contains(base),
                "the dashboard queries {name}, which metrics.rs does not register"
            );
        }
        // And every series is on the dashboard.
        for name in &registered {
            let on = used.iter().any(|u| {
                u == name || u.strip_prefix(*name).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
            });
            assert!(on, "{name} is not on the dashboard");
        }
    }
}
