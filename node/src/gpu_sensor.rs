//! The GPU temperature a miner device reads for `--gpu.temp-limit` (NVML, loaded at run time).

use crate::miner::TempSensor;

/// Reads one card's core temperature through NVML. Without a driver (or without a matching
/// NVML device) every read is `None`: the limit then cannot act, and that is logged once.
pub struct NvmlSensor {
    nvml: Option<(nvml_wrapper::Nvml, u32)>,
}

impl NvmlSensor {
    pub fn open(ordinal: usize) -> Box<dyn TempSensor> {
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("--gpu.temp-limit: NVML unavailable ({e}); gpu{ordinal} cannot be throttled");
                return Box::new(NvmlSensor { nvml: None });
            }
        };
        let nvml_names: Vec<String> = (0..nvml.device_count().unwrap_or(0))
            .map(|i| nvml.device_by_index(i).and_then(|d| d.name()).unwrap_or_default())
            .collect();
        let cuda_names: Vec<(usize, String)> =
            cpc_gpu::list_devices().unwrap_or_default().into_iter().map(|d| (d.ordinal, d.name)).collect();
        match crate::metrics::nvml_index_for(ordinal, &cuda_names, &nvml_names) {
            Some(i) => Box::new(NvmlSensor { nvml: Some((nvml, i)) }),
            None => {
                tracing::warn!("--gpu.temp-limit: no NVML device matches CUDA device {ordinal}; it cannot be throttled");
                Box::new(NvmlSensor { nvml: None })
            }
        }
    }
}

impl TempSensor for NvmlSensor {
    fn celsius(&mut self) -> Option<u32> {
        use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
        let (nvml, i) = self.nvml.as_ref()?;
        nvml.device_by_index(*i).ok()?.temperature(TemperatureSensor::Gpu).ok()
    }
}
