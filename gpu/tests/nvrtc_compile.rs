//! Compiles every kernel source with NVRTC (no GPU needed, only libnvrtc): the one check of
//! the CUDA C that runs on machines without a device. Skips with a message when libnvrtc
//! cannot be found (set CPC_NVRTC_PATH to the library or its folder, e.g. the pip wheel
//! `nvidia-cuda-nvrtc-cu12`'s `site-packages/nvidia/cuda_nvrtc/lib`).

use cpc_gpu::nvrtc::{self, Compiled};
use cpc_gpu::{GpuError, nvrtc_library_path, nvrtc_present};
use cpc_kernels::{Kernel, nvrtc_options, program_source};

fn nvrtc_or_skip() -> bool {
    if !nvrtc_present() {
        println!(
            "skipped: NVRTC not found (libnvrtc.so.12 not loadable; set {} or LD_LIBRARY_PATH, \
             or `pip install nvidia-cuda-nvrtc-cu12`)",
            cpc_gpu::NVRTC_PATH_ENV
        );
        return false;
    }
    let (maj, min) = nvrtc::version().expect("NVRTC version");
    println!(
        "NVRTC {maj}.{min} from {}",
        nvrtc_library_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the loader's search path".into())
    );
    true
}

fn compile_ok(source: &str, name: &str, options: &[String]) -> Compiled {
    match nvrtc::compile(source, name, options) {
        Ok(c) => c,
        Err(GpuError::Compile { options, log }) => {
            panic!("{name} failed to compile with {options:?}:\n{log}")
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The `.entry` names of a PTX text.
fn entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix(".visible .entry ")
                .or_else(|| l.strip_prefix(".entry "))?;
            Some(rest.split('(').next().unwrap_or(rest).trim().to_string())
        })
        .collect()
}

#[test]
fn every_kernel_compiles_to_ptx_for_compute_80() {
    if !nvrtc_or_skip() {
        return;
    }
    for k in Kernel::ALL {
        let opts = nvrtc_options(8, 0, false);
        let c = compile_ok(&k.standalone_source(), k.name(), &opts);
        let ptx = c.ptx.expect("PTX");
        let names = entries(&ptx);
        assert!(
            names.iter().any(|e| e == k.name()),
            "{k}: no .entry in the PTX (found {names:?})"
        );
        assert!(ptx.contains(".target sm_80"), "{k}: PTX not for sm_80");
        if matches!(k, Kernel::MatmulTiled | Kernel::MatmulSmall) {
            assert!(
                ptx.contains("dp4a.s32.s32"),
                "{k}: no signed dp4a in the PTX"
            );
        }
        if matches!(k, Kernel::MatmulTiled | Kernel::MatmulMma) {
            assert!(ptx.contains(".shared"), "{k}: expected shared-memory tiles");
        }
        if matches!(k, Kernel::MatmulMma) {
            // Integer MMA without .satfinite: exact int32 accumulation.
            assert!(
                ptx.contains("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"),
                "{k}: no s8 tensor-core MMA in the PTX"
            );
            assert!(
                !ptx.contains("satfinite"),
                "{k}: saturating MMA would not be exact"
            );
        }
        if !c.log.is_empty() {
            println!("{k}: NVRTC log:\n{}", c.log);
        }
        println!("{k}: {} bytes of PTX, entries {names:?}", ptx.len());
    }
}

#[test]
fn whole_program_compiles_for_the_supported_archs_from_6_1() {
    if !nvrtc_or_skip() {
        return;
    }
    let archs = nvrtc::supported_archs().expect("supported archs");
    println!("NVRTC architectures: {archs:?}");
    let src = program_source();
    // The minimum (6.1, for __dp4a), the data-centre and consumer generations since, and the
    // newest this NVRTC knows.
    let newest = archs.iter().copied().max().unwrap_or(0);
    let wanted = [61u32, 70, 75, 80, 86, 89, 90, newest];
    let mut tried = 0;
    for a in archs
        .iter()
        .copied()
        .filter(|a| *a >= 61 && wanted.contains(a))
    {
        let (maj, min) = (a / 10, a % 10);
        let c = compile_ok(
            &src,
            cpc_kernels::PROGRAM_NAME,
            &nvrtc_options(maj, min, false),
        );
        let names = entries(c.ptx.as_deref().expect("PTX"));
        for k in Kernel::ALL {
            assert!(
                names.iter().any(|e| e == k.name()),
                "compute_{a}: {k} missing from {names:?}"
            );
        }
        tried += 1;
    }
    assert!(
        tried > 0,
        "NVRTC supports no architecture at or above 6.1: {archs:?}"
    );
    // The arch choice the solver makes for some devices.
    assert_eq!(nvrtc::arch_for(9, 0, &archs), Some((9, 0)));
    assert_eq!(nvrtc::arch_for(8, 9, &archs), Some((8, 9)));
    assert_eq!(nvrtc::arch_for(8, 6, &[75, 80, 90]), Some((8, 0)));
}

/// Compiles to CUBIN for sm_80 and sm_90 with `ptxas -v` and reads its statistics: the
/// kernels must not spill registers to local memory (a silent 2-10× slowdown).
#[test]
fn cubin_has_no_register_spills() {
    if !nvrtc_or_skip() {
        return;
    }
    let archs = nvrtc::supported_archs().expect("supported archs");
    for (maj, min) in [(8u32, 0u32), (9, 0)] {
        if !archs.contains(&(maj * 10 + min)) {
            println!("sm_{maj}{min}: not supported by this NVRTC, skipped");
            continue;
        }
        let mut opts = nvrtc_options(maj, min, true);
        opts.push("--ptxas-options=-v".into());
        let c = compile_ok(&program_source(), cpc_kernels::PROGRAM_NAME, &opts);
        let cubin = c.cubin.expect("CUBIN");
        assert!(cubin.starts_with(b"\x7fELF"), "CUBIN is not an ELF image");
        println!(
            "sm_{maj}{min}: {} bytes of CUBIN; ptxas says:\n{}",
            cubin.len(),
            c.log
        );
        let mut spills = Vec::new();
        for line in c.log.lines() {
            if line.contains("bytes spill stores") && !line.contains(" 0 bytes spill stores") {
                spills.push(line.to_string());
            }
        }
        assert!(
            spills.is_empty(),
            "sm_{maj}{min}: register spills:\n{}",
            spills.join("\n")
        );
    }
}

#[test]
fn broken_source_reports_the_log() {
    if !nvrtc_or_skip() {
        return;
    }
    let err = nvrtc::compile(
        "extern \"C\" __global__ void k() { undefined_thing(); }",
        "broken.cu",
        &nvrtc_options(8, 0, false),
    )
    .expect_err("must not compile");
    match err {
        GpuError::Compile { log, .. } => assert!(log.contains("undefined_thing"), "log: {log}"),
        e => panic!("unexpected error {e}"),
    }
}
