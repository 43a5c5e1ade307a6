//! `cpcd init --genesis FILE --datadir DIR`: a chain database from a genesis file.

use anyhow::{Context, Result};
use cpc_engine::{Engine, EngineConfig};
use cpc_genesis::Genesis;
use std::path::Path;

/// `cpcd init --genesis FILE --datadir DIR`
pub fn init(genesis: &Path, datadir: &Path) -> Result<()> {
    let bytes = std::fs::read(genesis).with_context(|| format!("reading {}", genesis.display()))?;
    let g = Genesis::from_json(&bytes).with_context(|| format!("genesis file {}", genesis.display()))?;
    let engine = Engine::open(datadir, Some(g), EngineConfig::default(), &prometheus::Registry::new())?;
    let head = engine.head();
    println!("initialized chain {:?} in {} (genesis {})", engine.params().chain_id, datadir.display(), head.hash);
    Ok(())
}

