//! `cpcd genesis dev`: the built-in dev genesis as JSON.

pub fn dev() -> anyhow::Result<()> {
    println!("{}", cpc_genesis::Genesis::dev().to_pretty_json());
    Ok(())
}
