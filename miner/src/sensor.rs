//! GPU sensors through NVML (loaded at run time): the temperature a device reads for
//! `--gpu.temp-limit`, and which NVML device a CUDA ordinal is.

use crate::TempSensor;

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
        match nvml_index_for(ordinal, &cuda_names, &nvml_names) {
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

/// The NVML index of CUDA device `ordinal`. CUDA numbers devices fastest first and NVML by
/// PCI bus; devices of one model keep their PCI order in both, so the n-th CUDA device of a
/// model is the n-th NVML device of that model. (With `CUDA_VISIBLE_DEVICES` the CUDA list is
/// a subset and this guess can be wrong: the sensors are then those of another card of the
/// same model.)
pub fn nvml_index_for(ordinal: usize, cuda_names: &[(usize, String)], nvml_names: &[String]) -> Option<u32> {
    let name = &cuda_names.iter().find(|(o, _)| *o == ordinal)?.1;
    let rank = cuda_names.iter().filter(|(o, n)| n == name && *o < ordinal).count();
    nvml_names.iter().enumerate().filter(|(_, n)| *n == name).nth(rank).map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_devices_are_matched_by_model_and_order() {
        let h = "NVIDIA H100 80GB HBM3".to_string();
        let a = "NVIDIA A100-SXM4-40GB".to_string();
        // CUDA lists the faster H100 first; NVML lists by PCI bus.
        let cuda = vec![(0, h.clone()), (1, h.clone()), (2, a.clone())];
        let nvml = vec![a.clone(), h.clone(), h.clone()];
        assert_eq!(nvml_index_for(0, &cuda, &nvml), Some(1));
        assert_eq!(nvml_index_for(1, &cuda, &nvml), Some(2));
        assert_eq!(nvml_index_for(2, &cuda, &nvml), Some(0));
        assert_eq!(nvml_index_for(3, &cuda, &nvml), None);
        assert_eq!(nvml_index_for(0, &cuda, &[]), None);
    }

    #[test]
    fn nvml_init_without_a_driver_is_an_error_not_a_panic() {
        // This machine may or may not have an NVIDIA driver: either way, no panic.
        match nvml_wrapper::Nvml::init() {
            Ok(n) => assert!(n.device_count().is_ok()),
            Err(e) => {
                eprintln!("NVML absent, as expected without a driver: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}
