//! Commit latency of Malachite through cpcd's adapter: 4 validators on loopback (real sockets,
//! real signatures, WAL on disk) with the toy signed-block application, N heights. Latency is
//! from the moment the proposer built the decided block to the moment each node committed it.
//!
//! `cargo bench -p cpc-bft --bench commit_latency [-- HEIGHTS]` (default 300).

use std::time::{Duration, Instant};

use cpc_bft::context::BlockId;
use cpc_bft::toy::Net;
use cpc_primitives::sha256;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    if let Ok(f) = std::env::var("CPC_BENCH_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(f).try_init();
    }
    let heights: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i, false).await);
    }
    // Start-up (connections, the first rounds) is not latency: measure after height 5.
    net.wait_all(&[0, 1, 2, 3], 5, Duration::from_secs(120))
        .await;
    let t0 = Instant::now();
    let h0 = (0..4).map(|i| net.height(i)).min().unwrap();
    net.wait_all(&[0, 1, 2, 3], h0 + heights, Duration::from_secs(600))
        .await;
    let elapsed = t0.elapsed();
    net.check_agreement();
    let built = net.built_at.lock().unwrap().clone();
    let mut lat = Vec::new();
    let mut rounds = 0u64;
    for c in &net.chains {
        let c = c.lock().unwrap();
        for (h, ((bytes, cert), at)) in c.blocks.iter().zip(&c.committed_at).enumerate() {
            if (h as u64) < h0 || (h as u64) >= h0 + heights {
                continue;
            }
            let id = BlockId(sha256(bytes).0);
            lat.push(at.duration_since(built[&id]));
            rounds += cert.round.as_u32().unwrap_or(0) as u64;
        }
    }
    lat.sort();
    println!(
        "commit latency (proposal built → committed, 4 validators, {} commits over {heights} heights): \
         median {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} heights/s; rounds beyond 0: {rounds}",
        lat.len(),
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
        heights as f64 / elapsed.as_secs_f64(),
    );
    for n in nodes {
        n.stop().await;
    }
}
