//! `cpcd gpu list`: the CUDA devices (says so when there is no driver).

pub fn list() -> anyhow::Result<()> {
    match cpc_gpu::list_devices() {
        Ok(devs) if devs.is_empty() => println!("CUDA driver found, but no CUDA devices"),
        Ok(devs) => {
            for d in devs {
                println!("{d}");
            }
        }
        Err(e) => println!("{e}"),
    }
    Ok(())
}
