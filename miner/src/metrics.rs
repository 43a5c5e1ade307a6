//! The miner's Prometheus series, beside the miner: per device tasks, shares and results,
//! rates, the temperature throttle, and the GPU sensors read through NVML. They register in
//! the registry the node serves (`--metrics`).

use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often GPU sensors are read through NVML while GPUs mine.
pub const GPU_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Every series of the miner.
pub struct MinerMetrics {
    pub miner_tasks: IntCounterVec,
    pub miner_tasks_per_second: GaugeVec,
    pub miner_gmac_per_second: GaugeVec,
    pub miner_results: IntCounterVec,
    pub miner_shares: IntCounterVec,
    pub miner_device_results: IntCounterVec,
    pub miner_expected_shares_per_second: GaugeVec,
    pub miner_throttled: IntGaugeVec,
    pub gpu_temperature: GaugeVec,
    pub gpu_power: GaugeVec,
    pub gpu_memory_used: GaugeVec,
    pub gpu_memory_total: GaugeVec,
    pub gpu_utilization: GaugeVec,
    names: Vec<String>,
}

/// Registers metrics in a registry and remembers their names.
struct Reg<'a> {
    registry: &'a Registry,
    names: Vec<String>,
}

impl Reg<'_> {
    fn add<C: Collector + Clone + 'static>(&mut self, c: C) -> C {
        for d in c.desc() {
            self.names.push(d.fq_name.clone());
        }
        self.registry.register(Box::new(c.clone())).expect("metric names are distinct");
        c
    }
    fn int_gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
    fn gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.add(GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
    fn counter_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
}

/// Raises a Prometheus counter to a cumulative count kept elsewhere (the miner's atomics).
fn raise_to(c: &IntCounter, total: u64) {
    let cur = c.get();
    if total > cur {
        c.inc_by(total - cur);
    }
}

/// A miner's rejection reason as a label: short names stay, anything longer or odd (a message
/// with a hash in it) becomes "other", so labels stay bounded.
fn bounded_reason(reason: &str) -> &str {
    let short = reason.len() <= 32 && reason.bytes().all(|b| b.is_ascii_alphanumeric() || b" _-".contains(&b));
    if short { reason } else { "other" }
}

impl MinerMetrics {
    /// Creates the series and registers them in `registry`.
    pub fn register(registry: &Registry) -> MinerMetrics {
        let mut r = Reg { registry, names: Vec::new() };
        MinerMetrics {
            miner_tasks: r.counter_vec(
                "cpcd_miner_tasks_total",
                "Synthetic tasks solved by the in-process miner, per device (count).",
                &["device"],
            ),
            miner_tasks_per_second: r.gauge_vec(
                "cpcd_miner_tasks_per_second",
                "Miner throughput per device over its last 10 s report interval (tasks per second).",
                &["device"],
            ),
            miner_gmac_per_second: r.gauge_vec(
                "cpcd_miner_gmac_per_second",
                "Miner throughput per device over its last 10 s report interval (10^9 int8 multiply-accumulates \
                 per second).",
                &["device"],
            ),
            miner_results: r.counter_vec(
                "cpcd_miner_results_total",
                "Results of the in-process miner by result (accepted, rejected, cancelled: solved for a tip that \
                 was replaced) and reason (count).",
                &["result", "reason"],
            ),
            miner_shares: r.counter_vec(
                "cpcd_miner_shares_total",
                "Tasks of the in-process miner whose share value met their tip's share_target, per device (count).",
                &["device"],
            ),
            miner_device_results: r.counter_vec(
                "cpcd_miner_device_shares_total",
                "Shares a device submitted, by result (accepted by the node, or rejected) and reason (none when \
                 accepted), per device (count).",
                &["device", "result", "reason"],
            ),
            miner_expected_shares_per_second: r.gauge_vec(
                "cpcd_miner_expected_shares_per_second",
                "Shares per second a device should find at its measured tasks/s and the current share_target \
                 (tasks/s ÷ difficulty), per device.",
                &["device"],
            ),
            miner_throttled: r.int_gauge_vec(
                "cpcd_miner_throttled",
                "1 while a GPU is paused because it reached --gpu.temp-limit, else 0, per device.",
                &["device"],
            ),
            gpu_temperature: r.gauge_vec(
                "cpcd_gpu_temperature_celsius",
                "GPU core temperature from NVML (degrees Celsius), per mining device.",
                &["device"],
            ),
            gpu_power: r.gauge_vec(
                "cpcd_gpu_power_watts",
                "GPU board power draw from NVML (watts), per mining device.",
                &["device"],
            ),
            gpu_memory_used: r.gauge_vec(
                "cpcd_gpu_memory_used_bytes",
                "GPU memory in use from NVML (bytes), per mining device.",
                &["device"],
            ),
            gpu_memory_total: r.gauge_vec(
                "cpcd_gpu_memory_total_bytes",
                "GPU memory installed from NVML (bytes), per mining device.",
                &["device"],
            ),
            gpu_utilization: r.gauge_vec(
                "cpcd_gpu_utilization_ratio",
                "Fraction of the last sample period in which a kernel ran on the GPU, from NVML (0 to 1), per \
                 mining device.",
                &["device"],
            ),
            names: r.names,
        }
    }

    /// The names of every series (for the node's dashboard check).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Exports the miner's counters and rates.
    pub fn export(&self, s: &cpc_rpc::MinerStatus) {
        for d in &s.devices {
            raise_to(&self.miner_tasks.with_label_values(&[d.name.as_str()]), d.tasks);
            self.miner_tasks_per_second.with_label_values(&[d.name.as_str()]).set(d.tasks_per_sec);
            self.miner_gmac_per_second.with_label_values(&[d.name.as_str()]).set(d.gmac_per_sec);
            raise_to(&self.miner_shares.with_label_values(&[d.name.as_str()]), d.shares_found);
            raise_to(&self.miner_device_results.with_label_values(&[d.name.as_str(), "accepted", "none"]), d.shares_accepted);
            for (reason, n) in &d.shares_rejected {
                let r = bounded_reason(reason);
                raise_to(&self.miner_device_results.with_label_values(&[d.name.as_str(), "rejected", r]), *n);
            }
            self.miner_expected_shares_per_second.with_label_values(&[d.name.as_str()]).set(d.expected_shares_per_sec);
            self.miner_throttled.with_label_values(&[d.name.as_str()]).set(d.throttled_at_celsius.is_some() as i64);
        }
        raise_to(&self.miner_results.with_label_values(&["accepted", "none"]), s.results_accepted);
        raise_to(&self.miner_results.with_label_values(&["cancelled", "none"]), s.cancelled);
        // The miner's reasons are short names ("nonce", "SUBMIT_RESULT rule 6", "gpu error"); anything
        // longer or odd (a message with a hash in it) is summed under "other" to keep labels bounded.
        let mut rejected: std::collections::BTreeMap<&str, u64> = Default::default();
        for (reason, n) in &s.results_rejected {
            *rejected.entry(bounded_reason(reason)).or_default() += n;
        }
        for (reason, n) in rejected {
            raise_to(&self.miner_results.with_label_values(&["rejected", reason]), n);
        }
    }
}

/// Reads GPU sensors through NVML every [`GPU_POLL_INTERVAL`] for the CUDA devices the miner
/// uses (labels `device="gpuN"`, as the miner's), until `stop`. Without NVML (no NVIDIA driver)
/// it logs once and exports nothing.
pub fn spawn_gpu_poller(metrics: Arc<MinerMetrics>, ordinals: Vec<usize>, stop: watch::Receiver<bool>) {
    if ordinals.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new().name("gpu-sensors".into()).spawn(move || {
        use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => n,
            Err(e) => {
                tracing::info!("GPU sensors unavailable (NVML: {e}); no cpcd_gpu_* metrics");
                return;
            }
        };
        let nvml_names: Vec<String> = (0..nvml.device_count().unwrap_or(0))
            .map(|i| nvml.device_by_index(i).and_then(|d| d.name()).unwrap_or_default())
            .collect();
        let cuda_names: Vec<(usize, String)> =
            cpc_gpu::list_devices().unwrap_or_default().into_iter().map(|d| (d.ordinal, d.name)).collect();
        let mut devices = Vec::new();
        for &o in &ordinals {
            match crate::sensor::nvml_index_for(o, &cuda_names, &nvml_names).map(|i| nvml.device_by_index(i)) {
                Some(Ok(d)) => devices.push((format!("gpu{o}"), d)),
                _ => tracing::info!("GPU sensors: no NVML device matches CUDA device {o}"),
            }
        }
        if devices.is_empty() {
            return;
        }
        tracing::info!(devices = devices.len(), "GPU sensors: reading NVML every {}s", GPU_POLL_INTERVAL.as_secs());
        loop {
            for (label, d) in &devices {
                let l = [label.as_str()];
                if let Ok(t) = d.temperature(TemperatureSensor::Gpu) {
                    metrics.gpu_temperature.with_label_values(&l).set(t as f64);
                }
                if let Ok(mw) = d.power_usage() {
                    metrics.gpu_power.with_label_values(&l).set(mw as f64 / 1000.0);
                }
                if let Ok(m) = d.memory_info() {
                    metrics.gpu_memory_used.with_label_values(&l).set(m.used as f64);
                    metrics.gpu_memory_total.with_label_values(&l).set(m.total as f64);
                }
                if let Ok(u) = d.utilization_rates() {
                    metrics.gpu_utilization.with_label_values(&l).set(u.gpu as f64 / 100.0);
                }
            }
            // Sleep in short steps so that shutdown is not held up.
            let until = std::time::Instant::now() + GPU_POLL_INTERVAL;
            while std::time::Instant::now() < until {
                if *stop.borrow() || stop.has_changed().is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("GPU sensors: cannot start the polling thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miner_status_is_exported_as_counters_and_gauges() {
        let m = MinerMetrics::register(&Registry::new());
        let mut s = cpc_rpc::MinerStatus {
            mining: true,
            worker: None,
            devices: vec![cpc_rpc::DeviceStatus {
                name: "cpu0".into(),
                tasks: 10,
                tasks_per_sec: 2.5,
                gmac_per_sec: 2.68,
                shares_found: 6,
                shares_accepted: 5,
                shares_rejected: [("not a share".to_string(), 1)].into_iter().collect(),
                expected_shares_per_sec: 1.25,
                throttled_at_celsius: Some(84),
            }],
            share_target: Some(cpc_primitives::ShareTarget(u64::MAX / 2)),
            difficulty: Some(2.0),
            shares_found: 6,
            results_accepted: 7,
            results_rejected: [
                ("nonce".to_string(), 2),
                (format!("transaction {} is already known", "ab".repeat(32)), 1),
                ("transaction x is already known: long enough to be cut".to_string(), 3),
            ]
            .into_iter()
            .collect(),
            cancelled: 1,
        };
        m.export(&s);
        s.devices[0].tasks = 15;
        s.results_accepted = 9;
        m.export(&s);
        assert_eq!(m.miner_tasks.with_label_values(&["cpu0"]).get(), 15);
        assert_eq!(m.miner_tasks_per_second.with_label_values(&["cpu0"]).get(), 2.5);
        assert_eq!(m.miner_results.with_label_values(&["accepted", "none"]).get(), 9);
        assert_eq!(m.miner_results.with_label_values(&["rejected", "nonce"]).get(), 2);
        assert_eq!(m.miner_results.with_label_values(&["rejected", "other"]).get(), 4, "long reasons are summed");
        assert_eq!(m.miner_results.with_label_values(&["cancelled", "none"]).get(), 1);
        assert_eq!(m.miner_shares.with_label_values(&["cpu0"]).get(), 6);
        assert_eq!(m.miner_device_results.with_label_values(&["cpu0", "accepted", "none"]).get(), 5);
        assert_eq!(m.miner_device_results.with_label_values(&["cpu0", "rejected", "not a share"]).get(), 1);
        assert_eq!(m.miner_expected_shares_per_second.with_label_values(&["cpu0"]).get(), 1.25);
        assert_eq!(m.miner_throttled.with_label_values(&["cpu0"]).get(), 1);
    }
}
