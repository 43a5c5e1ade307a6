//! Run-time compilation of the kernel sources with NVRTC (no GPU needed for this part).

use crate::error::GpuError;
use crate::libs::nvrtc_present;
use cudarc::nvrtc::sys;
use std::ffi::{CStr, CString, c_char, c_int};

/// What NVRTC produced for one program.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The options it was compiled with.
    pub options: Vec<String>,
    /// PTX text (virtual architectures `compute_XY`).
    pub ptx: Option<String>,
    /// CUBIN (real architectures `sm_XY`).
    pub cubin: Option<Vec<u8>>,
    /// NVRTC's log (warnings; ptxas statistics with `--ptxas-options=-v`).
    pub log: String,
}

fn check(r: sys::nvrtcResult, context: &str) -> Result<(), GpuError> {
    if r == sys::nvrtcResult::NVRTC_SUCCESS {
        Ok(())
    } else {
        // SAFETY: nvrtcGetErrorString returns a static string for any result code.
        let s = unsafe { CStr::from_ptr(sys::nvrtcGetErrorString(r)) };
        Err(GpuError::nvrtc(context, s.to_string_lossy()))
    }
}

/// NVRTC's version (major, minor).
pub fn version() -> Result<(i32, i32), GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: two valid out-pointers.
    check(
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) },
        "asking NVRTC's version",
    )?;
    Ok((major, minor))
}

/// The architectures this NVRTC can target, as `10·major + minor` (e.g. 80, 90).
pub fn supported_archs() -> Result<Vec<u32>, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let mut count: c_int = 0;
    // SAFETY: valid out-pointer, then a buffer of the size NVRTC reported.
    check(
        unsafe { sys::nvrtcGetNumSupportedArchs(&mut count) },
        "counting NVRTC's architectures",
    )?;
    let mut archs = vec![0 as c_int; count.max(0) as usize];
    check(
        unsafe { sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) },
        "listing NVRTC's architectures",
    )?;
    Ok(archs
        .into_iter()
        .filter(|&a| a > 0)
        .map(|a| a as u32)
        .collect())
}

/// The best architecture for a device of compute capability `major.minor`: the highest one
/// NVRTC supports that is not above the device's (PTX and CUBIN run on newer minors).
pub fn arch_for(major: u32, minor: u32, supported: &[u32]) -> Option<(u32, u32)> {
    let want = major * 10 + minor;
    supported
        .iter()
        .copied()
        .filter(|&a| a <= want && a / 10 == major)
        .max()
        .or_else(|| supported.iter().copied().filter(|&a| a <= want).max())
        .map(|a| (a / 10, a % 10))
}

struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram and destroyed once here.
        let _ = unsafe { sys::nvrtcDestroyProgram(&mut self.0) };
    }
}

fn log_of(prog: &Program) -> String {
    let mut size: usize = 0;
    // SAFETY: valid program, out-pointer, then a buffer of the reported size.
    if unsafe { sys::nvrtcGetProgramLogSize(prog.0, &mut size) } != sys::nvrtcResult::NVRTC_SUCCESS
        || size == 0
    {
        return String::new();
    }
    let mut buf = vec![0 as c_char; size];
    if unsafe { sys::nvrtcGetProgramLog(prog.0, buf.as_mut_ptr()) }
        != sys::nvrtcResult::NVRTC_SUCCESS
    {
        return String::new();
    }
    let bytes: Vec<u8> = buf
        .into_iter()
        .map(|c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Compiles `source` (named `name` in messages) with `options`. With an `sm_XY` architecture
/// the CUBIN is returned as well as (where NVRTC keeps it) the PTX.
pub fn compile(source: &str, name: &str, options: &[String]) -> Result<Compiled, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let src = CString::new(source).map_err(|e| GpuError::nvrtc("preparing the source", e))?;
    let cname = CString::new(name).map_err(|e| GpuError::nvrtc("preparing the program name", e))?;
    let mut raw: sys::nvrtcProgram = std::ptr::null_mut();
    // SAFETY: valid C strings that outlive the program; no headers.
    check(
        unsafe {
            sys::nvrtcCreateProgram(
                &mut raw,
                src.as_ptr(),
                cname.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        },
        "creating the program",
    )?;
    let prog = Program(raw);
    let c_opts: Vec<CString> = options
        .iter()
        .map(|o| CString::new(o.as_str()).map_err(|e| GpuError::nvrtc("preparing the options", e)))
        .collect::<Result<_, _>>()?;
    let ptrs: Vec<*const c_char> = c_opts.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: valid program and option array.
    let r = unsafe { sys::nvrtcCompileProgram(prog.0, ptrs.len() as c_int, ptrs.as_ptr()) };
    let log = log_of(&prog);
    if r != sys::nvrtcResult::NVRTC_SUCCESS {
        let what = unsafe { CStr::from_ptr(sys::nvrtcGetErrorString(r)) }
            .to_string_lossy()
            .into_owned();
        return Err(GpuError::Compile {
            options: options.to_vec(),
            log: format!("{what}\n{log}"),
        });
    }

    let mut ptx = None;
    let mut size: usize = 0;
    // SAFETY: valid compiled program; buffers of the reported sizes.
    if unsafe { sys::nvrtcGetPTXSize(prog.0, &mut size) } == sys::nvrtcResult::NVRTC_SUCCESS
        && size > 1
    {
        let mut buf = vec![0 as c_char; size];
        if unsafe { sys::nvrtcGetPTX(prog.0, buf.as_mut_ptr()) } == sys::nvrtcResult::NVRTC_SUCCESS
        {
            let bytes: Vec<u8> = buf
                .into_iter()
                .map(|c| c as u8)
                .take_while(|&b| b != 0)
                .collect();
            ptx = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let mut cubin = None;
    let real = options.iter().any(|o| o.contains("=sm_"));
    if real {
        let mut size: usize = 0;
        check(
            unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) },
            "sizing the CUBIN",
        )?;
        let mut buf = vec![0 as c_char; size];
        check(
            unsafe { sys::nvrtcGetCUBIN(prog.0, buf.as_mut_ptr()) },
            "reading the CUBIN",
        )?;
        cubin = Some(buf.into_iter().map(|c| c as u8).collect());
    }
    if ptx.is_none() && cubin.is_none() {
        return Err(GpuError::nvrtc(
            "reading the output",
            "neither PTX nor CUBIN produced",
        ));
    }
    Ok(Compiled {
        options: options.to_vec(),
        ptx,
        cubin,
        log,
    })
}

/// The whole kernel program ([`cpc_kernels::program_source`]) for compute capability
/// `major.minor`: PTX for `compute_XY`, or, with `real`, a CUBIN for `sm_XY`.
pub fn compile_program(major: u32, minor: u32, real: bool) -> Result<Compiled, GpuError> {
    compile(
        &cpc_kernels::program_source(),
        cpc_kernels::PROGRAM_NAME,
        &cpc_kernels::nvrtc_options(major, minor, real),
    )
}
