//! CUDA devices: enumeration (without creating contexts) and known int8 peaks.

use crate::error::GpuError;
use crate::libs::driver_present;
use cudarc::driver::result;
use cudarc::driver::sys::{CUdevice_attribute, cudaError_enum};

/// One CUDA device as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (u32, u32),
    /// Total device memory in bytes.
    pub total_memory: u64,
    /// Streaming multiprocessors.
    pub sm_count: u32,
    /// Peak SM clock in kHz (0 if the driver does not say).
    pub clock_khz: u32,
}

impl DeviceInfo {
    /// Whether the kernels run on it (compute capability ≥ 6.1, for `__dp4a`).
    pub fn supported(&self) -> bool {
        self.compute_capability >= cpc_kernels::MIN_COMPUTE_CAPABILITY
    }

    /// Dense int8 tensor-core peak of this card in TOPS, from [`int8_peak_tops`].
    pub fn int8_peak_tops(&self) -> Option<f64> {
        int8_peak_tops(&self.name)
    }

    /// Rough `__dp4a` peak in TOPS: SMs × clock × 64 dp4a per SM per clock × 8 ops (the
    /// integer pipe's rate on sm_61 … sm_90); what the kernels here can at best reach.
    pub fn dp4a_peak_tops(&self) -> Option<f64> {
        if self.clock_khz == 0 {
            return None;
        }
        Some(f64::from(self.sm_count) * f64::from(self.clock_khz) * 1e3 * 64.0 * 8.0 / 1e12)
    }
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "#{} {} (sm_{}{}, {:.1} GiB, {} SMs)",
            self.ordinal,
            self.name,
            self.compute_capability.0,
            self.compute_capability.1,
            self.total_memory as f64 / (1u64 << 30) as f64,
            self.sm_count
        )
    }
}

/// Dense int8 tensor-core peak (TOPS, without sparsity) of well-known cards by name; `None`
/// for the rest. Reference numbers from the vendor data sheets.
pub fn int8_peak_tops(name: &str) -> Option<f64> {
    let n = name.to_ascii_uppercase();
    let table: &[(&[&str], f64)] = &[
        (&["H200"], 1979.0),
        (&["H100", "PCIE"], 1513.0),
        (&["H100", "NVL"], 1671.0),
        (&["H100"], 1979.0), // SXM
        (&["H800", "PCIE"], 1513.0),
        (&["H800"], 1979.0),
        (&["GH200"], 1979.0),
        (&["A100"], 624.0),
        (&["A800"], 624.0),
        (&["A30"], 330.0),
        (&["A10G"], 280.0),
        (&["A10"], 250.0),
        (&["L40S"], 733.0),
        (&["L40"], 362.0),
        (&["L4"], 242.0),
        (&["RTX 4090"], 660.6),
        (&["RTX 4080"], 389.9),
        (&["RTX 3090"], 284.0),
        (&["RTX A6000"], 309.7),
        (&["RTX 6000 ADA"], 728.5),
        (&["T4"], 130.0),
    ];
    table
        .iter()
        .find(|(keys, _)| keys.iter().all(|k| n.contains(k)))
        .map(|&(_, tops)| tops)
}

fn attr(
    dev: cudarc::driver::sys::CUdevice,
    a: CUdevice_attribute,
    what: &str,
) -> Result<i32, GpuError> {
    // SAFETY: `dev` comes from cuDeviceGet.
    unsafe { result::device::get_attribute(dev, a) }
        .map_err(|e| GpuError::driver(format!("reading {what}"), e))
}

/// Initialises the driver API. `Err(NoDriver)` without libcuda; never panics.
pub(crate) fn init_driver() -> Result<(), GpuError> {
    if !driver_present() {
        return Err(GpuError::NoDriver);
    }
    result::init().map_err(|e| GpuError::driver("initialising the CUDA driver (cuInit)", e))
}

/// Information on device `ordinal`.
pub fn device_info(ordinal: usize) -> Result<DeviceInfo, GpuError> {
    init_driver()?;
    let count =
        result::device::get_count().map_err(|e| GpuError::driver("counting devices", e))? as usize;
    if ordinal >= count {
        return Err(GpuError::NoDevice { ordinal, count });
    }
    let dev = result::device::get(ordinal as i32)
        .map_err(|e| GpuError::driver("opening the device", e))?;
    let name = result::device::get_name(dev)
        .map_err(|e| GpuError::driver("reading the device name", e))?;
    let major = attr(
        dev,
        CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
        "the compute capability",
    )?;
    let minor = attr(
        dev,
        CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
        "the compute capability",
    )?;
    let sms = attr(
        dev,
        CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        "the SM count",
    )?;
    let clock = attr(
        dev,
        CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CLOCK_RATE,
        "the clock rate",
    )
    .unwrap_or(0);
    // SAFETY: `dev` comes from cuDeviceGet.
    let mem = unsafe { result::device::total_mem(dev) }
        .map_err(|e| GpuError::driver("reading the memory size", e))?;
    Ok(DeviceInfo {
        ordinal,
        name,
        compute_capability: (major.max(0) as u32, minor.max(0) as u32),
        total_memory: mem as u64,
        sm_count: sms.max(0) as u32,
        clock_khz: clock.max(0) as u32,
    })
}

/// Every CUDA device. `Err(GpuError::NoDriver)` when libcuda cannot be loaded (never a panic);
/// an empty list when the driver loads but sees no device.
pub fn list_devices() -> Result<Vec<DeviceInfo>, GpuError> {
    if !driver_present() {
        return Err(GpuError::NoDriver);
    }
    match result::init() {
        Ok(()) => {}
        Err(e) if e.0 == cudaError_enum::CUDA_ERROR_NO_DEVICE => return Ok(Vec::new()),
        Err(e) => return Err(GpuError::driver("initialising the CUDA driver (cuInit)", e)),
    }
    let count = match result::device::get_count() {
        Ok(c) => c.max(0) as usize,
        Err(e) if e.0 == cudaError_enum::CUDA_ERROR_NO_DEVICE => 0,
        Err(e) => return Err(GpuError::driver("counting devices", e)),
    };
    (0..count).map(device_info).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_table_knows_the_common_cards() {
        assert_eq!(int8_peak_tops("NVIDIA H100 80GB HBM3"), Some(1979.0));
        assert_eq!(int8_peak_tops("NVIDIA H100 PCIe"), Some(1513.0));
        assert_eq!(int8_peak_tops("NVIDIA H100 NVL"), Some(1671.0));
        assert_eq!(int8_peak_tops("NVIDIA H200"), Some(1979.0));
        assert_eq!(int8_peak_tops("NVIDIA A100-SXM4-80GB"), Some(624.0));
        assert_eq!(int8_peak_tops("NVIDIA GeForce RTX 4090"), Some(660.6));
        assert_eq!(int8_peak_tops("NVIDIA L40S"), Some(733.0));
        assert_eq!(int8_peak_tops("NVIDIA L4"), Some(242.0));
        assert_eq!(int8_peak_tops("Tesla T4"), Some(130.0));
        assert_eq!(int8_peak_tops("Some Future GPU"), None);
    }

    #[test]
    fn dp4a_estimate_and_support() {
        let d = DeviceInfo {
            ordinal: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            compute_capability: (9, 0),
            total_memory: 80 << 30,
            sm_count: 132,
            clock_khz: 1_980_000,
        };
        assert!(d.supported());
        let p = d.dp4a_peak_tops().unwrap();
        assert!((p - 133.8).abs() < 0.5, "{p}");
        assert!(
            !DeviceInfo {
                compute_capability: (6, 0),
                ..d.clone()
            }
            .supported()
        );
        assert!(
            DeviceInfo {
                compute_capability: (6, 1),
                ..d
            }
            .supported()
        );
    }
}
