//! Consensus metrics, beside the component that moves them (reth's habit): commit latency,
//! rounds per height, missed proposals per validator, the current height and round.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// Commit latency buckets (seconds): loopback commits take ~10 ms, a height that needs rounds
/// takes seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];
const ROUND_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0];

#[derive(Clone)]
pub struct BftMetrics {
    pub commit_latency: Histogram,
    pub rounds_per_height: Histogram,
    pub missed_proposals: IntCounterVec,
    pub height: IntGauge,
    pub round: IntGauge,
}

/// Every series this component registers (for the node's dashboard check).
pub const NAMES: &[&str] = &[
    "cpcd_bft_commit_latency_seconds",
    "cpcd_bft_rounds_per_height",
    "cpcd_bft_missed_proposals_total",
    "cpcd_bft_height",
    "cpcd_bft_round",
];

impl BftMetrics {
    /// Registers the series in `registry` (one node's).
    pub fn register(registry: &Registry) -> BftMetrics {
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            r.register(Box::new(c.clone()))
                .expect("a consensus metric registered twice");
            c
        }
        BftMetrics {
            commit_latency: reg(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "cpcd_bft_commit_latency_seconds",
                        "Time from a proposal this validator holds complete (built or received) to its commit (seconds).",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            rounds_per_height: reg(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("cpcd_bft_rounds_per_height", "Rounds consensus needed to decide a height (count; 1 = decided in round 0).")
                        .buckets(ROUND_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            missed_proposals: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "cpcd_bft_missed_proposals_total",
                        "Rounds whose proposer's turn passed without a decision, by proposer (count): its proposal came late, \
                         never, or was refused.",
                    ),
                    &["validator"],
                )
                .expect("valid metric"),
            ),
            height: reg(registry, IntGauge::new("cpcd_bft_height", "Height consensus is deciding (blocks).").expect("valid metric")),
            round: reg(registry, IntGauge::new("cpcd_bft_round", "Round consensus is in at that height.").expect("valid metric")),
        }
    }
}
